"""Scheduled sync on the `schedule` package: never overlapping, surviving failures, stopping cleanly."""

from __future__ import annotations

import datetime as dt
import logging
import re
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import schedule

from sheets_sync.errors import ConfigError, OkrSyncError, SyncBusy

log = logging.getLogger("okr_sync.scheduler")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"(\d+)\s*([smhd])")


def parse_every(every: str) -> int:
    """'90s', '30m', '1h', '1h30m', '1d' -> seconds; anything else is a ConfigError."""
    text = str(every).strip().lower()
    if not text or not re.fullmatch(r"(\s*\d+\s*[smhd])+\s*", text):
        raise ConfigError(f"--every {every!r} is not an interval — write it like 90s, 30m, 1h or 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _EVERY.findall(text))
    if seconds < 1:
        raise ConfigError(f"--every {every!r} is zero — give an interval of at least 1s")
    return seconds


class Clock(Protocol):
    """Time as the scheduler sees it; tests pass one they can move by hand."""

    def now(self) -> dt.datetime: ...

    def sleep(self, seconds: float, stop: threading.Event) -> None: ...


class SystemClock:
    """The wall clock; sleeping wakes early when asked to stop."""

    def now(self) -> dt.datetime:
        return dt.datetime.now()

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(max(0.0, seconds))


class _ClockJob(schedule.Job):
    """An interval job whose 'now' comes from our clock, not from datetime.now()."""

    def __init__(self, interval: int, scheduler: schedule.Scheduler, clock: Clock) -> None:
        super().__init__(interval, scheduler)
        self.clock = clock

    @property
    def should_run(self) -> bool:
        assert self.next_run is not None
        return self.clock.now() >= self.next_run

    def run(self) -> Any:
        ret = self.job_func()  # type: ignore[misc]
        self.last_run = self.clock.now()
        self._schedule_next_run()
        # Logged once the next time is known (logging it from inside the job showed the past one).
        log.info("next scheduled sync at %s", self.next_run.isoformat(sep=" ", timespec="seconds"))
        return ret

    def _schedule_next_run(self) -> None:
        # Counted from the end of the run, so a run longer than the interval is never doubled up.
        self.period = dt.timedelta(seconds=self.interval)
        self.next_run = self.clock.now() + self.period


class SyncScheduler:
    """Run `job` every `every_seconds`: one at a time, failures logged, stop after the current run."""

    def __init__(
        self,
        job: Callable[[], object],
        every_seconds: int,
        clock: Clock | None = None,
        *,
        run_at_start: bool = True,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.stop_event = threading.Event()
        self.runs = 0
        self.failures = 0
        self.running = False
        self._job = job
        self._scheduler = schedule.Scheduler()
        self._entry = _ClockJob(every_seconds, self._scheduler, self.clock)
        self._entry.unit = "seconds"
        self._entry.do(self._guarded)
        if run_at_start:
            self._entry.next_run = self.clock.now()

    @property
    def next_run(self) -> dt.datetime | None:
        """When the next run is due."""
        return self._entry.next_run

    def _guarded(self) -> None:
        self.running = True
        self.runs += 1
        try:
            self._job()
        except SyncBusy as exc:
            log.warning("scheduled sync skipped: %s", exc)
        except OkrSyncError as exc:
            self.failures += 1
            log.error("scheduled sync failed: %s", exc)
        except Exception as exc:  # a bug in one run must not end the schedule
            self.failures += 1
            log.exception("scheduled sync failed: %s: %s", type(exc).__name__, exc)
        finally:
            self.running = False

    def stop(self) -> None:
        """Ask the loop to end; a run in progress finishes first."""
        self.stop_event.set()

    def run(self, until: dt.datetime | None = None) -> None:
        """Loop until stopped (or until the clock reaches `until`, for tests)."""
        while not self.stop_event.is_set():
            if until is not None and self.clock.now() >= until:
                return
            self._scheduler.run_pending()
            if self.stop_event.is_set():
                return
            due = self._entry.next_run or self.clock.now()
            wait = (due - self.clock.now()).total_seconds()
            if until is not None:
                wait = min(wait, (until - self.clock.now()).total_seconds())
            # Wake at least every few seconds so a stop request is never long ignored.
            self.clock.sleep(min(max(wait, 0.0), 5.0), self.stop_event)


def sync_job(config_path: str | Path, trigger: str = "schedule", cycle: str | None = None) -> Callable[[], object]:
    """A job that loads the workspace afresh (new workbooks count) and runs one recorded sync (of `cycle`, else of
    the cycle whose dates hold the day)."""

    def job() -> object:
        import json

        from sheets_sync import operations
        from sheets_sync.errors import OkrSyncError
        from sheets_sync.workspace import Workspace

        workspace = Workspace.from_path(config_path, cycle=cycle)
        report = operations.sync(workspace, trigger=trigger)
        if report.rollup_error:
            # Counted as a failed run, like any other: the next one still happens.
            raise OkrSyncError(
                f"run {report.run_id}: the units were synced but the rollup was not: {report.rollup_error}")
        body = report.to_json(with_changes=False)
        summary = {k: body[k] for k in ("kind", "run_id", "status", *operations.SUMMARY_FIELDS)}
        log.info("scheduled sync %s done: %d units, %d cells written, %d errors", report.run_id, len(report.units),
                 report.cells_written, report.error_count)
        log.info("report: %s", json.dumps(summary, ensure_ascii=False))
        return None

    return job


def install_stop_signals(scheduler: SyncScheduler) -> dict[int, Any]:
    """SIGTERM and SIGINT stop the loop after the current run; returns the previous handlers."""

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping after the current run", signal.Signals(signum).name)
        scheduler.stop()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    return previous


def ensure_logging() -> None:
    """Log to stderr with times when nobody configured logging (the CLI does not)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_forever(config_path: str | Path, every: str) -> None:
    """`okr-sync schedule --every 30m okr-sync.toml`: sync now, then every interval, until SIGTERM."""
    seconds = parse_every(every)
    ensure_logging()
    from sheets_sync.workspace import Workspace

    Workspace.from_path(config_path)  # a bad config fails here, before the loop starts
    scheduler = SyncScheduler(sync_job(config_path), seconds)
    previous = install_stop_signals(scheduler)
    log.info("syncing %s every %s", config_path, every)
    try:
        scheduler.run()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def start_background(config_path: str | Path, every: str,
                     cycle: str | None = None) -> tuple[SyncScheduler, threading.Thread]:
    """The same schedule in a daemon thread (for `serve --every`); stop() then join() to end it."""
    scheduler = SyncScheduler(sync_job(config_path, cycle=cycle), parse_every(every))
    thread = threading.Thread(target=scheduler.run, name="okr-sync-scheduler", daemon=True)
    thread.start()
    return scheduler, thread
