"""Why key signatures are not read: the step at which the reader gave up, per failed system.

Usage::

    python benchmarks/key_signature.py --rows-json rows.json ...
    python benchmarks/key_signature_diagnose.py rows.json [--crops DIR] [--seed 0]
        [--engravings 52]

For every system of the benchmark's rows that the segmenter found but whose key signature was
read wrong or not at all, the page is made again exactly as the benchmark makes it (the
cached engraving, the same seeded scanner damage; or the real page from the cache), run
through the workflow's page pipeline, and each staff of the system is traced through the
reader's steps (``visionscores.segment.key_signature``):

- ``no clef``: no clef found at the staff's start (``find_clef``);
- ``no accidental``: a clef, then no glyph classified as an accidental (read 0);
- ``pattern cut``: accidentals classified, but fewer fit the key signature pattern than the
  truth has (read too few);
- ``too many``: more accidentals fit than the truth has;
- ``wrong kind``: sharps read for flats or the reverse;
- ``right``: the staff was read right.

The system's cause is then ``staves disagree`` (each staff read, values differ), ``one staff
right`` (the other one not), or the cause of its staves. A table of causes is printed; with
``--crops`` the staff bands (the ink, and the symbols left once the staff lines are erased,
side by side) are saved as PNG images, named by page, system and staff.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

from visionscores.segment import key_signature as ks
from visionscores_tools import evaluation, synthetic

BENCHMARK_DIR = Path(__file__).resolve().parent
REPO = BENCHMARK_DIR.parent
if str(BENCHMARK_DIR) not in sys.path:
    sys.path.insert(0, str(BENCHMARK_DIR))

import key_signature as benchmark  # noqa: E402  (the benchmark, next to this script)
import segmentation  # noqa: E402


def page_images(rows: list[dict], seed: int, n_engravings: int, real_dir: Path) -> dict:
    """(page name, subset) -> (gray image, dpi, pdf mode, true staff boxes) of the pages."""
    wanted = {(r["page"], r["subset"]) for r in rows}
    images = {}
    for engraving in benchmark.plan(seed, n_engravings):
        name = (
            f"{engraving.source}@{engraving.target_fifths}/{engraving.font}"
            f"/{engraving.dpi}dpi/{engraving.staff_space_mm}mm"
        )
        if not any(page == name for page, _ in wanted):
            continue
        page = benchmark.engraved_page(engraving, BENCHMARK_DIR / ".cache")
        rng = np.random.default_rng([seed, int(engraving.cache_key()[:8], 16)])
        scan = segmentation.sample_scan(rng)
        damaged, moved = synthetic.degrade(page["gray"], page["boxes"], rng, **scan)
        images[(name, "clean")] = (page["gray"], engraving.dpi, "gray-lossless", page["boxes"])
        subset = "scanned 1-bit" if scan["binarize_1bit"] else "scanned gray"
        mode = "1bit" if scan["binarize_1bit"] else "gray-lossless"
        images[(name, subset)] = (damaged, engraving.dpi, mode, moved)
    for page_id in {page for page, subset in wanted if subset == "real"}:
        gray = cv2.imread(str(real_dir / "cache" / f"{page_id}.png"), cv2.IMREAD_GRAYSCALE)
        cached = json.loads((real_dir / "cache" / f"{page_id}.json").read_text())
        label = json.loads((real_dir / "labels" / f"{page_id}.json").read_text())
        mode = "1bit" if np.isin(gray, (0, 255)).all() else "gray-lossless"
        boxes = [s["staff_bbox"] for s in label["systems"]]
        images[(page_id, "real")] = (gray, float(cached.get("dpi") or 600), mode, boxes)
    return images


def staff_trace(cleaned, staff, thickness_px, params) -> dict:
    """What the reader saw on one staff: clef, glyph kinds, stroke kinds, value read."""
    symbols, pieces, top_row = ks.staff_pieces(cleaned, staff, thickness_px, params)
    clef = ks.find_clef(symbols, pieces, staff.spacing_px, params)
    trace = {"clef": clef is not None, "glyphs": [], "strokes": [], "symbols": symbols}
    if clef is not None:
        glyphs = ks.key_glyphs(symbols, clef[1], staff.spacing_px, params)
        strokes = ks.stroke_glyphs(symbols, clef[1], staff.spacing_px, params)
        half = staff.spacing_px / 2.0
        trace["glyphs"] = [(g.kind, round((g.pitch_y - top_row) / half, 1)) for g in glyphs]
        trace["strokes"] = [(g.kind, round((g.pitch_y - top_row) / half, 1)) for g in strokes]
    trace["value"] = ks.staff_key_signature(cleaned, staff, thickness_px, params)
    return trace


def staff_cause(trace: dict, true: int) -> str:
    """The step at which the reading of one staff went wrong (see the module's list)."""
    value = trace["value"]
    if value == true:
        return "right"
    if not trace["clef"] or value is None:
        return "no clef"
    if value == 0:
        return "no accidental"
    if np.sign(value) != np.sign(true) and true != 0:
        return "wrong kind"
    return "pattern cut" if abs(value) < abs(true) else "too many"


def system_cause(causes: list[str], values: list) -> str:
    """The cause of a system's failure from those of its staves."""
    if all(v is not None for v in values) and len(set(values)) > 1:
        if "right" in causes:
            return "staves disagree (one right): " + "/".join(c for c in causes if c != "right")
        return "staves disagree: " + "/".join(causes)
    if "right" in causes:
        return "one staff right, other: " + "/".join(c for c in causes if c != "right")
    return "/".join(sorted(set(causes)))


def save_crop(path: Path, cleaned, staff, params, symbols) -> None:
    """The staff's band as read (gray) beside its symbols once the lines are erased."""
    _, x0, y0 = ks.staff_band(cleaned, staff, params)
    band = cleaned[y0 : y0 + symbols.shape[0], x0 : x0 + symbols.shape[1]]
    scale = max(1, int(round(24 / max(staff.spacing_px, 1.0))))
    right = np.where(symbols, 0, 255).astype(np.uint8)
    both = np.hstack([band, np.full((band.shape[0], 4), 128, np.uint8), right])
    both = cv2.resize(both, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), both)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows_json", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engravings", type=int, default=52)
    parser.add_argument("--config", type=Path, default=REPO / "config/config.yaml")
    parser.add_argument("--real-dir", type=Path, default=BENCHMARK_DIR / "real")
    parser.add_argument("--crops", type=Path, help="save the failed staves' bands here")
    args = parser.parse_args(argv)
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    params = config["key_signature"]
    rows = json.loads(args.rows_json.read_text(encoding="utf-8"))
    failed = [r for r in rows if r["found"] and r["read"] != r["true"]]
    images = page_images(failed, args.seed, args.engravings, args.real_dir)
    by_page = collections.defaultdict(list)
    for row in failed:
        by_page[(row["page"], row["subset"])].append(row)
    if args.crops:
        args.crops.mkdir(parents=True, exist_ok=True)
    causes = collections.Counter()
    staff_causes = collections.Counter()
    for (name, subset), page_rows in sorted(by_page.items()):
        gray, dpi, mode, true_boxes = images[(name, subset)]
        processed = benchmark.process_as_pdf(gray, dpi, mode, config)
        result = processed.result
        matches = {
            t: p
            for p, t, _ in evaluation.match_boxes(
                result.staff_boxes, true_boxes, benchmark.MATCH_MIN_IOU
            )
        }
        thickness = result.metrics.line_thickness_px
        for row in page_rows:
            system = result.systems[matches[row["system"]]]
            traces = [staff_trace(processed.cleaned, s, thickness, params) for s in system.staves]
            these = [staff_cause(t, row["true"]) for t in traces]
            cause = system_cause(these, [t["value"] for t in traces])
            causes[(subset == "real", cause)] += 1
            staff_causes.update((subset == "real", c) for c in these if c != "right")
            print(
                f"{subset} | {name} | {row['system']} | true {row['true']} | read {row['read']}"
                f" | {cause}"
            )
            for index, (staff, trace) in enumerate(zip(system.staves, traces, strict=True)):
                print(
                    f"    staff {index}: sp {staff.spacing_px:.1f} value {trace['value']}"
                    f" clef {trace['clef']} glyphs {trace['glyphs']} strokes {trace['strokes']}"
                )
                if args.crops:
                    slug = re.sub(r"[^A-Za-z0-9@.-]+", "_", f"{subset}-{name}")
                    path = args.crops / f"{slug}-s{row['system']}-t{index}.png"
                    save_crop(path, processed.cleaned, staff, params, trace["symbols"])
    print("\n| data | system cause | systems |\n|---|---|---|")
    for (real, cause), count in causes.most_common():
        print(f"| {'real' if real else 'synthetic'} | {cause} | {count} |")
    print("\n| data | staff cause | staves |\n|---|---|---|")
    for (real, cause), count in staff_causes.most_common():
        print(f"| {'real' if real else 'synthetic'} | {cause} | {count} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
