"""Polite download of one score PDF from IMSLP (or a plain http(s) URL) to a local file.

One concern: turn a file index or URL into a validated PDF on disk plus a JSON sidecar that says
where it came from, while behaving as a considerate client of a volunteer-run library:

* requests to one host are spaced ``min_interval_s`` apart and never overlap, across all
  processes that share ``pace_dir`` (Snakemake jobs on one machine, or cluster jobs on a shared
  filesystem);
* transient failures (5xx, timeouts, dropped connections) are retried a bounded number of
  times with exponential backoff, 429 answers wait as long as ``Retry-After`` asks, and an
  interrupted body is resumed with a ``Range`` request instead of being fetched again;
* answers that are not the file (bot check, daily download cap, copyright block, missing file,
  disclaimer loop, an HTML page) stop at once with an :class:`AcquireError` subclass whose
  message tells the user how to place the PDF by hand. They are never retried, and a bot check
  or CAPTCHA is never worked around.

The download protocol mirrored here is documented in the project notes on IMSLP: the
``Special:ImagefromIndex/<index>`` entry point, the disclaimer cookie, the wait page whose
``<span id="sm_dl_wait" data-id="...">`` carries the file URL, and the file hosts.

Only the standard library is used for HTTP (``urllib.request``): it gives proxy support from
the environment and TLS verification, and turning off its automatic redirects lets every hop be
checked against the host allowlist and paced per host.
"""

from __future__ import annotations

import contextlib
import email.utils
import fcntl
import gzip
import html
import http.client
import os
import random
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from visionscores.errors import VisionscoresError
from visionscores.fileio import atomic_path, sha256_of, write_json_atomic

#: Where a user puts a PDF fetched by hand; named in every :class:`AcquireError` message.
MANUAL_PDF_PATH = "resources/pdf/{piece_id}.pdf"

#: IMSLP's wiki and known file hosts; subdomains of each are allowed too (ks15.imslp.org, ...).
IMSLP_HOSTS = ("imslp.org", "imslp.eu", "imslp.simssa.ca", "petruccimusiclibrary.ca")

#: Cookie IMSLP sets once its disclaimer is accepted; sending it skips the disclaimer page.
DISCLAIMER_COOKIE = ("imslpdisclaimeraccepted", "yes")

_CHUNK_BYTES = 64 * 1024
_MAX_HTML_BYTES = 2 * 1024 * 1024
_SNIFF_BYTES = 512
_GZIP_MAGIC = b"\x1f\x8b"
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class AcquireError(VisionscoresError):
    """A PDF could not be fetched; ``cause`` is a short machine-readable code.

    Attributes:
        piece_id: the piece the download was for.
        cause: short code, e.g. ``"captcha"``, ``"daily-limit"``, ``"not-pdf"``.
        message: one human-readable paragraph: piece, what happened, how to place the PDF by
            hand.
        url: the URL that gave the answer, when known.
    """

    def __init__(self, piece_id: str, cause: str, message: str, url: str | None = None):
        # Keep every constructor argument in ``args`` so the error pickles across processes.
        super().__init__(piece_id, cause, message, url)
        self.piece_id = piece_id
        self.cause = cause
        self.message = message
        self.url = url

    def __str__(self) -> str:
        return self.message


class BotCheckError(AcquireError):
    """The site answered with a bot gate: cause ``"captcha"`` or ``"js-challenge"``."""


class DailyLimitError(AcquireError):
    """The per-IP daily download cap was reached ("Subscribe" page): cause ``"daily-limit"``."""


class CopyrightBlockedError(AcquireError):
    """The file is blocked pending copyright review: cause ``"copyright-blocked"``."""


class NotFoundError(AcquireError):
    """HTTP 404/410 for the file or its index: cause ``"not-found"``."""


class DisclaimerLoopError(AcquireError):
    """The disclaimer page came back after accepting it: cause ``"disclaimer-loop"``."""


class NotPdfError(AcquireError):
    """Something other than a readable PDF arrived: cause ``"not-pdf"``."""


class TooLargeError(AcquireError):
    """The file is larger than ``DownloadPolicy.max_bytes``: cause ``"too-large"``."""


class HostNotAllowedError(AcquireError):
    """A redirect or link pointed outside the host allowlist: cause ``"host-not-allowed"``."""


class FetchTimeoutError(AcquireError):
    """The server did not answer in time, on every attempt: cause ``"timeout"``."""


class HttpStatusError(AcquireError):
    """An HTTP error status that retries did not cure: cause ``"http-error"``."""


class RateLimitedError(HttpStatusError):
    """HTTP 429 persisted or asked for too long a wait: cause ``"rate-limited"``."""


class ConnectionFailedError(AcquireError):
    """The host could not be reached on any attempt: cause ``"connection-error"``."""


class TruncatedError(AcquireError):
    """The body kept arriving incomplete, even with resumption: cause ``"truncated"``."""


class ChecksumMismatchError(AcquireError):
    """The file's SHA-256 differs from the expected one: cause ``"checksum-mismatch"``."""


class TooManyRedirectsError(AcquireError):
    """Redirects or intermediate pages did not end in a file: cause ``"redirect-loop"``."""


def _error(
    error_class: type[AcquireError],
    piece_id: str,
    cause: str,
    what: str,
    url: str | None,
    next_step: str = "This answer is not retried.",
) -> AcquireError:
    """Build an error whose message names the piece, the event, and the manual fallback."""
    where = f" (at {url})" if url else ""
    manual_path = MANUAL_PDF_PATH.format(piece_id=piece_id)
    message = (
        f"{piece_id}: {what}{where}. {next_step} To go on without this download, get the PDF "
        f"in a web browser and place it by hand at {manual_path}."
    )
    return error_class(piece_id, cause, message, url)


# --------------------------------------------------------------------------------------------
# Policy and result
# --------------------------------------------------------------------------------------------


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
            stops the download with :class:`RateLimitedError`.
        max_bytes: largest file accepted, in bytes, both as transferred and after gzip decoding.
        max_hops: most redirects and intermediate pages followed for one file.
        allowed_hosts: hosts that redirects and links may lead to; subdomains of each entry are
            allowed too. The host of ``base_url`` is always added.
        pace_dir: directory holding one pacing lock file per host; processes that should pace
            each other must share it.
    """

    user_agent: str
    base_url: str = "https://imslp.org"
    min_interval_s: float = 2.0
    timeout_s: float = 60.0
    max_retries: int = 4
    backoff_base_s: float = 2.0
    max_backoff_s: float = 120.0
    max_retry_after_s: float = 900.0
    max_bytes: int = 300 * 1024 * 1024
    max_hops: int = 10
    allowed_hosts: tuple[str, ...] = IMSLP_HOSTS
    pace_dir: Path = field(default_factory=_default_pace_dir)

    def __post_init__(self) -> None:
        if not re.search(r"[\w.+-]+@[\w-]+\.[\w.-]+|https?://\S+", self.user_agent):
            raise ValueError(
                "DownloadPolicy.user_agent must include a contact (an e-mail address or a URL), "
                f"got {self.user_agent!r}"
            )
        if self.min_interval_s < 0 or self.timeout_s <= 0 or self.max_retries < 0:
            raise ValueError("min_interval_s >= 0, timeout_s > 0 and max_retries >= 0 required")
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


@dataclass(frozen=True)
class FetchRecord:
    """Provenance of one downloaded PDF; all but ``pdf_path`` and ``pages`` go to the sidecar.

    Attributes:
        piece_id: the piece the file belongs to.
        source_url: the first URL requested.
        final_url: the URL the PDF bytes came from.
        file_index: IMSLP file index, or None for a plain URL.
        sha256: hex digest of the PDF as written.
        bytes: size of the PDF as written, in bytes.
        fetched_at: UTC time the file was completed, ISO 8601 with a ``Z`` suffix.
        user_agent: the User-Agent sent.
        pdf_path: where the PDF was written.
        pages: page count reported by PyMuPDF.
    """

    piece_id: str
    source_url: str
    final_url: str
    file_index: str | None
    sha256: str
    bytes: int
    fetched_at: str
    user_agent: str
    pdf_path: Path
    pages: int

    def sidecar(self) -> dict[str, object]:
        """The JSON sidecar content."""
        record = asdict(self)
        del record["pdf_path"], record["pages"]
        return record


def sidecar_path(dest: Path) -> Path:
    """Where the provenance sidecar of ``dest`` lives (``x.pdf`` -> ``x.json``)."""
    return Path(dest).with_suffix(".json")


def partial_path(dest: Path) -> Path:
    """Where an interrupted download of ``dest`` is kept for resumption (``x.pdf.part``)."""
    return Path(dest).with_suffix(".pdf.part")


def image_from_index_url(base_url: str, file_index: str) -> str:
    """The IMSLP entry URL for a file index; leading zeros are kept as written."""
    if not re.fullmatch(r"\d+", file_index):
        raise ValueError(f"an IMSLP file index is all digits, got {file_index!r}")
    return f"{base_url.rstrip('/')}/wiki/Special:ImagefromIndex/{file_index}"


# --------------------------------------------------------------------------------------------
# Per-host pacing shared by processes
# --------------------------------------------------------------------------------------------


class _HostSlot:
    """Handle given to the holder of a host's pacing lock; lets it push later requests back."""

    def __init__(self) -> None:
        self.not_before = 0.0

    def defer(self, seconds: float) -> None:
        """Ask that no process contacts this host for ``seconds`` from now (e.g. 429)."""
        self.not_before = max(self.not_before, time.time() + seconds)


class HostPacer:
    """Spaces requests to one host at least ``min_interval_s`` apart across processes.

    Why a lock file per host with ``fcntl.flock``: Snakemake runs many download jobs at once as
    separate processes (and on a cluster, on separate nodes sharing a filesystem), so in-memory
    rate limiting cannot see the other jobs. An exclusive ``flock`` on ``<pace_dir>/<host>.lock``
    serialises them with no daemon to run, is released by the kernel if a job dies, and works on
    NFS where the client maps it to a POSIX lock. The file holds the wall-clock time the last
    request to the host ended (wall clock, not a monotonic clock, because the value is compared
    between processes and machines), plus an optional "not before" time set after a 429.

    The lock is held from before the pacing wait until the response body has been read, so a
    host never sees two connections at once from all our jobs together, and the interval is
    measured from the end of one request to the start of the next: a slow download does not
    count as the pause. Waits caused by clock differences between machines are capped at one
    interval so a node with a fast clock cannot stall the others.
    """

    def __init__(self, pace_dir: Path, min_interval_s: float):
        self.pace_dir = Path(pace_dir)
        self.min_interval_s = min_interval_s

    def _lock_path(self, host: str) -> Path:
        safe_host = re.sub(r"[^A-Za-z0-9._-]", "_", host.lower())
        return self.pace_dir / f"{safe_host}.lock"

    @contextlib.contextmanager
    def hold(self, host: str, max_defer_s: float) -> Iterator[_HostSlot]:
        """Wait for the host's turn, yield while the request runs, then record its end time."""
        self.pace_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self._lock_path(host), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            last_end, not_before = _read_pace_state(descriptor)
            now = time.time()
            interval_wait = min(max(last_end + self.min_interval_s - now, 0.0), self.min_interval_s)
            deferred_wait = min(max(not_before - now, 0.0), max_defer_s)
            time.sleep(max(interval_wait, deferred_wait))
            slot = _HostSlot()
            try:
                yield slot
            finally:
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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(when.timestamp() - now, 0.0)


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers back to the caller, which checks and paces every hop itself."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _Transient(Exception):
    """A failure worth retrying; ``cause`` names the error raised once retries run out."""

    def __init__(self, cause: str, what: str, url: str, status: int | None = None):
        super().__init__(what)
        self.cause = cause
        self.what = what
        self.url = url
        self.status = status


_TRANSIENT_ERROR_CLASSES: dict[str, type[AcquireError]] = {
    "timeout": FetchTimeoutError,
    "http-error": HttpStatusError,
    "rate-limited": RateLimitedError,
    "truncated": TruncatedError,
    "connection-error": ConnectionFailedError,
}


@dataclass
class _Html:
    """An HTML (or other non-PDF) answer: its text and where it came from."""

    url: str
    status: int
    text: str


@dataclass
class _Redirect:
    location: str


@dataclass
class _Complete:
    """The body was stored completely in the partial file."""

    url: str


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_WAIT_SPAN_RE = re.compile(r"<span\b[^>]*\bid\s*=\s*[\"']sm_dl_wait[\"'][^>]*>", re.IGNORECASE)
_DATA_ID_RE = re.compile(r"\bdata-id\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", re.IGNORECASE)
_ACCEPT_LINK_RE = re.compile(
    r"href\s*=\s*[\"']([^\"']*Special:IMSLPDisclaimerAccept/[^\"']*)[\"']", re.IGNORECASE
)
_ANCHOR_RE = re.compile(
    r"<a\b[^>]*\bhref\s*=\s*(?:\"([^\"]*)\"|'([^']*)')[^>]*>(.*?)</a>", re.IGNORECASE | re.DOTALL
)


def _opener_for(host: str | None) -> urllib.request.OpenerDirector:
    """An opener that follows no redirect by itself (each hop is checked and paced)."""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if host in _LOOPBACK_HOSTS or (host or "").startswith("127."):
        # Loopback never goes through a proxy, whatever the environment says.
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _backoff_s(policy: DownloadPolicy, retry_number: int) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based): doubling, capped, jittered."""
    base = policy.backoff_base_s * (2 ** (retry_number - 1))
    # Up to 10 % jitter so that jobs failing together do not retry in lockstep.
    return min(base, policy.max_backoff_s) * (1.0 + 0.1 * random.random())


class _Download:
    """State of one ``fetch_pdf`` call: cookies, retry budget, partial file, resumption."""

    def __init__(self, piece_id: str, dest: Path, policy: DownloadPolicy, source_url: str):
        self.piece_id = piece_id
        self.dest = dest
        self.policy = policy
        self.source_url = source_url
        self.part = partial_path(dest)
        self.pacer = HostPacer(policy.pace_dir, policy.min_interval_s)
        # Session cookies set by IMSLP hosts (e.g. by the disclaimer accept link), by name.
        self.cookies: dict[str, str] = {DISCLAIMER_COOKIE[0]: DISCLAIMER_COOKIE[1]}
        self.retries_used = 0
        # URL whose body is in the partial file, and its validator for If-Range.
        self.pdf_url: str | None = None
        self.etag: str | None = None
        # True once the partial file was continued rather than written in one answer (a partial
        # left by an earlier run cannot even be tied to this file): if the assembled file then
        # fails validation, it is discarded and downloaded once more from scratch.
        self.resumed = False
        self.may_restart = True
        self.range_allowed = True

    # -- errors -------------------------------------------------------------------------------

    def fail(
        self,
        error_class: type[AcquireError],
        cause: str,
        what: str,
        url: str | None,
        next_step: str = "This answer is not retried.",
    ) -> AcquireError:
        return _error(error_class, self.piece_id, cause, what, url, next_step)

    # -- one request ------------------------------------------------------------------------

    def _check_url(self, url: str) -> urllib.parse.SplitResult:
        parts = urllib.parse.urlsplit(url)
        # The manifest's own URLs obey the same allowlist as redirects (config acquire).
        host_ok = self.policy.host_allowed(parts.hostname)
        if parts.scheme not in ("http", "https") or not host_ok:
            raise self.fail(
                HostNotAllowedError,
                "host-not-allowed",
                f"was sent to {url!r}, whose host is not allowed (config acquire.allowed_hosts) "
                f"(allowed: {', '.join(self.policy.allowed_hosts)})",
                url,
            )
        return parts

    def _headers(self, parts: urllib.parse.SplitResult, range_start: int) -> dict[str, str]:
        headers = {
            "User-Agent": self.policy.user_agent,
            "Accept": "application/pdf,text/html;q=0.9,*/*;q=0.5",
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        if self.policy.host_allowed(parts.hostname) and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if range_start > 0:
            headers["Range"] = f"bytes={range_start}-"
            if self.etag:
                headers["If-Range"] = self.etag
        return headers

    def _remember_cookies(self, url: str, message: http.client.HTTPMessage) -> None:
        # Cookies are kept only from IMSLP hosts, and are sent back only to them.
        if not self.policy.host_allowed(urllib.parse.urlsplit(url).hostname):
            return
        for header in message.get_all("Set-Cookie") or []:
            name, separator, rest = header.partition("=")
            if name.strip() and separator:
                self.cookies[name.strip()] = rest.split(";", 1)[0].strip()

    def step(self, url: str) -> _Html | _Redirect | _Complete:
        """Request ``url`` once under the host's pacing lock and classify the answer."""
        parts = self._check_url(url)
        host = parts.hostname or ""
        range_start = 0
        resumable_url = url == self.pdf_url or parts.path.lower().endswith(".pdf")
        if self.range_allowed and resumable_url and self.part.exists():
            range_start = self.part.stat().st_size
        request = urllib.request.Request(url, headers=self._headers(parts, range_start))
        with self.pacer.hold(host, self.policy.max_retry_after_s) as slot:
            try:
                response = _opener_for(host).open(request, timeout=self.policy.timeout_s)
            except urllib.error.HTTPError as error_response:
                response = error_response
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    raise _Transient("timeout", "the server did not answer in time", url) from error
                raise _Transient(
                    "connection-error", f"could not connect ({error.reason})", url
                ) from error
            except TimeoutError as error:
                raise _Transient("timeout", "the server did not answer in time", url) from error
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                raise _Transient("connection-error", f"connection failed ({error})", url) from error
            with contextlib.closing(response):
                return self._handle(url, response, range_start, slot)

    def _handle(self, url, response, range_start: int, slot: _HostSlot):
        status = response.status if hasattr(response, "status") else response.code
        headers = response.headers
        self._remember_cookies(url, headers)
        if status in (301, 302, 303, 307, 308):
            location = headers.get("Location")
            if not location:
                raise self.fail(
                    HttpStatusError, "http-error", f"got {status} without Location", url
                )
            return _Redirect(urllib.parse.urljoin(url, location))
        if status == 429:
            wait_s = parse_retry_after(headers.get("Retry-After"))
            if wait_s is not None and wait_s > self.policy.max_retry_after_s:
                raise self.fail(
                    RateLimitedError,
                    "rate-limited",
                    f"the server asked to wait {wait_s:.0f} s before retrying (HTTP 429), longer "
                    f"than the {self.policy.max_retry_after_s:.0f} s allowed",
                    url,
                )
            # The wait applies to every process using this host, not just this download.
            slot.defer(
                wait_s if wait_s is not None else _backoff_s(self.policy, self.retries_used + 1)
            )
            raise _Transient("rate-limited", "the server kept answering HTTP 429", url, 429)
        if status >= 500:
            wait_s = parse_retry_after(headers.get("Retry-After"))
            if wait_s is not None:
                slot.defer(min(wait_s, self.policy.max_retry_after_s))
            raise _Transient("http-error", f"the server kept failing (HTTP {status})", url, status)
        if status in (404, 410):
            raise self.fail(
                NotFoundError, "not-found", f"the file was not found (HTTP {status})", url
            )
        if status == 416:
            return self._range_not_satisfiable(url, headers)
        if status not in (200, 206):
            text = self._read_text(response, headers)
            if status == 403 and "blocked pending copyright review" in text:
                raise self.fail(
                    CopyrightBlockedError,
                    "copyright-blocked",
                    "the file is blocked pending copyright review",
                    url,
                )
            raise self.fail(
                HttpStatusError, "http-error", f"the server answered HTTP {status}", url
            )
        if status == 206 and range_start > 0:
            return self._receive(url, response, headers, range_start)
        head = self._sniff(url, response)
        if not _looks_like_pdf_start(head):
            return _Html(url, status, self._read_text(response, headers, head))
        if range_start > 0:
            # The server ignored the Range request: start the file over from this full answer.
            self.part.unlink(missing_ok=True)
            self.resumed = False
        return self._receive(url, response, headers, 0, head)

    def _range_not_satisfiable(self, url: str, headers) -> _Complete:
        total = _content_range_total(headers.get("Content-Range"))
        size = self.part.stat().st_size if self.part.exists() else 0
        if total is not None and total == size:
            # An earlier answer overstated its length or the connection dropped right at the
            # end: the partial file is already the whole file.
            return _Complete(url)
        self.part.unlink(missing_ok=True)
        self.resumed = False
        raise _Transient("truncated", "the server rejected resumption (HTTP 416)", url, 416)

    def _sniff(self, url: str, response) -> bytes:
        """Read just enough of the body to tell a PDF (plain or gzipped) from anything else."""
        head = b""
        try:
            while len(head) < _SNIFF_BYTES and not _can_classify(head):
                chunk = response.read1(_SNIFF_BYTES - len(head))
                if not chunk:
                    break
                head += chunk
        except TimeoutError as error:
            raise _Transient("timeout", "the server stopped sending", url) from error
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            raise _Transient("truncated", "the connection dropped", url) from error
        return head

    def _read_text(self, response, headers, head: bytes = b"") -> str:
        body = head
        with contextlib.suppress(OSError, http.client.HTTPException):
            body += response.read(_MAX_HTML_BYTES)
        if body.startswith(_GZIP_MAGIC):
            with contextlib.suppress(zlib.error):
                body = zlib.decompressobj(wbits=47).decompress(body, _MAX_HTML_BYTES)
        charset = headers.get_content_charset() or "utf-8"
        try:
            return body.decode(charset, errors="replace")
        except LookupError:
            return body.decode("utf-8", errors="replace")

    def _receive(self, url: str, response, headers, start: int, head: bytes = b"") -> _Complete:
        """Stream the body into the partial file, appending at ``start`` for a 206 answer."""
        if start > 0:
            content_range = headers.get("Content-Range") or ""
            match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", content_range)
            if not match or int(match.group(1)) != start:
                # A range other than the one asked for: keep nothing, fetch the whole file.
                self.part.unlink(missing_ok=True)
                self.resumed = False
                self.range_allowed = False
                raise _Transient("truncated", f"bad Content-Range {content_range!r}", url, 206)
            # Total unknown ("*"): the end of this range is the end of the file as far as known.
            expected_total = (
                int(match.group(2)) + 1 if match.group(3) == "*" else int(match.group(3))
            )
            self.resumed = True
        else:
            length = headers.get("Content-Length")
            expected_total = int(length) if length and length.isdigit() else None
        if expected_total is not None and expected_total > self.policy.max_bytes:
            self.part.unlink(missing_ok=True)
            raise self.too_large(url, expected_total)
        if self.pdf_url != url:
            self.etag = None
        self.pdf_url = url
        self.etag = headers.get("ETag") or self.etag
        received = start
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        with open(self.part, "ab" if start > 0 else "wb") as part_file:
            if head:
                part_file.write(head)
                received += len(head)
            try:
                while True:
                    chunk = response.read1(_CHUNK_BYTES)
                    if not chunk:
                        break
                    part_file.write(chunk)
                    received += len(chunk)
                    if received > self.policy.max_bytes:
                        break
            except TimeoutError as error:
                raise _Transient("timeout", "the server stopped sending mid-file", url) from error
            except (ConnectionError, http.client.HTTPException, OSError) as error:
                raise _Transient(
                    "truncated", "the connection dropped before the whole file arrived", url
                ) from error
        if received > self.policy.max_bytes:
            self.part.unlink(missing_ok=True)
            raise self.too_large(url, received)
        if expected_total is not None and received < expected_total:
            raise _Transient(
                "truncated",
                f"the file kept arriving incomplete ({received} of {expected_total} bytes)",
                url,
            )
        return _Complete(url)

    def too_large(self, url: str, size: int) -> AcquireError:
        return self.fail(
            TooLargeError,
            "too-large",
            f"the file is {size} bytes or more, above the limit of {self.policy.max_bytes} bytes",
            url,
        )

    # -- the whole download -----------------------------------------------------------------

    def run(self) -> _Complete:
        """Follow redirects and IMSLP's intermediate pages until the file is complete."""
        url = self.source_url
        hops = 0
        disclaimer_accepted = False
        entry_url: str | None = None
        if self.part.exists() and self.part.stat().st_size > 0:
            self.resumed = True
        while True:
            if hops > self.policy.max_hops:
                raise self.fail(
                    TooManyRedirectsError,
                    "redirect-loop",
                    f"more than {self.policy.max_hops} redirects or intermediate pages",
                    url,
                )
            try:
                outcome = self.step(url)
            except _Transient as transient:
                self.retries_used += 1
                if self.retries_used > self.policy.max_retries:
                    attempts = self.retries_used
                    raise self.fail(
                        _TRANSIENT_ERROR_CLASSES[transient.cause],
                        transient.cause,
                        f"{transient.what}; gave up after {attempts} attempts",
                        transient.url,
                        "Running the download again later may succeed; a partly downloaded "
                        "file is kept and resumed.",
                    ) from transient
                if transient.cause != "rate-limited":
                    # A 429 already pushed the host's next allowed time back for every process.
                    time.sleep(_backoff_s(self.policy, self.retries_used))
                if self.pdf_url is not None and transient.cause in ("truncated", "timeout"):
                    url = self.pdf_url
                continue
            hops += 1
            if isinstance(outcome, _Complete):
                return outcome
            if isinstance(outcome, _Redirect):
                url = self._follow_redirect(outcome.location)
                continue
            if entry_url is None and "Special:ImagefromIndex" in url:
                entry_url = url
            next_url, accepted_now = self._follow_page(outcome, disclaimer_accepted, entry_url)
            disclaimer_accepted = disclaimer_accepted or accepted_now
            url = next_url

    def _follow_redirect(self, location: str) -> str:
        path = urllib.parse.urlsplit(location).path.lower()
        if path.endswith("/friendlytest.html"):
            raise self.fail(
                BotCheckError,
                "captcha",
                "IMSLP answered with its bot check (CAPTCHA) page; it is not answered "
                "automatically",
                location,
            )
        if path.endswith("/friendlyredirect.html"):
            # The JavaScript redirect page sets a cookie in a browser. Emulating it would be
            # getting past a gate meant to keep automated clients out, so it is treated like
            # the CAPTCHA: stop and let the user fetch the file in a browser.
            raise self.fail(
                BotCheckError,
                "js-challenge",
                "IMSLP answered with its JavaScript bot gate (friendlyredirect); it is not "
                "worked around automatically",
                location,
            )
        self._check_url(location)
        return location

    def _follow_page(self, page: _Html, disclaimer_accepted: bool, entry_url: str | None):
        """Decide what an HTML answer means; return the next URL or raise the matching error."""
        text = page.text
        title_match = _TITLE_RE.search(text)
        title = html.unescape(title_match.group(1)).strip() if title_match else ""
        if "bot check" in title.lower():
            raise self.fail(
                BotCheckError,
                "captcha",
                "IMSLP answered with a 'Bot Check' (CAPTCHA) page; it is not answered "
                "automatically",
                page.url,
            )
        # The wait page comes first: its text may invite the reader to subscribe, which must
        # not be mistaken for the daily-cap page.
        span = _WAIT_SPAN_RE.search(text)
        if span:
            data_id = _DATA_ID_RE.search(span.group(0))
            if data_id:
                target = html.unescape(data_id.group(1) or data_id.group(2) or "").strip()
                if target:
                    return self._check_link(page.url, target), False
        accept = _ACCEPT_LINK_RE.search(text)
        if accept:
            if disclaimer_accepted:
                raise self.fail(
                    DisclaimerLoopError,
                    "disclaimer-loop",
                    "IMSLP showed its disclaimer again after it had been accepted",
                    page.url,
                )
            return self._check_link(page.url, html.unescape(accept.group(1))), True
        if "blocked pending copyright review" in text:
            raise self.fail(
                CopyrightBlockedError,
                "copyright-blocked",
                "the file is blocked pending copyright review",
                page.url,
            )
        if "subscribe" in title.lower() or re.search(
            r"daily\s+(?:download\s+)?limit", text, re.IGNORECASE
        ):
            raise self.fail(
                DailyLimitError,
                "daily-limit",
                "IMSLP's daily limit of free downloads for this address was reached (its "
                "'Subscribe' page came instead of the file); try again tomorrow",
                page.url,
            )
        continue_url = self._continue_link(page)
        if continue_url:
            return continue_url, False
        if disclaimer_accepted and entry_url and "IMSLPDisclaimerAccept" in page.url:
            # The accept link answered with a page rather than a redirect: go back to the entry.
            return entry_url, False
        kind = title or "an HTML page"
        raise self.fail(
            NotPdfError, "not-pdf", f"the server sent {kind!r} instead of a PDF", page.url
        )

    def _check_link(self, page_url: str, link: str) -> str:
        target = urllib.parse.urljoin(page_url, link)
        self._check_url(target)
        return target

    def _continue_link(self, page: _Html) -> str | None:
        """A link to a PDF on an intermediate page (the EU mirror's "continue" page)."""
        candidates = []
        for match in _ANCHOR_RE.finditer(page.text):
            href = html.unescape(match.group(1) or match.group(2) or "").strip()
            target = urllib.parse.urljoin(page.url, href)
            if not urllib.parse.urlsplit(target).path.lower().endswith(".pdf"):
                continue
            label = re.sub(r"<[^>]+>", " ", match.group(3)).lower()
            candidates.append((0 if "continue" in label else 1, target))
        if not candidates:
            return None
        return self._check_link(page.url, min(candidates)[1])


def _can_classify(head: bytes) -> bool:
    """True once ``head`` holds enough bytes to decide whether a PDF is starting."""
    if head.startswith(_GZIP_MAGIC):
        try:
            return len(zlib.decompressobj(wbits=47).decompress(head, 8)) >= 4
        except zlib.error:
            return True
    return len(head) >= 4


def _looks_like_pdf_start(head: bytes) -> bool:
    if head.startswith(_GZIP_MAGIC):
        try:
            head = zlib.decompressobj(wbits=47).decompress(head, 8)
        except zlib.error:
            return False
    return head.startswith(b"%PDF")


def _content_range_total(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(?:\*|\d+-\d+)/(\d+)\s*", value or "")
    return int(match.group(1)) if match else None


def _decode_into(part: Path, target: Path, max_bytes: int) -> None:
    """Copy ``part`` to ``target``, gunzipping it if it is gzip data, within ``max_bytes``."""
    with open(part, "rb") as source, open(target, "wb") as sink:
        is_gzip = source.read(2) == _GZIP_MAGIC
        source.seek(0)
        if not is_gzip:
            while chunk := source.read(_CHUNK_BYTES * 16):
                sink.write(chunk)
            return
        decoder = zlib.decompressobj(wbits=47)
        written = 0
        while chunk := source.read(_CHUNK_BYTES):
            data = decoder.decompress(chunk)
            while data:
                written += len(data)
                if written > max_bytes:
                    raise OverflowError(written)
                sink.write(data)
                # Bounded output per call keeps a compression bomb from filling memory.
                data = decoder.decompress(decoder.unconsumed_tail, _CHUNK_BYTES * 16)
        sink.write(decoder.flush())


def _pdf_page_count(path: Path) -> int:
    """Page count if ``path`` starts with ``%PDF`` and PyMuPDF opens it, else 0."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"%PDF":
            return 0
    import pymupdf  # Imported here: only finished downloads need it.

    try:
        with pymupdf.open(path) as document:
            return document.page_count
    except Exception:  # PyMuPDF raises several types for unreadable files.
        return 0


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def fetch_pdf(
    piece_id: str,
    dest: Path,
    *,
    file_index: str | None = None,
    url: str | None = None,
    policy: DownloadPolicy,
    expected_sha256: str | None = None,
) -> FetchRecord:
    """Download one PDF to ``dest`` and write its provenance sidecar ``dest.with_suffix('.json')``.

    Exactly one of ``file_index`` (an IMSLP file index, digits, leading zeros kept) or ``url``
    (any http(s) URL, IMSLP's or not) says what to fetch. An interrupted download is kept at
    ``dest.with_suffix('.pdf.part')`` and resumed by the next call. ``dest`` and the sidecar
    appear only once the file is complete, a readable PDF with at least one page, and matches
    ``expected_sha256`` (hex) when that is given.

    Raises:
        AcquireError: one of its subclasses, with ``cause`` set; see the module docstring.
        ValueError: for a bad ``file_index`` or a missing/duplicated ``file_index``/``url``.
    """
    if (file_index is None) == (url is None):
        raise ValueError("pass exactly one of file_index or url")
    dest = Path(dest)
    source_url = image_from_index_url(policy.base_url, file_index) if file_index else str(url)
    if urllib.parse.urlsplit(source_url).scheme not in ("http", "https"):
        raise ValueError(f"only http(s) URLs can be fetched, got {source_url!r}")
    download = _Download(piece_id, dest, policy, source_url)
    while True:
        completed = download.run()
        record = _finish(download, completed.url, file_index, expected_sha256)
        if record is not None:
            return record
        # The assembled file was bad after a resumption: fetch it once more from scratch.
        download.may_restart = False
        download.resumed = False
        download.pdf_url = None
        download.etag = None


def _finish(
    download: _Download, final_url: str, file_index: str | None, expected_sha256: str | None
) -> FetchRecord | None:
    """Validate the partial file and move it into place; None means "restart from scratch"."""
    dest, policy, piece_id = download.dest, download.policy, download.piece_id
    can_restart = download.resumed and download.may_restart
    try:
        with atomic_path(dest) as temp_path:
            try:
                _decode_into(download.part, temp_path, policy.max_bytes)
            except OverflowError as error:
                raise download.too_large(final_url, int(str(error))) from None
            except (zlib.error, EOFError):
                pages = 0
            else:
                pages = _pdf_page_count(temp_path)
            if pages < 1:
                if can_restart:
                    raise _Restart
                raise download.fail(
                    NotPdfError,
                    "not-pdf",
                    "what arrived is not a readable PDF with at least one page",
                    final_url,
                )
            sha256 = sha256_of(temp_path)
            if expected_sha256 and sha256.lower() != expected_sha256.lower():
                if can_restart:
                    raise _Restart
                raise download.fail(
                    ChecksumMismatchError,
                    "checksum-mismatch",
                    f"the file's SHA-256 is {sha256}, expected {expected_sha256}",
                    final_url,
                )
            size = temp_path.stat().st_size
    except _Restart:
        download.part.unlink(missing_ok=True)
        return None
    except AcquireError:
        download.part.unlink(missing_ok=True)
        raise
    download.part.unlink(missing_ok=True)
    record = FetchRecord(
        piece_id=piece_id,
        source_url=download.source_url,
        final_url=final_url,
        file_index=file_index,
        sha256=sha256,
        bytes=size,
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        user_agent=policy.user_agent,
        pdf_path=dest,
        pages=pages,
    )
    write_json_atomic(sidecar_path(dest), record.sidecar())
    _fsync_directory(dest.parent)
    return record


class _Restart(Exception):
    """Internal signal: discard the resumed partial file and download again."""


__all__ = [
    "DISCLAIMER_COOKIE",
    "IMSLP_HOSTS",
    "MANUAL_PDF_PATH",
    "AcquireError",
    "BotCheckError",
    "ChecksumMismatchError",
    "ConnectionFailedError",
    "CopyrightBlockedError",
    "DailyLimitError",
    "DisclaimerLoopError",
    "DownloadPolicy",
    "FetchRecord",
    "FetchTimeoutError",
    "HostNotAllowedError",
    "HostPacer",
    "HttpStatusError",
    "NotFoundError",
    "NotPdfError",
    "RateLimitedError",
    "TooLargeError",
    "TooManyRedirectsError",
    "TruncatedError",
    "fetch_pdf",
    "image_from_index_url",
    "parse_retry_after",
    "partial_path",
    "sidecar_path",
]


def fetch_text(url: str, policy: DownloadPolicy, what: str = "metadata") -> str:
    """GET a small text resource (the MediaWiki API), as politely as the PDF downloads.

    The same host allowlist, per-host pacing across processes, User-Agent, timeout and
    retries with backoff (on timeouts, 5xx and 429 with its Retry-After) apply. ``what``
    names the request in error messages. Raises :class:`AcquireError` on failure.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not policy.host_allowed(parts.hostname):
        raise HostNotAllowedError(
            what, "host-not-allowed", f"{what}: host of {url!r} is not allowed", url
        )
    pacer = HostPacer(policy.pace_dir, policy.min_interval_s)
    # No redirect is followed: the API answers directly, and a hop could leave the allowlist.
    opener = _opener_for(parts.hostname)
    request = urllib.request.Request(
        url, headers={"User-Agent": policy.user_agent, "Accept-Encoding": "identity"}
    )
    last_problem = ""
    for attempt in range(policy.max_retries + 1):
        if attempt:
            time.sleep(_backoff_s(policy, attempt))
        with pacer.hold(parts.hostname or "", policy.max_retry_after_s) as slot:
            try:
                with opener.open(request, timeout=policy.timeout_s) as response:
                    body = response.read(_MAX_HTML_BYTES + 1)
                    if len(body) > _MAX_HTML_BYTES:
                        raise TooLargeError(what, "too-large", f"{what}: answer too large", url)
                    if body[:2] == _GZIP_MAGIC:
                        body = gzip.decompress(body)
                    return body.decode(response.headers.get_content_charset() or "utf-8")
            except urllib.error.HTTPError as error:
                if error.code == 404:
                    raise NotFoundError(
                        what, "not-found", f"{what}: {url} not found", url
                    ) from error
                if error.code == 429:
                    delay = parse_retry_after(error.headers.get("Retry-After"))
                    slot.defer(delay if delay is not None else policy.backoff_base_s)
                elif error.code < 500:
                    raise HttpStatusError(
                        what, "http-error", f"{what}: HTTP {error.code} for {url}", url
                    ) from error
                last_problem = f"HTTP {error.code}"
            except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
                last_problem = str(getattr(error, "reason", error))
    raise FetchTimeoutError(
        what,
        "timeout",
        f"{what}: gave up on {url} after {policy.max_retries + 1} tries ({last_problem})",
        url,
    )
