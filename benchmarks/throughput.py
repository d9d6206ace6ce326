"""Throughput of the workflow per stage and end to end, against the bare PyMuPDF render.

Builds score files of ``--pages-per-piece`` pages (IMSLP's files have about 11) by cycling
through the pages of each demo score (engraved vector PDFs and image-only scans), makes
``--copies`` of each, and runs the real workflow with each ``--cores`` value in a fresh
folder. The files are placed where acquire finds a file already fetched, with their
checksums in the manifest, so nothing is downloaded. Snakemake's own per-job benchmark
files give every stage's wall time (including the job's start) and peak memory. The floor
is PyMuPDF alone turning the same pages into gray pixels: rendering vector pages at the
workflow's dpi, and pulling the embedded image out of scanned pages. A second table times
the steps of the segment stage in one process, page by page.

    python benchmarks/throughput.py --copies 2 --pages-per-piece 11 --cores 1 2

Prints a Markdown table; ``--out`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymupdf

REPO = Path(__file__).resolve().parent.parent
PER_PIECE_STAGES = ("acquire", "segment", "judge", "format")
SCENARIO_STAGES = ("publish",)
STAGES = PER_PIECE_STAGES + SCENARIO_STAGES
DPI = 300


def demo_pieces() -> dict[str, str]:
    """Demo piece id → kind ("engraved" or "scanned"), from the demo's ground truth."""
    truth = json.loads((REPO / "demo/ground_truth.json").read_text())["pieces"]
    return {
        piece: "engraved" if info["kind"] == "vector" else "scanned"
        for piece, info in truth.items()
    }


def cycled_pdf(source: Path, pages: int) -> bytes:
    """A PDF of ``pages`` pages: the pages of ``source`` over and over."""
    with pymupdf.open(source) as original, pymupdf.open() as document:
        while document.page_count < pages:
            last = min(original.page_count, pages - document.page_count) - 1
            document.insert_pdf(original, from_page=0, to_page=last)
        return document.tobytes(garbage=3, deflate=True)


def write_inputs(workdir: Path, copies: int, pages_per_piece: int) -> dict[str, str]:
    """The manifest (``throughput.csv``) and the score files, already in place as if
    fetched; returns piece id → kind."""
    with open(REPO / "config/pieces/demo.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    kinds = demo_pieces()
    pdf_dir = workdir / "resources/pdf"
    pdf_dir.mkdir(parents=True)
    piece_kinds = {}
    with open(workdir / "throughput.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            data = cycled_pdf(REPO / row["source"], pages_per_piece)
            for copy in range(copies):
                piece_id = f"{row['piece_id']}-c{copy}"
                (pdf_dir / f"{piece_id}.pdf").write_bytes(data)
                writer.writerow(
                    {
                        **row,
                        "piece_id": piece_id,
                        "scenario": "throughput",
                        "imslp_file_index": str(900000 + len(piece_kinds)),
                        "source": "",
                        "sha256": hashlib.sha256(data).hexdigest(),
                    }
                )
                piece_kinds[piece_id] = kinds[row["piece_id"]]
    return piece_kinds


@contextmanager
def timed(totals: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall seconds of the ``with`` block to ``totals[name]``.

    MuPDF's store is emptied first: it keeps decoded images, and a page whose scan was
    decoded by an earlier step would otherwise be timed without its decoding.
    """
    pymupdf.TOOLS.store_shrink(100)
    start = time.perf_counter()
    yield
    totals[name] += time.perf_counter() - start


def bare_page(document: pymupdf.Document, page: pymupdf.Page, kind: str) -> None:
    """What PyMuPDF alone does to turn one page into gray pixels (the floor)."""
    images = page.get_images()
    if kind == "scanned" and len(images) == 1:
        pixmap = pymupdf.Pixmap(document, images[0][0])
        if pixmap.n != 1:
            pixmap = pymupdf.Pixmap(pymupdf.csGRAY, pixmap)
    else:
        pixmap = page.get_pixmap(dpi=DPI, colorspace=pymupdf.csGRAY)
    _ = pixmap.samples


def composed_scan_page(page: pymupdf.Page) -> None:
    """A scanned page rendered the way a vector page is, at the scan's own dpi."""
    scan_width_px = page.get_images(full=True)[0][2]  # declared; nothing is decoded
    dpi = scan_width_px / (page.rect.width / 72.0)
    _ = page.get_pixmap(dpi=round(dpi), colorspace=pymupdf.csGRAY).samples


def bare_render_seconds() -> dict[str, tuple[int, float]]:
    """Pages and seconds PyMuPDF alone needs per kind (one pass over the demo PDFs).

    Besides the floor of each kind, "scanned, rendered" is the scans rendered page by page
    at their own dpi: the bare render of a pipeline that does not pull the scan out.
    """
    seconds: dict[str, float] = defaultdict(float)
    pages: dict[str, int] = defaultdict(int)
    for piece, kind in demo_pieces().items():
        with pymupdf.open(REPO / f"demo/pdf/{piece}.pdf") as document:
            for page in document:
                with timed(seconds, kind):
                    bare_page(document, page, kind)
                pages[kind] += 1
                if kind == "scanned":
                    with timed(seconds, "scanned, rendered"):
                        composed_scan_page(page)
                    pages["scanned, rendered"] += 1
    return {kind: (pages[kind], seconds[kind]) for kind in pages}


def in_process_steps() -> dict[str, dict[str, float]]:
    """Milliseconds per page of each step of the segment stage, by kind, in one process."""
    from visionscores.format import images
    from visionscores.segment import page as segment
    from visionscores.segment import render

    config = _config()
    steps: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    pages: dict[str, int] = defaultdict(int)
    for piece, kind in demo_pieces().items():
        with render.open_pdf(REPO / f"demo/pdf/{piece}.pdf") as document:
            for number in range(1, document.page_count + 1):
                with timed(steps[kind], "bare render"):
                    bare_page(document, document[number - 1], kind)
                with timed(steps[kind], "render"):
                    image, info = render.render_page(document, number, DPI, 10**9)
                with timed(steps[kind], "clean + segment"):
                    page, _, _ = segment.clean_and_segment(
                        image, config["clean"], config["segment"], info.vector_only
                    )
                with timed(steps[kind], "page JPEG"):
                    images.encode_jpeg(page, config["clean"]["page_jpeg_quality"])
                pages[kind] += 1
    return {
        kind: {step: 1000 * seconds / pages[kind] for step, seconds in kind_steps.items()}
        for kind, kind_steps in steps.items()
    }


def _config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))


def run_workflow(workdir: Path, cores: int, pieces: list[str]) -> tuple[float, float]:
    """Run the workflow in ``workdir`` in two parts; their wall times in seconds.

    First every per-piece job (each piece's formatted table as the target: acquire, segment,
    judge, format), which spreads over the cores, then the rest (the acquired checkpoint,
    publish, export, report: one job each, over the whole scenario).
    """
    config = workdir / "throughput.yaml"
    config.write_text(
        f"scenario: throughput\nscenarios:\n  throughput: {workdir / 'throughput.csv'}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    program = [sys.executable, "-m", "snakemake"]
    # The targets go before --quiet, which would take them as its own values.
    options = [
        "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--cores", str(cores), "--configfile", str(config), "--quiet", "all",
    ]  # fmt: skip
    per_piece = [f"results/formatted/{piece}.parquet" for piece in pieces]
    walls = []
    for targets in (per_piece, []):
        start = time.perf_counter()
        subprocess.run([*program, *targets, *options], check=True, env=env, capture_output=True)
        walls.append(time.perf_counter() - start)
    return walls[0], walls[1]


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
    parser.add_argument("--copies", type=int, default=2, help="copies of each demo piece")
    parser.add_argument(
        "--pages-per-piece", type=int, default=11, help="pages of each score file (IMSLP: ~11)"
    )
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, help="also write the table here")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args(argv)

    floor = bare_render_seconds()
    bare_ms = {kind: 1000 * seconds / pages for kind, (pages, seconds) in floor.items()}
    steps = in_process_steps()
    lines = ["# Throughput", ""]
    lines.append(
        f"{args.copies} copies of each of the {len(demo_pieces())} demo scores, each made"
        f" {args.pages_per_piece} pages long; bare PyMuPDF per page: "
        + ", ".join(f"{kind} {ms:.0f} ms" for kind, ms in sorted(bare_ms.items()))
    )
    lines += [
        "",
        "## The segment stage's steps, in one process (ms per page)",
        "",
        "| kind | bare render | render | clean + segment | page JPEG | sum | x bare |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, kind_steps in sorted(steps.items()):
        work = sum(v for k, v in kind_steps.items() if k != "bare render")
        cells = " | ".join(
            f"{kind_steps[k]:.0f}"
            for k in ("bare render", "render", "clean + segment", "page JPEG")
        )
        lines.append(f"| {kind} | {cells} | {work:.0f} | {work / kind_steps['bare render']:.1f} |")

    first_costs = None
    end_to_end = []
    for cores in args.cores:
        workdir = Path(tempfile.mkdtemp(prefix=f"vs-throughput-{cores}-"))
        piece_kinds = write_inputs(workdir, args.copies, args.pages_per_piece)
        per_piece_wall, rest_wall = run_workflow(workdir, cores, sorted(piece_kinds))
        pages = pages_per_kind(workdir, piece_kinds)
        total_pages = sum(pages.values())
        bare = sum(bare_ms[kind] / 1000 * count for kind, count in pages.items())
        end_to_end.append((cores, total_pages, per_piece_wall, rest_wall, bare))
        if first_costs is None:
            first_costs = (stage_costs(workdir, piece_kinds), pages)
        if not args.keep:
            shutil.rmtree(workdir)

    costs, pages = first_costs
    lines += [
        "",
        f"## Per stage (run with --cores {args.cores[0]}; a job's wall time includes its start)",
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
        total = sum(
            entry["seconds"]
            for (stage, entry_kind), entry in costs.items()
            if entry_kind == kind and stage in PER_PIECE_STAGES
        )
        per_page_ms = 1000 * total / pages[kind]
        ratios = f"{per_page_ms / bare_ms[kind]:.1f}x bare {bare_ms[kind]:.0f}"
        if kind == "scanned":
            rendered = bare_ms["scanned, rendered"]
            ratios += f"; {per_page_ms / rendered:.1f}x rendered {rendered:.0f}"
        lines.append(f"| **per-piece stages** | {kind} | | {per_page_ms:.0f} ({ratios}) | |")
    lines += [
        "",
        "## End to end (wall time; each part pays Snakemake's own start, ~1.5 s)",
        "",
        "| cores | pages | per-piece jobs (s) | publish, export, report (s) | pages/s |"
        " x bare render (same cores) | per-piece jobs x bare |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for cores, total_pages, per_piece_wall, rest_wall, bare in end_to_end:
        wall = per_piece_wall + rest_wall
        lines.append(
            f"| {cores} | {total_pages} | {per_piece_wall:.1f} | {rest_wall:.1f} |"
            f" {total_pages / wall:.2f} | {wall / (bare / cores):.1f} |"
            f" {per_piece_wall / (bare / cores):.1f} |"
        )
    if len(end_to_end) > 1:
        first, last = end_to_end[0], end_to_end[-1]
        lines += [
            "",
            f"Per-piece jobs, {first[0]} -> {last[0]} cores: {first[2] / last[2]:.2f}x faster"
            f" (whole run {(first[2] + first[3]) / (last[2] + last[3]):.2f}x).",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
