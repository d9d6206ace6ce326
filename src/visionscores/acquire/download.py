"""Polite download of one score PDF from IMSLP (or a plain http(s) URL) to a local file.

One concern: turn a file index or URL into a validated PDF on disk plus a JSON sidecar that says
where it came from. The requests go through :class:`~visionscores.acquire.http.HttpClient`
(allowlist, pacing, retries); what each non-file answer means is decided by
:mod:`visionscores.acquire.protocol`; this module adds what is particular to a file:

* an interrupted body is resumed with a ``Range`` request (``If-Range`` on the ETag) instead of
  being fetched again, and a partial file is kept across runs;
* answers that are not the file (bot check, daily download cap, copyright block, missing file,
  disclaimer loop, an HTML page) stop at once with an
  :class:`~visionscores.acquire.errors.AcquireError` whose message tells the user how to place
  the PDF by hand. They are never retried, and a bot check or CAPTCHA is never worked around;
* the assembled file must be a readable PDF with at least one page, within the size limit
  after gzip decoding, and match the expected SHA-256 when one is given.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import urllib.parse
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from visionscores.acquire import protocol
from visionscores.acquire.errors import (
    AcquireError,
    ChecksumMismatchError,
    NotPdfError,
    TooLargeError,
    TooManyRedirectsError,
)
from visionscores.acquire.http import GZIP_MAGIC, Answer, HttpClient, Transient, read_text
from visionscores.acquire.notices import notice
from visionscores.acquire.pacing import HostSlot
from visionscores.acquire.policy import DownloadPolicy, image_from_index_url
from visionscores.acquire.records import partial_path
from visionscores.fileio import atomic_path, sha256_of, write_json_atomic

_CHUNK_BYTES = 64 * 1024
_SNIFF_BYTES = 512


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


@dataclass
class _Page:
    """An answer that is not the file's bytes (a redirect, an error status or an HTML page),
    with what the protocol makes of it and the URL to name in an error."""

    step: protocol.Follow | protocol.Failure
    where: str


@dataclass
class _Complete:
    """The body was stored completely in the partial file."""

    url: str


class _Download:
    """State of one ``fetch_pdf`` call: cookies, partial file, resumption."""

    def __init__(self, piece_id: str, dest: Path, policy: DownloadPolicy, source_url: str):
        self.piece_id = piece_id
        self.dest = dest
        self.policy = policy
        self.source_url = source_url
        self.part = partial_path(dest)
        self.client = HttpClient(policy, piece_id)
        # Session cookies set by IMSLP hosts (e.g. by the disclaimer accept link), by name.
        cookie_name, cookie_value = protocol.DISCLAIMER_COOKIE
        self.cookies: dict[str, str] = {cookie_name: cookie_value}
        # URL whose body is in the partial file, and its validator for If-Range.
        self.pdf_url: str | None = None
        self.etag: str | None = None
        # Where the current attempt asked the body to start (its Range), bytes.
        self.range_start = 0
        # Protocol state: the disclaimer was accepted; the Special:ImagefromIndex URL.
        self.disclaimer_accepted = False
        self.entry_url: str | None = None
        # True once the partial file was continued rather than written in one answer (a partial
        # left by an earlier run cannot even be tied to this file): if the assembled file then
        # fails validation, it is discarded and downloaded once more from scratch.
        self.resumed = False
        self.may_restart = True
        self.range_allowed = True
        self.said_wait = False

    def fail(self, error_class, cause: str, what: str, url: str | None) -> AcquireError:
        return self.client.fail(error_class, cause, what, url)

    # -- one request ------------------------------------------------------------------------

    def _headers(self, parts: urllib.parse.SplitResult) -> dict[str, str]:
        url = urllib.parse.urlunsplit(parts)
        self.range_start = 0
        resumable_url = url == self.pdf_url or parts.path.lower().endswith(".pdf")
        if self.range_allowed and resumable_url and self.part.exists():
            self.range_start = self.part.stat().st_size
        headers = {
            "User-Agent": self.policy.user_agent,
            "Accept": "application/pdf,text/html;q=0.9,*/*;q=0.5",
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.range_start > 0:
            headers["Range"] = f"bytes={self.range_start}-"
            if self.etag:
                headers["If-Range"] = self.etag
        return headers

    def _remember_cookies(self, answer: Answer) -> None:
        # Only allowed hosts are ever asked, so cookies come from and go back to them alone.
        for header in answer.headers.get_all("Set-Cookie") or []:
            name, separator, rest = header.partition("=")
            if name.strip() and separator:
                self.cookies[name.strip()] = rest.split(";", 1)[0].strip()

    def _read(self, answer: Answer, slot: HostSlot) -> _Page | _Complete:
        """Store the file's bytes, or return the answer as a page for the protocol to read."""
        self._remember_cookies(answer)
        status, url, headers = answer.status, answer.url, answer.headers
        if answer.is_redirect:
            return self._page(answer, "")
        if status == 416:
            return self._range_not_satisfiable(url, headers)
        if status not in (200, 206):
            return self._page(answer, read_text(answer))
        if status == 206 and self.range_start > 0:
            return self._receive(answer, self.range_start)
        head = self._sniff(answer)
        if not _looks_like_pdf_start(head):
            return self._page(answer, read_text(answer, head))
        if self.range_start > 0:
            # The server ignored the Range request: start the file over from this full answer.
            self.part.unlink(missing_ok=True)
            self.resumed = False
        return self._receive(answer, 0, head)

    def _page(self, answer: Answer, text: str) -> _Page:
        """Classify a page while the host's lock is still held, so that a daily-cap marker
        is in force before any other job's request to the host can start."""
        if self.entry_url is None and "Special:ImagefromIndex" in answer.url:
            self.entry_url = answer.url
        step = protocol.classify(
            answer.status,
            answer.url,
            answer.headers,
            text,
            disclaimer_accepted=self.disclaimer_accepted,
            entry_url=self.entry_url,
            default_wait_s=self.policy.wait_page_default_s,
        )
        where = answer.url
        if answer.is_redirect and answer.headers.get("Location"):
            # A redirect to a bot gate is named by its target: it was never requested.
            where = urllib.parse.urljoin(answer.url, answer.headers["Location"])
        if isinstance(step, protocol.Failure) and step.cause == "daily-cap":
            host = urllib.parse.urlsplit(answer.url).hostname or ""
            marker = self.client.host_state.set(host, "cap", f"for {self.piece_id}, at {where}")
            notice(marker.describe(self.policy.base_url))
        return _Page(step, where)

    def _range_not_satisfiable(self, url: str, headers) -> _Complete:
        total = _content_range_total(headers.get("Content-Range"))
        size = self.part.stat().st_size if self.part.exists() else 0
        if total is not None and total == size:
            # An earlier answer overstated its length or the connection dropped right at the
            # end: the partial file is already the whole file.
            return _Complete(url)
        self.part.unlink(missing_ok=True)
        self.resumed = False
        raise Transient("truncated", "the server rejected resumption (HTTP 416)", url)

    def _sniff(self, answer: Answer) -> bytes:
        """Read just enough of the body to tell a PDF (plain or gzipped) from anything else."""
        head = b""
        while len(head) < _SNIFF_BYTES and not _can_classify(head):
            chunk = answer.body.read1(_SNIFF_BYTES - len(head))
            if not chunk:
                break
            head += chunk
        return head

    def _receive(self, answer: Answer, start: int, head: bytes = b"") -> _Complete:
        """Stream the body into the partial file, appending at ``start`` for a 206 answer."""
        url, headers = answer.url, answer.headers
        if start > 0:
            content_range = headers.get("Content-Range") or ""
            match = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", content_range)
            if not match or int(match.group(1)) != start:
                # A range other than the one asked for: keep nothing, fetch the whole file.
                self.part.unlink(missing_ok=True)
                self.resumed = False
                self.range_allowed = False
                raise Transient("truncated", f"bad Content-Range {content_range!r}", url)
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
                while chunk := answer.body.read1(_CHUNK_BYTES):
                    part_file.write(chunk)
                    received += len(chunk)
                    if received > self.policy.max_bytes:
                        break
            except Transient as transient:
                if transient.cause == "timeout":
                    transient.what = "the server stopped sending mid-file"
                raise
        if received > self.policy.max_bytes:
            self.part.unlink(missing_ok=True)
            raise self.too_large(url, received)
        if expected_total is not None and received < expected_total:
            raise Transient(
                "truncated",
                f"the file kept arriving incomplete ({received} of {expected_total} bytes)",
                url,
            )
        return _Complete(url)

    def _wait(self, stated_s: float) -> None:
        """Wait as a browser user would before the file link (no lock held meanwhile)."""
        wait_s = min(stated_s, self.policy.wait_page_max_s)
        if not self.said_wait:
            # Said once per file, so a long run does not look hung.
            notice(
                f"{self.piece_id}: IMSLP's download page asks to wait {stated_s:.0f} s before "
                f"the file; waiting {wait_s:.0f} s"
            )
            self.said_wait = True
        time.sleep(wait_s)

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
            outcome = self.client.get(url, self._headers, self._read)
            hops += 1
            if isinstance(outcome, _Complete):
                return outcome
            step = outcome.step
            if isinstance(step, protocol.Failure):
                raise self.fail(step.error_class, step.cause, step.what, outcome.where)
            self.client.check_url(step.url)
            if step.wait_s > 0:
                self._wait(step.wait_s)
            self.disclaimer_accepted = self.disclaimer_accepted or step.accepts_disclaimer
            url = step.url


def _can_classify(head: bytes) -> bool:
    """True once ``head`` holds enough bytes to decide whether a PDF is starting."""
    if head.startswith(GZIP_MAGIC):
        try:
            return len(zlib.decompressobj(wbits=47).decompress(head, 8)) >= 4
        except zlib.error:
            return True
    return len(head) >= 4


def _looks_like_pdf_start(head: bytes) -> bool:
    if head.startswith(GZIP_MAGIC):
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
        is_gzip = source.read(2) == GZIP_MAGIC
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
