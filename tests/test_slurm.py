"""The demo through a real single-node SLURM cluster, byte for byte equal to a local run.

Needs root on Debian (visionscores_tools.slurm_cluster installs and starts munge, slurmctld
and slurmd)
and snakemake-executor-plugin-slurm (`pip install -e '.[slurm]'`).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from repo_paths import REPO

from visionscores_tools.slurm_cluster import in_ci, slurm_cluster_fixture

pytestmark = pytest.mark.slurm

slurm_cluster = slurm_cluster_fixture()

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
# Jobs of the demo last seconds: check their states every 2 s, from 2 s after submission.
FAST_STATUS = [
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
]
TIMEOUT_S = 600


def snakemake(workdir: Path, *args: str) -> str:
    """Run Snakemake in WORKDIR; on timeout stop it with SIGINT (it may ignore SIGTERM)."""
    # The rules (and SLURM jobs, which inherit this environment) call the `visionscores`
    # command of the environment running the tests.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    process = subprocess.Popen(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # SIGINT lets Snakemake cancel its SLURM jobs before it exits.
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        pytest.fail(f"snakemake did not finish within {TIMEOUT_S} s:\n{output[-5000:]}")
    assert process.returncode == 0, output[-10000:]
    return output


def dataset_files(workdir: Path) -> dict[str, bytes]:
    root = workdir / "results/dataset"
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def slurm_plugin():
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        message = "snakemake-executor-plugin-slurm is missing: pip install -e '.[slurm]'"
        if in_ci():
            pytest.fail(message)  # CI installs it: never a silent skip there
        pytest.skip(message)


def test_slurm_run_equals_local_run(slurm_plugin, slurm_cluster, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    cluster.mkdir()

    began = time.monotonic()
    output = snakemake(
        cluster,
        "--workflow-profile",
        str(REPO / "profiles/slurm"),
        "--slurm-no-account",  # the test cluster has no accounts (and no accounting)
        *FAST_STATUS,
    )
    assert "has been submitted with SLURM jobid" in output, output[-5000:]
    cluster_s = time.monotonic() - began
    snakemake(local, "--cores", "2")
    print(f"SLURM run {cluster_s:.0f} s, local run {time.monotonic() - began - cluster_s:.0f} s")

    expected, got = dataset_files(local), dataset_files(cluster)
    assert any(name.endswith(".jpg") for name in expected)
    assert {"demo/metadata.parquet", "demo/metadata.csv", "demo/rejected.parquet"} <= set(got)
    assert sorted(got) == sorted(expected)
    differing = [name for name in expected if got[name] != expected[name]]
    assert not differing, f"files that differ between the SLURM and the local run: {differing}"

    # A threshold changed: only judge, format and what follows rerun, on the cluster as
    # locally (a rerun of judge and format alone must be schedulable in the profile's groups).
    override = tmp_path / "threshold.yaml"
    override.write_text("judge:\n  min_line_fill: 0.75\n", encoding="utf-8")
    rerun = snakemake(
        cluster,
        "--workflow-profile",
        str(REPO / "profiles/slurm"),
        "--slurm-no-account",
        *FAST_STATUS,
        "--configfile",
        str(override),
    )
    assert "rule segment:" not in rerun and "rule judge:" in rerun, rerun[-5000:]
    snakemake(local, "--cores", "2", "--configfile", str(override))
    expected, got = dataset_files(local), dataset_files(cluster)
    assert sorted(got) == sorted(expected)
    differing = [name for name in expected if got[name] != expected[name]]
    assert not differing, f"after the threshold change, files that differ: {differing}"
