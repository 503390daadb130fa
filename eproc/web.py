"""The WSGI application: the SOAP endpoint at the configured path, the portal API under ``/api``,
and a health check.

An entry point: it is one of the few places that read the settings (``wsgi.py`` and ``eproc serve``
call :func:`create_app` without any), and it builds the hub every request goes through.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from eproc.config import Settings, get_settings
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

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).rstrip("/")
        # ASP.NET paths are case-insensitive, and schools type the URL by hand.
        if request_path.lower() == self._service_path.lower():
            return self._soap(environ, start_response)
        if request_path == "/api" or request_path.startswith("/api/"):
            return self._api(environ, start_response)
        if request_path == "/health":
            return self._health(start_response)
        body = f"Not found. The FMS web service is at {self.hub.settings.service_path}\n".encode()
        start_response(
            "404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        try:
            self.hub.store.ping()
            status, payload = "200 OK", {"status": "ok"}
        except Exception:  # noqa: BLE001 - a health check reports, it does not raise
            log.exception("health check: database unreachable")
            status, payload = "503 Service Unavailable", {"status": "database unavailable"}
        body = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> EprocWsgi:
    """Build the WSGI application (the one gunicorn serves through ``wsgi.py``).

    Tests pass their own ``settings`` (or a ``hub`` built with a manual clock).
    """
    from eproc.api.app import create_api  # only web.py knows the API and SOAP layers
    from eproc.soap.endpoint import SoapEndpoint

    if hub is None:
        hub = build_hub(settings or get_settings())
    hub.warm()
    api: WsgiApp = create_api(hub).wsgi_app  # type: ignore[assignment]  # werkzeug's StartResponse is narrower
    return EprocWsgi(hub, SoapEndpoint(hub), api)
