"""The workflow against a fake IMSLP on loopback: downloads by file index, paced across
jobs, with failed pieces listed by cause while the others finish."""

import csv
import json

import pyarrow.parquet as pq
import pytest
import yaml
from fake_imslp import FakeImslp, work_wikitext
from repo_paths import REPO
from test_workflow import snakemake

from visionscores.acquire.manifest import MANIFEST_COLUMNS

pytestmark = pytest.mark.workflow

MIN_INTERVAL_S = 0.3
GOOD = {"101": "mozart-k545-exposition", "00202": "joplin-maple-leaf-rag"}
# (The daily cap stops every download of the run: tests/test_workflow_acquire_markers.py.)
BAD = {"303": "captcha", "404": "blocked"}
EXPECTED_CAUSE = {"303": "captcha", "404": "copyright-blocked"}


def write_manifest(path):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for index in [*GOOD, *BAD]:
            page = f"https://imslp.org/wiki/Work_{index}_(Composer,_A)"
            writer.writerow(
                [f"piece-{index}", "fake", f"Work {index}", "Composer, A", "", page, index, "", ""]
            )


def test_downloads_by_index_and_lists_failures(tmp_path):
    files = {index: (REPO / f"demo/pdf/{name}.pdf").read_bytes() for index, name in GOOD.items()}
    files.update({index: files["101"] for index in BAD})
    faults = {"00202": ["wait_page", "disclaimer"], **{i: [f] for i, f in BAD.items()}}
    write_manifest(tmp_path / "fake.csv")
    # Work-page metadata for one good piece; the other's page is missing (an error that
    # must not stop anything).
    works = {"Work 101 (Composer, A)": work_wikitext(opus="K.545", key="{{Key|C}}", year="1788")}
    with FakeImslp(files=files, faults=faults, works=works) as server:
        override = {
            "scenario": "fake",
            "scenarios": {"fake": str(tmp_path / "fake.csv")},
            "imslp": {
                "base_url": server.base_url,
                "contact": "mailto:tests@example.org",
                "min_interval_s": MIN_INTERVAL_S,
                "timeout_s": 10.0,
                "max_retries": 1,
                "backoff_base_s": 0.1,
                "enrich": True,
            },
            "acquire": {"allowed_hosts": list(server.hosts)},
        }
        (tmp_path / "fake.yaml").write_text(yaml.safe_dump(override))
        output = snakemake(tmp_path, "--cores", "4", "--configfile", str(tmp_path / "fake.yaml"))
        requests = server.requests

    dataset = tmp_path / "results/dataset/fake"
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    kept = {}
    for row in pq.read_table(dataset / "metadata.parquet").to_pylist():
        kept[row["piece_id"]] = kept.get(row["piece_id"], 0) + 1
    assert kept == {
        f"piece-{index}": sum(len(page["systems"]) for page in truth[name]["pages"])
        for index, name in GOOD.items()
    }
    with (dataset / "failures.csv").open(encoding="utf-8") as handle:
        failures = {row["piece_id"]: row for row in csv.DictReader(handle)}
    assert {piece: row["cause"] for piece, row in failures.items()} == {
        f"piece-{index}": cause for index, cause in EXPECTED_CAUSE.items()
    }
    # The wait page's countdown was said on the console while it was waited.
    assert output.count("piece-00202: IMSLP's download page asks to wait 1 s") == 1
    for index in BAD:
        message = failures[f"piece-{index}"]["message"]
        assert f"resources/pdf/piece-{index}.pdf" in message  # how to place it by hand
        assert f"piece-{index}" in output  # named on the console at the end
    # Work-page metadata: the empty key is filled, opus and year added; a missing page
    # leaves its piece's fields empty.
    rows = {row["piece_id"]: row for row in pq.read_table(dataset / "metadata.parquet").to_pylist()}
    assert (rows["piece-101"]["key"], rows["piece-101"]["opus"]) == ("C major", "K.545")
    assert rows["piece-101"]["year"] == "1788"
    assert (rows["piece-00202"]["key"], rows["piece-00202"]["opus"]) == ("", "")
    # One connection at a time per host, paced across the four parallel jobs.
    for host in server.hosts:
        on_host = sorted((r for r in requests if r.host.startswith(host)), key=lambda r: r.started)
        for before, after in zip(on_host, on_host[1:], strict=False):
            assert after.started - before.finished >= 0.9 * MIN_INTERVAL_S
