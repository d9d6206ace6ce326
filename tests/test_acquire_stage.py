"""The acquire stage: a changed source fetches or copies anew, the record always describes
the bytes beside it, and the jobs read the manifest as validation does."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from fake_imslp import fake_imslp_factory
from repo_paths import REPO
from test_acquire_download import make_pdf

from visionscores import cli
from visionscores.acquire.manifest import load_manifest
from visionscores.acquire.stage import acquire, placement_path

__all__ = ["fake_imslp_factory"]  # the fixture is used by name below

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/manifest.schema.yaml").read_text())
COLUMNS = ["piece_id", "scenario", "title", "composer", "key", "imslp_page",
           "imslp_file_index", "source", "sha256"]  # fmt: skip


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def policy(server, tmp_path: Path) -> dict:
    return {
        "user_agent": "visionscores-tests/0.1 (+mailto:tests@example.org)",
        "base_url": server.base_url,
        "allowed_hosts": list(server.hosts),
        "min_interval_s": 0.05,
        "max_retries": 0,
        "pace_dir": str(tmp_path / "pace"),
    }


def row(**cells) -> dict[str, str]:
    base = dict.fromkeys(COLUMNS, "")
    base.update(piece_id="p", scenario="s", title="T", composer="C")
    return {**base, **cells}


def assert_record_describes_pdf(record: dict, pdf: Path) -> None:
    assert record["status"] == "ok"
    assert record["sha256"] == sha(pdf.read_bytes()) and record["bytes"] == pdf.stat().st_size


@pytest.fixture
def two_files(fake_imslp_factory):
    first, second = make_pdf("first"), make_pdf("second")
    server = fake_imslp_factory(files={"111": first, "222": second})
    return server, first, second


def test_changed_url_or_index_fetches_anew(two_files, tmp_path):
    server, first, second = two_files
    out = tmp_path / "resources/pdf/p.json"
    pdf = out.with_suffix(".pdf")
    settings = policy(server, tmp_path)
    record = acquire(row(source=server.file_url("111")), out, REPO, settings)
    assert pdf.read_bytes() == first and record["origin"] == "download"
    # The same row again: the PDF in place is used, nothing is sent.
    sent = len(server.requests)
    record = acquire(row(source=server.file_url("111")), out, REPO, settings)
    assert record["origin"] == "present" and len(server.requests) == sent
    assert_record_describes_pdf(record, pdf)
    # A new URL: fetched anew, and the record names the new URL with the new bytes.
    record = acquire(row(source=server.file_url("222")), out, REPO, settings)
    assert pdf.read_bytes() == second and record["origin"] == "download"
    assert record["source_url"] == server.file_url("222")
    assert_record_describes_pdf(record, pdf)
    # From a URL to an IMSLP index, and from one index to another.
    record = acquire(row(imslp_file_index="111"), out, REPO, settings)
    assert pdf.read_bytes() == first and record["file_index"] == "111"
    record = acquire(row(imslp_file_index="222"), out, REPO, settings)
    assert pdf.read_bytes() == second and record["file_index"] == "222"
    assert_record_describes_pdf(record, pdf)


def test_changed_sha256_fetches_anew_and_a_failed_fetch_leaves_no_stale_pdf(two_files, tmp_path):
    server, first, second = two_files
    out = tmp_path / "resources/pdf/p.json"
    pdf = out.with_suffix(".pdf")
    settings = policy(server, tmp_path)
    acquire(row(imslp_file_index="111", sha256=sha(first)), out, REPO, settings)
    # A sha256 the file in place does not have: fetched again, and refused again.
    record = acquire(row(imslp_file_index="111", sha256=sha(second)), out, REPO, settings)
    assert record["status"] == "failed" and record["failure"]["cause"] == "checksum-mismatch"
    assert not pdf.exists() and not placement_path(pdf).exists()


def test_changed_path_copies_anew(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scores").mkdir(parents=True)
    first, second = make_pdf("first"), make_pdf("second")
    (repo / "scores/a.pdf").write_bytes(first)
    (repo / "scores/b.pdf").write_bytes(second)
    out = tmp_path / "resources/pdf/p.json"
    acquire(row(source="scores/a.pdf"), out, repo, {})
    record = acquire(row(source="scores/b.pdf"), out, repo, {})
    assert out.with_suffix(".pdf").read_bytes() == second and record["source_url"] == "scores/b.pdf"
    assert_record_describes_pdf(record, out.with_suffix(".pdf"))


def test_pdf_placed_by_hand_is_used_as_it_is(two_files, tmp_path):
    server, first, second = two_files
    out = tmp_path / "resources/pdf/p.json"
    settings = policy(server, tmp_path)
    acquire(row(imslp_file_index="111"), out, REPO, settings)
    out.with_suffix(".pdf").write_bytes(second)  # replaced by hand
    sent = len(server.requests)
    record = acquire(row(imslp_file_index="111"), out, REPO, settings)
    assert (record["origin"], record["placed_by"]) == ("present", "hand")
    assert len(server.requests) == sent
    assert_record_describes_pdf(record, out.with_suffix(".pdf"))


def test_padded_cells_pass_validation_and_the_job_alike(tmp_path):
    """One reader: a padded piece_id, source and sha256 validate, and the job finds the row,
    the file and its checksum."""
    demo = REPO / "demo/pdf/mozart-k545-exposition.pdf"
    (tmp_path / "scores").mkdir()
    shutil.copy(demo, tmp_path / "scores/k545.pdf")
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        digest = sha(demo.read_bytes()).upper()
        writer.writerow(["  k545 ", "s", "T", "C", "", "", "", " scores/k545.pdf\t", f" {digest} "])
    (piece,) = load_manifest(manifest, SCHEMA)
    assert (piece.piece_id, piece.source) == ("k545", "scores/k545.pdf")
    out = tmp_path / "resources/pdf/k545.json"
    policy_file = tmp_path / "policy.json"
    policy_file.write_text("{}")
    argv = [
        "stage", "acquire", "--piece", "k545", "--manifest", str(manifest),
        "--repo-root", str(tmp_path), "--out", str(out), "--policy", str(policy_file),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    record = json.loads(out.read_text())
    assert record["status"] == "ok" and record["sha256"] == digest.lower()
    assert out.with_suffix(".pdf").read_bytes() == demo.read_bytes()
