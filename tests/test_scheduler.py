"""The scheduler with a clock the test moves: overlap, failure, busy lock, SIGTERM, intervals."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading
import time

import pytest
from sheets_sync.server.scheduler import SyncScheduler, install_stop_signals, parse_every

from sheets_sync.errors import ConfigError, OkrSyncError, SyncBusy

T0 = dt.datetime(2026, 11, 2, 9, 0, 0)


class FakeClock:
    """A clock that only moves when told to (or when the scheduler sleeps)."""

    def __init__(self) -> None:
        self.t = T0
        self.sleeps: list[float] = []

    def now(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.001))


def minutes(clock: FakeClock) -> float:
    return (clock.now() - T0).total_seconds() / 60


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), (" 2H ", 7200), ("1d", 86400)],
)
def test_parse_every(text: str, seconds: int) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "m", "-5m", "1.5h", "30 minutes", "0s", "5w"])
def test_parse_every_rejects_nonsense_with_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="every"):
        parse_every(text)


def test_runs_at_start_then_every_interval() -> None:
    clock = FakeClock()
    starts: list[float] = []
    sched = SyncScheduler(lambda: starts.append(minutes(clock)), 30 * 60, clock)
    sched.run(until=T0 + dt.timedelta(hours=2))
    assert starts == [0, 30, 60, 90]


def test_a_run_longer_than_the_interval_is_never_started_twice() -> None:
    clock = FakeClock()
    active, most_active, spans = 0, 0, []

    def slow_sync() -> None:
        nonlocal active, most_active
        active += 1
        most_active = max(most_active, active)
        start = minutes(clock)
        clock.advance(45 * 60)  # takes 45 minutes against a 30-minute interval
        spans.append((start, minutes(clock)))
        active -= 1

    sched = SyncScheduler(slow_sync, 30 * 60, clock)
    sched.run(until=T0 + dt.timedelta(hours=4))
    assert most_active == 1
    # Each run starts a full interval after the previous one finished: 0, 75, 150, 225.
    assert [s for s, _ in spans] == [0, 75, 150, 225]
    assert all(nxt[0] - prev[1] >= 30 for prev, nxt in zip(spans, spans[1:], strict=False))


def test_a_failing_run_is_logged_with_its_reason_and_the_next_still_happens(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    calls: list[float] = []

    def flaky() -> None:
        calls.append(minutes(clock))
        if len(calls) == 1:
            raise OkrSyncError("mkt.xlsx › OKRs: the file is open in Excel — close it")
        if len(calls) == 2:
            raise KeyError("a bug")

    caplog.set_level(logging.INFO, logger="okr_sync.scheduler")
    sched = SyncScheduler(flaky, 600, clock)
    sched.run(until=T0 + dt.timedelta(minutes=25))
    assert calls == [0, 10, 20]
    assert sched.failures == 2 and sched.runs == 3
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "scheduled sync failed: mkt.xlsx › OKRs: the file is open in Excel — close it" in messages
    assert any("KeyError" in m and "a bug" in m for m in messages)


def test_a_busy_lock_skips_one_run_without_counting_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    calls = []

    def busy_once() -> None:
        calls.append(minutes(clock))
        if len(calls) == 1:
            raise SyncBusy("a sync is already running (started 09:00 by api)")

    caplog.set_level(logging.WARNING, logger="okr_sync.scheduler")
    sched = SyncScheduler(busy_once, 60, clock)
    sched.run(until=T0 + dt.timedelta(minutes=1, seconds=30))
    assert calls == [0, 1] and sched.failures == 0
    assert "scheduled sync skipped" in caplog.text


def test_sigterm_stops_after_the_current_run_finishes() -> None:
    events: list[str] = []

    def sync_that_gets_terminated() -> None:
        events.append("start")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the signal arrives mid-run; the run must still complete
        events.append("finish")

    sched = SyncScheduler(sync_that_gets_terminated, 1)
    previous = install_stop_signals(sched)
    try:
        started = time.monotonic()
        sched.run()
        elapsed = time.monotonic() - started
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    assert events == ["start", "finish"]
    assert elapsed < 1.0  # no second run one second later


def test_stop_from_another_thread_wakes_a_sleeping_scheduler() -> None:
    sched = SyncScheduler(lambda: None, 3600)
    thread = threading.Thread(target=sched.run)
    thread.start()
    time.sleep(0.1)
    assert sched.runs == 1 and thread.is_alive()
    sched.stop()
    thread.join(2)
    assert not thread.is_alive()
