"""The `visionscores segment` contract, on a drawn page saved as an image and as a PDF."""

import json

import cv2
import pymupdf
import pytest
from drawn_pages import draw_page, rotate

from visionscores.cli import main


def run_json(capsys, *argv):
    assert main(["segment", *argv, "--json"]) == 0
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


def test_pdf_page_is_rendered_at_the_given_dpi(tmp_path, capsys):
    page = draw_page([2], width_px=1700, height_px=2200)
    cv2.imwrite(str(tmp_path / "page.png"), page.gray)
    document = pymupdf.open()
    pdf_page = document.new_page(width=1700 * 72 / 200, height=2200 * 72 / 200)
    pdf_page.insert_image(pdf_page.rect, filename=str(tmp_path / "page.png"))
    document.save(tmp_path / "score.pdf")
    output = run_json(capsys, str(tmp_path / "score.pdf"), "--page", "1", "--dpi", "100")
    (result,) = output["pages"]
    assert (result["width"], result["height"]) == (850, 1100)
    assert [s["n_staves"] for s in result["systems"]] == [2]


def test_missing_page_is_a_clear_error(tmp_path, capsys):
    document = pymupdf.open()
    document.new_page()
    document.save(tmp_path / "one.pdf")
    assert main(["segment", str(tmp_path / "one.pdf"), "--page", "3"]) == 1
    assert "no page 3" in capsys.readouterr().err
