"""The SOAP endpoint as a WSGI application: WSDL on GET, SOAP 1.1 or 1.2 on POST by Content-Type.

Bodies are read here, bounded, before spyne sees them: an oversize request is answered with a
fault after the body has been drained (so the client reads the answer instead of a reset), and
never reaches a parser.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable

from spyne.server.wsgi import WsgiApplication

from eproc.services.hub import Hub
from eproc.soap.application import build_applications
from eproc.soap.envelope import SOAP11, SOAP12, SoapVersion, fault_envelope
from eproc.soap.wsdl import endpoint_url, render_wsdl

StartResponse = Callable[..., object]
READ_CHUNK = 64 * 1024
# How much of an oversize body is read and thrown away so the client sees the fault; past this the
# connection is simply closed.
DRAIN_LIMIT = 256 * 1024 * 1024

SOAP_MEDIA_TYPES = {"text/xml": SOAP11, "application/soap+xml": SOAP12}


class SoapEndpoint:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings
        applications = build_applications(hub)
        # spyne's own limit stays above ours so that ours, with its clear fault, always acts first.
        limit = self.settings.max_request_bytes + 1
        self._servers = {
            version: WsgiApplication(app, max_content_length=limit) for version, app in applications.items()
        }

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method in ("GET", "HEAD"):
            return self._get(environ, start_response)
        if method != "POST":
            start_response("405 Method Not Allowed", [("Allow", "GET, POST"), ("Content-Type", "text/plain")])
            return [b"Use POST for SOAP requests and GET ?wsdl for the service description.\n"]
        version = self._soap_version(environ)
        if version is None:
            content_type = environ.get("CONTENT_TYPE") or "(none)"
            reason = (
                f"Content-Type {content_type!r} is not supported: "
                "use text/xml (SOAP 1.1) or application/soap+xml (SOAP 1.2)"
            )
            return self._fault(start_response, SOAP11, reason, status="415 Unsupported Media Type")
        body = self._read_body(environ)
        if body is None:
            message = self.settings.faults.request_too_large.format(limit=self.settings.max_request_bytes)
            return self._fault(start_response, version, message, raw=True)
        inner = dict(environ)
        inner["wsgi.input"] = io.BytesIO(body)
        inner["CONTENT_LENGTH"] = str(len(body))
        inner.pop("HTTP_TRANSFER_ENCODING", None)
        return self._servers[version.name](inner, start_response)

    def _get(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if query.lower() in ("wsdl", "wsdl="):
            trusted = bool(self.settings.trusted_proxy_header)
            url = endpoint_url(environ, self.settings.service_path, trust_forwarded=trusted)
            body = render_wsdl(url)
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        text = (
            "eproc FMS web service.\n"
            f"Service description (WSDL): {self.settings.service_path}?wsdl\n"
            "Operations: ChangePassword, FetchIndex, FetchIndexFromDate, UpdateDocumentStatus, FetchDoc, SendOrder\n"
        ).encode()
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(text)))])
        return [text]

    @staticmethod
    def _soap_version(environ: dict) -> SoapVersion | None:
        media_type = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        return SOAP_MEDIA_TYPES.get(media_type)

    def _read_body(self, environ: dict) -> bytes | None:
        """The whole body, or None when it exceeds the limit (after draining what a client sends)."""
        limit = self.settings.max_request_bytes
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH")
        try:
            length = int(declared) if declared else None
        except ValueError:
            length = None
        if length is not None and length > limit:
            self._drain(stream, length)
            return None
        chunks: list[bytes] = []
        size = 0
        remaining = length
        while remaining is None or remaining > 0:
            chunk = stream.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
            if not chunk:
                break
            size += len(chunk)
            if remaining is not None:
                remaining -= len(chunk)
            if size > limit:
                self._drain(stream, None)
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _drain(stream, length: int | None) -> None:  # type: ignore[no-untyped-def]
        budget = DRAIN_LIMIT if length is None else min(length, DRAIN_LIMIT)
        while budget > 0:
            chunk = stream.read(min(READ_CHUNK, budget))
            if not chunk:
                return
            budget -= len(chunk)

    def _fault(
        self,
        start_response: StartResponse,
        version: SoapVersion,
        reason: str,
        *,
        raw: bool = False,
        status: str = "500 Internal Server Error",
    ) -> Iterable[bytes]:
        message = reason if raw else self.settings.faults.invalid_request.format(reason=reason)
        body = fault_envelope(version, True, message)
        start_response(status, [("Content-Type", version.content_type), ("Content-Length", str(len(body)))])
        return [body]
