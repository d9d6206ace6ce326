"""Report: counts, sampling and the figures, on a two-piece scenario drawn in the test."""

import json
from pathlib import Path

import cv2
import numpy as np
import yaml
from repo_paths import REPO

from visionscores.format.images import encode_jpeg
from visionscores.report import figures
from visionscores.report import stage as report_stage
from visionscores.segment import features
from visionscores.tables import (
    JUDGED_SCHEMA,
    METADATA_SCHEMA,
    REJECTED_SCHEMA,
    write_table,
)

# The judge thresholds of the shipped config.
CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text())
THRESHOLDS = CONFIG["judge"]
FORMAT = CONFIG["format"]


def candidate(piece: str, page: int, index: int, keep: bool, reason: str = "") -> dict:
    top = 40.0 + 120 * (index - 1)
    return {
        "piece_id": piece,
        "pdf_sha256": "0" * 64,
        "page": page,
        "system_on_page": index,
        "reading_index": 10 * (page - 1) + index - 1,
        "n_staves": 2 if reason != "n_staves" else 3,
        "staff_bbox": [20.0, top + 10, 380.0, top + 90],
        "crop_bbox": [10.0, top, 390.0, top + 100],
        "deskewed_crop_bbox": [10.0, top, 390.0, top + 100],
        "page_width": 400,
        "page_height": 500,
        "dpi": 100.0,
        "skew_deg": 0.0,
        "staff_spacing_px": 8.0,
        "line_thickness_px": 1.0,
        **{name: 0.1 * index for name in features.FEATURES},
        "keep": keep,
        "reason": reason,
        "reason_value": None if keep else 3.0,
        "reasons": reason,
        "title": f"Title {piece}",
        "composer": "Composer",
        "scenario": "test",
        "sample_id": f"{piece}-p{page:03d}-s{index:02d}",
        "system_index": index,
        "image_path": f"images/{piece}/{piece}-p{page:03d}-s{index:02d}.jpg",
    }


def make_scenario(root: Path) -> dict:
    """Two pieces, three pages, nine candidates of which two are rejected."""
    rng = np.random.default_rng(0)
    dataset_dir = root / "dataset"
    judged_paths, pages_dirs, samples, rejected = [], [], [], []
    layout = {"piece-a": [1, 2], "piece-b": [1]}
    for piece, pages in layout.items():
        pages_dir = root / "pages" / piece
        pages_dir.mkdir(parents=True)
        listing, judged = [], []
        for page in pages:
            gray = np.full((500, 400), 255, np.uint8)
            gray[rng.random((500, 400)) < 0.05] = 0
            cv2.imwrite(str(pages_dir / f"page-{page:04d}.jpg"), gray)
            listing.append({"page": page, "file": f"page-{page:04d}.jpg"})
            for index in (1, 2, 3):
                reason = {("piece-a", 2, 3): "narrow", ("piece-b", 1, 1): "n_staves"}.get(
                    (piece, page, index), ""
                )
                judged.append(candidate(piece, page, index, keep=not reason, reason=reason))
        (pages_dir / "pages.json").write_text(json.dumps({"piece_id": piece, "pages": listing}))
        pages_dirs.append(pages_dir)
        judged_path = root / "judged" / f"{piece}.parquet"
        write_table(judged, JUDGED_SCHEMA, judged_path)
        judged_paths.append(judged_path)
        for row in judged:
            if row["keep"]:
                image_file = dataset_dir / row["image_path"]
                image_file.parent.mkdir(parents=True, exist_ok=True)
                image_file.write_bytes(encode_jpeg(np.full((128, 512), 200, np.uint8), 90))
                samples.append(row)
            else:
                rejected.append(row)
    write_table(samples, METADATA_SCHEMA, dataset_dir / "metadata.parquet")
    write_table(rejected, REJECTED_SCHEMA, dataset_dir / "rejected.parquet")
    return {
        "metadata_path": dataset_dir / "metadata.parquet",
        "rejected_path": dataset_dir / "rejected.parquet",
        "pages_dirs": pages_dirs,
        "judged_paths": judged_paths,
        "dataset_dir": dataset_dir,
        "samples": samples,
        "rejected": rejected,
    }


def test_funnel_and_reason_counts():
    summaries = {"a": [{"page": 1}, {"page": 2}], "b": []}
    samples = [{"piece_id": "a"}] * 5
    rejected = [
        {"reason": "narrow", "reasons": "narrow;sparse"},
        {"reason": "sparse", "reasons": "sparse"},
        {"reason": "odd", "reasons": "odd"},
    ]
    assert figures.funnel_counts(summaries, samples, rejected) == [
        ("score files", 2),
        ("with pages", 1),
        ("pages", 2),
        ("candidate systems", 8),
        ("kept systems", 5),
    ]
    assert figures.reason_counts(rejected, ["narrow", "sparse", "dense"]) == [
        ("narrow", 1, 1),
        ("sparse", 1, 2),
        ("dense", 0, 0),
        ("odd", 1, 1),
    ]


def test_seeded_sample_is_stable_and_keeps_order():
    items = list(range(100))
    first = figures.seeded_sample(items, 10, seed=3)
    assert first == figures.seeded_sample(items, 10, seed=3) == sorted(first)
    assert first != figures.seeded_sample(items, 10, seed=4)
    assert figures.seeded_sample(items[:4], 10, seed=3) == items[:4]


def test_overlay_pages_include_one_page_per_rejection_reason():
    judged = [candidate("p", page, 1, keep=True) for page in range(1, 30)]
    judged.append(candidate("p", 17, 2, keep=False, reason="narrow"))
    judged.append(candidate("q", 5, 1, keep=False, reason="sparse"))
    chosen = figures.choose_overlay_pages(judged, 4, seed=0)
    assert len(chosen) == 4 and chosen == sorted(chosen)
    assert ("p", 17) in chosen and ("q", 5) in chosen
    assert chosen == figures.choose_overlay_pages(judged, 4, seed=0)


def test_html_table_escapes_and_is_self_contained():
    text = figures.html_table("A <b> table", ["x", "y"], [("1 < 2", 3)])
    assert "<td>1 &lt; 2</td><td>3</td>" in text and "A &lt;b&gt; table" in text
    assert text.startswith("<!DOCTYPE html>") and "http" not in text


def test_build_report_writes_every_figure_deterministically(tmp_path):
    scenario = make_scenario(tmp_path)
    inputs = {key: value for key, value in scenario.items() if key not in ("samples", "rejected")}
    outputs = []
    for name in ("one", "two"):
        counts = report_stage.build_report(
            **inputs,
            thresholds=THRESHOLDS,
            out_dir=tmp_path / name,
            seed=1,
            contact_sheet_count=4,
            gallery_per_reason=2,
            overlay_pages=2,
            sample_format=FORMAT,
            record_paths=[],
        )
        files = sorted(p for p in (tmp_path / name).rglob("*") if p.is_file())
        outputs.append({p.relative_to(tmp_path / name).as_posix(): p.read_bytes() for p in files})
    assert outputs[0] == outputs[1]
    assert counts == {"kept": 7, "rejected": 2, "overlay_pages": 2}
    names = set(outputs[0])
    assert set(figures.FIGURES) <= names
    # One page per rejection reason: piece-a page 2 (narrow), piece-b page 1 (n_staves).
    assert {n for n in names if n.startswith("overlays/")} == {
        "overlays/piece-a-p002.png",
        "overlays/piece-b-p001.png",
    }
    sheet = cv2.imread(str(tmp_path / "one/contact_sheet.png"))
    assert sheet.shape[1] == 3 * 512 + 4 * figures.TILE_GAP_PX  # three columns of samples
    gallery = cv2.imread(str(tmp_path / "one/rejected_gallery.png"))
    assert gallery.shape[0] == 2 * (128 + figures.LABEL_HEIGHT_PX) + 3 * figures.TILE_GAP_PX
    overlay = cv2.imread(str(tmp_path / "one/overlays/piece-a-p002.png"))
    assert overlay.shape == (500, 400, 3)
    assert tuple(overlay[280, 200]) == figures.REJECTED_COLOR_BGR  # top edge of s3 (rejected)
    table = (tmp_path / "one/rejections.html").read_text()
    assert "<td>narrow</td><td>1</td><td>50.0 %</td>" in table
    assert b"Software" not in outputs[0]["features.png"]


def test_the_report_command_parses_the_rule_arguments(tmp_path):
    from visionscores.cli import main

    scenario = make_scenario(tmp_path)
    argv = ["stage", "report", "--metadata", str(scenario["metadata_path"])]
    argv += ["--rejected", str(scenario["rejected_path"])]
    argv += ["--pages", *map(str, scenario["pages_dirs"])]
    argv += ["--judged", *map(str, scenario["judged_paths"])]
    argv += ["--thresholds", json.dumps(THRESHOLDS), "--out-dir", str(tmp_path / "out")]
    argv += ["--dataset-dir", str(scenario["dataset_dir"]), "--format", json.dumps(FORMAT)]
    argv += ["--seed", "0", "--contact-sheet", "2", "--gallery-per-reason", "1"]
    argv += ["--overlay-pages", "1"]
    assert main(argv) == 0
    assert len(list((tmp_path / "out/overlays").glob("*.png"))) == 1


def test_every_judged_feature_has_its_thresholds_drawn():
    assert set(figures.FEATURE_THRESHOLDS) == set(features.FEATURES)


def test_movement_keys_mark_a_read_signature_that_contradicts_the_stated_key():
    def row(piece, movement, reading, page, key, read):
        return {"piece_id": piece, "movement_index": movement, "reading_index": reading}| {
            "page": page, "key": key, "movement_key_signature_fifths": read
        }  # fmt: skip

    samples = [
        row("a", 0, 0, 1, "D major", 2),
        row("a", 0, 1, 1, "D major", 2),
        row("a", 1, 2, 3, "D major", -1),  # a later piece of the file, in F major
        row("b", 0, 0, 1, "B minor", None),  # not read: no verdict
        row("c", 0, 0, 2, "", 3),  # no stated key: no verdict
    ]
    assert figures.movement_keys(samples) == [
        ("a", 0, 1, 2, 2, "D major", 2, ""),
        ("a", 1, 3, 1, -1, "D major", 2, "yes"),
        ("b", 0, 1, 1, None, "B minor", 2, ""),
        ("c", 0, 2, 1, 3, "", None, ""),
    ]
