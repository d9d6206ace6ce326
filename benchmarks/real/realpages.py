"""The real-page development set: its source lists, labels, exclusions and snapshots.

Shared by ``fetch.py``, ``label_aid.py`` and ``dinoscore_counts.py`` (and importable by tests).
Coordinates are pixels of the cached page image (top-left origin); a box is
``[x0, y0, x1, y1]`` with y on the centres of the top and bottom staff lines and x from the
first staff-line pixel to one past the last, the convention of ``visionscores segment --json``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

REAL_DIR = Path(__file__).resolve().parent
SOURCES_DIR = REAL_DIR / "sources"
LABELS_DIR = REAL_DIR / "labels"
CACHE_DIR = REAL_DIR / "cache"
EXCLUDED_FILE = REAL_DIR / "excluded.txt"
# Where local snapshots of the source repositories live (see README.md).
MIRROR_ENV = "REAL_PAGES_MIRROR"

SOURCE_COLUMNS = ("page_id", "repo", "commit", "path", "page", "sha256", "tags")
# The fixed tag vocabulary; README.md says what each means.
TAGS = frozenset(
    {
        "piano",  # two-hand piano music (systems of two staves)
        "ensemble",  # other staves with the piano (voice, violin, cello ...)
        "other",  # music that is neither (solo line, orchestral ...)
        "negative",  # no staff at all (cover, text, blank, picture)
        "title",  # a title or heading block above the music
        "first",  # first page of a work or movement (heading, indented first system)
        "indented",  # a system starts right of the others (first system, coda)
        "dense",  # dense notation: beams, chords, ledger lines covering the staff lines
        "short-system",  # a system much shorter than the page's width (final bars)
        "1bit",  # the stored image is black and white only
        "gray",  # the stored image has gray levels
        "color",  # the stored image is in colour
        "photo",  # a photograph of a page (perspective, uneven light)
        "lowres",  # staff spacing below 11 px (about 150 dpi or less)
        "dpi300",  # staff spacing 11-21 px (about 200-400 dpi)
        "dpi600",  # staff spacing above 21 px (about 500 dpi or more)
        "vector",  # a vector PDF page rendered at 300 dpi
        "skewed",  # visibly tilted scan
        "bent",  # staff lines bent or wavy (a page curled on the scanner)
        "broken-lines",  # staff lines dotted or broken by thresholding
        "bleed",  # show-through from the back of the page
        "spread",  # two pages side by side
        "rotated",  # page not upright
    }
)
KINDS = ("piano", "ensemble", "other")
LABEL_KEYS = ("page_id", "width", "height", "orientation", "systems", "checked")


class FormatError(ValueError):
    """A sources row or a label that breaks the format."""


# --- excluded pages -----------------------------------------------------------------------


def read_excluded(path: Path = EXCLUDED_FILE) -> list[tuple[str, str]]:
    """Read the exclusion list: (repo, path prefix) pairs; an empty prefix excludes the repo.

    One entry a line, ``owner/name`` then whitespace then a path prefix (may hold spaces);
    ``#`` starts a comment line.
    """
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        entries.append((parts[0], parts[1] if len(parts) > 1 else ""))
    return entries


def is_excluded(repo: str, path: str, excluded: Iterable[tuple[str, str]]) -> bool:
    """True when ``path`` of ``repo`` is kept out of the development set.

    A prefix names a file or a folder: ``songs/Work`` excludes ``songs/Work/page_0.tif``
    but not ``songs/Work 2/page_0.tif``.
    """
    path = unicodedata.normalize("NFC", path)
    for excluded_repo, prefix in excluded:
        if excluded_repo.lower() != repo.lower():
            continue
        prefix = unicodedata.normalize("NFC", prefix).rstrip("/")
        if not prefix or path == prefix or path.startswith(prefix + "/"):
            return True
    return False


# --- sources ------------------------------------------------------------------------------


def slug(text: str) -> str:
    """Lower-case ASCII slug: accents dropped, runs of other characters become one dash."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def validate_source_row(row: Mapping[str, str]) -> dict[str, Any]:
    """Check one sources row and return it typed (page as int or None, tags as a list)."""
    page_id = row.get("page_id", "")
    if not page_id or slug(page_id) != page_id:
        raise FormatError(f"page_id {page_id!r} is not a slug")
    if not re.fullmatch(r"[0-9a-f]{40}", row.get("commit", "")):
        raise FormatError(f"{page_id}: commit {row.get('commit')!r} is not 40 hex digits")
    if not re.fullmatch(r"[0-9a-f]{64}", row.get("sha256", "")):
        raise FormatError(f"{page_id}: sha256 {row.get('sha256')!r} is not 64 hex digits")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", row.get("repo", "")):
        raise FormatError(f"{page_id}: repo {row.get('repo')!r} is not owner/name")
    if not row.get("path"):
        raise FormatError(f"{page_id}: empty path")
    page_text = row.get("page", "")
    page = None
    if page_text:
        if not page_text.isdigit() or int(page_text) < 1:
            raise FormatError(f"{page_id}: page {page_text!r} is not a 1-based number")
        page = int(page_text)
    tags = [tag for tag in row.get("tags", "").split(";") if tag]
    unknown = sorted(set(tags) - TAGS)
    if unknown:
        raise FormatError(f"{page_id}: unknown tags {unknown}")
    return {**row, "page": page, "tags": tags}


def read_sources(paths: Iterable[Path] | None = None) -> dict[str, dict[str, Any]]:
    """Read sources CSVs (default: every ``sources/*.csv`` but the counts) keyed by page_id."""
    if paths is None:
        paths = sorted(p for p in SOURCES_DIR.glob("*.csv") if p.name != "dinoscore_counts.csv")
    rows: dict[str, dict[str, Any]] = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != SOURCE_COLUMNS:
                raise FormatError(f"{path}: columns must be {','.join(SOURCE_COLUMNS)}")
            for raw in reader:
                row = validate_source_row(raw)
                if row["page_id"] in rows:
                    raise FormatError(f"{path}: page_id {row['page_id']} appears twice")
                rows[row["page_id"]] = {**row, "sources_file": str(path)}
    return rows


def write_sources(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a sources CSV (rows as returned by :func:`read_sources` or plain strings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SOURCE_COLUMNS)
        for row in rows:
            page = row.get("page")
            tags = row.get("tags", "")
            writer.writerow(
                [
                    row["page_id"],
                    row["repo"],
                    row["commit"],
                    row["path"],
                    "" if page in (None, "") else str(page),
                    row["sha256"],
                    ";".join(tags) if isinstance(tags, list | tuple) else tags,
                ]
            )


# --- snapshots ----------------------------------------------------------------------------


def snapshot_dir(repo: str, mirror_root: str | Path | None = None) -> Path:
    """The local git directory of ``repo`` (``owner/name``) under the mirror root.

    The root (``mirror_root`` or the ``REAL_PAGES_MIRROR`` environment variable) holds one
    folder per repository named ``owner+name``: a bare git directory, or one with a bare
    ``repo``, a ``.git`` or a ``repo/.git`` inside.
    """
    root = mirror_root or os.environ.get(MIRROR_ENV)
    if not root:
        raise FileNotFoundError(f"no snapshot root: pass --mirror or set {MIRROR_ENV}")
    base = Path(root) / repo.replace("/", "+")
    for candidate in (base / "repo", base / "repo" / ".git", base / ".git", base):
        if (candidate / "HEAD").exists() and (candidate / "objects").exists():
            return candidate
    raise FileNotFoundError(f"no git snapshot of {repo} under {root}")


def git_blob(git_dir: Path, commit: str, path: str) -> bytes:
    """The bytes of ``path`` at ``commit`` in the git directory ``git_dir``."""
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "blob", f"{commit}:{path}"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise FileNotFoundError(
            f"{path} at {commit[:10]} not in {git_dir}: {done.stderr.decode().strip()}"
        )
    return done.stdout


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- labels -------------------------------------------------------------------------------


def system_from_staves(staves: list[list[float]], kind: str = "piano") -> dict[str, Any]:
    """A label system from its staff boxes (sorted top to bottom); staff_bbox is their union."""
    staves = sorted(([round(float(v), 1) for v in box] for box in staves), key=lambda b: b[1])
    return {
        "staff_bbox": [
            min(b[0] for b in staves),
            staves[0][1],
            max(b[2] for b in staves),
            max(b[3] for b in staves),
        ],
        "n_staves": len(staves),
        "staves": staves,
        "kind": kind,
    }


def _check_box(box: Any, width: int, height: int, where: str) -> None:
    if not isinstance(box, list) or len(box) != 4:
        raise FormatError(f"{where}: a box is [x0, y0, x1, y1], got {box!r}")
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise FormatError(f"{where}: box {box} is empty or outside the {width} x {height} page")


def validate_label(label: Mapping[str, Any]) -> None:
    """Raise :class:`FormatError` unless ``label`` follows the label format (README.md)."""
    missing = [key for key in LABEL_KEYS if key not in label]
    if missing:
        raise FormatError(f"label {label.get('page_id', '?')}: missing {missing}")
    page_id, width, height = label["page_id"], label["width"], label["height"]
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise FormatError(f"{page_id}: width and height must be positive integers")
    if label["orientation"] not in (0, 90, 180, 270):
        raise FormatError(f"{page_id}: orientation must be 0, 90, 180 or 270")
    tolerance_px = 2.0  # an axis-aligned box of a tilted staff rounds outwards
    for index, system in enumerate(label["systems"]):
        where = f"{page_id} system {index}"
        _check_box(system["staff_bbox"], width, height, where)
        if system.get("kind") not in KINDS:
            raise FormatError(f"{where}: kind must be one of {KINDS}")
        staves = system["staves"]
        if system["n_staves"] != len(staves) or not staves:
            raise FormatError(f"{where}: n_staves {system['n_staves']} but {len(staves)} staves")
        x0, y0, x1, y1 = system["staff_bbox"]
        for staff in staves:
            _check_box(staff, width, height, where)
            inside = (
                staff[0] >= x0 - tolerance_px
                and staff[1] >= y0 - tolerance_px
                and staff[2] <= x1 + tolerance_px
                and staff[3] <= y1 + tolerance_px
            )
            if not inside:
                raise FormatError(f"{where}: staff {staff} outside staff_bbox {[x0, y0, x1, y1]}")
        tops = [staff[1] for staff in staves]
        if tops != sorted(tops):
            raise FormatError(f"{where}: staves not sorted top to bottom")


def read_label(path: Path) -> dict[str, Any]:
    """Read and validate one label file."""
    label = json.loads(Path(path).read_text(encoding="utf-8"))
    validate_label(label)
    return label


def write_label(path: Path, label: Mapping[str, Any]) -> None:
    """Validate and write one label (systems sorted top to bottom), small and diff-friendly."""
    label = dict(label)
    label["systems"] = sorted(
        label["systems"], key=lambda system: (system["staff_bbox"][1], system["staff_bbox"][0])
    )
    validate_label(label)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["{"]
    items = list(label.items())
    for position, (key, value) in enumerate(items):
        comma = "," if position < len(items) - 1 else ""
        if key == "systems":
            lines.append('  "systems": [')
            for index, system in enumerate(value):
                end = "," if index < len(value) - 1 else ""
                lines.append("    " + json.dumps(system) + end)
            lines.append("  ]" + comma)
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


# --- snapping a rough box to the staff lines ---------------------------------------------


def _ink_mask(gray: np.ndarray) -> np.ndarray:
    """Ink (True) by Otsu's threshold on the region (gray paper and faded lines alike)."""
    import cv2

    if gray.min() == gray.max():
        return np.zeros(gray.shape, dtype=bool)
    threshold, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return gray <= threshold


def _best_five_lines(
    profile: np.ndarray,
    raw_profile: np.ndarray,
    min_spacing_px: float,
    max_spacing_px: float,
) -> tuple[float, float, float]:
    """(score, top row, spacing) of the five equally spaced rows that stand out most.

    ``profile``: per-row share of ink, widened by one row each way (lines);
    ``raw_profile``: the same not widened (the spaces between lines, which must be clear).
    The score is the weakest line's share less the fullest space's.
    """
    n_rows = len(profile)
    best = (-1.0, 0.0, 0.0)
    for spacing in np.arange(min_spacing_px, max_spacing_px + 0.01, 0.25):
        span = 4 * spacing
        if span >= n_rows:
            break
        tops = np.arange(0, n_rows - span - 0.5)
        rows = np.rint(tops[:, None] + spacing * np.arange(5)[None, :]).astype(int)
        spaces = np.rint(tops[:, None] + spacing * (np.arange(4)[None, :] + 0.5)).astype(int)
        # The weakest line, less the fullest space: a thick beam is not five lines.
        weakest = profile[rows].min(axis=1) - raw_profile[spaces].max(axis=1)
        index = int(np.argmax(weakest))
        if weakest[index] > best[0] + 1e-9:
            best = (float(weakest[index]), float(tops[index]), float(spacing))
    return best


def _refine_row(profile: np.ndarray, row: float, reach: int) -> float:
    """Centre of the ink run nearest ``row``: the fill-weighted mean of rows at half peak."""
    low, high = max(0, round(row) - reach), min(len(profile), round(row) + reach + 1)
    window = profile[low:high]
    if window.max() <= 0:
        return row
    peak = low + int(np.argmax(window))
    half = profile[peak] / 2
    top, bottom = peak, peak
    while top - 1 >= low and profile[top - 1] >= half:
        top -= 1
    while bottom + 1 < high and profile[bottom + 1] >= half:
        bottom += 1
    rows = np.arange(top, bottom + 1)
    return float(np.average(rows, weights=profile[top : bottom + 1]))


def _longest_run(flags: np.ndarray, max_gap: int) -> tuple[int, int] | None:
    """(first, last) index of the longest run of True, bridging gaps up to ``max_gap``."""
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return None
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [idx.size - 1]])
    lengths = idx[ends] - idx[starts]
    best = int(np.argmax(lengths))
    return int(idx[starts[best]]), int(idx[ends[best]])


def _follow_staff(
    ink: np.ndarray, rows: list[float], offsets: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where a staff runs, and how its lines bend a little (a page not flat on the scanner).

    ``rows``: its five line rows, at ``offsets`` per column (the straight tilted guess). In
    strips half a spacing wide, the row shift that inks the five lines best is followed from
    the best strip outwards, each strip searched within a third of a spacing of its
    neighbour's shift (up to 1.5 spacings from the guess in all); a strip holds the staff
    when each of its lines is inked over at least half the strip (an eighth of a spacing
    off its row allowed), and one that does not keeps its neighbour's shift. Strongly bent
    staves are snapped in pieces (``snap_staves_in_pieces``). Returns (per-column row shift,
    per-column True where the strip holds the staff).
    """
    import cv2

    n_rows, n_cols = ink.shape
    width = max(4, round(spacing / 2))
    starts = np.arange(0, n_cols, width)
    reach = max(1, round(1.5 * spacing))
    deltas = np.arange(-reach, reach + 1)
    line_rows = np.asarray(rows)
    # Lines a little off the five evenly spaced rows (uneven scale of a scan) still count.
    tolerance = max(1, round(spacing / 8))
    kernel = np.ones((2 * tolerance + 1, 1), np.uint8)
    ink = cv2.dilate(ink.astype(np.uint8), kernel).astype(bool)
    weakest = np.zeros((len(starts), len(deltas)))
    for i, start in enumerate(starts):
        cols = np.arange(start, min(n_cols, start + width))
        grid = line_rows[None, :, None] + offsets[cols][None, None, :] + deltas[:, None, None]
        grid = np.clip(np.rint(grid).astype(int), 0, n_rows - 1)
        weakest[i] = ink[grid, cols[None, None, :]].mean(axis=2).min(axis=1)
    step = max(1.0, spacing / 3)
    shift = np.zeros(len(starts))
    holds = np.zeros(len(starts), dtype=bool)
    # Start where the staff is plainest, near the straight guess; ties go to small shifts.
    near_guess = np.abs(deltas) <= max(1, spacing / 3)
    start_scores = np.where(near_guess, weakest, -1.0).max(axis=1)
    first = int(np.argmax(start_scores))
    for order in (range(first, len(starts)), range(first, -1, -1)):
        previous = 0.0
        for i in order:
            near = np.abs(deltas - previous) <= step
            candidates = np.where(near, weakest[i] - 1e-3 * np.abs(deltas - previous), -1.0)
            j = int(np.argmax(candidates))
            holds[i] = weakest[i, j] >= 0.5
            if holds[i]:
                previous = float(deltas[j])
            shift[i] = previous
    centres = starts + (np.minimum(starts + width, n_cols) - starts) / 2
    column_shift = offsets + np.interp(np.arange(n_cols), centres, shift)
    column_holds = np.repeat(holds, width)[:n_cols]
    return column_shift, column_holds


def _trim_ends(
    on_lines: np.ndarray, between: np.ndarray, left: int, right: int, spacing: float
) -> tuple[int, int]:
    """Move a staff's ends inwards past columns without lines and past a brace or barline.

    ``on_lines`` / ``between``: per column, how many of the five lines / four spaces show
    ink. A brace or barline fills the spaces too, over at most a spacing; a wider filled
    block (a clef, a chord) is part of the staff and stays.
    """
    for _ in range(3):  # brace, gap, barline
        while left < right and on_lines[left] < 3:
            left += 1
        block = left
        while block < right and between[block] >= 3:
            block += 1
        if block == left or block - left > spacing:
            break
        left = block
    for _ in range(3):
        while right > left and on_lines[right] < 3:
            right -= 1
        block = right
        while block > left and between[block] >= 3:
            block -= 1
        if block == right or right - block > spacing:
            break
        right = block
    return left, right


def snap_staves(
    gray: np.ndarray,
    box: list[float],
    n_staves: int = 1,
    min_spacing_px: float = 5.0,
    max_spacing_px: float = 60.0,
    max_tilt_deg: float = 1.5,
    tilt_step_deg: float = 0.05,
    n_strips: int = 8,
) -> list[list[float]]:
    """Find ``n_staves`` five-line staves inside a rough ``box`` and return their tight boxes.

    ``gray``: the page (8-bit, white paper). ``box``: [x0, y0, x1, y1] in page pixels, around
    the staves (their left and right ends inside it). Lines are found on the horizontal ink
    profile of the box, after the small tilt that makes the profile sharpest (searched up to
    ``max_tilt_deg`` in ``tilt_step_deg`` steps over ``n_strips`` vertical strips); a staff
    spans the longest run of strips holding its five lines (:func:`_follow_staff`, which also
    follows bent lines), gaps up to 1.5 spacings bridged, to the columns where three of its
    lines stop; a brace or barline at the ends is left out (:func:`_trim_ends`). Returned
    boxes follow the label convention (line centres; x1 one past the last staff-line
    pixel), tilted or bent staves as their axis-aligned box.
    Raises ValueError when fewer staves than asked are found.
    """
    height, width = gray.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x1 - x0 < 8 or y1 - y0 < 8:
        raise ValueError(f"box {box} is too small")
    ink = _ink_mask(gray[y0:y1, x0:x1])
    n_rows, n_cols = ink.shape
    edges = np.linspace(0, n_cols, n_strips + 1).astype(int)
    strip_fill = np.stack(
        [ink[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    )
    strip_centres = (edges[:-1] + edges[1:]) / 2 - n_cols / 2
    # Sharpest profile over the tilts: straight lines pile up into tall narrow peaks.
    best_tilt, best_sharpness, profile = 0.0, -1.0, strip_fill.mean(axis=0)
    for tilt in np.arange(-max_tilt_deg, max_tilt_deg + 1e-9, tilt_step_deg):
        slope = np.tan(np.radians(tilt))
        shifted = np.zeros(n_rows)
        for fill, centre in zip(strip_fill, strip_centres, strict=True):
            shifted += np.roll(fill, -round(slope * centre))
        shifted /= n_strips
        sharpness = float(np.sum(shifted**2))
        if sharpness > best_sharpness + 1e-12:
            best_tilt, best_sharpness, profile = float(tilt), sharpness, shifted
    slope = float(np.tan(np.radians(best_tilt)))
    widened = np.maximum(profile, np.maximum(np.roll(profile, 1), np.roll(profile, -1)))
    found = []
    remaining = widened.copy()
    for _ in range(n_staves):
        score, top, spacing = _best_five_lines(remaining, profile, min_spacing_px, max_spacing_px)
        if score <= 0.05:
            break
        reach = max(1, int(spacing // 3))
        rows = [_refine_row(profile, top + k * spacing, reach) for k in range(5)]
        found.append(rows)
        low = max(0, int(rows[0] - spacing))
        remaining[low : int(rows[4] + spacing) + 1] = 0.0
    if len(found) < n_staves:
        raise ValueError(f"found {len(found)} of {n_staves} staves in box {box}")
    columns = np.arange(n_cols)
    tilt_offsets = slope * (columns - n_cols / 2)  # row shift of a line at each column

    def hits(row_list: list[float], offsets: np.ndarray, reach: int) -> np.ndarray:
        """Per column, how many of the rows (shifted by ``offsets``) show ink within ``reach``."""
        count = np.zeros(n_cols, dtype=int)
        for row in row_list:
            hit = np.zeros(n_cols, dtype=bool)
            for delta in range(-reach, reach + 1):
                line_rows = np.clip(np.rint(row + offsets + delta).astype(int), 0, n_rows - 1)
                hit |= ink[line_rows, columns]
            count += hit
        return count

    result = []
    for rows in sorted(found, key=lambda r: r[0]):
        spacing = (rows[4] - rows[0]) / 4
        offsets, holds = _follow_staff(ink, rows, tilt_offsets, spacing)
        on_lines = hits(rows, offsets, max(1, round(spacing / 6)))
        spaces = [(a + b) / 2 for a, b in zip(rows[:-1], rows[1:], strict=True)]
        between = hits(spaces, offsets, 1)
        # The staff: the longest run of strips holding it, a chord or a break of the lines
        # (1-bit scans) bridged; its ends to the column where three lines stop.
        run = _longest_run(holds, max_gap=max(2, round(1.5 * spacing)))
        if run is None:
            raise ValueError(f"no staff lines in box {box}")
        left, right = run
        edge = max(2, round(spacing))
        while left > 0 and left > run[0] - edge and on_lines[left - 1] >= 3:
            left -= 1
        while right < n_cols - 1 and right < run[1] + edge and on_lines[right + 1] >= 3:
            right += 1
        left, right = _trim_ends(on_lines, between, left, right, spacing)
        # Axis-aligned box of the (tilted or bent) staff: its extreme line rows.
        span = offsets[left : right + 1]
        result.append(
            [
                round(float(x0 + left), 1),
                round(float(y0 + rows[0] + span.min()), 1),
                round(float(x0 + right + 1), 1),
                round(float(y0 + rows[4] + span.max()), 1),
            ]
        )
    return result


def snap_staves_in_pieces(
    gray: np.ndarray, box: list[float], n_staves: int = 1, n_pieces: int = 1
) -> list[list[float]]:
    """:func:`snap_staves` on ``n_pieces`` side-by-side parts of ``box``, joined per staff.

    For staves bent too much for one snap (a page curled on the scanner): each part is
    nearly straight. The k-th staff of every part (top to bottom) makes the k-th staff;
    its box is the union of the parts' boxes. Parts where a staff is not found, or whose
    staves are not of the parts' common height, are skipped.
    """
    if n_pieces <= 1:
        return snap_staves(gray, box, n_staves)
    edges = np.linspace(box[0], box[2], n_pieces + 1)
    parts = []
    for left, right in zip(edges[:-1], edges[1:], strict=True):
        try:
            parts.append(snap_staves(gray, [left, box[1], right, box[3]], n_staves))
        except ValueError:
            continue
    if not parts:
        raise ValueError(f"no staves found in any part of box {box}")
    # A part misled by beams finds five "lines" at another spacing: keep the parts whose
    # staves have the common height (within an eighth).
    heights = np.array([[staff[3] - staff[1] for staff in part] for part in parts])
    common = np.median(heights, axis=0)
    parts = [
        part
        for part, height in zip(parts, heights, strict=True)
        if np.all(np.abs(height - common) <= common / 8)
    ]
    return [
        [
            min(part[k][0] for part in parts),
            min(part[k][1] for part in parts),
            max(part[k][2] for part in parts),
            max(part[k][3] for part in parts),
        ]
        for k in range(n_staves)
    ]
