"""Server-side records of dashboard sessions, so signing out (or a restart) ends a session for good."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable

SESSION_HOURS = 12.0  # a sign-in lasts at most this long
MAX_SESSIONS = 10_000  # memory bound: the oldest sessions end first


class SessionStore:
    """Session id -> (token digest, start). The signed cookie names a record; no record, no session."""

    def __init__(self, hours: float = SESSION_HOURS, clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = hours * 3600
        self.clock = clock
        self._records: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def start(self, digest: str) -> str:
        sid = secrets.token_urlsafe(24)
        with self._lock:
            while len(self._records) >= MAX_SESSIONS:
                self._records.pop(next(iter(self._records)))
            self._records[sid] = (digest, self.clock())
        return sid

    def valid(self, sid: object, digest: object) -> bool:
        if not isinstance(sid, str) or not isinstance(digest, str):
            return False
        with self._lock:
            record = self._records.get(sid)
            if record is None:
                return False
            if self.clock() - record[1] > self.lifetime:
                del self._records[sid]
                return False
        return hmac.compare_digest(record[0], digest)

    def end(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._records.pop(sid, None)
