"""Fixtures for the Google tests: the emulator on 127.0.0.1 and a service-account key pointing at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google_emulator import EmulatorServer, GoogleEmulator, Quota, service_account_key

__all__ = ["GoogleApi", "google_api"]


@dataclass
class GoogleApi:
    """What a test gets: the emulator, its URL and a key file whose token_uri is the emulator."""

    emulator: GoogleEmulator
    url: str
    key_path: Path
    email: str


@pytest.fixture
def google_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleApi]:
    """A fresh emulator per test; OKR_SYNC_GOOGLE_API_URL and the credentials env point at it."""
    emulator = GoogleEmulator(Quota(reads=60, writes=60, window=60.0))
    with EmulatorServer(emulator) as server:
        # A fresh account per test: the client-side limiter is per credential and per process.
        email = f"okr-sync-{uuid.uuid4().hex[:8]}@test-project.iam.gserviceaccount.com"
        key = service_account_key(tmp_path, server.url + "/token", email)
        monkeypatch.setenv("OKR_SYNC_GOOGLE_API_URL", server.url)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
        yield GoogleApi(emulator, server.url, key, email)
