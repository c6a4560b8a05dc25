"""The one HTTP path to Google: credentials, host override, per-credential quota limiter, retries.

Every Sheets and Drive call of okr-sync goes through `GoogleClient`, built on gspread's HTTP client
and a google-auth `AuthorizedSession`. `OKR_SYNC_GOOGLE_API_URL` replaces the Sheets and Drive
hosts here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..core.model import CellError, CellValue
from ..errors import AnswerLost, AuthError, ConfigError, QuotaError, RemoteError

try:
    import google.auth.transport.requests
    import gspread
    import requests
    from google.auth.exceptions import RefreshError, TransportError
    from google.auth.transport.requests import AuthorizedSession
except ImportError as _missing:  # pragma: no cover - depends on the installed extras
    raise ConfigError(
        f"Google Sheets support needs gspread and google-auth ({_missing}): pip install 'okr-sync[google]' / "
        "Google 表格支持需要 gspread 和 google-auth：pip install 'okr-sync[google]'"
    ) from None

SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
)
API_URL_ENV = "OKR_SYNC_GOOGLE_API_URL"
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")
SHEETS_API = "https://sheets.googleapis.com/v4/spreadsheets"
DRIVE_API = "https://www.googleapis.com/drive/v3/files"
SHEETS_MIME = "application/vnd.google-apps.spreadsheet"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Sheets methods Google counts as read requests; every other Sheets call is a write request.
_READ_SUFFIXES = ("values:batchGet", "values:batchGetByDataFilter", "developerMetadata:search")
ERROR_CODES = frozenset({"#DIV/0!", "#N/A", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!",
                         "#ERROR!"})  # fmt: skip
_ANY_GOOGLE_HOST = re.compile(r"^https://[A-Za-z0-9.-]+\.googleapis\.com")
_KEY_RE = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{10,}$")


def _msg(en: str, zh: str) -> str:
    """Both languages: a spreadsheet's language is unknown until it has been read."""
    return f"{en} / {zh}"


@dataclass(frozen=True)
class Limits:
    """Client-side quota and retry settings (Google: 60 read and 60 write requests a minute)."""

    reads: int = 60
    writes: int = 60
    window: float = 60.0
    attempts: int = 6
    backoff: float = 1.0
    backoff_cap: float = 32.0
    timeout: float = 60.0

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, overridden by OKR_SYNC_GOOGLE_{READS,WRITES}_PER_MINUTE and friends."""
        names = {
            "reads": "OKR_SYNC_GOOGLE_READS_PER_MINUTE",
            "writes": "OKR_SYNC_GOOGLE_WRITES_PER_MINUTE",
            "window": "OKR_SYNC_GOOGLE_QUOTA_WINDOW",
            "attempts": "OKR_SYNC_GOOGLE_ATTEMPTS",
            "backoff": "OKR_SYNC_GOOGLE_BACKOFF",
            "timeout": "OKR_SYNC_GOOGLE_TIMEOUT",
        }
        limits = cls()
        for attr, env in names.items():
            raw = os.environ.get(env)
            if raw:
                kind = type(getattr(limits, attr))
                try:
                    limits = replace(limits, **{attr: kind(float(raw))})
                except ValueError:
                    raise ConfigError(f"{env}={raw!r} is not a number.") from None
        return limits


class RateLimiter:
    """At most N requests of a kind in any window: counts requests in flight and those finished
    within the window, so the server, which sees each request between its send and its answer,
    can never count N+1."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._done: dict[str, deque[float]] = {"read": deque(), "write": deque()}
        self._flight = {"read": 0, "write": 0}
        self._cond = threading.Condition()
        self.waited = 0.0

    def _cap(self, kind: str) -> int:
        return self.limits.reads if kind == "read" else self.limits.writes

    @contextmanager
    def slot(self, kind: str | None) -> Iterator[None]:
        """Hold one request slot of `kind` (None: not a Sheets call, not limited)."""
        if kind is None:
            yield
            return
        with self._cond:
            while True:
                now = self.clock()
                done = self._done[kind]
                while done and done[0] <= now - self.limits.window:
                    done.popleft()
                if len(done) + self._flight[kind] < self._cap(kind):
                    break
                wait = (done[0] + self.limits.window - now) if done else 0.05
                start = self.clock()
                self._cond.wait(timeout=max(wait, 0.001))
                self.waited += self.clock() - start
            self._flight[kind] += 1
        try:
            yield
        finally:
            with self._cond:
                self._flight[kind] -= 1
                self._done[kind].append(self.clock())
                self._cond.notify_all()


_LIMITERS: dict[tuple[str, Limits], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(identity: str, limits: Limits) -> RateLimiter:
    """One limiter per credential, shared by every backend, rollup and Source reader using it."""
    with _LIMITERS_LOCK:
        key = (identity, limits)
        if key not in _LIMITERS:
            _LIMITERS[key] = RateLimiter(limits)
        return _LIMITERS[key]


def request_kind(method: str, url: str) -> str | None:
    """'read' or 'write' for Sheets calls as Google's quotas count them; None for Drive/OAuth."""
    path = url.split("?", 1)[0]
    if "/v4/spreadsheets" not in path:
        return None
    if method.upper() == "GET" or path.endswith(_READ_SUFFIXES):
        return "read"
    return "write"


def api_base() -> str | None:
    """The OKR_SYNC_GOOGLE_API_URL override without a trailing slash, if set."""
    base = os.environ.get(API_URL_ENV, "").strip().rstrip("/")
    return base or None


def rewrite_url(url: str, base: str | None) -> str:
    """Send a Google API URL to the override base (tests, proxies); unchanged without one."""
    if base:
        for host in GOOGLE_HOSTS:
            if url.startswith(host):
                return base + url[len(host) :]
    return url


def _retry_after(response: Any, cap: float) -> float:
    """Seconds a 429/503 answer asks to wait (Retry-After), capped; 0 when it says nothing."""
    if response is None:
        return 0.0
    try:
        return min(cap, max(0.0, float(response.headers.get("Retry-After", 0))))
    except (TypeError, ValueError):
        return 0.0


# ---------------------------------------------------------------- credentials


@dataclass
class LoadedCredentials:
    """google-auth credentials plus what messages need: the account and the file."""

    credentials: Any
    identity: str
    path: str


def load_credentials(path: str | None) -> LoadedCredentials:
    """A service-account key or an authorized-user file: the path given, else
    GOOGLE_APPLICATION_CREDENTIALS."""
    chosen = path or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not chosen:
        raise AuthError(
            _msg(
                'no Google credentials: set credentials = "key.json" in okr-sync.toml or the '
                "GOOGLE_APPLICATION_CREDENTIALS environment variable to a service-account key file "
                "(see docs/google.md)",
                '缺少 Google 凭据：请在 okr-sync.toml 中设置 credentials = "key.json"，或将环境变量 '
                "GOOGLE_APPLICATION_CREDENTIALS 设为服务账号密钥文件（见 docs/google.md）",
            )
        )
    file = Path(chosen).expanduser()
    try:
        info = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuthError(
            _msg(f"{file}: credentials file not found. Check the path", f"{file}：找不到凭据文件，请检查路径")
        ) from None
    except (OSError, ValueError) as exc:
        raise AuthError(
            _msg(f"{file}: not a Google credentials JSON file ({exc})", f"{file}：不是 Google 凭据 JSON 文件（{exc}）")
        ) from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            return LoadedCredentials(creds, str(info.get("client_email")), str(file))
        if kind == "authorized_user":
            from google.oauth2.credentials import Credentials

            creds = Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
            # The file does not say whose account it is unless gcloud recorded it.
            who = str(info.get("account") or f"the Google account that signed in for {file.name}")
            return LoadedCredentials(creds, who, str(file))
    except (ValueError, KeyError) as exc:
        raise AuthError(
            _msg(
                f"{file}: incomplete credentials ({exc}). Download the key again",
                f"{file}：凭据不完整（{exc}），请重新下载密钥",
            )
        ) from None
    raise AuthError(
        _msg(
            f"{file}: type {kind!r} is not supported; use a service-account key or an authorized-user file",
            f"{file}：不支持的凭据类型 {kind!r}；请使用服务账号密钥或 authorized-user 文件",
        )
    )


# ---------------------------------------------------------------- the client


class _RewritingSession(requests.Session):
    """google-auth's own calls (token refresh, its access-boundary lookup) follow the override
    too, so nothing leaves for Google when a base URL is set."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().request(method, _ANY_GOOGLE_HOST.sub(self.base, url), *args, **kwargs)


class _LimitedSession(AuthorizedSession):  # type: ignore[misc]
    """The session gspread talks through: host override, quota limiter, retries with backoff."""

    def __init__(self, credentials: Any, client: GoogleClient, base: str | None) -> None:
        auth_request = google.auth.transport.requests.Request(_RewritingSession(base)) if base else None
        super().__init__(credentials, auth_request=auth_request)
        self.client = client
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        client, limits = self.client, self.client.limits
        url = rewrite_url(url, self.base)
        kind = request_kind(method, url)
        once = client.sending_once
        response, last = None, None
        for attempt in range(limits.attempts):
            response, last = None, None
            with client.limiter.slot(kind):
                client.calls[kind or "drive"] += 1
                try:
                    response = super().request(method, url, *args, **kwargs)
                except (requests.Timeout, requests.ConnectionError) as exc:
                    last = exc
            if response is not None and response.status_code not in RETRY_STATUSES:
                return response
            if once and not _never_applied(response, last):
                # It may have been applied: the caller looks before anything is sent again.
                raise AnswerLost(f"no answer to {method.upper()} {url.split('?')[0]}")
            if attempt + 1 == limits.attempts:
                break
            client.retries += 1
            # Exponential, capped, with jitter so many units do not retry in lock-step.
            delay = min(limits.backoff_cap, limits.backoff * 2**attempt) * random.uniform(0.5, 1.0)
            client.sleep(max(delay, _retry_after(response, limits.backoff_cap)))
        if response is not None:
            return response  # gspread raises APIError; errors() words it for people
        assert last is not None
        raise last


class GoogleClient:
    """gspread's HTTP client on a session that rewrites hosts, limits per credential and retries."""

    def __init__(
        self, credentials: str | None = None, limits: Limits | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        loaded = load_credentials(credentials)
        self.identity = loaded.identity
        self.credentials_path = loaded.path
        self.limits = limits or Limits.from_env()
        self.limiter = limiter_for(self.identity, self.limits)
        self.sleep = sleep
        self.calls: dict[str, int] = {"read": 0, "write": 0, "drive": 0}
        self.retries = 0
        self._once = threading.local()
        session = _LimitedSession(loaded.credentials, self, api_base())
        self.http = gspread.http_client.HTTPClient(loaded.credentials, session=session)
        self.http.set_timeout(self.limits.timeout)

    @property
    def sending_once(self) -> bool:
        """True while a non-idempotent call is in flight on this thread (see `once`)."""
        return bool(getattr(self._once, "active", False))

    @contextmanager
    def once(self) -> Iterator[None]:
        """Send a non-idempotent call at most once past the point where Google may have applied
        it: a 429 or a refused connection is retried, a lost answer raises AnswerLost."""
        self._once.active = True
        try:
            yield
        finally:
            self._once.active = False

    @contextmanager
    def errors(self, what: str) -> Iterator[None]:
        """Turn transport and API failures into okr-sync errors that name `what` and what to do."""
        try:
            yield
        except gspread.exceptions.APIError as exc:
            raise self._api_error(what, exc) from None
        except RefreshError as exc:
            raise AuthError(
                _msg(
                    f"{what}: Google refused the credentials in {self.credentials_path} ({exc.args[0]}"
                    "). The key may be expired, revoked or deleted: create a new key and point "
                    "credentials at it",
                    f"{what}：Google 拒绝了 {self.credentials_path} 中的凭据（{exc.args[0]}）。密钥可能已"
                    "过期、被撤销或删除：请创建新密钥并更新 credentials 设置",
                )
            ) from None
        except (requests.RequestException, TransportError) as exc:
            raise RemoteError(
                _msg(
                    f"{what}: Google did not answer after {self.limits.attempts} tries "
                    f"({type(exc).__name__}). Check the network and run again",
                    f"{what}：重试 {self.limits.attempts} 次后 Google 仍无响应（{type(exc).__name__}）。"
                    "请检查网络后重新运行",
                )
            ) from None

    def _api_error(self, what: str, exc: Any) -> RemoteError:
        code = int(getattr(exc, "code", 0) or 0)
        detail = str(getattr(exc, "error", {}).get("message", "")) or str(exc)
        if code in (403, 404):
            return AuthError(
                _msg(
                    f"{what}: the account {self.identity} cannot open it ({detail}). Share the "
                    f"spreadsheet with {self.identity} as Editor (Share button), or check the link",
                    f"{what}：账号 {self.identity} 无法打开它（{detail}）。请将该表格以“编辑者”身份共享给 "
                    f"{self.identity}（右上角“共享”），或检查链接是否正确",
                )
            )
        if code == 401:
            return AuthError(
                _msg(
                    f"{what}: Google rejected the credentials of {self.identity} ({detail}). Create "
                    "a new key and run again",
                    f"{what}：Google 拒绝了 {self.identity} 的凭据（{detail}）。请创建新密钥后重新运行",
                )
            )
        if code == 429:
            return QuotaError(
                _msg(
                    f"{what}: Google's quota stayed exceeded after {self.limits.attempts} tries. Run "
                    "again in a minute, or lower OKR_SYNC_GOOGLE_READS_PER_MINUTE",
                    f"{what}：重试 {self.limits.attempts} 次后仍超出 Google 配额。请一分钟后再运行，或调低 "
                    "OKR_SYNC_GOOGLE_READS_PER_MINUTE",
                )
            )
        if code >= 500:
            return RemoteError(
                _msg(
                    f"{what}: Google answered {code} after {self.limits.attempts} tries ({detail}). Run again later",
                    f"{what}：重试 {self.limits.attempts} 次后 Google 仍返回 {code}（{detail}）。请稍后再运行",
                )
            )
        return RemoteError(
            _msg(
                f"{what}: Google refused the request ({code}: {detail})",
                f"{what}：Google 拒绝了请求（{code}：{detail}）",
            )
        )

    # ---- the calls okr-sync makes

    def get(self, key: str, fields: str, ranges: list[str] | None = None) -> dict[str, Any]:
        """spreadsheets.get with a field mask (and ranges when grid data is wanted)."""
        params: dict[str, Any] = {"fields": fields}
        if ranges:
            params["ranges"] = ranges
        return dict(self.http.request("get", f"{SHEETS_API}/{key}", params=params).json())

    def batch_get(self, key: str, ranges: list[str]) -> list[dict[str, Any]]:
        """values.batchGet, unformatted, dates as serial numbers."""
        params = {
            "ranges": ranges,
            "valueRenderOption": "UNFORMATTED_VALUE",
            "dateTimeRenderOption": "SERIAL_NUMBER",
            "majorDimension": "ROWS",
        }
        body = self.http.request("get", f"{SHEETS_API}/{key}/values:batchGet", params=params)
        return list(body.json().get("valueRanges", []))

    def batch_update(
        self,
        key: str,
        requests: list[dict[str, Any]],
        *,
        once: bool = False,
        response_ranges: list[str] | None = None,
        fields: str | None = None,
    ) -> dict[str, Any]:
        """spreadsheets.batchUpdate: all requests or none. `once`: never resent blind after a lost
        answer (AnswerLost instead). `response_ranges`: the answer carries the spreadsheet after
        the update, limited to those ranges and to the `fields` mask, saving a read."""
        body: dict[str, Any] = {"requests": requests}
        if response_ranges is not None:
            body |= {"includeSpreadsheetInResponse": True, "responseRanges": response_ranges}
        params: dict[str, Any] | None = {"fields": fields} if fields else None
        with self.once() if once else nullcontext():
            answer = self.http.request("post", f"{SHEETS_API}/{key}:batchUpdate", json=body, params=params)
        return dict(answer.json())

    def values_by_filter(self, key: str, data: list[dict[str, Any]]) -> dict[str, Any]:
        """values.batchUpdateByDataFilter, RAW: text is stored as text, never as a formula. The
        answer carries each written range's values after the write, to check where they went."""
        body = {
            "valueInputOption": "RAW",
            "data": data,
            "includeValuesInResponse": True,
            "responseValueRenderOption": "UNFORMATTED_VALUE",
        }
        url = f"{SHEETS_API}/{key}/values:batchUpdateByDataFilter"
        return dict(self.http.request("post", url, json=body).json())

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.http.request("post", SHEETS_API, json=body).json())

    def list_folder(self, folder: str) -> list[dict[str, Any]]:
        """Drive files.list: every spreadsheet in a folder (paged)."""
        q = f"'{folder}' in parents and mimeType = '{SHEETS_MIME}' and trashed = false"
        files: list[dict[str, Any]] = []
        token = ""
        while True:
            params: dict[str, Any] = {
                "q": q,
                "pageSize": 1000,
                "fields": "nextPageToken,files(id,name)",
                "supportsAllDrives": True,
                "includeItemsFromAllDrives": True,
            }
            if token:
                params["pageToken"] = token
            body = self.http.request("get", DRIVE_API, params=params).json()
            files.extend(body.get("files", []))
            token = body.get("nextPageToken") or ""
            if not token:
                return files

    def last_modifier(self, key: str) -> str | None:
        """Who edited the spreadsheet last, other than us: Drive revisions.list, the newest revision whose
        lastModifyingUser is not the caller (the service's own writes are revisions too)."""
        url = f"{DRIVE_API}/{quote(key)}/revisions"
        fields = "nextPageToken,revisions(modifiedTime,lastModifyingUser(displayName,emailAddress,me))"
        found: str | None = None
        token = ""
        while True:
            params: dict[str, Any] = {"pageSize": 1000, "fields": fields}
            if token:
                params["pageToken"] = token
            body = self.http.request("get", url, params=params).json()
            for revision in body.get("revisions", []):
                user = revision.get("lastModifyingUser") or {}
                if not user.get("me"):
                    found = user.get("displayName") or user.get("emailAddress") or found
            token = body.get("nextPageToken") or ""
            if not token:
                return found

    def share(self, key: str, email: str, role: str = "writer") -> None:
        """Drive permissions.create for one person."""
        url = f"{DRIVE_API}/{quote(key)}/permissions"
        body = {"type": "user", "role": role, "emailAddress": email}
        self.http.request("post", url, json=body, params={"sendNotificationEmail": "true", "supportsAllDrives": "true"})


# ---------------------------------------------------------------- helpers


def _never_applied(response: Any, error: BaseException | None) -> bool:
    """Failures that prove the call was not applied: Google's quota refusal (429, answered
    before any work) and a connection that was never made."""
    if response is not None:
        return bool(response.status_code == 429)
    return isinstance(error, requests.ConnectTimeout)


def spreadsheet_key(text: str) -> str:
    """The key of a spreadsheet from its link or the bare key."""
    text = text.strip()
    m = _KEY_RE.search(text)
    if m:
        return m.group(1)
    if _BARE_KEY_RE.match(text):
        return text
    raise ConfigError(
        _msg(
            f"{text!r} is not a Google Sheets link or key; copy the link from the browser's address bar",
            f"{text!r} 不是 Google 表格链接或 key；请从浏览器地址栏复制链接",
        )
    )


def spreadsheet_url(key: str) -> str:
    return f"https://docs.google.com/spreadsheets/d/{key}/edit"


def quote_sheet(title: str) -> str:
    """A sheet name as an A1 range prefix, always quoted ('It''s')."""
    return "'" + title.replace("'", "''") + "'"


EPOCH = dt.date(1899, 12, 30)


def cell_value(value: Any) -> CellValue:
    """An UNFORMATTED_VALUE cell as the engine reads it: numbers stay numbers (dates are serial
    numbers, which the value parser accepts), error strings become CellError, "" becomes None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value in ERROR_CODES:
        return CellError(value)
    return value  # type: ignore[no-any-return]


def raw_value(value: CellValue) -> Any:
    """A value for a RAW write: numbers and booleans as is, None as "" (clears), the rest as text."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
