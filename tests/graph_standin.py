"""A local stand-in for Microsoft Graph (drive items, content, upload sessions, workbook sessions, ranges,
$batch) and the Microsoft identity platform (OpenID configuration, device code, tokens), written from
Microsoft's documented behaviour and served over HTTPS on 127.0.0.1 with a throw-away CA.

It counts calls by name, answers 429 with Retry-After on demand, answers 412 to an upload whose If-Match
no longer matches, 423 to an upload of a workbook someone has open, and runs a test's hook before a named
call so a test can edit a workbook between two calls of a sync."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import openpyxl
from openpyxl.utils import get_column_letter

Answer = tuple[int, dict[str, str], bytes]
EPOCH = dt.datetime(1899, 12, 30)


# ---------------------------------------------------------------- a throw-away CA


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 and localhost signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "okr-sync test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


def app_certificate(folder: Path) -> tuple[Path, str]:
    """An app registration's certificate (self-signed, key and certificate in one PEM) and its SHA-1 thumbprint."""
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "okr-sync app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    path = folder / "okr-sync-app.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    der = cert.public_bytes(serialization.Encoding.DER)
    return path, hashlib.sha1(der).hexdigest()


# ---------------------------------------------------------------- the store


@dataclass
class Node:
    id: str
    name: str
    parent: str | None
    drive: str
    folder: bool
    content: bytes | None = None
    book: Any = None  # openpyxl workbook while the workbook API has it open
    version: int = 1
    guid: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    locked: bool = False
    dirty: bool = False  # the workbook API changed `book` since `content` was saved
    modified_by: dict[str, Any] = field(default_factory=dict)  # Graph's lastModifiedBy (an identitySet)

    @property
    def etag(self) -> str:
        return f'"{{{self.guid}}},{self.version}"'

    @property
    def ctag(self) -> str:
        return f'"c:{{{self.guid}}},{self.version}"'


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Answer:
    return _json(status, {"error": {"code": code, "message": message}}, headers)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class GraphStandIn:
    """The state behind the server: drives, items, workbooks, tokens, counters, faults and hooks."""

    def __init__(self, site: str = "https://contoso.sharepoint.com/sites/OKR", tenant: str = "contoso.onmicrosoft.com",
                 client_id: str = "11111111-2222-3333-4444-555555555555") -> None:
        self.site, self.tenant, self.client_id = site.rstrip("/"), tenant, client_id
        self.drive = "b!" + secrets.token_urlsafe(12)
        self.nodes: dict[str, Node] = {}
        self.root = self._node("root", None, folder=True)
        self.calls: Counter[str] = Counter()  # by name, requests inside a $batch included
        self.http = 0  # HTTP requests to Graph (a $batch is one), sign-in not included
        self.lock = threading.RLock()
        self.url = ""
        self.faults: dict[str, list[tuple[int, int | None]]] = {}
        self.hooks: dict[str, list[list[Any]]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.device_codes: dict[str, str | None] = {}
        self.sessions: dict[str, str] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.user = "okr-sync@contoso.com"
        self.caller: dict[str, Any] | None = None  # the token info of the request being answered
        self.upload_callers: dict[str, dict[str, Any] | None] = {}  # upload session -> who made it
        self.client_secret = "s3cret"
        self.thumbprints: set[str] = set()
        self.approve_device_codes = True
        self.token_lifetime = 3600
        self.page_size = 200

    # ---- building the store (tests)

    def _node(self, name: str, parent: Node | None, folder: bool, content: bytes | None = None) -> Node:
        node = Node(secrets.token_hex(8).upper(), name, parent.id if parent else None, self.drive, folder, content)
        self.nodes[node.id] = node
        return node

    def web_url(self, node: Node) -> str:
        parts = []
        cur: Node | None = node
        while cur is not None and cur.parent is not None:
            parts.append(cur.name)
            cur = self.nodes[cur.parent]
        return self.site + "/Shared Documents" + "".join("/" + p for p in reversed(parts))

    def find(self, url: str) -> Node | None:
        wanted = unquote(url).rstrip("/")
        for node in self.nodes.values():
            if self.web_url(node).rstrip("/") == wanted:
                return node
        return None

    def add_folder(self, path: str) -> str:
        parent = self.root
        for part in [p for p in path.split("/") if p]:
            found = next((n for n in self.nodes.values() if n.parent == parent.id and n.name == part), None)
            parent = found or self._node(part, parent, folder=True)
        return self.web_url(parent)

    def add_workbook(self, folder_url: str, name: str, content: bytes) -> str:
        parent = self.find(folder_url)
        assert parent is not None and parent.folder
        return self.web_url(self._node(name, parent, folder=False, content=content))

    def node(self, url: str) -> Node:
        node = self.find(url)
        assert node is not None, url
        return node

    def workbook(self, url: str) -> Any:
        """The openpyxl workbook of an item as it is now (people's edits and okr-sync's writes)."""
        with self.lock:
            return self._book(self.node(url))

    def edit(self, url: str, change: Callable[[Any], None], by: str | None = None) -> None:
        """A person's edit in Excel for the web: applied to the live workbook, bumping its tags. `by`
        ("Ana Li <ana@contoso.com>") becomes the item's lastModifiedBy."""
        with self.lock:
            node = self.node(url)
            change(self._book(node))
            self._touch(node)
            if by:
                name, _, email = by.partition(" <")
                node.modified_by = {"user": {"displayName": name.strip(), "email": email.rstrip(">")}}

    def content(self, url: str) -> bytes:
        with self.lock:
            return self._content(self.node(url))

    def fail(self, name: str, status: int = 429, times: int = 1, retry_after: int | None = 1) -> None:
        """Answer the next `times` calls named `name` with `status` (and Retry-After)."""
        self.faults.setdefault(name, []).extend([(status, retry_after)] * times)

    def before(self, name: str, hook: Callable[[], None], nth: int = 1) -> None:
        """Run `hook` once, just before the `nth` next call named `name` is answered."""
        self.hooks.setdefault(name, []).append([nth, hook])

    def reset_counts(self) -> None:
        self.calls.clear()
        self.http = 0

    def graph_calls(self) -> int:
        return sum(n for k, n in self.calls.items() if not k.startswith("login."))

    def write_calls(self) -> int:
        names = ("content.put", "uploadSession.create", "upload.put", "range.patch", "worksheets.add")
        return sum(self.calls[n] for n in names)

    # ---- workbooks

    def _book(self, node: Node) -> Any:
        if node.book is None:
            node.book = openpyxl.load_workbook(io.BytesIO(node.content or b""))
        return node.book

    def _content(self, node: Node) -> bytes:
        if node.book is not None and node.dirty:
            buffer = io.BytesIO()
            node.book.save(buffer)
            node.content, node.dirty = buffer.getvalue(), False
        return node.content or b""

    def _touch(self, node: Node) -> None:
        node.version += 1
        node.dirty = node.book is not None
        if self.caller is not None:  # a write through Graph: the caller is the item's last modifier
            node.modified_by = ({"application": {"displayName": "okr-sync", "id": self.client_id}}
                                if self.caller["app"] else {"user": {"displayName": "OKR sync",
                                                                     "email": self.caller["user"]}})

    def item_json(self, node: Node) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": node.id, "name": node.name, "eTag": node.etag, "cTag": node.ctag,
            "webUrl": quote(self.web_url(node), safe=":/"),
            "parentReference": {"driveId": node.drive, "driveType": "documentLibrary",
                                **({"id": node.parent} if node.parent else {})},
            "lastModifiedDateTime": "2026-11-15T10:00:00Z",
        }
        if node.modified_by:
            data["lastModifiedBy"] = node.modified_by
        if node.folder:
            data["folder"] = {"childCount": sum(1 for n in self.nodes.values() if n.parent == node.id)}
        else:
            data["size"] = len(self._content(node))
            data["file"] = {"mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        return data

    # ---- dispatch

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, *, inner: bool = False,
               auth: dict[str, Any] | None = None) -> Answer:
        parts = urlsplit(target)
        path, query = unquote(parts.path), parse_qs(parts.query)
        name, route = self._route(method, path)
        with self.lock:
            self.calls[name] += 1
            due = []
            for entry in self.hooks.get(name, []):
                entry[0] -= 1
                if entry[0] == 0:
                    due.append(entry[1])
            self.hooks[name] = [e for e in self.hooks.get(name, []) if e[0] > 0]
        for hook in due:
            hook()
        with self.lock:
            queue = self.faults.get(name)
            if queue:
                status, retry_after = queue.pop(0)
                extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                code = "TooManyRequests" if status == 429 else "serviceNotAvailable"
                return _error(status, code, "Please retry after the number of seconds in Retry-After.", extra)
            if route is None:
                return _error(400, "BadRequest", f"{method} {path} is not served by this stand-in")
            if name.startswith("login.") or name in ("download", "upload.put"):
                self.caller = self.upload_callers.get(path.rsplit("/", 1)[-1]) if name == "upload.put" else None
                try:
                    return route(query=query, headers=headers, body=body)
                finally:
                    self.caller = None
            if auth is None:
                auth = self._auth(headers)
                if auth is None:
                    return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
            if name.startswith(("workbook.", "range.", "usedRange.", "worksheets.")) and auth["app"]:
                return _error(403, "AccessDenied", "The workbook API does not support application permissions.")
            outer, self.caller = self.caller, auth
            try:
                return route(query=query, headers=headers, body=body, auth=auth)
            finally:
                self.caller = outer  # a $batch's inner request hands back to the batch

    def _auth(self, headers: dict[str, str]) -> dict[str, Any] | None:
        value = headers.get("authorization", "")
        token = value[7:] if value.lower().startswith("bearer ") else ""
        info = self.tokens.get(token)
        if info is None or info["expires"] < time.time():
            return None
        return info

    def _route(self, method: str, path: str) -> tuple[str, Callable[..., Answer] | None]:
        t = self.tenant
        rules: list[tuple[str, str, str, Callable[..., Answer]]] = [
            ("GET", rf"/{re.escape(t)}/v2\.0/\.well-known/openid-configuration", "login.openid", self._openid),
            ("POST", rf"/{re.escape(t)}/oauth2/v2\.0/devicecode", "login.devicecode", self._devicecode),
            ("POST", rf"/{re.escape(t)}/oauth2/v2\.0/token", "login.token", self._token),
            ("GET", r"/_download/(?P<item>[^/]+)", "download", self._download),
            ("PUT", r"/_upload/(?P<upload>[^/]+)", "upload.put", self._upload_put),
            ("POST", r"/v1\.0/\$batch", "$batch", self._batch),
            ("GET", r"/v1\.0/shares/(?P<share>[^/]+)/driveItem", "shares.get", self._share),
            ("GET", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)", "item.get", self._item_get),
            ("GET", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/children", "children", self._children),
            ("GET", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/content", "content.get", self._content_get),
            ("PUT", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/content", "content.put", self._put),
            ("PUT", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+):/(?P<name>[^/:]+):/content",
             "content.put", self._put),
            ("POST", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/createUploadSession",
             "uploadSession.create", self._upload_session),
            ("POST", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+):/(?P<name>[^/:]+):/createUploadSession",
             "uploadSession.create", self._upload_session),
            ("POST", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/workbook/createSession",
             "workbook.createSession", self._create_session),
            ("POST", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/workbook/closeSession",
             "workbook.closeSession", self._close_session),
            ("POST", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/workbook/worksheets/add",
             "worksheets.add", self._add_sheet),
            ("GET", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/workbook/worksheets/(?P<sheet>[^/]+)"
             r"/usedRange(\(valuesOnly=(true|false)\))?", "usedRange.get", self._used_range),
            ("GET", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/workbook/worksheets/(?P<sheet>[^/]+)"
             r"/range\(address='(?P<address>[^']+)'\)", "range.get", self._range_get),
            ("PATCH", r"/v1\.0/drives/(?P<drive>[^/]+)/items/(?P<item>[^/:]+)/workbook/worksheets/(?P<sheet>[^/]+)"
             r"/range\(address='(?P<address>[^']+)'\)", "range.patch", self._range_patch),
        ]
        for verb, pattern, name, fn in rules:
            m = re.fullmatch(pattern, path)
            if m and verb == method:
                params = m.groupdict()
                return name, lambda fn=fn, params=params, **kw: fn(**params, **kw)
        return f"{method} {path}", None

    # ---- identity platform

    def _openid(self, **_: Any) -> Answer:
        base = f"{self.url}/{self.tenant}"
        return _json(200, {
            "issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout", "response_types_supported": ["code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        })

    def _devicecode(self, body: bytes, **_: Any) -> Answer:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("client_id") != self.client_id:
            return _json(400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown app"})
        code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self.device_codes[code] = self.user if self.approve_device_codes else None
        return _json(200, {
            "device_code": code, "user_code": user_code, "verification_uri": "https://microsoft.com/devicelogin",
            "expires_in": 900, "interval": 1,
            "message": f"To sign in, use a web browser to open the page https://microsoft.com/devicelogin and "
                       f"enter the code {user_code} to authenticate.",
        })

    def _issue(self, user: str | None, scope: str) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        self.tokens[access] = {"app": user is None, "user": user, "expires": time.time() + self.token_lifetime}
        out: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.token_lifetime,
                               "ext_expires_in": self.token_lifetime, "access_token": access, "scope": scope}
        if user is not None:
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = user
            oid, tid = str(uuid.uuid5(uuid.NAMESPACE_DNS, user)), str(uuid.uuid5(uuid.NAMESPACE_DNS, self.tenant))
            now = int(time.time())
            claims = {"iss": f"{self.url}/{tid}/v2.0", "aud": self.client_id, "iat": now, "nbf": now,
                      "exp": now + 3600, "oid": oid, "sub": oid, "tid": tid, "preferred_username": user,
                      "name": "OKR sync", "ver": "2.0"}
            id_token = ".".join([_b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()),
                                 _b64url(json.dumps(claims).encode()), ""])
            out.update(refresh_token=refresh, id_token=id_token,
                       client_info=_b64url(json.dumps({"uid": oid, "utid": tid}).encode()))
        return out

    def _token(self, body: bytes, **_: Any) -> Answer:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("client_id") != self.client_id:
            return _json(400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown app"})
        grant = form.get("grant_type", "")
        scope = form.get("scope", "")
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            code = form.get("device_code", "")
            if code not in self.device_codes:
                return _json(400, {"error": "expired_token", "error_description": "AADSTS70020: expired"})
            user = self.device_codes[code]
            if user is None:
                return _json(400, {"error": "authorization_pending", "error_description": "AADSTS70016: pending"})
            del self.device_codes[code]
            return _json(200, self._issue(user, scope))
        if grant == "refresh_token":
            user = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if user is None:
                return _json(400, {"error": "invalid_grant", "error_description":
                                   "AADSTS700082: The refresh token has expired or was revoked."})
            return _json(200, self._issue(user, scope))
        if grant == "client_credentials":
            assertion = form.get("client_assertion", "")
            if assertion:
                header = json.loads(base64.urlsafe_b64decode(assertion.split(".")[0] + "=="))
                thumb = base64.urlsafe_b64decode(header.get("x5t", "") + "==").hex()
                if thumb not in self.thumbprints:
                    return _json(401, {"error": "invalid_client", "error_description": "AADSTS700027: bad cert"})
            elif form.get("client_secret") != self.client_secret:
                return _json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"})
            return _json(200, self._issue(None, scope))
        return _json(400, {"error": "unsupported_grant_type", "error_description": grant})

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()
        self.tokens = {k: v for k, v in self.tokens.items() if v["app"]}

    # ---- drive items

    def _get_node(self, item: str) -> Node | None:
        return self.nodes.get(item) if item != "root" else self.root

    def _share(self, share: str, **_: Any) -> Answer:
        if not share.startswith("u!"):
            return _error(400, "invalidRequest", "not an encoded sharing URL")
        url = base64.urlsafe_b64decode(share[2:] + "=" * (-len(share[2:]) % 4)).decode()
        node = self.find(url)
        if node is None:
            return _error(404, "itemNotFound", "The sharing link no longer exists, or you do not have permission.")
        return _json(200, self.item_json(node))

    def _item_get(self, item: str, **_: Any) -> Answer:
        node = self._get_node(item)
        if node is None:
            return _error(404, "itemNotFound", "The resource could not be found.")
        return _json(200, self.item_json(node))

    def _children(self, item: str, query: dict[str, list[str]], **_: Any) -> Answer:
        node = self._get_node(item)
        if node is None or not node.folder:
            return _error(404, "itemNotFound", "The resource could not be found.")
        kids = sorted((n for n in self.nodes.values() if n.parent == node.id), key=lambda n: n.name.casefold())
        top = min(int(query.get("$top", ["200"])[0]), self.page_size)
        skip = int(query.get("$skiptoken", ["0"])[0])
        body: dict[str, Any] = {"value": [self.item_json(n) for n in kids[skip:skip + top]]}
        if skip + top < len(kids):
            body["@odata.nextLink"] = (f"{self.url}/v1.0/drives/{node.drive}/items/{node.id}/children?"
                                       f"$top={top}&$skiptoken={skip + top}")
        return _json(200, body)

    def _content_get(self, item: str, **_: Any) -> Answer:
        node = self._get_node(item)
        if node is None or node.folder:
            return _error(404, "itemNotFound", "The resource could not be found.")
        # Documented: 302 Found to a pre-authenticated download URL.
        return 302, {"Location": f"{self.url}/_download/{node.id}?tempauth={secrets.token_hex(8)}"}, b""

    def _download(self, item: str, **_: Any) -> Answer:
        node = self.nodes.get(item)
        if node is None:
            return _error(404, "itemNotFound", "gone")
        return 200, {"Content-Type": "application/octet-stream", "ETag": node.etag}, self._content(node)

    def _precondition(self, node: Node, headers: dict[str, str]) -> Answer | None:
        wanted = headers.get("if-match")
        if wanted and wanted not in (node.etag, node.ctag):
            return _error(412, "resourceModified", "ETag does not match current item's value")
        if node.locked:
            return _error(423, "resourceLocked", f"The resource '{node.name}' is locked (open for editing).")
        return None

    def _put(self, item: str, body: bytes, headers: dict[str, str], query: dict[str, list[str]],
             name: str | None = None, **_: Any) -> Answer:
        node = self._get_node(item)
        if node is None:
            return _error(404, "itemNotFound", "The resource could not be found.")
        if name is not None:
            existing = next((n for n in self.nodes.values() if n.parent == node.id and n.name == name), None)
            if existing is not None:
                if query.get("@microsoft.graph.conflictBehavior", ["replace"])[0] == "fail":
                    return _error(409, "nameAlreadyExists", "The specified item name already exists.")
                node, name = existing, None
            else:
                created = self._node(name, node, folder=False, content=body)
                return _json(201, self.item_json(created))
        failed = self._precondition(node, headers)
        if failed:
            return failed
        node.content, node.book = body, None
        self._touch(node)
        return _json(200, self.item_json(node))

    def _upload_session(self, item: str, headers: dict[str, str], body: bytes, name: str | None = None,
                        **_: Any) -> Answer:
        node = self._get_node(item)
        if node is None:
            return _error(404, "itemNotFound", "The resource could not be found.")
        target, parent = node, None
        if name is not None:
            existing = next((n for n in self.nodes.values() if n.parent == node.id and n.name == name), None)
            behaviour = (json.loads(body or b"{}").get("item") or {}).get("@microsoft.graph.conflictBehavior")
            if existing is not None and behaviour == "fail":
                return _error(409, "nameAlreadyExists", "The specified item name already exists.")
            target, parent = existing, node
        if target is not None:
            failed = self._precondition(target, headers)
            if failed:
                return failed
        token = secrets.token_urlsafe(16)
        self.upload_callers[token] = self.caller
        self.uploads[token] = {"target": target.id if target else None, "parent": parent.id if parent else None,
                               "name": name, "data": bytearray(), "etag": headers.get("if-match")}
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return _json(200, {"uploadUrl": f"{self.url}/_upload/{token}", "expirationDateTime": expires,
                           "nextExpectedRanges": ["0-"]})

    def _upload_put(self, upload: str, headers: dict[str, str], body: bytes, **_: Any) -> Answer:
        session = self.uploads.get(upload)
        if session is None:
            return _error(404, "itemNotFound", "The upload session was not found.")
        if "authorization" in headers:
            return _error(401, "unauthenticated", "Do not send an Authorization header to the uploadUrl.")
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers.get("content-range", ""))
        if not m or int(m.group(1)) != len(session["data"]) or int(m.group(2)) - int(m.group(1)) + 1 != len(body):
            return _error(416, "invalidRange", "The fragment does not start at the next expected byte.")
        total = int(m.group(3))
        if len(body) % (320 * 1024) and int(m.group(2)) + 1 != total:
            return _error(400, "invalidRange", "Fragments must be a multiple of 320 KiB.")
        session["data"] += body
        if len(session["data"]) < total:
            return _json(202, {"expirationDateTime": "2099-01-01T00:00:00Z",
                               "nextExpectedRanges": [f"{len(session['data'])}-"]})
        del self.uploads[upload]
        if session["target"] is None:
            node = self._node(session["name"], self.nodes[session["parent"]], folder=False,
                              content=bytes(session["data"]))
            return _json(201, self.item_json(node))
        node = self.nodes[session["target"]]
        failed = self._precondition(node, {"if-match": session["etag"]} if session["etag"] else {})
        if failed:
            return failed
        node.content, node.book = bytes(session["data"]), None
        self._touch(node)
        return _json(200, self.item_json(node))

    # ---- workbook API

    def _session_book(self, item: str, headers: dict[str, str]) -> tuple[Node | None, Answer | None]:
        node = self._get_node(item)
        if node is None or node.folder:
            return None, _error(404, "itemNotFound", "The resource could not be found.")
        sid = headers.get("workbook-session-id")
        if sid is not None and self.sessions.get(sid) != node.id:
            return None, _error(404, "InvalidSessionNotFound", "The target session is invalid or expired.")
        return node, None

    def _create_session(self, item: str, **_: Any) -> Answer:
        node = self._get_node(item)
        if node is None or node.folder:
            return _error(404, "itemNotFound", "The resource could not be found.")
        sid = "cluster=US5&session=" + secrets.token_hex(12)
        self.sessions[sid] = node.id
        return _json(201, {"id": sid, "persistChanges": True})

    def _close_session(self, item: str, headers: dict[str, str], **_: Any) -> Answer:
        self.sessions.pop(headers.get("workbook-session-id", ""), None)
        return 204, {}, b""

    def _sheet(self, node: Node, sheet: str) -> Any:
        book = self._book(node)
        return book[sheet] if sheet in book.sheetnames else None

    def _add_sheet(self, item: str, headers: dict[str, str], body: bytes, **_: Any) -> Answer:
        node, failed = self._session_book(item, headers)
        if failed:
            return failed
        assert node is not None
        name = json.loads(body or b"{}").get("name")
        book = self._book(node)
        if name in book.sheetnames:
            return _error(400, "ItemAlreadyExists", "A resource with the same name or identifier already exists.")
        book.create_sheet(name)
        self._touch(node)
        return _json(201, {"id": "{" + str(uuid.uuid4()).upper() + "}", "name": name,
                           "position": len(book.sheetnames) - 1, "visibility": "Visible"})

    @staticmethod
    def _out(value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            return (value - EPOCH).total_seconds() / 86400
        if isinstance(value, dt.date):
            return (dt.datetime.combine(value, dt.time()) - EPOCH).days
        if isinstance(value, str) and value.startswith("="):
            return 0  # a formula's value; this stand-in does not calculate
        return value

    def _range_answer(self, sheet: str, ws: Any, r0: int, c0: int, r1: int, c1: int) -> Answer:
        values = [[self._out(ws.cell(r, c).value) for c in range(c0, c1 + 1)] for r in range(r0, r1 + 1)]
        address = f"{sheet}!{get_column_letter(c0)}{r0}" + (
            f":{get_column_letter(c1)}{r1}" if (r0, c0) != (r1, c1) else "")
        return _json(200, {"address": address, "rowCount": r1 - r0 + 1, "columnCount": c1 - c0 + 1,
                           "values": values})

    def _used_range(self, item: str, sheet: str, headers: dict[str, str], **_: Any) -> Answer:
        node, failed = self._session_book(item, headers)
        if failed:
            return failed
        assert node is not None
        ws = self._sheet(node, sheet)
        if ws is None:
            return _error(404, "ItemNotFound", f"The requested resource doesn't exist: worksheet '{sheet}'.")
        cells = [(r, c) for (r, c), cell in ws._cells.items() if cell.value not in (None, "")]
        if not cells:
            return _json(200, {"address": f"{sheet}!A1", "values": [[""]], "rowCount": 1, "columnCount": 1})
        rows, cols = [r for r, _ in cells], [c for _, c in cells]
        return self._range_answer(sheet, ws, min(rows), min(cols), max(rows), max(cols))

    @staticmethod
    def _address(address: str) -> tuple[int, int, int, int]:
        from openpyxl.utils.cell import range_boundaries

        c0, r0, c1, r1 = range_boundaries(address.split("!")[-1])
        return r0, c0, r1, c1

    def _range_get(self, item: str, sheet: str, address: str, headers: dict[str, str], **_: Any) -> Answer:
        node, failed = self._session_book(item, headers)
        if failed:
            return failed
        assert node is not None
        ws = self._sheet(node, sheet)
        if ws is None:
            return _error(404, "ItemNotFound", f"The requested resource doesn't exist: worksheet '{sheet}'.")
        return self._range_answer(sheet, ws, *self._address(address))

    def _range_patch(self, item: str, sheet: str, address: str, headers: dict[str, str], body: bytes,
                     **_: Any) -> Answer:
        node, failed = self._session_book(item, headers)
        if failed:
            return failed
        assert node is not None
        ws = self._sheet(node, sheet)
        if ws is None:
            return _error(404, "ItemNotFound", f"The requested resource doesn't exist: worksheet '{sheet}'.")
        r0, c0, r1, c1 = self._address(address)
        values = json.loads(body).get("values")
        if not isinstance(values, list) or len(values) != r1 - r0 + 1 or any(
                not isinstance(row, list) or len(row) != c1 - c0 + 1 for row in values):
            return _error(400, "InvalidArgument", "The number of rows or columns in the input array doesn't match "
                                                  "the size or dimensions of the range.")
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                if value is None:
                    continue  # documented: a null input leaves that cell as it is
                cell = ws.cell(r0 + i, c0 + j)
                if isinstance(value, str) and value.startswith("'"):
                    cell.value = value[1:]
                    cell.data_type = "s"
                    cell.quotePrefix = True
                elif value == "":
                    cell.value = None
                else:
                    cell.value = value  # a string beginning with = becomes a formula, as in Excel
        self._touch(node)
        return self._range_answer(sheet, ws, r0, c0, r1, c1)

    # ---- $batch

    def _batch(self, body: bytes, headers: dict[str, str], auth: dict[str, Any], **_: Any) -> Answer:
        requests = json.loads(body).get("requests", [])
        if len(requests) > 20:
            return _error(400, "BadRequest", "The number of batch requests exceeds the limit of 20.")
        ids = [r.get("id") for r in requests]
        out: list[dict[str, Any]] = []
        status_of: dict[str, int] = {}
        for request in requests:
            for dep in request.get("dependsOn", []):
                if dep not in ids:
                    return _error(400, "BadRequest", f"dependsOn names {dep}, not in this batch")
            if any(status_of.get(d, 0) >= 400 for d in request.get("dependsOn", [])):
                status_of[request["id"]] = 424
                out.append({"id": request["id"], "status": 424,
                            "body": {"error": {"code": "FailedDependency", "message": "a dependency failed"}}})
                continue
            inner_headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
            raw = json.dumps(request["body"]).encode() if "body" in request else b""
            status, answer_headers, answer = self.handle(request["method"].upper(), "/v1.0" + request["url"],
                                                         inner_headers, raw, inner=True, auth=auth)
            status_of[request["id"]] = status
            parsed: Any = json.loads(answer) if answer else None
            out.append({"id": request["id"], "status": status, "headers": answer_headers,
                        **({"body": parsed} if parsed is not None else {})})
        return _json(200, {"responses": out})


class _Handler(BaseHTTPRequestHandler):
    standin: GraphStandIn

    def log_message(self, *_: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "/oauth2/" not in self.path and "/.well-known/" not in self.path:
            with self.standin.lock:
                self.standin.http += 1
        status, answer_headers, answer = self.standin.handle(self.command, self.path, headers, body)
        self.send_response(status)
        for k, v in answer_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class StandInServer:
    """Serve a GraphStandIn over HTTPS on 127.0.0.1 (a free port) while the context is open."""

    def __init__(self, standin: GraphStandIn, cert: Path, key: Path) -> None:
        handler = type("Handler", (_Handler,), {"standin": standin})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        standin.url = self.url
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> StandInServer:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
