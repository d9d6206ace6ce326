"""How long a scenario takes when its download host cannot be reached.

Writes a manifest of ``--pieces`` rows fetched from IMSLP by file index, points
``imslp.base_url`` at a host that cannot be reached (a name under ``.invalid``, which never
resolves, or a loopback port nothing listens on), and runs real Snakemake on it: the acquire
jobs of every piece (their records as targets), and with ``--whole`` the whole workflow. It
reports the wall time, the CPU time of Snakemake and its jobs together (what an idle machine
would spend, whatever else runs on this one), how many pieces failed with cause
``host-unreachable`` (read from the acquire records, and from ``failures.csv`` after the
whole workflow), how many segment jobs ran (none: a failed piece has no later stage), and how
often the console gave the unreachable-host notice.

    python benchmarks/unreachable.py --pieces 200 --cores 2 [--whole] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEADER = [
    "piece_id", "scenario", "title", "composer", "key", "imslp_page", "imslp_file_index",
    "source", "sha256",
]  # fmt: skip


def write_manifest(path: Path, pieces: int) -> None:
    """``pieces`` rows, each fetched by IMSLP file index."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for number in range(pieces):
            index = str(10_000 + number)
            page = f"https://imslp.org/wiki/Work_{number}_(Composer,_A)"
            writer.writerow(
                [f"piece-{number:05d}", "offline", f"Work {number}", "Composer, A", "", page,
                 index, "", ""]
            )  # fmt: skip


def closed_port_url() -> str:
    """A loopback URL whose port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def children_cpu_s() -> float:
    """CPU seconds (user and system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    workdir: Path, base_url: str, host: str, cores: int, whole: bool
) -> tuple[float, float, int, int, int, int]:
    """Run the scenario (its acquire jobs, or the whole workflow); (wall seconds, CPU
    seconds, pieces, pieces failed host-unreachable, segment jobs, notices on the console)."""
    (workdir / "offline.yaml").write_text(
        "scenario: offline\n"
        f"scenarios: {{offline: {workdir / 'offline.csv'}}}\n"
        f"imslp: {{base_url: '{base_url}'}}\n"
        f"acquire: {{allowed_hosts: ['{host}']}}\n",
        encoding="utf-8",
    )
    with open(workdir / "offline.csv", encoding="utf-8") as handle:
        piece_ids = [row["piece_id"] for row in csv.DictReader(handle)]
    targets = [] if whole else [f"resources/pdf/{piece_id}.json" for piece_id in piece_ids]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), *targets, "--cores", str(cores),
        "--configfile", str(workdir / "offline.yaml"),
    ]  # fmt: skip
    started, cpu_before = time.perf_counter(), children_cpu_s()
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds, cpu_seconds = time.perf_counter() - started, children_cpu_s() - cpu_before
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise SystemExit(output[-4000:])
    if whole:
        with open(workdir / "results/dataset/offline/failures.csv", encoding="utf-8") as handle:
            causes = [row["cause"] for row in csv.DictReader(handle)]
    else:
        causes = [
            json.loads((workdir / target).read_text()).get("failure", {}).get("cause")
            for target in targets
        ]
    unreachable = causes.count("host-unreachable")
    segment_jobs = len(list((workdir / "results/benchmarks/segment").glob("*.tsv")))
    notices = output.count("Check the network connection")
    return seconds, cpu_seconds, len(piece_ids), unreachable, segment_jobs, notices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=200)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--whole", action="store_true", help="also run the whole workflow")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    cases = [
        ("name does not resolve", "http://imslp.invalid", "imslp.invalid"),
        ("port refuses connections", closed_port_url(), "127.0.0.1"),
    ]
    load_at_start = os.getloadavg()[0]
    rows = []
    for whole in (False, True) if args.whole else (False,):
        what = "whole workflow (failures.csv)" if whole else "acquire jobs (records)"
        for label, base_url, host in cases:
            workdir = Path(tempfile.mkdtemp(prefix="vs-unreachable-"))
            try:
                write_manifest(workdir / "offline.csv", args.pieces)
                rows.append((label, what, *run(workdir, base_url, host, args.cores, whole)))
            finally:
                shutil.rmtree(workdir)
    lines = [
        "# Unreachable download host",
        "",
        f"A scenario of {args.pieces} pieces fetched by IMSLP file index, real Snakemake "
        f"(`--cores {args.cores}`), `imslp.base_url` on a host that cannot be reached; default "
        "config otherwise (3 failed connections in a row mark a host unreachable).",
        "",
        "| host | run | wall (s) | CPU (s) | pieces | failed host-unreachable | segment jobs "
        "| console notices |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {label} | {what} | {seconds:.1f} | {cpu:.1f} | {pieces} | {unreachable} "
        f"| {segments} | {notices} |"
        for label, what, seconds, cpu, pieces, unreachable, segments, notices in rows
    ]
    # Other work on the machine slows every job: say how busy it was.
    lines += [
        "",
        f"Load average (1 min) at the start: {load_at_start:.1f}, at the end: "
        f"{os.getloadavg()[0]:.1f}, on {os.cpu_count()} CPUs.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
