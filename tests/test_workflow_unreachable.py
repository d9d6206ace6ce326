"""A scenario whose download host cannot be reached, through real Snakemake: every piece
fails at acquire with its cause and gets no later job, the dataset's tables, hub export and
report are still made, and the next run after the pause uses the host again."""

import csv
import json
import time

import pytest
import yaml
from fake_imslp import FakeImslp, closed_port_url
from repo_paths import REPO
from test_workflow import snakemake

from visionscores.acquire.manifest import MANIFEST_COLUMNS

pytestmark = pytest.mark.workflow

# File index -> demo score the fake serves once the host is back.
SCORES = {
    "101": "mozart-k545-exposition",
    "102": "joplin-maple-leaf-rag",
    "103": "bach-bwv846-prelude",
    "104": "schumann-dichterliebe-02",
}
PAUSE_MIN = 0.05  # acquire.unreachable_pause_min: 3 s


def write_config(tmp_path, base_url, hosts):
    with (tmp_path / "fake.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for index in SCORES:
            row = [f"piece-{index}", "fake", f"Work {index}", "C, A", "", "", index, "", ""]
            writer.writerow(row)
    override = {
        "scenario": "fake",
        "scenarios": {"fake": str(tmp_path / "fake.csv")},
        "imslp": {"base_url": base_url, "min_interval_s": 0.1, "max_retries": 1},
        "acquire": {
            "allowed_hosts": list(hosts),
            "unreachable_after_failures": 2,
            "unreachable_pause_min": PAUSE_MIN,
        },
    }
    (tmp_path / "fake.yaml").write_text(yaml.safe_dump(override))
    return ["--configfile", str(tmp_path / "fake.yaml")]


def failure_causes(tmp_path):
    with (tmp_path / "results/dataset/fake/failures.csv").open(encoding="utf-8") as handle:
        return {row["piece_id"]: row["cause"] for row in csv.DictReader(handle)}


def test_unreachable_host_fails_every_piece_without_later_jobs_then_recovers(tmp_path):
    config = write_config(tmp_path, closed_port_url(), ["127.0.0.1"])
    output = snakemake(tmp_path, "--cores", "2", *config)

    assert failure_causes(tmp_path) == {f"piece-{index}": "host-unreachable" for index in SCORES}
    assert json.loads((tmp_path / "results/acquired/fake.json").read_text()) == {"pieces": []}
    # No segment, judge or format job ran for a piece that failed at acquire.
    benchmarks = tmp_path / "results/benchmarks"
    assert sorted(path.name for path in benchmarks.iterdir()) == [
        "acquire",
        "acquired",
        "export",
        "publish",
        "report",
    ]
    assert not (tmp_path / "results/pages").exists()
    # The scenario's tables, hub export and report are made all the same.
    dataset = tmp_path / "results/dataset/fake"
    assert (dataset / "hub/README.md").is_file()
    assert (tmp_path / "results/report/fake/funnel.html").is_file()
    assert output.count("Check the network connection") == 1

    # The host is back (a server on another port of the same host) once the pause is over:
    # the next run asks it again for every piece.
    time.sleep(PAUSE_MIN * 60 + 0.5)
    files = {index: (REPO / f"demo/pdf/{name}.pdf").read_bytes() for index, name in SCORES.items()}
    with FakeImslp(files=files) as server:
        config = write_config(tmp_path, server.base_url, server.hosts)
        output = snakemake(tmp_path, "--cores", "2", *config)
        entries = [r for r in server.requests if "ImagefromIndex" in r.path]
    assert sorted(r.path.rsplit("/", 1)[1] for r in entries) == sorted(SCORES)
    assert failure_causes(tmp_path) == {}
    acquired = json.loads((tmp_path / "results/acquired/fake.json").read_text())
    assert acquired == {"pieces": sorted(f"piece-{index}" for index in SCORES)}
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    with (tmp_path / "results/dataset/fake/metadata.csv").open(encoding="utf-8") as handle:
        kept = [row["piece_id"] for row in csv.DictReader(handle)]
    assert len(kept) == sum(
        sum(system["n_staves"] == 2 for page in truth[name]["pages"] for system in page["systems"])
        for name in SCORES.values()
    )
