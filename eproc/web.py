"""The WSGI application: the SOAP endpoint at the configured path, the portal API under ``/api``,
liveness at ``/health`` and readiness at ``/health/ready``.

An entry point: it is one of the few places that read the settings (``wsgi.py`` and ``eproc serve``
call :func:`create_app` without any), and it builds the hub every request goes through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from eproc.config import ConfigError, Settings, get_settings
from eproc.readiness import ReadinessProbe
from eproc.services.hub import Hub, build_hub

StartResponse = Callable[..., object]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
log = logging.getLogger("eproc.web")


class EprocWsgi:
    """The application gunicorn serves: routes by path to the SOAP endpoint, the API or the health check."""

    def __init__(self, hub: Hub, soap: WsgiApp, api: WsgiApp) -> None:
        self.hub = hub
        self._soap = soap
        self._api = api
        self._service_path = hub.settings.service_path.rstrip("/")
        self._readiness = ReadinessProbe(hub.store)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).rstrip("/")
        # ASP.NET paths are case-insensitive, and schools type the URL by hand.
        if request_path.lower() == self._service_path.lower():
            return self._soap(environ, start_response)
        if request_path == "/api" or request_path.startswith("/api/"):
            return self._api(environ, start_response)
        if request_path == "/health":
            return self._health(start_response)
        if request_path == "/health/ready":
            return self._ready(start_response)
        body = f"Not found. The FMS web service is at {self.hub.settings.service_path}\n".encode()
        start_response(
            "404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        """Liveness only: the process answers. Whether it can serve is ``/health/ready``'s to say;
        a liveness probe that failed with the database would have every worker restarted for an
        outage a restart cannot mend."""
        return _json(start_response, "200 OK", {"status": "ok"})

    def _ready(self, start_response: StartResponse) -> Iterable[bytes]:
        """Readiness, apart from liveness: 503 while the database cannot serve this code (not
        reachable, not migrated, not writable, not answering within 1.5 s), so a load balancer
        sends no FMS call here that could only end in an internal error (eproc/readiness.py)."""
        readiness = self._readiness.check()
        payload: dict[str, object] = {
            "status": readiness.status, "revision": readiness.revision, "head": readiness.head
        }
        status = "200 OK" if readiness.ready else "503 Service Unavailable"
        return _json(start_response, status, payload)


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
