"""`okr-sync serve` and `okr-sync schedule` as real processes: HTTP on loopback, SIGTERM, checks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sheets_sync.server.serve import build_app

from sheets_sync import locking
from sheets_sync.errors import ConfigError
from sheets_sync.runlog import store

TOKEN = "serve-token-0123456789abcdef-0123456789"
ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from sheets_sync.cli import main; main()"]



@pytest.fixture
def config(demo_template: Path, tmp_path: Path) -> Path:
    shutil.copytree(demo_template, tmp_path / "okrs")
    path = tmp_path / "okr-sync.toml"
    path.write_text(f'[[sources]]\npath = "okrs"\n\n[server]\ntokens = ["{TOKEN}"]\n', encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, token: str | None = TOKEN) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OKR_SYNC_TOKENS", None)
    return subprocess.Popen(
        [*CLI, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(check: object, timeout: float = 20.0, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(every)
    raise AssertionError("timed out waiting")


def test_serve_refuses_to_start_without_a_token(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKR_SYNC_TOKENS", raising=False)
    config.write_text('[[sources]]\npath = "okrs"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no access token"):
        build_app(config)
    assert build_app(config, tokens=["given-on-the-command-line-0123456789"]).config["TOKENS"]


def test_serve_checks_interval_and_config_before_starting(config: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an interval"):
        build_app(config, every="soon")
    with pytest.raises(ConfigError, match="no such config"):
        build_app(tmp_path / "missing.toml")


def test_serve_with_schedule_answers_syncs_and_stops_on_sigterm(config: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(["serve", "--port", str(port), "--every", "1h", str(config)], config.parent)
    try:
        wait_for(lambda: get(f"{base}/healthz", None)[0] == 200)
        assert get(f"{base}/api/status", token="wrong")[0] == 401
        # The in-server schedule syncs once at start.
        wait_for(
            lambda: any(r["trigger"] == "schedule" and r["status"] == "ok" for r in get(f"{base}/api/runs")[1]["runs"])
        )  # type: ignore[index]
        status = get(f"{base}/api/status")[1]
        assert status["company_score"] == 0.58 and status["next_scheduled_run"]
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "Traceback" not in output and TOKEN not in output
    assert "serving" in output and "scheduled sync" in output


def test_schedule_sigterm_mid_run_lets_the_run_finish(config: Path) -> None:
    home = config.parent / "okrs"  # the lock and the run log follow the unit folder
    proc = start(["schedule", "--every", "1h", str(config)], config.parent)
    try:
        # Catch the first run while it holds the lock, then ask the scheduler to stop.
        wait_for(lambda: locking.current_holder([home]) is not None, every=0.005)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    [run] = store.list_runs(home)
    assert run.trigger == "schedule" and run.status == "ok" and run.finished, output
    assert run.cells_written > 0
    assert locking.current_holder([home]) is None
    assert "stopping after the current run" in output
    assert f"scheduled sync {run.id} done: 5 units" in output


def test_schedule_rejects_a_bad_interval_with_a_message(config: Path) -> None:
    proc = start(["schedule", "--every", "often", str(config)], config.parent)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "not an interval" in output and "Traceback" not in output


def test_serve_sigterm_during_an_api_sync_lets_it_finish(config: Path) -> None:
    import threading

    home = config.parent
    units = home / "okrs"  # the lock and the run log follow the unit folder
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(["serve", "--port", str(port), str(config)], home)
    answers: list[object] = []

    def post_sync() -> None:
        request = urllib.request.Request(f"{base}/api/sync", data=b"{}", method="POST")
        request.add_header("Authorization", f"Bearer {TOKEN}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answers.append(response.status)
        except (OSError, urllib.error.URLError) as exc:  # the server may close before answering
            answers.append(exc)

    try:
        wait_for(lambda: get(f"{base}/healthz", None)[0] == 200)
        client = threading.Thread(target=post_sync)
        client.start()
        wait_for(lambda: locking.current_holder([units]) is not None, every=0.005)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
        client.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    [run] = store.list_runs(units)
    assert run.trigger == "api" and run.status == "ok" and run.cells_written > 0, output
    assert locking.current_holder([units]) is None and answers
