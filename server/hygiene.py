"""What leaves the server: no server paths, no tokens, no tracebacks; the headers every answer carries."""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from markupsafe import escape

log = logging.getLogger("okr_sync.server")

TEXT_TYPES = ("application/json", "text/html", "text/plain")


def _variants(text: str) -> list[bytes]:
    """The text as it appears raw, inside JSON strings and in HTML."""
    forms = (text, json.dumps(text, ensure_ascii=False)[1:-1], str(escape(text)))
    return list(dict.fromkeys(form.encode() for form in forms))


def private_roots(workspace: Any) -> list[str]:
    """Folders whose absolute paths an answer must not show: the home, unit folders, the rollup's folder."""
    places: list[Path] = []
    if workspace is not None:
        places.append(Path(workspace.home))
        if workspace.config_path:
            places.append(Path(workspace.config_path).parent)
        for backend in workspace.backends:
            root = getattr(backend, "root", None)
            if root is not None:
                places.append(Path(root))
        location = workspace.rollup_location or ""
        if location and "://" not in location:
            places.append(Path(location).parent)
    roots: set[str] = set()
    for place in places:
        for form in (os.path.abspath(place), os.path.realpath(place)):
            if form != os.sep:
                roots.add(form)
    return sorted(roots, key=len, reverse=True)  # the deepest first: a unit folder before the home around it


def replacements(app: Flask) -> list[tuple[bytes, bytes]]:
    """(secret, stand-in) pairs for answers: tokens become [token], 'root/' becomes '' and 'root' '.'."""
    pairs: list[tuple[bytes, bytes]] = []
    for token in app.config.get("TOKENS") or []:
        pairs += [(v, b"[token]") for v in _variants(token)]
    ext = app.extensions["okr_sync"]
    workspace = ext.get("workspace")
    cached = ext.get("private_roots")
    if cached is None or cached[0] is not workspace:
        cached = ext["private_roots"] = (workspace, private_roots(workspace))
    for root in cached[1]:
        pairs += [(v, b"") for v in _variants(root + os.sep)]
        pairs += [(v, b".") for v in _variants(root)]
    return pairs


def scrub(app: Flask, response: Response) -> Response:
    """Take server paths and tokens out of a generated answer and its redirect (files sent as they are)."""
    pairs = replacements(app)
    location = response.headers.get("Location")
    if location:
        for secret, stand_in in pairs:
            location = location.replace(secret.decode(), stand_in.decode())
        response.headers["Location"] = location
    if response.direct_passthrough or response.is_streamed or response.mimetype not in TEXT_TYPES:
        return response
    body = response.get_data()
    cleaned = body
    for secret, stand_in in pairs:
        cleaned = cleaned.replace(secret, stand_in)
    if cleaned != body:
        response.set_data(cleaned)
    return response


def base_headers(response: Response) -> Response:
    """Every answer: no sniffing, no referrer off-site; API answers are never stored by a cache."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(("/api/", "/addin/api/")):
        response.headers["Cache-Control"] = "no-store"
    return response


def new_reference() -> str:
    """A short id tying an answer to its traceback in the log."""
    return secrets.token_hex(4)


def log_unexpected(what: str) -> str:
    """Log the exception being handled with a fresh reference; return the reference for the answer."""
    ref = new_reference()
    log.exception("unexpected error (reference %s) on %s %s: %s", ref, request.method, request.path, what)
    return ref
