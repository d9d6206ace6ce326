"""Labelling aid for the real-page development set.

Usage (page images come from ``fetch.py``; labels live in ``labels/<page_id>.json``)::

    python benchmarks/real/label_aid.py add PAGE_ID ... [--from sources/dinoscore_counts.csv]
        [--to sources/dinoscore.csv] [--tags "first;title"]
    python benchmarks/real/label_aid.py propose PAGE_ID ... [--force]
    python benchmarks/real/label_aid.py overlay PAGE_ID [--out FILE]
    python benchmarks/real/label_aid.py sheet PAGE_ID ... --out FILE [--columns 3]
    python benchmarks/real/label_aid.py snap PAGE_ID X0 Y0 X1 Y1 [--n-staves K]
        [--pieces P] [--add | --replace I] [--kind piano|ensemble|other] [--why TEXT]
    python benchmarks/real/label_aid.py set PAGE_ID --staves "X0 Y0 X1 Y1" ... (--add | --replace I)
    python benchmarks/real/label_aid.py delete PAGE_ID I ... [--why TEXT]
    python benchmarks/real/label_aid.py merge PAGE_ID I J [--why TEXT]
    python benchmarks/real/label_aid.py split PAGE_ID I AFTER [--why TEXT]
    python benchmarks/real/label_aid.py kind PAGE_ID KIND I ... [--why TEXT]
    python benchmarks/real/label_aid.py tag PAGE_ID [--add TAG ...] [--remove TAG ...]
    python benchmarks/real/label_aid.py check PAGE_ID ... --how "overlay viewed ..."
    python benchmarks/real/label_aid.py crosscheck [PAGE_ID ...]
    python benchmarks/real/label_aid.py stats

``propose`` runs the package's segmenter (``visionscores.segment.clean_and_segment`` with the
`clean:` and `segment:` settings of config/config.yaml) on the cached page and writes a draft
label (``checked`` empty) with the segmenter's result kept under ``draft``; it prints the
page's system count by DiNoScore when the page has one. ``snap`` finds the five lines of each
staff inside a rough box (``realpages.snap_staves``) and prints the tight boxes; with
``--add`` they become a new system, with ``--replace I`` they replace system I; ``set``
does the same with staff boxes measured by hand (where snapping fails). System
indices are top to bottom from 0, as ``overlay`` numbers them. Every edit is recorded in the
label's ``fixes`` list (``--why`` says what was wrong: missed-staff, missed-system,
split-system, chained, false-system, loose-box, kind ...), so drafts and checked labels
can be compared. ``crosscheck`` snaps every labelled staff again and lists those it puts
elsewhere: a staff a line off does not show on a contact sheet.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realpages  # noqa: E402  (lives next to this script)

REPO_ROOT = realpages.REAL_DIR.parent.parent
CONFIG_PATH = REPO_ROOT / "config" / "config.yaml"
COUNTS_PATH = realpages.SOURCES_DIR / "dinoscore_counts.csv"
KIND_COLOURS = {"piano": (0, 170, 0), "ensemble": (0, 140, 255), "other": (255, 0, 200)}
STAFF_COLOUR = (0, 0, 230)
# Staff spacing bounds of the resolution tags, pixels (about 150 and 450 dpi on a
# typical 7 mm staff).
LOWRES_MAX_SPACING_PX = 11.0
DPI600_MIN_SPACING_PX = 21.0


def label_path(page_id: str) -> Path:
    return realpages.LABELS_DIR / f"{page_id}.json"


def load_page(page_id: str, cache_dir: Path = realpages.CACHE_DIR) -> tuple[np.ndarray, dict]:
    """The cached gray page and its record (run fetch.py first)."""
    png = cache_dir / f"{page_id}.png"
    gray = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise SystemExit(f"{page_id}: no cached page {png}; run fetch.py")
    record = json.loads((cache_dir / f"{page_id}.json").read_text(encoding="utf-8"))
    return gray, record


def dinoscore_count(page_id: str) -> int | None:
    """DiNoScore's system count of the page, when it is one of DiNoScore's."""
    if not COUNTS_PATH.exists():
        return None
    with open(COUNTS_PATH, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["page_id"] == page_id:
                return int(row["count"])
    return None


def resolution_tag(staff_spacing_px: float) -> str:
    """The resolution tag of a page from its staff spacing (pixels)."""
    if staff_spacing_px < LOWRES_MAX_SPACING_PX:
        return "lowres"
    return "dpi600" if staff_spacing_px > DPI600_MIN_SPACING_PX else "dpi300"


def image_tag(gray: np.ndarray, record: dict) -> str:
    """``1bit``, ``gray`` or ``color`` from the stored image."""
    if record.get("stored_channels") == "color":
        return "color"
    levels = np.unique(gray[:: max(1, gray.shape[0] // 400), :: max(1, gray.shape[1] // 400)])
    return "1bit" if set(levels.tolist()) <= {0, 255} else "gray"


def segment_draft(gray: np.ndarray, vector_only: bool, config: dict) -> tuple[list, float | None]:
    """The segmenter's systems as label systems (input-image pixels), and the staff spacing."""
    from visionscores.segment import clean
    from visionscores.segment import page as segment

    _, matrix, result = segment.clean_and_segment(
        gray, config.get("clean"), config.get("segment"), assume_upright=vector_only
    )
    height, width = gray.shape
    systems = []
    for system, staff_box in zip(result.systems, result.staff_boxes, strict=True):
        staves = []
        for staff in system.staves:
            box = clean.map_box_back(
                (staff.left_px, staff.top_px, staff.right_px + 1, staff.bottom_px), matrix
            )
            staves.append(
                [
                    round(min(max(box[0], 0.0), width), 1),
                    round(min(max(box[1], 0.0), height), 1),
                    round(min(max(box[2], 0.0), width), 1),
                    round(min(max(box[3], 0.0), height), 1),
                ]
            )
        entry = realpages.system_from_staves(staves, "piano" if len(staves) == 2 else "other")
        entry["staff_bbox"] = [round(v, 1) for v in staff_box]
        systems.append(entry)
    spacing = result.metrics.staff_spacing_px if result.metrics else None
    return systems, spacing


def set_tags(page_id: str, add: list[str], remove: list[str]) -> list[str]:
    """Add and remove tags of a page in its sources list; return its tags."""
    rows = realpages.read_sources()
    if page_id not in rows:
        raise SystemExit(f"{page_id}: not in any sources list")
    unknown = sorted(set(add) - realpages.TAGS)
    if unknown:
        raise SystemExit(f"unknown tags {unknown}; the vocabulary is in README.md")
    path = Path(rows[page_id]["sources_file"])
    file_rows = realpages.read_sources([path])
    tags = [t for t in file_rows[page_id]["tags"] if t not in remove]
    tags += [t for t in add if t not in tags]
    file_rows[page_id]["tags"] = tags
    realpages.write_sources(path, file_rows.values())
    return tags


def edit(page_id: str, change, why: str) -> dict:
    """Apply ``change(label)`` to a page's label, record it in ``fixes`` and write it."""
    path = label_path(page_id)
    label = json.loads(path.read_text(encoding="utf-8"))
    what = change(label)
    label.setdefault("fixes", []).append(f"{what}: {why}" if why else what)
    label["checked"] = ""  # an edited label is checked again
    realpages.write_label(path, label)
    return label


def draw_overlay(gray: np.ndarray, label: dict) -> np.ndarray:
    """The page in colour with each system's staff box (by kind), its staves and its index."""
    image = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    thick = max(2, round(max(gray.shape) / 700))
    for index, system in enumerate(label["systems"]):
        colour = KIND_COLOURS[system["kind"]]
        for staff in system["staves"]:
            x0, y0, x1, y1 = (round(v) for v in staff)
            cv2.rectangle(image, (x0, y0), (x1, y1), STAFF_COLOUR, max(1, thick // 2))
        x0, y0, x1, y1 = (round(v) for v in system["staff_bbox"])
        cv2.rectangle(image, (x0 - thick, y0 - thick), (x1 + thick, y1 + thick), colour, thick)
        text = f"{index}:{system['n_staves']}"
        scale = max(gray.shape) / 1400
        cv2.putText(
            image,
            text,
            (max(0, x0 - round(60 * scale)), y0 + round(30 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            colour,
            thick,
        )
    return image


def contact_sheet(
    page_ids: list[str], columns: int, tile_height_px: int, cache_dir: Path
) -> np.ndarray:
    """Overlays of several pages side by side, each scaled to ``tile_height_px`` and captioned."""
    tiles = []
    for page_id in page_ids:
        gray, _ = load_page(page_id, cache_dir)
        label = json.loads(label_path(page_id).read_text(encoding="utf-8"))
        overlay = draw_overlay(gray, label)
        scale = tile_height_px / overlay.shape[0]
        tile = cv2.resize(overlay, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        caption = np.full((40, tile.shape[1], 3), 255, dtype=np.uint8)
        count = dinoscore_count(page_id)
        text = f"{page_id[10:] if page_id.startswith('dinoscore-') else page_id}"
        text += f"  n={len(label['systems'])}" + (f" dns={count}" if count is not None else "")
        cv2.putText(caption, text, (5, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
        tiles.append(np.vstack([caption, tile]))
    tile_width = max(t.shape[1] for t in tiles)
    height = max(t.shape[0] for t in tiles)
    padded = []
    for tile in tiles:
        canvas = np.full((height, tile_width + 10, 3), 128, dtype=np.uint8)
        canvas[: tile.shape[0], : tile.shape[1]] = tile
        padded.append(canvas)
    while len(padded) % columns:
        padded.append(np.full_like(padded[0], 128))
    rows = [np.hstack(padded[i : i + columns]) for i in range(0, len(padded), columns)]
    return np.vstack(rows)


def cmd_add(args) -> None:
    with open(args.from_csv, newline="", encoding="utf-8") as handle:
        known = {row["page_id"]: row for row in csv.DictReader(handle)}
    excluded = realpages.read_excluded()
    target = realpages.read_sources([args.to]) if args.to.exists() else {}
    for page_id in args.page_ids:
        row = known.get(page_id)
        if row is None:
            raise SystemExit(f"{page_id}: not in {args.from_csv}")
        if realpages.is_excluded(row["repo"], row["path"], excluded):
            raise SystemExit(f"{page_id}: excluded ({row['path']})")
        tags = [t for t in args.tags.split(";") if t]
        target[page_id] = {**row, "page": row.get("page") or None, "tags": tags}
        realpages.validate_source_row({**target[page_id], "page": "", "tags": ";".join(tags)})
    realpages.write_sources(args.to, sorted(target.values(), key=lambda r: r["page_id"]))
    print(f"{args.to}: {len(target)} pages")


def cmd_propose(args) -> None:
    config = yaml.safe_load(CONFIG_PATH.read_text(encoding="utf-8"))
    for page_id in args.page_ids:
        path = label_path(page_id)
        if path.exists() and not args.force:
            print(f"{page_id}: label exists (use --force to overwrite)")
            continue
        gray, record = load_page(page_id, args.cache)
        systems, spacing = segment_draft(gray, bool(record.get("vector_only")), config)
        count = dinoscore_count(page_id)
        label = {
            "page_id": page_id,
            "width": int(gray.shape[1]),
            "height": int(gray.shape[0]),
            "orientation": 0,
            "systems": systems,
            "checked": "",
            "draft": {
                "n_systems": len(systems),
                "n_staves": [s["n_staves"] for s in systems],
                "staff_spacing_px": round(spacing, 2) if spacing else None,
                "dinoscore_count": count,
            },
            "fixes": [],
        }
        realpages.write_label(path, label)
        tags = [image_tag(gray, record)]
        if record.get("vector_only"):
            tags.append("vector")
        if spacing:
            tags.append(resolution_tag(spacing))
        set_tags(page_id, tags, [])
        flag = "" if count is None or count == len(systems) else "  <-- differs"
        print(
            f"{page_id}: {len(systems)} systems {[s['n_staves'] for s in systems]}"
            f" spacing {spacing and round(spacing, 1)} dinoscore {count}{flag}"
        )


def cmd_overlay(args) -> None:
    gray, _ = load_page(args.page_id, args.cache)
    label = json.loads(label_path(args.page_id).read_text(encoding="utf-8"))
    out = args.out or Path(f"/tmp/{args.page_id}.overlay.png")
    image = draw_overlay(gray, label)
    if args.rows:
        image = image[args.rows[0] : args.rows[1]]
    cv2.imwrite(str(out), image)
    print(out)


def cmd_sheet(args) -> None:
    sheet = contact_sheet(args.page_ids, args.columns, args.tile_height, args.cache)
    cv2.imwrite(str(args.out), sheet)
    print(args.out)


def cmd_snap(args) -> None:
    gray, _ = load_page(args.page_id, args.cache)
    staves = realpages.snap_staves_in_pieces(gray, args.box, args.n_staves, args.pieces)
    print(json.dumps(staves))
    if args.add or args.replace is not None:

        def change(label):
            system = realpages.system_from_staves(staves, args.kind)
            if args.replace is not None:
                label["systems"][args.replace] = system
                return f"replace {args.replace} by snap {args.n_staves}"
            label["systems"].append(system)
            return f"add snap {args.n_staves}"

        edit(args.page_id, change, args.why)


def cmd_set(args) -> None:
    staves = [[float(v) for v in staff.split()] for staff in args.staves]

    def change(label):
        system = realpages.system_from_staves(staves, args.kind)
        if args.replace is not None:
            label["systems"][args.replace] = system
            return f"replace {args.replace} by {len(staves)} staves set by hand"
        label["systems"].append(system)
        return f"add {len(staves)} staves set by hand"

    edit(args.page_id, change, args.why)


def cmd_delete(args) -> None:
    def change(label):
        for index in sorted(args.indices, reverse=True):
            del label["systems"][index]
        return f"delete {args.indices}"

    edit(args.page_id, change, args.why)


def cmd_merge(args) -> None:
    def change(label):
        upper, lower = label["systems"][args.first], label["systems"][args.second]
        merged = realpages.system_from_staves(upper["staves"] + lower["staves"], args.kind)
        label["systems"] = [
            s for i, s in enumerate(label["systems"]) if i not in (args.first, args.second)
        ] + [merged]
        return f"merge {args.first}+{args.second}"

    edit(args.page_id, change, args.why)


def cmd_split(args) -> None:
    def change(label):
        system = label["systems"][args.index]
        staves = system["staves"]
        if not 1 <= args.after < len(staves):
            raise SystemExit(f"system {args.index} has {len(staves)} staves")
        parts = [staves[: args.after], staves[args.after :]]
        label["systems"][args.index : args.index + 1] = [
            realpages.system_from_staves(p, "piano" if len(p) == 2 else "other") for p in parts
        ]
        return f"split {args.index} after {args.after}"

    edit(args.page_id, change, args.why)


def cmd_kind(args) -> None:
    def change(label):
        for index in args.indices:
            label["systems"][index]["kind"] = args.kind
        return f"kind {args.indices} {args.kind}"

    edit(args.page_id, change, args.why)


def cmd_tag(args) -> None:
    print(args.page_id, ";".join(set_tags(args.page_id, args.add, args.remove)))


def cmd_check(args) -> None:
    for page_id in args.page_ids:
        path = label_path(page_id)
        label = json.loads(path.read_text(encoding="utf-8"))
        label["checked"] = args.how
        realpages.write_label(path, label)


def cmd_crosscheck(args) -> None:
    """List staves whose lines a fresh snap puts elsewhere (a staff a line off, a bad box)."""
    page_ids = args.page_ids or sorted(path.stem for path in realpages.LABELS_DIR.glob("*.json"))
    for page_id in page_ids:
        gray, _ = load_page(page_id, args.cache)
        label = json.loads(label_path(page_id).read_text(encoding="utf-8"))
        for index, system in enumerate(label["systems"]):
            for number, staff in enumerate(system["staves"]):
                spacing = (staff[3] - staff[1]) / 4
                box = [
                    staff[0] - 2 * spacing,
                    staff[1] - 1.2 * spacing,
                    staff[2] + 2 * spacing,
                    staff[3] + 1.2 * spacing,
                ]
                try:
                    (found,) = realpages.snap_staves(gray, box, 1)
                except ValueError:
                    print(f"{page_id} system {index} staff {number}: no staff found")
                    continue
                shift = max(abs(found[1] - staff[1]), abs(found[3] - staff[3]))
                if shift > args.max_shift_sp * spacing:
                    print(f"{page_id} system {index} staff {number}: {staff} snaps to {found}")


def cmd_stats(args) -> None:
    rows = realpages.read_sources()
    tags = Counter(tag for row in rows.values() for tag in row["tags"])
    labels = [
        json.loads(path.read_text(encoding="utf-8")) for path in realpages.LABELS_DIR.glob("*.json")
    ]
    unchecked = [label["page_id"] for label in labels if not label["checked"]]
    whys = Counter(
        fix.rsplit(": ", 1)[-1] for label in labels for fix in label.get("fixes", []) if ": " in fix
    )
    fixed_pages = sum(bool(label.get("fixes")) for label in labels)
    n_systems = sum(len(label["systems"]) for label in labels)
    print(f"{len(rows)} pages listed, {len(labels)} labelled, {len(unchecked)} not checked")
    print(f"{n_systems} systems; {fixed_pages} pages changed from the draft")
    print("tags: " + ", ".join(f"{tag} {count}" for tag, count in tags.most_common()))
    print("fixes: " + ", ".join(f"{why} {count}" for why, count in whys.most_common()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=realpages.CACHE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)

    sub = commands.add_parser("add", help="add pages to a sources list")
    sub.add_argument("page_ids", nargs="+")
    sub.add_argument("--from", dest="from_csv", type=Path, default=COUNTS_PATH)
    sub.add_argument("--to", type=Path, default=realpages.SOURCES_DIR / "dinoscore.csv")
    sub.add_argument("--tags", default="", help="';'-separated tags")
    sub.set_defaults(handler=cmd_add)

    sub = commands.add_parser("propose", help="draft labels from the segmenter")
    sub.add_argument("page_ids", nargs="+")
    sub.add_argument("--force", action="store_true")
    sub.set_defaults(handler=cmd_propose)

    sub = commands.add_parser("overlay", help="draw a page's label")
    sub.add_argument("page_id")
    sub.add_argument("--out", type=Path)
    sub.add_argument("--rows", type=int, nargs=2, help="only rows FROM TO (zoom)")
    sub.set_defaults(handler=cmd_overlay)

    sub = commands.add_parser("sheet", help="contact sheet of several labelled pages")
    sub.add_argument("page_ids", nargs="+")
    sub.add_argument("--out", type=Path, required=True)
    sub.add_argument("--columns", type=int, default=3)
    sub.add_argument("--tile-height", type=int, default=1000, help="pixels")
    sub.set_defaults(handler=cmd_sheet)

    why = {"default": "", "help": "what was wrong (recorded in fixes)"}
    sub = commands.add_parser("snap", help="tight staff boxes inside a rough box")
    sub.add_argument("page_id")
    sub.add_argument("box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"))
    sub.add_argument("--n-staves", type=int, default=1)
    sub.add_argument("--pieces", type=int, default=1, help="snap in parts (bent staves)")
    sub.add_argument("--add", action="store_true", help="add them as a new system")
    sub.add_argument("--replace", type=int, help="replace this system by them")
    sub.add_argument("--kind", choices=realpages.KINDS, default="piano")
    sub.add_argument("--why", **why)
    sub.set_defaults(handler=cmd_snap)

    sub = commands.add_parser("set", help="a system from staff boxes measured by hand")
    sub.add_argument("page_id")
    sub.add_argument("--staves", nargs="+", required=True, help='"x0 y0 x1 y1" per staff')
    group = sub.add_mutually_exclusive_group(required=True)
    group.add_argument("--add", action="store_true")
    group.add_argument("--replace", type=int)
    sub.add_argument("--kind", choices=realpages.KINDS, default="piano")
    sub.add_argument("--why", **why)
    sub.set_defaults(handler=cmd_set)

    sub = commands.add_parser("delete", help="delete systems")
    sub.add_argument("page_id")
    sub.add_argument("indices", type=int, nargs="+")
    sub.add_argument("--why", **why)
    sub.set_defaults(handler=cmd_delete)

    sub = commands.add_parser("merge", help="merge two systems into one")
    sub.add_argument("page_id")
    sub.add_argument("first", type=int)
    sub.add_argument("second", type=int)
    sub.add_argument("--kind", choices=realpages.KINDS, default="piano")
    sub.add_argument("--why", **why)
    sub.set_defaults(handler=cmd_merge)

    sub = commands.add_parser("split", help="split a system after its k-th staff")
    sub.add_argument("page_id")
    sub.add_argument("index", type=int)
    sub.add_argument("after", type=int)
    sub.add_argument("--why", **why)
    sub.set_defaults(handler=cmd_split)

    sub = commands.add_parser("kind", help="set the kind of systems")
    sub.add_argument("page_id")
    sub.add_argument("kind", choices=realpages.KINDS)
    sub.add_argument("indices", type=int, nargs="+")
    sub.add_argument("--why", **why)
    sub.set_defaults(handler=cmd_kind)

    sub = commands.add_parser("tag", help="add or remove tags of a page")
    sub.add_argument("page_id")
    sub.add_argument("--add", nargs="*", default=[])
    sub.add_argument("--remove", nargs="*", default=[])
    sub.set_defaults(handler=cmd_tag)

    sub = commands.add_parser("check", help="mark labels as checked, saying how")
    sub.add_argument("page_ids", nargs="+")
    sub.add_argument("--how", required=True)
    sub.set_defaults(handler=cmd_check)

    sub = commands.add_parser("crosscheck", help="staves a fresh snap puts elsewhere")
    sub.add_argument("page_ids", nargs="*", help="default: every label")
    sub.add_argument("--max-shift-sp", type=float, default=0.4, help="staff spacings")
    sub.set_defaults(handler=cmd_crosscheck)

    sub = commands.add_parser("stats", help="pages per tag, labels checked, fixes per kind")
    sub.set_defaults(handler=cmd_stats)

    args = parser.parse_args(argv)
    args.handler(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
