"""Markers shared by every process: after the daily cap, or a host that cannot be reached,
nothing more is sent until they expire; each piece fails at once with its cause."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest
from fake_imslp import DroppingServer, FakeImslp, closed_port_url
from test_acquire_download import make_pdf

from visionscores.acquire.download import fetch_pdf
from visionscores.acquire.errors import AcquireError
from visionscores.acquire.host_state import HostState
from visionscores.acquire.policy import DownloadPolicy

USER_AGENT = "visionscores-tests/0.1 (+mailto:tests@example.org)"


def make_policy(base_url: str, pace_dir: Path, hosts=("127.0.0.1", "localhost"), **overrides):
    settings = {
        "user_agent": USER_AGENT,
        "base_url": base_url,
        "allowed_hosts": hosts,
        "min_interval_s": 0.1,
        "timeout_s": 5.0,
        "max_retries": 4,
        "backoff_base_s": 0.05,
        "pace_dir": pace_dir,
        "unreachable_after_failures": 3,
    }
    settings.update(overrides)
    return DownloadPolicy(**settings)


def _fetch_in_worker(indices, policy, out_dir, barrier, results):
    """Worker process: wait for its siblings, then fetch ``indices`` one after another."""
    barrier.wait(timeout=60)
    for index in indices:
        started = time.monotonic()
        try:
            fetch_pdf(f"p{index}", out_dir / f"p{index}.pdf", file_index=index, policy=policy)
            results.put((index, "ok", time.monotonic() - started))
        except AcquireError as error:
            results.put((index, error.cause, time.monotonic() - started))


def fetch_in_parallel(batches, policy, out_dir) -> dict[str, tuple[str, float]]:
    """Fetch each batch of indices in its own process, all at once: {index: (cause, s)}."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(batches))
    results = context.Queue()
    workers = [
        context.Process(target=_fetch_in_worker, args=(batch, policy, out_dir, barrier, results))
        for batch in batches
    ]
    for worker in workers:
        worker.start()
    outcomes = {}
    for _ in range(sum(len(batch) for batch in batches)):
        index, cause, seconds = results.get(timeout=120)
        outcomes[index] = (cause, seconds)
    for worker in workers:
        worker.join(timeout=30)
    return outcomes


# -- the markers themselves -------------------------------------------------------------------


def test_markers_expire_and_count_failures_in_a_row(tmp_path):
    state = HostState(
        tmp_path, cap_pause_s=100, unreachable_pause_s=10, unreachable_after_failures=3
    )
    assert state.blocking("imslp.org") is None
    assert state.connection_failed("imslp.org", "refused") is None
    state.answered("imslp.org")  # an answer breaks the row
    assert state.connection_failed("imslp.org", "refused") is None
    assert state.connection_failed("imslp.org", "refused") is None
    marker = state.connection_failed("imslp.org", "refused")
    assert marker is not None and marker.cause == "host-unreachable"
    assert state.blocking("imslp.org", now=marker.set_at + 9.9) == marker
    assert state.blocking("imslp.org", now=marker.set_at + 10.1) is None
    assert state.blocking("imslp.eu") is None  # unreachable is per host
    cap = state.set("imslp.org", "cap", "Subscribe page", now=1000.0)
    # The cap stops every host, until it expires.
    assert state.blocking("ks15.imslp.org", now=1099.0) == cap
    assert state.blocking("ks15.imslp.org", now=1100.5) is None
    assert cap.until_text == "1970-01-01 00:18 UTC"


# -- the daily cap -----------------------------------------------------------------------------


def test_nothing_is_sent_after_the_cap_page_by_any_process(tmp_path):
    indices = [f"{number:05d}" for number in range(1, 10)]
    files = {index: make_pdf(index, pages=1) for index in indices}
    cap_index = indices[1]
    with FakeImslp(files=files, faults={cap_index: ["daily_limit"]}) as server:
        policy = make_policy(server.base_url, tmp_path / "pace", cap_pause_s=3.0)
        batches = [indices[0:3], indices[3:6], indices[6:9]]
        outcomes = fetch_in_parallel(batches, policy, tmp_path / "pdf")
        requests = server.requests
        (cap_request,) = [r for r in requests if r.path.endswith(f"/{cap_index}")]
        # Zero requests start after the cap page was answered, from any of the three jobs.
        assert [r.path for r in requests if r.started >= cap_request.finished] == []
        causes = {index: cause for index, (cause, _) in outcomes.items()}
        assert causes[cap_index] == "daily-cap"
        assert set(causes.values()) <= {"ok", "daily-cap"}
        assert causes[indices[2]] == "daily-cap"  # its own job's next piece, at least
        # A later run sends nothing either while the marker is in force ...
        sent = len(server.requests)
        with pytest.raises(AcquireError) as raised:
            fetch_pdf("late", tmp_path / "late.pdf", file_index=indices[8], policy=policy)
        assert raised.value.cause == "daily-cap" and len(server.requests) == sent
        assert "until" in str(raised.value)
        # ... and downloads again once it expired.
        time.sleep(3.0)
        fetch_pdf("late", tmp_path / "late.pdf", file_index=indices[8], policy=policy)
        assert len(server.requests) == sent + 2


# -- unreachable hosts -------------------------------------------------------------------------


def test_unresolvable_name_fails_every_piece_at_once_without_retries(tmp_path, capsys):
    policy = make_policy("http://imslp.invalid", tmp_path / "pace", hosts=("imslp.invalid",))
    started = time.monotonic()
    causes = []
    for number in range(4):
        with pytest.raises(AcquireError) as raised:
            fetch_pdf(f"p{number}", tmp_path / f"p{number}.pdf", file_index="1", policy=policy)
        causes.append(raised.value.cause)
    assert causes == ["host-unreachable"] * 4
    assert time.monotonic() - started < 3.0  # no backoff: the name is never retried
    said = capsys.readouterr().err
    assert said.count("cannot be reached") == 1  # said once, by the job that found out
    assert "imslp.invalid" in said and "imslp.base_url" in said and "visionscores import" in said
    assert (tmp_path / "pace" / "imslp.invalid.unreachable").exists()


@pytest.mark.parametrize("server_kind", ["closed-port", "unresolvable"])
def test_unreachable_host_fails_parallel_jobs_fast(tmp_path, server_kind):
    if server_kind == "closed-port":
        base_url, hosts = closed_port_url(), ("127.0.0.1",)
    else:
        base_url, hosts = "http://files.imslp.invalid", ("imslp.invalid",)
    policy = make_policy(base_url, tmp_path / "pace", hosts=hosts)
    indices = [f"{number:05d}" for number in range(1, 9)]
    started = time.monotonic()
    outcomes = fetch_in_parallel([indices[:4], indices[4:]], policy, tmp_path / "pdf")
    assert {cause for cause, _ in outcomes.values()} == {"host-unreachable"}
    # Once marked, a piece fails without waiting for anything.
    assert sorted(seconds for _, seconds in outcomes.values())[-3] < 0.5
    assert time.monotonic() - started < 20


def test_server_dropping_connections_is_asked_n_times_in_all(tmp_path):
    with DroppingServer() as server:
        policy = make_policy(server.base_url, tmp_path / "pace", hosts=("127.0.0.1",))
        indices = [f"{number:05d}" for number in range(1, 7)]
        outcomes = fetch_in_parallel([indices[:3], indices[3:]], policy, tmp_path / "pdf")
        assert {cause for cause, _ in outcomes.values()} == {"host-unreachable"}
        # Three failed connections in a row across both jobs, then not one more.
        assert server.connections == 3


def test_host_that_recovers_is_used_after_the_marker_expires(tmp_path):
    policy = make_policy(closed_port_url(), tmp_path / "pace", unreachable_pause_s=1.0)
    with pytest.raises(AcquireError) as raised:
        fetch_pdf("p1", tmp_path / "p1.pdf", file_index="00001", policy=policy)
    assert raised.value.cause == "host-unreachable"
    with FakeImslp(files={"00001": make_pdf("x", pages=1)}) as server:
        # The same host, now answering (on another port, as after a restart).
        policy = make_policy(
            server.base_url, tmp_path / "pace", unreachable_pause_s=1.0, hosts=server.hosts
        )
        with pytest.raises(AcquireError) as raised:
            fetch_pdf("p1", tmp_path / "p1.pdf", file_index="00001", policy=policy)
        assert raised.value.cause == "host-unreachable" and server.requests == []
        time.sleep(1.0)
        record = fetch_pdf("p1", tmp_path / "p1.pdf", file_index="00001", policy=policy)
        assert record.pages == 1
