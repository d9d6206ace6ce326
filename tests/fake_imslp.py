"""A fake IMSLP on loopback, with per-file fault injection, for testing the download client.

It speaks real HTTP over real sockets (``http.server.ThreadingHTTPServer`` on ``127.0.0.1``,
ephemeral port, served from a background thread) and mirrors IMSLP's download protocol:

* ``/wiki/Special:ImagefromIndex/<index>`` on the wiki host ``127.0.0.1``: the disclaimer page
  without the ``imslpdisclaimeraccepted=yes`` cookie, otherwise a 302 to the file host (or a
  wait page whose ``<span id="sm_dl_wait" data-id="...">`` holds the entity-encoded file URL);
* ``/wiki/Special:IMSLPDisclaimerAccept/<index>``: sets the cookie and redirects back;
* ``/files/imglnks/usimg/<h1>/<h2>/IMSLP<index>-<name>.pdf`` on the file host ``localhost``
  (a second name for the same loopback server, so redirects really change host): the PDF with
  Content-Length, Accept-Ranges, ETag, Last-Modified and Range / If-Range support;
* ``/api.php?action=query&prop=revisions&rvprop=content&titles=...&format=json``: configurable
  wikitext per work page title, in MediaWiki 1.18's JSON shape.

Faults are given per file index as ``{index: {fault_name: parameter}}`` (a set or list of names
means parameter ``True``); see :data:`FAULTS`. Every request is logged with its host, path,
headers and start/end times (``time.monotonic()`` seconds) so tests can check pacing, resumption
and the absence of retry storms.

Use it as a context manager (``with FakeImslp(files={...}) as server: server.base_url``) or via
the ``fake_imslp_factory`` pytest fixture, which stops every server it made at test teardown.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import html
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

WIKI_HOST = "127.0.0.1"
#: Second host name of the same server; resolves to 127.0.0.1 through /etc/hosts.
FILE_HOST = "localhost"

#: Fault names and what they do to the file with that index.
FAULTS = {
    "disclaimer": "entry shows the disclaimer even with the cookie until the accept link is used",
    "disclaimer_loop": "entry shows the disclaimer every time, accepted or not",
    "wait_page": "entry answers 200 with a wait page holding the entity-encoded file URL and "
    "stating a countdown of this many seconds (True: 1)",
    "redirect_chain": "entry redirects through hops alternating between the two hosts",
    "eu_continue": "entry redirects to an EU-mirror style 'continue' page linking the file",
    "offsite_redirect": "entry redirects to a host outside any allowlist",
    "captcha": "entry redirects to /friendlytest.html (a 'Bot Check' page)",
    "js_gate": "entry redirects to /friendlyredirect.html (JavaScript cookie page)",
    "daily_limit": "entry answers the daily-cap 'Subscribe' page",
    "blocked": "entry answers 'blocked pending copyright review'",
    "slow": "entry sleeps this many seconds (True: the server's slow_s) before answering",
    "rate_limit": "file answers 429 first; parameter {'times': n, 'retry_after': header value}",
    "server_error": "file answers 500 this many times (True: once), then normally",
    "html_instead": "file answers 200 text/html instead of the PDF",
    "gzip": "file body is gzip-encoded with Content-Encoding: gzip, asked for or not",
    "drop_mid_body": "first n (True: 1) full answers stop after half the body with a reset",
    "truncated": "answers declare the full length but send only part; {'times', 'fraction'}",
    "overstated_length": "first answer declares 100 bytes more than it sends",
    "no_range": "file host ignores Range headers and always sends the whole file",
    "trickle": "file body is sent 16 bytes at a time at this many bytes per second",
}

_FILE_PATH_RE = re.compile(r"^/files/imglnks/usimg/[0-9a-f]/[0-9a-f]{2}/IMSLP(\d+)-([^/]+)\.pdf$")
_LAST_MODIFIED = email.utils.formatdate(1_600_000_000, usegmt=True)


@dataclass
class LoggedRequest:
    """One request as the fake saw it; times are ``time.monotonic()`` seconds."""

    host: str
    method: str
    path: str
    headers: dict[str, str]
    started: float
    finished: float = 0.0
    status: int = 0

    @property
    def is_file(self) -> bool:
        """True for a request to a PDF on the file host."""
        return self.path.startswith("/files/")


@dataclass
class _FakeFile:
    index: str
    name: str
    content: bytes
    faults: dict[str, object] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.served_bytes).hexdigest()[:16] + '"'

    @property
    def served_bytes(self) -> bytes:
        # mtime=0 keeps the gzip bytes identical between answers, so Range stays consistent.
        return gzip.compress(self.content, mtime=0) if "gzip" in self.faults else self.content


def file_path(index: str, name: str) -> str:
    """IMSLP's file path: hash directories from the MD5 of the file name, like MediaWiki."""
    file_name = f"IMSLP{index}-{name}.pdf"
    digest = hashlib.md5(file_name.encode()).hexdigest()
    return f"/files/imglnks/usimg/{digest[0]}/{digest[:2]}/{file_name}"


def _page(title: str, body: str) -> bytes:
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
        f"<body><div id='content'>{body}</div>\n"
        "<div id='footer'><a href='/wiki/Main_Page'>Main Page</a></div></body></html>\n"
    ).encode()


def _entity_encode(url: str) -> str:
    """Encode ':' and '/' as numeric entities and '&' as '&amp;', as a wiki page might."""
    return html.escape(url, quote=True).replace(":", "&#58;").replace("/", "&#x2F;")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeImslp):
        # Bound to loopback only, on a port the kernel picks: never reachable from elsewhere.
        super().__init__((WIKI_HOST, 0), _Handler)
        self.fake = fake
        self.aborted_sockets: set[int] = set()

    def shutdown_request(self, request):
        if id(request) in self.aborted_sockets:
            # SO_LINGER 0 and no FIN first: close() sends a TCP reset, like a dropped link.
            self.aborted_sockets.discard(id(request))
            request.close()
            return
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeIMSLP/1.0"
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        """Keep test output quiet; the fake keeps its own request log."""

    def do_GET(self):
        fake = self.server.fake
        entry = fake._log_start(self)
        self.close_connection = True
        try:
            entry.status = fake._route(self)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            # The client gave up (e.g. its timeout passed while the fake was "slow").
            entry.status = -1
        finally:
            entry.finished = time.monotonic()

    # -- response helpers ---------------------------------------------------------------

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        return status

    def redirect(self, location: str, headers: Mapping[str, str] | None = None) -> int:
        return self.send_body(
            302, b"", headers={"Location": location, **(headers or {})}, content_type="text/plain"
        )

    def abort_after(self, delay_s: float) -> None:
        """Reset the connection ``delay_s`` seconds from now, after what was already sent."""
        self.wfile.flush()
        time.sleep(delay_s)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.aborted_sockets.add(id(self.connection))


class FakeImslp:
    """The fake server; see the module docstring.

    Args:
        files: file index -> PDF bytes, or -> (file name without ``.pdf``, PDF bytes).
        faults: file index -> fault names (iterable) or {fault name: parameter}.
        works: work page title -> wikitext served by ``/api.php``.
        slow_s: default delay in seconds for the ``slow`` fault.
        daily_cap: after this many files were handed out (entry answers leading to a file),
            every entry answers the daily-cap page, as IMSLP does per address; None: no cap.
    """

    def __init__(
        self,
        files: Mapping[str, bytes | tuple[str, bytes]] | None = None,
        faults: Mapping[str, Iterable[str] | Mapping[str, object]] | None = None,
        works: Mapping[str, str] | None = None,
        slow_s: float = 1.0,
        daily_cap: int | None = None,
    ):
        self.daily_cap = daily_cap
        self._handed_out = 0
        self.files: dict[str, _FakeFile] = {}
        for index, value in (files or {}).items():
            name, content = value if isinstance(value, tuple) else ("Complete_Score", value)
            self.files[index] = _FakeFile(index, name, content)
        for index, spec in (faults or {}).items():
            spec = dict(spec) if isinstance(spec, Mapping) else dict.fromkeys(spec, True)
            unknown = set(spec) - set(FAULTS)
            if unknown:
                raise ValueError(f"unknown faults {sorted(unknown)}; known: {sorted(FAULTS)}")
            if index not in self.files:
                raise ValueError(f"faults given for unknown file index {index!r}")
            self.files[index].faults = spec
        self.works = dict(works or {})
        self.slow_s = slow_s
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._fault_uses: dict[tuple[str, str], int] = {}
        self._accepted: set[str] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FakeImslp:
        """Bind an ephemeral loopback port and serve from a daemon thread."""
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeImslp:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """Wiki root, to use as ``DownloadPolicy.base_url``."""
        return f"http://{WIKI_HOST}:{self.port}"

    @property
    def file_base_url(self) -> str:
        return f"http://{FILE_HOST}:{self.port}"

    @property
    def hosts(self) -> tuple[str, str]:
        """Both host names the fake answers to, for ``DownloadPolicy.allowed_hosts``."""
        return (WIKI_HOST, FILE_HOST)

    def file_url(self, index: str) -> str:
        """Direct URL of the PDF on the file host."""
        fake_file = self.files[index]
        return self.file_base_url + file_path(index, fake_file.name)

    # -- request log -------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        """A copy of the request log, in arrival order."""
        with self._lock:
            return list(self._log)

    def requests_to(self, path_part: str = "", host: str | None = None) -> list[LoggedRequest]:
        """Logged requests whose path contains ``path_part`` (and to ``host`` if given)."""
        return [
            entry
            for entry in self.requests
            if path_part in entry.path and (host is None or entry.host == host)
        ]

    def _log_start(self, handler: _Handler) -> LoggedRequest:
        host_header = handler.headers.get("Host", "")
        host = urllib.parse.urlsplit(f"//{host_header}").hostname or ""
        entry = LoggedRequest(
            host=host,
            method=handler.command,
            path=handler.path,
            headers={name: value for name, value in handler.headers.items()},
            started=time.monotonic(),
        )
        with self._lock:
            self._log.append(entry)
        return entry

    def _use_fault(self, fake_file: _FakeFile, name: str, default_times: int = 1) -> bool:
        """True if fault ``name`` applies to this answer; counts its uses against ``times``."""
        if name not in fake_file.faults:
            return False
        parameter = fake_file.faults[name]
        if isinstance(parameter, Mapping):
            times = int(parameter.get("times", default_times))
        elif isinstance(parameter, bool):
            times = default_times
        else:
            times = int(parameter)
        with self._lock:
            used = self._fault_uses.get((fake_file.index, name), 0)
            if used >= times:
                return False
            self._fault_uses[(fake_file.index, name)] = used + 1
        return True

    # -- routing -----------------------------------------------------------------------

    def _route(self, handler: _Handler) -> int:
        parts = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(parts.path)
        routes: list[tuple[str, Callable[[_Handler, str], int]]] = [
            ("/wiki/Special:ImagefromIndex/", self._image_from_index),
            ("/wiki/Special:IMSLPDisclaimerAccept/", self._disclaimer_accept),
            ("/hop/", self._hop),
            ("/eu/continue/", self._eu_continue),
            ("/files/", self._file),
        ]
        for prefix, route in routes:
            if path.startswith(prefix):
                return route(handler, path)
        if path == "/friendlytest.html":
            return handler.send_body(
                200,
                _page("Bot Check", "<form><p>Please prove you are human.</p></form>"),
            )
        if path == "/friendlyredirect.html":
            script = "<script>document.cookie='imslp_wiki_session=x';location.reload()</script>"
            return handler.send_body(200, _page("IMSLP", script))
        if path == "/api.php":
            return self._api(handler, urllib.parse.parse_qs(parts.query))
        return handler.send_body(404, _page("Not Found", "No such page."))

    def _not_found(self, handler: _Handler) -> int:
        return handler.send_body(404, _page("Not Found - IMSLP", "There is no such file."))

    def _disclaimer_page(self, handler: _Handler, index: str) -> int:
        link = f"/wiki/Special:IMSLPDisclaimerAccept/{index}"
        body = (
            "<p>The file you are about to download is believed to be in the public domain in "
            "Canada ...</p>"
            f"<p><a href='{link}'>I accept this disclaimer, continue to download file</a></p>"
        )
        return handler.send_body(200, _page("Disclaimer - IMSLP", body))

    def _image_from_index(self, handler: _Handler, path: str) -> int:
        index = path.rsplit("/", 1)[-1]
        fake_file = self.files.get(index)
        if fake_file is None:
            return self._not_found(handler)
        faults = fake_file.faults
        if "slow" in faults:
            delay_s = self.slow_s if faults["slow"] is True else float(faults["slow"])
            # Interruptible and bounded: stopping the server ends the sleep.
            self._stopping.wait(delay_s)
        if "captcha" in faults:
            return handler.redirect(f"{self.base_url}/friendlytest.html")
        if "js_gate" in faults:
            return handler.redirect(f"{self.base_url}/friendlyredirect.html")
        if "offsite_redirect" in faults:
            return handler.redirect("http://files.example.invalid" + file_path(index, "x"))
        has_cookie = "imslpdisclaimeraccepted=yes" in handler.headers.get("Cookie", "")
        if "disclaimer_loop" in faults or not has_cookie:
            return self._disclaimer_page(handler, index)
        if "disclaimer" in faults and index not in self._accepted:
            return self._disclaimer_page(handler, index)
        if "blocked" in faults:
            # As a wiki renders it: markup and a line break inside the phrase.
            body = (
                "<div class='we_file_blocked'><p>This file is currently <b>blocked</b>\n"
                "pending&nbsp;copyright review.</p></div>"
            )
            return handler.send_body(200, _page("IMSLP", body))
        with self._lock:
            capped = self.daily_cap is not None and self._handed_out >= self.daily_cap
            self._handed_out += not capped
        if "daily_limit" in faults or capped:
            body = (
                "<p>You have reached the daily limit of free downloads. Subscribe to IMSLP "
                "for unlimited downloads.</p><a href='/wiki/IMSLP:Subscriptions'>Subscribe</a>"
            )
            return handler.send_body(200, _page("Subscribe - IMSLP", body))
        file_url = self.file_url(index)
        if "wait_page" in faults:
            seconds = 1 if faults["wait_page"] is True else int(faults["wait_page"])
            body = (
                f"<p>Your download will begin in {seconds} seconds. "
                "<a href='/wiki/IMSLP:Subscriptions'>Subscribe</a> to skip the wait.</p>"
                f'<span id="sm_dl_wait" data-id="{_entity_encode(file_url)}">{seconds}</span>'
            )
            return handler.send_body(200, _page("IMSLP - Download", body))
        if "redirect_chain" in faults:
            return handler.redirect(f"{self.file_base_url}/hop/{index}/1")
        if "eu_continue" in faults:
            return handler.redirect(f"{self.file_base_url}/eu/continue/{index}")
        return handler.redirect(file_url)

    def _disclaimer_accept(self, handler: _Handler, path: str) -> int:
        index = path.rsplit("/", 1)[-1]
        with self._lock:
            self._accepted.add(index)
        return handler.redirect(
            f"{self.base_url}/wiki/Special:ImagefromIndex/{index}",
            headers={"Set-Cookie": "imslpdisclaimeraccepted=yes; Path=/; Max-Age=2592000"},
        )

    def _hop(self, handler: _Handler, path: str) -> int:
        """Redirect chain alternating hosts: file host -> wiki host -> file host -> file."""
        _, _, index, number = path.split("/", 3)
        if index not in self.files or not number.isdigit():
            return self._not_found(handler)
        hop = int(number)
        if hop >= 3:
            return handler.redirect(self.file_url(index))
        next_base = self.base_url if hop % 2 else self.file_base_url
        return handler.redirect(f"{next_base}/hop/{index}/{hop + 1}")

    def _eu_continue(self, handler: _Handler, path: str) -> int:
        index = path.rsplit("/", 1)[-1]
        if index not in self.files:
            return self._not_found(handler)
        body = (
            "<p>IMSLP EU mirror.</p><p><a href='/wiki/Main_Page'>Home</a> "
            f"<a href='{html.escape(self.file_url(index))}'>Click here to continue your "
            "download.</a></p>"
        )
        return handler.send_body(200, _page("IMSLP EU - Download", body))

    def _file(self, handler: _Handler, path: str) -> int:
        match = _FILE_PATH_RE.match(path)
        fake_file = self.files.get(match.group(1)) if match else None
        if fake_file is None or path != file_path(fake_file.index, fake_file.name):
            return self._not_found(handler)
        if self._use_fault(fake_file, "rate_limit"):
            parameter = fake_file.faults["rate_limit"]
            retry_after = (
                parameter.get("retry_after", "1") if isinstance(parameter, Mapping) else "1"
            )
            return handler.send_body(
                429, _page("Too Many Requests", "Slow down."), headers={"Retry-After": retry_after}
            )
        if self._use_fault(fake_file, "server_error"):
            return handler.send_body(500, _page("Internal Server Error", "Oops."))
        if "html_instead" in fake_file.faults:
            return handler.send_body(200, _page("IMSLP", "<p>Something went wrong.</p>"))
        return self._send_file(handler, fake_file)

    def _send_file(self, handler: _Handler, fake_file: _FakeFile) -> int:
        body = fake_file.served_bytes
        total = len(body)
        start = 0
        range_header = handler.headers.get("Range")
        if_range = handler.headers.get("If-Range")
        honour_range = (
            range_header is not None
            and "no_range" not in fake_file.faults
            and (if_range is None or if_range == fake_file.etag)
        )
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": fake_file.etag,
            "Last-Modified": _LAST_MODIFIED,
        }
        if "gzip" in fake_file.faults:
            headers["Content-Encoding"] = "gzip"
        status = 200
        if honour_range:
            range_match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header.strip())
            if range_match is None:
                return handler.send_body(400, _page("Bad Request", "Bad Range."))
            start = int(range_match.group(1))
            end = int(range_match.group(2)) if range_match.group(2) else total - 1
            if start >= total:
                headers["Content-Range"] = f"bytes */{total}"
                return handler.send_body(416, b"", content_type="text/plain", headers=headers)
            end = min(end, total - 1)
            body = body[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
            status = 206
        declared_length = len(body)
        sent = body
        abort = False
        if start == 0 and self._use_fault(fake_file, "drop_mid_body"):
            sent, abort = body[: len(body) // 2], True
        elif self._use_fault(fake_file, "truncated"):
            parameter = fake_file.faults["truncated"]
            fraction = parameter.get("fraction", 0.6) if isinstance(parameter, Mapping) else 0.6
            sent = body[: max(1, int(len(body) * float(fraction)))]
        elif start == 0 and self._use_fault(fake_file, "overstated_length"):
            declared_length = len(body) + 100
        handler.send_response(status)
        handler.send_header("Content-Type", "application/pdf")
        handler.send_header("Content-Length", str(declared_length))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Connection", "close")
        handler.end_headers()
        if "trickle" in fake_file.faults:
            pause_s = 16 / float(fake_file.faults["trickle"])
            for start_byte in range(0, len(sent), 16):
                if self._stopping.wait(pause_s):
                    break
                handler.wfile.write(sent[start_byte : start_byte + 16])
                handler.wfile.flush()
            return status
        handler.wfile.write(sent)
        if abort:
            handler.abort_after(0.05)
        return status

    def _api(self, handler: _Handler, query: dict[str, list[str]]) -> int:
        def first(name: str) -> str:
            return query.get(name, [""])[0]

        if (first("action"), first("prop"), first("rvprop")) != ("query", "revisions", "content"):
            payload: dict[str, object] = {
                "error": {"code": "unsupported", "info": "the fake serves revisions only"}
            }
        else:
            titles = [title for title in first("titles").split("|") if title][:50]
            pages: dict[str, object] = {}
            normalized = []
            for number, title in enumerate(titles):
                clean = title.replace("_", " ")
                if clean != title:
                    normalized.append({"from": title, "to": clean})
                if clean in self.works:
                    page_id = 1000 + sorted(self.works).index(clean)
                    pages[str(page_id)] = {
                        "pageid": page_id,
                        "ns": 0,
                        "title": clean,
                        "revisions": [{"*": self.works[clean]}],
                    }
                else:
                    pages[str(-1 - number)] = {"ns": 0, "title": clean, "missing": ""}
            payload = {"query": {"pages": pages}}
            if normalized:
                payload["query"]["normalized"] = normalized  # type: ignore[index]
        body = json.dumps(payload).encode()
        return handler.send_body(200, body, content_type="application/json; charset=utf-8")


def work_wikitext(
    *,
    work_title: str = "Sonatina in C major",
    opus: str = "Op.36 No.1",
    key: str = "{{Key|C}}",
    year: str = "1797",
    piece_style: str = "Classical",
    instrumentation: str = "piano",
    file_names: Iterable[str] = ("Sonatina Op.36 No.1.pdf",),
) -> str:
    """Wikitext of a work page in IMSLP's ``{{#fte:imslppage ...}}`` shape."""
    file_blocks = "".join(
        "{{#fte:imslpfile\n"
        f"|File Name {number}={name}\n"
        f"|File Description {number}=Complete Score\n"
        f"|Page Count {number}=4\n"
        "|Editor={{LinkEd|Louis|Köhler}}\n"
        "|Scanner=Feldmahler\n"
        "|Publisher Information=Leipzig: C.F. Peters, n.d. Plate 7329.\n"
        "|Copyright=Public Domain\n"
        "|Misc. Notes=\n"
        "}}\n"
        for number, name in enumerate(file_names, start=1)
    )
    return (
        "{{#fte:imslppage\n"
        f"|*****FILES*****=\n{file_blocks}"
        "|*****AUDIO*****=\n"
        "|*****WORK INFO*****=\n"
        f"|Work Title={work_title}\n"
        "|Alternative Title=\n"
        f"|Opus/Catalogue Number={opus}\n"
        f"|Key={key}\n"
        "|Movements/Sections=3 movements\n"
        f"|Year/Date of Composition={year}\n"
        f"|Piece Style={piece_style}\n"
        f"|Instrumentation={instrumentation}\n"
        "}}"
    )


@pytest.fixture
def fake_imslp_factory() -> Iterator[Callable[..., FakeImslp]]:
    """Pytest fixture: call it with :class:`FakeImslp` arguments to get a running server."""
    servers: list[FakeImslp] = []

    def make(**kwargs) -> FakeImslp:
        server = FakeImslp(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


class DroppingServer:
    """A TCP server on loopback that accepts each connection and closes it unanswered (a
    reset), as an overloaded or misconfigured host might; counts the connections.

    Use as a context manager; ``base_url`` points at it.
    """

    def __init__(self) -> None:
        self.connections = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((WIKI_HOST, 0))
        self._socket.listen(16)
        self._socket.settimeout(0.05)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{WIKI_HOST}:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.close()

    def __enter__(self) -> DroppingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._socket.close()


def closed_port_url() -> str:
    """A loopback URL whose port nothing listens on (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((WIKI_HOST, 0))
        port = probe.getsockname()[1]
    return f"http://{WIKI_HOST}:{port}"
