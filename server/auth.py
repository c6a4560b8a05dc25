"""Bearer-token auth shared by every blueprint but health and static files."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, request

F = TypeVar("F", bound=Callable[..., Any])


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


def require_token(view: F) -> F:
    """Answer 401 unless the request carries `Authorization: Bearer <token>`."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented or not token_ok(presented.strip()):
            abort(401, description="Send 'Authorization: Bearer <token>' with a token from the server's config.")
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
