"""Bring the development set's pages into the cache as gray PNG images.

Usage::

    python benchmarks/real/fetch.py [--mirror DIR] [--sources sources/x.csv ...]
        [--only PAGE_ID ...] [--force]

Every row of the sources lists (``sources/*.csv``) names a file by repository, commit and
path, with its sha256. The file is read from a local git snapshot of the repository (folder
``owner+name`` under ``--mirror`` or ``$REAL_PAGES_MIRROR``), its checksum verified (a
mismatch is refused, naming the page), and the page written to
``cache/<page_id>.png`` (8-bit gray) with ``cache/<page_id>.json`` (size, dpi, origin, sha256).
A PDF page goes through the package's ``visionscores.segment.render.render_page``, as in the
workflow: a page that is one scanned image is taken at its own pixels, any other page is
rendered at ``render.dpi`` of config/config.yaml. An image file is read as it is stored
(first frame), converted to gray; a JPEG (a camera's photo) is first turned upright by its
EXIF orientation tag, as viewers show it. Excluded pages (``excluded.txt``) are refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realpages  # noqa: E402  (lives next to this script)

from visionscores.errors import VisionscoresError  # noqa: E402

REPO_ROOT = realpages.REAL_DIR.parent.parent
CONFIG_PATH = REPO_ROOT / "config" / "config.yaml"
JPEG_SUFFIXES = (".jpg", ".jpeg")


class ChecksumError(RuntimeError):
    """A file whose bytes are not the ones the sources list recorded."""


def load_render_config(config_path: Path = CONFIG_PATH) -> dict:
    """The workflow's `render:` settings (dpi, max_pixels_per_page)."""
    return yaml.safe_load(config_path.read_text(encoding="utf-8"))["render"]


def decode_page(data: bytes, suffix: str, page: int | None, render_config: dict) -> tuple:
    """Return (gray image, record dict) of one page of a file's bytes.

    ``suffix``: the file's extension (".pdf" or an image's); ``page``: 1-based PDF page.
    """
    if suffix.lower() == ".pdf":
        import tempfile

        from visionscores.segment import render

        with tempfile.TemporaryDirectory() as folder:
            pdf_path = Path(folder) / "page.pdf"
            pdf_path.write_bytes(data)
            document = render.open_pdf(pdf_path)
            if page is None or not 1 <= page <= document.page_count:
                raise ValueError(f"page {page} not in a PDF of {document.page_count} pages")
            gray, info = render.render_page(
                document, page, render_config["dpi"], render_config["max_pixels_per_page"]
            )
            record = render.page_record(info)
            document.close()
        return gray, record
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a readable image")
    exif_turned = False
    if suffix.lower() in JPEG_SUFFIXES:
        # A camera stores a picture as its sensor saw it and says how to turn it upright in
        # the EXIF orientation tag; viewers, and a user wrapping the photo in a PDF, show it
        # turned. IMREAD_COLOR applies the tag (IMREAD_UNCHANGED does not).
        upright = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
        exif_turned = upright.shape[:2] != image.shape[:2]
        image = upright
    channels = "color" if image.ndim == 3 else "gray"
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    height, width = image.shape
    record = {
        "page": 1,
        "width": width,
        "height": height,
        "dpi": None,
        "origin": "image-file",
        "vector_only": False,
        "stored_channels": channels,
        "exif_turned": exif_turned,
    }
    return image, record


def fetch_page(row: dict, mirror_root: str | None, cache_dir: Path, force: bool = False) -> Path:
    """Write one sources row's page to the cache; return the PNG path.

    Raises :class:`ChecksumError` when the file's sha256 differs from the row's.
    """
    png_path = cache_dir / f"{row['page_id']}.png"
    json_path = cache_dir / f"{row['page_id']}.json"
    if not force and png_path.exists() and json_path.exists():
        record = json.loads(json_path.read_text(encoding="utf-8"))
        if record.get("sha256") == row["sha256"]:
            return png_path
    git_dir = realpages.snapshot_dir(row["repo"], mirror_root)
    data = realpages.git_blob(git_dir, row["commit"], row["path"])
    digest = realpages.sha256_hex(data)
    if digest != row["sha256"]:
        raise ChecksumError(
            f"page {row['page_id']}: {row['repo']}:{row['path']} at {row['commit'][:10]} has"
            f" sha256 {digest}, the sources list says {row['sha256']}; refused"
        )
    gray, record = decode_page(data, Path(row["path"]).suffix, row["page"], load_render_config())
    record.update(page_id=row["page_id"], sha256=digest)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(png_path), gray)
    json_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return png_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", help=f"snapshot root (default ${realpages.MIRROR_ENV})")
    parser.add_argument("--sources", nargs="*", type=Path, help="sources CSVs (default: all)")
    parser.add_argument("--only", nargs="*", help="page_ids to fetch (default: all)")
    parser.add_argument("--cache", type=Path, default=realpages.CACHE_DIR)
    parser.add_argument("--force", action="store_true", help="fetch again even when cached")
    args = parser.parse_args(argv)
    rows = realpages.read_sources(args.sources)
    excluded = realpages.read_excluded()
    wanted = set(args.only) if args.only else set(rows)
    unknown = wanted - set(rows)
    if unknown:
        parser.error(f"not in the sources lists: {sorted(unknown)}")
    failures = 0
    for page_id in sorted(wanted):
        row = rows[page_id]
        if realpages.is_excluded(row["repo"], row["path"], excluded):
            print(f"{page_id}: {row['repo']}:{row['path']} is excluded; refused", file=sys.stderr)
            failures += 1
            continue
        try:
            fetch_page(row, args.mirror, args.cache, args.force)
        except (ChecksumError, FileNotFoundError, ValueError, VisionscoresError) as error:
            print(f"{page_id}: {error}", file=sys.stderr)
            failures += 1
    print(f"{len(wanted) - failures} pages in {args.cache}, {failures} refused or missing")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
