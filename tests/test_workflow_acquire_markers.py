"""The daily cap through real Snakemake with parallel download jobs: after the first cap
page, not one request more, in this run or the next; said once on the console."""

import csv
import json

import pytest
import yaml
from fake_imslp import FakeImslp
from test_acquire_download import make_pdf
from test_workflow import snakemake

from visionscores.acquire.manifest import MANIFEST_COLUMNS

pytestmark = pytest.mark.workflow

INDICES = [f"{number:05d}" for number in range(1, 9)]
CAP_AFTER = 3  # files handed out before the fake's daily cap


def write_manifest(path, indices):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for index in indices:
            writer.writerow(
                [f"piece-{index}", "fake", f"Work {index}", "C, A", "", "", index, "", ""]
            )


def acquire_targets(indices):
    return [f"resources/pdf/piece-{index}.json" for index in indices]


def test_cap_page_stops_every_job_of_the_run_and_the_next(tmp_path):
    files = {index: make_pdf(index, pages=1) for index in INDICES}
    write_manifest(tmp_path / "fake.csv", INDICES)
    with FakeImslp(files=files, daily_cap=CAP_AFTER) as server:
        override = {
            "scenario": "fake",
            "scenarios": {"fake": str(tmp_path / "fake.csv")},
            "imslp": {"base_url": server.base_url, "min_interval_s": 0.2, "max_retries": 1},
            "acquire": {"allowed_hosts": list(server.hosts)},
        }
        (tmp_path / "fake.yaml").write_text(yaml.safe_dump(override))
        config = ["--configfile", str(tmp_path / "fake.yaml")]
        output = snakemake(tmp_path, *acquire_targets(INDICES), "--cores", "2", *config)
        requests = server.requests
        entries = [r for r in requests if "ImagefromIndex" in r.path]
        # One cap page was served (the fourth entry), and not one request started after it.
        assert len(entries) == CAP_AFTER + 1
        cap_request = max(entries, key=lambda r: r.started)
        assert [r.path for r in requests if r.started >= cap_request.finished] == []
        records = {
            index: json.loads((tmp_path / f"resources/pdf/piece-{index}.json").read_text())
            for index in INDICES
        }
        causes = {
            index: record.get("failure", {}).get("cause", record["status"])
            for index, record in records.items()
        }
        assert sorted(causes.values()) == ["daily-cap"] * 5 + ["ok"] * 3
        # Said once, on the console, with the way on.
        assert output.count("sent its 'Subscribe' page") == 1
        assert "visionscores import" in output
        # The next run: the marker is announced at its start, and nothing is sent.
        stopped = [index for index, cause in causes.items() if cause == "daily-cap"]
        targets = acquire_targets(stopped)
        output = snakemake(tmp_path, *targets, "--cores", "2", "--forcerun", *targets, *config)
        assert len(server.requests) == len(requests)
        assert output.count("sent its 'Subscribe' page") == 1
