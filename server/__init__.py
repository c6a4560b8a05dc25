"""The okr-sync server: JSON API, dashboard, Excel add-in, health; served by waitress."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from sheets_sync.errors import ConfigError, OkrSyncError, SyncBusy

from . import hygiene
from .auth import FAILURES_PER_MINUTE, Throttle, check_tokens
from .sessions import SESSION_HOURS, SessionStore

DEFAULT_MAX_BODY = 8 * 1024 * 1024
log = logging.getLogger("okr_sync.server")


def env_tokens() -> list[str]:
    """Tokens from OKR_SYNC_TOKENS (comma-separated)."""
    return [t.strip() for t in os.environ.get("OKR_SYNC_TOKENS", "").split(",") if t.strip()]


def config_tokens(config: dict[str, Any], where: str = "okr-sync.toml") -> list[str]:
    """Tokens from the `[server] tokens = [...]` table of a parsed config."""
    return list(config_token_names(config, where))


def config_token_names(config: dict[str, Any], where: str = "okr-sync.toml") -> dict[str, str | None]:
    """Token -> its holder's name: `tokens = ["…"]`, or `tokens = [{name = "Ana", token = "…"}]` (or both)."""
    server = config.get("server") or {}
    if not isinstance(server, dict):
        raise ConfigError(f'{where}: [server] must be a table, like [server] tokens = ["..."]')
    tokens = server.get("tokens", [])
    if isinstance(tokens, str | dict):
        tokens = [tokens]
    if not isinstance(tokens, list):
        raise ConfigError(f"{where}: [server] tokens must be a list of strings or of {{name = …, token = …}}")
    named: dict[str, str | None] = {}
    for item in tokens:
        if isinstance(item, dict) and isinstance(item.get("token"), str):
            name = item.get("name")
            if item["token"].strip():
                named[item["token"].strip()] = str(name).strip() if name else None
        elif isinstance(item, str):
            if item.strip():
                named[item.strip()] = None
        else:
            raise ConfigError(f'{where}: [server] tokens: each entry is a string or {{name = "Ana", token = "…"}}')
    return named


def server_limits(server: dict[str, Any], where: str) -> dict[str, Any]:
    """The optional limits of `[server]`: failed_tokens_per_minute, session_hours, addin_frame_ancestors."""
    out: dict[str, Any] = {}
    per_minute = server.get("failed_tokens_per_minute")
    if per_minute is not None:
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or not 1 <= per_minute <= 1000:
            raise ConfigError(f"{where}: [server] failed_tokens_per_minute must be a whole number from 1 to 1000")
        out["FAILED_TOKENS_PER_MINUTE"] = per_minute
    hours = server.get("session_hours")
    if hours is not None:
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 24 * 30:
            raise ConfigError(f"{where}: [server] session_hours must be a number of hours from 0 to 720, like 12")
        out["SESSION_HOURS"] = float(hours)
    ancestors = server.get("addin_frame_ancestors")
    if ancestors is not None:
        if not isinstance(ancestors, list) or not all(
            isinstance(a, str) and a.startswith("https://") and not any(c in a for c in " ;,'\"\n") for a in ancestors
        ):
            raise ConfigError(
                f'{where}: [server] addin_frame_ancestors must be a list of https origins, like ["https://*.example.com"]'
            )
        out["ADDIN_FRAME_ANCESTORS"] = ancestors
    return out


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app; `test_config` overrides settings (WORKSPACE, TOKENS, SECRET_KEY, ...)."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(
        WORKSPACE=os.environ.get("OKR_SYNC_CONFIG"),
        TOKENS=env_tokens(),
        MAX_CONTENT_LENGTH=DEFAULT_MAX_BODY,
        JSON_AS_ASCII=False,
        # A fresh key per process: dashboard sessions end when the server restarts.
        SECRET_KEY=secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SCHEDULE_EVERY=None,
        FAILED_TOKENS_PER_MINUTE=FAILURES_PER_MINUTE,
        SESSION_HOURS=SESSION_HOURS,
        ADDIN_FRAME_ANCESTORS=None,
    )
    if test_config:
        app.config.update(test_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]  # rollup sheets keep their order
    app.extensions["okr_sync"] = {}

    if app.config.get("WORKSPACE"):
        from sheets_sync.workspace import Workspace

        try:
            # `serve --cycle` pins the cycle the dashboard opens on and the API and schedule sync.
            workspace = Workspace.from_path(app.config["WORKSPACE"], cycle=app.config.get("CYCLE"))
        except ConfigError as exc:
            # Requests that need it answer 503 with this reason; `serve` checks it before starting.
            log.error("workspace %s: %s", app.config["WORKSPACE"], exc)
        else:
            app.extensions["okr_sync"]["workspace"] = workspace
            where = str(workspace.config_path or "config")
            named = config_token_names(workspace.config, where)
            check_tokens(named, f"{where} [server] tokens")  # named {name, token} entries too
            app.config["TOKENS"] = list(dict.fromkeys([*app.config["TOKENS"], *named]))
            app.config["TOKEN_NAMES"] = {**app.config.get("TOKEN_NAMES", {}), **named}
            server_conf = workspace.config.get("server") or {}
            if isinstance(server_conf, dict):
                if server_conf.get("secret_key"):
                    app.config["SECRET_KEY"] = str(server_conf["secret_key"])
                app.config.update(server_limits(server_conf, str(workspace.config_path or "config")))
    check_tokens(app.config["TOKENS"], "OKR_SYNC_TOKENS")
    app.extensions["okr_sync"]["throttle"] = Throttle(int(app.config["FAILED_TOKENS_PER_MINUTE"]))
    app.extensions["okr_sync"]["sessions"] = SessionStore(float(app.config["SESSION_HOURS"]))

    def wants_html() -> bool:
        return request.blueprint == "dashboard" or (
            not request.path.startswith(("/api/", "/addin/", "/healthz")) and request.accept_mimetypes.accept_html
        )

    def error_response(code: int, title: str, message: str) -> Any:
        if wants_html():
            from .i18n import pick_lang, t

            lang = pick_lang()
            body = render_template("error.html", code=code, title=title, message=message, lang=lang, t=t)
            return body, code
        response = jsonify(error=title, message=message)
        response.status_code = code
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        response = error_response(exc.code or 500, exc.name, exc.description or exc.name)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response = app.make_response(response)
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(SyncBusy)
    def busy(exc: SyncBusy) -> Any:
        return error_response(409, "Conflict", str(exc))

    @app.errorhandler(OkrSyncError)
    def okr_error(exc: OkrSyncError) -> Any:
        return error_response(503, "Service Unavailable", str(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # The traceback goes to the log only; the answer carries a reference to find it there.
        ref = hygiene.log_unexpected(type(exc).__name__)
        return error_response(
            500,
            "Internal Server Error",
            f"Something went wrong on the server; tell the admin reference {ref} (the server log has the details).",
        )

    @app.after_request
    def answer_hygiene(response: Any) -> Any:
        return hygiene.scrub(app, hygiene.base_headers(response))

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    from . import addin, api, dashboard, openapi, weekly

    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(addin.bp)
    app.register_blueprint(weekly.bp)
    return app
