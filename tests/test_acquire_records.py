"""The acquire records read together: which pieces have their PDF, which records are stale."""

import json
import os

from visionscores.acquire.records import acquired_pieces, drop_stale_records, stale_record

PDF_BYTES = b"%PDF-1.4 twelve"
PDF_SIZE = 15  # bytes of PDF_BYTES, counted by hand


def write_piece(folder, piece_id, record, pdf=None, pdf_age_s=None):
    """Write ``piece_id``'s record and, if given, its PDF ``pdf_age_s`` seconds older than
    the record (negative: newer)."""
    record_path = folder / f"{piece_id}.json"
    record_path.write_text(json.dumps({"piece_id": piece_id, **record}))
    if pdf is not None:
        pdf_path = folder / f"{piece_id}.pdf"
        pdf_path.write_bytes(pdf)
        written = record_path.stat().st_mtime
        os.utime(pdf_path, (written - pdf_age_s, written - pdf_age_s))
    return record_path


def ok(size=PDF_SIZE):
    return {"status": "ok", "bytes": size, "sha256": "0" * 64}


def failed(cause, failed_url=None):
    failure = {"stage": "acquire", "cause": cause, "message": f"{cause}!"}
    return {"status": "failed", "failure": failure, "failed_url": failed_url}


def test_acquired_pieces_are_the_ok_records_sorted(tmp_path):
    paths = [
        write_piece(tmp_path, "b", ok(), PDF_BYTES, 10),
        write_piece(tmp_path, "a", ok(), PDF_BYTES, 10),
        write_piece(tmp_path, "c", failed("captcha")),
        tmp_path / "absent.json",
    ]
    (tmp_path / "broken.json").write_text("{not json")
    assert acquired_pieces([*paths, tmp_path / "broken.json"]) == ["a", "b"]


def test_an_ok_record_is_stale_when_its_pdf_is_gone_resized_or_newer(tmp_path):
    kept = write_piece(tmp_path, "kept", ok(), PDF_BYTES, 10)
    gone = write_piece(tmp_path, "gone", ok())
    resized = write_piece(tmp_path, "resized", ok(size=99), PDF_BYTES, 10)
    replaced = write_piece(tmp_path, "replaced", ok(), PDF_BYTES, -10)
    assert not stale_record(kept, set())
    assert stale_record(gone, set())
    assert stale_record(resized, set())
    assert stale_record(replaced, set())


def test_a_failed_record_is_stale_when_a_pdf_was_placed_after_it(tmp_path):
    placed = write_piece(tmp_path, "placed", failed("captcha"), PDF_BYTES, -10)
    still_missing = write_piece(tmp_path, "missing", failed("captcha"))
    assert stale_record(placed, set())
    assert not stale_record(still_missing, set())


def test_a_paused_failure_is_stale_once_no_marker_holds_for_its_host(tmp_path):
    url = "https://imslp.org/wiki/Special:ImagefromIndex/00123"
    unreachable = write_piece(tmp_path, "unreachable", failed("host-unreachable", url))
    capped = write_piece(tmp_path, "capped", failed("daily-cap", url))
    for record in (unreachable, capped):
        assert not stale_record(record, {"imslp.org"})
        assert stale_record(record, {"imslp.eu"})
        assert stale_record(record, set())
    # Without the URL that failed, any marker in force keeps the record.
    unknown_host = write_piece(tmp_path, "unknown", failed("host-unreachable"))
    assert not stale_record(unknown_host, {"imslp.eu"})
    assert stale_record(unknown_host, set())
    # Other causes say something about the file: kept whatever the markers.
    blocked = write_piece(tmp_path, "blocked", failed("copyright-blocked", url))
    assert not stale_record(blocked, set())


def test_drop_stale_records_removes_only_those(tmp_path):
    kept = write_piece(tmp_path, "kept", ok(), PDF_BYTES, 10)
    gone = write_piece(tmp_path, "gone", ok())
    captcha = write_piece(tmp_path, "captcha", failed("captcha"))
    absent = tmp_path / "absent.json"
    assert drop_stale_records([kept, gone, captcha, absent], set()) == [gone]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "captcha.json",
        "kept.json",
        "kept.pdf",
    ]
