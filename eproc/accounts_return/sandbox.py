"""An offline imitation of the DfE's Accounts Return service, to develop and test an FMS against: the consent
page of a dummy trust's approver, the token endpoint (short-lived access tokens, rotating refresh tokens), and
``PUT/GET/DELETE /api/submissions`` with the DfE's status codes, error bodies and validations (this package's
validator, with the trust's academies and status), the subscription-key check, one submission per trust per
period, and 403 for another trust's submission.

State is in memory: a restart forgets tokens and submissions, as a test environment may.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import socketserver
import threading
import time
import tomllib
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .coa import CoaError, read_codes
from .validator import ACADEMY, CodeList, Options, TrustStatus, coa_version_ok, validate

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

MISSING_KEY = ("Access denied due to missing subscription key. Make sure to include subscription key when making "
               "requests to an API.")
INVALID_KEY = ("Access denied due to invalid subscription key. Make sure to provide a valid key for an active "
               "subscription.")
BAD_BEARER_MESSAGE = "Unauthorized. Access token is missing or invalid."
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class SandboxConfigError(Exception):
    """The sandbox's configuration file is unusable; the message names the file and the entry."""


@dataclass(frozen=True)
class Trust:
    name: str
    upin: str | None
    company_number: str | None
    academies: frozenset[str]
    status: TrustStatus
    approvers: Mapping[str, str] = field(repr=False)  # username -> password: Data Transfer Approvers


@dataclass(frozen=True)
class ClientApp:
    client_id: str
    client_secret: str = field(repr=False)
    subscription_key: str = field(repr=False)
    redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxConfig:
    trusts: tuple[Trust, ...]
    clients: tuple[ClientApp, ...]
    active_coa_version: str | None = None
    code_lists: Mapping[str, CodeList] = field(default_factory=dict)
    access_token_lifetime: float = 600
    refresh_token_lifetime: float = 3600
    code_lifetime: float = 600
    period: str = "2025/26"
    strict_range: bool = False
    demo: bool = False


DEMO_CLIENT = ClientApp("demo-fms", "demo-client-secret", "demo-subscription-key",
                        ("http://127.0.0.1:8765/callback",))
DEMO_TRUSTS = (
    Trust("Demo Academy Trust", "100001", "10000001", frozenset({"100-1001", "100-1002", "100-1003", "100-1004"}),
          TrustStatus.OPEN, {"approver@demo-trust.example": "demo-approver-password"}),
    Trust("Other Academy Trust", "200002", "20000002", frozenset({"200-2001"}), TrustStatus.OPEN,
          {"approver@other-trust.example": "other-approver-password"}),
    Trust("Closed Academy Trust", "300003", "30000003", frozenset({"300-3001"}), TrustStatus.CLOSED,
          {"approver@closed-trust.example": "closed-approver-password"}),
)


def demo_config() -> SandboxConfig:
    """The set-up used when no configuration file is given (printed at start, as ``make run`` prints its demo
    school). Its CoA version is 2.0.0 with no code list, so codes are checked by pattern only."""
    return SandboxConfig(DEMO_TRUSTS, (DEMO_CLIENT,), active_coa_version="2.0.0", demo=True)


def _str(entry: Mapping[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None:
        if required:
            raise SandboxConfigError(f"{where}: {key} is missing")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise SandboxConfigError(f"{where}: {key} must be text")
    return str(value)


def load_sandbox_config(path: Path) -> SandboxConfig:
    """Read a TOML file of ``[sandbox]`` settings, ``[[clients]]``, ``[[trusts]]`` and ``[[coa]]`` versions."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SandboxConfigError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SandboxConfigError(f"{path}: not TOML ({exc})") from None
    settings = data.get("sandbox", {})
    clients = []
    for i, entry in enumerate(data.get("clients", []), start=1):
        where = f"{path}: clients #{i}"
        uris = entry.get("redirect_uris", [])
        if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris) or not uris:
            raise SandboxConfigError(f"{where}: redirect_uris must be a non-empty list of addresses")
        clients.append(ClientApp(str(_str(entry, "client_id", where)), str(_str(entry, "client_secret", where)),
                                 str(_str(entry, "subscription_key", where)), tuple(uris)))
    trusts = []
    for i, entry in enumerate(data.get("trusts", []), start=1):
        where = f"{path}: trusts #{i}"
        upin, company = _str(entry, "upin", where, False), _str(entry, "company_number", where, False)
        if upin is None and company is None:
            raise SandboxConfigError(f"{where}: give upin, company_number or both")
        if upin is not None and not re.fullmatch(r"[0-9]{6}", upin):
            raise SandboxConfigError(f"{where}: upin {upin!r} is not 6 digits")
        if company is not None and not re.fullmatch(r"[0-9]{8}", company):
            raise SandboxConfigError(f"{where}: company_number {company!r} is not 8 digits")
        academies = entry.get("academies", [])
        bad = [a for a in academies if not isinstance(a, str) or not ACADEMY.search(a)]
        if bad:
            raise SandboxConfigError(f"{where}: {bad[0]!r} is not an academy number nnn-nnnn")
        try:
            status = TrustStatus(entry.get("status", "open"))
        except ValueError:
            raise SandboxConfigError(f"{where}: status must be one of "
                                     f"{', '.join(s.value for s in TrustStatus)}") from None
        approvers = {}
        for approver in entry.get("approvers", []):
            approvers[str(_str(approver, "username", where))] = str(_str(approver, "password", where))
        trusts.append(Trust(str(entry.get("name", f"Trust {i}")), upin, company, frozenset(academies), status,
                            approvers))
    code_lists = {}
    for i, entry in enumerate(data.get("coa", []), start=1):
        where = f"{path}: coa #{i}"
        version = str(_str(entry, "version", where))
        if not coa_version_ok(version):
            raise SandboxConfigError(f"{where}: version {version!r} is not X.Y.Z")
        if "codes_file" in entry:
            try:
                codes, sections = read_codes(path.parent / str(entry["codes_file"]))
            except CoaError as exc:
                raise SandboxConfigError(f"{where}: {exc}") from None
        else:
            codes, sections = frozenset(str(c) for c in entry.get("codes", [])), {}
        code_lists[version] = CodeList(version, codes, sections)
    if not clients or not trusts:
        raise SandboxConfigError(f"{path}: needs at least one [[clients]] and one [[trusts]] entry")
    active = settings.get("active_coa_version")
    if active is not None and not coa_version_ok(str(active)):
        raise SandboxConfigError(f"{path}: [sandbox] active_coa_version {active!r} is not X.Y.Z")
    try:
        return SandboxConfig(
            tuple(trusts), tuple(clients), str(active) if active else None, code_lists,
            float(settings.get("access_token_lifetime", 600)), float(settings.get("refresh_token_lifetime", 3600)),
            float(settings.get("code_lifetime", 600)), str(settings.get("period", "2025/26")),
            bool(settings.get("strict_range", False)))
    except (TypeError, ValueError) as exc:
        raise SandboxConfigError(f"{path}: [sandbox]: {exc}") from None


def describe(config: SandboxConfig, base_url: str) -> str:
    """What a supplier needs to point the client at this sandbox (the demo's secrets are dummies)."""
    lines = [f"AR sandbox on {base_url}" + (" (demo set-up: no --config given)" if config.demo else "")]
    for client in config.clients:
        lines.append(f"  client  EPROC_AR_PROFILE=sandbox EPROC_AR_SANDBOX_URL={base_url} "
                     f"EPROC_AR_CLIENT_ID={client.client_id}")
        if config.demo:
            lines.append(f"          EPROC_AR_CLIENT_SECRET={client.client_secret} "
                         f"EPROC_AR_SUBSCRIPTION_KEY={client.subscription_key}")
        lines.append(f"          EPROC_AR_REDIRECT_URI={client.redirect_uris[0]}")
    for trust in config.trusts:
        ids = ", ".join(x for x in (f"company_number {trust.company_number}" if trust.company_number else "",
                                    f"UPIN {trust.upin}" if trust.upin else "") if x)
        lines.append(f"  trust   {trust.name}: {ids}; academies {', '.join(sorted(trust.academies)) or 'none'}; "
                     f"{trust.status.value}")
        for username, password in trust.approvers.items():
            lines.append(f"          approver {username}" + (f" / {password}" if config.demo else ""))
    lines.append(f"  period {config.period}; active CoA {config.active_coa_version or 'none (any version)'}; "
                 f"code lists: {', '.join(config.code_lists) or 'none (codes checked by pattern)'}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- state


@dataclass
class _Grant:
    client_id: str
    trust: Trust
    scope: str
    expires_at: float
    redirect_uri: str = ""


@dataclass
class _Submission:
    guid: str
    trust: Trust
    text: str
    submitted: str


class Sandbox:
    """The WSGI application. ``fail_next(n)`` makes the next n API calls answer 503 (to exercise retries)."""

    max_body_bytes = 16 * 1024 * 1024

    def __init__(self, config: SandboxConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, str]] = {}  # consent form id -> authorize parameters
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._submissions: dict[tuple[str, str], _Submission] = {}  # (trust key, period) -> its submission
        self._unavailable = 0

    def fail_next(self, calls: int) -> None:
        with self._lock:
            self._unavailable = calls

    # -- WSGI

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        try:
            if path == "/oauth2/v2.0/authorize" and method == "GET":
                status, headers, data = self._authorize_page(environ)
            elif path == "/oauth2/v2.0/authorize" and method == "POST":
                status, headers, data = self._consent(environ)
            elif path == "/oauth2/v2.0/token" and method == "POST":
                status, headers, data = self._token(environ)
            elif path == "/api/submissions" or path.startswith("/api/submissions/"):
                status, headers, data = self._api(environ, method, path)
            elif path == "/" and method == "GET":
                status, headers, data = _page(200, "eproc AR sandbox", "<p>The DfE Accounts Return sandbox.</p>")
            else:
                status, headers, data = _json(404, {"statusCode": 404, "message": "Resource not found"})
        except Exception:  # the DfE's catch-all: an answer, never a dropped connection
            status, headers, data = _json(500, {"type": "unknownException"})
        start_response(status, headers)
        return [data]

    # -- consent

    def _client(self, client_id: str | None) -> ClientApp | None:
        return next((c for c in self.config.clients if c.client_id == client_id), None)

    def _redirect_ok(self, client: ClientApp, uri: str) -> bool:
        if uri in client.redirect_uris:
            return True
        # RFC 8252 7.3: a loopback redirect URI matches whatever its port.
        parts = urlsplit(uri)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return False
        for registered in client.redirect_uris:
            reg = urlsplit(registered)
            if (reg.scheme, reg.hostname, reg.path) == (parts.scheme, parts.hostname, parts.path):
                return True
        return False

    def _authorize_page(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        params = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        client = self._client(params.get("client_id"))
        if client is None:
            return _page(400, "Sign-in error", "<p>invalid_client: the client_id is not registered.</p>")
        redirect_uri = params.get("redirect_uri", "")
        if not self._redirect_ok(client, redirect_uri):
            return _page(400, "Sign-in error",
                         "<p>invalid_request: the redirect_uri is not registered for this application.</p>")
        state = params.get("state")

        def refuse(error: str, description: str) -> tuple[str, list[tuple[str, str]], bytes]:
            return _redirect(redirect_uri, {"error": error, "error_description": description, "state": state})

        if params.get("response_type") != "code":
            return refuse("unsupported_response_type", "response_type must be code")
        if "client_secret" in params:
            return refuse("invalid_request", "the client secret must never be sent to the authorize endpoint")
        if not params.get("scope"):
            return refuse("invalid_request", "scope is missing")
        family = params.get("apiFamily") or params.get("apifamily")
        if family != "bfrp-ar":
            return refuse("invalid_request", "apiFamily must be bfrp-ar")
        upin, company = params.get("upin"), params.get("companyNumber")
        if (upin is None) == (company is None):
            return refuse("invalid_request", "provide exactly one of upin or companyNumber")
        if upin is not None and not re.fullmatch(r"[0-9]{6}", upin):
            return refuse("invalid_request", "upin must be 6 digits")
        if company is not None and not re.fullmatch(r"[0-9]{8}", company):
            return refuse("invalid_request", "companyNumber must be 8 digits")
        trust = self._trust(upin, company)
        if trust is None:
            return refuse("invalid_request", "no trust has that " + ("UPIN" if upin else "Companies House number"))
        form_id = secrets.token_urlsafe(16)
        with self._lock:
            self._pending[form_id] = params
        return _page(200, "Consent", _consent_form(form_id, client, trust, ""))

    def _trust(self, upin: str | None, company: str | None) -> Trust | None:
        for trust in self.config.trusts:
            if (upin and trust.upin == upin) or (company and trust.company_number == company):
                return trust
        return None

    def _consent(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        form = {k: v[0] for k, v in parse_qs(_read(environ, 64 * 1024).decode("utf-8", "replace")).items()}
        with self._lock:
            params = self._pending.get(form.get("form_id", ""))
        if params is None:
            return _page(400, "Sign-in error", "<p>This consent form has expired: start the sign-in again.</p>")
        client = self._client(params.get("client_id"))
        trust = self._trust(params.get("upin"), params.get("companyNumber"))
        assert client is not None and trust is not None
        redirect_uri, state = params["redirect_uri"], params.get("state")
        if form.get("decision") != "consent":
            with self._lock:
                self._pending.pop(form["form_id"], None)
            return _redirect(redirect_uri, {"error": "access_denied", "error_description": "the user refused consent",
                                            "state": state})
        password = trust.approvers.get(form.get("username", ""))
        if password is None or not secrets.compare_digest(password, form.get("password", "")):
            return _page(401, "Consent", _consent_form(
                form["form_id"], client, trust, "That login does not hold the Data Transfer Approver role for this "
                "trust, or its password is wrong."))
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._pending.pop(form["form_id"], None)
            self._codes[code] = _Grant(client.client_id, trust, params.get("scope", ""),
                                       self._clock() + self.config.code_lifetime, redirect_uri)
        return _redirect(redirect_uri, {"code": code, "state": state})

    # -- tokens

    def _token(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        form = {k: v[0] for k, v in parse_qs(_read(environ, 64 * 1024).decode("utf-8", "replace")).items()}
        client = self._client(form.get("client_id"))
        if client is None or not secrets.compare_digest(client.client_secret, form.get("client_secret", "")):
            return _json(401, {"error": "invalid_client", "error_description": "unknown client_id or wrong secret"})
        grant_type = form.get("grant_type")
        now = self._clock()
        with self._lock:
            if grant_type == "authorization_code":
                grant = self._codes.pop(form.get("code", ""), None)  # single use, whatever happens next
                if grant is None or grant.expires_at <= now or grant.client_id != client.client_id:
                    return _oauth_error("the authorization code is unknown, used or expired")
                if form.get("redirect_uri") and form["redirect_uri"] != grant.redirect_uri:
                    return _oauth_error("redirect_uri differs from the authorize request's")
            elif grant_type == "refresh_token":
                grant = self._refresh.pop(form.get("refresh_token", ""), None)  # rotation: the old one dies now
                if grant is None or grant.expires_at <= now or grant.client_id != client.client_id:
                    return _oauth_error("the refresh token is unknown, already used or expired")
            else:
                return _json(400, {"error": "unsupported_grant_type", "error_description": "use authorization_code "
                                   "or refresh_token"})
            access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            self._access[access] = _Grant(client.client_id, grant.trust, grant.scope,
                                          now + self.config.access_token_lifetime)
            self._refresh[refresh] = _Grant(client.client_id, grant.trust, grant.scope,
                                            now + self.config.refresh_token_lifetime)
        lifetime = int(self.config.access_token_lifetime)
        return _json(200, {"access_token": access, "id_token": secrets.token_urlsafe(32), "token_type": "Bearer",
                           "not_before": int(now), "expires_in": lifetime, "id_token_expires_in": lifetime,
                           "refresh_token": refresh,
                           "refresh_token_expires_in": int(self.config.refresh_token_lifetime),
                           "scope": grant.scope}, extra=[("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    # -- the API

    def _api(self, environ: Environ, method: str, path: str) -> tuple[str, list[tuple[str, str]], bytes]:
        key = environ.get("HTTP_OCP_APIM_SUBSCRIPTION_KEY")
        if not key:
            return _json(401, {"statusCode": 401, "message": MISSING_KEY})
        client = next((c for c in self.config.clients if secrets.compare_digest(c.subscription_key, key)), None)
        if client is None:
            return _json(401, {"statusCode": 401, "message": INVALID_KEY})
        with self._lock:
            if self._unavailable > 0:
                self._unavailable -= 1
                return _json(503, {"statusCode": 503, "message": "Service unavailable"}, extra=[("Retry-After", "1")])
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        token = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        with self._lock:
            grant = self._access.get(token)
        if grant is None or grant.expires_at <= self._clock() or grant.client_id != client.client_id:
            return _json(401, {"statusCode": 401, "message": BAD_BEARER_MESSAGE})
        dev = environ.get("HTTP_ENABLE_DEV_ERROR_DETAILS", "").strip().lower() == "true"
        slot = (grant.trust.company_number or grant.trust.upin or grant.trust.name, self.config.period)
        if path == "/api/submissions" and method == "PUT":
            return self._put(environ, grant.trust, slot, dev)
        if path == "/api/submissions" and method == "GET":
            with self._lock:
                submission = self._submissions.get(slot)
            if submission is None:
                return "204 No Content", [], b""
            return _raw_json(200, _with_members(submission.text, {"submissionId": submission.guid,
                                                                  "submittedDate": submission.submitted}))
        if path.startswith("/api/submissions/") and method == "DELETE":
            guid = path.rsplit("/", 1)[1]
            if not GUID.fullmatch(guid):
                body: dict[str, Any] = {"type": "unknownException"}
                if dev:
                    body["details"] = [f"'{guid}' is not a submission GUID"]
                return _json(400, body)
            with self._lock:
                found = next(((k, s) for k, s in self._submissions.items() if s.guid.lower() == guid.lower()), None)
                if found is None:
                    return _json(404, {"statusCode": 404, "message": "Submission not found"})
                if found[1].trust is not grant.trust:
                    return _json(403, {"statusCode": 403, "message": "Forbidden"})
                del self._submissions[found[0]]
            return "204 No Content", [], b""
        return _json(405, {"statusCode": 405, "message": "Method not allowed"}, extra=[("Allow", "GET, PUT, DELETE")])

    def _put(self, environ: Environ, trust: Trust, slot: tuple[str, str],
             dev: bool) -> tuple[str, list[tuple[str, str]], bytes]:
        payload = _read(environ, self.max_body_bytes + 1)
        options = Options(active_coa_version=self.config.active_coa_version, code_lists=self.config.code_lists,
                          academies=trust.academies, trust_status=trust.status, strict_range=self.config.strict_range,
                          max_body_bytes=self.max_body_bytes)
        result = validate(payload, options)
        answer = result.error_body(dev)
        if answer is not None:
            return _json(400, answer)
        text = payload.decode("utf-8").lstrip("\ufeff")
        submission = _Submission(str(uuid.uuid4()), trust, text,
                                 datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        with self._lock:
            self._submissions[slot] = submission  # one per trust per period: a PUT replaces it
        return _raw_json(200, _with_members(text, {"submissionGuid": submission.guid,
                                                   "submittedDate": submission.submitted}))


# ---------------------------------------------------------------------------------------------------- helpers


def _read(environ: Environ, limit: int) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    data: bytes = stream.read(min(length, limit)) if length > 0 else b""
    return data


def _with_members(text: str, members: Mapping[str, str]) -> str:
    """The body's own text with members added before its closing brace: its numbers are echoed as written."""
    stripped = text.rstrip()
    addition = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in members.items())
    return stripped[:-1].rstrip() + addition + "}"


def _json(status: int, data: Mapping[str, Any],
          extra: list[tuple[str, str]] | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    return _raw_json(status, json.dumps(data), extra)


def _raw_json(status: int, text: str,
              extra: list[tuple[str, str]] | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    data = text.encode("utf-8")
    return _status(status), [("Content-Type", "application/json; charset=utf-8"),
                             ("Content-Length", str(len(data))), *(extra or [])], data


def _oauth_error(description: str) -> tuple[str, list[tuple[str, str]], bytes]:
    return _json(400, {"error": "invalid_grant", "error_description": description})


def _status(code: int) -> str:
    from http import HTTPStatus

    return f"{code} {HTTPStatus(code).phrase}"


def _page(status: int, title: str, body: str) -> tuple[str, list[tuple[str, str]], bytes]:
    data = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>").encode()
    return _status(status), [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))], data


def _redirect(uri: str, params: Mapping[str, str | None]) -> tuple[str, list[tuple[str, str]], bytes]:
    parts = urlsplit(uri)
    query = urlencode({k: v for k, v in params.items() if v is not None})
    location = urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(q for q in (parts.query, query) if q), ""))
    return "302 Found", [("Location", location), ("Content-Length", "0")], b""


def _consent_form(form_id: str, client: ClientApp, trust: Trust, error: str) -> str:
    message = f"<p class='error'>{html.escape(error)}</p>" if error else ""
    return (f"<p>The application <b>{html.escape(client.client_id)}</b> asks to submit the Accounts Return data of "
            f"<b>{html.escape(trust.name)}</b>. Sign in as the trust's Data Transfer Approver to consent.</p>"
            f"{message}<form method='post' action='/oauth2/v2.0/authorize'>"
            f"<input type='hidden' name='form_id' value='{html.escape(form_id)}'>"
            "<label>Username <input name='username'></label> <label>Password <input name='password' "
            "type='password'></label> <button name='decision' value='consent'>Consent</button> "
            "<button name='decision' value='refuse'>Refuse</button></form>")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # The request line only, without its query: a callback or a form may carry codes.
        line = self.requestline.split(" ")
        path = urlsplit(line[1]).path if len(line) > 1 else ""
        print(f"{self.address_string()} {line[0]} {path} {args[1] if len(args) > 1 else ''}", flush=True)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _SilentHandler(_QuietHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_sandbox_server(app: Sandbox, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> WSGIServer:
    """A threaded HTTP server for ``app`` (port 0: any free port; see ``server.server_port``)."""
    return make_server(host, port, app, server_class=_ThreadingServer,
                       handler_class=_SilentHandler if quiet else _QuietHandler)
