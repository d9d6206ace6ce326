"""The demo data set: a handful of engraved and scan-like score PDFs with exact system boxes.

``build_demo(out_dir)`` writes ``pdf/<piece_id>.pdf``, ``ground_truth.json``, ``demo.csv`` (the
piece manifest the pipeline reads by default) and a ``README.md`` naming the sources. Run it
with ``python -m visionscores_tools.demo REPOSITORY_ROOT``. Needs the ``visionscores[tools]`` extra.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visionscores.acquire.manifest import MANIFEST_COLUMNS
from visionscores_tools import synthetic

DPI = 300


@dataclass(frozen=True)
class DemoPiece:
    """One demo piece and how to make it.

    piece_id: lowercase slug, also the PDF file name.
    source: music21 corpus path of the encoding.
    corpus_file: the file inside the music21 corpus that ``source`` resolves to.
    licence_note: what the encoding says about its licence (checked by hand).
    kind: "vector", "scan-gray" or "scan-1bit".
    max_pages: number of engraved pages kept.
    header: print a title block (title and composer) on page 1.
    engrave_options: extra keyword arguments for ``synthetic.engrave``.
    """

    piece_id: str
    source: str
    corpus_file: str
    licence_note: str
    title: str
    composer: str
    key: str
    imslp_page: str
    kind: str
    max_pages: int
    header: bool = False
    engrave_options: tuple[tuple[str, object], ...] = ()


PIECES = (
    DemoPiece(
        piece_id="mozart-k545-exposition",
        source="mozart/k545",
        corpus_file="mozart/k545/movement1_exposition.mxl",
        licence_note=(
            "none in the encoding (Finale 2011 / Dolet export, 2012); music21 corpus, "
            "public-domain work"
        ),
        title="Piano Sonata No. 16 in C major, K. 545: I. Allegro (exposition)",
        composer="Wolfgang Amadeus Mozart",
        key="C major",
        imslp_page=(
            "https://imslp.org/wiki/Piano_Sonata_No.16_in_C_major,_K.545_(Mozart,_Wolfgang_Amadeus)"
        ),
        kind="vector",
        max_pages=1,
    ),
    DemoPiece(
        piece_id="bach-bwv846-prelude",
        source="bach/bwv846",
        corpus_file="bach/bwv846.mxl",
        licence_note=(
            "none in the encoding (MuseScore 1.3 export, 2013, source "
            "http://musescore.com/score/117279); music21 corpus, public-domain work"
        ),
        title="Prelude in C major, BWV 846",
        composer="Johann Sebastian Bach",
        key="C major",
        imslp_page=(
            "https://imslp.org/wiki/The_Well-Tempered_Clavier_I,_BWV_846-869_"
            "(Bach,_Johann_Sebastian)"
        ),
        kind="scan-gray",
        max_pages=2,
        engrave_options=(("font", "Leland"), ("staff_space_mm", 1.7)),
    ),
    DemoPiece(
        piece_id="joplin-maple-leaf-rag",
        source="joplin/maple_leaf_rag",
        corpus_file="joplin/maple_leaf_rag.mxl",
        licence_note=(
            "none in the encoding (MuseScore 2.1.0 export, 2017, source "
            "http://musescore.com/user/116681/scores/145724); music21 corpus, "
            "public-domain work (1899)"
        ),
        title="Maple Leaf Rag",
        composer="Scott Joplin",
        key="A-flat major",
        imslp_page="https://imslp.org/wiki/Maple_Leaf_Rag_(Joplin,_Scott)",
        kind="scan-1bit",
        max_pages=2,
        engrave_options=(("font", "Bravura"), ("staff_space_mm", 1.6)),
    ),
    DemoPiece(
        piece_id="cpebach-h186-poco-adagio",
        source="cpebach/h186",
        corpus_file="cpebach/h186.mxl",
        licence_note=(
            "none in the encoding (Finale v27.2 export, 2022); music21 corpus, public-domain work"
        ),
        title="Sonata in A major, H. 186, Wq. 55/4: II. Poco adagio",
        composer="Carl Philipp Emanuel Bach",
        key="",
        imslp_page="",
        kind="vector",
        max_pages=3,
        header=True,
        engrave_options=(("staff_space_mm", 1.6), ("margin_top_mm", 12.0)),
    ),
    DemoPiece(
        piece_id="schumann-dichterliebe-02",
        source="schumann_robert/opus48no2",
        corpus_file="schumann_robert/opus48no2.mxl",
        licence_note=(
            "none in the encoding (Finale 2011 / Dolet export, 2011); music21 corpus, "
            "public-domain work"
        ),
        title="Aus meinen Tränen sprießen (Dichterliebe, Op. 48 No. 2)",
        composer="Robert Schumann",
        key="A major",
        imslp_page="https://imslp.org/wiki/Dichterliebe,_Op.48_(Schumann,_Robert)",
        kind="vector",
        max_pages=2,
        header=True,
        engrave_options=(("font", "Bravura"), ("lyric_size", 3.6)),
    ),
)


@dataclass(frozen=True)
class DemoCollection:
    """A demo score file holding several short pieces one after the other, as a collection
    prints them: each piece starts on the same page as the last one ends, with its title.

    movements: (music21 corpus path, corpus file, heading title) of each piece, in order.
    The file is scanned-looking (``scan-gray``) and carries the exact first system of each.
    """

    piece_id: str
    title: str
    composer: str
    key: str
    imslp_page: str
    licence_note: str
    movements: tuple[tuple[str, str, str], ...]
    engrave_options: tuple[tuple[str, object], ...] = ()
    kind: str = "scan-gray"


COLLECTION = DemoCollection(
    piece_id="piano-album",
    title="Piano album: Schoenberg, Op. 19 Nos. 2 and 6; C. Schumann, Polonaise Op. 1 No. 1",
    composer="Various",
    key="",
    imslp_page="",
    licence_note=(
        "none in the encodings (Finale 2010 / Dolet exports; MuseScore 1.3); music21 corpus, "
        "public-domain works (Schoenberg's Op. 19, published 1911; Clara Schumann's Op. 1, 1829)"
    ),
    movements=(
        ("schoenberg/opus19/movement2", "schoenberg/opus19/movement2.mxl", "Op. 19 No. 2"),
        ("schoenberg/opus19/movement6", "schoenberg/opus19/movement6.mxl", "Op. 19 No. 6"),
        (
            "schumann_clara/polonaise_op1n1",
            "schumann_clara/polonaise_op1n1.mxl",
            "Polonaise Op. 1 No. 1",
        ),
    ),
    engrave_options=(("font", "Leipzig"), ("staff_space_mm", 1.6)),
)
# Where the collection's pieces are set on its pages, pixels at DPI.
COLLECTION_MARGIN_TOP_PX = 170
COLLECTION_MARGIN_BOTTOM_PX = 170
COLLECTION_PIECE_GAP_PX = 60
# Each piece's first system indented, as engravers print it (verovio does not), pixels.
COLLECTION_FIRST_INDENT_PX = 150


def _scan_settings(kind: str, rng: np.random.Generator) -> dict:
    """Scanner damage for one page; skews lie in fixed ranges so the demo shows real tilt."""
    common = {
        "scale": float(rng.uniform(0.98, 1.02)),
        "shift_px": (float(rng.uniform(-25, 25)), float(rng.uniform(-25, 25))),
    }
    if kind == "scan-gray":
        return common | {
            "rotation_deg": float(rng.uniform(1.5, 2.5)),
            "bleed_through": 0.12,
            "uneven_light": 0.15,
            "paper_gray": 238,
            "blur_sigma_px": 0.7,
            "noise_sigma": 3.0,
        }
    if kind == "scan-1bit":
        return common | {
            "rotation_deg": -float(rng.uniform(0.8, 1.5)),
            "uneven_light": 0.1,
            "blur_sigma_px": 0.9,
            "noise_sigma": 6.0,
            "salt_pepper": 0.0003,
            "binarize_1bit": True,
        }
    raise ValueError(f"not a scan kind: {kind!r}")


def _page_record(
    page_number: int, shape, skew_deg: float, boxes, n_staves, key_signatures, starts=None
) -> dict:
    """A page of the ground truth; ``key_signatures``: per system, the key signature printed
    at its start (fifths, from the engraving); ``starts``: per system, True on a piece's first
    system (given for the collection only)."""
    height, width = shape
    systems = [
        {
            "staff_bbox": [round(float(v), 2) for v in box],
            "n_staves": int(n),
            "key_signature_fifths": fifths,
        }
        for box, n, fifths in zip(boxes, n_staves, key_signatures, strict=True)
    ]
    if starts is not None:
        for system, start in zip(systems, starts, strict=True):
            system["movement_start"] = bool(start)
    return {
        "page": page_number,
        "width": int(width),
        "height": int(height),
        "dpi": DPI,
        "skew_deg": round(float(skew_deg), 4),
        "systems": systems,
    }


def make_piece(piece: DemoPiece, rng: np.random.Generator) -> tuple[bytes, list[dict]]:
    """Engrave one demo piece; returns its PDF bytes and the ground-truth page records."""
    pages = synthetic.engrave(
        piece.source,
        title=piece.title if piece.header else None,
        composer=piece.composer if piece.header else None,
        header=piece.header,
        max_pages=piece.max_pages,
        **dict(piece.engrave_options),
    )
    pdf = synthetic.vector_pdf(pages)
    records = []
    if piece.kind == "vector":
        for index, page in enumerate(pages):
            shape = synthetic.render_pdf_page(pdf, index, DPI).shape
            records.append(
                _page_record(
                    index + 1,
                    shape,
                    0.0,
                    page.boxes_at_dpi(DPI),
                    page.n_staves,
                    page.key_signatures,
                )
            )
        return pdf, records

    scans = []
    for index, page in enumerate(pages):
        clean = synthetic.render_pdf_page(pdf, index, DPI)
        settings = _scan_settings(piece.kind, rng)
        scan, boxes = synthetic.degrade(clean, page.boxes_at_dpi(DPI), rng, **settings)
        scans.append(scan)
        records.append(
            _page_record(
                index + 1,
                scan.shape,
                settings["rotation_deg"],
                boxes,
                page.n_staves,
                page.key_signatures,
            )
        )
    mode = "gray" if piece.kind == "scan-gray" else "1bit"
    return synthetic.image_pdf(scans, DPI, mode, jpeg_quality=70), records


def make_collection(
    collection: DemoCollection, rng: np.random.Generator
) -> tuple[bytes, list[dict]]:
    """Engrave the collection's pieces, set them one after the other (each with its title),
    scan the pages; returns the PDF bytes and the ground-truth page records."""
    pieces, key_signatures = [], []
    for source, _, heading in collection.movements:
        pages = synthetic.engrave(
            source, title=heading, header=True, **dict(collection.engrave_options)
        )
        if any(count != 2 for page in pages for count in page.n_staves):
            raise ValueError(f"{source}: the collection takes two-staff piano pieces only")
        pieces.append([synthetic.rasterize(page, DPI) for page in pages])
        key_signatures += [fifths for page in pages for fifths in page.key_signatures]
    made = synthetic.movement_file(
        pieces,
        margin_top_px=COLLECTION_MARGIN_TOP_PX,
        margin_bottom_px=COLLECTION_MARGIN_BOTTOM_PX,
        piece_gap_px=COLLECTION_PIECE_GAP_PX,
        first_indent_px=COLLECTION_FIRST_INDENT_PX,
    )
    scans, records = [], []
    for index, (gray, boxes, starts) in enumerate(
        zip(made.pages, made.boxes, made.starts, strict=True)
    ):
        settings = _scan_settings(collection.kind, rng)
        scan, moved = synthetic.degrade(gray, boxes, rng, **settings)
        scans.append(scan)
        n_staves = [2] * len(moved)  # checked above: two-staff systems only
        # The systems keep their order across the file's pages: their key signatures follow.
        fifths, key_signatures = key_signatures[: len(moved)], key_signatures[len(moved) :]
        records.append(
            _page_record(
                index + 1, scan.shape, settings["rotation_deg"], moved, n_staves, fifths, starts
            )
        )
    return synthetic.image_pdf(scans, DPI, "gray", jpeg_quality=70), records


def _compact_json(data: dict) -> str:
    """Indented JSON with each box on one line, so the file stays readable."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    text = re.sub(
        r"\[\s+([-\d.,\s]+?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m[1]) + "]", text
    )
    return text + "\n"


def _readme(pieces: tuple[DemoPiece, ...]) -> str:
    lines = [
        "# Demo score PDFs",
        "",
        "Made by `python -m visionscores_tools.demo .`: music21",
        "corpus encodings engraved with verovio, written as vector PDFs with cairosvg, and for",
        "the scanned-looking ones rasterised at 300 dpi, tilted and damaged, then packed as",
        "image-only PDFs. `ground_truth.json` holds the exact staff box of every system in",
        "pixels of the page image at 300 dpi (PyMuPDF rendering for vector PDFs, the embedded",
        "image for image-only PDFs); `config/pieces/demo.csv` is the manifest the pipeline reads.",
        "",
        "| piece | kind | source (music21 corpus) | licence note in the encoding |",
        "|---|---|---|---|",
    ]
    for piece in pieces:
        lines.append(
            f"| {piece.piece_id} | {piece.kind} | `{piece.corpus_file}` | {piece.licence_note} |"
        )
    files = ", ".join(f"`{corpus_file}`" for _, corpus_file, _ in COLLECTION.movements)
    lines.append(
        f"| {COLLECTION.piece_id} | {COLLECTION.kind}, a collection | {files} |"
        f" {COLLECTION.licence_note} |"
    )
    lines += [
        "",
        f"`{COLLECTION.piece_id}` holds several short pieces in one file, each starting on the",
        "page where the one before ends, under its own title, as collections print them; its",
        "ground truth marks each piece's first system (`movement_start`).",
    ]
    lines += [
        "",
        "All works are in the public domain. The encodings ship with the music21 corpus",
        "(https://github.com/cuthbertLab/music21), whose corpus licence defers to notes in the",
        "individual files; the files used here carry none (encodings with non-commercial notes",
        "were avoided). Titles and page layout come from this project's engraving, not from the",
        "editions the encodings were made from.",
        "",
    ]
    return "\n".join(lines)


def build_demo(out_dir: Path, seed: int = 0, manifest_path: Path | None = None) -> None:
    """Write the demo set to ``out_dir``: PDFs, ground truth, manifest and README.

    out_dir: target directory (created); the manifest names PDFs as ``demo/pdf/<id>.pdf``,
        i.e. relative to the repository root when ``out_dir`` is the repository's ``demo``.
    seed: seed of the one random generator used for all scanner damage.
    manifest_path: where the manifest goes (default ``out_dir/demo.csv``); the repository
        keeps it at ``config/pieces/demo.csv``.
    """
    out_dir = Path(out_dir)
    manifest_path = Path(manifest_path) if manifest_path else out_dir / "demo.csv"
    pdf_dir = out_dir / "pdf"
    pdf_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ground_truth: dict = {"pieces": {}}
    rows = []
    for piece in PIECES:
        pdf, records = make_piece(piece, rng)
        (pdf_dir / f"{piece.piece_id}.pdf").write_bytes(pdf)
        ground_truth["pieces"][piece.piece_id] = {
            "source": piece.source,
            "corpus_file": piece.corpus_file,
            "licence_note": piece.licence_note,
            "kind": piece.kind,
            "pages": records,
        }
        rows.append(
            {
                "piece_id": piece.piece_id,
                "scenario": "demo",
                "title": piece.title,
                "composer": piece.composer,
                "key": piece.key,
                "imslp_page": piece.imslp_page,
                "imslp_file_index": "",
                "source": f"demo/pdf/{piece.piece_id}.pdf",
                "sha256": hashlib.sha256(pdf).hexdigest(),
            }
        )
    pdf, records = make_collection(COLLECTION, rng)
    (pdf_dir / f"{COLLECTION.piece_id}.pdf").write_bytes(pdf)
    ground_truth["pieces"][COLLECTION.piece_id] = {
        "source": [source for source, _, _ in COLLECTION.movements],
        "corpus_file": [corpus_file for _, corpus_file, _ in COLLECTION.movements],
        "licence_note": COLLECTION.licence_note,
        "kind": COLLECTION.kind,
        "pages": records,
    }
    rows.append(
        {
            "piece_id": COLLECTION.piece_id,
            "scenario": "demo",
            "title": COLLECTION.title,
            "composer": COLLECTION.composer,
            "key": COLLECTION.key,
            "imslp_page": COLLECTION.imslp_page,
            "imslp_file_index": "",
            "source": f"demo/pdf/{COLLECTION.piece_id}.pdf",
            "sha256": hashlib.sha256(pdf).hexdigest(),
        }
    )
    (out_dir / "ground_truth.json").write_text(_compact_json(ground_truth))
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    with manifest_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "README.md").write_text(_readme(PIECES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m visionscores_tools.demo",
        description="Engrave the demo scores into demo/ and config/pieces/demo.csv.",
    )
    parser.add_argument("repo_root", type=Path, help="the repository's root folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the degradations")
    args = parser.parse_args(argv)
    build_demo(
        args.repo_root / "demo",
        seed=args.seed,
        manifest_path=args.repo_root / "config/pieces/demo.csv",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
