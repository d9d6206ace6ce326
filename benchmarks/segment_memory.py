"""Peak memory of the segment stage on one page near ``render.max_pixels_per_page``.

Builds a one-page PDF whose page, rendered at ``render.dpi``, has ``--fill`` of the pixel
limit: the demo's Mozart page tiled on a large vector page (``--kind vector``), or that
tiling rasterized and embedded as one 8-bit gray scan (``--kind scan``, extracted at its
native resolution). Runs ``visionscores stage segment`` on it and samples, every 10 ms,
the proportional set size (PSS) summed over the stage's process and its renderer child:
what a cgroup (a SLURM job's memory limit) charges, shared pages counted once.

    python benchmarks/segment_memory.py --kind vector scan --max-pixels 150000000

Prints one Markdown row per kind: pixels, peak MB, MB per megapixel.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import zlib
from pathlib import Path

import psutil
import pymupdf
import yaml

REPO = Path(__file__).resolve().parent.parent
DEMO_PDF = REPO / "demo/pdf/mozart-k545-exposition.pdf"
SAMPLE_S = 0.01


def tiled_page_pdf(path: Path, dpi: float, pixels: float, scan: bool) -> int:
    """Write a one-page PDF of about ``pixels`` pixels at ``dpi``; return its pixel count."""
    source = pymupdf.open(DEMO_PDF)
    tile = source[0].rect
    columns = 3
    scale = (pixels / (dpi / 72.0) ** 2) ** 0.5  # side of a square of that area, points
    width = columns * tile.width
    height = scale * scale / width
    document = pymupdf.open()
    page = document.new_page(width=width, height=height)
    rows = int(height // tile.height) + 1
    for row in range(rows):
        for column in range(columns):
            where = (
                pymupdf.Rect(0, 0, tile.width, tile.height)
                + (
                    column * tile.width,
                    row * tile.height,
                )
                * 2
            )
            page.show_pdf_page(where, source, 0)
    if scan:
        pixmap = page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
        scan_document = pymupdf.open()
        scan_page = scan_document.new_page(width=width, height=height)
        placeholder = pymupdf.Pixmap(pymupdf.csGRAY, 2, 2, b"\xff" * 4, False)
        scan_page.insert_image(scan_page.rect, pixmap=placeholder, keep_proportion=False)
        xref = scan_page.get_images()[0][0]
        scan_document.update_object(xref, "<< /Type /XObject /Subtype /Image >>")
        scan_document.update_stream(xref, zlib.compress(pixmap.samples, 6), compress=0)
        for key, value in {
            "Width": str(pixmap.width),
            "Height": str(pixmap.height),
            "ColorSpace": "/DeviceGray",
            "BitsPerComponent": "8",
            "Filter": "/FlateDecode",
        }.items():
            scan_document.xref_set_key(xref, key, value)
        scan_document.save(path)
        return pixmap.width * pixmap.height
    document.save(path)
    return round(width * dpi / 72.0) * round(height * dpi / 72.0)


def tree_pss_mb(process: psutil.Process) -> float:
    """PSS of a process and its children, MB (0 for those already gone)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_full_info().pss
    return total / 2**20


def peak_of_segment(folder: Path, config: dict) -> tuple[float, float]:
    """Run the segment stage on ``folder/resources/pdf/page.pdf``: (peak MB, seconds)."""
    record = folder / "page.json"
    record.write_text(json.dumps({"status": "ok"}))
    command = [
        sys.executable, "-m", "visionscores.cli", "stage", "segment", "--piece", "page",
        "--record", str(record), "--pages-out", str(folder / "pages"),
        "--systems-out", str(folder / "systems.parquet"),
        "--render", json.dumps(config["render"]), "--clean", json.dumps(config["clean"]),
        "--segment", json.dumps(config["segment"]),
        "--movements", json.dumps(config["movements"]),
        "--key-signature", json.dumps(config["key_signature"]),
    ]  # fmt: skip
    started = time.monotonic()
    process = psutil.Popen(command)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, tree_pss_mb(process))
        time.sleep(SAMPLE_S)
    if process.returncode != 0:
        raise SystemExit(f"segment failed ({process.returncode})")
    return peak, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", nargs="+", choices=["vector", "scan"], default=["vector"])
    parser.add_argument("--max-pixels", type=int, help="default: config render's")
    parser.add_argument("--fill", type=float, default=0.95, help="share of the limit")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    if args.max_pixels:
        config["render"]["max_pixels_per_page"] = args.max_pixels
    limit = config["render"]["max_pixels_per_page"]
    print("| kind | pixels | peak MB | MB per megapixel | seconds |")
    print("|---|---:|---:|---:|---:|")
    for kind in args.kind:
        with tempfile.TemporaryDirectory() as temp:
            folder = Path(temp)
            pixels = tiled_page_pdf(
                folder / "page.pdf", config["render"]["dpi"], args.fill * limit, kind == "scan"
            )
            assert pixels <= limit, (pixels, limit)
            peak, seconds = peak_of_segment(folder, config)
        print(f"| {kind} | {pixels:,} | {peak:.0f} | {peak / (pixels / 1e6):.2f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
