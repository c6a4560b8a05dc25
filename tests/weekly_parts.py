"""Real parts for the weekly loop's tests: an SMTP server (aiosmtpd) and webhook receivers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openpyxl


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received: one parsed message per recipient."""

    messages: list[tuple[str, EmailMessage]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def take(self) -> list[tuple[str, EmailMessage]]:
        with self.lock:
            out, self.messages = self.messages, []
        return out


@contextmanager
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    """A real SMTP server on 127.0.0.1; yields its smtp:// URL and the mailbox."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", box
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A webhook receiver: the JSON bodies it got, and how many requests to refuse first."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0
    seen: int = 0


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.seen += 1
            if receiver.seen <= receiver.fail_first:
                self.send_response(500)
                self.end_headers()
                return
            assert self.headers.get("Content-Type") == "application/json"
            receiver.bodies.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook/secret-part"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def check_in(path: Path, who: str, updates: dict[str, dict[str, Any]]) -> None:
    """Type new Current / Confidence / Notes into a unit workbook as a person would, saving as them."""
    book = openpyxl.load_workbook(path)
    sheet = book["OKRs"]
    header_row = next(r for r in range(1, 10) if sheet.cell(r, 2).value == "ID")
    cols = {sheet.cell(header_row, c).value: c for c in range(1, sheet.max_column + 1)}
    rows = {sheet.cell(r, cols["ID"]).value: r for r in range(header_row + 1, sheet.max_row + 1)}
    for kr_id, values in updates.items():
        for key, value in values.items():
            sheet.cell(rows[kr_id], cols[key]).value = value
    book.properties.lastModifiedBy = who
    book.save(path)


def config(folder: Path, smtp: str | None = None, hooks: list[tuple[str, str]] = (), **extra: str) -> Path:
    """An okr-sync.toml beside the workbooks with a [notify] section."""
    lines = ['[[sources]]', 'path = "."', "", "[notify]", 'from = "okr@tidewater.example"']
    if smtp:
        lines.append(f'smtp = "{smtp}"')
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    for url, kind in hooks:
        lines += ["", "[[notify.webhooks]]", f'url = "{url}"', f'kind = "{kind}"']
    path = folder / "okr-sync.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
