"""The whole workflow on the demo, with real Snakemake in a temporary directory."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pyarrow.parquet as pq
import pytest
import yaml
from repo_paths import REPO

pytestmark = pytest.mark.workflow

# The sample metadata columns the dataset promises, in order (the paper's first).
DESIGN_COLUMNS = [
    "sample_id", "title", "composer", "key", "imslp_page", "system_index", "scenario",
    "piece_id", "imslp_file_index", "pdf_sha256", "page", "system_on_page", "reading_index",
    "n_staves", "staff_bbox", "crop_bbox", "dpi", "skew_deg",
]  # fmt: skip
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]


def snakemake(workdir: Path, *args: str) -> str:
    # The rules call the `visionscores` command of the environment running the tests.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    completed = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    return output


def scheduled_jobs(dry_run_output: str) -> dict[str, int]:
    """Snakemake's own job summary ("Job stats") of a dry run, as {rule: count}."""
    if "Nothing to be done" in dry_run_output:
        return {}
    table = dry_run_output.split("Job stats:", 1)[1]
    jobs = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"\s*(\S+)\s+(\d+)\s*", line)
        if not match:
            break
        jobs[match[1]] = int(match[2])
    jobs.pop("total", None)
    return jobs


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    snakemake(workdir, "--cores", "2")
    return workdir


def test_every_image_is_128_by_512_grayscale(demo_run):
    images = sorted((demo_run / "results/dataset/demo/images").rglob("*.jpg"))
    assert images
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert image.shape == (128, 512), path
        assert image.dtype == "uint8"


def test_metadata_has_the_design_columns(demo_run):
    dataset = demo_run / "results/dataset/demo"
    table = pq.read_table(dataset / "metadata.parquet")
    assert table.column_names[: len(DESIGN_COLUMNS)] == DESIGN_COLUMNS
    assert table.column_names[-1] == "image_path"
    header = (dataset / "metadata.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == table.column_names
    for image_path in table.column("image_path").to_pylist():
        assert (dataset / image_path).is_file()


def test_kept_systems_per_piece_equal_the_ground_truth(demo_run):
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    table = pq.read_table(demo_run / "results/dataset/demo/metadata.parquet").to_pylist()
    kept = {piece: 0 for piece in truth}
    for row in table:
        kept[row["piece_id"]] += 1
    expected = {
        piece: sum(system["n_staves"] == 2 for page in info["pages"] for system in page["systems"])
        for piece, info in truth.items()
    }
    assert kept == expected
    rejected = pq.read_table(demo_run / "results/dataset/demo/rejected.parquet").to_pylist()
    assert all(row["reason"] == "n_staves" for row in rejected)


def box_iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def kept_boxes_against_truth(metadata_rows, truth, pieces) -> tuple[list, list]:
    """Match every kept system to the ground truth's two-staff systems of its page: the kept
    rows whose best IoU is under 0.9 and the true systems no kept row matched."""
    unmatched_truth = {
        (piece, page["page"], index): system["staff_bbox"]
        for piece in pieces
        for page in truth[piece]["pages"]
        for index, system in enumerate(page["systems"])
        if system["n_staves"] == 2
    }
    poor = []
    for row in metadata_rows:
        candidates = {
            key: box
            for key, box in unmatched_truth.items()
            if key[:2] == (row["piece_id"], row["page"])
        }
        best = max(
            candidates, key=lambda key: box_iou(row["staff_bbox"], candidates[key]), default=None
        )
        if best is None or box_iou(row["staff_bbox"], candidates[best]) < 0.9:
            poor.append(row["sample_id"])
            continue
        del unmatched_truth[best]
    return poor, sorted(unmatched_truth)


def test_every_kept_box_matches_a_true_system(demo_run):
    # Each kept system's staff box against the demo's exact ground truth (pixels of the page
    # as the workflow reads it: the scan's own, or vector pages at render.dpi = 300).
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    rows = pq.read_table(demo_run / "results/dataset/demo/metadata.parquet").to_pylist()
    assert kept_boxes_against_truth(rows, truth, truth) == ([], [])


def test_every_kept_system_reads_the_key_signature_it_was_engraved_with(demo_run):
    # The demo's ground truth has each system's key signature from the engraving (verovio).
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    rows = pq.read_table(demo_run / "results/dataset/demo/metadata.parquet").to_pylist()
    wrong, unread = [], []
    for row in rows:
        page = next(p for p in truth[row["piece_id"]]["pages"] if p["page"] == row["page"])
        system = max(page["systems"], key=lambda s: box_iou(row["staff_bbox"], s["staff_bbox"]))
        if row["key_signature_fifths"] is None:
            unread.append(row["sample_id"])
        elif row["key_signature_fifths"] != system["key_signature_fifths"]:
            wrong.append((row["sample_id"], row["key_signature_fifths"]))
    # The reader says "unread" (null) rather than guess; it must never give a wrong key.
    assert wrong == []
    assert len(unread) <= 0.05 * len(rows), unread


def test_the_collection_file_marks_where_each_of_its_pieces_starts(demo_run):
    # The demo's collection sets three pieces one after the other; its ground truth marks
    # each piece's first system. Every kept system's movement_start and movement_index must
    # follow it, and each movement's heading image is kept beside the pages.
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]["piano-album"]
    true_systems = [(page["page"], system) for page in truth["pages"] for system in page["systems"]]
    rows = pq.read_table(demo_run / "results/dataset/demo/metadata.parquet").to_pylist()
    rows = sorted(
        (row for row in rows if row["piece_id"] == "piano-album"),
        key=lambda row: row["reading_index"],
    )
    assert len(rows) == len(true_systems)
    starts_seen = 0
    for row, (page, system) in zip(rows, true_systems, strict=True):
        assert row["page"] == page and box_iou(row["staff_bbox"], system["staff_bbox"]) >= 0.9
        assert row["movement_start"] == system["movement_start"], row["sample_id"]
        starts_seen += system["movement_start"]
        assert row["movement_index"] == starts_seen - 1
    headings = sorted(p.name for p in (demo_run / "results/pages/piano-album").glob("heading-*"))
    assert headings == [f"heading-m{index:02d}.jpg" for index in range(starts_seen)]


def test_nothing_to_do_after_a_complete_run(demo_run):
    assert scheduled_jobs(snakemake(demo_run, "--dry-run")) == {}


def test_a_threshold_change_reruns_only_judge_format_and_publish(demo_run):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config["judge"]["max_bend_sp"] = config["judge"]["max_bend_sp"] + 0.5
    override = demo_run / "tuned.yaml"
    override.write_text(yaml.safe_dump(config))
    jobs = scheduled_jobs(snakemake(demo_run, "--dry-run", "--configfile", str(override)))
    pieces = len(json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"])
    # The publish family (tables, hub export, report figures) follows judge and format;
    # nothing before judge runs again.
    assert jobs == {
        "judge": pieces,
        "format": pieces,
        "publish": 1,
        "export": 1,
        "report_figures": 1,
        "all": 1,
    }


PIECES = len(json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"])
AFTER_FORMAT = {"publish": 1, "export": 1, "report_figures": 1, "all": 1}
# One key per value of config/README.md's "reruns" column, and the plan it must give.
RERUNS = {
    "imslp.timeout_s": {},
    "acquire.max_download_bytes": {},
    "clean.min_skew_deg": {"segment": PIECES, "judge": PIECES, "format": PIECES} | AFTER_FORMAT,
    "movements.ink_threshold": {"segment": PIECES, "judge": PIECES, "format": PIECES}
    | AFTER_FORMAT,
    "key_signature.ink_threshold": {"segment": PIECES, "judge": PIECES, "format": PIECES}
    | AFTER_FORMAT,
    "format.jpeg_quality": {"format": PIECES} | AFTER_FORMAT,
    "export.split_seed": {"export": 1, "all": 1},
    "report.seed": {"report_figures": 1, "all": 1},
}


@pytest.mark.parametrize("key", sorted(RERUNS))
def test_a_config_change_reruns_what_the_config_readme_says(demo_run, key):
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    section, name = key.split(".")
    value = config[section][name]
    config[section][name] = value + 1 if not isinstance(value, float) else value / 2
    override = demo_run / f"{key}.yaml"
    override.write_text(yaml.safe_dump(config))
    jobs = scheduled_jobs(snakemake(demo_run, "--dry-run", "--configfile", str(override)))
    assert jobs == RERUNS[key]


def test_hub_export_card_and_auxiliary_images(demo_run):
    dataset = demo_run / "results/dataset/demo"
    assert (dataset / "hub/README.md").read_text(encoding="utf-8").startswith("---")
    shards = sorted((dataset / "hub/data").glob("*.parquet"))
    assert shards
    samples = pq.read_table(dataset / "metadata.parquet").column("sample_id").to_pylist()
    assert sum(pq.read_metadata(shard).num_rows for shard in shards) == len(samples)
    crops = {path.stem for path in (dataset / "crops").rglob("*.jpg")}
    assert crops == set(samples)
    pages = list((dataset / "pages").rglob("*.jpg"))
    assert len(pages) == sum(
        len(json.loads(path.read_text())["pages"])
        for path in (demo_run / "results/pages").glob("*/pages.json")
    )


def test_two_clean_runs_give_identical_bytes(demo_run, tmp_path):
    snakemake(tmp_path, "--cores", "2")
    first = demo_run / "results/dataset/demo"
    second = tmp_path / "results/dataset/demo"
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for relative in files:
        if relative.name == ".snakemake_timestamp":
            continue
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_deleted_outputs_are_rebuilt_with_what_depends_on_them(demo_run):
    """An image folder of the dataset and a piece's systems table, deleted by hand, are
    rebuilt (byte for byte), and what was made from them is made again."""
    images = demo_run / "results/dataset/demo/images/mozart-k545-exposition"
    systems = demo_run / "results/systems/joplin-maple-leaf-rag.parquet"
    before = {path.name: path.read_bytes() for path in images.iterdir()}
    systems_before = systems.read_bytes()
    shutil.rmtree(images)
    systems.unlink()
    jobs = scheduled_jobs(snakemake(demo_run, "--dry-run"))
    assert jobs == {
        "segment": 1,
        "judge": 1,
        "format": 2,
        "publish": 1,
        "export": 1,
        "report_figures": 1,
        "all": 1,
    }
    snakemake(demo_run, "--cores", "2")
    assert {path.name: path.read_bytes() for path in images.iterdir()} == before
    assert systems.read_bytes() == systems_before
    assert scheduled_jobs(snakemake(demo_run, "--dry-run")) == {}


def test_a_deleted_pdf_is_copied_again_with_what_depends_on_it(demo_run):
    """A placed PDF of a local source, deleted by hand, is copied from the repository again
    (byte for byte, no download) and its piece made again; nothing else reruns."""
    piece = "schumann-dichterliebe-02"
    pdf = demo_run / f"resources/pdf/{piece}.pdf"
    images = demo_run / f"results/dataset/demo/images/{piece}"
    images_before = {path.name: path.read_bytes() for path in images.iterdir()}
    pdf.unlink()
    record = pdf.with_suffix(".json")
    record_before = record.read_bytes()
    # A dry run removes nothing: it names the stale record and plans without it.
    dry_run = snakemake(demo_run, "--dry-run")
    assert f"{piece}.json is stale: {piece} will be acquired anew" in dry_run
    assert record.read_bytes() == record_before
    assert scheduled_jobs(dry_run) == {}
    run = snakemake(demo_run, "--cores", "2")
    assert f"{piece}.json is stale: {piece} is acquired anew" in run
    per_piece = {"acquire": 1, "acquired": 1, "segment": 1, "judge": 1, "format": 1}
    assert scheduled_jobs(run) == per_piece | AFTER_FORMAT
    assert pdf.read_bytes() == (REPO / f"demo/pdf/{piece}.pdf").read_bytes()
    record = json.loads(pdf.with_suffix(".json").read_text())
    assert (record["status"], record["origin"]) == ("ok", "repository")
    assert {path.name: path.read_bytes() for path in images.iterdir()} == images_before
    assert scheduled_jobs(snakemake(demo_run, "--dry-run")) == {}


def test_every_job_leaves_its_benchmark(demo_run):
    benchmarks = demo_run / "results/benchmarks"
    per_scenario = {path.parent.name for path in benchmarks.glob("*/demo.tsv")}
    assert per_scenario == {"acquired", "publish", "export", "report"}
    for stage in ("acquire", "segment", "judge", "format"):
        assert len(list((benchmarks / stage).glob("*.tsv"))) == PIECES, stage


def test_a_dry_run_writes_nothing(tmp_path):
    snakemake(tmp_path, "--dry-run")
    assert {path.name for path in tmp_path.iterdir()} <= {".snakemake"}


def test_the_test_config_runs_its_pieces_and_lists_the_missing_one(tmp_path):
    # .test/config/config.yaml: two demo pieces in a smaller format, and a missing file.
    snakemake(tmp_path, "--cores", "2", "--configfile", str(REPO / ".test/config/config.yaml"))
    dataset = tmp_path / "results/dataset/ci"
    test_config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    rows = pq.read_table(dataset / "metadata.parquet").to_pylist()
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    pieces = ["mozart-k545-exposition", "joplin-maple-leaf-rag"]
    assert kept_boxes_against_truth(rows, truth, pieces) == ([], [])
    for row in rows:
        image = cv2.imread(str(dataset / row["image_path"]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (
            test_config["format"]["height_px"],
            test_config["format"]["width_px"],
        )
    failures = pq.read_table(dataset / "failures.parquet").to_pylist()
    assert [(row["piece_id"], row["cause"]) for row in failures] == [("missing-file", "missing")]
