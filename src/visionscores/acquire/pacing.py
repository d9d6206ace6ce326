"""Per-host pacing shared by processes: one request at a time, ``min_interval_s`` apart.

Snakemake runs many download jobs at once as separate processes (and on a cluster, on
separate nodes sharing a filesystem), so in-memory rate limiting cannot see the other jobs.
An exclusive ``flock`` on ``<pace_dir>/<host>.lock`` serialises them with no daemon to run, is
released by the kernel if a job dies, and works on NFS where the client maps it to a POSIX
lock. The file holds the wall-clock time the last request to the host ended (wall clock, not a
monotonic clock, because the value is compared between processes and machines), plus an
optional "not before" time set after a 429.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def safe_host_name(host: str) -> str:
    """``host`` as a file name part: lower case, anything but ``[A-Za-z0-9._-]`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", host.lower())


class HostSlot:
    """Handle given to the holder of a host's pacing lock; lets it push later requests back.

    ``sent`` is set by the holder once a request really went out: a turn that sent nothing
    (a marker stopped it) does not push the next request back.
    """

    def __init__(self) -> None:
        self.not_before = 0.0
        self.sent = False

    def defer(self, seconds: float) -> None:
        """Ask that no process contacts this host for ``seconds`` from now (e.g. 429)."""
        self.not_before = max(self.not_before, time.time() + seconds)


class HostPacer:
    """Spaces requests to one host at least ``min_interval_s`` apart across processes.

    The lock is held from before the pacing wait until the response body has been read, so a
    host never sees two connections at once from all our jobs together, and the interval is
    measured from the end of one request to the start of the next: a slow download does not
    count as the pause. Waits caused by clock differences between machines are capped at one
    interval so a node with a fast clock cannot stall the others.

    Args:
        pace_dir: folder of the lock files; processes that should pace each other share it.
        min_interval_s: least time, seconds, from the end of one request to a host to the
            start of the next.
    """

    def __init__(self, pace_dir: Path, min_interval_s: float):
        self.pace_dir = Path(pace_dir)
        self.min_interval_s = min_interval_s

    def lock_path(self, host: str) -> Path:
        """The lock file of ``host``."""
        return self.pace_dir / f"{safe_host_name(host)}.lock"

    @contextlib.contextmanager
    def hold(
        self, host: str, max_defer_s: float, check: Callable[[], None] = lambda: None
    ) -> Iterator[HostSlot]:
        """Wait for the host's turn, yield while the request runs, then record its end time.

        Args:
            host: the host name the request goes to.
            max_defer_s: longest wait, seconds, honoured for a "not before" time set by
                another process (after a 429).
            check: called under the lock before the pacing wait and again after it; raising
                there gives up the turn at once, without waiting and without counting it.
        """
        self.pace_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.lock_path(host), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            check()
            last_end, not_before = _read_pace_state(descriptor)
            now = time.time()
            interval_wait = min(max(last_end + self.min_interval_s - now, 0.0), self.min_interval_s)
            deferred_wait = min(max(not_before - now, 0.0), max_defer_s)
            if interval_wait > 0 or deferred_wait > 0:
                time.sleep(max(interval_wait, deferred_wait))
                check()
            slot = HostSlot()
            try:
                yield slot
            finally:
                if slot.sent:
                    _write_pace_state(descriptor, time.time(), slot.not_before)
        finally:
            # Closing the descriptor releases the flock.
            os.close(descriptor)


def _read_pace_state(descriptor: int) -> tuple[float, float]:
    raw = os.pread(descriptor, 256, 0).decode("ascii", "replace").split()
    try:
        return float(raw[0]), float(raw[1]) if len(raw) > 1 else 0.0
    except (IndexError, ValueError):
        return 0.0, 0.0


def _write_pace_state(descriptor: int, last_end: float, not_before: float) -> None:
    text = f"{last_end:.6f} {not_before:.6f}\n".encode("ascii")
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, text, 0)
