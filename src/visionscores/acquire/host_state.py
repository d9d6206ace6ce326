"""Markers that stop every download from a host for a while: the daily cap, an unreachable host.

A marker is a small JSON file beside the pacing locks (``<pace_dir>/<host>.cap``,
``<pace_dir>/<host>.unreachable``), so every process sharing the pacing folder sees it: the
parallel jobs of this run and the runs that follow. It holds the time it expires. While it is
in force, :class:`~visionscores.acquire.http.HttpClient` sends nothing to the host (it checks
under the host's pacing lock, right before each request) and the piece fails at once with
cause ``daily-cap`` or ``host-unreachable``.

* ``cap``: set when IMSLP answers with its daily-cap "Subscribe" page. The cap is IMSLP's, per
  address, and the allowed hosts are IMSLP's: a cap marker stops every download, whichever
  host it goes to.
* ``unreachable``: set when the host's name does not resolve (never retried), or after
  ``unreachable_after_failures`` connection failures in a row to the host, counted across
  pieces and processes (``<pace_dir>/<host>.failures``; any HTTP answer resets the count).

A marker is never cleared early by a later success: while it is in force no request is sent,
so nothing could show that the host is back. It expires on its own, and deleting its file
lets the next run try at once; the console notice says both.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from visionscores.acquire.errors import AcquireError, DailyLimitError, HostUnreachableError
from visionscores.acquire.pacing import safe_host_name
from visionscores.acquire.policy import DownloadPolicy

#: Marker kinds and the failure cause each gives the pieces it stops.
MARKER_CAUSES = {"cap": "daily-cap", "unreachable": "host-unreachable"}

_BROWSER_PATH = (
    "To go on without downloads: `snakemake todo` (or `visionscores todo --manifest M --out "
    "todo.csv`) lists every missing PDF with its IMSLP links; download them in a web browser, "
    "place them with `visionscores import DOWNLOADS_FOLDER --manifest M`, and run again."
)


@dataclass(frozen=True)
class Marker:
    """One marker in force.

    Attributes:
        kind: ``"cap"`` or ``"unreachable"``.
        host: the host it was set for.
        error: what happened, one clause (e.g. the connection error).
        set_at: when it was set, seconds since the epoch.
        until: when it expires, seconds since the epoch.
        path: its file.
    """

    kind: str
    host: str
    error: str
    set_at: float
    until: float
    path: Path

    @property
    def cause(self) -> str:
        return MARKER_CAUSES[self.kind]

    @property
    def until_text(self) -> str:
        return datetime.fromtimestamp(self.until, UTC).strftime("%Y-%m-%d %H:%M UTC")

    def stop_reason(self) -> tuple[type[AcquireError], str, str]:
        """Why a request this marker stops is not sent: the error class, its cause and what
        happened (one clause)."""
        if self.kind == "cap":
            what = (
                f"IMSLP's daily limit of free downloads was reached ({self.host} sent its "
                f"'Subscribe' page); no download is tried until {self.until_text}"
            )
            return DailyLimitError, "daily-cap", what
        what = (
            f"{self.host} cannot be reached ({self.error}); no request is sent to it until "
            f"{self.until_text}. Check the network or config imslp.base_url"
        )
        return HostUnreachableError, "host-unreachable", what

    def describe(self, base_url: str = "") -> str:
        """The console notice: what happened, until when, what to check, the browser path."""
        retry = (
            f"No request is sent to {self.host} by this run or a later one until "
            f"{self.until_text}; to try sooner, delete {self.path}."
        )
        if self.kind == "cap":
            return (
                f"IMSLP's daily limit of free downloads was reached: {self.host} sent its "
                f"'Subscribe' page ({self.error}). No download is tried by this run or a later "
                f"one until {self.until_text}; to try sooner, delete {self.path}. "
                f"{_BROWSER_PATH}"
            )
        check = f" and config imslp.base_url ({base_url})" if base_url else " and imslp.base_url"
        return (
            f"{self.host} cannot be reached ({self.error}). {retry} Check the network "
            f"connection (e.g. `curl -I https://{self.host}/`){check}. {_BROWSER_PATH}"
        )


class HostState:
    """Reads and writes the markers and the connection-failure counts of ``pace_dir``.

    Args:
        pace_dir: the pacing folder (shared by every process that should see the markers).
        cap_pause_s: how long a ``cap`` marker stays in force, seconds.
        unreachable_pause_s: how long an ``unreachable`` marker stays in force, seconds.
        unreachable_after_failures: connection failures in a row that mark a host unreachable.
    """

    def __init__(
        self,
        pace_dir: Path,
        cap_pause_s: float,
        unreachable_pause_s: float,
        unreachable_after_failures: int,
    ):
        self.pace_dir = Path(pace_dir)
        self.pause_s = {"cap": cap_pause_s, "unreachable": unreachable_pause_s}
        self.unreachable_after_failures = unreachable_after_failures

    def path(self, host: str, kind: str) -> Path:
        """The file of ``host``'s marker of ``kind`` (or its failure count, ``"failures"``)."""
        return self.pace_dir / f"{safe_host_name(host)}.{kind}"

    def read(self, host: str, kind: str, now: float | None = None) -> Marker | None:
        """``host``'s marker of ``kind`` if one is in force at ``now`` (default: the time)."""
        path = self.path(host, kind)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            marker = Marker(
                kind, data["host"], data["error"], float(data["set_at"]), float(data["until"]), path
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return marker if marker.until > (time.time() if now is None else now) else None

    def blocking(self, host: str, now: float | None = None) -> Marker | None:
        """The marker that stops requests to ``host``: its own ``unreachable``, or any cap."""
        marker = self.read(host, "unreachable", now)
        if marker:
            return marker
        caps = [marker for marker in self.markers(now) if marker.kind == "cap"]
        return caps[0] if caps else None

    def set(self, host: str, kind: str, error: str, now: float | None = None) -> Marker:
        """Put ``host``'s marker of ``kind`` in force from ``now`` for its pause."""
        now = time.time() if now is None else now
        path = self.path(host, kind)
        marker = Marker(kind, host.lower(), error, now, now + self.pause_s[kind], path)
        record = asdict(marker)
        del record["path"]
        _write_atomic(path, json.dumps(record, sort_keys=True) + "\n")
        return marker

    def connection_failed(self, host: str, error: str) -> Marker | None:
        """Count one connection failure to ``host`` (call under its pacing lock); the
        ``unreachable`` marker set when the count reaches its limit, else None."""
        path = self.path(host, "failures")
        try:
            count = int(path.read_text(encoding="ascii").split()[0]) + 1
        except (OSError, ValueError, IndexError):
            count = 1
        if count >= self.unreachable_after_failures:
            path.unlink(missing_ok=True)
            return self.set(host, "unreachable", f"{error}; {count} failed connections in a row")
        _write_atomic(path, f"{count}\n")
        return None

    def answered(self, host: str) -> None:
        """``host`` gave an HTTP answer: its connection failures are no longer in a row."""
        with contextlib.suppress(FileNotFoundError):
            self.path(host, "failures").unlink()

    def markers(self, now: float | None = None) -> list[Marker]:
        """Every marker in force in the pacing folder, oldest first."""
        found = []
        for kind in MARKER_CAUSES:
            for path in self.pace_dir.glob(f"*.{kind}"):
                try:
                    host = json.loads(path.read_text(encoding="utf-8"))["host"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                marker = self.read(host, kind, now)
                if marker:
                    found.append(marker)
        return sorted(found, key=lambda marker: marker.set_at)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def host_state_of(policy: DownloadPolicy) -> HostState:
    """The markers of ``policy``'s pacing folder, with its pauses."""
    return HostState(
        policy.pace_dir,
        policy.cap_pause_s,
        policy.unreachable_pause_s,
        policy.unreachable_after_failures,
    )
