"""Settings: environment variables prefixed ``EPROC_``, optionally a TOML file; one object, read once.

Every decision that ``docs/fms-web-service.md`` leaves to the project (fault wording, body limit,
time zone, expiry) lives here so that an operator can change it without touching code.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "EPROC_"


def _shipped(folder: str, package_name: str) -> Path:
    """A folder that ships with eproc: the repository's own in a checkout, the wheel's copy
    (package data of ``eproc.<package_name>``, see pyproject.toml) in an installed eproc."""
    checkout = PROJECT_ROOT / folder
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / package_name


SCHEMAS_DIR = _shipped("schemas", "_schemas")
MIGRATIONS_DIR = _shipped("migrations", "_migrations")


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclass(frozen=True)
class FaultMessages:
    """faultstring templates; .NET clients tell exceptions apart by this text alone."""

    authentication: str = "AuthenticationException: The username or password supplied is not valid."
    document_not_exist: str = "DocumentNotExistException: Document '{doc_id}' does not exist."
    invalid_xml: str = "InvalidXmlException: {reason}"
    invalid_request: str = "InvalidRequestException: {reason}"
    request_too_large: str = "RequestTooLargeException: The request body is larger than {limit} bytes."
    internal: str = (
        "Server was unable to process request. ---> An internal error occurred (correlation id {correlation_id})."
    )


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./eproc.db"
    expiry_days: int = 90
    retention_days: int = 365
    # Received Authorised Orders and the event log have retention periods of their own (0 keeps
    # them for ever): FMS keeps the order itself, so the hub's copy is a short-lived audit trail.
    order_retention_days: int = 730
    event_retention_days: int = 400
    timezone: str = "Europe/London"
    max_request_bytes: int = 16 * 1024 * 1024
    service_path: str = "/service.asmx"
    password_grace_hours: int = 168
    credential_cache_seconds: int = 300
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 4
    # Smart lockout (eproc/services/smart_lockout.py): distinct wrong passwords in a row, counted
    # apart for an account's familiar and unfamiliar addresses, that lock that bucket (0: never).
    login_failure_limit: int = 5
    login_lockout_seconds: int = 60
    login_lockout_max_seconds: int = 3600
    # An address is familiar for an account this long after its last successful login from it.
    login_familiar_days: int = 30
    # How often a worker records that a familiar address is still in use (a write on the success path).
    login_familiar_touch_seconds: int = 300
    # Wrong passwords per account per hour from all its unfamiliar addresses together (0: no bound).
    login_unfamiliar_hourly_limit: int = 20
    # How many of a bucket's last wrong passwords are recognised (by keyed hash) when repeated.
    login_repeat_memory: int = 5
    # A bucket with no counted failure for this long starts again from nothing.
    login_failure_memory_seconds: int = 86400
    # The key of those hashes; empty: derived from the API signing key kept in the database.
    login_failure_key: str = ""
    # Failed logins per client address, shared by every worker through the database; 0 turns the
    # address limit off. Deliberately far above the per-username limit: many schools can share one
    # address (a local authority's network, a proxy).
    login_address_failure_limit: int = 100
    login_address_window_seconds: int = 600
    trusted_proxy_header: str = ""
    index_xslt: str = ""
    purge_batch_size: int = 5000
    # Comma-separated secrets for the portal API's tokens (the first signs); empty: keys are made
    # and kept in the database, so every worker and machine shares them with no set-up.
    api_signing_key: str = ""
    # Webhooks (eproc/webhook_worker.py): the delays before each retry, in seconds (Svix's, about
    # a day in all); the wait for an answer; how long a worker holds a delivery it is sending
    # (longer than the timeout, or a slow answer would be sent twice); how often an idle worker
    # looks for work (PostgreSQL also wakes it at once with NOTIFY).
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    webhook_timeout_seconds: int = 15
    webhook_lease_seconds: int = 60
    webhook_poll_ms: int = 250
    # Deliveries one worker sends at once (threads): a slow receiver then holds up fewer others.
    webhook_concurrency: int = 8
    # Loopback, private and link-local targets refused unless true (tests, private networks).
    webhook_allow_private_targets: bool = False
    # eproc serve's front (eproc/front.py): the longest a client may take to send its headers, the
    # longest pause while it sends the body (or reads the answer), and the open connections per
    # worker process. Slow clients hold a connection slot, never a worker.
    header_timeout_seconds: int = 10
    body_timeout_seconds: int = 30
    max_connections: int = 1000
    # Each worker's threads pinned to one CPU, the workers spread over the CPUs (eproc/affinity.py).
    pin_workers: bool = True
    # Bounded waits on the database: a hung or unreachable database turns into quick faults.
    # PostgreSQL: connect_timeout, and statement_timeout (the client also gives up on a server
    # that does not answer at all, a few seconds later). SQLite: the wait for another writer's lock.
    database_connect_timeout_seconds: int = 5
    database_statement_timeout_seconds: int = 10
    schema_dir: str = str(SCHEMAS_DIR)
    # Operations (README "Monitoring and logs"): eproc's log lines as plain text or JSON lines, the
    # level of eproc's own loggers, and who may read GET /metrics (aggregate counts only, but a
    # supplier's volumes are nobody else's business: loopback unless widened).
    log_format: str = "plain"
    log_level: str = "info"
    metrics: str = "on"
    metrics_allow: str = "127.0.0.0/8, ::1"
    faults: FaultMessages = field(default_factory=FaultMessages)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def webhook_retry_delays(self) -> tuple[float, ...]:
        return parse_retry_schedule(self.webhook_retry_schedule)


def parse_retry_schedule(raw: str) -> tuple[float, ...]:
    """``EPROC_WEBHOOK_RETRY_SCHEDULE``: comma-separated seconds; empty means no retries."""
    delays: list[float] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            delay = float(part)
        except ValueError:
            raise ConfigError(
                f"{PREFIX}WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds, not {raw!r}"
            ) from None
        if not 0 <= delay <= 7 * 86400:
            raise ConfigError(f"{PREFIX}WEBHOOK_RETRY_SCHEDULE delays must be 0 to 604800 seconds, not {part}")
        delays.append(delay)
    if len(delays) > 50:
        raise ConfigError(f"{PREFIX}WEBHOOK_RETRY_SCHEDULE has more than 50 retries")
    return tuple(delays)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in _TRUE | _FALSE:
            raise ConfigError(f"{PREFIX}{name.upper()} must be true or false, not {raw!r}")
        return text in _TRUE
    if kind is int:
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{PREFIX}{name.upper()} must be a whole number, not {raw!r}") from None
        if value < 0:
            raise ConfigError(f"{PREFIX}{name.upper()} must not be negative, not {value}")
        return value
    return str(raw)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from a TOML file (``EPROC_CONFIG_FILE``) overlaid by ``EPROC_*`` variables."""
    return _load(os.environ if environ is None else environ)[0]


def setting_sources(environ: Mapping[str, str] | None = None) -> tuple[Settings, dict[str, str]]:
    """The settings and, for each field (``faults.<name>`` for fault texts), where its value came
    from: ``default``, ``file`` (EPROC_CONFIG_FILE) or ``environment``."""
    return _load(os.environ if environ is None else environ)


def _load(environ: Mapping[str, str]) -> tuple[Settings, dict[str, str]]:
    values: dict[str, Any] = {}
    fault_values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    config_file = environ.get(f"{PREFIX}CONFIG_FILE")
    if config_file:
        try:
            with open(config_file, "rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"cannot read {PREFIX}CONFIG_FILE {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{PREFIX}CONFIG_FILE {config_file} is not valid TOML: {exc}") from None
        fault_values.update(data.pop("faults", {}) or {})
        values.update(data)
        sources.update({name: "file" for name in data})
        sources.update({f"faults.{name}": "file" for name in fault_values})
    for key, raw in environ.items():
        if key.startswith(f"{PREFIX}FAULT_"):
            name = key[len(PREFIX) + 6 :].lower()
            fault_values[name] = raw
            sources[f"faults.{name}"] = "environment"
        elif key.startswith(PREFIX) and key != f"{PREFIX}CONFIG_FILE":
            values[key[len(PREFIX) :].lower()] = raw
            sources[key[len(PREFIX) :].lower()] = "environment"

    fields = {f.name: f for f in dataclasses.fields(Settings) if f.name != "faults"}
    kwargs: dict[str, Any] = {}
    for name, raw in values.items():
        if name in fields:
            declared = fields[name].type
            kind = int if declared in ("int", int) else bool if declared in ("bool", bool) else str
            kwargs[name] = _coerce(name, raw, kind)
    known_faults = {f.name for f in dataclasses.fields(FaultMessages)}
    faults = FaultMessages(**{k: str(v) for k, v in fault_values.items() if k in known_faults})
    settings = Settings(faults=faults, **kwargs)
    _check(settings)
    known = {**{name: sources.get(name, "default") for name in fields},
             **{f"faults.{name}": sources.get(f"faults.{name}", "default") for name in sorted(known_faults)}}
    return settings, known


def _check(settings: Settings) -> None:
    try:
        settings.zone  # noqa: B018 - fail at start-up, not on the first FetchIndexFromDate
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{PREFIX}TIMEZONE {settings.timezone!r} is not a known time zone") from None
    if not settings.service_path.startswith("/"):
        raise ConfigError(f"{PREFIX}SERVICE_PATH must start with '/', not {settings.service_path!r}")
    _check_database_url(settings.database_url)
    if settings.max_request_bytes < 1024:
        raise ConfigError(f"{PREFIX}MAX_REQUEST_BYTES must be at least 1024")
    settings.webhook_retry_delays  # noqa: B018 - a bad schedule is refused at start-up
    if settings.webhook_timeout_seconds < 1:
        raise ConfigError(f"{PREFIX}WEBHOOK_TIMEOUT_SECONDS must be at least 1")
    if settings.webhook_lease_seconds <= settings.webhook_timeout_seconds:
        raise ConfigError(
            f"{PREFIX}WEBHOOK_LEASE_SECONDS ({settings.webhook_lease_seconds}) must be longer than "
            f"{PREFIX}WEBHOOK_TIMEOUT_SECONDS ({settings.webhook_timeout_seconds}), or a slow answer is sent twice"
        )
    if not 1 <= settings.webhook_concurrency <= 100:
        raise ConfigError(f"{PREFIX}WEBHOOK_CONCURRENCY must be 1 to 100")
    if settings.webhook_poll_ms < 10:
        raise ConfigError(f"{PREFIX}WEBHOOK_POLL_MS must be at least 10")
    for name, allowed in (("log_format", LOG_FORMATS), ("log_level", LOG_LEVELS), ("metrics", ("on", "off"))):
        value = getattr(settings, name)
        if value not in allowed:
            choices = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
            raise ConfigError(f"{PREFIX}{name.upper()} must be {choices}, not {value!r}")
    metrics_networks(settings.metrics_allow)
    for name in ("header_timeout_seconds", "body_timeout_seconds", "max_connections",
                 "database_connect_timeout_seconds", "database_statement_timeout_seconds"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{PREFIX}{name.upper()} must be at least 1")


LOG_FORMATS = ("plain", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def metrics_networks(allow: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``EPROC_METRICS_ALLOW`` as networks: comma-separated addresses or CIDR networks, ``any`` for all."""
    networks = []
    for item in (part.strip() for part in allow.split(",")):
        if not item:
            continue
        if item.lower() == "any":
            networks += [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{PREFIX}METRICS_ALLOW: {item!r} is not an address or network (e.g. 10.0.0.0/8, ::1, any)"
            ) from None
    return tuple(networks)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return load_settings()


_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")


def _check_database_url(url: str) -> None:
    """One line for each URL eproc cannot use, before anything tries to connect with it."""
    scheme, separator, _rest = url.partition("://")
    name = f"{PREFIX}DATABASE_URL"
    if not separator or not scheme:
        raise ConfigError(
            f"{name} {url!r} is not a database URL: use sqlite:///path/to/eproc.db or "
            "postgresql+psycopg://user:password@host/eproc"
        )
    if scheme == "postgres":
        raise ConfigError(f"{name} starts with 'postgres://', which SQLAlchemy does not read: write 'postgresql+psycopg://'")
    if scheme not in _DATABASE_SCHEMES:
        raise ConfigError(
            f"{name} uses '{scheme}', which eproc does not support: use sqlite:/// or postgresql+psycopg://"
        )
