"""`okr-sync serve --cert --key`: the add-in served over real HTTPS with a self-signed certificate."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from addin_fixtures import TOKEN, payload
from builders import kr, o, unit, write_xlsx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("https")
    cert, key = tmp / "localhost.pem", tmp / "localhost-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    folder = tmp / "okr"
    folder.mkdir()
    write_xlsx(folder / "CO.xlsx", unit("CO", "company", [o("O1", "Win"), kr("KR1.1", "R", target=2, current=1)]))
    port = free_port()
    env = {**os.environ, "OKR_SYNC_TOKENS": TOKEN, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sheets_sync",
            "serve",
            str(folder),
            "--cert",
            str(cert),
            "--key",
            str(key),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", context=trusted, timeout=2).read()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                out = proc.communicate()[0].decode(errors="replace")
                pytest.fail(f"HTTPS server did not start: {out}")
            time.sleep(0.2)
    yield base, cert
    proc.terminate()
    proc.wait(10)


def test_pane_and_api_over_https_with_the_trusted_certificate(https_server: tuple[str, Path]) -> None:
    base, cert = https_server
    trusted = ssl.create_default_context(cafile=str(cert))
    pane = urllib.request.urlopen(f"{base}/addin/taskpane.html", context=trusted).read()
    assert b"okr-client.js" in pane
    request = urllib.request.Request(
        f"{base}/addin/api/score",
        data=json.dumps(payload()).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    answer = json.loads(urllib.request.urlopen(request, context=trusted).read())
    assert answer["score"] == 0.48
    rollup = urllib.request.Request(f"{base}/addin/api/rollup", headers={"Authorization": f"Bearer {TOKEN}"})
    sheets = json.loads(urllib.request.urlopen(rollup, context=trusted).read())["sheets"]
    assert sheets[0]["name"] == "OKR Rollup"


def test_an_untrusted_certificate_is_refused(https_server: tuple[str, Path]) -> None:
    base, _ = https_server
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{base}/healthz", context=ssl.create_default_context())


def test_missing_certificate_is_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sheets_sync", "serve", str(tmp_path), "--cert", "nope.pem", "--key", "k.pem"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 2
    assert "nope.pem: no such file" in result.stderr and "Traceback" not in result.stderr
