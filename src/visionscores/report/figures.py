"""The report's figures and tables: funnel, rejections, feature histograms, contact sheet,
rejected gallery and page overlays, from the published tables and the cleaned pages.

Heavy imports stay inside functions."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from visionscores.fileio import read_gray, read_page_listing

KEPT_COLOR_BGR = (40, 150, 40)
REJECTED_COLOR_BGR = (40, 40, 220)
LABEL_HEIGHT_PX = 22
TILE_GAP_PX = 8
OVERLAY_WIDTH_PX = 1000
TABLE_STYLE = (
    "body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}"
    "caption{text-align:left;font-weight:bold;padding:4px}"
    "td,th{border:1px solid #ccc;padding:3px 8px}td:not(:last-child){text-align:right}"
    "td:first-child{text-align:left}"
)

# Which judge thresholds apply to each feature: (config key, sign), drawn at sign × value.
FEATURE_THRESHOLDS: dict[str, list[tuple[str, float]]] = {
    "width_ratio": [("min_width_ratio", 1.0)],
    "height_sp": [],
    "ink_density": [("min_ink_density", 1.0), ("max_ink_density", 1.0)],
    "residual_skew_deg": [("max_residual_skew_deg", -1.0), ("max_residual_skew_deg", 1.0)],
    "bend_sp": [("max_bend_sp", 1.0)],
    "line_fill": [("min_line_fill", 1.0)],
    "edge_cut": [("max_edge_cut", 1.0)],
    "sharpness": [("min_sharpness", 1.0)],
    "noise": [("max_noise", 1.0)],
    "text_likeness": [("max_text_likeness", 1.0)],
    "overlap": [("max_overlap", 1.0)],
    "open_end_sp": [("max_open_end_sp", 1.0)],
    "barline_beyond_sp": [("max_barline_beyond_sp", 1.0)],
}

FIGURES = (
    "funnel.png",
    "funnel.html",
    "rejections.png",
    "rejections.html",
    "features.png",
    "contact_sheet.png",
    "rejected_gallery.png",
    "movements.html",
)
OVERLAY_DIR = "overlays"


# --- inputs ------------------------------------------------------------------------------


def read_page_summaries(pages_dirs: Iterable[str | Path]) -> dict[str, list[dict[str, Any]]]:
    """piece_id → its pages (the ``pages.json`` of segment's pages folders), by piece_id."""
    summaries = {}
    for pages_dir in pages_dirs:
        listing = read_page_listing(pages_dir)
        summaries[listing["piece_id"]] = listing["pages"]
    return dict(sorted(summaries.items()))


def movement_keys(samples: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Per movement with kept systems: (piece_id, movement_index, first page, systems kept,
    key signature read, stated key, its signature, contradicts).

    The stated key is the manifest's (or the work page's) for the whole score file; a
    movement whose read key signature differs from the stated key's contradicts it (a
    collection's later pieces may rightly be in other keys: the first movement is the one a
    stated key usually describes).
    """
    from visionscores.segment.key_signature import fifths_of_key

    movements: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for row in samples:
        movements.setdefault((row["piece_id"], row["movement_index"]), []).append(row)
    rows = []
    for (piece_id, index), members in sorted(movements.items()):
        first = min(members, key=lambda row: row["reading_index"])
        read = first["movement_key_signature_fifths"]
        stated = fifths_of_key(first.get("key") or "")
        contradicts = read is not None and stated is not None and read != stated
        rows.append(
            (piece_id, index, first["page"], len(members), read, first.get("key") or "", stated,
             "yes" if contradicts else "")
        )  # fmt: skip
    return rows


def funnel_counts(
    page_summaries: Mapping[str, Sequence[Mapping[str, Any]]],
    samples: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]],
) -> list[tuple[str, int]]:
    """(stage, count) from score files to kept systems."""
    return [
        ("score files", len(page_summaries)),
        ("with pages", sum(1 for pages in page_summaries.values() if pages)),
        ("pages", sum(len(pages) for pages in page_summaries.values())),
        ("candidate systems", len(samples) + len(rejected)),
        ("kept systems", len(samples)),
    ]


def pages_without_systems(
    page_summaries: Mapping[str, Sequence[Mapping[str, Any]]],
    samples: Sequence[Mapping[str, Any]],
) -> list[tuple[str, int]]:
    """(``pages without a kept system: {reason}``, count) per reason, by count then name.

    The reasons of the dataset's pages table (:func:`visionscores.publish.stage.page_outcomes`).
    """
    from visionscores.publish.stage import page_outcomes

    listings = [{"piece_id": piece, "pages": pages} for piece, pages in page_summaries.items()]
    counts = Counter(row["reason"] for row in page_outcomes(listings, samples) if row["reason"])
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [(f"pages without a kept system: {reason}", count) for reason, count in ordered]


def reason_counts(
    rejected: Sequence[Mapping[str, Any]], codes: Sequence[str]
) -> list[tuple[str, int, int]]:
    """(code, first failed rule count, any failed rule count) for ``codes`` then unknowns."""
    first = Counter(row["reason"] for row in rejected)
    anywhere = Counter(
        code for row in rejected for code in (row.get("reasons") or row["reason"]).split(";")
    )
    ordered = list(codes) + sorted(set(first) - set(codes))
    return [(code, first[code], anywhere[code]) for code in ordered]


def html_table(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A small self-contained HTML page holding one table (shown inline by the report)."""
    from html import escape

    def cells(tag: str, values: Sequence[Any]) -> str:
        return "".join(f"<{tag}>{escape(str(value))}</{tag}>" for value in values)

    body = "\n".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{TABLE_STYLE}</style></head><body>\n"
        f"<table>\n<caption>{escape(title)}</caption>\n<tr>{cells('th', header)}</tr>\n"
        f"{body}\n</table>\n</body></html>\n"
    )


def write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8, atomically."""
    from visionscores.fileio import write_bytes_atomic

    write_bytes_atomic(path, text.encode("utf-8"))


# --- charts (matplotlib) -----------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "visionscores", "font.size": 10})
    return plt


def _save(figure, path: Path) -> None:
    """PNG without a Software stamp: stable bytes for equal figures."""
    from visionscores.fileio import atomic_path

    with atomic_path(path) as temp_path:
        figure.savefig(temp_path, format="png", dpi=100, metadata={"Software": None})
    figure.clf()
    _pyplot().close(figure)


def plot_funnel(counts: Sequence[tuple[str, int]], path: Path) -> None:
    """Horizontal bars, top to bottom in pipeline order, each labelled with its count."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.5 * len(counts) + 1))
    labels = [label for label, _ in counts]
    values = [value for _, value in counts]
    bars = axes.barh(range(len(counts)), values, color="#4878a8")
    axes.set_yticks(range(len(counts)), labels)
    axes.invert_yaxis()
    axes.bar_label(bars, labels=[f"{value:,}" for value in values], padding=3)
    axes.set_xlim(0, max(values + [1]) * 1.15)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("count")
    axes.set_title("From score files to kept systems")
    figure.tight_layout()
    _save(figure, path)


def plot_rejections(counts: Sequence[tuple[str, int, int]], path: Path) -> None:
    """Bars per reason: candidates rejected first for it, and failing it at all."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 0.4 * len(counts) + 1.2))
    positions = range(len(counts))
    first = [count for _, count, _ in counts]
    anywhere = [count for _, _, count in counts]
    axes.barh(positions, anywhere, color="#e8b0a8", label="fails the rule")
    bars = axes.barh(positions, first, height=0.5, color="#c0392b", label="first failed rule")
    axes.bar_label(bars, labels=[str(value) for value in first], padding=3)
    axes.set_yticks(list(positions), [code for code, _, _ in counts])
    axes.invert_yaxis()
    axes.set_xlim(0, max(anywhere + [1]) * 1.2)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("rejected candidate systems")
    axes.set_title(f"Rejections by reason ({sum(first)} rejected)")
    axes.legend(loc="lower right", frameon=False)
    figure.tight_layout()
    _save(figure, path)


def plot_features(
    samples: Sequence[Mapping[str, Any]],
    rejected: Sequence[Mapping[str, Any]],
    thresholds: Mapping[str, Any],
    path: Path,
    bins: int = 30,
) -> None:
    """One histogram per quality feature (kept and rejected stacked), thresholds as dashed
    lines, and the staff count per candidate with the allowed counts marked."""
    import numpy as np

    from visionscores.segment.features import FEATURES

    plt = _pyplot()
    names = list(FEATURES) + ["n_staves"]
    columns = 4
    rows = -(-len(names) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows))
    for axes, name in zip(grid.ravel(), names, strict=False):
        kept = np.array([row[name] for row in samples if row.get(name) is not None], float)
        dropped = np.array([row[name] for row in rejected if row.get(name) is not None], float)
        values = np.concatenate([kept, dropped])
        limits = [sign * float(thresholds[key]) for key, sign in FEATURE_THRESHOLDS.get(name, [])]
        if name == "n_staves":
            edges = np.arange(0.5, max(values.max() if values.size else 1, 4) + 1.5)
            limits = []
            for allowed in thresholds.get("allowed_n_staves", []):
                axes.axvspan(allowed - 0.5, allowed + 0.5, color="#d8ecd8", zorder=0)
        else:
            span = np.concatenate([values, limits]) if values.size else np.array(limits + [0, 1])
            low, high = float(span.min()), float(span.max())
            if high <= low:
                low, high = low - 0.5, high + 0.5
            edges = np.linspace(low, high, bins + 1)
        axes.hist(
            [kept, dropped],
            bins=edges,
            stacked=True,
            color=["#4878a8", "#c0392b"],
            label=["kept", "rejected"],
        )
        for limit in limits:
            axes.axvline(limit, color="black", linestyle="--", linewidth=1)
        unit = FEATURES[name][0] if name in FEATURES else "staves"
        axes.set_title(name, fontsize=10)
        axes.set_xlabel(unit)
    for axes in grid.ravel()[len(names) :]:
        axes.axis("off")
    grid.ravel()[0].legend(frameon=False, fontsize=8, loc="upper center")
    figure.suptitle("Quality features of all candidate systems (dashed: judge thresholds)")
    figure.tight_layout()
    _save(figure, path)


# --- image sheets (OpenCV) ---------------------------------------------------------------


def _label(image, text: str, color=(0, 0, 0)):
    """``image`` (gray or BGR) with a white strip holding ``text`` above it, as BGR."""
    import cv2
    import numpy as np

    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    strip = np.full((LABEL_HEIGHT_PX, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA)
    return np.vstack([strip, image])


def tile(images: Sequence[Any], columns: int, gap_px: int = TILE_GAP_PX):
    """BGR images of equal size in a grid, ``gap_px`` of light gray between them."""
    import numpy as np

    height, width = images[0].shape[:2]
    rows = -(-len(images) // columns)
    sheet = np.full(
        (rows * height + (rows + 1) * gap_px, columns * width + (columns + 1) * gap_px, 3),
        220,
        np.uint8,
    )
    for index, image in enumerate(images):
        top = gap_px + (index // columns) * (height + gap_px)
        left = gap_px + (index % columns) * (width + gap_px)
        sheet[top : top + height, left : left + width] = image
    return sheet


def _message_image(text: str):
    import cv2
    import numpy as np

    image = np.full((80, 700, 3), 255, np.uint8)
    cv2.putText(image, text, (12, 48), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def write_png(path: Path, image) -> None:
    import cv2

    from visionscores.fileio import atomic_path

    with atomic_path(path) as temp_path:
        if not cv2.imwrite(str(temp_path), image, [cv2.IMWRITE_PNG_COMPRESSION, 6]):
            raise OSError(f"cannot write {path}")


def seeded_sample(items: Sequence[Any], count: int, seed: int) -> list[Any]:
    """Up to ``count`` of ``items`` chosen with ``seed``, in their original order."""
    if len(items) <= count:
        return list(items)
    chosen = sorted(random.Random(seed).sample(range(len(items)), count))
    return [items[index] for index in chosen]


def contact_sheet(
    samples: Sequence[Mapping[str, Any]], dataset_dir: Path, count: int, seed: int, columns: int
):
    """A grid of ``count`` seeded-random kept system images, each labelled with sample_id."""

    chosen = seeded_sample(sorted(samples, key=lambda row: row["sample_id"]), count, seed)
    if not chosen:
        return _message_image("no kept systems")
    images = []
    for row in chosen:
        gray = read_gray(dataset_dir / row["image_path"])
        images.append(_label(gray, row["sample_id"]))
    return tile(images, columns)


class PageCache:
    """Deskewed gray pages by (piece_id, page), read on demand; the last one is kept."""

    def __init__(self, paths: Mapping[tuple[str, int], Path]) -> None:
        self.paths = paths  # (piece_id, page) -> the page's image file
        self.last: tuple[tuple[str, int], Any] | None = None

    def gray(self, piece_id: str, page: int):
        key = (piece_id, page)
        if self.last is None or self.last[0] != key:
            self.last = (key, read_gray(self.paths[key]))
        return self.last[1]


def _candidate_name(row: Mapping[str, Any]) -> str:
    return f"{row['piece_id']} p{row['page']} s{row['system_on_page']}"


def rejected_gallery(
    judged: Sequence[Mapping[str, Any]],
    pages: PageCache,
    per_reason: int,
    seed: int,
    size_px: tuple[int, int] = (128, 512),
    mode: str = "fit",
):
    """Rows of up to ``per_reason`` rejected systems per reason (most frequent reason
    first), each cut from its deskewed page and brought to ``size_px`` (height, width) by
    ``mode`` (config format's) as the dataset images are, labelled with reason, piece,
    page, system and failed value."""
    from visionscores.format.images import to_sample

    by_reason: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(judged, key=lambda row: (row["piece_id"], row["reading_index"])):
        if not row["keep"]:
            by_reason.setdefault(row["reason"], []).append(row)
    if not by_reason:
        return _message_image("no rejected candidate systems")
    reasons = sorted(by_reason, key=lambda code: (-len(by_reason[code]), code))
    images = []
    blank = None
    for code in reasons:
        chosen = seeded_sample(by_reason[code], per_reason, seed)
        for row in chosen:
            gray = pages.gray(row["piece_id"], row["page"])
            x0, y0, x1, y1 = (round(v) for v in row["deskewed_crop_bbox"])
            crop = gray[max(y0, 0) : max(y1, 1), max(x0, 0) : max(x1, 1)]
            fitted = to_sample(crop, *size_px, mode) if crop.size else gray[:1, :1]
            text = f"{code} ({row['reason_value']:.3g}): {_candidate_name(row)}"
            images.append(_label(fitted, text, REJECTED_COLOR_BGR))
        blank = images[-1] * 0 + 255
        images += [blank] * (per_reason - len(chosen))
    return tile(images, per_reason)


def choose_overlay_pages(
    judged: Sequence[Mapping[str, Any]], count: int, seed: int
) -> list[tuple[str, int]]:
    """Pages to draw: one per rejection reason (seeded), then seeded-random others, up to
    ``count``; sorted by (piece_id, page)."""
    pages = sorted({(row["piece_id"], row["page"]) for row in judged})
    rng = random.Random(seed)
    chosen: list[tuple[str, int]] = []
    reasons = sorted({row["reason"] for row in judged if not row["keep"]})
    for code in reasons:
        options = sorted({(r["piece_id"], r["page"]) for r in judged if r["reason"] == code})
        options = [page for page in options if page not in chosen]
        if options and len(chosen) < count:
            chosen.append(options[rng.randrange(len(options))])
    others = [page for page in pages if page not in chosen]
    chosen += seeded_sample(others, max(0, count - len(chosen)), seed)
    return sorted(chosen)


def page_overlay(gray, candidates: Sequence[Mapping[str, Any]], width_px: int = OVERLAY_WIDTH_PX):
    """The deskewed page with each candidate's crop box: kept green, rejected red with its
    reason; scaled to ``width_px`` wide."""
    import cv2

    scale = min(1.0, width_px / gray.shape[1])
    page = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    page = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    for row in candidates:
        x0, y0, x1, y1 = (round(v * scale) for v in row["deskewed_crop_bbox"])
        color = KEPT_COLOR_BGR if row["keep"] else REJECTED_COLOR_BGR
        cv2.rectangle(page, (x0, y0), (x1, y1), color, 2)
        text = f"s{row['system_on_page']}" + ("" if row["keep"] else f" {row['reason']}")
        cv2.putText(
            page, text, (x0 + 4, y0 + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1, cv2.LINE_AA
        )
    return page


# --- the whole report --------------------------------------------------------------------
