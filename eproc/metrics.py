"""The Prometheus metrics, defined once: calls and their latency, the events, the queue's depth.

Under ``eproc serve`` every gunicorn worker writes its counts to files in one directory
(prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``) and ``GET /metrics``, in
whichever worker answers it, sums them all: the same numbers from every worker. Outside it (one
process, a test) the counts live in the process.

Labels are aggregate only (interface, operation, outcome, event type): never an account, a school
or an address, so ``/metrics`` says how busy the service is, not for whom.

prometheus_client decides at import time, from the environment, whether values go to files; so
every metric here has labels, and a labelled metric makes its values only when first used, in the
worker, after ``eproc serve`` has named the directory (:func:`use_directory`).
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
log = logging.getLogger("eproc.metrics")

# FMS calls are a few milliseconds warm; an argon2 check ~0.15 s; a 15 MB SendOrder seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "eproc_requests",
    "Requests answered, by interface (soap, api, health, metrics, other), operation and outcome.",
    ("interface", "operation", "outcome"),
)
REQUEST_SECONDS = Histogram(
    "eproc_request_duration_seconds",
    "Time from the request reaching eproc to its answer being ready, by interface and operation.",
    ("interface", "operation"),
    buckets=LATENCY_BUCKETS,
)
EVENTS = Counter(
    "eproc_events",
    "Events recorded (committed) by this service's processes, by type (the event vocabulary).",
    ("type",),
)
DOCUMENTS = Counter(
    "eproc_documents",
    "Documents by what happened to them: queued, collected, processed, unprocessed, expired, withdrawn, purged.",
    ("event",),
)
LOGIN_FAILURES = Counter(
    "eproc_login_failures",
    "FMS logins refused, by kind: wrong_password, unknown_username, locked_out (account or address), other.",
    ("kind",),
)
LOCKOUTS = Counter("eproc_lockouts", "Lockouts started, by what was locked (account or address).", ("scope",))


# The event vocabulary drives the named counters: every ``document.*`` type counts a document by
# its verb, and these types count logins and lockouts. A new type is counted in eproc_events_total
# with no change here.
_LOGIN_FAILURE_TYPES = frozenset({"login.failed"})
_LOCKOUT_SCOPES = {"account.locked": "account", "login.address_locked": "address"}
_failed_once: set[str] = set()


def count_event(event_type: str, reason: str | None = None, count: int = 1) -> None:
    """Count ``count`` committed events of one type (``reason``: a login failure's), as one
    increment per counter (a purge batch counts thousands at once). Never raises: the change it
    counts has already been made."""
    try:
        EVENTS.labels(event_type).inc(count)
        family, _, verb = event_type.partition(".")
        if family == "document":
            DOCUMENTS.labels(verb).inc(count)
        if event_type in _LOGIN_FAILURE_TYPES:
            LOGIN_FAILURES.labels(login_failure_kind(reason)).inc(count)
        scope = _LOCKOUT_SCOPES.get(event_type)
        if scope is not None:
            LOCKOUTS.labels(scope).inc(count)
    except Exception as exc:  # noqa: BLE001 - a metrics directory that went away must not fail a command
        _warn_once("count", exc)


def login_failure_kind(reason: str | None) -> str:
    """A failed login's reason (free text in the event log) as one of a few label values."""
    text = (reason or "").lower()
    if "wrong password" in text:
        return "wrong_password"
    if "username" in text and ("unknown" in text or "malformed" in text):
        return "unknown_username"
    if "locked" in text or "refused" in text:
        return "locked_out"
    return "other"


def observe_request(interface: str, operation: str, outcome: str, seconds: float) -> None:
    try:
        REQUESTS.labels(interface, operation, outcome).inc()
        REQUEST_SECONDS.labels(interface, operation).observe(seconds)
    except Exception as exc:  # noqa: BLE001 - as count_event
        _warn_once("observe", exc)


def _warn_once(what: str, exc: Exception) -> None:
    if what not in _failed_once:
        _failed_once.add(what)
        log.warning("metrics: cannot record (%s): %s", MULTIPROC_VARIABLE, exc)


# --- the queue's depth, read from the database at scrape time ----------------------------------


@dataclass(frozen=True)
class QueueDepth:
    waiting: int  # pending, never fetched
    collected: int  # pending, fetched at least once but not marked processed (an import failing)


class QueueDepthCollector(Collector):
    """``eproc_queue_documents{state}``: documents waiting for FMS, from one aggregate query per
    scrape (a gauge kept by the workers would drift with every document queued by the CLI)."""

    def __init__(self, read: Callable[[], QueueDepth]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "eproc_queue_documents",
            "Documents waiting for FMS (not processed, withdrawn or expired), by whether FMS has fetched them.",
            labels=["state"],
        )
        up = GaugeMetricFamily("eproc_database_up", "1 when the scrape could read the database, else 0.")
        try:
            depth = self._read()
        except Exception as exc:  # noqa: BLE001 - a scrape during an outage says so instead of failing
            log.warning("metrics: queue depth unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        gauge.add_metric(["waiting"], depth.waiting)
        gauge.add_metric(["collected"], depth.collected)
        up.add_metric([], 1)
        yield gauge
        yield up


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text format for one scrape: every process's counts (the multiprocess directory when
    there is one, else this process's registry, so metrics other modules define are included
    either way) and the collectors computed now."""
    registry = CollectorRegistry()
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Everything())
    for collector in extra:
        registry.register(collector)
    # Another process may be creating its file (empty until it is sized) or adding a value to it
    # while this one reads: prometheus_client reads without locks and raises on the half-made
    # file or entry. A moment later it is whole.
    for attempt in range(3):
        try:
            return generate_latest(registry)
        except (ValueError, RuntimeError, struct.error, KeyError, UnicodeDecodeError) as exc:
            if attempt == 2:
                raise
            log.info("metrics: a worker's file was being written (%s); reading it again", exc)
            time.sleep(0.01)
    raise AssertionError("unreachable")


class _Everything(Collector):
    """The process's default registry, as a collector of a per-scrape registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


# --- the multiprocess directory, for eproc serve ------------------------------------------------


class MetricsDirectoryError(Exception):
    pass


def use_directory(user_directory: str | None) -> tuple[Path, bool]:
    """Name the directory the workers count in, before they fork: the user's ``PROMETHEUS_MULTIPROC_DIR``
    (emptied of an earlier run's files, as prometheus_client asks) or a new private one. Returns
    it and whether eproc made it (and so removes it at exit)."""
    if user_directory:
        path = check_directory(user_directory)
        try:
            for stale in path.glob("*.db"):
                stale.unlink()
        except OSError as exc:
            problem = f"{MULTIPROC_VARIABLE} {user_directory}: cannot empty it: {exc.strerror}"
            raise MetricsDirectoryError(problem) from None
        made = False
    else:
        try:
            path = Path(tempfile.mkdtemp(prefix="eproc-metrics-"))  # mode 0700: this user's only
        except OSError as exc:
            raise MetricsDirectoryError(f"cannot make a directory for the metrics: {exc.strerror}") from None
        made = True
    os.environ[MULTIPROC_VARIABLE] = str(path)
    # prometheus_client chose its value class when it was imported, perhaps before the variable
    # was set; choose again so the metrics' values (made on first use, in the workers) use files.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path, made


def check_directory(user_directory: str) -> Path:
    """The user's ``PROMETHEUS_MULTIPROC_DIR``, if the workers can count in it (else one line why)."""
    path = Path(user_directory)
    if not path.is_dir():
        raise MetricsDirectoryError(f"{MULTIPROC_VARIABLE} {user_directory} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise MetricsDirectoryError(f"{MULTIPROC_VARIABLE} {user_directory} is not writable")
    return path


def remove_directory(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def worker_exited(pid: int) -> None:
    """A worker is gone: drop its live gauges (its counters stay, so totals do not fall)."""
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:
        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
