"""The browser path: `visionscores todo` lists what is missing and why, `visionscores
import` places browser downloads, and a following run uses them without a request."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
import yaml
from fake_imslp import FakeImslp
from test_acquire_download import make_pdf
from test_workflow import snakemake

from visionscores import cli
from visionscores.acquire.browser import import_folder, todo
from visionscores.acquire.stage import placement_path

COLUMNS = ["piece_id", "scenario", "title", "composer", "key", "imslp_page",
           "imslp_file_index", "source", "sha256"]  # fmt: skip


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**dict.fromkeys(COLUMNS, ""), "scenario": "s", "title": "T",
                             "composer": "C", **row})  # fmt: skip
    return path


def failed_record(pdf_dir: Path, piece_id: str, cause: str) -> None:
    pdf_dir.mkdir(parents=True, exist_ok=True)
    failure = {"piece_id": piece_id, "stage": "acquire", "cause": cause, "message": f"{cause}!"}
    (pdf_dir / f"{piece_id}.json").write_text(json.dumps({"status": "failed", "failure": failure}))


def test_todo_lists_each_missing_piece_with_links_and_why(tmp_path):
    pdf_dir = tmp_path / "resources/pdf"
    good, other = make_pdf("good"), make_pdf("other")
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            {"piece_id": "never", "imslp_file_index": "0101", "imslp_page": "https://imslp.org/wiki/W_(A,_B)"},
            {"piece_id": "gated", "imslp_file_index": "102"},
            {"piece_id": "capped", "source": "https://imslp.org/files/x.pdf"},
            {"piece_id": "done", "imslp_file_index": "104"},
            {"piece_id": "wrong", "imslp_file_index": "105", "sha256": sha(good)},
            {"piece_id": "local", "source": "scores/a.pdf"},
            {"piece_id": "elsewhere", "scenario": "t", "imslp_file_index": "106"},
        ],
    )  # fmt: skip
    failed_record(pdf_dir, "gated", "captcha")
    failed_record(pdf_dir, "capped", "daily-cap")
    (pdf_dir / "done.pdf").write_bytes(good)
    (pdf_dir / "done.json").write_text('{"status": "ok"}')
    (pdf_dir / "wrong.pdf").write_bytes(other)
    rows = todo(manifest, tmp_path / "todo.csv", pdf_dir, "https://imslp.org", scenario="s")
    with open(tmp_path / "todo.csv", encoding="utf-8") as handle:
        written = {row["piece_id"]: row for row in csv.DictReader(handle)}
    assert [row["piece_id"] for row in rows] == list(written)
    assert {piece: row["reason"] for piece, row in written.items()} == {
        "never": "never-tried",
        "gated": "captcha",
        "capped": "daily-cap",
        "wrong": "checksum-mismatch",
    }
    assert written["never"]["download_url"] == "https://imslp.org/wiki/Special:ImagefromIndex/0101"
    assert written["capped"]["download_url"] == "https://imslp.org/files/x.pdf"
    assert written["never"]["place_at"] == str(pdf_dir / "never.pdf")
    page = (tmp_path / "todo.html").read_text(encoding="utf-8")
    assert '<a href="https://imslp.org/wiki/Special:ImagefromIndex/0101">file 0101</a>' in page
    assert '<a href="https://imslp.org/wiki/W_(A,_B)">work page</a>' in page
    assert "visionscores import" in page


@pytest.fixture
def downloads(tmp_path):
    """A folder of browser downloads (at least ten, mixed) and the manifest they are for."""
    files = {name: make_pdf(name, pages=1) for name in ("a", "b", "b2", "c", "d", "x")}
    folder = tmp_path / "Downloads"
    folder.mkdir()
    saved = {
        # IMSLP's own names, with spaces and non-ASCII.
        "IMSLP0111-PMLP5-Sonate für Klavier.pdf": files["a"],
        "IMSLP0111-PMLP5-Sonate für Klavier (1).pdf": files["a"],  # the same file twice
        "IMSLP222-PMLP6-Étude op. 10.pdf": files["b"],
        "IMSLP222-PMLP6-Étude op. 10 (1).pdf": files["b2"],  # another file, same index
        "Klavierstück – Ünïcode.pdf": files["c"],  # no IMSLP name: found by sha256
        "IMSLP333-PMLP7-Shared.pdf": files["d"],  # one file, two rows
        "IMSLP444-PMLP8-Disclaimer.pdf": b"<!DOCTYPE html><html><title>Disclaimer - IMSLP",
        "IMSLP555-PMLP9-Cut short.pdf": files["x"][: len(files["x"]) // 2],
        "IMSLP666-PMLP1-Wrong checksum.pdf": files["x"],
        "unrelated score.pdf": make_pdf("unrelated", pages=1),
        "notes.txt": b"remember to buy milk",
    }
    for name, data in saved.items():
        (folder / name).write_bytes(data)
    manifest = write_manifest(
        tmp_path / "m.csv",
        [
            {"piece_id": "a", "imslp_file_index": "111"},
            {"piece_id": "b", "imslp_file_index": "222"},
            {"piece_id": "c", "source": "https://imslp.org/x.pdf", "sha256": sha(files["c"])},
            {"piece_id": "d1", "imslp_file_index": "333"},
            {"piece_id": "d2", "scenario": "t", "imslp_file_index": "0333"},
            {"piece_id": "e", "imslp_file_index": "444"},
            {"piece_id": "f", "imslp_file_index": "555"},
            {"piece_id": "g", "imslp_file_index": "666", "sha256": "0" * 64},
        ],
    )
    return folder, manifest, files


def test_import_places_by_index_or_checksum_and_refuses_the_rest(downloads, tmp_path):
    folder, manifest, files = downloads
    pdf_dir = tmp_path / "resources/pdf"
    failed_record(pdf_dir, "a", "captcha")
    report = import_folder(folder, manifest, pdf_dir)
    placed = {piece: file.name for file, piece in report.placed}
    assert placed == {
        "a": "IMSLP0111-PMLP5-Sonate für Klavier (1).pdf",
        "b": "IMSLP222-PMLP6-Étude op. 10 (1).pdf",
        "c": "Klavierstück – Ünïcode.pdf",
        "d1": "IMSLP333-PMLP7-Shared.pdf",
        "d2": "IMSLP333-PMLP7-Shared.pdf",
    }
    for piece, name in placed.items():
        assert (pdf_dir / f"{piece}.pdf").read_bytes() == (folder / name).read_bytes()
    assert [(f.name, p) for f, p in report.already] == [
        ("IMSLP0111-PMLP5-Sonate für Klavier.pdf", "a")
    ]
    # The second file for index 222 differs: the first placed is kept, the clash reported.
    assert [f.name for f, _ in report.conflicts] == ["IMSLP222-PMLP6-Étude op. 10.pdf"]
    refused = {file.name: why for file, why in report.refused}
    assert set(refused) == {
        "IMSLP444-PMLP8-Disclaimer.pdf",
        "IMSLP555-PMLP9-Cut short.pdf",
        "IMSLP666-PMLP1-Wrong checksum.pdf",
        "notes.txt",
    }
    assert "HTML" in refused["IMSLP444-PMLP8-Disclaimer.pdf"]
    assert "cut short" in refused["IMSLP555-PMLP9-Cut short.pdf"]
    assert [file.name for file in report.unmatched] == ["unrelated score.pdf"]
    assert not (pdf_dir / "e.pdf").exists() and not (pdf_dir / "f.pdf").exists()
    # The import record, and the failed attempt's record gone so that acquire reruns.
    record = json.loads(placement_path(pdf_dir / "a.pdf").read_text(encoding="utf-8"))
    assert record["origin"] == "import" and record["sha256"] == sha(files["a"])
    assert record["imported_from"].endswith("Sonate für Klavier (1).pdf")
    assert record["imported_at"].endswith("Z") and record["identity"] == {"file_index": "111"}
    assert not (pdf_dir / "a.json").exists()
    # Idempotent: a second import places nothing and changes no file.
    before = {path.name: path.read_bytes() for path in pdf_dir.iterdir()}
    again = import_folder(folder, manifest, pdf_dir)
    assert again.placed == [] and len(again.already) == 6
    assert {path.name: path.read_bytes() for path in pdf_dir.iterdir()} == before


def test_import_command_names_refused_files_and_fails(downloads, tmp_path, capsys):
    folder, manifest, _ = downloads
    argv = ["import", str(folder), "--manifest", str(manifest), "--pdf-dir", str(tmp_path / "p")]
    assert cli.main(argv) == 1
    said = capsys.readouterr().out
    assert "REFUSED    " in said and "IMSLP444-PMLP8-Disclaimer.pdf" in said
    assert "5 placed" in said


def test_round_trip_todo_browser_import_run_sends_nothing(tmp_path):
    """Pieces stopped by the bot gate, listed by `snakemake todo`, downloaded "in a browser"
    (straight from the fake's file host), imported: the next run uses them unasked."""
    indices = ["00021", "00022", "00023"]
    files = {index: make_pdf(index, pages=1) for index in indices}
    rows = [{"piece_id": f"p-{index}", "imslp_file_index": index} for index in indices]
    write_manifest(tmp_path / "m.csv", rows)
    with FakeImslp(files=files, faults={index: ["captcha"] for index in indices}) as server:
        override = {
            "scenario": "s",
            "scenarios": {"s": str(tmp_path / "m.csv")},
            "imslp": {"base_url": server.base_url, "min_interval_s": 0.1},
            "acquire": {"allowed_hosts": list(server.hosts)},
        }
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(override))
        config = ["--cores", "2", "--configfile", str(tmp_path / "c.yaml")]
        targets = [f"resources/pdf/p-{index}.json" for index in indices]
        snakemake(tmp_path, *targets, *config)
        snakemake(tmp_path, "todo", *config)
        with open(tmp_path / "results/todo/s.csv", encoding="utf-8") as handle:
            listed = {row["piece_id"]: row for row in csv.DictReader(handle)}
        assert {piece: row["reason"] for piece, row in listed.items()} == {
            f"p-{index}": "captcha" for index in indices
        }
        browser = tmp_path / "browser"
        browser.mkdir()
        for index in indices:
            (browser / f"IMSLP{index}-PMLP1-Sonatine Nr {index}.pdf").write_bytes(files[index])
        assert cli.main(["import", str(browser), "--manifest", str(tmp_path / "m.csv"),
                         "--pdf-dir", str(tmp_path / "resources/pdf")]) == 0  # fmt: skip
        sent = len(server.requests)
        snakemake(tmp_path, *targets, *config)
        assert len(server.requests) == sent
    for index in indices:
        record = json.loads((tmp_path / f"resources/pdf/p-{index}.json").read_text())
        assert (record["status"], record["placed_by"]) == ("ok", "import")
        assert record["sha256"] == sha(files[index])
    snakemake(tmp_path, "todo", *config)
    assert (tmp_path / "results/todo/s.csv").read_text().count("\n") == 1  # the header alone
