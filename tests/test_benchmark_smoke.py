"""The segmentation benchmark end to end on a few pages, and its baselines on drawn pages."""

import importlib
import math
import sys

import numpy as np
from drawn_pages import draw_page
from repo_paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
segmentation = importlib.import_module("segmentation")
baselines = importlib.import_module("baselines")


def test_threshold_baseline_cuts_between_separated_staves():
    page = draw_page([1, 1, 1], system_gap_sp=14.0)
    found = baselines.visionscores_threshold_systems(page.gray)
    assert len(found) == 3
    for box, system in zip(found, page.systems, strict=True):
        true = system["staff_bbox"]
        assert box[1] <= true[1] + 2 and box[3] >= true[3] - 2


def test_threshold_baseline_splits_a_grand_staff_with_blank_paper_between_the_hands():
    # The weakness the paper reports: nothing in the profile tells the gap between the hands
    # from the gap between systems once both are blank.
    page = draw_page([2, 2, 2], system_gap_sp=14.0, staff_gap_sp=5.0)
    assert len(baselines.visionscores_threshold_systems(page.gray)) == 6


def test_threshold_baseline_finds_nothing_on_a_blank_page():
    assert baselines.visionscores_threshold_systems(np.full((800, 600), 255, np.uint8)) == []


def test_profile_minima_counts_a_flat_minimum_once():
    profile = np.array([5, 3, 0, 0, 0, 4, 6, 2, 7], float)
    assert baselines.profile_minima(profile).tolist() == [3, 7]


def test_benchmark_on_four_pages(tmp_path):
    out = tmp_path / "segmentation.md"
    result = segmentation.main(
        [
            "--pages",
            "4",
            "--jobs",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
            "--failures-dir",
            str(tmp_path / "failures"),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    report = out.read_text()
    assert report == result["report"]
    header = next(line for line in report.splitlines() if line.startswith("| subset"))
    assert [c.strip() for c in header.strip("|").split("|")] == list(segmentation.TABLE_COLUMNS)

    rows = result["rows"]
    methods = result["methods"]
    assert methods[:2] == ["ours", "visionscores-threshold"]
    subsets = {row["subset"] for row in rows}
    assert "negative" in subsets and subsets & {"clean", "scanned"}
    assert len(rows) == len(subsets) * len(methods)
    assert sum(len(r["true_boxes"]) for r in result["results"]) > 0
    for row in rows:
        for column in ("P@0.5", "R@0.5", "F1@0.5", "P@0.75", "F1@0.75", "mean IoU"):
            value = row[column]
            assert math.isnan(value) or 0.0 <= value <= 1.0, (row, column)
        assert row["ms/page"] > 0
        if row["method"] != "ours":
            assert math.isnan(row["n_staves acc"]) and math.isnan(row["skew err max (°)"])
        if row["subset"] == "negative":
            assert row["systems on negative pages"] >= 0
    ours_music = next(r for r in rows if r["method"] == "ours" and r["subset"] == "all music")
    # An accuracy floor: the synthetic pages' exact truth, through the workflow's page pipeline.
    assert ours_music["F1@0.5"] >= 0.9 and ours_music["n_staves acc"] >= 0.9
    assert 0.0 <= ours_music["skew err median (°)"] <= ours_music["skew err max (°)"] <= 5.0
    # Every row of the table is in the report.
    assert report.count("| ours |") == len(subsets)


def test_dataset_fidelity_on_six_synthetic_pages(tmp_path):
    # The real workflow (snakemake) on six synthetic pages with exact truth; a floor on what
    # the dataset keeps, so a pipeline that keeps wrong or loses true systems fails here.
    fidelity = importlib.import_module("dataset_fidelity")
    out = tmp_path / "fidelity.md"
    result = fidelity.main(
        [
            "--synthetic-pages", "6", "--seed", "3", "--no-real", "--cores", "2",
            "--cache-dir", str(tmp_path / "cache"), "--workdir", str(tmp_path / "work"),
            "--out", str(out),
        ]
    )  # fmt: skip
    assert out.read_text(encoding="utf-8").startswith("# Dataset fidelity")
    everything = result["tallies"]["all"]
    assert everything.pages == 6 and everything.true_pairs > 0
    assert everything.kept_right >= 0.95 * everything.kept
    assert everything.pairs_kept >= 0.9 * everything.true_pairs
