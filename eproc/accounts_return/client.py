"""A client of the DfE's Accounts Return API: environment profiles, configuration, the consent flow (OAuth 2.0
authorization code, Azure AD B2C), tokens kept in a file only the user can read, and the submissions calls.

Configuration comes from a TOML file (``EPROC_AR_CONFIG``, default ``$EPROC_AR_HOME/config.toml``), then the
environment, which wins::

    profile = "sandbox"                    # EPROC_AR_PROFILE
    [profiles.sandbox]
    client_id = "..."                      # EPROC_AR_CLIENT_ID
    client_secret = "..."                  # EPROC_AR_CLIENT_SECRET
    subscription_key = "..."               # EPROC_AR_SUBSCRIPTION_KEY
    redirect_uri = "http://127.0.0.1:8765/callback"   # EPROC_AR_REDIRECT_URI
    company_number = "12345678"            # EPROC_AR_COMPANY_NUMBER  (or upin = "123456", EPROC_AR_UPIN)
    url = "http://127.0.0.1:8700"          # EPROC_AR_SANDBOX_URL (sandbox profile only)
    scope = "..."                          # EPROC_AR_SCOPE (default: the profile's)
    dev_details = true                     # EPROC_AR_DEV_DETAILS
    token_file = "..."                     # EPROC_AR_TOKEN_FILE (default $EPROC_AR_HOME/tokens/<profile>.json)

Tokens are secrets: they are written with mode 0600 and never printed or logged.
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import stat
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests

from .coa import ar_home
from .rules import explain

API_FAMILY = "bfrp-ar"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8700"
SCOPE_2021 = "openid offline_access https://dfeb2cprod.onmicrosoft.com/bfrp-ar/api.submit"
SANDBOX_SCOPE = "openid offline_access bfrp-ar/api.submit"
UPIN = re.compile(r"[0-9]{6}")
COMPANY_NUMBER = re.compile(r"[0-9]{8}")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")


class ConfigError(Exception):
    """The configuration is missing something or is malformed; the message says which key."""


class ClientError(Exception):
    """A call failed; the message is one line a person can act on."""


class DfeError(ClientError):
    """The DfE (or the sandbox) refused a call."""

    def __init__(self, status: int, dfe_type: str | None, details: list[str] | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = dfe_type
        self.details = details or []


@dataclass(frozen=True)
class Profile:
    name: str
    authorize_url: str
    token_url: str
    api_base: str
    scope: str
    api_family_param: str  # the newer guidance spells it apiFamily, the 2021 guide apifamily


def _b2c(host: str, tenant: str, policy: str, endpoint: str) -> str:
    return f"https://{host}/{tenant}/oauth2/v2.0/{endpoint}?p={policy}"


def profiles(sandbox_url: str = DEFAULT_SANDBOX_URL) -> dict[str, Profile]:
    """The published environments (configuration, never constants: two generations exist) plus the sandbox."""
    new_host, new_tenant = "fauapib2c.b2clogin.com", "fauapib2c.onmicrosoft.com"
    old_host, old_tenant = "dfeb2cprod.b2clogin.com", "dfeb2cprod.onmicrosoft.com"
    oat = "https://oat-api-customerengagement.platform.education.gov.uk"
    base = sandbox_url.rstrip("/")
    result = [
        Profile("ste", _b2c(new_host, new_tenant, "B2C_1A_CONSENT_DFE_STE", "authorize"),
                _b2c(new_host, new_tenant, "B2C_1A_CONSENT_DFE_STE", "token"),
                "https://api.education.gov.uk/fms-ste/1/api", "openid", "apiFamily"),
        Profile("production", _b2c(new_host, new_tenant, "B2C_1A_CONSENT_DFE", "authorize"),
                _b2c(new_host, new_tenant, "B2C_1A_CONSENT_DFE", "token"),
                "https://api.education.gov.uk/fms/1/api", "openid", "apiFamily"),
        Profile("supplier-test", _b2c(old_host, old_tenant, "B2C_1A_consent_dfe_ste", "authorize"),
                _b2c(old_host, old_tenant, "B2C_1A_consent_dfe_ste", "token"), f"{oat}/fmssuptest/api", SCOPE_2021,
                "apifamily"),
        Profile("uat", _b2c(old_host, old_tenant, "B2C_1A_consent_dfe_uat", "authorize"),
                _b2c(old_host, old_tenant, "B2C_1A_consent_dfe_uat", "token"), f"{oat}/fmsuat/api", SCOPE_2021,
                "apifamily"),
        Profile("sandbox", f"{base}/oauth2/v2.0/authorize?p=B2C_1A_CONSENT_SANDBOX",
                f"{base}/oauth2/v2.0/token?p=B2C_1A_CONSENT_SANDBOX", f"{base}/api", SANDBOX_SCOPE, "apiFamily"),
    ]
    return {p.name: p for p in result}


def _redact(value: str | None) -> str:
    return "<set>" if value else "<unset>"


@dataclass(frozen=True)
class Config:
    profile: Profile
    client_id: str
    client_secret: str = field(repr=False)
    subscription_key: str = field(repr=False)
    redirect_uri: str
    upin: str | None = None
    company_number: str | None = None
    dev_details: bool = False
    token_file: Path = Path()

    @property
    def identifier(self) -> tuple[str, str]:
        """The trust identifier parameter: exactly one of upin / companyNumber."""
        if self.company_number:
            return "companyNumber", self.company_number
        assert self.upin
        return "upin", self.upin

    def describe(self) -> str:
        name, value = self.identifier
        return (f"profile {self.profile.name}: client_id {self.client_id}, client_secret "
                f"{_redact(self.client_secret)}, subscription_key {_redact(self.subscription_key)}, redirect_uri "
                f"{self.redirect_uri}, {name} {value}, tokens in {self.token_file}")


_ENV = {
    "client_id": "EPROC_AR_CLIENT_ID", "client_secret": "EPROC_AR_CLIENT_SECRET",
    "subscription_key": "EPROC_AR_SUBSCRIPTION_KEY", "redirect_uri": "EPROC_AR_REDIRECT_URI",
    "upin": "EPROC_AR_UPIN", "company_number": "EPROC_AR_COMPANY_NUMBER", "url": "EPROC_AR_SANDBOX_URL",
    "scope": "EPROC_AR_SCOPE", "dev_details": "EPROC_AR_DEV_DETAILS", "token_file": "EPROC_AR_TOKEN_FILE",
}
_KNOWN = set(_ENV)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    explicit = environ.get("EPROC_AR_CONFIG")
    return Path(explicit).expanduser() if explicit else ar_home() / "config.toml"


def load_config(path: Path | None = None, *, profile: str | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """The configuration of one profile: the file's values, then the environment's."""
    environ = os.environ if environ is None else environ
    path = path or config_path(environ)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read it ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not TOML ({exc})") from None
    name = profile or environ.get("EPROC_AR_PROFILE") or str(data.get("profile", "sandbox"))
    sections = data.get("profiles", {})
    section = sections.get(name, {}) if isinstance(sections, dict) else {}
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [profiles.{name}] must be a table")
    unknown = sorted(set(section) - _KNOWN)
    if unknown:
        raise ConfigError(f"{path}: [profiles.{name}] has an unknown key {unknown[0]!r}")
    values: dict[str, Any] = {key: section[key] for key in _KNOWN if key in section}
    values.update({key: environ[var] for key, var in _ENV.items() if environ.get(var)})
    known_profiles = profiles(str(values.get("url") or DEFAULT_SANDBOX_URL))
    if name not in known_profiles:
        raise ConfigError(f"unknown profile {name!r} (one of {', '.join(known_profiles)})")
    chosen = known_profiles[name]
    if values.get("scope"):
        chosen = replace(chosen, scope=str(values["scope"]))
    missing = [key for key in ("client_id", "client_secret", "subscription_key", "redirect_uri") if not values.get(key)]
    if missing:
        raise ConfigError(f"{missing[0]} is not configured for profile {name}: set {_ENV[missing[0]]} or "
                          f"{missing[0]} under [profiles.{name}] in {path}")
    upin = str(values["upin"]) if values.get("upin") else None
    company = str(values["company_number"]) if values.get("company_number") else None
    if (upin is None) == (company is None):
        raise ConfigError(f"give exactly one of upin ({_ENV['upin']}) or company_number ({_ENV['company_number']})"
                          f" for profile {name}")
    if upin is not None and not UPIN.fullmatch(upin):
        raise ConfigError(f"upin {upin!r} is not 6 digits")
    if company is not None and not COMPANY_NUMBER.fullmatch(company):
        raise ConfigError(f"company_number {company!r} is not 8 digits")
    redirect = str(values["redirect_uri"])
    parts = urlsplit(redirect)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"redirect_uri {redirect!r} is not an http(s) address")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(f"redirect_uri {redirect!r}: plain http is for loopback addresses only; use https")
    dev = values.get("dev_details", False)
    dev_details = dev if isinstance(dev, bool) else str(dev).strip().lower() in ("1", "true", "yes", "on")
    token_file = Path(str(values["token_file"])).expanduser() if values.get("token_file") else (
        ar_home() / "tokens" / f"{name}.json")
    return Config(chosen, str(values["client_id"]), str(values["client_secret"]), str(values["subscription_key"]),
                  redirect, upin, company, dev_details, token_file)


# ---------------------------------------------------------------------------------------------------- tokens


@dataclass
class Tokens:
    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    refresh_expires_at: float | None
    scope: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expires_at": self.expires_at, "refresh_expires_at": self.refresh_expires_at, "scope": self.scope}

    @classmethod
    def from_response(cls, token: Mapping[str, Any], now: float, previous_refresh: str | None = None) -> Tokens:
        refresh = token.get("refresh_token") or previous_refresh
        refresh_in = token.get("refresh_token_expires_in")
        return cls(str(token["access_token"]), str(refresh) if refresh else None,
                   now + float(token.get("expires_in", 600)),
                   now + float(refresh_in) if refresh_in is not None else None, str(token.get("scope", "")))


class TokenStore:
    """One JSON file, mode 0600 (its directory 0700), replaced atomically so a crash never leaves half a token."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, tokens: Tokens) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(tokens.as_dict(), handle)
            os.replace(temporary, self.path)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            raise ClientError(f"cannot write the token file {self.path}: {exc.strerror or exc}") from None

    def load(self) -> Tokens | None:
        try:
            mode = self.path.stat().st_mode
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ClientError(f"cannot read the token file {self.path}: {exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ClientError(f"the token file {self.path} is readable by others: delete it and log in again")
        try:
            return Tokens(data["access_token"], data.get("refresh_token"), float(data["expires_at"]),
                          float(data["refresh_expires_at"]) if data.get("refresh_expires_at") else None,
                          data.get("scope", ""))
        except (KeyError, TypeError, ValueError):
            raise ClientError(f"the token file {self.path} is damaged: log in again") from None

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------- consent


@dataclass(frozen=True)
class Callback:
    code: str | None
    state: str | None
    error: str | None
    error_description: str | None


def parse_callback(text: str) -> Callback:
    """The pasted address the browser was sent to (or its query string)."""
    text = text.strip()
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    return Callback(params.get("code"), params.get("state"), params.get("error"), params.get("error_description"))


class LoopbackReceiver:
    """A one-shot HTTP server on the loopback redirect URI: it takes the browser's callback and answers a page.

    Port 0 in the configured URI picks a free port (RFC 8252 lets loopback redirect URIs use any port)."""

    def __init__(self, redirect_uri: str) -> None:
        parts = urlsplit(redirect_uri)
        self._path = parts.path or "/"
        self.result: Callback | None = None
        self._received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                url = urlsplit(self.path)
                if url.path != receiver._path:
                    self.send_error(404)
                    return
                receiver.result = parse_callback(url.query)
                ok = receiver.result.code is not None
                page = ("<h1>Consent received</h1><p>You can close this window and return to eproc.</p>" if ok else
                        f"<h1>Consent not given</h1><p>{html.escape(receiver.result.error or 'no code')}</p>")
                data = f"<!doctype html><title>eproc ar login</title>{page}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                receiver._received.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line carries the authorization code: never logged

        host = parts.hostname or "127.0.0.1"
        try:
            self._server = HTTPServer((host, parts.port or 0), Handler)
        except OSError as exc:
            raise ClientError(f"cannot listen on {redirect_uri} for the consent callback: {exc.strerror}") from None
        port = self._server.server_address[1]
        netloc = f"{parts.hostname}:{port}" if ":" not in (parts.hostname or "") else f"[{parts.hostname}]:{port}"
        self.redirect_uri = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        # A short poll interval: shutdown() waits for it, and a login should not hang half a second on it.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LoopbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait(self, timeout: float) -> Callback:
        if not self._received.wait(timeout):
            raise ClientError(f"no consent callback within {timeout:.0f} s: run 'eproc ar login' again")
        assert self.result is not None
        return self.result


def is_loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


# ---------------------------------------------------------------------------------------------------- client


class Client:
    """The DfE AR API for one profile. Usable from code; the ``eproc ar`` commands are thin wrappers."""

    def __init__(self, config: Config, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 retries: int = 4, timeout: float = 60.0, leeway: float = 30.0) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.tokens = TokenStore(config.token_file)
        self._sleep = sleep
        self._clock = clock
        self._retries = retries
        self._timeout = timeout
        self._leeway = leeway

    # -- consent

    def authorization_url(self, redirect_uri: str | None = None, state: str | None = None) -> tuple[str, str]:
        from authlib.integrations.requests_client import OAuth2Session

        profile = self.config.profile
        name, value = self.config.identifier
        oauth = OAuth2Session(self.config.client_id, scope=profile.scope,
                              redirect_uri=redirect_uri or self.config.redirect_uri)
        # No client secret on this URL: it goes through the user's browser.
        url, state = oauth.create_authorization_url(
            profile.authorize_url, state=state or secrets.token_urlsafe(24), nonce="defaultNonce", prompt="login",
            **{name: value, profile.api_family_param: API_FAMILY})
        return str(url), str(state)

    def login(self, open_url: Callable[[str], None], paste: Callable[[str], str] | None = None,
              timeout: float = 300.0) -> Tokens:
        """Run the consent flow. ``open_url`` shows the authorize address to the user (or a test drives it);
        for a loopback redirect URI a receiver takes the callback, otherwise ``paste`` asks for the address the
        browser was sent to."""
        if is_loopback(self.config.redirect_uri):
            with LoopbackReceiver(self.config.redirect_uri) as receiver:
                url, state = self.authorization_url(receiver.redirect_uri)
                open_url(url)
                callback = receiver.wait(timeout)
            return self._finish(callback, state, receiver.redirect_uri)
        if paste is None:
            raise ClientError("the redirect URI is not a loopback address: paste mode needs a prompt")
        url, state = self.authorization_url()
        open_url(url)
        callback = parse_callback(paste("Paste the address your browser was sent to: "))
        return self._finish(callback, state, self.config.redirect_uri)

    def _finish(self, callback: Callback, state: str, redirect_uri: str) -> Tokens:
        if callback.error:
            raise ClientError(f"consent refused: {callback.error}: {callback.error_description or 'no description'}")
        if not callback.code:
            raise ClientError("the callback carried no authorization code")
        if callback.state != state:
            raise ClientError("the callback's state does not match this login's: ignoring it (start again)")
        return self.exchange(callback.code, redirect_uri)

    def exchange(self, code: str, redirect_uri: str | None = None) -> Tokens:
        """Trade an authorization code for tokens (and keep them)."""
        now = self._clock()
        token = self._token_call(grant_type="authorization_code", code=code,
                                 redirect_uri=redirect_uri or self.config.redirect_uri)
        tokens = Tokens.from_response(token, now)
        self.tokens.save(tokens)
        return tokens

    def refresh(self) -> Tokens:
        """A new access token; the response's new refresh token replaces the old one, which the DfE no longer
        accepts, and is saved before anything else is done."""
        current = self.tokens.load()
        if current is None or not current.refresh_token:
            raise ClientError("not logged in: run 'eproc ar login'")
        now = self._clock()
        if current.refresh_expires_at is not None and now >= current.refresh_expires_at:
            raise ClientError("the refresh token has expired (they last 60 minutes): run 'eproc ar login'")
        token = self._token_call(grant_type="refresh_token", refresh_token=current.refresh_token)
        tokens = Tokens.from_response(token, now, current.refresh_token)
        self.tokens.save(tokens)
        return tokens

    def _token_call(self, **params: str) -> Mapping[str, Any]:
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session

        oauth = OAuth2Session(self.config.client_id, self.config.client_secret, scope=self.config.profile.scope,
                              token_endpoint_auth_method="client_secret_post")  # noqa: S106 - in the body, as the DfE asks
        url = self.config.profile.token_url
        try:
            if params["grant_type"] == "refresh_token":
                token = oauth.refresh_token(url, refresh_token=params["refresh_token"], timeout=self._timeout)
            else:
                token = oauth.fetch_token(url, grant_type="authorization_code", code=params["code"],
                                          redirect_uri=params["redirect_uri"], timeout=self._timeout)
        except OAuthError as exc:
            description = (exc.description or "").splitlines()[0] if exc.description else ""
            raise ClientError(f"the token endpoint refused: {exc.error}" + (f": {description}" if description else "")
                              ) from None
        except requests.RequestException as exc:
            raise ClientError(f"cannot reach the token endpoint {_origin(url)}: {type(exc).__name__}") from None
        except ValueError as exc:
            raise ClientError(f"the token endpoint answered something that is not a token ({exc})") from None
        finally:
            oauth.close()
        if "access_token" not in token:
            raise ClientError("the token endpoint's answer has no access_token")
        return dict(token)

    def access_token(self) -> str:
        tokens = self.tokens.load()
        if tokens is None:
            raise ClientError("not logged in: run 'eproc ar login'")
        if self._clock() >= tokens.expires_at - self._leeway:  # early: the call must not outlive its token
            tokens = self.refresh()
        return tokens.access_token

    # -- submissions

    def put_submission(self, body: bytes) -> dict[str, Any]:
        """Create or replace the trust's submission; the DfE's answer (the body echoed, submissionGuid,
        submittedDate)."""
        response = self._call("PUT", "submissions", body)
        return _json_object(response)

    def get_submission(self) -> dict[str, Any] | None:
        """The trust's current submission (numbers as exact Decimals), or None."""
        text = self.get_submission_text()
        return None if text is None else _json_object_text(text, 200)

    def get_submission_text(self) -> str | None:
        """The same, as the text the service sent: numbers exactly as written."""
        response = self._call("GET", "submissions")
        if response.status_code == 204:
            return None
        return response.content.decode("utf-8", "replace")

    def delete_submission(self, guid: str) -> None:
        self._call("DELETE", f"submissions/{guid}")

    def _call(self, method: str, path: str, body: bytes | None = None) -> requests.Response:
        url = f"{self.config.profile.api_base}/{path}"
        refreshed = False
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self.access_token()}",
                       "Ocp-Apim-Subscription-Key": self.config.subscription_key,
                       "Enable-Dev-Error-Details": "true" if self.config.dev_details else "false"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = self.session.request(method, url, data=body, headers=headers, timeout=self._timeout)
            except requests.RequestException as exc:
                raise ClientError(f"cannot reach {_origin(url)}: {type(exc).__name__}") from None
            if response.status_code == 503 and attempt < self._retries:
                # Overloaded or in maintenance: the DfE says wait and retry. Backoff 1, 2, 4, 8 s or Retry-After.
                self._sleep(_retry_after(response, 2.0 ** attempt))
                attempt += 1
                continue
            if response.status_code == 401 and not refreshed and "subscription key" not in response.text:
                # Our clock said the token was valid, the server disagrees: one refresh, then the answer stands.
                self.refresh()
                refreshed = True
                continue
            if response.status_code >= 400:
                raise _error(response)
            return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    return min(float(value), 60.0) if value.strip().isdigit() else default


def _json_object(response: requests.Response) -> dict[str, Any]:
    return _json_object_text(response.content.decode("utf-8", "replace"), response.status_code)


def _json_object_text(text: str, status: int) -> dict[str, Any]:
    """A JSON object whose numbers are exact Decimals: a trial balance must not pass through floats."""
    try:
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError:
        raise ClientError(f"HTTP {status} with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise ClientError(f"HTTP {status} with JSON that is not an object")
    return data


def _error(response: requests.Response) -> DfeError:
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    if status == 400 and isinstance(data, dict) and isinstance(data.get("type"), str):
        details = data.get("details") if isinstance(data.get("details"), list) else None
        shown = "; ".join(str(d) for d in (details or [])[:3])
        more = f" (+{len(details) - 3} more)" if details and len(details) > 3 else ""
        return DfeError(status, data["type"], details, f"refused: {data['type']}: {explain(data['type'])}"
                        + (f" [{shown}{more}]" if shown else ""))
    message = data.get("message") if isinstance(data, dict) else None
    meaning = {
        401: "unauthorised: the subscription key or the access token was refused",
        403: "forbidden: the token was not issued by a member of this trust (or it is another trust's submission)",
        404: "not found: no such submission",
        503: "the DfE service is unavailable (overloaded or in maintenance): try again later",
    }.get(status, f"HTTP {status}")
    return DfeError(status, None, None, f"{meaning}" + (f" ({message})" if message else ""))
