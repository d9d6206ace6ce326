"""How politely and how persistently to download: the settings every fetch obeys.

The workflow builds a :class:`DownloadPolicy` from config ``imslp`` and ``acquire`` (the
defaults below are the same values as config/config.yaml, which is where a user changes them).
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

#: IMSLP's wiki and known file hosts; subdomains of each are allowed too (ks15.imslp.org, ...).
IMSLP_HOSTS = ("imslp.org", "imslp.eu", "imslp.simssa.ca", "petruccimusiclibrary.ca")


def _default_pace_dir() -> Path:
    # Shared by every process of this user on this machine; cluster runs should pass a
    # directory on the shared filesystem instead so that all nodes see one pacing state.
    return Path(tempfile.gettempdir()) / f"visionscores-pace-{os.getuid()}"


@dataclass(kw_only=True)
class DownloadPolicy:
    """How politely and how persistently to download.

    Attributes:
        user_agent: sent with every request; must name a contact (an e-mail address or a URL),
            e.g. ``"visionscores/0.1 (+mailto:you@example.org)"``.
        base_url: the IMSLP wiki root used for file indices.
        min_interval_s: least time in seconds between the end of one request to a host and the
            start of the next one to that host (IMSLP asks for 2 s).
        timeout_s: socket timeout in seconds for connecting and for each read.
        max_retries: retries after the first attempt for transient failures (5xx, 429,
            timeouts, dropped connections); the budget is for the whole download.
        backoff_base_s: first retry delay in seconds; doubled on each further retry.
        max_backoff_s: ceiling in seconds for one backoff delay.
        max_retry_after_s: longest ``Retry-After`` in seconds that is waited for; a longer one
            stops the download with a ``RateLimitedError``.
        max_bytes: largest file accepted, in bytes, both as transferred and after gzip decoding.
        max_hops: most redirects and intermediate pages followed for one file.
        allowed_hosts: hosts that redirects and links may lead to; subdomains of each entry are
            allowed too. The host of ``base_url`` is always added.
        pace_dir: directory holding one pacing lock file per host; processes that should pace
            each other must share it.
        wait_page_default_s: seconds waited on IMSLP's wait page when it states no countdown.
        wait_page_max_s: longest countdown honoured, seconds; a page asking more is waited
            this long.
        max_download_s: most seconds spent sending and receiving for one file, summed over
            its attempts (pacing and backoff waits not counted); past it the file fails
            with cause ``too-slow``.
        min_rate_bytes_s: least average rate of a body, bytes per second, once it has been
            arriving for ``min_rate_window_s`` seconds; below it the file fails ``too-slow``.
        min_rate_window_s: seconds a body may take before its rate is judged.
        cap_pause_s: seconds no request is sent to a host after its daily-cap page.
        unreachable_pause_s: seconds no request is sent to a host marked unreachable.
        unreachable_after_failures: connection failures in a row (across pieces and
            processes) that mark a host unreachable; a name that does not resolve marks it
            at once.
    """

    user_agent: str
    base_url: str = "https://imslp.org"
    min_interval_s: float = 2.0
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_base_s: float = 2.0
    max_backoff_s: float = 120.0
    max_retry_after_s: float = 900.0
    max_bytes: int = 200 * 1024 * 1024
    max_hops: int = 10
    allowed_hosts: tuple[str, ...] = IMSLP_HOSTS
    pace_dir: Path = field(default_factory=_default_pace_dir)
    wait_page_default_s: float = 15.0
    wait_page_max_s: float = 60.0
    max_download_s: float = 1800.0
    min_rate_bytes_s: float = 2048.0
    min_rate_window_s: float = 30.0
    cap_pause_s: float = 24 * 3600.0
    unreachable_pause_s: float = 600.0
    unreachable_after_failures: int = 3

    def __post_init__(self) -> None:
        if not re.search(r"[\w.+-]+@[\w-]+\.[\w.-]+|https?://\S+", self.user_agent):
            raise ValueError(
                "DownloadPolicy.user_agent must include a contact (an e-mail address or a URL), "
                f"got {self.user_agent!r}"
            )
        if self.min_interval_s < 0 or self.timeout_s <= 0 or self.max_retries < 0:
            raise ValueError("min_interval_s >= 0, timeout_s > 0 and max_retries >= 0 required")
        if self.unreachable_after_failures < 1:
            raise ValueError("unreachable_after_failures >= 1 required")
        base_host = urllib.parse.urlsplit(self.base_url).hostname
        if not base_host:
            raise ValueError(f"DownloadPolicy.base_url has no host: {self.base_url!r}")
        hosts = tuple(host.lower().rstrip(".") for host in self.allowed_hosts)
        self.allowed_hosts = hosts if base_host in hosts else (*hosts, base_host.lower())
        self.pace_dir = Path(self.pace_dir)

    def host_allowed(self, host: str | None) -> bool:
        """True if ``host`` is an allowed host or a subdomain of one."""
        if not host:
            return False
        host = host.lower().rstrip(".")
        return any(
            host == allowed or host.endswith("." + allowed) for allowed in self.allowed_hosts
        )


def image_from_index_url(base_url: str, file_index: str) -> str:
    """The IMSLP entry URL for a file index; leading zeros are kept as written."""
    if not re.fullmatch(r"\d+", file_index):
        raise ValueError(f"an IMSLP file index is all digits, got {file_index!r}")
    return f"{base_url.rstrip('/')}/wiki/Special:ImagefromIndex/{file_index}"
