"""Throughput of the workflow per stage and end to end, against the bare PyMuPDF render.

Builds a manifest of ``--copies`` copies of each demo score (engraved vector PDFs and
image-only scans), runs the real workflow with each ``--cores`` value in a fresh folder, and
reads Snakemake's own per-job benchmark files (wall seconds, peak resident memory) for every
stage. The floor is PyMuPDF alone turning the same pages into gray pixels: rendering vector
pages at the workflow's dpi, and pulling the embedded image out of scanned pages.

    python benchmarks/throughput.py --copies 4 --cores 1 2

Prints a Markdown table; ``--out`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pymupdf

REPO = Path(__file__).resolve().parent.parent
STAGES = ("acquire", "segment", "judge", "format", "publish")
DPI = 300


def demo_pieces() -> dict[str, str]:
    """Demo piece id → kind ("engraved" or "scanned"), from the demo's ground truth."""
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    return {
        piece: "engraved" if info["kind"] == "vector" else "scanned"
        for piece, info in truth.items()
    }


def write_manifest(path: Path, copies: int) -> dict[str, str]:
    """A manifest of ``copies`` copies of each demo piece; returns piece id → kind."""
    with open(REPO / "config/pieces/demo.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    kinds = demo_pieces()
    piece_kinds = {}
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for copy in range(copies):
            for row in rows:
                piece_id = f"{row['piece_id']}-c{copy}"
                writer.writerow({**row, "piece_id": piece_id, "scenario": "throughput"})
                piece_kinds[piece_id] = kinds[row["piece_id"]]
    return piece_kinds


def bare_render_seconds() -> dict[str, tuple[int, float]]:
    """Pages and seconds PyMuPDF alone needs per kind (one pass over the demo PDFs)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for piece, kind in demo_pieces().items():
        with pymupdf.open(REPO / f"demo/pdf/{piece}.pdf") as document:
            for page in document:
                start = time.perf_counter()
                images = page.get_images()
                if kind == "scanned" and len(images) == 1:
                    pixmap = pymupdf.Pixmap(document, images[0][0])
                    if pixmap.n != 1:
                        pixmap = pymupdf.Pixmap(pymupdf.csGRAY, pixmap)
                else:
                    pixmap = page.get_pixmap(dpi=DPI, colorspace=pymupdf.csGRAY)
                _ = pixmap.samples
                totals[kind][1] += time.perf_counter() - start
                totals[kind][0] += 1
    return {kind: (int(pages), seconds) for kind, (pages, seconds) in totals.items()}


def run_workflow(workdir: Path, manifest: Path, cores: int) -> float:
    """Run the workflow in ``workdir``; return its wall time in seconds."""
    config = workdir / "throughput.yaml"
    config.write_text(
        f"scenario: throughput\nscenarios:\n  throughput: {manifest}\n", encoding="utf-8"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--cores", str(cores), "--configfile", str(config),
        "--quiet", "all",
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def stage_costs(workdir: Path, piece_kinds: dict[str, str]) -> dict[tuple[str, str], dict]:
    """Per (stage, kind): jobs, summed wall seconds and peak memory (MB) of the jobs."""
    costs: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"jobs": 0, "seconds": 0.0, "max_rss_mb": 0.0}
    )
    for stage in STAGES:
        for path in sorted((workdir / "results/benchmarks" / stage).glob("*.tsv")):
            kind = piece_kinds.get(path.stem, "all")
            with open(path, encoding="utf-8") as handle:
                row = next(csv.DictReader(handle, delimiter="\t"))
            entry = costs[(stage, kind)]
            entry["jobs"] += 1
            entry["seconds"] += float(row["s"])
            rss = row.get("max_rss", "NA")
            if rss not in ("NA", "-", ""):
                entry["max_rss_mb"] = max(entry["max_rss_mb"], float(rss))
    return costs


def pages_per_kind(workdir: Path, piece_kinds: dict[str, str]) -> dict[str, int]:
    pages: dict[str, int] = defaultdict(int)
    for piece, kind in piece_kinds.items():
        listing = json.loads((workdir / f"results/pages/{piece}/pages.json").read_text())
        pages[kind] += len(listing["pages"])
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of each demo piece")
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args(argv)

    floor = bare_render_seconds()
    lines = ["# Throughput", ""]
    lines.append(
        f"{args.copies} copies of the {len(demo_pieces())} demo pieces; bare PyMuPDF per page: "
        + ", ".join(f"{kind} {1000 * s / p:.0f} ms" for kind, (p, s) in sorted(floor.items()))
    )
    lines.append("")
    first_costs = None
    end_to_end = []
    for cores in args.cores:
        workdir = Path(tempfile.mkdtemp(prefix=f"vs-throughput-{cores}-"))
        manifest = workdir / "throughput.csv"
        piece_kinds = write_manifest(manifest, args.copies)
        wall = run_workflow(workdir, manifest, cores)
        pages = pages_per_kind(workdir, piece_kinds)
        total_pages = sum(pages.values())
        bare = sum(floor[kind][1] / floor[kind][0] * count for kind, count in pages.items())
        end_to_end.append((cores, total_pages, wall, bare))
        if first_costs is None:
            first_costs = (stage_costs(workdir, piece_kinds), pages)
        if not args.keep:
            shutil.rmtree(workdir)

    costs, pages = first_costs
    lines += [
        f"## Per stage (run with --cores {args.cores[0]}; job wall time includes start-up)",
        "",
        "| stage | kind | jobs | ms per page | peak memory per job (MB) |",
        "|---|---|---:|---:|---:|",
    ]
    for stage in STAGES:
        for kind in ("engraved", "scanned", "all"):
            if (stage, kind) not in costs:
                continue
            entry = costs[(stage, kind)]
            page_count = pages[kind] if kind in pages else sum(pages.values())
            lines.append(
                f"| {stage} | {kind} | {entry['jobs']} | "
                f"{1000 * entry['seconds'] / page_count:.0f} | {entry['max_rss_mb']:.0f} |"
            )
    for kind in sorted(pages):
        total = sum(e["seconds"] for (s, k), e in costs.items() if k == kind)
        bare = floor[kind][1] / floor[kind][0]
        lines.append(
            f"| **all stages** | {kind} | | {1000 * total / pages[kind]:.0f} "
            f"({total / pages[kind] / bare:.1f}x bare {1000 * bare:.0f}) | |"
        )
    lines += [
        "",
        "## End to end",
        "",
        "| cores | pages | wall (s) | pages/s | x bare render (same cores) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for cores, total_pages, wall, bare in end_to_end:
        lines.append(
            f"| {cores} | {total_pages} | {wall:.1f} | {total_pages / wall:.2f} | "
            f"{wall / (bare / cores):.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
