"""The okr-sync server: JSON API, dashboard, Excel add-in, health; served by waitress."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

DEFAULT_MAX_BODY = 8 * 1024 * 1024


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app; `test_config` overrides settings (WORKSPACE, TOKENS, STATE_DB, ...)."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(
        WORKSPACE=os.environ.get("OKR_SYNC_CONFIG"),
        TOKENS=[t for t in os.environ.get("OKR_SYNC_TOKENS", "").split(",") if t],
        MAX_CONTENT_LENGTH=DEFAULT_MAX_BODY,
        JSON_AS_ASCII=False,
    )
    if test_config:
        app.config.update(test_config)

    @app.errorhandler(HTTPException)
    def json_error(exc: HTTPException) -> Any:
        response = jsonify(error=exc.name, message=exc.description)
        response.status_code = exc.code or 500
        return response

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    from . import addin, api, dashboard

    app.register_blueprint(api.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(addin.bp)
    return app
