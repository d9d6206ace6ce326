"""Segmentation benchmark: systems found on synthetic pages with exact ground truth.

Usage::

    python benchmarks/segmentation.py [--pages 150] [--seed 0] [--jobs 2]
        [--out benchmarks/results/segmentation.md]

What it does:

1. Makes a seeded, deterministic set of pages with ``visionscores_tools.synthetic``:
   piano pieces (two staves per system) and voice-and-piano songs (three staves, lyrics) from
   the music21 corpus, engraved by verovio in its five music fonts at varied staff sizes, page
   formats (A4, letter, some landscape), margins and spacings, some with a title block or part
   names (which indent the first system), rendered at 200, 300 or 400 dpi. About half of the
   music pages are damaged to look scanned (rotation up to +-3 degrees, scale, shift,
   bleed-through, uneven light, blur, noise, 1-bit, JPEG) with ``synthetic.degrade``; about
   10 % of all pages hold no music (title, prose, blank). Engraved pages are cached in
   ``benchmarks/.cache`` under a key made of every engraving parameter.
2. Wraps every page as an image-only PDF (as IMSLP scans are) and runs the workflow's own
   page pipeline on it (``visionscores.segment.page.process_pdf_pages`` with the render, clean
   and segment sections of ``--config``, by default ``config/config.yaml``), and the two
   baselines of ``baselines.py`` (the VisionScores paper's threshold method and the
   ``incipit`` package) on the page image.
3. Matches predicted to true tight staff boxes (``staff_bbox``) one-to-one per page and
   prints a markdown table per subset (clean, scanned, negative) and method: precision,
   recall and F1 at IoU >= 0.5 and >= 0.75, mean IoU of matched pairs, skew error, staff-count
   accuracy, systems found on pages without music, and milliseconds per page. It lists the
   worst pages of the project's segmenter and writes overlays of them (truth green, found red)
   to ``benchmarks/results/failures/``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
import yaml

from visionscores.segment import page as segment_page
from visionscores_tools import evaluation, synthetic

BENCHMARK_DIR = Path(__file__).resolve().parent
if str(BENCHMARK_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARK_DIR))

import baselines  # noqa: E402  (lives next to this script)

CACHE_VERSION = 1  # bump when the way pages are engraved or stored changes
NEGATIVE_SHARE = 0.10
SCANNED_SHARE = 0.5
IOU_THRESHOLDS = (0.5, 0.75)
METHODS = ("ours", "visionscores-threshold", "incipit")
SUBSETS = ("clean", "scanned", "negative")
N_WORST_PAGES = 12
NEGATIVE_DPI = 300  # resolution of the pages without music (synthetic's default)
OVERLAY_MAX_HEIGHT_PX = 1400

# music21 corpus works: (corpus path, title, composer). Piano works have two staves per
# system; the songs have a voice staff over the piano's two (three staves, with lyrics).
PIANO_WORKS = (
    ("bach/bwv846", "Prelude in C major, BWV 846", "J. S. Bach"),
    ("cpebach/h186", "Sonata in A major, H. 186", "C. P. E. Bach"),
    ("joplin/maple_leaf_rag", "Maple Leaf Rag", "Scott Joplin"),
    ("mozart/k545", "Sonata in C major, K. 545", "W. A. Mozart"),
    ("schoenberg/opus19/movement2", "Sechs kleine Klavierstucke, Op. 19 No. 2", "A. Schoenberg"),
    ("schoenberg/opus19/movement6", "Sechs kleine Klavierstucke, Op. 19 No. 6", "A. Schoenberg"),
    ("chopin/mazurka06-2", "Mazurka, Op. 6 No. 2", "F. Chopin"),
    ("schumann_clara/polonaise_op1n1", "Polonaise, Op. 1 No. 1", "Clara Schumann"),
    ("schumann_clara/polonaise_op1n2", "Polonaise, Op. 1 No. 2", "Clara Schumann"),
    ("schumann_clara/polonaise_op1n3", "Polonaise, Op. 1 No. 3", "Clara Schumann"),
    ("schumann_clara/polonaise_op1n4", "Polonaise, Op. 1 No. 4", "Clara Schumann"),
)
SONG_WORKS = (
    ("schubert/Lindenbaum", "Der Lindenbaum", "Franz Schubert"),
    ("schumann_robert/opus48no2", "Aus meinen Tranen spriessen", "Robert Schumann"),
    ("handel/rinaldo/Lascia_chio_pianga", "Lascia ch'io pianga", "G. F. Handel"),
)
FONTS = ("Leipzig", "Bravura", "Gootville", "Leland", "Petaluma")
# (name, width mm, height mm)
PAGE_FORMATS = (
    ("A4", 210.0, 297.0),
    ("A4", 210.0, 297.0),
    ("letter", 215.9, 279.4),
    ("letter", 215.9, 279.4),
    ("A4-landscape", 297.0, 210.0),
    ("letter-landscape", 279.4, 215.9),
)
DPI_CHOICES = (200, 300, 300, 400)


# --------------------------------------------------------------------------------------------
# The page set
# --------------------------------------------------------------------------------------------


@functools.cache
def _verovio_version() -> str:
    import verovio

    return verovio.toolkit().getVersion()


@dataclass(frozen=True)
class Engraving:
    """One engraving of a work: every parameter that changes the pages (the cache key).

    staff_space_mm, margin_mm: staff line distance and page margins in millimetres.
    spacing_staff, spacing_system: verovio gaps in half staff spaces.
    part_names: print part names left of the first system (verovio then indents it).
    dpi: resolution the pages are rendered at, pixels per inch.
    max_pages: number of leading pages kept.
    """

    source: str
    title: str
    composer: str
    header: bool
    part_names: bool
    font: str
    page_format: str
    page_width_mm: float
    page_height_mm: float
    staff_space_mm: float
    margin_mm: float
    spacing_staff: int
    spacing_system: int
    justify_vertically: bool
    dpi: int
    max_pages: int

    def cache_key(self) -> str:
        text = json.dumps(
            {"v": CACHE_VERSION, "verovio": _verovio_version(), **asdict(self)}, sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class PageSpec:
    """One benchmark page: where it comes from and how it is damaged.

    subset: "clean", "scanned" or "negative".
    engraving, page_index: the engraved page (music pages only).
    negative_kind: "title", "prose" or "blank" (negative pages only).
    scan: keyword arguments of ``synthetic.degrade`` (scanned pages, and some negative pages).
    seed: seed of the page's own random generator (damage, negative page content).
    """

    page_id: str
    subset: str
    seed: int
    engraving: Engraving | None = None
    page_index: int = 0
    negative_kind: str = ""
    scan: dict = field(default_factory=dict)


def sample_engraving(rng: np.random.Generator, work: tuple[str, str, str]) -> Engraving:
    """Random engraving parameters for one work."""
    source, title, composer = work
    page_format, width_mm, height_mm = PAGE_FORMATS[rng.integers(len(PAGE_FORMATS))]
    landscape = width_mm > height_mm
    return Engraving(
        source=source,
        title=title,
        composer=composer,
        header=bool(rng.random() < 0.4),
        part_names=bool(rng.random() < 0.25),
        font=str(FONTS[rng.integers(len(FONTS))]),
        page_format=page_format,
        page_width_mm=width_mm,
        page_height_mm=height_mm,
        staff_space_mm=round(float(rng.uniform(1.4, 1.9 if landscape else 2.2)), 2),
        margin_mm=round(float(rng.uniform(10.0, 20.0)), 1),
        spacing_staff=int(rng.integers(8, 17)),
        spacing_system=int(rng.integers(6, 19)),
        justify_vertically=bool(rng.random() < 0.4),
        dpi=int(DPI_CHOICES[rng.integers(len(DPI_CHOICES))]),
        max_pages=int(rng.integers(1, 4)),
    )


def sample_scan(rng: np.random.Generator) -> dict:
    """Random scanner damage for one page (keyword arguments of ``synthetic.degrade``)."""
    one_bit = bool(rng.random() < 0.3)
    return {
        "rotation_deg": round(float(rng.uniform(-3.0, 3.0)), 3),
        "scale": round(float(rng.uniform(0.97, 1.03)), 4),
        "shift_px": (round(float(rng.uniform(-30, 30)), 1), round(float(rng.uniform(-30, 30)), 1)),
        "bleed_through": round(float(rng.uniform(0.0, 0.2)), 3) if rng.random() < 0.6 else 0.0,
        "uneven_light": round(float(rng.uniform(0.0, 0.3)), 3),
        "paper_gray": int(rng.integers(220, 256)),
        "blur_sigma_px": round(float(rng.uniform(0.0, 1.3)), 2),
        "noise_sigma": round(float(rng.uniform(0.0, 8.0)), 2),
        "salt_pepper": round(float(rng.uniform(0.0, 0.0005)), 6) if one_bit else 0.0,
        "binarize_1bit": one_bit,
        "jpeg_quality": None if one_bit or rng.random() < 0.4 else int(rng.integers(35, 91)),
    }


def plan_engravings(seed: int, n_engravings: int) -> list[Engraving]:
    """The first ``n_engravings`` engravings of the seeded sequence (works in a cycle)."""
    rng = np.random.default_rng([seed, 1])
    works = [*PIANO_WORKS, *SONG_WORKS]
    return [sample_engraving(rng, works[i % len(works)]) for i in range(n_engravings)]


def plan_pages(
    seed: int, n_pages: int, page_counts: Sequence[int], engravings: Sequence[Engraving]
) -> list[PageSpec]:
    """Seeded page list: music pages from the engravings in order, then negative pages.

    page_counts: number of pages each engraving yielded (at most its ``max_pages``).
    """
    rng = np.random.default_rng([seed, 2])
    n_negative = max(1, round(NEGATIVE_SHARE * n_pages)) if n_pages >= 2 else 0
    n_music = n_pages - n_negative
    specs: list[PageSpec] = []
    for engraving, count in zip(engravings, page_counts, strict=True):
        for page_index in range(count):
            if len(specs) == n_music:
                break
            scanned = bool(rng.random() < SCANNED_SHARE)
            slug = engraving.source.replace("/", "-")
            specs.append(
                PageSpec(
                    page_id=f"{len(specs):03d}-{slug}-p{page_index + 1}-{engraving.font}",
                    subset="scanned" if scanned else "clean",
                    seed=int(rng.integers(2**31)),
                    engraving=engraving,
                    page_index=page_index,
                    scan=sample_scan(rng) if scanned else {},
                )
            )
    if len(specs) < n_music:
        raise ValueError(f"engravings gave {len(specs)} music pages, {n_music} needed")
    for i in range(n_negative):
        kind = ("title", "prose", "blank")[i % 3]
        scan = sample_scan(rng) if kind != "blank" and rng.random() < 0.5 else {}
        specs.append(
            PageSpec(
                page_id=f"{len(specs):03d}-negative-{kind}{'-scanned' if scan else ''}",
                subset="negative",
                seed=int(rng.integers(2**31)),
                negative_kind=kind,
                scan=scan,
            )
        )
    return specs


# --------------------------------------------------------------------------------------------
# Making pages (cached)
# --------------------------------------------------------------------------------------------


def _engrave(engraving: Engraving) -> list[synthetic.EngravedPage]:
    import verovio

    verovio.enableLog(verovio.LOG_ERROR)  # import warnings about the encodings are expected
    options = {
        "title": engraving.title if engraving.header else None,
        "composer": engraving.composer if engraving.header else None,
        "header": engraving.header,
        "font": engraving.font,
        "page_width_mm": engraving.page_width_mm,
        "page_height_mm": engraving.page_height_mm,
        "staff_space_mm": engraving.staff_space_mm,
        "margin_mm": engraving.margin_mm,
        "spacing_staff": engraving.spacing_staff,
        "spacing_system": engraving.spacing_system,
        "justify_vertically": engraving.justify_vertically,
        "lyric_size": 3.6,
        "max_pages": engraving.max_pages,
    }
    if not engraving.part_names:
        return synthetic.engrave(engraving.source, **options)
    # synthetic.engrave has no switch for part names; its MusicXML export has one.
    with_names = functools.partial(synthetic.score_to_musicxml, part_names=True)
    with mock.patch.object(synthetic, "score_to_musicxml", with_names):
        return synthetic.engrave(engraving.source, **options)


def engraved_pages(engraving: Engraving, cache_dir: Path) -> list[dict]:
    """Rendered pages of one engraving: ``{"gray", "boxes", "n_staves"}`` each, cached on disk.

    gray: uint8 page at ``engraving.dpi``; boxes: (n, 4) true staff boxes in its pixels.
    """
    path = cache_dir / f"engraving-{engraving.cache_key()}.npz"
    if path.exists():
        with np.load(path) as data:
            count = int(data["count"])
            return [
                {
                    "gray": data[f"gray_{i}"],
                    "boxes": data[f"boxes_{i}"],
                    "n_staves": data[f"n_staves_{i}"].tolist(),
                }
                for i in range(count)
            ]
    pages = []
    for page in _engrave(engraving):
        gray, boxes = synthetic.rasterize(page, engraving.dpi)
        pages.append({"gray": gray, "boxes": boxes, "n_staves": page.n_staves})
    arrays: dict[str, np.ndarray] = {"count": np.array(len(pages))}
    for i, page in enumerate(pages):
        arrays[f"gray_{i}"] = page["gray"]
        arrays[f"boxes_{i}"] = page["boxes"]
        arrays[f"n_staves_{i}"] = np.asarray(page["n_staves"], dtype=np.int64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial_path = path.with_suffix(f".{multiprocessing.current_process().pid}.partial.npz")
    np.savez_compressed(partial_path, **arrays)
    partial_path.replace(path)  # never leave a half-written cache entry
    return pages


def _count_pages(engraving: Engraving, cache_dir: Path) -> int:
    """Number of pages of an engraving (engraves and caches it when needed)."""
    path = cache_dir / f"engraving-{engraving.cache_key()}.npz"
    if path.exists():
        with np.load(path) as data:
            return int(data["count"])
    return len(engraved_pages(engraving, cache_dir))


def make_page(spec: PageSpec, cache_dir: Path) -> tuple[np.ndarray, np.ndarray, list[int], float]:
    """The page image, its true boxes, staves per system and applied rotation (degrees)."""
    rng = np.random.default_rng(spec.seed)
    if spec.subset == "negative":
        if spec.negative_kind == "title":
            gray = synthetic.title_page(rng)
        elif spec.negative_kind == "prose":
            gray = synthetic.prose_page(rng)
        else:
            gray = synthetic.blank_page(rng)
        boxes, n_staves = np.zeros((0, 4)), []
    else:
        page = engraved_pages(spec.engraving, cache_dir)[spec.page_index]
        gray, boxes, n_staves = page["gray"], page["boxes"], page["n_staves"]
    if spec.scan:
        gray, boxes = synthetic.degrade(gray, boxes, rng, **spec.scan)
    return gray, boxes, n_staves, float(spec.scan.get("rotation_deg", 0.0))


# --------------------------------------------------------------------------------------------
# Running the methods
# --------------------------------------------------------------------------------------------


def run_ours(gray: np.ndarray, dpi: float, config: dict) -> tuple[dict, float]:
    """Our segmenter on one page, through the workflow's page pipeline: the page wrapped as
    an image-only PDF (lossless), rendered, cleaned and segmented with the config. Returns
    the contract JSON and the pipeline's milliseconds (the wrapping is not timed)."""
    with tempfile.TemporaryDirectory() as folder:
        pdf_path = Path(folder) / "page.pdf"
        pdf_path.write_bytes(synthetic.image_pdf([gray], dpi, "gray-lossless"))
        start = time.perf_counter()
        (processed,) = segment_page.process_pdf_pages(
            pdf_path, [1], config["render"], config["clean"], config["segment"]
        )
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    return segment_page.page_to_json(1, processed.result), elapsed_ms


def run_page(spec: PageSpec, cache_dir: Path, use_incipit: bool, config: dict) -> dict:
    """Run every method on one page; boxes, staff counts, skew and milliseconds per method."""
    gray, true_boxes, true_n_staves, applied_skew = make_page(spec, cache_dir)
    result = {
        "page_id": spec.page_id,
        "subset": spec.subset,
        "shape": list(gray.shape),
        "true_boxes": true_boxes.tolist(),
        "true_n_staves": list(true_n_staves),
        "applied_skew_deg": applied_skew,
        "methods": {},
    }
    ours, elapsed_ms = run_ours(
        gray, spec.engraving.dpi if spec.engraving else NEGATIVE_DPI, config
    )
    result["methods"]["ours"] = {
        "boxes": [s["staff_bbox"] for s in ours["systems"]],
        "n_staves": [s["n_staves"] for s in ours["systems"]],
        "skew_deg": float(ours["skew_deg"]),
        "ms": elapsed_ms,
    }
    start = time.perf_counter()
    boxes = baselines.visionscores_threshold_systems(gray)
    result["methods"]["visionscores-threshold"] = {
        "boxes": boxes,
        "ms": (time.perf_counter() - start) * 1000.0,
    }
    if use_incipit:
        start = time.perf_counter()
        boxes = baselines.incipit_systems(gray)
        result["methods"]["incipit"] = {
            "boxes": boxes,
            "ms": (time.perf_counter() - start) * 1000.0,
        }
    return result


def parallel_map(function, items, jobs: int) -> list:
    """``function`` over ``items`` in ``jobs`` processes (in order; in this one for 1)."""
    if jobs <= 1:
        return [function(item) for item in items]
    # Not multiprocessing.Pool: its workers are daemons, which may not start the page
    # pipeline's own renderer process; an executor's workers may.
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        return list(pool.map(function, items, chunksize=1))


# --------------------------------------------------------------------------------------------
# Scoring and reporting
# --------------------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


TABLE_COLUMNS = (
    "subset",
    "method",
    "pages",
    "true systems",
    "found",
    "P@0.5",
    "R@0.5",
    "F1@0.5",
    "P@0.75",
    "R@0.75",
    "F1@0.75",
    "mean IoU",
    "skew err median (°)",
    "skew err max (°)",
    "n_staves acc",
    "systems on negative pages",
    "ms/page",
)


def score_results(results: Sequence[dict], methods: Sequence[str]) -> list[dict]:
    """One row of numbers per subset and method (and "all music" pages)."""
    rows = []
    groups = [(subset, [r for r in results if r["subset"] == subset]) for subset in SUBSETS]
    groups.append(("all music", [r for r in results if r["subset"] != "negative"]))
    for subset, pages in groups:
        if not pages:
            continue
        for method in methods:
            row: dict = {"subset": subset, "method": method, "pages": len(pages)}
            for threshold in IOU_THRESHOLDS:
                scores = [
                    evaluation.score_page(
                        page["methods"][method]["boxes"],
                        page["true_boxes"],
                        threshold,
                        page["methods"][method].get("n_staves"),
                        page["true_n_staves"],
                    )
                    for page in pages
                ]
                summary = evaluation.summarize(scores)
                row[f"P@{threshold}"] = summary.precision
                # Without true systems only precision says something (recall is always 1).
                nothing_to_find = subset == "negative"
                row[f"R@{threshold}"] = float("nan") if nothing_to_find else summary.recall
                row[f"F1@{threshold}"] = float("nan") if nothing_to_find else summary.f1
                if threshold == IOU_THRESHOLDS[0]:
                    row["true systems"] = summary.n_true
                    row["found"] = summary.n_predicted
                    row["mean IoU"] = summary.mean_iou
                    row["n_staves acc"] = (
                        summary.n_staves_accuracy if method == "ours" else float("nan")
                    )
            if method == "ours" and subset != "negative":
                errors = [
                    abs(page["methods"]["ours"]["skew_deg"] - page["applied_skew_deg"])
                    for page in pages
                ]
                row["skew err median (°)"] = float(np.median(errors))
                row["skew err max (°)"] = float(np.max(errors))
            else:
                row["skew err median (°)"] = float("nan")
                row["skew err max (°)"] = float("nan")
            if subset == "negative":
                row["systems on negative pages"] = evaluation.false_systems_on_negative_pages(
                    len(page["methods"][method]["boxes"]) for page in pages
                )
            else:
                row["systems on negative pages"] = None
            row["ms/page"] = float(np.mean([page["methods"][method]["ms"] for page in pages]))
            rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    """The rows as a markdown table with the columns of ``TABLE_COLUMNS``."""
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "|".join("---" for _ in TABLE_COLUMNS) + "|",
    ]
    for row in rows:
        cells = []
        for column in TABLE_COLUMNS:
            value = row.get(column)
            if column in ("subset", "method"):
                cells.append(str(value))
            elif column in ("pages", "true systems", "found", "systems on negative pages"):
                cells.append("–" if value is None else str(int(value)))
            elif column == "ms/page":
                cells.append(_fmt(value, 0))
            elif column.startswith("skew"):
                cells.append(_fmt(value, 3))
            else:
                cells.append(_fmt(value, 3))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def page_problems(page: dict) -> dict:
    """What went wrong for our segmenter on one page, and a badness score to sort by."""
    ours = page["methods"]["ours"]
    counts = evaluation.diagnose_page(ours["boxes"], page["true_boxes"], 0.5)
    score = evaluation.score_page(
        ours["boxes"], page["true_boxes"], 0.5, ours["n_staves"], page["true_n_staves"]
    )
    skew_error = (
        abs(ours["skew_deg"] - page["applied_skew_deg"]) if page["subset"] != "negative" else 0.0
    )
    ious = [iou for _, _, iou in score.matches]
    counts["n_staves_wrong"] = score.n_staves_checked - score.n_staves_correct
    counts["skew_error_deg"] = round(skew_error, 3)
    counts["min_iou"] = round(min(ious), 3) if ious else None
    badness = (
        10.0 * sum(counts[k] for k in ("missed", "partial", "split", "merged", "false"))
        + 3.0 * counts["n_staves_wrong"]
        + 2.0 * counts["loose"]
        + (5.0 if skew_error > 0.2 else 0.0)
        + (1.0 - (min(ious) if ious else 1.0))
    )
    counts["badness"] = badness
    return counts


def describe_problems(problems: dict) -> str:
    parts = [
        f"{problems[k]} {k}"
        for k in ("missed", "partial", "split", "merged", "false", "loose", "n_staves_wrong")
        if problems[k]
    ]
    if problems["skew_error_deg"] > 0.2:
        parts.append(f"skew off by {problems['skew_error_deg']:.2f}°")
    if problems["min_iou"] is not None:
        parts.append(f"min IoU {problems['min_iou']:.2f}")
    return ", ".join(parts) or "ok"


def write_overlay(gray: np.ndarray, page: dict, path: Path) -> None:
    """Page with true boxes in green and our boxes in red (thin lines), scaled down."""
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    thickness = max(2, round(gray.shape[0] / 700))
    for box in page["true_boxes"]:
        x0, y0, x1, y1 = (round(v) for v in box)
        cv2.rectangle(colour, (x0, y0), (x1, y1), (0, 170, 0), thickness + 2)
    for box, n in zip(
        page["methods"]["ours"]["boxes"], page["methods"]["ours"]["n_staves"], strict=True
    ):
        x0, y0, x1, y1 = (round(v) for v in box)
        cv2.rectangle(colour, (x0, y0), (x1, y1), (0, 0, 230), thickness)
        cv2.putText(
            colour,
            str(n),
            (x1 + 4, (y0 + y1) // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            gray.shape[0] / 1500,
            (0, 0, 230),
            thickness,
        )
    scale = min(1.0, OVERLAY_MAX_HEIGHT_PX / gray.shape[0])
    if scale < 1.0:
        colour = cv2.resize(colour, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), colour)


def _spec_summary(spec: PageSpec) -> str:
    if spec.engraving is None:
        text = f"{spec.negative_kind} page"
    else:
        e = spec.engraving
        text = (
            f"{e.source} p{spec.page_index + 1}, {e.font}, {e.page_format}, "
            f"{e.staff_space_mm} mm staff space, {e.dpi} dpi"
            + (", title block" if e.header and spec.page_index == 0 else "")
            + (", part names" if e.part_names else "")
        )
    if spec.scan:
        s = spec.scan
        text += (
            f"; scan: rot {s['rotation_deg']:+.2f}°, blur {s['blur_sigma_px']}, "
            f"noise {s['noise_sigma']}, bleed {s['bleed_through']}, light {s['uneven_light']}"
            + (", 1-bit" if s["binarize_1bit"] else "")
            + (f", JPEG q{s['jpeg_quality']}" if s["jpeg_quality"] else "")
        )
    return text


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=150, help="number of pages (default 150)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the page set (default 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCHMARK_DIR / "results" / "segmentation.md",
        help="markdown report to write",
    )
    parser.add_argument(
        "--failures-dir",
        type=Path,
        default=BENCHMARK_DIR / "results" / "failures",
        help="where overlays of our worst pages go",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=BENCHMARK_DIR / ".cache", help="engraved page cache"
    )
    parser.add_argument("--jobs", type=int, default=2, help="pages processed in parallel")
    parser.add_argument(
        "--config",
        type=Path,
        default=BENCHMARK_DIR.parent / "config" / "config.yaml",
        help="workflow config whose render, clean and segment sections our segmenter uses",
    )
    return parser.parse_args(argv)


def page_specs(n_pages: int, seed: int, cache_dir: Path, jobs: int) -> list[PageSpec]:
    """The benchmark's page set: engraves (or reads from the cache) until it has enough
    music pages (an engraving gives 1-3 pages), then plans every page."""
    n_music = n_pages - (max(1, round(NEGATIVE_SHARE * n_pages)) if n_pages >= 2 else 0)
    engravings: list[Engraving] = []
    page_counts: list[int] = []
    while sum(page_counts) < n_music:
        missing = n_music - sum(page_counts)
        batch_size = max(jobs, -(-missing // 2))
        plan = plan_engravings(seed, len(engravings) + batch_size)[len(engravings) :]
        counts = parallel_map(functools.partial(_count_pages, cache_dir=cache_dir), plan, jobs)
        engravings += plan
        page_counts += counts
    return plan_pages(seed, n_pages, page_counts, engravings)


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the benchmark; print and write the report. Returns the rows and the page results."""
    args = parse_args(argv)
    started = time.perf_counter()
    specs = page_specs(args.pages, args.seed, args.cache_dir, args.jobs)
    engravings = list(
        {spec.engraving.cache_key(): spec.engraving for spec in specs if spec.engraving}.values()
    )
    engrave_seconds = time.perf_counter() - started

    use_incipit, incipit_reason = baselines.incipit_available()
    methods = [m for m in METHODS if use_incipit or m != "incipit"]
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    run = functools.partial(
        run_page, cache_dir=args.cache_dir, use_incipit=use_incipit, config=config
    )
    results = parallel_map(run, specs, args.jobs)
    total_seconds = time.perf_counter() - started

    rows = score_results(results, methods)
    table = markdown_table(rows)

    problems = [
        (page_problems(page), page, spec) for page, spec in zip(results, specs, strict=True)
    ]
    worst = sorted((p for p in problems if p[0]["badness"] > 0.3), key=lambda p: -p[0]["badness"])[
        :N_WORST_PAGES
    ]
    worst_lines = []
    for counts, page, spec in worst:
        overlay = args.failures_dir / f"{page['page_id']}.png"
        gray, *_ = make_page(spec, args.cache_dir)
        write_overlay(gray, page, overlay)
        worst_lines.append(
            f"- `{page['page_id']}` ({page['subset']}; {_spec_summary(spec)}): "
            f"{describe_problems(counts)} — true {len(page['true_boxes'])}, "
            f"found {len(page['methods']['ours']['boxes'])}; overlay `{overlay.name}`"
        )

    n_by_subset = {s: sum(1 for r in results if r["subset"] == s) for s in SUBSETS}
    notes = [
        f"Pages: {len(results)} ({', '.join(f'{n} {s}' for s, n in n_by_subset.items())}), "
        f"seed {args.seed}, {len(engravings)} engravings of "
        f"{len({e.source for e in engravings})} works; "
        f"{args.jobs} jobs, {total_seconds:.0f} s in all ({engrave_seconds:.0f} s engraving "
        "or reading the cache).",
        "Boxes are tight staff boxes (`staff_bbox`); matching is one-to-one per page, greedy "
        "by IoU; P/R/F1 are summed over pages. Mean IoU is over pairs matched at IoU >= 0.5. "
        "Skew error is |estimated - applied rotation|. Baselines count no staves and measure "
        "no skew (–). ms/page is wall time per page in one process (ours: the page pipeline "
        "from the PDF on, its renderer process included).",
    ]
    if not use_incipit:
        notes.append(f"incipit baseline not run: {incipit_reason}")
    report = "\n".join(
        [
            "# Segmentation benchmark",
            "",
            *notes,
            "",
            table,
            "",
            "## Worst pages of our segmenter",
            "",
            *(worst_lines or ["- none"]),
            "",
        ]
    )
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    # Every page's boxes and timings, for looking closer at single pages.
    pages_path = args.out.with_name(args.out.stem + "-pages.json")
    details = [
        {**page, "spec": _spec_summary(spec), "problems": page_problems(page)}
        for page, spec in zip(results, specs, strict=True)
    ]
    pages_path.write_text(json.dumps(details, indent=1) + "\n")
    return {"rows": rows, "results": results, "report": report, "methods": methods}


if __name__ == "__main__":
    main()
