"""The okr-sync server: JSON API, dashboard, Excel add-in, health; served by waitress."""

from __future__ import annotations

import logging
import os
import secrets
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from sheets_sync.errors import ConfigError, OkrSyncError, SyncBusy

DEFAULT_MAX_BODY = 8 * 1024 * 1024
log = logging.getLogger("okr_sync.server")


def env_tokens() -> list[str]:
    """Tokens from OKR_SYNC_TOKENS (comma-separated)."""
    return [t.strip() for t in os.environ.get("OKR_SYNC_TOKENS", "").split(",") if t.strip()]


def config_tokens(config: dict[str, Any], where: str = "okr-sync.toml") -> list[str]:
    """Tokens from the `[server] tokens = [...]` table of a parsed config."""
    server = config.get("server") or {}
    if not isinstance(server, dict):
        raise ConfigError(f'{where}: [server] must be a table, like [server] tokens = ["..."]')
    tokens = server.get("tokens", [])
    if isinstance(tokens, str):
        tokens = [tokens]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise ConfigError(f"{where}: [server] tokens must be a list of strings")
    return [t.strip() for t in tokens if t.strip()]


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
            extra = config_tokens(workspace.config, str(workspace.config_path or "config"))
            app.config["TOKENS"] = list(dict.fromkeys([*app.config["TOKENS"], *extra]))
            server_conf = workspace.config.get("server") or {}
            if isinstance(server_conf, dict) and server_conf.get("secret_key"):
                app.config["SECRET_KEY"] = str(server_conf["secret_key"])

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
        return error_response(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(SyncBusy)
    def busy(exc: SyncBusy) -> Any:
        return error_response(409, "Conflict", str(exc))

    @app.errorhandler(OkrSyncError)
    def okr_error(exc: OkrSyncError) -> Any:
        return error_response(503, "Service Unavailable", str(exc))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "Internal Server Error", "Something went wrong on the server; it is logged.")

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    from . import addin, api, dashboard

    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(addin.bp)
    return app
