"""Property tests: the manifest parser and the segmentation functions on random input.

The manifest parser must accept and round-trip every valid manifest, and refuse every
invalid one with a ManifestError naming the file, the row and the field, never with another
exception. Segmentation must never crash, and its boxes must lie inside the page, have
positive size and come top to bottom, whatever the image: noise, random strokes, drawn staves
at any spacing from 6 to 40 px, or a page of 1 x 1 or 3 x 5000 pixels.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from repo_paths import REPO
from shipped_params import STAFF, SYSTEM

from visionscores.acquire.manifest import (
    MANIFEST_COLUMNS,
    ManifestError,
    load_manifest,
    parse_manifest,
)
from visionscores.segment import page as segment
from visionscores.segment import staves, systems

CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/manifest.schema.yaml").read_text())
MANIFEST = Path("/data/manifests/pieces.csv")  # named in messages only; never read
SETTINGS = settings(
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- manifests -----------------------------------------------------------------------------

slug = st.from_regex(r"[a-z0-9](?:[a-z0-9_-]{0,30}[a-z0-9])?", fullmatch=True)
# Text cells as a person types them: any printable character (commas, quotes, accents,
# line breaks inside a cell), no leading or trailing blanks (the parser strips those).
cell = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
    | st.sampled_from(",\"'\n"),
    min_size=1,
    max_size=30,
).map(str.strip)
hex64 = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
relative_path = st.lists(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_. -]{0,12}", fullmatch=True).map(str.strip),
    min_size=1,
    max_size=4,
).map("/".join)
url = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,2}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_./%-]{0,20}", fullmatch=True),
)


@st.composite
def valid_rows(draw, piece_id=slug):
    index = draw(st.one_of(st.just(""), st.from_regex(r"[0-9]{1,8}", fullmatch=True)))
    sources = [relative_path.filter(lambda p: ".." not in p.split("/")), url]
    source = draw(st.one_of(*sources) if not index else st.one_of(st.just(""), *sources))
    return {
        "piece_id": draw(piece_id),
        "scenario": draw(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,10}", fullmatch=True)),
        "title": draw(cell.filter(bool)),
        "composer": draw(cell.filter(bool)),
        "key": draw(st.one_of(st.just(""), cell)),
        "imslp_page": draw(st.one_of(st.just(""), url)),
        "imslp_file_index": index,
        "source": source,
        "sha256": draw(st.one_of(st.just(""), hex64)),
    }


def unique_ids(rows: list[dict[str, str]]) -> bool:
    return len({row["piece_id"] for row in rows}) == len(rows)


manifests = st.lists(valid_rows(), min_size=1, max_size=6).filter(unique_ids)


def to_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@SETTINGS
@given(manifests)
def test_a_valid_manifest_parses_and_round_trips(rows):
    pieces = parse_manifest(to_csv(rows), MANIFEST, SCHEMA)
    assert [dataclasses.asdict(piece) for piece in pieces] == rows
    assert to_csv([dataclasses.asdict(piece) for piece in pieces]) == to_csv(rows)


# Values that stay invalid after stripping, per field.
INVALID = {
    "piece_id": st.one_of(
        st.sampled_from(["../../x", "Bad", "a b", "-a", "a-", "a/b", "é", ".", "a" * 101]),
        slug.map(lambda s: s + "/.."),
        slug.map(str.upper).filter(lambda s: s != s.lower()),
    ),
    "scenario": st.sampled_from(["", "Demo", "-x", "a b", "../x"]),
    "title": st.just(""),
    "composer": st.just(""),
    "imslp_page": st.sampled_from(["ftp://imslp.org/x", "imslp.org/wiki/X", "https://", "x y"]),
    "imslp_file_index": st.sampled_from(["12a", "-1", "1.5", "0x10", "١٢"]),
    "source": st.one_of(
        st.sampled_from(
            ["/etc/passwd", "../x.pdf", "a/../../b.pdf", "file:///etc/passwd", "C:\\x.pdf"]
            + ["c:/x.pdf", "http://", "ftp://h/x.pdf", "\\\\server\\share\\x.pdf", "a/../b"]
        ),
        relative_path.map(lambda p: f"../{p}"),
    ),
    "sha256": st.sampled_from(["abc", "g" * 64, "0" * 63, "0" * 65]),
}


@st.composite
def manifests_with_one_bad_cell(draw):
    rows = draw(manifests)
    position = draw(st.integers(0, len(rows) - 1))
    field = draw(st.sampled_from(sorted(INVALID) + ["duplicate"]))
    if field == "duplicate":
        assume(len(rows) > 1 and position > 0)
        rows[position]["piece_id"] = rows[draw(st.integers(0, position - 1))]["piece_id"]
        field = "piece_id"
    else:
        rows[position][field] = draw(INVALID[field])
    return rows, position + 2, field  # the header is row 1


@SETTINGS
@given(manifests_with_one_bad_cell())
def test_an_invalid_row_is_named_by_file_row_and_field(case):
    rows, line, field = case
    try:
        parse_manifest(to_csv(rows), MANIFEST, SCHEMA)
    except ManifestError as error:
        assert f"{MANIFEST}, row {line}, field '{field}'" in str(error)
    else:
        raise AssertionError(f"accepted: row {line} field {field!r}: {rows[line - 2][field]!r}")


@SETTINGS
@given(st.text(max_size=400) | manifests.map(to_csv).flatmap(lambda t: st.just(t[: len(t) // 2])))
def test_any_text_parses_or_raises_a_manifest_error(text):
    try:
        parse_manifest(text, MANIFEST, SCHEMA)
    except ManifestError as error:
        assert str(MANIFEST) in str(error)


@SETTINGS
@given(st.binary(max_size=300) | manifests.map(lambda rows: to_csv(rows).encode("utf-16")))
def test_any_bytes_load_or_raise_a_manifest_error(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.csv"
        path.write_bytes(data)
        try:
            load_manifest(path, SCHEMA)
        except ManifestError as error:
            assert str(path) in str(error)


def test_a_huge_cell_parses_or_is_a_manifest_error():
    """A cell above the csv module's field size limit (128 KiB) in an otherwise valid row."""
    row = {"piece_id": "p", "scenario": "s", "title": "T" * 200_000, "composer": "C"}
    text = to_csv([dict.fromkeys(MANIFEST_COLUMNS, "") | row | {"imslp_file_index": "1"}])
    try:
        parse_manifest(text, MANIFEST, SCHEMA)
    except ManifestError as error:
        assert f"{MANIFEST}, row 2" in str(error)


# --- segmentation ----------------------------------------------------------------------------


@st.composite
def drawn_staves(draw):
    """A white page with systems of five-line staves at a random spacing, tilt-free."""
    spacing = draw(st.integers(6, 40))
    thickness = draw(st.integers(1, max(1, spacing // 4)))
    counts = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    gap = draw(st.floats(2.0, 8.0))
    width = draw(st.integers(20 * spacing, max(20 * spacing, 1200)))
    left = draw(st.integers(0, spacing * 3))
    height = int(sum(c * 4 * spacing + (c + 1) * gap * spacing for c in counts) + 2 * spacing)
    gray = np.full((min(height, 3000), width), 255, np.uint8)
    y = float(draw(st.integers(0, 2 * spacing)))
    for count in counts:
        top = round(y)
        for staff in range(count):
            for line in range(5):
                row = round(y) + line * spacing
                cv2.line(gray, (left, row), (width - 1 - left, row), 0, thickness)
            y += 4 * spacing + (gap * spacing if staff < count - 1 else 0)
        if draw(st.booleans()):  # a barline joining the staves of the system
            cv2.line(gray, (left, top), (left, round(y)), 0, thickness + 1)
        y += gap * spacing
    if draw(st.booleans()):
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        noise = rng.normal(0, draw(st.floats(0, 60)), gray.shape)
        gray = np.clip(gray + noise, 0, 255).astype(np.uint8)
    return gray


@st.composite
def random_pages(draw):
    """Noise, random lines and rectangles on pages of any size, tiny and odd shapes too."""
    height, width = draw(
        st.one_of(
            st.sampled_from([(1, 1), (3, 5000), (5000, 3), (1, 700), (700, 1), (2, 2), (40, 40)]),
            st.tuples(st.integers(1, 900), st.integers(1, 900)),
        )
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["blank", "black", "noise", "strokes"]))
    if kind == "noise":
        return rng.integers(0, 256, (height, width), dtype=np.uint8)
    gray = np.full((height, width), 0 if kind == "black" else 255, np.uint8)
    if kind == "strokes":
        for _ in range(draw(st.integers(1, 60))):
            x0, x1 = (int(v) for v in rng.integers(0, width, 2))
            y0, y1 = (int(v) for v in rng.integers(0, height, 2))
            shade, size = int(rng.integers(0, 160)), int(rng.integers(-1, 6))
            if rng.random() < 0.5:
                cv2.line(gray, (x0, y0), (x1, y1), shade, max(1, size))
            else:
                cv2.rectangle(gray, (x0, y0), (x1, y1), shade, size)
    return gray


pages = drawn_staves() | random_pages()


def assert_box_inside(box, width: float, height: float) -> None:
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= width, box
    assert 0 <= y0 < y1 <= height, box


@SETTINGS
@given(pages)
def test_segmenting_any_page_gives_ordered_boxes_inside_it(gray):
    height, width = gray.shape
    processed = segment.process_image(gray, CONFIG["clean"], CONFIG["segment"])
    result = segment.page_to_json(1, processed.result)
    assert (result["width"], result["height"]) == (width, height)
    tops = []
    for system in result["systems"]:
        assert system["n_staves"] >= 1
        assert_box_inside(system["staff_bbox"], width, height)
        assert_box_inside(system["crop_bbox"], width, height)
        tops.append(system["staff_bbox"][1])
    assert tops == sorted(tops)


def ink_of(gray: np.ndarray) -> np.ndarray:
    return (gray < 128).astype(np.uint8)


metrics = st.builds(
    staves.StaffMetrics,
    line_thickness_px=st.floats(0.5, 12.0),
    staff_spacing_px=st.floats(1.0, 60.0),
)


@SETTINGS
@given(pages, st.one_of(st.none(), metrics))
def test_staves_and_systems_are_inside_ordered_and_apart(gray, given_metrics):
    ink = ink_of(gray)
    height, width = ink.shape
    page_metrics = given_metrics or staves.estimate_metrics(ink)
    assume(page_metrics is not None)
    found = staves.find_staves(ink, page_metrics, **STAFF)
    for staff in found:
        assert 0 <= staff.left_px <= staff.right_px < width, staff
        assert 0 <= staff.top_px <= staff.bottom_px <= height - 1, staff
        assert staff.spacing_px > 0 and 0 <= staff.line_fill <= 1, staff
    assert [s.top_px for s in found] == sorted(s.top_px for s in found)
    for index, upper in enumerate(found):
        for lower in found[index + 1 :]:
            overlap_rows = upper.top_px < lower.bottom_px and lower.top_px < upper.bottom_px
            overlap_columns = upper.left_px < lower.right_px and lower.left_px < upper.right_px
            assert not (overlap_rows and overlap_columns), (upper, lower)
    grouped = systems.find_systems(ink, found, **SYSTEM)
    assert sum(system.n_staves for system in grouped) == len(found)
    assert [s for system in grouped for s in system.staves] == found
    for system in grouped:
        assert_box_inside(system.staff_box, width, height)
        assert_box_inside(system.crop_box, width, height)
    crops = [system.crop_box for system in grouped]
    assert all(a[3] <= b[1] for a, b in zip(crops, crops[1:], strict=False)), crops
