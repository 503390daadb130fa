"""The WSGI application: the SOAP endpoint at the configured path, the portal API under ``/api``,
liveness at ``/health``, readiness at ``/health/ready`` and the Prometheus metrics at ``/metrics``.

Every request gets a correlation id (the caller's ``X-Request-Id`` when it is safe, else a new
one), returned in ``X-Request-Id``, and ends in one log line and one count in the metrics.

An entry point: it is one of the few places that read the settings (``wsgi.py`` and ``eproc serve``
call :func:`create_app` without any), and it builds the hub every request goes through.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from eproc import logs, metrics
from eproc.config import ConfigError, Settings, get_settings, metrics_networks
from eproc.readiness import ReadinessProbe
from eproc.services import admin
from eproc.services.hub import Hub, build_hub

StartResponse = Callable[..., object]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
log = logging.getLogger("eproc.web")
access_log = logging.getLogger("eproc.access")
# The request's RequestContext, for whatever reads the environ (gunicorn's hooks, the API).
REQUEST_CONTEXT_KEY = "eproc.request"
# Set by the buffering front (eproc/front.py) on a call it answers unserved, to the seconds it
# waited for a worker stuck on a call to a database that does not answer.
SHED_KEY = "eproc.front.waited"
SHOWN_PATH_LENGTH = 200


class CallNotStarted(Exception):
    """A call answered unserved by the front after waiting behind a stuck one (never raised: it is
    what the log line of such a call reports)."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"not started after waiting {waited:.1f} s for a worker busy on a call that has "
                         "not finished (is the database answering?)")


class EprocWsgi:
    """The application gunicorn serves: routes by path to the SOAP endpoint, the API or the health check."""

    def __init__(self, hub: Hub, soap: WsgiApp, api: WsgiApp) -> None:
        self.hub = hub
        self._soap = soap
        self._api = api
        self._service_path = hub.settings.service_path.rstrip("/")
        self._metrics_networks = metrics_networks(hub.settings.metrics_allow)
        self._readiness = ReadinessProbe(hub.store)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        context = logs.begin_request(logs.safe_request_id(environ.get("HTTP_X_REQUEST_ID")))
        environ[REQUEST_CONTEXT_KEY] = context
        status: list[str] = []

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> object:
            status[:] = [code]
            headers = [h for h in headers if h[0].lower() != "x-request-id"]
            headers.append(("X-Request-Id", context.correlation_id))
            return start_response(code, headers, exc_info) if exc_info is not None else start_response(code, headers)

        try:
            body = self._route(environ, start, context)
        except Exception as exc:  # noqa: BLE001 - whatever escaped the layers is answered, and logged once
            correlation_id = logs.internal_error(log, exc)
            text = f"Internal error (correlation id {correlation_id}).\n".encode()
            start("500 Internal Server Error", [("Content-Type", "text/plain"), ("Content-Length", str(len(text)))],
                  exc_info=None if not status else _exc_info(exc))
            body = [text]
        return _Finishing(body, lambda: self._finish(environ, context, status, started))

    def _route(self, environ: dict[str, Any], start_response: StartResponse, context: logs.RequestContext
               ) -> Iterable[bytes]:
        request_path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).rstrip("/")
        waited = environ.get(SHED_KEY)
        if waited is not None:
            return self._not_started(environ, start_response, request_path, waited)
        # ASP.NET paths are case-insensitive, and schools type the URL by hand.
        if request_path.lower() == self._service_path.lower():
            context.interface = "soap"
            return self._soap(environ, start_response)
        if request_path == "/api" or request_path.startswith("/api/"):
            context.interface = "api"
            return self._api(environ, start_response)
        if request_path == "/health":
            context.interface, context.operation = "health", "live"
            return self._health(start_response)
        if request_path == "/health/ready":
            context.interface, context.operation = "health", "ready"
            return self._ready(start_response)
        if request_path == "/metrics":
            context.interface, context.operation = "metrics", "scrape"
            return self._metrics(environ, start_response)
        body = f"Not found. The FMS web service is at {self.hub.settings.service_path}\n".encode()
        start_response(
            "404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _not_started(self, environ: dict[str, Any], start_response: StartResponse, request_path: str,
                     waited: float) -> Iterable[bytes]:
        """A call the front answers without serving it: it waited ``waited`` seconds behind a call
        that has not finished (the database's timeouts have passed, so it is not answering). An
        FMS call gets the internal-error fault, as a call that timed out on the database does; the
        API a 503 problem; either is safe to retry, since nothing of it was done. One log line."""
        correlation_id = logs.internal_error(log, CallNotStarted(waited))
        if request_path.lower() == self._service_path.lower() and environ.get("REQUEST_METHOD") == "POST":
            from eproc.soap.endpoint import soap_version
            from eproc.soap.envelope import SOAP11, fault_envelope

            version = soap_version(environ) or SOAP11
            message = self.hub.settings.faults.internal.format(correlation_id=correlation_id)
            body = fault_envelope(version, False, message)
            start_response("500 Internal Server Error",
                           [("Content-Type", version.content_type), ("Content-Length", str(len(body)))])
            return [body]
        payload = {
            "type": "urn:eproc:problem:unavailable", "title": "Service unavailable", "status": 503,
            "detail": f"not started: the service's database is not answering (correlation id {correlation_id}); "
                      "retry later",
        }
        text = json.dumps(payload).encode()
        start_response("503 Service Unavailable", [("Content-Type", "application/problem+json"),
                                                   ("Content-Length", str(len(text))), ("Retry-After", "5")])
        return [text]

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        """Liveness only: the process answers. Whether it can serve is ``/health/ready``'s to say;
        a liveness probe that failed with the database would have every worker restarted for an
        outage a restart cannot mend."""
        return _json(start_response, "200 OK", {"status": "ok"})

    def _ready(self, start_response: StartResponse) -> Iterable[bytes]:
        """Readiness, apart from liveness: 503 while the database cannot serve this code (not
        reachable, not migrated, not writable, not answering within 1 s), so a load balancer
        sends no FMS call here that could only end in an internal error (eproc/readiness.py)."""
        readiness = self._readiness.check()
        payload: dict[str, object] = {
            "status": readiness.status, "revision": readiness.revision, "head": readiness.head
        }
        status = "200 OK" if readiness.ready else "503 Service Unavailable"
        return _json(start_response, status, payload)

    def _metrics(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The Prometheus text format, summed over every worker. Aggregate counts only, and only to
        the addresses ``EPROC_METRICS_ALLOW`` names (loopback by default)."""
        from eproc.soap.endpoint import client_address

        if self.hub.settings.metrics == "off":
            return _text(start_response, "404 Not Found", "Not found: metrics are off (EPROC_METRICS=off).\n")
        address = client_address(environ, self.hub.settings.trusted_proxy_header)
        if not _allowed(address, self._metrics_networks):
            return _text(
                start_response, "403 Forbidden",
                f"Forbidden: /metrics is open only to the addresses in EPROC_METRICS_ALLOW, not {address}.\n",
            )
        queue = metrics.QueueDepthCollector(lambda: metrics.QueueDepth(*admin.queue_depth(self.hub)))
        body = metrics.exposition([queue])
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    def _finish(self, environ: dict[str, Any], context: logs.RequestContext, status: list[str], started: float
                ) -> None:
        """The request's one log line and its count in the metrics, once the answer has been sent."""
        seconds = time.perf_counter() - started
        code = int(status[0].split()[0]) if status else 500
        outcome = context.outcome or _outcome_of(code)
        operation = context.operation
        if operation == "-":
            operation = "unknown" if context.interface in ("soap", "api") else "-"
        metrics.observe_request(context.interface, operation, outcome, seconds)
        method = str(environ.get("REQUEST_METHOD", "-"))
        path = _printable(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
        fields: dict[str, Any] = {
            "correlation_id": context.correlation_id, "account": context.account, "operation": operation,
            "outcome": outcome, "duration": round(seconds, 4), "status": code, "method": method, "path": path,
            "interface": context.interface,
        }
        message = f"{method} {path} {code}"  # the operation, outcome and duration are fields
        if context.error is not None:
            logs.log_error_once(access_log, f"{message}: internal error", context.error, fields)
        else:
            # Probes and scrapes every few seconds would drown the calls: they are logged at DEBUG.
            quiet = context.interface in ("health", "metrics") and code < 500
            access_log.log(logging.DEBUG if quiet else logging.INFO, "%s", message, extra={"eproc": fields})
        logs.end_request()


class _Finishing:
    """The response body, with ``finish`` run once when the server closes it (PEP 3333), i.e. after
    the last byte is sent."""

    def __init__(self, body: Iterable[bytes], finish: Callable[[], None]) -> None:
        self._body = body
        self._finish: Callable[[], None] | None = finish

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            finish, self._finish = self._finish, None
            if finish is not None:
                finish()


def _exc_info(exc: BaseException) -> tuple[type[BaseException], BaseException, Any]:
    return type(exc), exc, exc.__traceback__


def _outcome_of(code: int) -> str:
    """The outcome of a request nothing named one for (the API, health, metrics), by its status."""
    if code < 400:
        return "ok"
    return {401: "auth_failed", 403: "forbidden", 404: "not_found", 409: "conflict", 413: "too_large",
            422: "invalid_document"}.get(code, "client_error" if code < 500 else "server_error")


def _printable(path: str) -> str:
    """A request path as a log line may hold it: decoded ``%0A`` cannot start a forged line."""
    shown = "".join(c if c.isprintable() and c != " " else "?" for c in path[:SHOWN_PATH_LENGTH])
    return shown + ("..." if len(path) > SHOWN_PATH_LENGTH else "")


def _allowed(address: str | None, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    if address is None:
        return False
    ip = ipaddress.ip_address(address)
    return any(ip.version == network.version and ip in network for network in networks)


def _text(start_response: StartResponse, status: str, text: str) -> Iterable[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]

def _json(start_response: StartResponse, status: str, payload: dict[str, object]) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def check_database(hub: Hub, *, require_reachable: bool) -> None:
    """Refuse to start on a database this code cannot use, with the one line that says why.

    A schema that is missing or behind is a deployment mistake that no wait will mend: refused
    always. An unreachable server may come back: ``eproc serve`` refuses to start on one
    (``require_reachable``), but a worker gunicorn restarts while the database is briefly down
    starts anyway and answers 503 on ``/health/ready`` until it is back, rather than taking the
    whole service down with it.
    """
    condition = hub.store.condition()
    if condition.ready:
        return
    if condition.reachable or require_reachable:
        raise ConfigError(condition.problem or "the database is not ready")
    log.error("starting without the database: %s", condition.problem)


def check_files(settings: Settings) -> None:
    """The files the application reads at start-up (the index XSLT), checked without a database,
    so that ``eproc serve`` can refuse them before it forks."""
    from eproc.soap.index import IndexWriter, IndexXsltError

    try:
        IndexWriter(settings.index_xslt)
    except IndexXsltError as exc:
        raise ConfigError(str(exc)) from None


def wsgi_application() -> EprocWsgi:
    """``wsgi.py``'s application, for a WSGI server other than ``eproc serve``: the settings from
    the environment, eproc's log format installed, then :func:`create_app`."""
    settings = get_settings()
    logs.configure(settings.log_format, settings.log_level)
    return create_app(settings)


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> EprocWsgi:
    """Build the WSGI application (the one gunicorn serves through ``wsgi.py``).

    Tests pass their own ``settings`` (or a ``hub`` built with a manual clock).
    """
    from eproc.api.app import create_api  # only web.py knows the API and SOAP layers
    from eproc.soap.endpoint import SoapEndpoint

    if hub is None:
        hub = build_hub(settings or get_settings())
    check_database(hub, require_reachable=False)
    hub.warm()
    api: WsgiApp = create_api(hub).wsgi_app  # type: ignore[assignment]  # werkzeug's StartResponse is narrower
    return EprocWsgi(hub, SoapEndpoint(hub), api)
