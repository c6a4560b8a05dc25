"""The one HTTP path to Microsoft Graph: MSAL sign-in, host overrides, retries with Retry-After, $batch.

Every Graph call of okr-sync goes through `GraphClient`. `OKR_SYNC_GRAPH_URL` replaces
https://graph.microsoft.com and `OKR_SYNC_MS_LOGIN_URL` replaces https://login.microsoftonline.com
here and nowhere else (tests point both at a local stand-in over HTTPS; REQUESTS_CA_BUNDLE names its CA).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..errors import AuthError, ConfigError, QuotaError, RemoteError
from ..extras import require

require("microsoft", "Microsoft 365 support")

import msal  # noqa: E402
import requests  # noqa: E402

GRAPH_URL = "https://graph.microsoft.com"
LOGIN_URL = "https://login.microsoftonline.com"
GRAPH_URL_ENV = "OKR_SYNC_GRAPH_URL"
LOGIN_URL_ENV = "OKR_SYNC_MS_LOGIN_URL"
SECRET_ENV = "OKR_SYNC_MS_CLIENT_SECRET"
TOKEN_CACHE_ENV = "OKR_SYNC_MS_TOKEN_CACHE"
# Delegated: the service account's own access to the files it was given (offline_access, openid and
# profile are added by MSAL itself). App-only: whatever the tenant's admin granted the app.
DELEGATED_SCOPES = ["https://graph.microsoft.com/Files.ReadWrite.All"]
APP_SCOPES = ["https://graph.microsoft.com/.default"]
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Graph answers a $batch of more than 20 requests with 400.
BATCH_LIMIT = 20
LOGIN_HINT = "run `okr-sync login microsoft` to sign the service account in again"


def _msg(en: str, zh: str) -> str:
    """Both languages: a workbook's language is unknown until it has been read."""
    return f"{en} / {zh}"


def graph_base() -> str:
    return os.environ.get(GRAPH_URL_ENV, GRAPH_URL).rstrip("/") + "/v1.0"


def login_base() -> str:
    return os.environ.get(LOGIN_URL_ENV, LOGIN_URL).rstrip("/")


def share_id(url: str) -> str:
    """A sharing URL (or a plain SharePoint/OneDrive link) as Graph's /shares/{id}: u! + unpadded base64url."""
    return "u!" + base64.urlsafe_b64encode(url.strip().encode("utf-8")).decode("ascii").rstrip("=")


def item_path(drive: str, item: str) -> str:
    return f"/drives/{quote(drive, safe='')}/items/{quote(item, safe='')}"


@dataclass(frozen=True)
class Limits:
    """Retry settings: attempts per call, exponential backoff with jitter, a cap on any one wait."""

    attempts: int = 6
    backoff: float = 1.0
    backoff_cap: float = 60.0
    timeout: float = 60.0

    @classmethod
    def from_env(cls) -> Limits:
        limits = cls()
        for attr, env in (("attempts", "OKR_SYNC_MS_ATTEMPTS"), ("backoff", "OKR_SYNC_MS_BACKOFF"),
                          ("backoff_cap", "OKR_SYNC_MS_BACKOFF_CAP"), ("timeout", "OKR_SYNC_MS_TIMEOUT")):
            raw = os.environ.get(env)
            if raw:
                kind = type(getattr(limits, attr))
                try:
                    limits = replace(limits, **{attr: kind(float(raw))})
                except ValueError:
                    raise ConfigError(f"{env}={raw!r} is not a number.") from None
        return limits


@dataclass
class MicrosoftSettings:
    """The [microsoft] table of okr-sync.toml."""

    tenant: str
    client_id: str
    account: str | None = None
    certificate: str | None = None
    token_cache: Path | None = None
    app_only: bool = False

    @classmethod
    def from_config(cls, table: Any, home: Path, where: str) -> MicrosoftSettings:
        if not isinstance(table, dict) or not table.get("tenant") or not table.get("client_id"):
            raise ConfigError(
                f"{where}: a SharePoint or OneDrive source needs a [microsoft] table with tenant and client_id "
                "(the app registration; see docs/microsoft.md)."
            )
        cert = table.get("certificate")
        cert_path = str((home / Path(str(cert)).expanduser()).resolve()) if cert else None
        cache = os.environ.get(TOKEN_CACHE_ENV) or table.get("token_cache") or ".okr-sync/microsoft-token.json"
        cache_path = Path(str(cache)).expanduser()
        mode = str(table.get("mode", "")).strip().lower()
        app_only = mode == "app-only" or bool(cert_path) or (mode != "delegated" and bool(os.environ.get(SECRET_ENV)))
        return cls(
            tenant=str(table["tenant"]), client_id=str(table["client_id"]),
            account=str(table["account"]) if table.get("account") else None,
            certificate=cert_path, token_cache=cache_path if cache_path.is_absolute() else home / cache_path,
            app_only=app_only,
        )

    def client(self) -> GraphClient:
        """One Graph client for everything of this workspace: one MSAL app, one sign-in per process."""
        existing = self.__dict__.get("_client")
        if existing is None:
            existing = self.__dict__["_client"] = GraphClient(self)
        return existing

    @property
    def authority(self) -> str:
        return f"{login_base()}/{self.tenant}"


class GraphError(RemoteError):
    """A Graph call that failed; `status` and `code` let callers name 412/423/404 precisely."""

    def __init__(self, message: str, status: int, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read or write (0600), created so from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class MicrosoftAuth:
    """Access tokens from MSAL: a signed-in service account (delegated) or the app itself (app-only)."""

    def __init__(self, settings: MicrosoftSettings, session: requests.Session) -> None:
        self.settings = settings
        self.session = session
        self._app: Any = None
        self._cache: msal.SerializableTokenCache | None = None

    def _common(self) -> dict[str, Any]:
        # A login host other than Microsoft's (the stand-in) is not in MSAL's list of known clouds.
        return dict(authority=self.settings.authority, http_client=self.session,
                    validate_authority=False, instance_discovery=False)

    def _public(self) -> Any:
        if self._app is None:
            self._cache = msal.SerializableTokenCache()
            path = self.settings.token_cache
            if path is not None and path.exists():
                mode = stat.S_IMODE(path.stat().st_mode)
                if mode & 0o077:
                    raise AuthError(
                        f"{path}: the token cache can be read by others (mode {mode:o}); run chmod 600 {path}, "
                        f"or delete it and {LOGIN_HINT}"
                    )
                self._cache.deserialize(path.read_text(encoding="utf-8"))
            self._app = msal.PublicClientApplication(self.settings.client_id, token_cache=self._cache,
                                                     **self._common())
        return self._app

    def _confidential(self) -> Any:
        if self._app is None:
            credential: Any
            if self.settings.certificate:
                credential = _certificate_credential(Path(self.settings.certificate))
            else:
                secret = os.environ.get(SECRET_ENV)
                if not secret:
                    raise AuthError(f"app-only mode needs a certificate = \"….pem\" in [microsoft] or {SECRET_ENV}")
                credential = secret
            self._app = msal.ConfidentialClientApplication(self.settings.client_id, client_credential=credential,
                                                           **self._common())
        return self._app

    def _save(self) -> None:
        if self._cache is not None and self._cache.has_state_changed and self.settings.token_cache is not None:
            _write_private(self.settings.token_cache, self._cache.serialize())

    def token(self, *, force: bool = False) -> str:
        """A valid access token, refreshed silently (`force`: even if the cached one looks valid, after Graph
        refused it); AuthError (one line saying what to do) otherwise."""
        try:
            if self.settings.app_only:
                app = self._confidential()
                if force:
                    app.remove_tokens_for_client()
                result = app.acquire_token_for_client(scopes=APP_SCOPES)
            else:
                app = self._public()
                accounts = app.get_accounts(username=self.settings.account) if self.settings.account else \
                    app.get_accounts()
                if not accounts:
                    raise AuthError(f"Microsoft 365: no signed-in service account in {self.settings.token_cache}; "
                                    f"{LOGIN_HINT}")
                result = app.acquire_token_silent(DELEGATED_SCOPES, account=accounts[0], force_refresh=force)
                self._save()
                if not result:
                    raise AuthError(f"Microsoft 365: the sign-in of {accounts[0].get('username')} has expired or "
                                    f"was revoked; {LOGIN_HINT}")
        except requests.RequestException as exc:
            raise RemoteError(f"Microsoft sign-in service unreachable ({exc.__class__.__name__}); run again") from exc
        except ValueError as exc:  # MSAL raises ValueError for a bad authority or metadata
            raise AuthError(f"Microsoft sign-in failed ({exc}); check tenant and client_id in [microsoft]") from exc
        if "access_token" not in result:
            reason = result.get("error_description") or result.get("error") or "unknown error"
            hint = "check the client secret or certificate" if self.settings.app_only else LOGIN_HINT
            raise AuthError(f"Microsoft sign-in failed: {str(reason).splitlines()[0]}; {hint}")
        return str(result["access_token"])

    def login(self, echo: Callable[[str], None]) -> str:
        """Device-code sign-in of the service account; keeps its refresh token in the 0600 token cache."""
        app = self._public()
        try:
            flow = app.initiate_device_flow(scopes=DELEGATED_SCOPES)
            if "user_code" not in flow:
                raise AuthError(f"Microsoft sign-in failed: {flow.get('error_description') or flow.get('error')}")
            echo(str(flow["message"]))
            result = app.acquire_token_by_device_flow(flow)
        except requests.RequestException as exc:
            raise RemoteError(f"Microsoft sign-in service unreachable ({exc.__class__.__name__})") from exc
        if "access_token" not in result:
            reason = result.get("error_description") or result.get("error")
            raise AuthError(f"Microsoft sign-in failed: {str(reason).splitlines()[0]}")
        self._save()
        claims = result.get("id_token_claims") or {}
        return str(claims.get("preferred_username") or self.settings.account or "the service account")


def _certificate_credential(path: Path) -> dict[str, str]:
    """MSAL's certificate credential from one PEM holding the private key and the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        pem = path.read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        key = serialization.load_pem_private_key(pem, password=None)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a PEM file with the app's private key and certificate ({exc})") from exc
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324 - x5t
    return {"private_key": key_pem, "thumbprint": thumbprint}


@dataclass
class GraphClient:
    """Graph over one requests.Session: bearer token, retries on 429/5xx honouring Retry-After."""

    settings: MicrosoftSettings
    limits: Limits = field(default_factory=Limits.from_env)
    sleep: Callable[[float], None] = time.sleep
    calls: int = 0
    waited: float = 0.0

    def __post_init__(self) -> None:
        self.session = requests.Session()
        self.auth = MicrosoftAuth(self.settings, self.session)

    def url(self, path: str) -> str:
        return path if path.startswith("https://") or path.startswith("http://") else graph_base() + path

    def request(self, method: str, path: str, *, what: str, auth: bool = True, ok: tuple[int, ...] = (),
                **kw: Any) -> requests.Response:
        """One Graph call, retried on throttling and server errors; GraphError names `what` otherwise."""
        headers = dict(kw.pop("headers", None) or {})
        refreshed = False
        for attempt in range(1, self.limits.attempts + 1):
            if auth:
                headers["Authorization"] = f"Bearer {self.auth.token()}"
            self.calls += 1
            try:
                response = self.session.request(method, self.url(path), headers=headers,
                                                timeout=self.limits.timeout, **kw)
            except requests.RequestException as exc:
                if attempt == self.limits.attempts:
                    raise RemoteError(f"{what}: Microsoft 365 unreachable ({exc.__class__.__name__}); "
                                      "run again later") from exc
                self._wait(attempt, None)
                continue
            if response.status_code < 400 or response.status_code in ok:
                return response
            if response.status_code == 401 and auth and not refreshed:
                # Revoked or expired early (continuous access evaluation): one silent refresh, then ask again.
                refreshed = True
                self.auth.token(force=True)
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.limits.attempts:
                self._wait(attempt, response.headers.get("Retry-After"))
                continue
            raise self.error(what, response.status_code, _error_body(response))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        """Retry-After when Graph gives one, else exponential backoff; jitter so workers do not march."""
        delay: float | None = None
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = float(retry_after)
        if delay is None:
            delay = self.limits.backoff * 2 ** (attempt - 1)
        delay = min(delay, self.limits.backoff_cap) * random.uniform(1.0, 1.2)
        self.waited += delay
        self.sleep(delay)

    def error(self, what: str, status: int, body: dict[str, Any]) -> GraphError:
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = str(err.get("code", "")) if err else ""
        detail = str(err.get("message", "")) if err else ""
        text = f"{what}: Microsoft Graph answered {status}{' ' + code if code else ''}"
        if detail:
            text += f" ({detail})"
        if status in (401, 403):
            kind: type[GraphError] = _AuthGraphError
            text += "; give the service account (or the app) access to it, see docs/microsoft.md"
        elif status in (429, 503):
            kind = _QuotaGraphError
            text += "; still throttled after backing off, it is retried on the next run"
        else:
            kind = GraphError
        return kind(text, status, code)

    def json(self, method: str, path: str, *, what: str, **kw: Any) -> dict[str, Any]:
        response = self.request(method, path, what=what, **kw)
        return response.json() if response.content else {}

    def pages(self, path: str, *, what: str) -> Iterator[dict[str, Any]]:
        """Every value of a paged collection, following @odata.nextLink."""
        url: str | None = path
        while url:
            body = self.json("GET", url, what=what)
            yield from body.get("value", [])
            url = body.get("@odata.nextLink")

    def batch(self, requests_: list[dict[str, Any]], *, what: str) -> dict[str, dict[str, Any]]:
        """Run JSON requests in $batch calls of at most 20; throttled ones are retried; answers by id."""
        answers: dict[str, dict[str, Any]] = {}
        pending = list(requests_)
        for attempt in range(1, self.limits.attempts + 1):
            retry: list[dict[str, Any]] = []
            wait: str | None = None
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start:start + BATCH_LIMIT]
                ids = {r["id"] for r in chunk}
                for r in chunk:  # dependsOn may only name requests of the same batch
                    if "dependsOn" in r:
                        r["dependsOn"] = [d for d in r["dependsOn"] if d in ids]
                        if not r["dependsOn"]:
                            del r["dependsOn"]
                body = self.json("POST", "/$batch", what=what, json={"requests": chunk})
                for answer in body.get("responses", []):
                    status = int(answer.get("status", 500))
                    # 424: it depended on a request that was throttled; it goes again with that one.
                    if status in RETRY_STATUSES or (status == 424 and attempt < self.limits.attempts):
                        retry.append(next(r for r in chunk if r["id"] == answer["id"]))
                        if status != 424:
                            wait = (answer.get("headers") or {}).get("Retry-After") or wait
                    else:
                        answers[str(answer["id"])] = answer
            if not retry:
                return answers
            order = {id(r): i for i, r in enumerate(pending)}
            pending = sorted(retry, key=lambda r: order[id(r)])  # answers may come in any order
            if attempt < self.limits.attempts:
                self._wait(attempt, wait)
        raise _QuotaGraphError(f"{what}: Microsoft Graph kept throttling; it is retried on the next run", 429)

    def check(self, answer: dict[str, Any], what: str) -> dict[str, Any]:
        """A $batch answer's body, or its GraphError."""
        status = int(answer.get("status", 500))
        body = answer.get("body") or {}
        if status >= 400:
            raise self.error(what, status, body if isinstance(body, dict) else {})
        return body if isinstance(body, dict) else {}


class _AuthGraphError(GraphError, AuthError):
    """401/403 from Graph."""


class _QuotaGraphError(GraphError, QuotaError):
    """Throttled past the retries."""


def _error_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}
