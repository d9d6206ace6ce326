"""Key signature benchmark: the key signature read at the start of every system, against truth.

Usage::

    python benchmarks/key_signature.py [--engravings 52] [--seed 0] [--jobs 2] [--no-real]
        [--out benchmarks/results/key_signature.md]

What it does:

1. Synthetic: piano works of the music21 corpus, each transposed (music21) to a key from six
   flats to six sharps, engraved by verovio in its five music fonts at staff spacings of about
   7 to 25 pixels (staff size and 150, 200 or 300 dpi). The truth of every system is the
   ``keySig`` of its first measure in verovio's SVG
   (``synthetic.EngravedSystem.key_signature_fifths``; checked by eye on the first system of
   five pages, one per font, in keys -6, -3, 0, 3 and 6). Every page is read clean and once more
   damaged to look scanned (``synthetic.degrade`` with the segmentation benchmark's random
   scanner damage, 1-bit or gray).
2. Real: the systems of ``real/labels_key_signature.json`` (key signatures read by eye on the
   labelled real pages, each with the index of its system in ``real/labels/<page_id>.json``).
3. Each page goes through the workflow's page pipeline
   (``visionscores.segment.page.process_pdf_pages`` on an image-only PDF, with the render,
   clean and segment sections of the config), then the segment stage's reading of the page
   (``visionscores.segment.sequence.read_page``: ``key_signature.system_key_signature`` with
   the config's ``key_signature:`` section on each system found, none on a page whose staff
   lines were found only at the lowest contrast). Found systems are matched to
   true ones by their staff boxes (IoU >= 0.5); a true system not found counts as not read.
4. Prints accuracy per subset (clean, scanned gray, scanned 1-bit, real), for the tuning
   half and the held-out half (engravings and real pages of odd index), per font, staff
   spacing (as drawn: the segmenter's measure is meaningless where it fails) and number of
   accidentals, and the confusion of the failures, as markdown.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import multiprocessing
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from visionscores.segment import page as segment_page
from visionscores.segment import sequence
from visionscores_tools import evaluation, synthetic

BENCHMARK_DIR = Path(__file__).resolve().parent
REPO = BENCHMARK_DIR.parent
if str(BENCHMARK_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARK_DIR))

import segmentation  # noqa: E402  (lives next to this script: the scanner damage)

CACHE_VERSION = 1
MATCH_MIN_IOU = 0.5
# music21 corpus piano works (two staves a system), in their own keys.
WORKS = (
    "bach/bwv846",
    "cpebach/h186",
    "joplin/maple_leaf_rag",
    "mozart/k545",
    "chopin/mazurka06-2",
    "schumann_clara/polonaise_op1n1",
    "schumann_clara/polonaise_op1n2",
    "schumann_clara/polonaise_op1n3",
    "schumann_clara/polonaise_op1n4",
    "schoenberg/opus19/movement2",
)
FONTS = ("Leipzig", "Bravura", "Gootville", "Leland", "Petaluma")
TARGET_KEYS = tuple(range(-6, 7))
DPI_CHOICES = (150, 200, 300)
SPACING_BINS_PX = ((0, 11), (11, 16), (16, 21), (21, 26), (26, 1000))


@dataclass(frozen=True)
class Engraving:
    """One engraved page: a work moved to ``target_fifths``, and every engraving parameter."""

    source: str
    target_fifths: int
    font: str
    staff_space_mm: float
    dpi: int
    spacing_system: int

    def cache_key(self) -> str:
        text = json.dumps({"v": CACHE_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def plan(seed: int, n_engravings: int) -> list[Engraving]:
    """Seeded engravings: target keys and fonts in cycles, works, sizes and dpi at random."""
    rng = np.random.default_rng([seed, 7])
    engravings = []
    for i in range(n_engravings):
        engravings.append(
            Engraving(
                source=WORKS[int(rng.integers(len(WORKS)))],
                target_fifths=TARGET_KEYS[i % len(TARGET_KEYS)],
                font=FONTS[i % len(FONTS)],
                staff_space_mm=round(float(rng.uniform(1.3, 2.1)), 2),
                dpi=int(DPI_CHOICES[int(rng.integers(len(DPI_CHOICES)))]),
                spacing_system=int(rng.integers(8, 16)),
            )
        )
    return engravings


def transposed_musicxml(source: str, target_fifths: int, folder: Path) -> Path:
    """The work moved by whole fifths so that its first key signature is ``target_fifths``."""
    from music21 import interval, key, pitch

    score = synthetic.load_score(source)
    signatures = score.flatten().getElementsByClass(key.KeySignature)
    first = signatures[0].sharps if signatures else 0
    shift = target_fifths - first
    moved = pitch.Pitch("C4")
    for _ in range(abs(shift)):
        moved = moved.transpose("P5" if shift > 0 else "P-5")
    moved.octave = 4
    if shift:
        score = score.transpose(interval.Interval(pitch.Pitch("C4"), moved))
    path = folder / f"{source.replace('/', '-')}-{target_fifths}.musicxml"
    score.write("musicxml", fp=str(path))
    return path


def engraved_page(engraving: Engraving, cache_dir: Path) -> dict:
    """The first page of an engraving: gray image, true boxes and key signatures (cached)."""
    path = cache_dir / f"keysig-{engraving.cache_key()}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    import verovio

    verovio.enableLog(verovio.LOG_ERROR)
    with tempfile.TemporaryDirectory() as folder:
        source = transposed_musicxml(engraving.source, engraving.target_fifths, Path(folder))
        page = synthetic.engrave(
            source,
            font=engraving.font,
            staff_space_mm=engraving.staff_space_mm,
            spacing_system=engraving.spacing_system,
            max_pages=1,
        )[0]
    gray, boxes = synthetic.rasterize(page, engraving.dpi)
    keys = np.array([k if k is not None else 99 for k in page.key_signatures], dtype=np.int64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{multiprocessing.current_process().pid}.partial.npz")
    np.savez_compressed(partial, gray=gray, boxes=boxes, keys=keys)
    partial.replace(path)
    return {"gray": gray, "boxes": boxes, "keys": keys}


def process_as_pdf(gray: np.ndarray, dpi: float, mode: str, config: dict):
    """A page image wrapped as an image-only PDF, through the workflow's page pipeline."""
    with tempfile.TemporaryDirectory() as folder:
        pdf_path = Path(folder) / "page.pdf"
        pdf_path.write_bytes(synthetic.image_pdf([gray], dpi, mode))
        (processed,) = segment_page.process_pdf_pages(
            pdf_path, [1], config["render"], config["clean"], config["segment"]
        )
    return processed


def read_page(gray: np.ndarray, dpi: float, mode: str, config: dict) -> tuple[list, list, float]:
    """The workflow's page pipeline, then the key signature of every system found.

    Returns (found staff boxes in the input image's pixels, key signatures, staff spacing).
    """
    processed = process_as_pdf(gray, dpi, mode, config)
    result = processed.result
    if result.metrics is None:
        return [], [], float("nan")
    # The segment stage's own reading of the page, key signatures included.
    keys = sequence.read_page(
        processed.cleaned, result, config["movements"], config["key_signature"]
    ).fifths
    return result.staff_boxes, keys, result.metrics.staff_spacing_px


def score_systems(found_boxes, found_keys, true_boxes, true_keys) -> list[tuple]:
    """(true, read, found) per true system; read is None when the system was not found."""
    matches = {t: p for p, t, _ in evaluation.match_boxes(found_boxes, true_boxes, MATCH_MIN_IOU)}
    return [
        (int(true), found_keys[matches[i]] if i in matches else None, i in matches)
        for i, true in enumerate(true_keys)
    ]


def run_synthetic(task: tuple[Engraving, Path, dict, int, int]) -> list[dict]:
    """Both variants (clean, scanned) of one engraved page; one row per true system.

    ``half`` (0 or 1) tags the rows: the parameters are tuned on half 0, half 1 is held out.
    """
    engraving, cache_dir, config, seed, half = task
    try:
        page = engraved_page(engraving, cache_dir)
    except Exception as error:  # music21 cannot write some transposed works (odd durations)
        print(f"{engraving}: not engraved ({error}): left out", file=sys.stderr)
        return []
    rows = []
    rng = np.random.default_rng([seed, int(engraving.cache_key()[:8], 16)])
    scan = segmentation.sample_scan(rng)
    variants = [("clean", page["gray"], page["boxes"], "gray-lossless")]
    damaged, moved = synthetic.degrade(page["gray"], page["boxes"], rng, **scan)
    subset = "scanned 1-bit" if scan["binarize_1bit"] else "scanned gray"
    variants.append((subset, damaged, moved, "1bit" if scan["binarize_1bit"] else "gray-lossless"))
    # The staff spacing the page was drawn with (the scanner's scale included): what the
    # segmenter measures may be anything on a page where it fails.
    drawn_spacing_px = engraving.staff_space_mm * engraving.dpi / 25.4
    scales = {"clean": 1.0, subset: scan["scale"]}
    for subset, gray, boxes, mode in variants:
        start = time.perf_counter()
        found_boxes, found_keys, spacing = read_page(gray, engraving.dpi, mode, config)
        seconds = time.perf_counter() - start
        pairs = score_systems(found_boxes, found_keys, boxes, page["keys"])
        for index, (true, read, found) in enumerate(pairs):
            rows.append(
                {
                    "found": found,
                    "subset": subset,
                    "page": f"{engraving.source}@{engraving.target_fifths}/{engraving.font}"
                    f"/{engraving.dpi}dpi/{engraving.staff_space_mm}mm",
                    "system": index,
                    "font": engraving.font,
                    "spacing_px": spacing,
                    "drawn_spacing_px": drawn_spacing_px * scales[subset],
                    "half": half,
                    "true": true,
                    "read": read,
                    "page_seconds": seconds / max(1, len(pairs)),
                }
            )
    return rows


def real_tasks(real_dir: Path) -> list[dict]:
    """The hand-read key signatures, grouped by page, with the page's image and label."""
    path = real_dir / "labels_key_signature.json"
    if not path.exists():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))["systems"]
    by_page = collections.defaultdict(list)
    for entry in entries:
        by_page[entry["page_id"]].append(entry)
    tasks = []
    for page_id, page_entries in sorted(by_page.items()):
        image = real_dir / "cache" / f"{page_id}.png"
        if not image.exists():
            print(f"{page_id}: no image in the cache (run fetch.py): left out", file=sys.stderr)
            continue
        label = json.loads((real_dir / "labels" / f"{page_id}.json").read_text(encoding="utf-8"))
        tasks.append({"page_id": page_id, "image": image, "label": label, "entries": page_entries})
    return tasks


def run_real(task: tuple[dict, dict, int]) -> list[dict]:
    """One real page: the hand-read systems against what is read on the found systems
    (``half`` as in :func:`run_synthetic`)."""
    item, config, half = task
    gray = cv2.imread(str(item["image"]), cv2.IMREAD_GRAYSCALE)
    cached = json.loads(item["image"].with_suffix(".json").read_text(encoding="utf-8"))
    dpi = float(cached.get("dpi") or 600)
    mode = "1bit" if np.isin(gray, (0, 255)).all() else "gray-lossless"
    start = time.perf_counter()
    found_boxes, found_keys, spacing = read_page(gray, dpi, mode, config)
    seconds = time.perf_counter() - start
    systems = item["label"]["systems"]
    true_boxes = [s["staff_bbox"] for s in systems]
    true_keys = [None] * len(systems)
    for entry in item["entries"]:
        true_keys[entry["system"]] = entry["fifths"]
    matches = {t: p for p, t, _ in evaluation.match_boxes(found_boxes, true_boxes, MATCH_MIN_IOU)}
    rows = []
    for entry in item["entries"]:
        index = entry["system"]
        read = found_keys[matches[index]] if index in matches else None
        rows.append(
            {
                "found": index in matches,
                "subset": "real",
                "page": item["page_id"],
                "system": index,
                "font": "real",
                "spacing_px": spacing,
                "half": half,
                "true": entry["fifths"],
                "read": read,
                "page_seconds": seconds / max(1, len(systems)),
            }
        )
    return rows


def _accuracy_row(name: str, rows: list[dict]) -> str:
    n = len(rows)
    found = sum(r["found"] for r in rows)
    right = sum(r["read"] == r["true"] for r in rows)
    unread = sum(r["read"] is None for r in rows)
    wrong = n - right - unread
    accuracy = right / n if n else float("nan")
    on_found = right / found if found else float("nan")
    return (
        f"| {name} | {n} | {found} | {right} | {wrong} | {unread} | {accuracy:.3f}"
        f" | {on_found:.3f} |"
    )


def report(rows: list[dict], args, seconds: float) -> str:
    header = (
        "| subset | systems | found by the segmenter | right | wrong | not read (None) |"
        " accuracy | accuracy on found systems |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [
        "# Key signature benchmark",
        "",
        f"`python benchmarks/key_signature.py --engravings {args.engravings} --seed {args.seed}`"
        f" ({len(rows)} systems, {seconds:.0f} s on {args.jobs} workers). A system is right when"
        " `system_key_signature` returns its true key signature; a true system the segmenter"
        " did not find counts as not read.",
        "",
        "## By subset",
        "",
        header,
    ]
    subsets = ["clean", "scanned gray", "scanned 1-bit", "real"]
    for subset in subsets:
        chosen = [r for r in rows if r["subset"] == subset]
        if chosen:
            lines.append(_accuracy_row(subset, chosen))
    synthetic_rows = [r for r in rows if r["subset"] != "real"]
    lines.append(_accuracy_row("all synthetic", synthetic_rows))
    lines += [
        "",
        "## Tuning half and held-out half",
        "",
        "Synthetic engravings of even index in the plan and real pages of even index (page ids"
        " sorted) are the tuning half; the others are held out: the reader was not tuned on them.",
        "",
        header,
    ]
    for subset in ["all synthetic", "real"]:
        for half, name in ((0, "tuning"), (1, "held out")):
            chosen = [
                r
                for r in rows
                if r["half"] == half and (r["subset"] == "real") == (subset == "real")
            ]
            if chosen:
                lines.append(_accuracy_row(f"{subset}, {name}", chosen))
    lines += ["", "## Synthetic, by font", "", header]
    for font in FONTS:
        lines.append(_accuracy_row(font, [r for r in synthetic_rows if r["font"] == font]))
    lines += ["", "## Synthetic, by staff spacing (pixels, as drawn on the page)", "", header]
    for low, high in SPACING_BINS_PX:
        chosen = [r for r in synthetic_rows if low <= r["drawn_spacing_px"] < high]
        if chosen:
            lines.append(_accuracy_row(f"{low}-{high}", chosen))
    lines += ["", "## By number of accidentals (true)", "", header]
    for count in range(0, 8):
        for subset_name, chosen_rows in (("synthetic", synthetic_rows), ("real", rows)):
            chosen = [
                r
                for r in chosen_rows
                if abs(r["true"]) == count and (subset_name != "real" or r["subset"] == "real")
            ]
            if chosen:
                lines.append(_accuracy_row(f"{count} ({subset_name})", chosen))
    lines += ["", "## Failures on found systems: true -> read (count)", ""]
    for subset in subsets:
        confusion = collections.Counter(
            (r["true"], r["read"])
            for r in rows
            if r["subset"] == subset and r["found"] and r["read"] != r["true"]
        )
        if confusion:
            pairs = ", ".join(f"{t} -> {p}: {n}" for (t, p), n in confusion.most_common())
            lines.append(f"- {subset}: {pairs}")
    lines += [
        "",
        "## Failed systems",
        "",
        "| subset | page | system | found | true | read |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["read"] != r["true"]:
            lines.append(
                f"| {r['subset']} | {r['page']} | {r['system']} | {r['found']} | {r['true']}"
                f" | {r['read']} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engravings", type=int, default=52)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--config", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--cache", type=Path, default=BENCHMARK_DIR / ".cache")
    parser.add_argument("--real-dir", type=Path, default=BENCHMARK_DIR / "real")
    parser.add_argument("--no-real", action="store_true")
    parser.add_argument("--no-synthetic", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCHMARK_DIR / "results/key_signature.md")
    parser.add_argument("--rows-json", type=Path, help="also write one row per system here")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    start = time.perf_counter()
    rows: list[dict] = []
    if not args.no_synthetic:
        tasks = [
            (e, args.cache, config, args.seed, i % 2)
            for i, e in enumerate(plan(args.seed, args.engravings))
        ]
        for page_rows in segmentation.parallel_map(run_synthetic, tasks, args.jobs):
            rows += page_rows
    if not args.no_real:
        for page_rows in segmentation.parallel_map(
            run_real,
            [(t, config, i % 2) for i, t in enumerate(real_tasks(args.real_dir))],
            args.jobs,
        ):
            rows += page_rows
    text = report(rows, args, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    if args.rows_json:
        args.rows_json.write_text(json.dumps(rows, indent=0), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
