"""The real-page set's tools: snapping a rough box to staff lines, the label and sources
formats, the exclusion list and fetching with a checksum, on pages drawn with known geometry."""

import importlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
from drawn_pages import draw_page
from repo_paths import REPO

sys.path.insert(0, str(REPO / "benchmarks" / "real"))
realpages = importlib.import_module("realpages")
fetch = importlib.import_module("fetch")

SHA_A = "a" * 64
COMMIT = "0" * 40


def rough_box(box, margin_px):
    x0, y0, x1, y1 = box
    return [x0 - margin_px, y0 - margin_px, x1 + margin_px, y1 + margin_px]


@pytest.mark.parametrize(("spacing_px", "thickness_px"), [(20, 2), (9, 1), (40, 4)])
def test_snap_finds_the_drawn_lines_of_a_grand_staff(spacing_px, thickness_px):
    page = draw_page([2, 2], spacing_px=spacing_px, thickness_px=thickness_px, width_px=2000)
    true = page.systems[1]["staff_bbox"]  # [x0, top line centre, x1 exclusive, bottom centre]
    found = realpages.snap_staves(page.gray, rough_box(true, 3 * spacing_px), n_staves=2)
    assert len(found) == 2
    x0, top, x1, bottom = true
    upper, lower = found
    # Line centres: cv2.line of an even thickness t covers rows centre - t/2 .. centre + t/2.
    centre_tolerance = thickness_px / 2 + 0.5
    assert upper[1] == pytest.approx(top, abs=centre_tolerance)
    assert lower[3] == pytest.approx(bottom, abs=centre_tolerance)
    assert upper[3] - upper[1] == pytest.approx(4 * spacing_px, abs=1.0)
    # The gap between the two staves of a drawn system: staff_gap_sp (6) spacings.
    assert lower[1] - upper[3] == pytest.approx(6 * spacing_px, abs=1.5)
    # x: the drawn lines run from x0 to x1 - 1 (the barline adds thickness at each end).
    for staff in found:
        assert staff[0] == pytest.approx(x0, abs=thickness_px + 1)
        assert staff[2] == pytest.approx(x1, abs=thickness_px + 1)


def test_snap_ignores_a_neighbouring_staff_partly_inside_the_box():
    page = draw_page([2, 2], spacing_px=20, width_px=2000, system_gap_sp=7.0)
    true = page.systems[0]["staff_bbox"]
    # Reaches 3.5 spacings into the next system: two of its lines fall inside the box.
    box = [true[0] - 40, true[1] - 60, true[2] + 40, true[3] + 7 * 20 + 70]
    upper, lower = realpages.snap_staves(page.gray, box, n_staves=2)
    assert upper[1] == pytest.approx(true[1], abs=1.5)
    assert lower[3] == pytest.approx(true[3], abs=1.5)


def test_snap_on_a_tilted_page_returns_the_axis_aligned_box_of_the_tilted_staff():
    page = draw_page([1], spacing_px=20, width_px=2000, left_px=200, top_px=300, notes=False)
    height, width = page.gray.shape
    angle_deg = 0.6
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle_deg, 1.0)
    tilted = cv2.warpAffine(page.gray, matrix, (width, height), borderValue=255)
    x0, y0, x1, y1 = page.systems[0]["staff_bbox"]
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]], float) @ matrix.T
    expected = [corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(), corners[:, 1].max()]
    (found,) = realpages.snap_staves(tilted, rough_box(expected, 50), n_staves=1)
    # The tilt over 1600 px raises the right end by 1600 * tan(0.6 deg) = 16.8 px.
    assert found[1] == pytest.approx(expected[1], abs=3.0)
    assert found[3] == pytest.approx(expected[3], abs=3.0)
    assert found[0] == pytest.approx(expected[0], abs=4.0)
    assert found[2] == pytest.approx(expected[2], abs=4.0)


def test_snap_refuses_a_box_without_five_lines():
    blank = np.full((400, 800), 255, np.uint8)
    cv2.line(blank, (50, 100), (700, 100), 0, 2)  # one lone line
    with pytest.raises(ValueError, match="found 0 of 1"):
        realpages.snap_staves(blank, [20, 20, 780, 380], n_staves=1)


def make_label(**changes):
    label = {
        "page_id": "page-a",
        "width": 1000,
        "height": 1400,
        "orientation": 0,
        "systems": [
            realpages.system_from_staves([[100, 500, 900, 540], [100, 600, 905, 640]]),
            realpages.system_from_staves([[100, 200, 900, 240], [100, 300, 900, 340]]),
        ],
        "checked": "overlay viewed",
    }
    label.update(changes)
    return label


def test_label_round_trip_sorts_systems_and_keeps_the_union_box(tmp_path):
    path = tmp_path / "page-a.json"
    realpages.write_label(path, make_label())
    label = realpages.read_label(path)
    assert [s["staff_bbox"] for s in label["systems"]] == [
        [100, 200, 900, 340],
        [100, 500, 905, 640],
    ]
    assert [s["n_staves"] for s in label["systems"]] == [2, 2]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"orientation": 45}, "orientation"),
        ({"width": 0}, "positive"),
        ({"systems": [{**realpages.system_from_staves([[0, 0, 10, 10]]), "n_staves": 2}]}, "n_st"),
        ({"systems": [realpages.system_from_staves([[900, 10, 1200, 50]])]}, "outside"),
        ({"systems": [{**realpages.system_from_staves([[9, 9, 99, 49]]), "kind": "x"}]}, "kind"),
    ],
)
def test_label_reader_refuses_broken_labels(tmp_path, change, message):
    path = tmp_path / "page-a.json"
    path.write_text(__import__("json").dumps(make_label(**change)))
    with pytest.raises(realpages.FormatError, match=message):
        realpages.read_label(path)


def sources_row(**changes):
    row = {
        "page_id": "page-a",
        "repo": "owner/name",
        "commit": COMMIT,
        "path": "pages/a.png",
        "page": "",
        "sha256": SHA_A,
        "tags": "piano;1bit",
    }
    row.update(changes)
    return row


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"commit": "abc"}, "commit"),
        ({"sha256": "x" * 64}, "sha256"),
        ({"tags": "piano;blurry"}, "unknown tags"),
        ({"page": "0"}, "1-based"),
        ({"page_id": "Page A"}, "slug"),
    ],
)
def test_sources_reader_refuses_broken_rows(tmp_path, change, message):
    path = tmp_path / "x.csv"
    realpages.write_sources(path, [sources_row(**change)])
    with pytest.raises(realpages.FormatError, match=message):
        realpages.read_sources([path])


def test_sources_round_trip(tmp_path):
    path = tmp_path / "x.csv"
    realpages.write_sources(path, [sources_row(page="3")])
    (row,) = realpages.read_sources([path]).values()
    assert row["page"] == 3 and row["tags"] == ["piano", "1bit"]


def test_exclusion_matches_whole_folders_and_files_only(tmp_path):
    path = tmp_path / "excluded.txt"
    path.write_text("# comment\nowner/name songs/Work A\nother/repo\n", encoding="utf-8")
    excluded = realpages.read_excluded(path)
    assert realpages.is_excluded("owner/name", "songs/Work A/page_0.tif", excluded)
    assert not realpages.is_excluded("owner/name", "songs/Work A 2/page_0.tif", excluded)
    assert realpages.is_excluded("Other/Repo", "any/file.pdf", excluded)
    assert not realpages.is_excluded("owner/else", "songs/Work A/page_0.tif", excluded)


def test_the_committed_exclusion_list_covers_its_works():
    excluded = realpages.read_excluded()
    work = "songs/Liszt, Franz – Grandes études de Paganini, S.141/page_3.tif"
    assert realpages.is_excluded("DiNoScore/Scores", work, excluded)


def git_snapshot(tmp_path, data: bytes):
    """A bare repository named owner+name holding pages/a.png; returns (root, commit)."""
    work = tmp_path / "work"
    (work / "pages").mkdir(parents=True)
    (work / "pages" / "a.png").write_bytes(data)

    def git(*args, cwd=work):
        return subprocess.run(
            ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "page")
    root = tmp_path / "mirror"
    root.mkdir()
    git("clone", "-q", "--bare", str(work), str(root / "owner+name" / "repo"), cwd=tmp_path)
    return root, git("rev-parse", "HEAD")


def test_fetch_writes_the_page_and_refuses_a_checksum_mismatch(tmp_path):
    gray = np.full((60, 80), 255, np.uint8)
    gray[20:22, 5:75] = 0
    data = cv2.imencode(".png", gray)[1].tobytes()
    root, commit = git_snapshot(tmp_path, data)
    row = realpages.validate_source_row(sources_row(commit=commit, sha256=SHA_A))
    with pytest.raises(fetch.ChecksumError, match="page page-a"):
        fetch.fetch_page(row, str(root), tmp_path / "cache")
    row["sha256"] = realpages.sha256_hex(data)
    png = fetch.fetch_page(row, str(root), tmp_path / "cache")
    assert np.array_equal(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE), gray)


def test_snap_in_pieces_joins_the_parts_of_each_staff():
    page = draw_page([2], spacing_px=20, width_px=2000)
    x0, top, x1, bottom = page.systems[0]["staff_bbox"]
    upper, lower = realpages.snap_staves_in_pieces(
        page.gray, rough_box(page.systems[0]["staff_bbox"], 60), n_staves=2, n_pieces=3
    )
    assert upper[0] == pytest.approx(x0, abs=3) and lower[2] == pytest.approx(x1, abs=3)
    assert upper[1] == pytest.approx(top, abs=1.5) and lower[3] == pytest.approx(bottom, abs=1.5)
    assert upper[3] - upper[1] == pytest.approx(80, abs=1.5)


def test_the_committed_set_is_consistent():
    """Every listed page has a checked, valid label of its own size, and none is excluded."""
    rows = realpages.read_sources()
    excluded = realpages.read_excluded()
    labels = {path.stem: path for path in realpages.LABELS_DIR.glob("*.json")}
    assert set(labels) == set(rows)
    for page_id, row in rows.items():
        assert not realpages.is_excluded(row["repo"], row["path"], excluded), page_id
        label = realpages.read_label(labels[page_id])
        assert label["page_id"] == page_id
        assert label["checked"], f"{page_id} not checked"


def _jpeg_with_exif_orientation(gray: np.ndarray, orientation: int) -> bytes:
    """A JPEG of ``gray`` carrying an EXIF orientation tag (big-endian TIFF, one IFD entry)."""
    ok, encoded = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    tiff = (
        b"MM\x00\x2a\x00\x00\x00\x08"  # header, first IFD at offset 8
        + b"\x00\x01"  # one entry
        + b"\x01\x12\x00\x03\x00\x00\x00\x01"  # tag 0x0112 Orientation, SHORT, count 1
        + orientation.to_bytes(2, "big")
        + b"\x00\x00"  # value padding
        + b"\x00\x00\x00\x00"  # no next IFD
    )
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    data = encoded.tobytes()
    return data[:2] + app1 + data[2:]  # right after SOI


def test_fetch_turns_a_photo_upright_by_its_exif_orientation():
    # A landscape-stored picture whose tag 6 says: turn 90 degrees clockwise to view it.
    stored = np.full((60, 100), 255, dtype=np.uint8)
    stored[:, :20] = 0  # a black band along the stored left edge
    data = _jpeg_with_exif_orientation(stored, 6)
    gray, record = fetch.decode_page(data, ".jpg", None, {"dpi": 300})
    assert gray.shape == (100, 60)
    assert record["exif_turned"] is True
    # Turned clockwise, the stored left edge becomes the top edge.
    assert gray[:15].mean() < 30
    assert gray[-60:].mean() > 225
    # A PNG has no such tag: taken as stored.
    ok, png = cv2.imencode(".png", stored)
    gray_png, record_png = fetch.decode_page(png.tobytes(), ".png", None, {"dpi": 300})
    assert gray_png.shape == (60, 100) and record_png["exif_turned"] is False
