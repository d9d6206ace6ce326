"""Atomic file output: nothing half-written is ever left under a final name.

Every file the pipeline writes goes first to a temporary name in the same directory and is
renamed into place only once complete, so a killed job leaves at worst a ``.tmp-*`` file that
no later step mistakes for a finished output.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _give_default_mode(path: Path, full_mode: int) -> None:
    """Give a temporary file or folder the mode a plain open() or mkdir() would have.

    mkstemp and mkdtemp make private (0600 / 0700) entries; outputs are meant to be read by
    others on a shared machine, as any file the user creates.
    """
    os.chmod(path, full_mode & ~_umask())


def _remove_stale_temporaries(parent: Path, prefix: str, suffix: str) -> None:
    """Remove what a killed writer left in ``parent``: ``{prefix}XXXXXXXX{suffix}`` entries.

    The random part has exactly 8 characters (tempfile's names), so the leftovers of another
    output whose name starts the same (piece ``a`` and piece ``a-b``) are never matched.
    """
    for candidate in parent.glob(f"{prefix}*"):
        name = candidate.name
        if not name.endswith(suffix) or len(name) != len(prefix) + 8 + len(suffix):
            continue
        if candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place on success.

    The temporary file keeps the final suffix so that writers choosing a format by file
    extension (OpenCV, pyarrow) behave as for the final name.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".tmp-{final_path.stem}-"
    _remove_stale_temporaries(final_path.parent, prefix, final_path.suffix)
    descriptor, temp_name = tempfile.mkstemp(
        prefix=prefix, suffix=final_path.suffix, dir=final_path.parent
    )
    os.close(descriptor)
    temp_path = Path(temp_name)
    try:
        yield temp_path
        with open(temp_path, "rb") as handle:
            os.fsync(handle.fileno())
        _give_default_mode(temp_path, 0o666)
        os.replace(temp_path, final_path)
    finally:
        temp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(final_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``final_dir``; swap it into place on success.

    An existing ``final_dir`` is replaced whole, so a directory output never mixes files of
    two runs.
    """
    final_dir = Path(final_dir)
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".tmp-{final_dir.name}-"
    _remove_stale_temporaries(final_dir.parent, prefix, "")
    temp_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=final_dir.parent))
    try:
        yield temp_dir
        _give_default_mode(temp_dir, 0o777)
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(temp_dir, final_dir)
    finally:
        if temp_dir.exists():
            shutil.rmtree(temp_dir)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temp_path:
        temp_path.write_bytes(data)


def write_json_atomic(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` as indented, key-sorted JSON (stable bytes for equal values)."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_gray(path: str | os.PathLike[str]):
    """An image file as an 8-bit gray array; OSError naming the file if it cannot be read."""
    import cv2  # here: most users of this module write JSON or Parquet only

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OSError(f"cannot read image {path}")
    return image


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json_atomic`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


PAGE_LISTING = "pages.json"


def read_page_listing(pages_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``pages.json`` of a piece's pages folder (written by the segment stage).

    Keys: piece_id, pdf_sha256, pages (one dict per page) and failure (None or the
    piece's failure record).
    """
    return read_json(Path(pages_dir) / PAGE_LISTING)
