"""The SOAP endpoint as a WSGI application: WSDL on GET, SOAP 1.1 or 1.2 on POST by Content-Type.

Bodies are read here, bounded, before spyne sees them: an oversize request is answered with a
fault after the body has been drained (so the client reads the answer instead of a reset), and
never reaches a parser. So are the other faults of the request as a whole that spyne would turn
into a crash or let through: a charset the body is not in, and a DTD (a SOAP message must not
carry one). The caller's address is worked out here too, for the failed-login limits.
"""

from __future__ import annotations

import codecs
import io
import ipaddress
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from spyne.server.wsgi import WsgiApplication

from eproc import logs
from eproc.services.hub import Hub
from eproc.soap.application import build_applications
from eproc.soap.envelope import SOAP11, SOAP12, SoapVersion, fault_envelope
from eproc.soap.index import IndexWriter
from eproc.soap.service import CLIENT_ADDRESS_KEY
from eproc.soap.wsdl import WSDL_FILE, WsdlTemplate, endpoint_url

StartResponse = Callable[..., object]
READ_CHUNK = 64 * 1024
# How much of an oversize body is read and thrown away so the client sees the fault; past this the
# connection is simply closed.
DRAIN_LIMIT = 256 * 1024 * 1024

SOAP_MEDIA_TYPES = {"text/xml": SOAP11, "application/soap+xml": SOAP12}

_CHARSET_PARAMETER = re.compile(r""";\s*charset\s*=\s*["']?([^"';\s]*)""", re.IGNORECASE)
# What may precede the root element: white space, processing instructions (the XML declaration
# among them) and comments. A DOCTYPE can only appear there.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
# UTF-32 first: its little-endian BOM begins with UTF-16's.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class SoapEndpoint:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings
        # Read and checked now, so that a broken file stops the start, not every call.
        self.wsdl = WsdlTemplate(Path(self.settings.schema_dir) / WSDL_FILE)
        applications = build_applications(hub, IndexWriter(self.settings.index_xslt))
        # spyne's own limit stays above ours so that ours, with its clear fault, always acts first.
        limit = self.settings.max_request_bytes + 1
        self._servers = {
            version: WsgiApplication(app, max_content_length=limit) for version, app in applications.items()
        }
        for server in self._servers.values():
            server.event_manager.add_listener("wsgi_close", _release)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method in ("GET", "HEAD"):
            return self._get(environ, start_response)
        if method != "POST":
            logs.note(outcome="invalid_request")
            start_response("405 Method Not Allowed", [("Allow", "GET, POST"), ("Content-Type", "text/plain")])
            return [b"Use POST for SOAP requests and GET ?wsdl for the service description.\n"]
        version = soap_version(environ)
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
            logs.note(outcome="too_large")
            return self._fault(start_response, version, message, raw=True)
        charset = _charset(environ)
        problem = _charset_problem(body, charset) or _body_problem(body, charset)
        if problem is not None:
            return self._fault(start_response, version, problem)
        inner = dict(environ)
        inner["wsgi.input"] = io.BytesIO(body)
        inner["CONTENT_LENGTH"] = str(len(body))
        inner.pop("HTTP_TRANSFER_ENCODING", None)
        inner[CLIENT_ADDRESS_KEY] = client_address(environ, self.settings.trusted_proxy_header)
        return self._servers[version.name](inner, start_response)

    def _get(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if query.lower() in ("wsdl", "wsdl="):
            logs.note(operation="wsdl")
            trusted = bool(self.settings.trusted_proxy_header)
            url = endpoint_url(environ, self.settings.service_path, trust_forwarded=trusted)
            body = self.wsdl.render(url)
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        logs.note(operation="info")
        text = (
            "eproc FMS web service.\n"
            f"Service description (WSDL): {self.settings.service_path}?wsdl\n"
            "Operations: ChangePassword, FetchIndex, FetchIndexFromDate, UpdateDocumentStatus, FetchDoc, SendOrder\n"
        ).encode()
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(text)))])
        return [text]

    def _read_body(self, environ: dict[str, Any]) -> bytes | None:
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
    def _drain(stream: Any, length: int | None) -> None:
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
        if not raw:
            logs.note(outcome="invalid_request")
        message = reason if raw else self.settings.faults.invalid_request.format(reason=reason)
        body = fault_envelope(version, True, message)
        start_response(status, [("Content-Type", version.content_type), ("Content-Length", str(len(body)))])
        return [body]


def soap_version(environ: dict[str, Any]) -> SoapVersion | None:
    """The SOAP version a request's Content-Type names, or None for any other media type."""
    media_type = (environ.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
    return SOAP_MEDIA_TYPES.get(media_type)


def _release(ctx: Any) -> None:
    """Once the answer is sent, let go of the call's request and answer. spyne's contexts are
    reference cycles, so without this a 10 MB FetchDoc's text and its escaped answer (26 MB), or a
    large SendOrder's body, stayed in the worker until a full collection happened to run."""
    ctx.in_string = ctx.in_document = ctx.in_body_doc = ctx.in_object = None
    ctx.out_object = ctx.out_document = ctx.out_string = None


def client_address(environ: dict[str, Any], trusted_proxy_header: str) -> str | None:
    """The caller's IP address: the socket's peer, or what the trusted proxy says it saw.

    A forwarding header is believed only when the operator has named it, because any client can
    send one. Of a list (``X-Forwarded-For: a, b``) the last entry is taken: it was added by the
    proxy in front of us, the only hop we trust. A value that is not an IP address is ignored.
    """
    if trusted_proxy_header:
        raw = str(environ.get("HTTP_" + trusted_proxy_header.strip().upper().replace("-", "_")) or "")
        forwarded = _ip_address(raw.rsplit(",", 1)[-1])
        if forwarded is not None:
            return forwarded
    return _ip_address(str(environ.get("REMOTE_ADDR") or ""))


@lru_cache(maxsize=4096)  # every call asks, mostly for the same few addresses
def _ip_address(value: str) -> str | None:
    """``203.0.113.9``, ``203.0.113.9:4711``, ``[2001:db8::1]:443``, ``for="[2001:db8::1]"`` -> the address."""
    text = value.strip()
    if text.lower().startswith("for="):  # RFC 7239 Forwarded
        text = text[4:]
    text = text.strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _charset(environ: dict[str, Any]) -> str | None:
    match = _CHARSET_PARAMETER.search(environ.get("CONTENT_TYPE") or "")
    return (match.group(1) or None) if match else None  # an empty charset= is ignored, as spyne does


def _charset_problem(body: bytes, charset: str | None) -> str | None:
    """spyne decodes the body by the Content-Type's charset and crashes when it cannot; say why instead.

    Decoded in chunks and thrown away, so checking a 16 MiB body costs no 16 MiB string.
    """
    if charset is None:
        return None  # lxml reads the encoding from the XML itself and reports what it cannot read
    try:
        decoder = codecs.getincrementaldecoder(charset)("strict")
    except LookupError:
        return f"the Content-Type names charset {charset!r}, which is not supported: send utf-8"
    offset = 0
    try:
        for offset in range(0, len(body), READ_CHUNK):
            decoder.decode(body[offset : offset + READ_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        where = offset + max(exc.start, 0)
        return f"the request body is not valid {charset} (an invalid byte sequence near byte {where})"
    return None


def _body_problem(body: bytes, charset: str | None) -> str | None:
    if not body.strip():
        return "the request body is empty: send a SOAP envelope"
    if _has_doctype(body, charset):
        return "a SOAP message must not contain a document type declaration (<!DOCTYPE ...>)"
    return None


def _has_doctype(body: bytes, charset: str | None) -> bool:
    """Whether the prolog holds a DOCTYPE; scanned before any parser sees the body.

    A DTD is where entity expansion and external entities live. spyne's parser neither loads nor
    expands them, but it accepts the envelope, so a request with a DTD would otherwise be served.
    """
    codec = _wide_codec(body, charset)
    if codec is not None:
        # Rare (a UTF-16 body); the markup is ASCII, so re-encoding it makes it scannable as bytes.
        body = body.decode(codec, errors="replace").encode("utf-8")
    position = len(codecs.BOM_UTF8) if body.startswith(codecs.BOM_UTF8) else 0
    while (match := _PROLOG_ITEM.match(body, position)) is not None:
        position = match.end()
    return body.startswith(b"<!DOCTYPE", position)


def _wide_codec(body: bytes, charset: str | None) -> str | None:
    """The codec of a body in UTF-16 or UTF-32 (by its BOM or its charset), else None."""
    for bom, codec in _WIDE_BOMS:
        if body.startswith(bom):
            return codec
    if charset and charset.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32")):
        return charset
    return None
