"""Movement-boundary benchmark: which systems start a piece or movement, on real and
synthetic multi-movement files.

Usage::

    python benchmarks/movements.py [--mirror DIR] [--jobs 2] [--synthetic-files 24]
        [--out benchmarks/results/movements.md]

What it does:

1. Real: every work of DiNoScore/Scores (https://github.com/DiNoScore/Scores) not listed in
   ``benchmarks/real/excluded.txt``. Its pages (``songs/<work>/page_<N>.tif``, 1-bit scans of
   the Breitkopf & Härtel complete editions) are put into one image-only PDF per work, as an
   IMSLP scan is, and run through the workflow's page pipeline
   (``visionscores.segment.page.process_pdf_pages`` with the render, clean and segment
   sections of ``--config``); the cleaned pages and their systems are cached in
   ``benchmarks/.cache/movements/`` under a key of those sections. Then
   ``movements.system_cues`` on every page and ``movements.movement_starts`` over the work.
   The truth is the work's ``staves.json``: ``staves`` lists its systems in reading order
   (page, start and end points as fractions of the page's width) and ``piece_starts`` maps
   the index of the first system of each numbered piece or movement to its title. Our
   systems are matched to theirs on the same page by vertical overlap. Boundaries are
   scored per work (precision, recall, F1 of starts other than the file's first system,
   which is a start by definition). The works are split in two halves by a fixed rule
   (alternate works in name order): the parameters were tuned on the first, the second is
   held back; both are reported.
2. Synthetic: files made by joining engravings of several music21 corpus pieces, each
   engraved by verovio as its own piece (heading, indented first system, final barline),
   the pieces set one after the other on shared pages
   (``visionscores_tools.synthetic.movement_file``), clean and scanned
   (``synthetic.degrade``), with the exact first system of every piece.

Prints a markdown report (``--out``) with the tables, the misses and false starts, and ten
boundaries found on real files with the cue that fired.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import yaml

from visionscores.segment import movements
from visionscores.segment import page as segment_page

BENCHMARK_DIR = Path(__file__).resolve().parent
REAL_DIR = BENCHMARK_DIR / "real"
if str(REAL_DIR) not in sys.path:
    sys.path.insert(0, str(REAL_DIR))

import realpages  # noqa: E402  (lives in benchmarks/real)

if str(BENCHMARK_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARK_DIR))

import segmentation  # noqa: E402  (lives next to this script: its parallel map)

DINOSCORE = "DiNoScore/Scores"
CACHE_VERSION = 1  # bump when what is cached per page changes
CUE_VERSION = 7  # bump when system_cues measures differently


# --------------------------------------------------------------------------------------------
# DiNoScore works and their pages through the page pipeline
# --------------------------------------------------------------------------------------------


def _git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, check=True
    ).stdout


def dinoscore_works(git_dir: Path, commit: str) -> list[dict]:
    """Every work of the snapshot not excluded: name, its page TIFs in page order, and its
    staves.json. Excluded works are skipped before anything of theirs is read."""
    excluded = realpages.read_excluded()
    listing = _git(git_dir, "ls-tree", "-r", "-z", "--name-only", commit, "songs/")
    pages: dict[str, dict[int, str]] = {}
    for path in listing.decode("utf-8").split("\0"):
        path = unicodedata.normalize("NFC", path)
        parts = path.split("/")
        if len(parts) != 3 or realpages.is_excluded(DINOSCORE, path, excluded):
            continue
        if parts[2].startswith("page_") and parts[2].endswith(".tif"):
            pages.setdefault(parts[1], {})[int(parts[2][5:-4])] = path
    works = []
    for position, work in enumerate(sorted(pages)):
        staves = json.loads(_git(git_dir, "show", f"{commit}:songs/{work}/staves.json"))
        numbers = sorted(pages[work])
        works.append(
            {
                "work": work,
                "tifs": [pages[work][n] for n in numbers],
                "numbers": numbers,
                # alternate works in name order: the first half tunes, the second is held back
                "half": "tune" if position % 2 == 0 else "held",
                "staves": staves,
            }
        )
    return works


def _config_key(config: dict) -> str:
    """Key of the segmented pages' cache: the page pipeline's config sections and the source
    of the segment package, so that a change of either segments the works again."""
    import visionscores.segment

    package = Path(visionscores.segment.__file__).parent
    source = hashlib.sha256(
        b"".join(path.read_bytes() for path in sorted(package.glob("*.py")))
    ).hexdigest()
    text = json.dumps(
        {
            "v": CACHE_VERSION,
            "source": source,
            **{k: config[k] for k in ("render", "clean", "segment")},
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def work_cache_dir(cache_root: Path, config: dict, work: str) -> Path:
    return cache_root / _config_key(config) / realpages.slug(work)


def segment_work(item: tuple[dict, Path, str, dict, Path]) -> Path:
    """Run one work's pages through the page pipeline (once: cached). Writes the cleaned
    pages as PNG and ``pages.pkl``: per page its systems, metrics, shape, matrix and the
    milliseconds the pipeline took."""
    work, git_dir, commit, config, folder = item
    done = folder / "pages.pkl"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    document = pymupdf.open()
    for tif in work["tifs"]:
        image = pymupdf.open(stream=_git(git_dir, "show", f"{commit}:{tif}"), filetype="tiff")
        document.insert_pdf(pymupdf.open("pdf", image.convert_to_pdf()))
    pdf_path = folder / "work.pdf"
    document.save(pdf_path)
    records = []
    start = time.perf_counter()
    pipeline = segment_page.process_pdf_pages(
        pdf_path,
        range(1, len(work["tifs"]) + 1),
        config["render"],
        config["clean"],
        config["segment"],
    )
    for number, processed in zip(work["numbers"], pipeline, strict=True):
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        cv2.imwrite(
            str(folder / f"page_{number}.png"), processed.cleaned, [cv2.IMWRITE_PNG_COMPRESSION, 1]
        )
        metrics = processed.result.metrics
        records.append(
            {
                "number": number,
                "systems": processed.result.systems,
                "line_thickness_px": metrics.line_thickness_px if metrics else None,
                "staff_spacing_px": metrics.staff_spacing_px if metrics else None,
                "input_shape": (processed.result.height, processed.result.width),
                "matrix": processed.matrix,
                "pipeline_ms": elapsed_ms,
            }
        )
        start = time.perf_counter()
    pdf_path.unlink()
    done.write_bytes(pickle.dumps(records))
    return folder


# --------------------------------------------------------------------------------------------
# Cues, starts and scoring on the real works
# --------------------------------------------------------------------------------------------


def work_cues(folder: Path, params: dict) -> list[dict]:
    """Every page's systems and cues of one cached work, in reading order: one dict per
    system with ``page`` (DiNoScore's page number), ``system`` (the System), its cues and
    the cue milliseconds of its page."""
    records = pickle.loads((folder / "pages.pkl").read_bytes())
    rows = []
    for record in records:
        if not record["systems"]:
            continue
        cleaned = cv2.imread(str(folder / f"page_{record['number']}.png"), cv2.IMREAD_GRAYSCALE)
        # CPU time of this process: on a machine shared by other jobs, wall time would
        # count their share too
        start = time.process_time()
        cues = movements.system_cues(
            cleaned, record["systems"], record["line_thickness_px"], params
        )
        elapsed_ms = (time.process_time() - start) * 1000.0
        for system, cue in zip(record["systems"], cues, strict=True):
            rows.append(
                {
                    "page": record["number"],
                    "system": system,
                    "matrix": record["matrix"],
                    "cue_ms": elapsed_ms,
                    "page_width_input_px": record["input_shape"][1],
                    **cue,
                }
            )
    return rows


def cached_work_cues(folder: Path, params: dict) -> list[dict]:
    """work_cues, cached beside the pages under a key of the cue parameters."""
    key = hashlib.sha256(
        json.dumps(
            {"v": CUE_VERSION, **{k: params[k] for k in movements.CUE_KEYS}}, sort_keys=True
        ).encode()
    ).hexdigest()[:12]
    path = folder / f"cues-{key}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    rows = work_cues(folder, params)
    path.write_bytes(pickle.dumps(rows))
    return rows


def true_starts(rows: list[dict], staves: dict) -> tuple[list[bool], list[int | None]]:
    """Per system of ours, whether it is the first of a piece by DiNoScore's
    ``piece_starts``, and the index of DiNoScore's system it matches (None if none).

    Their boxes are page fractions of the input image (x and y divided by its width); each is
    mapped onto the cleaned page and matched to ours on the same page by the largest vertical
    overlap (share of the shorter). A start whose system matches several of ours (a split)
    marks the topmost."""
    starts = {int(key) for key in staves["piece_starts"]}
    entries = staves["staves"]
    matched: list[int | None] = []
    for row in rows:
        matrix = row["matrix"]
        box = row["system"].staff_box
        best, best_overlap = None, 0.0
        for number, entry in enumerate(entries):
            if entry["page"] != row["page"]:
                continue
            scale = row["page_width_input_px"]
            x = (entry["start"][0] + entry["end"][0]) / 2 * scale
            y0, y1 = (
                matrix[1, 0] * x + matrix[1, 1] * entry[key][1] * scale + matrix[1, 2]
                for key in ("start", "end")
            )
            overlap = min(box[3], y1) - max(box[1], y0)
            share = overlap / max(1.0, min(box[3] - box[1], y1 - y0))
            if share > best_overlap:
                best, best_overlap = number, share
        matched.append(best if best_overlap >= 0.5 else None)
    truth, seen = [], set()
    for number in matched:
        truth.append(number in starts and number not in seen)
        if number is not None:
            seen.add(number)
    return truth, matched


def score_boundaries(truth_starts: set[int], matched: list, predicted: list[bool]) -> dict:
    """Boundaries of one work (its first system, a start by definition, left out): true
    positives, false starts, misses (a true start whose system we predict no start on, or
    never found)."""
    found = {number for number, start in zip(matched, predicted, strict=True) if start}
    boundaries = truth_starts - {0}
    tp = len(boundaries & found)
    fp = sum(
        1
        for index, (number, start) in enumerate(zip(matched, predicted, strict=True))
        if start and index > 0 and number not in boundaries
    )
    return {"tp": tp, "fp": fp, "fn": len(boundaries) - tp}


def prf(counts: dict) -> tuple[float, float, float]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


# --------------------------------------------------------------------------------------------
# Synthetic multi-movement files
# --------------------------------------------------------------------------------------------

# Short music21 corpus pieces for the synthetic files (corpus path, title).
SYNTHETIC_PIECES = (
    ("schoenberg/opus19/movement2", "Op. 19 No. 2"),
    ("schoenberg/opus19/movement6", "Op. 19 No. 6"),
    ("mozart/k545", "Sonata K. 545"),
    ("bach/bwv846", "Prelude BWV 846"),
    ("chopin/mazurka06-2", "Mazurka Op. 6 No. 2"),
    ("schumann_clara/polonaise_op1n1", "Polonaise Op. 1 No. 1"),
)
SYNTHETIC_FONTS = ("Leipzig", "Bravura", "Leland")
SYNTHETIC_STAFF_MM = (1.5, 1.8)
SYNTHETIC_DPI = 300
SCAN_DAMAGE = {  # a scanned copy: tilt, scale, light, blur, noise, 1-bit (synthetic.degrade)
    "rotation_deg": (-1.5, 1.5),
    "scale": (0.98, 1.02),
    "uneven_light": (0.0, 0.3),
    "blur_sigma_px": (0.0, 1.0),
    "noise_sigma": (0.0, 6.0),
}


def engraved_piece(key: tuple[str, str, str, float], cache_dir: Path) -> list:
    """Rasters (gray, boxes) of one corpus piece engraved with its title block (cached)."""
    from visionscores_tools import synthetic

    source, title, font, staff_mm = key
    name = hashlib.sha256(json.dumps([CACHE_VERSION, *key]).encode()).hexdigest()[:16]
    path = cache_dir / f"{name}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    pages = synthetic.engrave(
        source, title=title, header=True, font=font, staff_space_mm=staff_mm, margin_mm=15.0
    )
    rasters = [synthetic.rasterize(page, SYNTHETIC_DPI) for page in pages]
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rasters))
    return rasters


def synthetic_file(item: tuple[int, bool, Path, dict]) -> dict:
    """One synthetic file through the page pipeline and the movement functions: per system of
    ours its true start (matched to the true boxes by vertical overlap) and our start."""
    from visionscores_tools import synthetic

    seed, scanned, cache_dir, config = item
    rng = np.random.default_rng(seed)
    font = SYNTHETIC_FONTS[seed % len(SYNTHETIC_FONTS)]
    staff_mm = SYNTHETIC_STAFF_MM[seed % len(SYNTHETIC_STAFF_MM)]
    chosen = rng.choice(len(SYNTHETIC_PIECES), size=3, replace=False)
    pieces = [engraved_piece((*SYNTHETIC_PIECES[i], font, staff_mm), cache_dir) for i in chosen]
    # every other pair of files indents each piece's first system by 8 to 12 sp
    indented = (seed // 2) % 2 == 1
    spacing_px = staff_mm / 25.4 * SYNTHETIC_DPI
    made = synthetic.movement_file(
        pieces,
        margin_top_px=150,
        margin_bottom_px=150,
        piece_gap_px=int(rng.integers(0, 120)),
        first_indent_px=round(rng.uniform(8, 12) * spacing_px) if indented else 0,
    )
    grays, true_boxes = [], []
    for gray, boxes in zip(made.pages, made.boxes, strict=True):
        if scanned:
            damage = {key: float(rng.uniform(*span)) for key, span in SCAN_DAMAGE.items()}
            gray, boxes = synthetic.degrade(
                gray, boxes, rng, **damage, binarize_1bit=bool(rng.random() < 0.5)
            )
        grays.append(gray)
        true_boxes.append(boxes)
    rows, truth, cue_ms = [], [], []
    params = config["movements"]
    with tempfile.TemporaryDirectory() as folder:
        pdf_path = Path(folder) / "file.pdf"
        pdf_path.write_bytes(synthetic.image_pdf(grays, SYNTHETIC_DPI, "gray-lossless"))
        pipeline = segment_page.process_pdf_pages(
            pdf_path,
            range(1, len(grays) + 1),
            config["render"],
            config["clean"],
            config["segment"],
        )
        for page_index, processed in enumerate(pipeline):
            systems = processed.result.systems
            if not systems:
                continue
            start = time.process_time()  # CPU time: the machine may be shared
            cues = movements.system_cues(
                processed.cleaned, systems, processed.result.metrics.line_thickness_px, params
            )
            cue_ms.append((time.process_time() - start) * 1000.0)
            moved = synthetic.transform_boxes(true_boxes[page_index], processed.matrix)
            for system, cue in zip(systems, cues, strict=True):
                box = system.staff_box
                overlaps = [
                    (min(box[3], t[3]) - max(box[1], t[1]))
                    / max(1.0, min(box[3] - box[1], t[3] - t[1]))
                    for t in moved
                ]
                best = int(np.argmax(overlaps)) if overlaps else -1
                matched = best >= 0 and overlaps[best] >= 0.5
                truth.append((page_index, best) if matched else None)
                rows.append({"page": page_index, **cue})
    predicted = movements.movement_starts(rows, params) if rows else []
    true_start_ids = {
        (page_index, k)
        for page_index, starts in enumerate(made.starts)
        for k, start in enumerate(starts)
        if start and (page_index, k) != (0, 0)
    }
    found = {t for t, p in zip(truth, predicted, strict=True) if p and t is not None}
    tp = len(true_start_ids & found)
    fp = sum(
        1
        for i, (t, p) in enumerate(zip(truth, predicted, strict=True))
        if p and i > 0 and t not in true_start_ids
    )
    fired = movements.fired_cues(rows, params) if rows else []
    scores = movements.start_scores(rows, params) if rows else []
    # Each missed start: the piece before it, how that piece's last system ends, what fired.
    piece_of_start = [SYNTHETIC_PIECES[i][1] for i in chosen]
    start_order = sorted(true_start_ids)
    misses = []
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        if t in true_start_ids and not p:
            before = rows[i - 1] if i > 0 else {}
            misses.append(
                {
                    "after": piece_of_start[start_order.index(t)],
                    "page": t[0] + 1,
                    "score": round(float(scores[i]), 2),
                    "fired": "+".join(k for k, on in fired[i].items() if on) or "none",
                    "end_before": (
                        "final barline"
                        if before.get("ends_with_final_barline")
                        else f"{before.get('end_bars', 0)} bar(s)"
                        + (", double" if before.get("end_double_bar") else "")
                    ),
                }
            )
    cue_counts = {}
    for t, f in zip(truth, fired, strict=True):
        if t in true_start_ids:
            for name, on in f.items():
                cue_counts[name] = cue_counts.get(name, 0) + int(on)
    return {
        "seed": seed,
        "scanned": scanned,
        "indented": indented,
        "cue_ms": cue_ms,
        "pages": len(grays),
        "pieces": [SYNTHETIC_PIECES[i][1] for i in chosen],
        "font": font,
        "counts": {"tp": tp, "fp": fp, "fn": len(true_start_ids) - tp},
        "cues_at_true_starts": cue_counts,
        "misses": misses,
    }


def render_synthetic(results: list[dict]) -> str:
    lines = [
        "## Synthetic: three corpus pieces joined per file",
        "",
        "Each piece engraved by verovio with its title block and final barline; verovio does",
        "not indent a first system, so half the files have it squeezed in by 8-12 sp",
        "(`synthetic.movement_file(first_indent_px=...)`), half keep it flush.",
        "",
        "| subset | files | true boundaries found | false starts | missed "
        "| precision | recall | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for scanned in (False, True):
        for indented in (True, False):
            part = [r for r in results if r["scanned"] == scanned and r["indented"] == indented]
            if not part:
                continue
            counts = _sum([r["counts"] for r in part])
            precision, recall, f1 = prf(counts)
            name = f"{'scanned' if scanned else 'clean'}, {'indented' if indented else 'flush'}"
            lines.append(
                f"| {name} | {len(part)} | {counts['tp']} | {counts['fp']} | {counts['fn']} | "
                f"{precision:.3f} | {recall:.3f} | {f1:.3f} |"
            )
    counts = _sum([r["counts"] for r in results])
    precision, recall, f1 = prf(counts)
    lines.append(
        f"| all | {len(results)} | {counts['tp']} | {counts['fp']} | {counts['fn']} | "
        f"{precision:.3f} | {recall:.3f} | {f1:.3f} |"
    )
    totals: dict[str, int] = {}
    for r in results:
        for name, n in r["cues_at_true_starts"].items():
            totals[name] = totals.get(name, 0) + n
    ms = np.array([m for r in results for m in r["cue_ms"]])
    lines += [
        "",
        "Cues firing at the true starts (all files): "
        + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())),
        "",
        f"system_cues at {SYNTHETIC_DPI} dpi (CPU time): median {np.median(ms):.1f} ms per "
        f"page, 95th percentile {np.percentile(ms, 95):.1f} ms ({len(ms)} pages).",
        "",
        "Missed starts (the piece before them, how its last system ends, the cues that fired):",
        "",
        *[
            f"- seed {r['seed']} page {m['page']}: after {m['after']} "
            f"({m['end_before']}), score {m['score']}: {m['fired']}"
            for r in results
            for m in r.get("misses", [])
        ],
        "",
        "As music21's corpus encodes them, Mazurka Op. 6 No. 2 ends in a thin double bar",
        "after a fermata, not a final barline, and Polonaise Op. 1 No. 1 with *D.C. al Fine*",
        "text after its final barline, past which verovio draws the staff lines on (so no",
        "bar stands at the system's end); a flush piece after either shows only a heading,",
        "a wide gap or a time signature.",
        "",
        "| seed | subset | pages | font | pieces | found | false | missed |",
        "|---:|---|---:|---|---|---:|---:|---:|",
    ]
    for r in results:
        c = r["counts"]
        subset = (
            f"{'scanned' if r['scanned'] else 'clean'}, {'indented' if r['indented'] else 'flush'}"
        )
        lines.append(
            f"| {r['seed']} | {subset} | {r['pages']} | "
            f"{r['font']} | {', '.join(r['pieces'])} | {c['tp']} | {c['fp']} | {c['fn']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", help=f"snapshot root (default ${realpages.MIRROR_ENV})")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=BENCHMARK_DIR / ".cache" / "movements")
    parser.add_argument(
        "--config", type=Path, default=BENCHMARK_DIR.parent / "config" / "config.yaml"
    )
    parser.add_argument("--segment-only", action="store_true")
    parser.add_argument("--synthetic-files", type=int, default=16, help="half clean, half scanned")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCHMARK_DIR / "results" / "movements.md")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    params = config["movements"]
    report = "# Movement boundaries\n\n"
    if not args.skip_real:
        git_dir = realpages.snapshot_dir(DINOSCORE, args.mirror)
        commit = _git(git_dir, "rev-parse", "HEAD").decode().strip()
        works = dinoscore_works(git_dir, commit)
        folders = [work_cache_dir(args.cache, config, work["work"]) for work in works]
        segmentation.parallel_map(
            segment_work,
            [(w, git_dir, commit, config, f) for w, f in zip(works, folders, strict=True)],
            args.jobs,
        )
        if args.segment_only:
            return 0
        all_rows = segmentation.parallel_map(
            _cues_of, [(folder, params) for folder in folders], args.jobs
        )
        real = evaluate_real(works, all_rows, params)
        report += render_real(real, params) + "\n"
    synthetic_cache = BENCHMARK_DIR / ".cache" / "movements-synthetic"
    synthetic_items = [
        (seed, seed % 2 == 1, synthetic_cache, config) for seed in range(args.synthetic_files)
    ]
    report += render_synthetic(
        segmentation.parallel_map(synthetic_file, synthetic_items, args.jobs)
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


def _short(work: str) -> str:
    composer, _, title = work.partition(" – ")
    return f"{composer.split(',')[0]} – {title}"


def _sum(counts: list[dict]) -> dict:
    return {key: sum(c[key] for c in counts) for key in ("tp", "fp", "fn")}


def _row_line(label: str, counts: dict, extra: str = "") -> str:
    precision, recall, f1 = prf(counts)
    return (
        f"| {label} | {extra}{counts['tp']} | {counts['fp']} | {counts['fn']} | "
        f"{precision:.3f} | {recall:.3f} | {f1:.3f} |"
    )


def _cue_text(row: dict, fired: dict, gap_ratio: float) -> str:
    names = [name for name, on in fired.items() if on] or ["none"]
    return (
        f"{'+'.join(names)} (indent {row['indent_sp']:.1f} sp, gap x{gap_ratio:.2f}, "
        f"heading ink {row['heading_ink_share']:.3f}, time sig {row['time_signature']:.2f})"
    )


def render_real(results: list[dict], params: dict) -> str:
    """The real part of the report: totals per half, per work, misses, false starts, and ten
    boundaries found with their cues."""
    lines = [
        "## Real: DiNoScore works not reserved",
        "",
        "Their convention (read from every non-reserved work's `piece_starts`): the first system",
        "of every numbered movement of a sonata (I., II., ...) or piece of a set (1., 2., ...) is",
        "a start, the file's first system included; sections inside a movement are not (a",
        "minuet's trio, a theme's variations, a new tempo or time). One work lacks a movement:",
        "Op. 10 No. 2 lists I and III only, so its II (Allegretto, their system 39, indented",
        "with a heading) counts against us as a false start when found. Boundaries below leave",
        "out each file's first system (a start by definition). Works alternate, in name order,",
        "between the tuning half and the held-back half.",
        "",
    ]
    header = "| {} | true boundaries found | false starts | missed | precision | recall | F1 |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    lines += [header.format("half"), rule]
    for half in ("tune", "held"):
        part = [r for r in results if r["half"] == half]
        lines.append(_row_line(f"{half} ({len(part)} works)", _sum([r["counts"] for r in part])))
    lines.append(_row_line(f"all ({len(results)} works)", _sum([r["counts"] for r in results])))
    multi = [r for r in results if r["pieces"] > 1]
    lines.append(
        _row_line(f"works of several pieces ({len(multi)})", _sum([r["counts"] for r in multi]))
    )
    lines += ["", "Per work (pages, pieces by DiNoScore, systems ours/theirs):", ""]
    lines += [
        "| work | half | pages | pieces | systems | found | false | missed | P | R | F1 |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        precision, recall, f1 = prf(r["counts"])
        c = r["counts"]
        lines.append(
            f"| {_short(r['work'])} | {r['half']} | {r['pages']} | {r['pieces']} | "
            f"{r['systems_ours']}/{r['systems_theirs']} | {c['tp']} | {c['fp']} | {c['fn']} | "
            f"{precision:.2f} | {recall:.2f} | {f1:.2f} |"
        )
    misses, false_starts, found = [], [], []
    for r in results:
        fired = movements.fired_cues(r["rows"], params) if r["rows"] else []
        gaps = movements.file_gap_ratios(r["rows"]) if r["rows"] else []
        starts = {int(key): title for key, title in r["work_starts"].items()}
        located = {}
        for index, number in enumerate(r["matched"]):
            if number is not None and number not in located:
                located[number] = index
        for number, title in starts.items():
            if number == 0:
                continue
            index = located.get(number)
            if index is None:
                misses.append(
                    f"- {_short(r['work'])}: {title!r} (their system {number}) "
                    "not matched to a system of ours"
                )
            elif not r["predicted"][index]:
                row = r["rows"][index]
                misses.append(
                    f"- {_short(r['work'])} p{row['page']}: {title!r}, score "
                    f"{r['scores'][index]:.2f}: {_cue_text(row, fired[index], gaps[index])}"
                )
            else:
                row = r["rows"][index]
                found.append(
                    f"- {_short(r['work'])} p{row['page']} system {row['index_on_page']}: "
                    f"{title!r}: {_cue_text(row, fired[index], gaps[index])}"
                )
        for index, start in enumerate(r["predicted"]):
            if start and index > 0 and not r["truth"][index]:
                row = r["rows"][index]
                false_starts.append(
                    f"- {_short(r['work'])} p{row['page']} system {row['index_on_page']} "
                    f"(their system {r['matched'][index]}), score {r['scores'][index]:.2f}: "
                    f"{_cue_text(row, fired[index], gaps[index])}"
                )
    lines += ["", f"### Misses ({len(misses)})", "", *misses]
    lines += ["", f"### False starts ({len(false_starts)})", "", *false_starts]
    step = max(1, len(found) // 10)
    lines += ["", "### Ten boundaries found (every n-th), with the cues that fired", ""]
    lines += found[::step][:10]
    cue_ms = [
        (row["cue_ms"], row["page_width_px"])
        for r in results
        for row in r["rows"]
        if row["index_on_page"] == 0
    ]
    if cue_ms:
        ms = np.array([m for m, _ in cue_ms])
        widths = np.array([w for _, w in cue_ms])
        lines += [
            "",
            f"system_cues (CPU time): median {np.median(ms):.1f} ms per page, 95th percentile "
            f"{np.percentile(ms, 95):.1f} ms, over {len(ms)} pages of median width "
            f"{np.median(widths):.0f} px (about 600 dpi).",
        ]
    return "\n".join(lines) + "\n"


def _cues_of(item: tuple[Path, dict]) -> list[dict]:
    return cached_work_cues(*item)


def evaluate_real(works: list[dict], all_rows: list[list[dict]], params: dict) -> list[dict]:
    """Per work: its half (tune or held), counts, and every system's truth, prediction and
    cues (for the lists of misses and false starts)."""
    results = []
    for work, rows in zip(works, all_rows, strict=True):
        predicted = movements.movement_starts(rows, params) if rows else []
        scores = movements.start_scores(rows, params) if rows else []
        truth, matched = true_starts(rows, work["staves"])
        truth_starts = {int(key) for key in work["staves"]["piece_starts"]}
        counts = score_boundaries(truth_starts, matched, predicted)
        results.append(
            {
                "work": work["work"],
                "half": work["half"],
                "pieces": len(truth_starts),
                "systems_theirs": len(work["staves"]["staves"]),
                "systems_ours": len(rows),
                "pages": len(work["tifs"]),
                "counts": counts,
                "rows": rows,
                "truth": truth,
                "matched": matched,
                "predicted": predicted,
                "scores": scores,
                "work_starts": work["staves"]["piece_starts"],
            }
        )
    return results


if __name__ == "__main__":
    sys.exit(main())
