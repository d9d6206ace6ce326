"""A single-node SLURM (munge, slurmctld, slurmd) brought up from nothing on Debian, as root.

Usable as a pytest fixture (``slurm_cluster``, session scope) and from the command line:

    python -m visionscores_tools.slurm_cluster up     # install if missing, configure, start
    python -m visionscores_tools.slurm_cluster down   # stop the daemons that `up` started, by PID

Only daemons started here are stopped again (their PIDs are kept in STATE_FILE); a controller
that was already running is used as it is and left alone. The configuration has no accounting
(no slurmdbd): Snakemake's SLURM executor must query job states with squeue.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ["munge", "slurmctld", "slurmd", "slurm-client"]
# The programs each package provides, to tell what is missing without asking dpkg.
PROGRAMS = {
    "munge": "/usr/sbin/munged",
    "slurmctld": "/usr/sbin/slurmctld",
    "slurmd": "/usr/sbin/slurmd",
    "slurm-client": "/usr/bin/sinfo",
}
SLURM_CONF = Path("/etc/slurm/slurm.conf")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_PID = Path("/run/munge/munged.pid")
SLURMCTLD_PID = Path("/run/slurmctld.pid")
SLURMD_PID = Path("/run/slurmd.pid")
STATE_FILE = Path("/run/visionscores-slurm.json")
CONF_MARKER = "# Written by visionscores_tools.slurm_cluster"
NODE = "localhost"  # slurmd is started with -N localhost: the host's own name does not matter
PARTITION = "debug"
START_TIMEOUT_S = 60.0


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the cluster (not root, not Debian, no apt-get...)."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _run(*cmd: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {completed.returncode}:\n{completed.stdout}{completed.stderr}"
        )
    return completed


def unavailable_reason() -> str | None:
    """Why this machine cannot host the cluster, or None when it can."""
    if sys.platform != "linux" or not Path("/etc/debian_version").is_file():
        return "the SLURM test cluster needs Debian (no /etc/debian_version)"
    if os.geteuid() != 0:
        return "the SLURM test cluster needs root (it installs packages and starts daemons)"
    if shutil.which("apt-get") is None and missing_packages():
        return "the SLURM test cluster needs apt-get to install " + ", ".join(missing_packages())
    return None


def missing_packages() -> list[str]:
    return [name for name in PACKAGES if not Path(PROGRAMS[name]).exists()]


def install_packages() -> None:
    """apt-get install what is missing; refresh the package lists once if that fails."""
    missing = missing_packages()
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    if subprocess.run(command, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if completed.returncode != 0:
            raise RuntimeError(f"apt-get install {' '.join(missing)} failed:\n{completed.stderr}")
    if Path("/run/systemd/system").is_dir():
        # With systemd as PID 1 the packages start the daemons with their own (empty) setup;
        # stop them so that they are started below with this configuration.
        subprocess.run(["systemctl", "stop", "slurmd", "slurmctld"], capture_output=True)


def real_memory_mb() -> int:
    """About 80 % of MemTotal, in MB: what slurmd may hand out to jobs."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) * 0.8 / 1024)
    raise RuntimeError("/proc/meminfo has no MemTotal")


def slurm_conf() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"""{CONF_MARKER}: a single node, no accounting.
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile={SLURMCTLD_PID}
SlurmdPidFile={SLURMD_PID}
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
DefMemPerCPU=500
NodeName={NODE} CPUs={cpus} RealMemory={real_memory_mb()} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


def write_config() -> None:
    """Write slurm.conf, unless one that this module did not write is already there."""
    if SLURM_CONF.exists() and CONF_MARKER not in SLURM_CONF.read_text():
        raise ClusterUnavailable(
            f"{SLURM_CONF} exists and was not written by this helper; "
            "start that cluster's controller instead of replacing its configuration"
        )
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(slurm_conf())
    if not MUNGE_KEY.exists() or MUNGE_KEY.stat().st_size == 0:
        _run("mungekey", "--create", "--keyfile", str(MUNGE_KEY))
    shutil.chown(MUNGE_KEY, "munge", "munge")
    MUNGE_KEY.chmod(0o600)
    _run("install", "-d", "-o", "munge", "-g", "munge", "/run/munge")
    _run("install", "-d", "-o", "slurm", "-g", "slurm", "/var/spool/slurmctld", "/var/log/slurm")
    _run("install", "-d", "/var/spool/slurmd")


def _pid_alive(pid: int, program: str) -> bool:
    """Whether PID runs PROGRAM (a PID recycled by another program does not count)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return os.path.basename(cmdline.split(b"\0", 1)[0]).decode(errors="replace") == program


def _read_pid(path: Path, program: str) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _pid_alive(pid, program) else None


def _wait(condition, what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


def controller_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    return _run("scontrol", "ping", check=False, timeout=20).returncode == 0


def node_state() -> str:
    completed = _run("sinfo", "-h", "-n", NODE, "-o", "%t", check=False, timeout=20)
    return completed.stdout.strip()


def _log_tail(path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


@dataclass
class Cluster:
    """A running cluster; ``started`` maps the daemons started here to their PIDs."""

    partition: str = PARTITION
    started: dict[str, int] = field(default_factory=dict)
    seconds_to_start: float = 0.0

    def stop(self) -> None:
        stop(self.started)


def start() -> Cluster:
    """Bring the cluster up (installing it when needed) and wait until its node is idle."""
    reason = unavailable_reason()
    if reason:
        raise ClusterUnavailable(reason)
    began = time.monotonic()
    install_packages()
    if controller_up():
        # Someone else's controller (or one left by `up`): use it, stop nothing.
        _wait(lambda: node_state() in {"idle", "mix", "alloc"}, "an available node")
        return Cluster(started={}, seconds_to_start=time.monotonic() - began)
    write_config()
    started: dict[str, int] = {}
    try:
        munged = _read_pid(MUNGE_PID, "munged")
        if munged is None:
            MUNGE_PID.unlink(missing_ok=True)
            _run("runuser", "-u", "munge", "--", "/usr/sbin/munged")
            _wait(lambda: _read_pid(MUNGE_PID, "munged") is not None, "munged")
            started["munged"] = _read_pid(MUNGE_PID, "munged")
        for pid_file in (SLURMCTLD_PID, SLURMD_PID):
            pid_file.unlink(missing_ok=True)  # stale: no controller answered above
        _run("/usr/sbin/slurmctld")
        _wait(controller_up, "slurmctld to answer (log: /var/log/slurm/slurmctld.log)")
        started["slurmctld"] = _read_pid(SLURMCTLD_PID, "slurmctld")
        _run("/usr/sbin/slurmd", "-N", NODE)
        _wait(lambda: _read_pid(SLURMD_PID, "slurmd") is not None, "slurmd")
        started["slurmd"] = _read_pid(SLURMD_PID, "slurmd")
        if node_state() not in {"idle", "mix", "alloc"}:
            # A node left down or drained by an earlier run comes back when told to.
            _run("scontrol", "update", f"nodename={NODE}", "state=resume", check=False)
        _wait(lambda: node_state() == "idle", f"node {NODE} to become idle")
    except Exception as error:
        stop(started)
        raise RuntimeError(
            f"{error}\n--- slurmctld.log\n{_log_tail('/var/log/slurm/slurmctld.log')}"
            f"\n--- slurmd.log\n{_log_tail('/var/log/slurm/slurmd.log')}"
        ) from error
    STATE_FILE.write_text(json.dumps(started))
    return Cluster(started=started, seconds_to_start=time.monotonic() - began)


def stop(started: dict[str, int] | None = None) -> None:
    """Stop the daemons in STARTED (default: those recorded by `up`), slurmd first."""
    if started is None:
        try:
            started = json.loads(STATE_FILE.read_text())
        except (OSError, ValueError):
            started = {}
    pid_files = {"slurmd": SLURMD_PID, "slurmctld": SLURMCTLD_PID, "munged": MUNGE_PID}
    for program in ("slurmd", "slurmctld", "munged"):
        pid = started.get(program)
        if pid and _pid_alive(pid, program):
            os.kill(pid, 15)
            deadline = time.monotonic() + 30
            while _pid_alive(pid, program) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid, program):
                os.kill(pid, 9)
        if program in started:
            pid_files[program].unlink(missing_ok=True)
    STATE_FILE.unlink(missing_ok=True)
    if (
        SLURM_CONF.is_file()
        and CONF_MARKER in SLURM_CONF.read_text()
        and _read_pid(SLURMCTLD_PID, "slurmctld") is None
    ):
        # With a slurm.conf but no controller, every SLURM command (and so every `snakemake`
        # start with the SLURM executor plugin installed) waits ~10 s for a connection.
        SLURM_CONF.unlink()


def _fixture():
    import pytest

    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    if missing_packages() and not in_ci():
        # Outside CI, a missing package that cannot be installed (no network) is a skip; in CI
        # it fails the run, so that a broken install never passes as a skipped test.
        try:
            install_packages()
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            pytest.skip(f"could not install SLURM: {error}")
    cluster = start()
    try:
        yield cluster
    finally:
        cluster.stop()


def slurm_cluster_fixture():
    """The pytest fixture: ``slurm_cluster = slurm_cluster_fixture()`` in a test module."""
    import pytest

    return pytest.fixture(scope="session", name="slurm_cluster")(_fixture)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"up", "down"}:
        print("usage: python -m visionscores_tools.slurm_cluster up|down", file=sys.stderr)
        return 2
    if argv[0] == "down":
        stop()
        return 0
    try:
        cluster = start()
    except ClusterUnavailable as error:
        print(f"cannot start SLURM: {error}", file=sys.stderr)
        return 1
    what = "started " + ", ".join(cluster.started) if cluster.started else "already running"
    print(
        f"SLURM on {socket.gethostname()}: {what}; node {NODE} idle, partition "
        f"{cluster.partition} ({cluster.seconds_to_start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
