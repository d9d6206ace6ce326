"""The `visionscores segment` contract, on a drawn page saved as an image and as a PDF."""

import json

import cv2
import pymupdf
import pytest
from drawn_pages import draw_page, rotate
from repo_paths import REPO

from visionscores.cli import main

CONFIG = str(REPO / "config/config.yaml")


def run_json(capsys, *argv):
    assert main(["segment", *argv, "--json", "--config", CONFIG]) == 0
    return json.loads(capsys.readouterr().out)


def test_image_contract_with_skew_mapped_back(tmp_path, capsys):
    page = draw_page([2, 2], width_px=2000)
    gray = rotate(page.gray, 1.5)
    cv2.imwrite(str(tmp_path / "page.png"), gray)
    output = run_json(capsys, str(tmp_path / "page.png"))
    (result,) = output["pages"]
    assert result["page"] == 1
    assert (result["width"], result["height"]) == (gray.shape[1], gray.shape[0])
    assert result["skew_deg"] == pytest.approx(1.5, abs=0.05)
    assert [s["n_staves"] for s in result["systems"]] == [2, 2]
    for system in result["systems"]:
        x0, y0, x1, y1 = system["staff_bbox"]
        cx0, cy0, cx1, cy1 = system["crop_bbox"]
        assert 0 <= cx0 <= x0 < x1 <= cx1 <= gray.shape[1]
        assert 0 <= cy0 <= y0 < y1 <= cy1 <= gray.shape[0]


def test_a_scan_keeps_its_pixels_and_a_vector_page_is_drawn_at_dpi(tmp_path, capsys):
    # As in the workflow: a page that is one scanned image is read at the scan's own pixels
    # whatever --dpi says; a page of vector drawing is rendered at --dpi.
    page = draw_page([2], width_px=1700, height_px=2200)
    cv2.imwrite(str(tmp_path / "page.png"), page.gray)
    document = pymupdf.open()
    scan = document.new_page(width=1700 * 72 / 200, height=2200 * 72 / 200)
    scan.insert_image(scan.rect, filename=str(tmp_path / "page.png"))
    vector = document.new_page(width=612, height=792)  # 8.5 x 11 in
    for k in range(5):  # one staff drawn as five lines, spacing 9 pt (25 px at 200 dpi)
        vector.draw_line((72, 200 + 9 * k), (540, 200 + 9 * k), width=0.8)
    document.save(tmp_path / "score.pdf")
    output = run_json(capsys, str(tmp_path / "score.pdf"), "--dpi", "100")
    scanned, drawn = output["pages"]
    assert (scanned["width"], scanned["height"]) == (1700, 2200)
    assert [s["n_staves"] for s in scanned["systems"]] == [2]
    assert (drawn["width"], drawn["height"]) == (850, 1100)


def test_missing_page_is_a_clear_error(tmp_path, capsys):
    document = pymupdf.open()
    document.new_page()
    document.save(tmp_path / "one.pdf")
    assert main(["segment", str(tmp_path / "one.pdf"), "--page", "3", "--config", CONFIG]) == 1
    assert "no page 3" in capsys.readouterr().err
