"""How fast Snakemake plans a large scenario: a dry run over a generated manifest.

Writes a manifest of ``--pieces`` rows (copies of the demo pieces under new ids) and times
``snakemake --dry-run`` on it, then prints the number of jobs planned and the seconds. Before
anything is acquired, only the acquire jobs and the scenario's jobs are planned: which
pieces get segment, judge and format jobs is known after the ``acquired`` checkpoint. With
``--acquire``, it then acquires every piece (the checkpoint included) and times the dry run
that plans every later job, which is what the checkpoint's re-planning costs in a run. With
``--run``, it then builds the whole scenario and times what a user meets next: a run with
nothing left to do, and a dry run over the finished outputs.

    python benchmarks/dag_scale.py --pieces 1000 [--acquire] [--run --cores 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_manifest(path: Path, pieces: int) -> None:
    with open(REPO / "config/pieces/demo.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for index in range(pieces):
            row = dict(rows[index % len(rows)])
            row.update(piece_id=f"{row['piece_id']}-{index:05d}", scenario="scale")
            writer.writerow(row)


def children_cpu_s() -> float:
    """CPU seconds (user and system) of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snakemake(workdir: Path, *args: str) -> tuple[float, float, str]:
    """Run Snakemake on the scenario in ``workdir``; (wall seconds, CPU seconds of it and its
    jobs, its output)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "scale.yaml"), *args,
    ]  # fmt: skip
    start, cpu_before = time.perf_counter(), children_cpu_s()
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, cwd=workdir
    )
    seconds, cpu_seconds = time.perf_counter() - start, children_cpu_s() - cpu_before
    if completed.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return seconds, cpu_seconds, completed.stdout + completed.stderr


def planned_jobs(output: str) -> str:
    total = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return total[1] if total else "0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=1000)
    parser.add_argument(
        "--acquire", action="store_true", help="also acquire every piece, then time a dry run"
    )
    parser.add_argument("--run", action="store_true", help="also build it, then time reruns")
    parser.add_argument("--cores", type=int, default=2, help="cores of the build (--run)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="vs-dag-"))
    write_manifest(workdir / "scale.csv", args.pieces)
    (workdir / "scale.yaml").write_text(
        f"scenario: scale\nscenarios:\n  scale: {workdir / 'scale.csv'}\n", encoding="utf-8"
    )
    load_at_start = os.getloadavg()[0]
    rows = []
    seconds, cpu, output = snakemake(workdir, "--dry-run")
    rows.append(("dry run, nothing built", planned_jobs(output), seconds, cpu))
    seconds, cpu, output = snakemake(workdir, "--dry-run", "--quiet")
    rows.append(("dry run, nothing built, --quiet", "", seconds, cpu))
    if args.acquire or args.run:
        acquired = "results/acquired/scale.json"
        seconds, cpu, output = snakemake(workdir, "--cores", str(args.cores), acquired, "--quiet")
        rows.append((f"acquire every piece, --cores {args.cores}", "", seconds, cpu))
        seconds, cpu, output = snakemake(workdir, "--dry-run")
        rows.append(("dry run, every piece acquired", planned_jobs(output), seconds, cpu))
    if args.run:
        seconds, cpu, output = snakemake(workdir, "--cores", str(args.cores), "--quiet")
        rows.append((f"build, --cores {args.cores}", "", seconds, cpu))
        seconds, cpu, output = snakemake(workdir, "--cores", str(args.cores))
        rows.append(("run with nothing to do", "", seconds, cpu))
        seconds, cpu, output = snakemake(workdir, "--dry-run")
        rows.append(("dry run, all built", planned_jobs(output), seconds, cpu))
    lines = [
        "# DAG scale",
        "",
        f"{args.pieces} pieces (copies of the demo scores)",
        "",
        "| what | jobs planned | wall (s) | CPU (s) |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {what} | {jobs} | {seconds:.1f} | {cpu:.1f} |" for what, jobs, seconds, cpu in rows
    ]
    # Other work on the machine slows every step: say how busy it was.
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
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
