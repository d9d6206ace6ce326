"""DiNoScore's own system count for every page of its works that is not excluded.

Usage::

    python benchmarks/real/dinoscore_counts.py [--mirror DIR] [--commit REV]
        [--out sources/dinoscore_counts.csv]

DiNoScore/Scores (https://github.com/DiNoScore/Scores) stores each work as
``songs/<work>/page_<N>.tif`` (N from 0) with ``songs/<work>/staves.json``: one entry per
system it plays from, ``{"page": N, "start": [x, y], "end": [x, y]}``, coordinates divided
by the page's width. The count of a page is the number of entries with its ``page``.
Works under ``excluded.txt`` are skipped. Writes one row per page: page_id (as the sources
lists name it), repo, commit, path, sha256 of the TIFF, count.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import realpages  # noqa: E402  (lives next to this script)

REPO = "DiNoScore/Scores"
COUNT_COLUMNS = ("page_id", "repo", "commit", "path", "sha256", "count")
PAGE_FILE = re.compile(r"^songs/(?P<work>[^/]+)/page_(?P<number>\d+)\.tif$")


def dinoscore_page_id(work: str, number: int) -> str:
    """``dinoscore-<surname>-<title>-p<N>`` from a work folder ("Surname, First – Title")."""
    composer, _, title = work.partition(" – ")
    surname = composer.split(",")[0]
    return f"dinoscore-{realpages.slug(surname + ' ' + (title or composer))}-p{number}"


def list_tree(git_dir: Path, commit: str) -> list[tuple[str, str]]:
    """(blob id, path) of every file at ``commit``."""
    listing = subprocess.run(
        ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "-z", commit],
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    files = []
    for entry in listing.split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            files.append((meta.split()[2], path))
    return files


def read_blobs(git_dir: Path, blob_ids: list[str]) -> dict[str, bytes]:
    """The contents of many blobs, through one ``git cat-file --batch``."""
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
        input="".join(f"{blob}\n" for blob in blob_ids).encode(),
        capture_output=True,
        check=True,
    ).stdout
    contents, offset = {}, 0
    for blob in blob_ids:
        header_end = done.index(b"\n", offset)
        size = int(done[offset:header_end].split()[2])
        contents[blob] = done[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
    return contents


def system_counts(staves_json: dict) -> Counter:
    """Entries of DiNoScore's staves.json per page number (0-based)."""
    return Counter(int(entry["page"]) for entry in staves_json["staves"])


def dinoscore_pages(git_dir: Path, commit: str, excluded) -> list[dict]:
    """One row per non-excluded page: page_id, repo, commit, path, sha256, count, work, number."""
    files = list_tree(git_dir, commit)
    pages = []
    staves_blobs = {}
    for blob, path in files:
        match = PAGE_FILE.match(path)
        if path.startswith("songs/") and path.endswith("/staves.json"):
            staves_blobs[path.split("/")[1]] = blob
        if match and not realpages.is_excluded(REPO, path, excluded):
            pages.append((match["work"], int(match["number"]), path, blob))
    contents = read_blobs(git_dir, [p[3] for p in pages] + list(staves_blobs.values()))
    counts = {
        work: system_counts(json.loads(contents[blob])) for work, blob in staves_blobs.items()
    }
    rows = []
    for work, number, path, blob in sorted(pages):
        rows.append(
            {
                "page_id": dinoscore_page_id(work, number),
                "repo": REPO,
                "commit": commit,
                "path": path,
                "sha256": realpages.sha256_hex(contents[blob]),
                "count": counts.get(work, Counter()).get(number, 0),
                "work": work,
                "number": number,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", help=f"snapshot root (default ${realpages.MIRROR_ENV})")
    parser.add_argument("--commit", default="HEAD", help="revision of the snapshot to read")
    parser.add_argument("--out", type=Path, default=realpages.SOURCES_DIR / "dinoscore_counts.csv")
    args = parser.parse_args(argv)
    git_dir = realpages.snapshot_dir(REPO, args.mirror)
    commit = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-parse", args.commit],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    rows = dinoscore_pages(git_dir, commit, realpages.read_excluded())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=COUNT_COLUMNS, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    works = {row["work"] for row in rows}
    print(f"{len(rows)} pages of {len(works)} works, {sum(r['count'] for r in rows)} systems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
