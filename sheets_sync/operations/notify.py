"""Reminders to owners and the leaders' digest: gathered from the run log, queued once per person and period in
the outbox, delivered over SMTP and chat webhooks; a failure is kept and retried, never failing anything else."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core import parse, schema
from ..core.people import People, Person
from ..errors import ConfigError, OkrSyncError
from ..notify import compose
from ..notify.channels import DeliveryError, Mail, NotifyConfig, Webhook, post_webhook, send_mail
from ..notify.png import score_chart
from ..runlog import store, weekly
from ..runlog.weekly import KrState, Message

if TYPE_CHECKING:
    from ..workspace import Workspace

log = logging.getLogger("okr_sync.notify")


@dataclass
class NotifyResult:
    """What remind or digest did: the messages (printed on a dry run), and how delivery went."""

    kind: str
    period: str
    messages: list[Message] = field(default_factory=list)
    queued: int = 0
    already_sent: int = 0
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "period": self.period, "dry_run": self.dry_run, "queued": self.queued,
            "already_sent": self.already_sent, "sent": self.sent, "failed": self.failed,
            "unreachable": self.unreachable,
            "messages": [{"recipient": m.recipient, "channel": m.channel, "subject": m.subject,
                          "text": m.payload.get("text") or "\n".join(m.payload.get("lines", []))}
                         for m in self.messages],
        }


def config_of(workspace: Workspace) -> NotifyConfig:
    return NotifyConfig.read(workspace.config, str(workspace.config_path or "okr-sync.toml"))


def load_people(workspace: Workspace) -> People | None:
    """The people list: the config's people workbook, or the People sheet of the company's workbook."""
    if workspace.config.get("people"):
        return workspace.people()
    units = []
    for backend in workspace.backends:
        try:
            locators = backend.list_units()
        except OkrSyncError:
            continue
        for locator in locators:
            try:
                raw = backend.read(locator)
            except OkrSyncError:
                continue
            if schema.match_sheet(list(raw.sheets), schema.SHEET_PEOPLE):
                units.append(parse.read_unit(raw))
    return workspace.people(units)


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def workbook_link(workspace: Workspace, state: KrState) -> str:
    """Where to update a KR: the Google spreadsheet's URL, or the workbook's path."""
    path = state.path or state.source or ""
    if path and "/" not in path and not path.lower().endswith((".xlsx", ".xlsm")):
        return f"https://docs.google.com/spreadsheets/d/{path}/edit"
    return str((workspace.home / path).resolve()) if path else ""


def _states(workspace: Workspace, day: dt.date) -> list[KrState]:
    """The key results whose cycle runs on the day (past and future cycles are nobody's concern this week)."""
    home = workspace.state_home
    if not store.exists(home) or not (states := weekly.kr_states(home)):
        raise ConfigError("nothing has been synced yet: run `okr-sync sync` first, so the key results, their "
                          "owners and check-ins are on record")
    return [s for s in states if s.current_on(day.isoformat())]


def _last(state: KrState) -> dt.date:
    return dt.date.fromisoformat(state.last_checkin or state.first_seen)


def stale(states: list[KrState], as_of: dt.date, days: int) -> list[KrState]:
    """KRs not yet done with no check-in for `days` days (counted from when the service first saw them)."""
    return [s for s in states if s.status != "done" and (as_of - _last(s)).days >= days]


def final_week(state: KrState, as_of: dt.date) -> bool:
    """The cycle ends within the next seven days (the week to ask for final grades)."""
    if not state.cycle_end:
        return False
    return 0 <= (dt.date.fromisoformat(state.cycle_end) - as_of).days < 7


def _mail_message(kind: str, period: str, to: str, mail: Mail) -> Message:
    payload = {"to": to, "subject": mail.subject, "text": mail.text, "html": mail.html,
               "chart": base64.b64encode(mail.chart).decode() if mail.chart else None}
    return Message(kind, period, to, "email", mail.subject, payload)


def _hook_message(kind: str, period: str, hook: Webhook, title: str, lines: list[str], link: str | None = None,
                  recipient: str | None = None) -> Message:
    digest = hashlib.sha256(hook.url.encode()).hexdigest()[:10]
    payload = {"url": hook.url, "kind": hook.kind, "title": title, "lines": lines, "link": link}
    return Message(kind, period, recipient or f"{hook.kind} webhook {digest}", hook.kind, title, payload)


def remind(workspace: Workspace, as_of: dt.date | None = None, *, dry_run: bool = False) -> NotifyResult:
    """One message per owner listing only their own stale KRs (or, in a cycle's last week, all of theirs for
    final grades); each in the owner's language; never twice for the same person and week."""
    day = as_of or dt.date.today()
    config = config_of(workspace)
    people = load_people(workspace)
    states = _states(workspace, day)
    period = week_of(day)
    result = NotifyResult("remind", period, dry_run=dry_run)
    by_owner: dict[str, tuple[Person, list[KrState], bool]] = {}
    due = {id(s) for s in stale(states, day, config.stale_days)}
    for state in states:
        final = final_week(state, day)
        if not final and id(state) not in due:
            continue
        person = people.find(state.owner) if people else None
        if person is None:
            if not state.owner:
                result.unreachable.append(f"{state.global_id}: no Owner")
            elif people is None:
                result.unreachable.append(f"{state.global_id}: owner '{state.owner}' — there is no people list; add "
                                          "a People sheet to the company's workbook or people = \"people.xlsx\"")
            else:
                result.unreachable.append(f"{state.global_id}: owner '{state.owner}' is not on the people list "
                                          f"({people.where})")
            continue
        key = (person.email or person.name).casefold()
        _, krs, was_final = by_owner.setdefault(key, (person, [], final))
        krs.append(state)
        by_owner[key] = (person, krs, was_final or final)
    for person, krs, final in by_owner.values():
        lang = person.language if person.language else (krs[0].language or "en")
        mail = compose.reminder(person.name, lang, [(s, workbook_link(workspace, s)) for s in krs],
                                config.stale_days, final)
        kind = "final" if final else "remind"
        if person.email:
            result.messages.append(_mail_message(kind, period, person.email, mail))
        if person.chat and person.chat.startswith(("https://", "http://")):
            hook = Webhook(person.chat, "teams" if "office" in person.chat or "teams" in person.chat else "slack")
            lines = [line[2:] for line in mail.text.splitlines() if line.startswith("- ")]
            result.messages.append(_hook_message(kind, period, hook, mail.subject, lines, recipient=person.name))
        if not person.email and not person.chat:
            result.unreachable.append(f"{person.name}: no Email on the people list")
    return _dispatch(workspace, config, result)


def _score_at(points: list[tuple[str, float | None]], day: str) -> float | None:
    before = [score for when, score in points if when <= day]
    return before[-1] if before else None


def gather_digest(workspace: Workspace, day: dt.date, since_days: int) -> compose.DigestData:
    """The digest's facts from the run log: scores then and now, status changes, blockers, gaps, comments."""
    config = config_of(workspace)
    home = workspace.state_home
    states = _states(workspace, day)
    start = (day - dt.timedelta(days=since_days)).isoformat()
    trends = store.unit_trends(home, limit=60)
    latest = store.latest_report_run(home)
    report = store.get_report(home, latest.id) if latest else None
    report = report or {}
    company = next((u.get("unit") for u in report.get("units", []) if u.get("level") == "company"), None)
    units = []
    for code, points in sorted(trends.items()):
        now, then = _score_at(points, day.isoformat()), _score_at(points, start)
        units.append((code, now, None if now is None or then is None else round(now - then, 2)))
    company_row = next((u for u in units if u[0] == company), None)
    before = weekly.statuses_before(home, start)
    off_track = [f"{s.global_id} {s.text or ''} ({s.owner or '—'})" for s in states if s.status == "off track"
                 and before.get((s.unit_code.upper(), s.kr_id.upper(), s.cycle)) != "off track"]
    findings = report.get("findings", [])
    # New blockers: dependency warnings the last sync before the span did not have.
    earlier = next((r for r in store.list_runs(home, limit=500)
                    if r.kind == "sync" and r.as_of and r.as_of < start and r.status != "running"), None)
    before_span = (store.get_report(home, earlier.id) or {}).get("findings", []) if earlier else []

    def blocker(f: dict[str, Any]) -> tuple[Any, ...] | None:
        return (f.get("unit"), f.get("id"), f.get("message")) if f.get("rule") == "dependency-off-track" else None

    known = {blocker(f) for f in before_span}
    blockers = [f"{f.get('unit')}/{f.get('id')}: {f.get('message')}" for f in findings
                if blocker(f) is not None and blocker(f) not in known]
    errors = [f"{f.get('where')}: {f.get('message')}" for f in findings if f.get("severity") == "error"]
    missing = [f"{s.global_id} ({s.owner or '—'}), last {s.last_checkin or 'never'}"
               for s in stale(states, day, config.stale_days)]
    comments = [f"{c.unit_code}/{c.kr_id} — {c.who or '?'}: {c.comment}"
                for c in reversed(weekly.checkins(home, since=start)) if c.comment and c.as_of <= day.isoformat()]
    series = {code: [score for _, score in points][-12:] for code, points in sorted(trends.items())}
    chart = score_chart(series) if series else None
    return compose.DigestData(start, day.isoformat(), company_row[1] if company_row else None,
                              company_row[2] if company_row else None, units, off_track, blockers, missing,
                              errors, comments, chart, list(series))


def parse_since(text: str) -> int:
    """'7d', '2w', '14' -> days."""
    value = text.strip().lower()
    try:
        if value.endswith("w"):
            return int(value[:-1]) * 7
        return int(value[:-1] if value.endswith("d") else value)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a span of days; write it like 7d or 2w") from None


def digest(workspace: Workspace, as_of: dt.date | None = None, *, since: str = "7d", to: list[str] | None = None,
           dry_run: bool = False) -> NotifyResult:
    """The leaders' digest to each address (--to, else [notify] digest_to) and every chat webhook."""
    day = as_of or dt.date.today()
    config = config_of(workspace)
    data = gather_digest(workspace, day, parse_since(since))
    period = week_of(day)
    result = NotifyResult("digest", period, dry_run=dry_run)
    people = load_people(workspace)
    recipients = list(to or config.digest_to)
    if not recipients and not config.webhooks:
        raise ConfigError("the digest has no recipients: give --to EMAIL, or set [notify] digest_to = [\"…\"] or "
                          "[[notify.webhooks]] in okr-sync.toml")
    for address in recipients:
        person = people.find(address) if people else None
        lang = person.language if person else "en"
        mail = compose.digest(data, lang)
        result.messages.append(_mail_message("digest", period, person.email or address if person else address, mail))
    for hook in config.webhooks:
        mail = compose.digest(data, "en")
        result.messages.append(_hook_message("digest", period, hook, mail.subject, compose.chat_lines(data, "en"),
                                             config.dashboard_url))
    return _dispatch(workspace, config, result)


def _dispatch(workspace: Workspace, config: NotifyConfig, result: NotifyResult) -> NotifyResult:
    if result.dry_run:
        return result
    home = workspace.state_home
    for message in result.messages:
        if weekly.queue(home, message):
            result.queued += 1
        else:
            result.already_sent += 1
    delivered = deliver(workspace, config)
    result.sent, result.failed = delivered.sent, delivered.failed
    return result


def deliver(workspace: Workspace, config: NotifyConfig | None = None) -> NotifyResult:
    """Send what the outbox holds (new messages and failed ones again); each outcome is recorded."""
    config = config or config_of(workspace)
    home = workspace.state_home
    result = NotifyResult("deliver", "")
    if not store.exists(home):
        return result
    for message in weekly.unsent(home):
        try:
            _send(config, message)
        except DeliveryError as exc:
            weekly.mark(home, message, str(exc))
            result.failed.append(f"{message.kind} to {message.recipient}: {exc}")
            log.warning("%s to %s not delivered (retried later): %s", message.kind, message.recipient, exc)
        else:
            weekly.mark(home, message, None)
            result.sent += 1
    return result


def _send(config: NotifyConfig, message: Message) -> None:
    p = message.payload
    if message.channel == "email":
        chart = base64.b64decode(p["chart"]) if p.get("chart") else None
        send_mail(config, p["to"], Mail(p["subject"], p["text"], p["html"], chart))
    else:
        post_webhook(Webhook(p["url"], p["kind"]), p["title"], list(p["lines"]), p.get("link"))


def pending_failures(workspace: Workspace) -> list[dict[str, Any]]:
    """Messages whose last attempt failed: shown on the dashboard and by `okr-sync log`."""
    home = workspace.state_home
    if not store.exists(home):
        return []
    return [{"kind": m.kind, "period": m.period, "recipient": m.recipient, "channel": m.channel,
             "attempts": m.attempts, "error": m.error} for m in weekly.failures(home)]

