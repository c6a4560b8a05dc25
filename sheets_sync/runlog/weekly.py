"""The weekly loop's tables in the run log: KRs as last seen, their figures per sync, check-ins and the outbox."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.model import CellValue
from .codec import decode_value, encode_value, json_safe, safe_text
from .store import connect, now


def _safe(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's text as SQLite can store it: a file name's undecodable bytes kept escaped (caf\\xe9.xlsx)."""
    return tuple(safe_text(v) if isinstance(v, str) else v for v in values)


@dataclass
class KrState:
    """A key result as the last sync saw it."""

    unit_code: str
    kr_id: str
    cycle: str = ""  # a unit's key results are kept per cycle: KR1.1 of 2026-Q4 is not KR1.1 of 2027-Q1
    cycle_start: str | None = None
    cycle_end: str | None = None
    text: str | None = None
    owner: str | None = None
    current: CellValue = None
    target: float | None = None
    due: str | None = None
    confidence: float | None = None
    comment: str | None = None
    score: float | None = None
    status: str | None = None
    source: str | None = None
    path: str | None = None
    language: str | None = None
    first_seen: str = ""
    last_checkin: str | None = None

    @property
    def global_id(self) -> str:
        return f"{self.unit_code}/{self.kr_id}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.global_id, **{k: json_safe(v) for k, v in self.__dict__.items()}}

    def current_on(self, day: str) -> bool:
        """Whether the KR's cycle runs on a day (an unknown start or end does not exclude it)."""
        return (not self.cycle_start or self.cycle_start <= day) and (not self.cycle_end or day <= self.cycle_end)


@dataclass
class Checkin:
    """One change a person made to a KR's Current, Confidence or comment."""

    unit_code: str
    kr_id: str
    at: str
    as_of: str
    via: str
    old_current: CellValue = None
    new_current: CellValue = None
    old_confidence: float | None = None
    new_confidence: float | None = None
    comment: str | None = None
    who: str | None = None
    cycle: str | None = None
    run_id: int | None = None
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (report.schema.json's checkins, GET /api/checkins)."""
        return {
            "id": f"{self.unit_code}/{self.kr_id}", "unit": self.unit_code, "kr": self.kr_id, "cycle": self.cycle,
            "at": self.at, "as_of": self.as_of, "who": self.who, "via": self.via,
            "old": {"current": json_safe(self.old_current), "confidence": self.old_confidence},
            "new": {"current": json_safe(self.new_current), "confidence": self.new_confidence},
            "comment": self.comment, "run_id": self.run_id,
        }


@dataclass
class Message:
    """One reminder or digest to one recipient over one channel; its key makes it unique per period."""

    kind: str
    period: str
    recipient: str
    channel: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)
    status: str = "new"
    attempts: int = 0
    error: str | None = None
    created: str = ""
    sent_at: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.period}|{self.channel}|{self.recipient.casefold()}"


_STATE_COLUMNS = tuple(KrState.__dataclass_fields__)


def kr_states(home: str | Path, unit_code: str | None = None) -> list[KrState]:
    """Every KR as last seen (or one unit's)."""
    with connect(home) as conn:
        sql = "SELECT * FROM kr_state" + (" WHERE unit_code=? COLLATE NOCASE" if unit_code else "") + \
            " ORDER BY unit_code, cycle_end, kr_id"
        rows = conn.execute(sql, (unit_code,) if unit_code else ()).fetchall()
    out = []
    for r in rows:
        values = {k: r[k] for k in _STATE_COLUMNS}
        values["current"] = decode_value(r["current"])
        out.append(KrState(**values))
    return out


def save_states(home: str | Path, states: list[KrState]) -> None:
    """Replace the last-seen rows of these KRs."""
    with connect(home) as conn:
        conn.executemany(
            f"INSERT OR REPLACE INTO kr_state({', '.join(_STATE_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(_STATE_COLUMNS))})",
            [_safe(tuple(encode_value(s.current) if k == "current" else getattr(s, k) for k in _STATE_COLUMNS))
             for s in states],
        )


def add_points(home: str | Path, run_id: int, as_of: str, cycle: str,
               points: list[tuple[str, str, CellValue, float | None, float | None, float | None, str | None]]) -> None:
    """Each KR's (unit, id, current, progress, score, confidence, status) at this run, in its cycle."""
    with connect(home) as conn:
        conn.executemany(
            "INSERT INTO kr_points(run_id, as_of, cycle, unit_code, kr_id, current, progress, score, confidence,"
            " status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [_safe((run_id, as_of, cycle, u, k, encode_value(c), p, s, f, t)) for u, k, c, p, s, f, t in points],
        )


def kr_trend(home: str | Path, unit_code: str, kr_id: str, cycle: str = "") -> list[dict[str, Any]]:
    """A KR's figures in one cycle by as-of day (the last run of each day), oldest first."""
    with connect(home) as conn:
        rows = conn.execute(
            "SELECT p.* FROM kr_points p WHERE p.unit_code=? AND p.kr_id=? AND p.cycle=? AND p.run_id = (SELECT"
            " MAX(q.run_id) FROM kr_points q WHERE q.unit_code=p.unit_code AND q.kr_id=p.kr_id AND q.cycle=p.cycle"
            " AND q.as_of=p.as_of) ORDER BY p.as_of",
            (unit_code, kr_id, cycle),
        ).fetchall()
    return [{"as_of": r["as_of"], "current": json_safe(decode_value(r["current"])), "progress": r["progress"],
             "score": r["score"], "confidence": r["confidence"], "status": r["status"]} for r in rows]


def statuses_before(home: str | Path, day: str) -> dict[tuple[str, str, str], str | None]:
    """Each KR's status as the last run before a day saw it."""
    with connect(home) as conn:
        rows = conn.execute(
            "SELECT p.unit_code, p.kr_id, p.cycle, p.status FROM kr_points p WHERE p.run_id = (SELECT MAX(q.run_id)"
            " FROM kr_points q WHERE q.unit_code=p.unit_code AND q.kr_id=p.kr_id AND q.cycle=p.cycle"
            " AND q.as_of < ?)", (day,),
        ).fetchall()
    return {(r["unit_code"].upper(), r["kr_id"].upper(), r["cycle"]): r["status"] for r in rows}


def add_checkins(home: str | Path, checkins: list[Checkin]) -> None:
    """Record check-ins (and give each its id)."""
    with connect(home) as conn:
        for c in checkins:
            cur = conn.execute(
                "INSERT INTO checkins(run_id, cycle, unit_code, kr_id, at, as_of, who, via, old_current, new_current,"
                " old_confidence, new_confidence, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                _safe((c.run_id, c.cycle, c.unit_code, c.kr_id, c.at, c.as_of, c.who, c.via,
                       encode_value(c.old_current), encode_value(c.new_current), c.old_confidence, c.new_confidence,
                       c.comment)),
            )
            c.id = int(cur.lastrowid or 0)


def checkins(home: str | Path, *, unit_code: str | None = None, kr_id: str | None = None,
             since: str | None = None, cycle: str | None = None, limit: int = 500) -> list[Checkin]:
    """Check-ins, newest first, filtered by unit, KR, as-of day (inclusive) and cycle."""
    where, args = [], []
    for column, value, op in (("unit_code", unit_code, "="), ("kr_id", kr_id, "="), ("as_of", since, ">="),
                              ("cycle", cycle, "=")):
        if value is not None:
            where.append(f"{column} {op} ? COLLATE NOCASE" if op == "=" else f"{column} {op} ?")
            args.append(value)
    sql = "SELECT * FROM checkins" + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY as_of DESC, id DESC LIMIT ?"
    with connect(home) as conn:
        rows = conn.execute(sql, (*args, limit)).fetchall()
    return [Checkin(unit_code=r["unit_code"], kr_id=r["kr_id"], at=r["at"], as_of=r["as_of"], via=r["via"],
                    old_current=decode_value(r["old_current"]), new_current=decode_value(r["new_current"]),
                    old_confidence=r["old_confidence"], new_confidence=r["new_confidence"], comment=r["comment"],
                    who=r["who"], cycle=r["cycle"], run_id=r["run_id"], id=r["id"]) for r in rows]


# --- the outbox -----------------------------------------------------------------------------------


def _message(r: Any) -> Message:
    return Message(kind=r["kind"], period=r["period"], recipient=r["recipient"], channel=r["channel"],
                   subject=r["subject"], payload=json.loads(r["payload"]), status=r["status"],
                   attempts=r["attempts"], error=r["error"], created=r["created"], sent_at=r["sent_at"])


def queue(home: str | Path, message: Message) -> bool:
    """Put a message in the outbox unless one with its key is there already; True when it is new."""
    with connect(home) as conn:
        cur = conn.execute(
            "INSERT OR IGNORE INTO outbox(key, kind, period, recipient, channel, subject, payload, status, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            _safe((message.key, message.kind, message.period, message.recipient, message.channel, message.subject,
                   json.dumps(message.payload, ensure_ascii=False, default=str), now())),
        )
        return cur.rowcount > 0


def unsent(home: str | Path, max_attempts: int = 20) -> list[Message]:
    """Messages still to send (new ones and failed ones to retry), oldest first."""
    with connect(home) as conn:
        rows = conn.execute("SELECT * FROM outbox WHERE status IN ('pending', 'failed') AND attempts < ?"
                            " ORDER BY created, key", (max_attempts,)).fetchall()
    return [_message(r) for r in rows]


def mark(home: str | Path, message: Message, error: str | None) -> None:
    """Record one attempt: sent, or failed with its reason (retried on the next run)."""
    with connect(home) as conn:
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, status=?, error=?, sent_at=? WHERE key=?",
            ("failed" if error else "sent", error, None if error else now(), message.key),
        )


def failures(home: str | Path) -> list[Message]:
    """Messages whose last attempt failed (the dashboard and `okr-sync log` show them)."""
    with connect(home) as conn:
        rows = conn.execute("SELECT * FROM outbox WHERE status='failed' ORDER BY created DESC").fetchall()
    return [_message(r) for r in rows]


def sent(home: str | Path, kind: str | None = None) -> list[Message]:
    """Messages sent, oldest first."""
    with connect(home) as conn:
        rows = conn.execute("SELECT * FROM outbox WHERE status='sent'" + (" AND kind=?" if kind else "") +
                            " ORDER BY sent_at, key", (kind,) if kind else ()).fetchall()
    return [_message(r) for r in rows]


def last_sent_period(home: str | Path, kind: str) -> str | None:
    """The newest period of a kind that went out (the digest compares with it)."""
    with connect(home) as conn:
        row = conn.execute("SELECT MAX(period) FROM outbox WHERE kind=? AND status='sent'", (kind,)).fetchone()
    return row[0] if row and row[0] else None
