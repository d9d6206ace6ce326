"""Manifest parsing and validation: every bad row is named by file, row and field."""

import pytest
import yaml
from repo_paths import REPO

from visionscores.acquire.manifest import ManifestError, load_manifest, parse_manifest

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/manifest.schema.yaml").read_text())
HEADER = "piece_id,scenario,title,composer,key,imslp_page,imslp_file_index,source,sha256\n"
GOOD = 'mozart-k545,demo,Sonata,"Mozart, W. A.",C major,,,demo/pdf/a.pdf,\n'


def parse(rows: str):
    return parse_manifest(HEADER + rows, REPO / "m.csv", SCHEMA)


def test_good_rows_parse_and_keep_text_as_written():
    pieces = parse(GOOD + 'liszt-x,demo,X,"Liszt, Franz",,https://imslp.org/wiki/X,05978,,\n')
    assert [p.piece_id for p in pieces] == ["mozart-k545", "liszt-x"]
    assert pieces[1].imslp_file_index == "05978"
    assert [p.source_kind for p in pieces] == ["path", "imslp"]


@pytest.mark.parametrize(
    ("row", "field", "line"),
    [
        ("Bad Id,demo,T,C,,,,a.pdf,\n", "piece_id", 3),
        ("../../x,demo,T,C,,,,a.pdf,\n", "piece_id", 3),
        ("p,demo,T,C,,,,../../etc/passwd,\n", "source", 3),
        ("p,demo,T,C,,,,/etc/passwd,\n", "source", 3),
        ("p,demo,T,C,,,,file:///etc/passwd,\n", "source", 3),
        ("p,demo,T,C,,,,,\n", "source", 3),
        ("p,demo,T,C,,,12a,,\n", "imslp_file_index", 3),
        ("p,demo,T,C,,,,a.pdf,abc\n", "sha256", 3),
        ("p,demo,,C,,,,a.pdf,\n", "title", 3),
        ("mozart-k545,demo,T,C,,,,a.pdf,\n", "piece_id", 3),
    ],
)
def test_bad_rows_name_file_row_and_field(row, field, line):
    with pytest.raises(ManifestError) as raised:
        parse(GOOD + row)
    message = str(raised.value)
    assert "m.csv" in message and f"row {line}" in message and f"'{field}'" in message


def test_duplicate_names_the_first_row():
    with pytest.raises(ManifestError, match="first used in row 2"):
        parse(GOOD + GOOD)


def test_missing_and_unknown_columns():
    with pytest.raises(ManifestError, match="missing column"):
        parse_manifest("piece_id,title\n", REPO / "m.csv", SCHEMA)
    with pytest.raises(ManifestError, match="unknown column"):
        parse_manifest(HEADER.strip() + ",extra\n", REPO / "m.csv", SCHEMA)


def test_non_utf8_file_is_refused_with_its_row(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + GOOD + "p,demo,Sonate,Dvo\xf8\xe1k,,,,a.pdf,\n").encode("latin-1"))
    with pytest.raises(ManifestError, match=r"latin1.csv, row 3, field 'composer': is not UTF-8"):
        load_manifest(path, SCHEMA)


def test_the_shipped_manifests_are_valid():
    for name in ("demo", "sonatinas", "liszt"):
        assert load_manifest(REPO / f"config/pieces/{name}.csv", SCHEMA)
