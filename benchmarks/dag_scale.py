"""How fast Snakemake plans a large scenario: a dry run over a generated manifest.

Writes a manifest of ``--pieces`` rows (copies of the demo pieces under new ids) and times
``snakemake --dry-run`` on it, then prints the number of jobs planned and the seconds.

    python benchmarks/dag_scale.py --pieces 1000
"""

from __future__ import annotations

import argparse
import csv
import os
import re
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=1000)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="vs-dag-"))
    write_manifest(workdir / "scale.csv", args.pieces)
    (workdir / "scale.yaml").write_text(
        f"scenario: scale\nscenarios:\n  scale: {workdir / 'scale.csv'}\n", encoding="utf-8"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "scale.yaml"), "--dry-run",
    ]  # fmt: skip
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    total = re.search(r"^total\s+(\d+)", completed.stdout, re.MULTILINE)
    print("| pieces | jobs planned | dry run (s) |\n|---:|---:|---:|")
    print(f"| {args.pieces} | {total[1] if total else '?'} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
