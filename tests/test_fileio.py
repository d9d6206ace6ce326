"""Atomic outputs: complete or absent, never half-written, with ordinary permissions."""

import os
import stat

import pytest

from visionscores.fileio import atomic_directory, atomic_path, write_json_atomic


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as temp_path:
        temp_path.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_directory_is_swapped_whole(tmp_path):
    target = tmp_path / "pages"
    target.mkdir()
    (target / "old.png").write_bytes(b"old")
    with atomic_directory(target) as temp_dir:
        (temp_dir / "new.png").write_bytes(b"new")
        assert (target / "old.png").exists()  # the old one stays until the new is complete
    assert sorted(p.name for p in target.iterdir()) == ["new.png"]


def test_outputs_get_the_modes_of_ordinary_files(tmp_path):
    old_mask = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {"b": 1})
        with atomic_directory(tmp_path / "d") as temp_dir:
            (temp_dir / "x").write_bytes(b"")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
