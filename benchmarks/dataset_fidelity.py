"""Dataset fidelity: what the real workflow keeps, against true two-staff piano systems.

Usage::

    python benchmarks/dataset_fidelity.py [--synthetic-pages 150] [--seed 0]
        [--real-dir benchmarks/real] [--no-real] [--real-tag TAG] [--cores 2] [--workdir DIR]
        [--out benchmarks/results/dataset_fidelity.md]

What it does:

1. Gathers pages with known truth: the synthetic pages of ``segmentation.py`` (exact truth:
   piano pages, voice-and-piano songs, negatives; clean or damaged to look scanned, some
   1-bit) and the checked labelled real pages under ``--real-dir`` (``labels/<page_id>.json``
   and the page images that ``fetch.py`` brings into ``cache/``; see its README).
2. Wraps the pages as image-only PDFs, as IMSLP scans are (8-bit lossless, or 1-bit when a
   page holds only black and white), 25 pages to a score file, places them where acquire
   takes them as already fetched, and runs the real workflow (``snakemake``) on them with
   the shipped config: render, clean, segment, judge, format, publish.
3. Scores every page: candidate systems against all true systems (precision, recall, F1 at
   IoU >= 0.5 and 0.75, mean IoU, staff-count accuracy), and the kept samples against the
   true two-staff piano systems (dataset precision and recall; a kept sample is correct when
   it covers one true two-staff piano system with IoU >= 0.75, so part of a system or the
   piano pair of an ensemble system counts as wrong). One row per subset; every wrong kept
   sample and every lost system is listed with its cause.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq

from visionscores_tools import evaluation, synthetic

BENCHMARK_DIR = Path(__file__).resolve().parent
REPO = BENCHMARK_DIR.parent
sys.path.insert(0, str(BENCHMARK_DIR))
segmentation = importlib.import_module("segmentation")

PAGES_PER_FILE = 25
MATCH_IOU = 0.5  # a candidate found for a true system
WHOLE_IOU = 0.75  # a kept sample that is the whole true system
SCENARIO = "fidelity"
DEFAULT_IMAGE_DPI = 300  # page size of an image whose resolution is not known


@dataclass
class TruthSystem:
    """A true system: tight staff box (page pixels), staves, and what it is."""

    staff_bbox: list[float]
    n_staves: int
    kind: str  # "piano", "ensemble" or "other"

    @property
    def is_piano_pair(self) -> bool:
        return self.kind == "piano" and self.n_staves == 2


@dataclass
class Page:
    """One benchmark page: its image, resolution, truth and the subsets it belongs to."""

    page_id: str
    gray: np.ndarray | None  # None: read from image_path when its PDF page is written
    dpi: float
    truth: list[TruthSystem]
    subsets: list[str] = field(default_factory=list)
    image_path: Path | None = None

    def image(self) -> np.ndarray:
        """The page's gray image (a real page is read from the cache only when needed, so
        that hundreds of photographed pages are never all in memory at once)."""
        if self.gray is not None:
            return self.gray
        return cv2.imread(str(self.image_path), cv2.IMREAD_GRAYSCALE)


# --------------------------------------------------------------------------------------------
# Gathering pages
# --------------------------------------------------------------------------------------------


def synthetic_pages(n_pages: int, seed: int, cache_dir: Path, jobs: int) -> list[Page]:
    """The segmentation benchmark's synthetic pages, with their exact truth and subsets."""
    specs = segmentation.page_specs(n_pages, seed, cache_dir, jobs)
    pages = []
    for spec in specs:
        gray, boxes, n_staves, _ = segmentation.make_page(spec, cache_dir)
        song = spec.engraving is not None and spec.engraving.source in {
            work[0] for work in segmentation.SONG_WORKS
        }
        kind = "ensemble" if song else "piano"
        truth = [
            TruthSystem([float(v) for v in box], int(staves), kind if staves > 1 else "other")
            for box, staves in zip(boxes.tolist(), n_staves, strict=True)
        ]
        if spec.subset == "negative":
            subsets = ["synthetic negative"]
        elif song:
            subsets = ["synthetic ensemble"]
        elif not spec.scan:
            subsets = ["synthetic clean"]
        elif spec.scan.get("binarize_1bit"):
            subsets = ["synthetic 1-bit scan"]
        else:
            subsets = ["synthetic gray scan"]
        dpi = spec.engraving.dpi if spec.engraving else segmentation.NEGATIVE_DPI
        pages.append(Page(f"syn-{spec.page_id}", gray, float(dpi), truth, subsets))
    return pages


# Real-page tags -> subsets of the table (a page can be in several).
REAL_SUBSETS = {
    "piano": "real piano",
    "ensemble": "real ensemble",
    "negative": "real negative",
    "1bit": "real 1-bit scan",
    "gray": "real gray scan",
    "lowres": "real low-res",
    "photo": "real photo",
    "dense": "real dense",
    "broken-lines": "real broken lines",
    "indented": "real indented",
    "title": "real title",
}


def real_pages(real_dir: Path) -> list[Page]:
    """Labelled real pages whose image is in the cache (``fetch.py`` brings them)."""
    tags = {}
    for sources in sorted((real_dir / "sources").glob("*.csv")):
        with open(sources, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if "page_id" in row and "tags" in row:
                    tags[row["page_id"]] = [t for t in row["tags"].split(";") if t]
    pages = []
    missing = []
    for label_path in sorted((real_dir / "labels").glob("*.json")):
        label = json.loads(label_path.read_text(encoding="utf-8"))
        if not label.get("checked"):
            continue  # a draft nobody has checked yet is no truth
        page_id = label["page_id"]
        image_path = real_dir / "cache" / f"{page_id}.png"
        if not image_path.exists():
            missing.append(page_id)
            continue
        cached = json.loads(image_path.with_suffix(".json").read_text(encoding="utf-8"))
        size = (cached.get("width"), cached.get("height"))
        if size != (label["width"], label["height"]):
            raise SystemExit(f"{image_path}: size {size} differs from its label")
        truth = [
            TruthSystem([float(v) for v in s["staff_bbox"]], int(s["n_staves"]), s["kind"])
            for s in label["systems"]
        ]
        subsets = [REAL_SUBSETS[t] for t in tags.get(page_id, []) if t in REAL_SUBSETS]
        # An image file may not say its resolution; it only sets the PDF page's size.
        dpi = float(cached.get("dpi") or DEFAULT_IMAGE_DPI)
        pages.append(Page(page_id, None, dpi, truth, subsets, image_path=image_path))
    if missing:
        print(
            f"{len(missing)} labelled pages have no image in {real_dir / 'cache'}"
            " (run fetch.py): left out",
            file=sys.stderr,
        )
    return pages


# --------------------------------------------------------------------------------------------
# Running the workflow
# --------------------------------------------------------------------------------------------


def _is_bilevel(gray: np.ndarray) -> bool:
    return bool(np.isin(gray, (0, 255)).all())


def write_inputs(pages: Sequence[Page], workdir: Path) -> dict[tuple[str, int], Page]:
    """Score files of up to PAGES_PER_FILE pages placed as already fetched, the manifest and
    the config; returns (piece id, 1-based page) -> benchmark page."""
    pdf_dir = workdir / "resources/pdf"
    pdf_dir.mkdir(parents=True, exist_ok=True)
    where: dict[tuple[str, int], Page] = {}
    rows = []
    for start in range(0, len(pages), PAGES_PER_FILE):
        chunk = pages[start : start + PAGES_PER_FILE]
        piece_id = f"pages-{start // PAGES_PER_FILE:03d}"
        pdf = _pdf_of_pages(chunk)
        (pdf_dir / f"{piece_id}.pdf").write_bytes(pdf)
        rows.append(
            {
                "piece_id": piece_id,
                "scenario": SCENARIO,
                "title": piece_id,
                "composer": "various",
                "key": "",
                "imslp_page": "",
                "imslp_file_index": str(800000 + start // PAGES_PER_FILE),
                "source": "",
                "sha256": hashlib.sha256(pdf).hexdigest(),
            }
        )
        for number, page in enumerate(chunk, start=1):
            where[(piece_id, number)] = page
    with open(workdir / "fidelity.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (workdir / "fidelity.yaml").write_text(
        f"scenario: {SCENARIO}\nscenarios:\n  {SCENARIO}: {workdir / 'fidelity.csv'}\n",
        encoding="utf-8",
    )
    return where


def _pdf_of_pages(pages: Sequence[Page]) -> bytes:
    """One image-only PDF of several pages, each at its own resolution and depth."""
    import pymupdf

    out = pymupdf.open()
    for page in pages:
        gray = page.image()
        mode = "1bit" if _is_bilevel(gray) else "gray-lossless"
        one = pymupdf.open("pdf", synthetic.image_pdf([gray], page.dpi, mode))
        out.insert_pdf(one)
    return out.tobytes(garbage=3, deflate=False)


def run_workflow(workdir: Path, cores: int) -> float:
    """The real workflow up to publish; wall time in seconds."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir), "--cores", str(cores),
        "--configfile", str(workdir / "fidelity.yaml"), "--quiet", "all",
        "--until", "publish",
    ]  # fmt: skip
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"the workflow failed:\n{completed.stdout}\n{completed.stderr}")
    return time.perf_counter() - start


def read_candidates(workdir: Path, where: dict[tuple[str, int], Page]) -> dict[str, list[dict]]:
    """Judged candidates per benchmark page id; checks the dataset holds exactly the kept."""
    by_page: dict[str, list[dict]] = defaultdict(list)
    kept_ids = set()
    for piece_id in sorted({piece for piece, _ in where}):
        table = pq.read_table(workdir / f"results/judged/{piece_id}.parquet").to_pylist()
        for row in table:
            page = where[(piece_id, row["page"])]
            by_page[page.page_id].append(row)
            if row["keep"]:
                kept_ids.add(f"{piece_id}-p{row['page']:03d}-s{row['system_on_page']:02d}")
    metadata = workdir / f"results/dataset/{SCENARIO}/metadata.parquet"
    in_dataset = set(pq.read_table(metadata, columns=["sample_id"]).column(0).to_pylist())
    if in_dataset != kept_ids:
        raise SystemExit("the dataset's samples differ from the judged candidates kept")
    return by_page


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def kept_sample_problem(candidate: dict, truth: Sequence[TruthSystem]) -> str | None:
    """Why a kept sample is not one whole true two-staff piano system (None when it is)."""
    ious = [evaluation.box_iou(candidate["staff_bbox"], t.staff_bbox) for t in truth]
    best = int(np.argmax(ious)) if ious else -1
    if best < 0 or ious[best] < 0.05:
        return "no true system there"
    system = truth[best]
    if not system.is_piano_pair:
        return f"part of a {system.n_staves}-staff {system.kind} system"
    if ious[best] < WHOLE_IOU:
        return f"part of a piano system (IoU {ious[best]:.2f})"
    return None


def lost_system_cause(system: TruthSystem, candidates: Sequence[dict]) -> str | None:
    """Why a true two-staff piano system has no kept sample (None when it has one)."""
    ious = [evaluation.box_iou(c["staff_bbox"], system.staff_bbox) for c in candidates]
    whole = [i for i, iou in enumerate(ious) if iou >= WHOLE_IOU]
    if any(candidates[i]["keep"] for i in whole):
        return None
    if whole:
        best = max(whole, key=lambda i: ious[i])
        candidate = candidates[best]
        if candidate["n_staves"] != 2:
            return f"found with {candidate['n_staves']} staves"
        return f"rejected: {candidate['reason']} ({candidate['reason_value']})"
    touching = [i for i, iou in enumerate(ious) if iou >= 0.05]
    if not touching:
        return "not found"
    staves = sorted(candidates[i]["n_staves"] for i in touching)
    if len(touching) > 1:
        return f"split into {len(touching)} candidates of {staves} staves"
    best = touching[0]
    return f"found partly (IoU {ious[best]:.2f}, {staves[0]} staves)"


@dataclass
class Tally:
    pages: int = 0
    true_systems: int = 0
    candidates: int = 0
    matched_05: int = 0
    matched_075: int = 0
    iou_sum: float = 0.0
    staves_right: int = 0
    true_pairs: int = 0
    kept: int = 0
    kept_right: int = 0
    pairs_kept: int = 0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def score_page(page: Page, candidates: Sequence[dict]) -> tuple[Tally, list[str], list[str]]:
    """Counts of one page, and its wrong kept samples and lost systems, described."""
    tally = Tally(pages=1, true_systems=len(page.truth), candidates=len(candidates))
    boxes = [c["staff_bbox"] for c in candidates]
    true_boxes = [t.staff_bbox for t in page.truth]
    for predicted, true, iou in evaluation.match_boxes(boxes, true_boxes, MATCH_IOU):
        tally.matched_05 += 1
        tally.matched_075 += iou >= WHOLE_IOU
        tally.iou_sum += iou
        tally.staves_right += candidates[predicted]["n_staves"] == page.truth[true].n_staves
    wrong, lost = [], []
    for candidate in candidates:
        if not candidate["keep"]:
            continue
        tally.kept += 1
        problem = kept_sample_problem(candidate, page.truth)
        if problem is None:
            tally.kept_right += 1
        else:
            box = ", ".join(f"{v:.0f}" for v in candidate["staff_bbox"])
            wrong.append(
                f"`{page.page_id}` system {candidate['system_on_page']} [{box}]: {problem}"
            )
    for index, system in enumerate(page.truth):
        if not system.is_piano_pair:
            continue
        tally.true_pairs += 1
        cause = lost_system_cause(system, candidates)
        if cause is None:
            tally.pairs_kept += 1
        else:
            lost.append(f"`{page.page_id}` true system {index + 1}: {cause}")
    return tally, wrong, lost


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.3f}" if denominator else "–"


def table(tallies: dict[str, Tally]) -> str:
    header = (
        "| subset | pages | true systems | candidates | P@0.5 | R@0.5 | F1@0.5 | F1@0.75 |"
        " mean IoU | n_staves acc | true piano pairs | kept | dataset precision |"
        " dataset recall |"
    )
    lines = [header, "|" + "---|" * 14]
    for name, t in tallies.items():
        precision = t.matched_05 / t.candidates if t.candidates else float("nan")
        recall = t.matched_05 / t.true_systems if t.true_systems else float("nan")
        f1 = 2 * t.matched_05 / (t.candidates + t.true_systems) if t.candidates else 0.0
        f1_075 = 2 * t.matched_075 / (t.candidates + t.true_systems) if t.candidates else 0.0
        f1_text = f"{f1:.3f}" if t.true_systems or t.candidates else "–"
        f1_075_text = f"{f1_075:.3f}" if t.true_systems or t.candidates else "–"
        lines.append(
            f"| {name} | {t.pages} | {t.true_systems} | {t.candidates} |"
            f" {'–' if np.isnan(precision) else f'{precision:.3f}'} |"
            f" {'–' if np.isnan(recall) else f'{recall:.3f}'} | {f1_text} | {f1_075_text} |"
            f" {_ratio(t.iou_sum, t.matched_05)} | {_ratio(t.staves_right, t.matched_05)} |"
            f" {t.true_pairs} | {t.kept} | {_ratio(t.kept_right, t.kept)} |"
            f" {_ratio(t.pairs_kept, t.true_pairs)} |"
        )
    return "\n".join(lines)


def score(pages: Iterable[Page], candidates: dict[str, list[dict]]):
    tallies: dict[str, Tally] = defaultdict(Tally)
    wrong_kept, lost = [], []
    for page in pages:
        tally, wrong, missing = score_page(page, candidates.get(page.page_id, []))
        for subset in ["all", *page.subsets]:
            tallies[subset].add(tally)
        wrong_kept += wrong
        lost += missing
    order = ["all", *sorted(k for k in tallies if k != "all")]
    return {name: tallies[name] for name in order}, wrong_kept, lost


# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic-pages", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic page set")
    parser.add_argument("--real-dir", type=Path, default=BENCHMARK_DIR / "real")
    parser.add_argument("--no-real", action="store_true", help="leave the real pages out")
    parser.add_argument(
        "--real-tag",
        choices=sorted(REAL_SUBSETS),
        help="only the real pages with this tag (e.g. photo, with --synthetic-pages 0)",
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=BENCHMARK_DIR / ".cache")
    parser.add_argument("--workdir", type=Path, help="keep the workflow's files here")
    parser.add_argument(
        "--out", type=Path, default=BENCHMARK_DIR / "results" / "dataset_fidelity.md"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    pages = synthetic_pages(args.synthetic_pages, args.seed, args.cache_dir, args.cores)
    if not args.no_real and (args.real_dir / "labels").is_dir():
        real = real_pages(args.real_dir)
        if args.real_tag:
            real = [page for page in real if REAL_SUBSETS[args.real_tag] in page.subsets]
        pages += real
    with tempfile.TemporaryDirectory() as temp:
        workdir = args.workdir or Path(temp)
        where = write_inputs(pages, workdir)
        seconds = run_workflow(workdir, args.cores)
        candidates = read_candidates(workdir, where)
    tallies, wrong_kept, lost = score(pages, candidates)
    report = "\n".join(
        [
            "# Dataset fidelity",
            "",
            f"{len(pages)} pages ({args.synthetic_pages} synthetic, seed {args.seed}; "
            f"{len(pages) - args.synthetic_pages} real) as image-only PDFs of up to "
            f"{PAGES_PER_FILE} pages, through the workflow (render to publish) with the "
            f"shipped config on {args.cores} cores: {seconds:.0f} s.",
            "Candidates are matched one-to-one to all true systems (tight staff boxes, IoU "
            f">= {MATCH_IOU}); F1@0.75 counts pairs with IoU >= {WHOLE_IOU}. A kept sample is "
            f"right when it is one true two-staff piano system with IoU >= {WHOLE_IOU}; "
            "dataset recall is the share of true two-staff piano systems with such a sample.",
            "",
            table(tallies),
            "",
            f"## Wrong kept samples ({len(wrong_kept)})",
            "",
            *(f"- {line}" for line in wrong_kept or ["none"]),
            "",
            f"## Lost two-staff piano systems ({len(lost)})",
            "",
            *(f"- {line}" for line in lost or ["none"]),
            "",
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return {"tallies": tallies, "wrong_kept": wrong_kept, "lost": lost, "report": report}


if __name__ == "__main__":
    main()
