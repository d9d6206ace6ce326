"""The throughput benchmark's inputs: long score files that acquire takes as already fetched."""

import importlib
import sys

import pymupdf
import yaml
from repo_paths import REPO

from visionscores.acquire.manifest import load_manifest, read_manifest_rows
from visionscores.acquire.stage import acquire

sys.path.insert(0, str(REPO / "benchmarks"))
throughput = importlib.import_module("throughput")


def test_cycled_pdf_repeats_the_pages_up_to_the_length_asked():
    data = throughput.cycled_pdf(REPO / "demo/pdf/cpebach-h186-poco-adagio.pdf", 7)
    with pymupdf.open(stream=data, filetype="pdf") as document:
        assert document.page_count == 7
        with pymupdf.open(REPO / "demo/pdf/cpebach-h186-poco-adagio.pdf") as original:
            first = original[0].get_text()
            assert [document[i].get_text() == first for i in (0, 3, 6)] == [True] * 3


def test_inputs_validate_and_acquire_uses_the_placed_files_without_fetching(tmp_path):
    kinds = throughput.write_inputs(tmp_path, copies=2, pages_per_piece=3)
    assert len(kinds) == 2 * len(throughput.demo_pieces())
    assert set(kinds.values()) == {"engraved", "scanned"}
    schema = yaml.safe_load((REPO / "workflow/schemas/manifest.schema.yaml").read_text())
    pieces = load_manifest(tmp_path / "throughput.csv", schema)
    assert sorted(piece.piece_id for piece in pieces) == sorted(kinds)
    rows = read_manifest_rows(tmp_path / "throughput.csv")
    piece_id = sorted(kinds)[0]
    record = acquire(
        rows[piece_id],
        tmp_path / f"resources/pdf/{piece_id}.json",
        REPO,
        {"base_url": "http://127.0.0.1:9", "max_retries": 0},  # never reached
    )
    assert (record["status"], record["origin"]) == ("ok", "present")
    assert record["sha256"] == rows[piece_id]["sha256"]
