"""Tests of the IMSLP download client against the fake IMSLP server on loopback."""

from __future__ import annotations

import email.utils
import hashlib
import json
import multiprocessing
import pickle
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

import pymupdf
import pytest
from fake_imslp import FakeImslp, LoggedRequest, fake_imslp_factory, work_wikitext

from visionscores.acquire.download import fetch_pdf, partial_path, sidecar_path
from visionscores.acquire.errors import (
    AcquireError,
    BotCheckError,
    ChecksumMismatchError,
    CopyrightBlockedError,
    DailyLimitError,
    DisclaimerLoopError,
    FetchTimeoutError,
    HostNotAllowedError,
    HttpStatusError,
    NotFoundError,
    NotPdfError,
    RateLimitedError,
    TooLargeError,
    TooSlowError,
    TruncatedError,
)
from visionscores.acquire.http import parse_retry_after
from visionscores.acquire.policy import DownloadPolicy

__all__ = ["fake_imslp_factory"]  # the fixture is used by name below

USER_AGENT = "visionscores-tests/0.1 (+mailto:tests@example.org)"
INTERVAL_S = 0.1
INDEX = "01234"


def make_pdf(label: str = "score", pages: int = 2) -> bytes:
    """A small real PDF (a few kB, uncompressed so that halves of it are meaningful)."""
    document = pymupdf.open()
    for page_number in range(pages):
        page = document.new_page()
        for line in range(20):
            page.insert_text((72, 72 + 18 * line), f"{label} page {page_number} line {line}")
    data = document.tobytes(deflate=False)
    document.close()
    return data


def policy_for(server: FakeImslp, tmp_path: Path, **overrides) -> DownloadPolicy:
    settings = {
        "user_agent": USER_AGENT,
        "base_url": server.base_url,
        "allowed_hosts": server.hosts,
        "min_interval_s": INTERVAL_S,
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_base_s": 0.05,
        "pace_dir": tmp_path / "pace",
    }
    settings.update(overrides)
    return DownloadPolicy(**settings)


def assert_paced(requests: list[LoggedRequest], min_interval_s: float) -> None:
    """Per host: no two requests overlap, and each starts min_interval_s after the last ended."""
    by_host: dict[str, list[LoggedRequest]] = defaultdict(list)
    for entry in requests:
        by_host[entry.host].append(entry)
    for host, entries in by_host.items():
        entries.sort(key=lambda entry: entry.started)
        for previous, following in zip(entries, entries[1:], strict=False):
            gap_s = following.started - previous.finished
            # 10 % slack for the server logging its end a moment after the client saw it.
            assert gap_s >= 0.9 * min_interval_s, (host, previous.path, following.path, gap_s)


@pytest.fixture
def pdf_bytes() -> bytes:
    return make_pdf()


@pytest.fixture
def serve(fake_imslp_factory, pdf_bytes):
    """Start a fake holding one file ``INDEX`` with the given faults."""

    def start(*faults, **fault_parameters) -> FakeImslp:
        spec = dict.fromkeys(faults, True) | fault_parameters
        return fake_imslp_factory(files={INDEX: pdf_bytes}, faults={INDEX: spec})

    return start


def fetch(server: FakeImslp, tmp_path: Path, **policy_overrides):
    return fetch_pdf(
        "piece-1",
        tmp_path / "pdf" / "piece-1.pdf",
        file_index=INDEX,
        policy=policy_for(server, tmp_path, **policy_overrides),
    )


def assert_nothing_written(tmp_path: Path) -> None:
    pdf_dir = tmp_path / "pdf"
    leftovers = sorted(path.name for path in pdf_dir.iterdir()) if pdf_dir.exists() else []
    assert leftovers == []


# -- policy ----------------------------------------------------------------------------------


def test_policy_requires_a_contact_and_allows_imslp_hosts(tmp_path):
    with pytest.raises(ValueError, match="contact"):
        DownloadPolicy(user_agent="visionscores/0.1")
    policy = DownloadPolicy(user_agent=USER_AGENT, pace_dir=tmp_path)
    for host in ("imslp.org", "ks15.imslp.org", "imslp.eu", "imslp.simssa.ca"):
        assert policy.host_allowed(host)
    assert policy.host_allowed("petruccimusiclibrary.ca")
    assert not policy.host_allowed("imslp.org.example.com")
    assert not policy.host_allowed("example.org")


def test_retry_after_parses_seconds_and_http_dates():
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None


# -- successful protocol paths ---------------------------------------------------------------


def test_redirect_to_file_host_writes_pdf_and_sidecar(serve, tmp_path, pdf_bytes):
    server = serve()
    record = fetch(server, tmp_path)

    dest = tmp_path / "pdf" / "piece-1.pdf"
    assert dest.read_bytes() == pdf_bytes
    assert record.sha256 == hashlib.sha256(pdf_bytes).hexdigest()
    assert record.pages == 2
    sidecar = json.loads(sidecar_path(dest).read_text())
    assert set(sidecar) == {
        "piece_id",
        "source_url",
        "final_url",
        "file_index",
        "sha256",
        "bytes",
        "fetched_at",
        "user_agent",
    }
    assert sidecar["source_url"] == f"{server.base_url}/wiki/Special:ImagefromIndex/{INDEX}"
    assert sidecar["final_url"] == server.file_url(INDEX)
    assert sidecar["file_index"] == INDEX
    assert sidecar["bytes"] == len(pdf_bytes)
    assert sidecar["fetched_at"].endswith("Z")
    assert sidecar["user_agent"] == USER_AGENT
    # Only the two final files remain: no partial, no temporary names.
    assert sorted(path.name for path in dest.parent.iterdir()) == ["piece-1.json", "piece-1.pdf"]
    entry, file_request = server.requests
    assert entry.headers["User-Agent"] == USER_AGENT
    assert "imslpdisclaimeraccepted=yes" in entry.headers["Cookie"]
    assert file_request.host == "localhost" and entry.host == "127.0.0.1"


def test_disclaimer_page_is_accepted_once(serve, tmp_path, pdf_bytes):
    server = serve("disclaimer")
    fetch(server, tmp_path)
    entry, accept, entry_again, file_request = server.requests
    assert "ImagefromIndex" in entry.path and "ImagefromIndex" in entry_again.path
    assert "IMSLPDisclaimerAccept" in accept.path
    assert file_request.is_file
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes


def test_wait_page_with_entity_encoded_url(serve, tmp_path, pdf_bytes, capsys):
    server = serve(wait_page=2)
    record = fetch(server, tmp_path)
    assert record.final_url == server.file_url(INDEX)
    wait_page, file_request = server.requests
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes
    # The countdown the page states is honoured, and said once on the console.
    assert file_request.started - wait_page.finished >= 2.0
    said = capsys.readouterr().err
    assert said.count("asks to wait 2 s") == 1 and "piece-1" in said


def test_wait_page_countdown_is_capped(serve, tmp_path):
    server = serve(wait_page=30)
    started = time.monotonic()
    fetch(server, tmp_path, wait_page_max_s=0.5)
    assert time.monotonic() - started < 5
    wait_page, file_request = server.requests
    assert file_request.started - wait_page.finished >= 0.5


def test_redirect_chain_across_hosts_is_followed_and_paced(serve, tmp_path, pdf_bytes):
    server = serve("redirect_chain")
    fetch(server, tmp_path)
    hosts = [entry.host for entry in server.requests]
    assert hosts == ["127.0.0.1", "localhost", "127.0.0.1", "localhost", "localhost"]
    assert_paced(server.requests, INTERVAL_S)


def test_eu_mirror_continue_page_is_followed(serve, tmp_path, pdf_bytes):
    server = serve("eu_continue")
    fetch(server, tmp_path)
    assert [entry.path.split("/")[1] for entry in server.requests] == ["wiki", "eu", "files"]
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes


def test_gzip_body_is_decoded_though_not_asked_for(serve, tmp_path, pdf_bytes):
    server = serve("gzip")
    record = fetch(server, tmp_path)
    assert server.requests[-1].headers["Accept-Encoding"] == "identity"
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes
    assert record.bytes == len(pdf_bytes)


def test_plain_url_is_fetched(serve, tmp_path, pdf_bytes):
    server = serve()
    record = fetch_pdf(
        "piece-1",
        tmp_path / "piece-1.pdf",
        url=server.file_url(INDEX),
        policy=policy_for(server, tmp_path),
    )
    assert record.file_index is None and record.source_url == server.file_url(INDEX)
    assert len(server.requests) == 1


def test_expected_checksum_is_checked(serve, tmp_path, pdf_bytes):
    server = serve()
    policy = policy_for(server, tmp_path)
    dest = tmp_path / "pdf" / "piece-1.pdf"
    good = hashlib.sha256(pdf_bytes).hexdigest()
    fetch_pdf("piece-1", dest, file_index=INDEX, policy=policy, expected_sha256=good)
    dest.unlink()
    sidecar_path(dest).unlink()
    with pytest.raises(ChecksumMismatchError) as raised:
        fetch_pdf("piece-1", dest, file_index=INDEX, policy=policy, expected_sha256="0" * 64)
    assert raised.value.cause == "checksum-mismatch"
    assert_nothing_written(tmp_path)


# -- transient failures: retries, backoff, Retry-After, resumption ---------------------------


def test_429_waits_for_retry_after_seconds(serve, tmp_path):
    server = serve(rate_limit={"times": 1, "retry_after": "1"})
    fetch(server, tmp_path)
    refused, served = server.requests_to("/files/")
    assert (refused.status, served.status) == (429, 200)
    assert served.started - refused.finished >= 0.95


def test_429_waits_for_retry_after_http_date(serve, tmp_path):
    retry_at = email.utils.formatdate(time.time() + 2, usegmt=True)
    server = serve(rate_limit={"times": 1, "retry_after": retry_at})
    fetch(server, tmp_path)
    refused, served = server.requests_to("/files/")
    # The header has whole-second resolution, so the wait is between one and two seconds.
    assert served.started - refused.finished >= 0.9


def test_429_with_too_long_retry_after_stops_at_once(serve, tmp_path):
    server = serve(rate_limit={"times": 5, "retry_after": "3600"})
    with pytest.raises(RateLimitedError) as raised:
        fetch(server, tmp_path, max_retry_after_s=10)
    assert raised.value.cause == "rate-limited"
    assert len(server.requests_to("/files/")) == 1


def test_server_errors_are_retried_with_backoff(serve, tmp_path, pdf_bytes):
    server = serve(server_error=2)
    fetch(server, tmp_path, backoff_base_s=0.1)
    statuses = [entry.status for entry in server.requests_to("/files/")]
    assert statuses == [500, 500, 200]
    first, second, third = server.requests_to("/files/")
    # Backoff doubles: about 0.1 s then 0.2 s, on top of the pacing interval.
    assert second.started - first.finished >= 0.1
    assert third.started - second.finished >= 0.2
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes


def test_persistent_server_errors_give_up_without_a_retry_storm(serve, tmp_path):
    server = serve(server_error=100)
    with pytest.raises(HttpStatusError) as raised:
        fetch(server, tmp_path, max_retries=2)
    assert raised.value.cause == "http-error"
    assert len(server.requests_to("/files/")) == 3
    assert_paced(server.requests, INTERVAL_S)


def test_timeout_is_retried_then_reported(serve, tmp_path):
    server = serve(slow=1.5)
    started = time.monotonic()
    with pytest.raises(FetchTimeoutError) as raised:
        fetch(server, tmp_path, timeout_s=0.3, max_retries=1)
    assert raised.value.cause == "timeout"
    assert len(server.requests) == 2
    assert time.monotonic() - started < 1.5


def test_dropped_connection_is_resumed_with_range(serve, tmp_path, pdf_bytes):
    server = serve("drop_mid_body")
    fetch(server, tmp_path)
    first, resumed = server.requests_to("/files/")
    half = len(pdf_bytes) // 2
    assert "Range" not in first.headers
    assert resumed.headers["Range"] == f"bytes={half}-"
    assert resumed.headers["If-Range"].startswith('"')
    assert resumed.status == 206
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes
    assert not partial_path(tmp_path / "pdf" / "piece-1.pdf").exists()


def test_server_ignoring_range_restarts_the_file(serve, tmp_path, pdf_bytes):
    server = serve("drop_mid_body", "no_range")
    fetch(server, tmp_path)
    first, again = server.requests_to("/files/")
    assert "Range" in again.headers and again.status == 200
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes


def test_truncated_body_is_resumed(serve, tmp_path, pdf_bytes):
    server = serve(truncated={"times": 1, "fraction": 0.5})
    fetch(server, tmp_path)
    first, resumed = server.requests_to("/files/")
    assert resumed.headers["Range"] == f"bytes={len(pdf_bytes) // 2}-"
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes


def test_always_truncated_body_gives_up(serve, tmp_path):
    server = serve(truncated={"times": 100, "fraction": 0.1})
    with pytest.raises(TruncatedError) as raised:
        fetch(server, tmp_path, max_retries=2)
    assert raised.value.cause == "truncated"
    assert len(server.requests_to("/files/")) == 3
    # The partial is kept for a later run to resume; nothing is under the final names.
    dest = tmp_path / "pdf" / "piece-1.pdf"
    assert partial_path(dest).exists() and not dest.exists() and not sidecar_path(dest).exists()


def test_overstated_length_completes_through_416(serve, tmp_path, pdf_bytes):
    server = serve("overstated_length")
    fetch(server, tmp_path)
    statuses = [entry.status for entry in server.requests_to("/files/")]
    assert statuses == [200, 416]
    assert (tmp_path / "pdf" / "piece-1.pdf").read_bytes() == pdf_bytes


def test_partial_left_by_an_earlier_run_is_resumed(serve, tmp_path, pdf_bytes):
    server = serve()
    dest = tmp_path / "pdf" / "piece-1.pdf"
    dest.parent.mkdir(parents=True)
    partial_path(dest).write_bytes(pdf_bytes[:1000])
    fetch(server, tmp_path)
    (file_request,) = server.requests_to("/files/")
    assert file_request.headers["Range"] == "bytes=1000-"
    assert dest.read_bytes() == pdf_bytes


def test_stale_partial_of_another_file_is_discarded_and_refetched(serve, tmp_path, pdf_bytes):
    server = serve()
    dest = tmp_path / "pdf" / "piece-1.pdf"
    dest.parent.mkdir(parents=True)
    partial_path(dest).write_bytes(b"garbage from some other download" * 10)
    fetch(server, tmp_path)
    resumed, fresh = server.requests_to("/files/")
    assert "Range" in resumed.headers and "Range" not in fresh.headers
    assert dest.read_bytes() == pdf_bytes


# -- slow servers: a deadline for the whole file and a minimum rate --------------------------


def test_trickling_server_fails_below_the_minimum_rate(serve, tmp_path):
    server = serve(trickle=320)  # 320 bytes a second, with a 3 s read timeout never reached
    started = time.monotonic()
    with pytest.raises(TooSlowError) as raised:
        fetch(server, tmp_path, timeout_s=3.0, min_rate_bytes_s=1000, min_rate_window_s=1.0)
    assert raised.value.cause == "too-slow" and "bytes/s" in str(raised.value)
    assert 1.0 <= time.monotonic() - started < 2.5
    assert len(server.requests_to("/files/")) == 1  # not retried
    # What arrived is kept for a later run to resume.
    assert partial_path(tmp_path / "pdf" / "piece-1.pdf").exists()


def test_whole_download_deadline_bounds_a_steady_but_long_transfer(serve, tmp_path):
    server = serve(trickle=1600)  # fast enough for the rate, too slow for the deadline
    started = time.monotonic()
    with pytest.raises(TooSlowError) as raised:
        fetch(server, tmp_path, min_rate_bytes_s=100, max_download_s=1.0)
    assert "longer than 1 s" in str(raised.value)
    assert time.monotonic() - started < 2.0


# -- answers that are not the file: one request, a clear error, nothing written --------------


@pytest.mark.parametrize(
    ("fault", "error_class", "cause"),
    [
        ("captcha", BotCheckError, "captcha"),
        ("js_gate", BotCheckError, "js-challenge"),
        ("daily_limit", DailyLimitError, "daily-cap"),
        ("blocked", CopyrightBlockedError, "copyright-blocked"),
        ("offsite_redirect", HostNotAllowedError, "host-not-allowed"),
    ],
)
def test_refusals_stop_after_one_request(serve, tmp_path, fault, error_class, cause):
    server = serve(fault)
    with pytest.raises(error_class) as raised:
        fetch(server, tmp_path)
    error = raised.value
    assert error.cause == cause
    assert "piece-1" in str(error) and "resources/pdf/piece-1.pdf" in str(error)
    # The bot gate pages themselves are never requested, let alone answered.
    assert len(server.requests) == 1
    assert_nothing_written(tmp_path)


def test_bot_check_page_served_directly_is_recognised(serve, tmp_path):
    server = serve()
    with pytest.raises(BotCheckError) as raised:
        fetch_pdf(
            "piece-1",
            tmp_path / "pdf" / "piece-1.pdf",
            url=f"{server.base_url}/friendlytest.html",
            policy=policy_for(server, tmp_path),
        )
    assert raised.value.cause == "captcha"
    assert len(server.requests) == 1


def test_disclaimer_loop_stops(serve, tmp_path):
    server = serve("disclaimer_loop")
    with pytest.raises(DisclaimerLoopError) as raised:
        fetch(server, tmp_path)
    assert raised.value.cause == "disclaimer-loop"
    assert len(server.requests) == 3  # entry, accept, entry again
    assert_nothing_written(tmp_path)


def test_unknown_index_is_not_found(serve, tmp_path):
    server = serve()
    with pytest.raises(NotFoundError) as raised:
        fetch_pdf(
            "piece-9",
            tmp_path / "pdf" / "piece-9.pdf",
            file_index="99999",
            policy=policy_for(server, tmp_path),
        )
    assert raised.value.cause == "not-found"
    assert len(server.requests) == 1


def test_html_instead_of_pdf_is_not_retried(serve, tmp_path):
    server = serve("html_instead")
    with pytest.raises(NotPdfError) as raised:
        fetch(server, tmp_path)
    assert raised.value.cause == "not-pdf"
    assert len(server.requests_to("/files/")) == 1
    assert_nothing_written(tmp_path)


def test_file_above_size_limit_is_refused(serve, tmp_path, pdf_bytes):
    server = serve()
    with pytest.raises(TooLargeError) as raised:
        fetch(server, tmp_path, max_bytes=len(pdf_bytes) - 1)
    assert raised.value.cause == "too-large"
    assert_nothing_written(tmp_path)


def test_errors_survive_pickling_for_worker_processes():
    error = DailyLimitError("piece-1", "daily-cap", "piece-1: limit reached", "http://x")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, AcquireError)
    assert (copy.piece_id, copy.cause, str(copy), copy.url) == (
        "piece-1",
        "daily-cap",
        "piece-1: limit reached",
        "http://x",
    )


# -- pacing ----------------------------------------------------------------------------------


def test_requests_to_one_host_are_paced(fake_imslp_factory, tmp_path):
    indices = ["00001", "00002", "00003"]
    server = fake_imslp_factory(files={index: make_pdf(index, pages=1) for index in indices})
    policy = policy_for(server, tmp_path, min_interval_s=0.2)
    for index in indices:
        fetch_pdf(f"p{index}", tmp_path / f"p{index}.pdf", file_index=index, policy=policy)
    assert len(server.requests) == 6
    assert_paced(server.requests, 0.2)


def _fetch_in_worker(indices, policy, out_dir, barrier, results):
    """Worker process: wait for the sibling, then fetch ``indices`` one after another."""
    barrier.wait(timeout=30)
    for index in indices:
        try:
            fetch_pdf(f"p{index}", out_dir / f"p{index}.pdf", file_index=index, policy=policy)
            results.put((index, "ok"))
        except AcquireError as error:
            results.put((index, error.cause))


def test_two_processes_share_the_pacing_of_one_host(fake_imslp_factory, tmp_path):
    indices = ["00011", "00012", "00013", "00014"]
    server = fake_imslp_factory(files={index: make_pdf(index, pages=1) for index in indices})
    interval_s = 0.15
    policy = policy_for(server, tmp_path, min_interval_s=interval_s)
    # Spawned workers get this process's sys.path, so they import the same code.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(target=_fetch_in_worker, args=(batch, policy, tmp_path, barrier, results))
        for batch in (indices[:2], indices[2:])
    ]
    for worker in workers:
        worker.start()
    outcomes = dict(results.get(timeout=60) for _ in indices)
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes == dict.fromkeys(indices, "ok")
    assert len(server.requests) == 8
    assert_paced(server.requests, interval_s)
    # The workers really ran at the same time: their spans of requests overlap.
    spans = []
    for batch in (indices[:2], indices[2:]):
        mine = [entry for entry in server.requests if any(i in entry.path for i in batch)]
        spans.append((min(e.started for e in mine), max(e.finished for e in mine)))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]


# -- the fake server itself ------------------------------------------------------------------


def test_fake_shows_disclaimer_without_cookie_and_serves_wikitext():
    title = "Sonatina in C major, Op.36 No.1 (Clementi, Muzio)"
    with FakeImslp(files={INDEX: make_pdf()}, works={title: work_wikitext()}) as server:
        with urllib.request.urlopen(
            f"{server.base_url}/wiki/Special:ImagefromIndex/{INDEX}", timeout=5
        ) as response:
            page = response.read().decode()
        assert "Disclaimer - IMSLP" in page
        assert f"/wiki/Special:IMSLPDisclaimerAccept/{INDEX}" in page
        query = urllib.parse.urlencode(
            {
                "action": "query",
                "prop": "revisions",
                "rvprop": "content",
                "titles": f"{title}|Missing work",
                "format": "json",
            }
        )
        with urllib.request.urlopen(f"{server.base_url}/api.php?{query}", timeout=5) as response:
            pages = json.load(response)["query"]["pages"]
    by_title = {page["title"]: page for page in pages.values()}
    wikitext = by_title[title]["revisions"][0]["*"]
    assert wikitext.startswith("{{#fte:imslppage")
    assert "|Key={{Key|C}}" in wikitext and "*****WORK INFO*****" in wikitext
    assert "missing" in by_title["Missing work"]


def test_fetch_text_reads_the_api_politely_and_refuses_other_hosts(tmp_path):
    from fake_imslp import work_wikitext

    from visionscores.acquire.http import fetch_text

    works = {"Sonatina (Clementi, Muzio)": work_wikitext()}
    with FakeImslp(files={}, works=works) as server:
        policy = policy_for(server, tmp_path)
        url = f"{server.base_url}/api.php?action=query&prop=revisions&rvprop=content"
        text = fetch_text(f"{url}&titles=Sonatina%20(Clementi,%20Muzio)&format=json", policy)
        assert "Op.36 No.1" in text
        (request,) = server.requests
        assert request.headers["User-Agent"] == policy.user_agent
        with pytest.raises(HostNotAllowedError):
            fetch_text("http://example.org/api.php", policy)
    assert len(server.requests) == 1  # the refused host was never asked


def test_policy_defaults_are_the_config_defaults():
    import yaml
    from repo_paths import REPO

    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    imslp, acquire = config["imslp"], config["acquire"]
    policy = DownloadPolicy(user_agent=USER_AGENT)
    same_names = ["base_url", "min_interval_s", "timeout_s", "max_retries", "backoff_base_s",
                  "wait_page_default_s", "wait_page_max_s"]  # fmt: skip
    assert {name: getattr(policy, name) for name in same_names} == {
        name: imslp[name] for name in same_names
    }
    assert policy.max_bytes == acquire["max_download_bytes"]
    assert set(policy.allowed_hosts) == set(acquire["allowed_hosts"])
    for name in ("max_download_s", "min_rate_bytes_s", "min_rate_window_s",
                 "unreachable_after_failures"):  # fmt: skip
        assert getattr(policy, name) == acquire[name]
    assert policy.cap_pause_s == acquire["cap_pause_h"] * 3600
    assert policy.unreachable_pause_s == acquire["unreachable_pause_min"] * 60
