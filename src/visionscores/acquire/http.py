"""One paced, retrying HTTP GET, used by every fetch (score PDFs and IMSLP's API alike).

:meth:`HttpClient.get` requests one URL and hands the answer to a reader while the host's
pacing lock is held:

* the URL's host must be on the allowlist (config ``acquire.allowed_hosts``): every redirect
  hop the caller follows goes through ``get`` again, so every hop is checked before it is sent;
* requests to one host are paced across processes (:mod:`visionscores.acquire.pacing`), and
  none is sent while a marker of :mod:`visionscores.acquire.host_state` holds (after the
  daily cap, or for a host that cannot be reached: a name that does not resolve, or
  connection failures in a row, set one);
* transient failures (5xx, 429, timeouts, dropped connections) are retried with exponential
  backoff from one budget per download; 429 waits as long as ``Retry-After`` asks, and pushes
  the host's next request back for every process;
* bodies are read through :class:`Body`, within a time budget per file and above a minimum
  rate (cause ``too-slow``), and text bodies are capped in bytes after gzip decoding
  (:func:`read_text`).

Only the standard library is used (``urllib.request``): it gives proxy support from the
environment and TLS verification, and turning off its automatic redirects lets every hop be
checked against the host allowlist and paced per host.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TypeVar

from visionscores.acquire.errors import (
    AcquireError,
    ConnectionFailedError,
    FetchTimeoutError,
    HostNotAllowedError,
    HttpStatusError,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
    TooSlowError,
    TruncatedError,
    acquire_error,
)
from visionscores.acquire.host_state import Marker, host_state_of
from visionscores.acquire.notices import notice
from visionscores.acquire.pacing import HostPacer, HostSlot
from visionscores.acquire.policy import DownloadPolicy

#: Largest HTML page or API answer read, bytes (after gzip decoding).
MAX_TEXT_BYTES = 2 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)

T = TypeVar("T")


class Transient(Exception):
    """A failure worth retrying; ``cause`` names the error raised once retries run out.

    Attributes:
        cause: ``"timeout"``, ``"http-error"``, ``"rate-limited"``, ``"truncated"`` or
            ``"connection-error"``.
        what: what happened, one clause.
        url: the URL of the attempt.
    """

    def __init__(self, cause: str, what: str, url: str):
        super().__init__(what)
        self.cause = cause
        self.what = what
        self.url = url


_TRANSIENT_ERROR_CLASSES: dict[str, type[AcquireError]] = {
    "timeout": FetchTimeoutError,
    "http-error": HttpStatusError,
    "rate-limited": RateLimitedError,
    "truncated": TruncatedError,
    "connection-error": ConnectionFailedError,
}


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


def backoff_s(policy: DownloadPolicy, retry_number: int) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based): doubling, capped, jittered."""
    base = policy.backoff_base_s * (2 ** (retry_number - 1))
    # Up to 10 % jitter so that jobs failing together do not retry in lockstep.
    return min(base, policy.max_backoff_s) * (1.0 + 0.1 * random.random())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers back to the caller, which checks and paces every hop itself."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _opener_for(host: str | None) -> urllib.request.OpenerDirector:
    """An opener that follows no redirect by itself (each hop is checked and paced)."""
    handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
    if host in _LOOPBACK_HOSTS or (host or "").startswith("127."):
        # Loopback never goes through a proxy, whatever the environment says.
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


class Body:
    """The body of an answer, read in chunks; read errors become :class:`Transient`, and a
    body arriving too slowly (see :class:`HttpClient`) raises ``TooSlowError``.

    Args:
        response: the open response.
        url: its URL (named in errors).
        check_pace: called with the bytes received so far after every chunk.
    """

    def __init__(self, response, url: str, check_pace: Callable[[int], None] = lambda _: None):
        self._response = response
        self.url = url
        self._check_pace = check_pace
        self.received = 0

    def read1(self, size: int) -> bytes:
        """Up to ``size`` bytes as they arrive; ``b""`` at the end of the body."""
        try:
            chunk = self._response.read1(size)
        except TimeoutError as error:
            raise Transient("timeout", "the server stopped sending", self.url) from error
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            raise Transient(
                "truncated", "the connection dropped before the whole body arrived", self.url
            ) from error
        self.received += len(chunk)
        self._check_pace(self.received)
        return chunk

    def read_at_most(self, size: int) -> bytes:
        """Up to ``size`` bytes, reading until the end of the body or ``size``."""
        chunks, total = [], 0
        while total < size:
            chunk = self.read1(min(64 * 1024, size - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)


@dataclass
class Answer:
    """One HTTP answer as the reader sees it, under the host's pacing lock.

    Attributes:
        url: the URL requested.
        status: the HTTP status.
        headers: the response headers.
        body: the body, to be read by the reader before it returns.
    """

    url: str
    status: int
    headers: http.client.HTTPMessage
    body: Body

    @property
    def is_redirect(self) -> bool:
        return self.status in _REDIRECT_STATUSES


def read_text(answer: Answer, head: bytes = b"", max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The answer's body as text: at most ``max_bytes`` read and kept after gzip decoding.

    Args:
        answer: the answer whose body is read (what is left of it after ``head``).
        head: bytes of the body already read.
        max_bytes: cap in bytes on what is read and on the decoded text.
    """
    body = head
    with contextlib.suppress(Transient):
        body += answer.body.read_at_most(max(max_bytes - len(head), 0))
    if body.startswith(GZIP_MAGIC):
        with contextlib.suppress(zlib.error):
            body = zlib.decompressobj(wbits=47).decompress(body, max_bytes)
    charset = answer.headers.get_content_charset() or "utf-8"
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


class HttpClient:
    """Paced, retrying GETs on behalf of one piece (or one text fetch).

    Args:
        policy: the download settings.
        label: what the requests are for (a piece_id), named first in every error message.
        manual_fallback: whether error messages tell the user to place the PDF by hand.
    """

    def __init__(self, policy: DownloadPolicy, label: str, manual_fallback: bool = True):
        self.policy = policy
        self.label = label
        self.manual_fallback = manual_fallback
        self.pacer = HostPacer(policy.pace_dir, policy.min_interval_s)
        self.host_state = host_state_of(policy)
        # One retry budget for everything done for this label (all hops of a download), and
        # one time budget: seconds spent in requests, summed over them (policy.max_download_s).
        self.retries_used = 0
        self.active_s = 0.0

    def fail(
        self,
        error_class: type[AcquireError],
        cause: str,
        what: str,
        url: str | None,
        next_step: str = "This answer is not retried.",
    ) -> AcquireError:
        """An error of ``error_class`` whose message names the label and the fallback."""
        if self.manual_fallback:
            return acquire_error(error_class, self.label, cause, what, url, next_step)
        where = f" (at {url})" if url else ""
        message = f"{self.label}: {what}{where}. {next_step}".rstrip()
        return error_class(self.label, cause, message, url)

    def check_url(self, url: str) -> urllib.parse.SplitResult:
        """The parts of ``url``; raises :class:`HostNotAllowedError` unless it may be asked."""
        parts = urllib.parse.urlsplit(url)
        # The manifest's own URLs obey the same allowlist as redirects (config acquire).
        if parts.scheme not in ("http", "https") or not self.policy.host_allowed(parts.hostname):
            raise self.fail(
                HostNotAllowedError,
                "host-not-allowed",
                f"was sent to {url!r}, whose host is not allowed (config acquire.allowed_hosts) "
                f"(allowed: {', '.join(self.policy.allowed_hosts)})",
                url,
            )
        return parts

    def get(
        self,
        url: str,
        headers: Callable[[urllib.parse.SplitResult], dict[str, str]],
        read: Callable[[Answer, HostSlot], T],
    ) -> T:
        """GET ``url`` (retrying transient failures) and return what ``read`` makes of it.

        Args:
            url: the URL; its host must be allowed.
            headers: the request headers of an attempt, from the URL's parts (called for
                every attempt, so a retry can ask for a different Range).
            read: called under the host's pacing lock with every answer that is not a 429 or
                5xx; it reads the body and may raise :class:`Transient` to have the request
                retried, or an :class:`AcquireError` to stop.

        Raises:
            AcquireError: the host is not allowed; a marker stops it (``daily-cap``,
                ``host-unreachable``: nothing was sent) or this request set one; a 429
                asked for too long a wait; the body came too slowly (``too-slow``); or the
                retry budget ran out (class by the last transient cause).
        """
        while True:
            try:
                return self._attempt(url, headers, read)
            except Transient as transient:
                self.retries_used += 1
                if self.retries_used > self.policy.max_retries:
                    raise self.fail(
                        _TRANSIENT_ERROR_CLASSES[transient.cause],
                        transient.cause,
                        f"{transient.what}; gave up after {self.retries_used} attempts",
                        transient.url,
                        "Running the download again later may succeed; a partly downloaded "
                        "file is kept and resumed.",
                    ) from transient
                if transient.cause != "rate-limited":
                    # A 429 already pushed the host's next allowed time back for every process.
                    time.sleep(backoff_s(self.policy, self.retries_used))

    def _attempt(self, url, headers, read):
        parts = self.check_url(url)
        host = parts.hostname or ""
        request = urllib.request.Request(url, headers=headers(parts))

        def check_markers() -> None:
            # Under the lock, before the pacing wait and right before sending: a marker
            # another job set while this one waited for its turn stops this request too.
            marker = self.host_state.blocking(host)
            if marker:
                raise self.stopped_by(marker, url)

        with self.pacer.hold(host, self.policy.max_retry_after_s, check_markers) as slot:
            slot.sent = True
            started = time.monotonic()
            try:
                response = self._open(request, url, host)
                self.host_state.answered(host)
                with contextlib.closing(response):
                    status = response.status if hasattr(response, "status") else response.code
                    check_pace = self._pace_check(url, started, time.monotonic())
                    answer = Answer(url, status, response.headers, Body(response, url, check_pace))
                    if status == 429:
                        self._rate_limited(answer, slot)
                    if status >= 500:
                        wait_s = parse_retry_after(answer.headers.get("Retry-After"))
                        if wait_s is not None:
                            slot.defer(min(wait_s, self.policy.max_retry_after_s))
                        raise Transient(
                            "http-error", f"the server kept failing (HTTP {status})", url
                        )
                    return read(answer, slot)
            finally:
                self.active_s += time.monotonic() - started

    def _pace_check(self, url: str, request_started: float, body_started: float):
        """A check of a body's progress: the file's time budget and the minimum rate."""
        policy = self.policy

        def check(received: int) -> None:
            now = time.monotonic()
            if self.active_s + (now - request_started) > policy.max_download_s:
                raise self.fail(
                    TooSlowError,
                    "too-slow",
                    f"the download took longer than {policy.max_download_s:.0f} s "
                    "(config acquire.max_download_s)",
                    url,
                    "Running the download again later may succeed.",
                )
            elapsed = now - body_started
            if elapsed >= policy.min_rate_window_s and received < policy.min_rate_bytes_s * elapsed:
                raise self.fail(
                    TooSlowError,
                    "too-slow",
                    f"the server sent {received} bytes in {elapsed:.0f} s, below "
                    f"{policy.min_rate_bytes_s:.0f} bytes/s (config acquire.min_rate_bytes_s)",
                    url,
                    "Running the download again later may succeed.",
                )

        return check

    def _open(self, request: urllib.request.Request, url: str, host: str):
        try:
            remaining_s = max(self.policy.max_download_s - self.active_s, 0.1)
            timeout_s = min(self.policy.timeout_s, remaining_s)
            return _opener_for(host).open(request, timeout=timeout_s)
        except urllib.error.HTTPError as error_response:
            return error_response
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, socket.gaierror):
                # A name that does not resolve will not resolve on a retry a few seconds on.
                marker = self.host_state.set(host, "unreachable", f"name not resolved: {reason}")
                raise self.mark(marker, url) from error
            if isinstance(reason, TimeoutError):
                self.connection_failed(host, "connection timed out", url, error)
                raise Transient("timeout", "the server did not answer in time", url) from error
            self.connection_failed(host, str(reason), url, error)
            raise Transient("connection-error", f"could not connect ({reason})", url) from error
        except TimeoutError as error:
            raise Transient("timeout", "the server did not answer in time", url) from error
        except (ConnectionError, http.client.HTTPException, OSError) as error:
            # Accepted, then closed or reset before any answer.
            self.connection_failed(host, f"connection dropped: {error!r}", url, error)
            raise Transient("connection-error", f"connection failed ({error})", url) from error

    def connection_failed(self, host: str, error: str, url: str, cause: Exception) -> None:
        """Count a failed connection; raise when it marks the host unreachable."""
        marker = self.host_state.connection_failed(host, error)
        if marker:
            raise self.mark(marker, url) from cause

    def mark(self, marker: Marker, url: str) -> AcquireError:
        """Announce a marker this process just set; the error of the piece that met it."""
        notice(marker.describe(self.policy.base_url))
        return self.stopped_by(marker, url)

    def stopped_by(self, marker: Marker, url: str) -> AcquireError:
        """The error of a piece stopped by ``marker`` (nothing was sent for it)."""
        return self.fail(*marker.stop_reason(), url, "")

    def _rate_limited(self, answer: Answer, slot: HostSlot) -> None:
        wait_s = parse_retry_after(answer.headers.get("Retry-After"))
        if wait_s is not None and wait_s > self.policy.max_retry_after_s:
            raise self.fail(
                RateLimitedError,
                "rate-limited",
                f"the server asked to wait {wait_s:.0f} s before retrying (HTTP 429), longer "
                f"than the {self.policy.max_retry_after_s:.0f} s allowed",
                answer.url,
            )
        # The wait applies to every process using this host, not just this request.
        slot.defer(wait_s if wait_s is not None else backoff_s(self.policy, self.retries_used + 1))
        raise Transient("rate-limited", "the server kept answering HTTP 429", answer.url)


def fetch_text(url: str, policy: DownloadPolicy, what: str = "metadata") -> str:
    """GET a small text resource (the MediaWiki API), as politely as the PDF downloads.

    The same host allowlist, per-host pacing across processes, User-Agent, timeout and
    retries with backoff (on timeouts, 5xx and 429 with its Retry-After) apply. No redirect
    is followed: the API answers directly. ``what`` names the request in error messages.

    Raises:
        AcquireError: ``NotFoundError`` for 404, ``TooLargeError`` above
            :data:`MAX_TEXT_BYTES`, ``HttpStatusError`` for other answers, or the class of
            the last transient failure once retries ran out.
    """
    client = HttpClient(policy, what, manual_fallback=False)

    def read(answer: Answer, slot: HostSlot) -> str:
        if answer.status in (404, 410):
            raise client.fail(NotFoundError, "not-found", f"{url} not found", url)
        if answer.status != 200:
            raise client.fail(HttpStatusError, "http-error", f"HTTP {answer.status}", url)
        raw = answer.body.read_at_most(MAX_TEXT_BYTES + 1)
        if raw.startswith(GZIP_MAGIC):
            raw = zlib.decompressobj(wbits=47).decompress(raw, MAX_TEXT_BYTES + 1)
        if len(raw) > MAX_TEXT_BYTES:
            raise client.fail(TooLargeError, "too-large", "answer too large", url)
        return raw.decode(answer.headers.get_content_charset() or "utf-8", errors="replace")

    return client.get(
        url,
        lambda parts: {"User-Agent": policy.user_agent, "Accept-Encoding": "identity"},
        read,
    )
