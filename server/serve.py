"""`okr-sync serve`: the app on waitress, optionally with the sync schedule in a background thread."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from flask import Flask

from sheets_sync.errors import ConfigError
from sheets_sync.workspace import Workspace

from . import create_app
from .auth import MAKE_TOKEN, check_tokens

log = logging.getLogger("okr_sync.serve")
SHUTDOWN_WAIT = 600.0  # seconds a running sync gets to finish after SIGTERM


def build_app(config_path: str | Path, every: str | None = None, tokens: list[str] | None = None,
              cycle: str | None = None) -> Flask:
    """The app for a config, refusing to start without a token or with a broken workspace."""
    Workspace.from_path(config_path)  # a broken config stops here with its own message
    extra: dict[str, Any] = {"WORKSPACE": str(config_path), "CYCLE": cycle}
    app = create_app(extra)
    if tokens:
        check_tokens(tokens, "the tokens given to serve")
        app.config["TOKENS"] = list(dict.fromkeys([*tokens, *app.config["TOKENS"]]))
    if not app.config["TOKENS"]:
        raise ConfigError(
            f'{config_path}: no access token. Add [server] tokens = ["<a long random string>"] '
            f"to okr-sync.toml or set OKR_SYNC_TOKENS; make one with: {MAKE_TOKEN}"
        )
    if every:
        from .scheduler import parse_every

        parse_every(every)
        app.config["SCHEDULE_EVERY"] = every
    return app


def serve(
    config_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    every: str | None = None,
    tokens: list[str] | None = None,
    *,
    threads: int = 16,
    ready: threading.Event | None = None,
    cycle: str | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT; a sync in progress (API or schedule) finishes first."""
    import waitress

    from sheets_sync import locking

    from .scheduler import ensure_logging

    app = build_app(config_path, every, tokens, cycle)
    ensure_logging()
    workspace = app.extensions["okr_sync"]["workspace"]
    scheduler = thread = None
    notify_conf = workspace.config.get("notify") if isinstance(workspace.config.get("notify"), dict) else {}
    if every or notify_conf.get("remind") or notify_conf.get("digest"):
        from .scheduler import start_background

        scheduler, thread = start_background(config_path, every, cycle)
        app.extensions["okr_sync"]["scheduler"] = scheduler
    server = waitress.create_server(app, host=host, port=port, threads=threads, ident="okr-sync")
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: shutting down after any running sync", signal.Signals(signum).name)
        if not stopping.is_set():
            stopping.set()
            # waitress ends its loop on SystemExit and lets worker threads finish their request.
            raise SystemExit(0)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    log.info("okr-sync serving %s on http://%s:%s", config_path, host, port)
    if ready is not None:
        ready.set()
    try:
        server.run()
    finally:
        if scheduler is not None and thread is not None:
            scheduler.stop()
            thread.join(SHUTDOWN_WAIT)
        # An API sync runs in a worker thread; let it finish writing before the process ends.
        if not locking.wait_idle(workspace.lock_homes, SHUTDOWN_WAIT):
            log.warning("a sync was still running after %ss; stopping anyway", SHUTDOWN_WAIT)
        for sig, old in previous.items():
            signal.signal(sig, old)
        server.close()
