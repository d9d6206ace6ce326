"""Crash safety: a run killed mid-write and run again ends with the same dataset, byte for byte.

Two demo pieces (a vector page and a two-page 1-bit scan) are built once without
interruption, and once by a run that is killed with SIGKILL (its whole process group, as a
power loss or the out-of-memory killer would) three times: while segment writes a piece's
pages, while format writes a piece's images, and while the report writes its figures. After
each kill the stale lock is removed (``--unlock``, as Snakemake's message says) and the run
is started again; the last one runs to completion. After every kill, each output under its
final name must be complete (JSON parses, tables read, images decode, every page listed in a
pages.json is there and decodes).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pyarrow.parquet as pq
import pytest
import yaml
from repo_paths import REPO
from test_workflow import SNAKEMAKE

pytestmark = pytest.mark.workflow

PIECES = ("mozart-k545-exposition", "joplin-maple-leaf-rag")
SCENARIO = "crash"
# Kill the run as soon as one of these appears (paths relative to the working directory).
KILL_POINTS = {
    "segment": "results/pages/.tmp-*",
    "format": f"results/dataset/{SCENARIO}/images/.tmp-*",
    "report": f"results/report/{SCENARIO}/.tmp-*",
}
KILL_WAIT_S = 120.0


def env(temp: Path) -> dict[str, str]:
    """The tests' environment; temporary files of killed runs go to ``temp``, not /tmp."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "TMPDIR": str(temp)}


def write_inputs(folder: Path) -> Path:
    """The scenario's manifest (two demo rows) and a config override; returns the override."""
    with (REPO / "config/pieces/demo.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row | {"scenario": SCENARIO} for row in reader if row["piece_id"] in PIECES]
        header = reader.fieldnames
    manifest = folder / "crash.csv"
    with manifest.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    override = folder / "crash.yaml"
    override.write_text(
        yaml.safe_dump({"scenario": SCENARIO, "scenarios": {SCENARIO: str(manifest)}}),
        encoding="utf-8",
    )
    return override


def command(workdir: Path, override: Path, *args: str) -> list[str]:
    return [*SNAKEMAKE, "--directory", str(workdir), "--configfile", str(override), *args]


def run(workdir: Path, override: Path, *args: str) -> None:
    completed = subprocess.run(
        command(workdir, override, *args),
        capture_output=True,
        text=True,
        timeout=900,
        env=env(override.parent / "tmp"),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def run_until(workdir: Path, override: Path, pattern: str) -> dict:
    """Start a run; SIGKILL its process group once ``pattern`` matches a path in workdir."""
    log = (workdir.parent / f"{workdir.name}-{time.monotonic_ns()}.log").open("w")
    process = subprocess.Popen(
        command(workdir, override, "--cores", "2"),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env(override.parent / "tmp"),
        start_new_session=True,  # its own process group: the jobs die with it
    )
    started, hit = time.monotonic(), []
    try:
        while process.poll() is None and time.monotonic() - started < KILL_WAIT_S:
            hit = sorted(workdir.glob(pattern))
            if hit:
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        if process.poll() is None and not hit:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()
    return {"killed": bool(hit), "hit": [str(p.relative_to(workdir)) for p in hit]}


def is_temporary(relative: Path) -> bool:
    return any(part.startswith(".tmp-") for part in relative.parts)


def incomplete_outputs(workdir: Path) -> list[str]:
    """Every output under its final name that is not complete (empty list: all good)."""
    problems = []
    for root in ("resources", "results"):
        for path in sorted((workdir / root).rglob("*")):
            relative = path.relative_to(workdir)
            if not path.is_file() or is_temporary(relative) or "logs" in relative.parts:
                continue
            try:
                if path.suffix == ".json":
                    listing = json.loads(path.read_text(encoding="utf-8"))
                    if path.name == "pages.json":  # segment's listing: every page is there
                        for page in listing["pages"]:
                            image = cv2.imread(
                                str(path.parent / page["file"]), cv2.IMREAD_GRAYSCALE
                            )
                            assert image is not None, f"{page['file']} does not decode"
                elif path.suffix == ".parquet":
                    pq.read_table(path)
                elif path.suffix in (".png", ".jpg"):
                    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is not None
                elif path.suffix == ".csv":
                    list(csv.reader(path.open(encoding="utf-8", newline="")))
            except Exception as error:  # any failure to read counts as a partial file
                problems.append(f"{relative}: {error!r}")
    return problems


def dataset_files(workdir: Path) -> dict[str, bytes]:
    dataset = workdir / f"results/dataset/{SCENARIO}"
    return {
        path.relative_to(dataset).as_posix(): path.read_bytes()
        for path in sorted(dataset.rglob("*"))
        if path.is_file()
        and not is_temporary(path.relative_to(dataset))
        and path.name != ".snakemake_timestamp"
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    override = write_inputs(root)
    (root / "tmp").mkdir()
    reference, crashed = root / "reference", root / "crashed"
    reference.mkdir()
    crashed.mkdir()
    run(reference, override, "--cores", "2")
    kills = {}
    for name, pattern in KILL_POINTS.items():
        outcome = run_until(crashed, override, pattern)
        outcome["incomplete"] = incomplete_outputs(crashed)
        kills[name] = outcome
        run(crashed, override, "--unlock")
    run(crashed, override, "--cores", "2")
    return {"reference": reference, "crashed": crashed, "kills": kills}


def test_each_kill_hit_a_run_while_it_was_writing(runs):
    assert {name: kill["killed"] for name, kill in runs["kills"].items()} == dict.fromkeys(
        KILL_POINTS, True
    ), runs["kills"]


def test_after_each_kill_every_output_under_its_final_name_is_complete(runs):
    assert {name: kill["incomplete"] for name, kill in runs["kills"].items()} == dict.fromkeys(
        KILL_POINTS, []
    )


def test_the_finished_run_has_the_uninterrupted_dataset_byte_for_byte(runs):
    expected, actual = dataset_files(runs["reference"]), dataset_files(runs["crashed"])
    assert sorted(actual) == sorted(expected)
    assert [name for name in expected if actual[name] != expected[name]] == []
    assert incomplete_outputs(runs["crashed"]) == []


def test_no_temporary_file_of_a_killed_job_is_left_behind(runs):
    """A killed job's ``.tmp-*`` files and folders sit beside its outputs, some inside the
    published dataset folder (images/, pages/, crops/); the run that redoes the job must not
    leave them there."""
    crashed = runs["crashed"]
    left = sorted(
        path.relative_to(crashed).as_posix()
        for root in ("resources", "results")
        for path in (crashed / root).rglob(".tmp-*")
    )
    assert left == []
