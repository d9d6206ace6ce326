"""The report stage: the figures and tables of a scenario for ``snakemake --report``.

From the published tables (metadata, rejected), the segment stage's page summaries, the
judged candidates and the cleaned pages, :func:`build_report` writes into one folder:

- ``funnel.png`` / ``funnel.html``: score files → pages → candidate systems → kept, and
  the pages that gave no kept system, per reason;
- ``rejections.png`` / ``rejections.html``: rejected candidates per reason;
- ``features.png``: a histogram of each quality feature, kept and rejected stacked, with
  the judge thresholds drawn;
- ``movements.html``: each movement (piece or movement of a score file) with the key
  signature read on its systems and whether it contradicts the stated key;
- ``contact_sheet.png``: a seeded random sample of kept system images;
- ``rejected_gallery.png``: a few rejected systems per reason, as they were cut;
- ``overlays/{piece_id}-pNNN.png``: pages with every candidate's crop box drawn (kept
  green, rejected red with its reason).

Sampling is seeded and all ordering fixed; PNGs carry no software or time stamp, so equal
inputs give byte-identical files (with the same matplotlib and OpenCV versions). Heavy
imports stay inside functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from visionscores.acquire.records import recorded_pieces
from visionscores.report.figures import (
    OVERLAY_DIR,
    PageCache,
    choose_overlay_pages,
    contact_sheet,
    funnel_counts,
    html_table,
    movement_keys,
    page_overlay,
    pages_without_systems,
    plot_features,
    plot_funnel,
    plot_rejections,
    read_page_summaries,
    reason_counts,
    rejected_gallery,
    write_png,
    write_text,
)


def build_report(
    metadata_path: str | Path,
    rejected_path: str | Path,
    pages_dirs: Iterable[str | Path],
    judged_paths: Iterable[str | Path],
    thresholds: Mapping[str, Any],
    out_dir: str | Path,
    dataset_dir: str | Path,
    seed: int,
    contact_sheet_count: int,
    gallery_per_reason: int,
    overlay_pages: int,
    sample_format: Mapping[str, Any],
    record_paths: Iterable[str | Path],
) -> dict[str, int]:
    """Write every figure and table of the report into ``out_dir`` (see the module doc).

    ``pages_dirs``: segment's pages folders, named by piece_id (of the pieces whose PDF was
    acquired); ``record_paths``: the acquire records of every piece (those without pages
    folder count as score files without pages); ``thresholds``: config
    ``judge``; ``dataset_dir``: the folder the metadata's ``image_path`` is relative to;
    ``seed``, ``contact_sheet_count``, ``gallery_per_reason``, ``overlay_pages``: config
    ``report``; ``sample_format``: config ``format`` (the gallery's images are made as the
    samples are). Returns counts for the log.
    """
    import pyarrow.parquet as pq

    from visionscores.fileio import atomic_directory
    from visionscores.judge.rules import REASON_MEANINGS

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset_dir = Path(dataset_dir)
    samples = pq.read_table(metadata_path).to_pylist()
    rejected = pq.read_table(rejected_path).to_pylist()
    pages_dirs = [Path(path) for path in pages_dirs]
    page_summaries = dict(
        sorted(
            (
                {piece: [] for piece in recorded_pieces(record_paths)}
                | read_page_summaries(pages_dirs)
            ).items()
        )
    )
    judged = [
        row for path in sorted(map(str, judged_paths)) for row in pq.read_table(path).to_pylist()
    ]
    pages = PageCache(
        {
            (path.name, page["page"]): path / page["file"]
            for path in pages_dirs
            for page in page_summaries[path.name]
        }
    )

    funnel = funnel_counts(page_summaries, samples, rejected)
    funnel += pages_without_systems(page_summaries, samples)
    plot_funnel(funnel, out_dir / "funnel.png")
    write_text(out_dir / "funnel.html", html_table("Funnel", ["stage", "count"], funnel))

    reasons = reason_counts(rejected, list(REASON_MEANINGS))
    plot_rejections(reasons, out_dir / "rejections.png")
    total = max(len(rejected), 1)
    table = html_table(
        f"Rejections by reason ({len(rejected)} of {len(samples) + len(rejected)} candidates)",
        ["reason", "first failed", "share of rejected", "fails at all", "meaning"],
        [
            (code, first, f"{100 * first / total:.1f} %", anywhere, REASON_MEANINGS.get(code, ""))
            for code, first, anywhere in reasons
        ],
    )
    write_text(out_dir / "rejections.html", table)
    plot_features(samples, rejected, thresholds, out_dir / "features.png")
    keys = movement_keys(samples)
    contradictions = sum(1 for row in keys if row[-1])
    table = html_table(
        f"Movements and key signatures ({len(keys)} movements; {contradictions} contradict"
        " the stated key)",
        ["piece", "movement", "first page", "systems kept", "key signature read (fifths)",
         "stated key", "its signature", "contradicts"],
        [["" if value is None else value for value in row] for row in keys],
    )  # fmt: skip
    write_text(out_dir / "movements.html", table)
    write_png(
        out_dir / "contact_sheet.png",
        contact_sheet(samples, dataset_dir, contact_sheet_count, seed, columns=3),
    )
    write_png(
        out_dir / "rejected_gallery.png",
        rejected_gallery(
            judged,
            pages,
            gallery_per_reason,
            seed,
            (sample_format["height_px"], sample_format["width_px"]),
            sample_format["mode"],
        ),
    )
    chosen = choose_overlay_pages(judged, overlay_pages, seed)
    with atomic_directory(out_dir / OVERLAY_DIR) as temp_dir:
        for piece_id, page in chosen:
            candidates = [r for r in judged if (r["piece_id"], r["page"]) == (piece_id, page)]
            image = page_overlay(pages.gray(piece_id, page), candidates)
            write_png(temp_dir / f"{piece_id}-p{page:03d}.png", image)
    return {"kept": len(samples), "rejected": len(rejected), "overlay_pages": len(chosen)}
