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


class _ClockedJob(schedule.Job):
    """A job whose 'now' comes from our clock, not from datetime.now(); subclasses say when it runs next."""

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
        return ret


class _ClockJob(_ClockedJob):
    """An interval job (the sync)."""

    def run(self) -> Any:
        ret = super().run()
        # Logged once the next time is known (logging it from inside the job showed the past one).
        log.info("next scheduled sync at %s", self.next_run.isoformat(sep=" ", timespec="seconds"))
        return ret

    def _schedule_next_run(self) -> None:
        # Counted from the end of the run, so a run longer than the interval is never doubled up.
        self.period = dt.timedelta(seconds=self.interval)
        self.next_run = self.clock.now() + self.period


class _WeeklyClockJob(_ClockedJob):
    """A weekly job at a day and time ("monday 09:00"), on the schedule library's own weekday and time rules."""

    def __init__(self, scheduler: schedule.Scheduler, clock: Clock) -> None:
        super().__init__(1, scheduler, clock)

    def _schedule_next_run(self) -> None:
        now = self.clock.now()
        moment = schedule._move_to_next_weekday(now, self.start_day or "monday")
        moment = self._move_to_at_time(moment)
        while moment <= now:
            moment += dt.timedelta(weeks=1)
        self.next_run = moment


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_weekly(text: str, what: str = "remind") -> tuple[str, str]:
    """'monday 09:00' -> ('monday', '09:00'); anything else is a ConfigError naming the setting."""
    parts = str(text).strip().lower().split()
    if len(parts) != 2 or parts[0] not in _WEEKDAYS or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", parts[1]):
        raise ConfigError(f'[notify] {what} = {text!r} is not a weekly time — write it like "monday 09:00"')
    return parts[0], parts[1]


class SyncScheduler:
    """Run `job` every `every_seconds` (and weekly jobs at their times): one at a time, failures logged, stop
    after the current run."""

    # How often the loop wakes at least, so a stop request is never long ignored.
    wake_every = 5.0

    def __init__(
        self,
        job: Callable[[], object],
        every_seconds: int | None,
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
        self._entry: _ClockJob | None = None
        if every_seconds is not None:
            self._entry = _ClockJob(every_seconds, self._scheduler, self.clock)
            self._entry.unit = "seconds"
            self._entry.do(self._guarded, self._job, "sync")
            if run_at_start:
                self._entry.next_run = self.clock.now()

    def add_weekly(self, when: str, job: Callable[[], object], name: str) -> dt.datetime:
        """Run `job` every week at `when` ("friday 16:00"); returns its first time."""
        day, at = parse_weekly(when, name)
        entry = _WeeklyClockJob(self._scheduler, self.clock)
        entry.start_day = day
        entry.unit = "weeks"
        entry.at(at)
        entry.do(self._guarded, job, name)
        assert entry.next_run is not None
        log.info("scheduled %s every %s; first at %s", name, when, entry.next_run.isoformat(sep=" "))
        return entry.next_run

    @property
    def next_run(self) -> dt.datetime | None:
        """When the next sync is due."""
        return self._entry.next_run if self._entry is not None else None

    def _guarded(self, job: Callable[[], object] | None = None, name: str = "sync") -> None:
        self.running = True
        self.runs += 1
        try:
            (job or self._job)()
        except SyncBusy as exc:
            log.warning("scheduled %s skipped: %s", name, exc)
        except OkrSyncError as exc:
            self.failures += 1
            log.error("scheduled %s failed: %s", name, exc)
        except Exception as exc:  # a bug in one run must not end the schedule
            self.failures += 1
            log.exception("scheduled %s failed: %s: %s", name, type(exc).__name__, exc)
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
            due = min((j.next_run for j in self._scheduler.jobs if j.next_run), default=self.clock.now())
            wait = (due - self.clock.now()).total_seconds()
            if until is not None:
                wait = min(wait, (until - self.clock.now()).total_seconds())
            # Wake at least every few seconds so a stop request is never long ignored.
            self.clock.sleep(min(max(wait, 0.0), self.wake_every), self.stop_event)


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
        _retry_messages(workspace)
        return None

    return job


def _retry_messages(workspace: Any) -> None:
    """Messages that failed earlier are tried again after each sync; a failure here never fails the sync."""
    from sheets_sync.operations import notify

    try:
        result = notify.deliver(workspace)
    except OkrSyncError as exc:
        log.warning("undelivered messages not retried: %s", exc)
        return
    if result.sent or result.failed:
        log.info("retried messages: %d delivered, %d still failing", result.sent, len(result.failed))


def notify_job(config_path: str | Path, kind: str, clock: Clock | None = None) -> Callable[[], object]:
    """The weekly reminder or digest job: reads the workspace afresh; the day is the clock's."""

    def job() -> object:
        from sheets_sync.operations import notify
        from sheets_sync.workspace import Workspace

        workspace = Workspace.from_path(config_path)
        day = (clock or SystemClock()).now().date()
        result = notify.remind(workspace, day) if kind == "remind" else notify.digest(workspace, day)
        log.info("scheduled %s %s: %d new, %d delivered, %d failed (retried later)", kind, result.period,
                 result.queued, result.sent, len(result.failed))
        return None

    return job


def add_notify_jobs(scheduler: SyncScheduler, config_path: str | Path) -> list[str]:
    """The [notify] remind and digest times of the config, as weekly jobs; returns which were added."""
    from sheets_sync.notify.channels import NotifyConfig
    from sheets_sync.workspace import Workspace

    workspace = Workspace.from_path(config_path)
    config = NotifyConfig.read(workspace.config, str(workspace.config_path or config_path))
    added = []
    for kind, when in (("remind", config.remind), ("digest", config.digest)):
        if when:
            scheduler.add_weekly(str(when), notify_job(config_path, kind, scheduler.clock), kind)
            added.append(kind)
    return added


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


def run_forever(config_path: str | Path, every: str | None) -> None:
    """`okr-sync schedule --every 30m okr-sync.toml`: sync now, then every interval (and remind and digest at
    their [notify] times), until SIGTERM."""
    seconds = parse_every(every) if every else None
    ensure_logging()
    from sheets_sync.workspace import Workspace

    Workspace.from_path(config_path)  # a bad config fails here, before the loop starts
    scheduler = SyncScheduler(sync_job(config_path), seconds)
    if not add_notify_jobs(scheduler, config_path) and seconds is None:
        raise ConfigError("nothing to schedule: give --every 30m, or set [notify] remind = \"monday 09:00\" "
                          "or digest = \"friday 16:00\" in the config")
    previous = install_stop_signals(scheduler)
    if every:
        log.info("syncing %s every %s", config_path, every)
    try:
        scheduler.run()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def start_background(config_path: str | Path, every: str | None,
                     cycle: str | None = None) -> tuple[SyncScheduler, threading.Thread]:
    """The same schedule in a daemon thread (for `serve --every`, and the [notify] times); stop() then join()."""
    scheduler = SyncScheduler(sync_job(config_path, cycle=cycle), parse_every(every) if every else None)
    add_notify_jobs(scheduler, config_path)
    thread = threading.Thread(target=scheduler.run, name="okr-sync-scheduler", daemon=True)
    thread.start()
    return scheduler, thread
