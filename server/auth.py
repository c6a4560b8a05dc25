"""Bearer-token auth shared by every blueprint but health and static files; throttling of wrong tokens."""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, request
from werkzeug.exceptions import TooManyRequests

from sheets_sync.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("okr_sync.server")

MIN_TOKEN_LENGTH = 32
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
FAILURES_PER_MINUTE = 10  # wrong tokens (sign-in form or Bearer header) one client may send a minute
MAX_TRACKED_CLIENTS = 10_000  # memory bound: the oldest clients are forgotten first


def check_tokens(tokens: Iterable[str], where: str) -> None:
    """Refuse a token too short to withstand guessing; the message never repeats the token."""
    if any(len(token) < MIN_TOKEN_LENGTH for token in tokens):
        raise ConfigError(
            f"{where}: an access token is shorter than {MIN_TOKEN_LENGTH} characters; "
            f"make a long random one with: {MAKE_TOKEN}"
        )


class Throttle:
    """Failed token checks per client in a sliding window; past the limit, every check of that client waits."""

    def __init__(self, limit: int = FAILURES_PER_MINUTE, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds the client must wait before its next token is tried; 0 when it may try now."""
        with self._lock:
            times = self._recent(client)
            if times is None or len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[0] + self.window - self.clock()))

    def fail(self, client: str) -> None:
        with self._lock:
            times = self._recent(client)
            if times is None:
                if len(self._failures) >= MAX_TRACKED_CLIENTS:
                    self._failures.pop(next(iter(self._failures)))
                times = self._failures[client] = deque()
            times.append(self.clock())
            while len(times) > self.limit:
                times.popleft()
            if len(times) == self.limit:
                log.warning("%s sent %d wrong tokens in %.0f s; 429 for a while", client, self.limit, self.window)

    def _recent(self, client: str) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        cutoff = self.clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times


def _client() -> str:
    return request.remote_addr or "unknown"


def throttle() -> Throttle:
    return current_app.extensions["okr_sync"]["throttle"]  # type: ignore[no-any-return]


def wait_if_throttled() -> None:
    """429 with Retry-After while this client is over its limit of wrong tokens."""
    wait = throttle().retry_after(_client())
    if wait:
        raise TooManyRequests(
            description=f"Too many wrong tokens from this address; try again in {wait} seconds.",
            retry_after=wait,
        )


def token_ok(presented: str) -> bool:
    """Compare against every configured token in constant time."""
    tokens: list[str] = list(current_app.config.get("TOKENS") or [])
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(presented.encode(), token.encode())
    return ok and bool(tokens)


def token_name(presented: str | None = None) -> str | None:
    """The name `[server] tokens` gives the request's Bearer token (None for an unnamed one)."""
    if presented is None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
    names: dict[str, str | None] = current_app.config.get("TOKEN_NAMES") or {}
    for token, name in names.items():
        if hmac.compare_digest(presented.strip().encode(), token.encode()):
            return name
    return None


def checked_token(presented: str) -> bool:
    """token_ok, throttled: a client past its limit gets 429 before its token is tried; a miss counts."""
    wait_if_throttled()
    ok = len(presented) <= 512 and token_ok(presented)
    if not ok:
        throttle().fail(_client())
    return ok


def bearer_ok() -> bool | None:
    """True/False for an Authorization header, None when there is none (no guess, so not counted)."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        wait_if_throttled()
        throttle().fail(_client())
        return False
    return checked_token(presented.strip())


def require_token(view: F) -> F:
    """Answer 401 unless the request carries `Authorization: Bearer <token>`."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not bearer_ok():
            abort(401, description="Send 'Authorization: Bearer <token>' with a token from the server's config.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
