"""The WSGI application: the SOAP endpoint at the configured path, and a health check."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from sqlalchemy import text

from eproc.config import Settings, get_settings
from eproc.services.hub import Hub, build_hub

StartResponse = Callable[..., object]
log = logging.getLogger("eproc.web")


def create_app(settings: Settings | None = None) -> Callable[[dict, StartResponse], Iterable[bytes]]:
    """Build the WSGI application (the one gunicorn serves through ``wsgi.py``)."""
    from eproc.soap.endpoint import SoapEndpoint  # only web.py knows the SOAP layer

    settings = settings or get_settings()
    hub = build_hub(settings)
    soap = SoapEndpoint(hub)
    path = settings.service_path.rstrip("/")

    def application(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        request_path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).rstrip("/")
        # ASP.NET paths are case-insensitive, and schools type the URL by hand.
        if request_path.lower() == path.lower():
            return soap(environ, start_response)
        if request_path == "/health":
            return _health(hub, start_response)
        body = f"Not found. The FMS web service is at {settings.service_path}\n".encode()
        start_response(
            "404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [body]

    application.hub = hub  # type: ignore[attr-defined]
    return application


def _health(hub: Hub, start_response: StartResponse) -> Iterable[bytes]:
    try:
        with hub.uow.begin() as session:
            session.execute(text("SELECT 1"))
        status, payload = "200 OK", {"status": "ok"}
    except Exception:  # noqa: BLE001 - a health check reports, it does not raise
        log.exception("health check: database unreachable")
        status, payload = "503 Service Unavailable", {"status": "database unavailable"}
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
