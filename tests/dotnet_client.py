"""The raw SOAP client of the tests: requests shaped exactly as .NET's SoapHttpClientProtocol sends them.

Headers in .NET's order, ``Expect: 100-continue`` with the body held back until the server says
``100 Continue``, the default-namespace ``AuthHeader``, ``soap:`` prefixes and a quoted SOAPAction.

It posts over a real socket (HTTP or HTTPS) to a URL, or in process to a
:class:`support.WsgiEndpoint` (the same request, as a WSGI environ, without the wire): only what
needs the wire (100-continue, TLS, byte-exact envelopes from gunicorn) needs a server.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree
from support import WsgiEndpoint, call_wsgi

OTS = "http://www.dcsf.gov.uk/open/webservices/ots"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
USER_AGENT = "Mozilla/4.0 (compatible; MSIE 6.0; MS Web Services Client Protocol 4.0.30319.42000)"


def escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def envelope(
    operation: str,
    params: str = "",
    username: str | None = "",
    password: str | None = "",
    version: str = "1.1",
    header: str | None = None,
) -> bytes:
    """The request body .NET writes (it omits the header entirely when no AuthHeader is set)."""
    env_ns = SOAP11_ENV if version == "1.1" else SOAP12_ENV
    if header is None and username is not None:
        header = (
            f'<soap:Header><AuthHeader xmlns="{OTS}"><Username>{escape(username)}</Username>'
            f"<Password>{escape(password or '')}</Password></AuthHeader></soap:Header>"
        )
    body = f'<{operation} xmlns="{OTS}">{params}</{operation}>' if params else f'<{operation} xmlns="{OTS}" />'
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{env_ns}" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"{header or ''}<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    got_continue: bool

    def tree(self) -> etree._Element:
        return etree.fromstring(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def fault(self) -> tuple[str, str]:
        """(faultcode, faultstring), checking the fault has the ASMX shape."""
        return fault(self)

    def result(self, operation: str) -> str:
        """The text of <OpResult> of a successful call, checking the ASMX shape."""
        assert self.status == 200, self.body[:500]
        return result_text(self, operation)


# The Content-Type .NET sends for the SOAP version (None: send no Content-Type at all).
DEFAULT_CONTENT_TYPE = "(.NET's for the version)"


def post(
    url: str | WsgiEndpoint,
    operation: str,
    body: bytes,
    version: str = "1.1",
    content_type: str | None = DEFAULT_CONTENT_TYPE,
    ssl_context: ssl.SSLContext | None = None,
    expect_continue: bool = True,
    timeout: float = 30,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    remote_addr: str = "127.0.0.1",
) -> Response:
    """POST ``body`` as .NET would; ``headers`` are added after .NET's own, ``chunked`` sends the body
    in 1 MiB chunks instead of with a Content-Length. ``remote_addr`` is the peer in process."""
    target = url.url if isinstance(url, WsgiEndpoint) else url
    parts = urlsplit(target)
    host, port = parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80)
    if content_type == DEFAULT_CONTENT_TYPE:
        content_type = (
            "text/xml; charset=utf-8"
            if version == "1.1"
            else f'application/soap+xml; charset=utf-8; action="{OTS}/{operation}"'
        )
    fields = [("User-Agent", USER_AGENT)]
    if content_type is not None:
        fields.append(("Content-Type", content_type))
    if version == "1.1":
        fields.append(("SOAPAction", f'"{OTS}/{operation}"'))
    fields += [("Host", f"{host}:{port}"), *(headers or {}).items()]
    fields.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body))))
    if isinstance(url, WsgiEndpoint):
        # The server's side of the request, as gunicorn hands it over: body de-chunked, no interim 100.
        answer = call_wsgi(url.app, target, "POST", body, fields, remote_addr=remote_addr)
        return Response(answer.status, answer.headers, answer.body, False)
    if expect_continue:
        fields.append(("Expect", "100-continue"))
    fields.append(("Connection", "close"))
    lines = [f"POST {parts.path or '/'} HTTP/1.1", *(f"{name}: {value}" for name, value in fields)]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    if chunked:
        body = b"".join(
            f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            for piece in (body[start : start + (1 << 20)] for start in range(0, len(body), 1 << 20))
        ) + b"0\r\n\r\n"

    raw = socket.create_connection((host, port), timeout=timeout)
    sock = ssl_context.wrap_socket(raw, server_hostname=host) if ssl_context else raw
    try:
        sock.sendall(head)
        buffer = b""
        got_continue = False
        if expect_continue:
            # .NET waits (up to 350 ms) for the interim response before sending the body.
            sock.settimeout(2)
            try:
                while b"\r\n\r\n" not in buffer:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buffer += chunk
            except TimeoutError:
                pass
            sock.settimeout(timeout)
            if buffer.startswith(b"HTTP/1.1 100"):
                got_continue = True
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
        sock.sendall(body)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
    finally:
        sock.close()
    # Like .NET, read past an interim 100 that arrived after the body was already on its way (a
    # worker still starting up answers it late); it was sent all the same.
    while buffer.startswith(b"HTTP/1.1 100"):
        got_continue = True
        buffer = buffer.split(b"\r\n\r\n", 1)[1]
    head_bytes, _, payload = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    received: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    if received.get("transfer-encoding", "").lower() == "chunked":
        payload = _dechunk(payload)
    return Response(int(status_line.split()[1]), received, payload, got_continue)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


def call(
    url: str | WsgiEndpoint,
    operation: str,
    params: str = "",
    username: str | None = "",
    password: str | None = "",
    version: str = "1.1",
    **kwargs: object,
) -> Response:
    body = envelope(operation, params, username, password, version)
    return post(url, operation, body, version, **kwargs)  # type: ignore[arg-type]


def result_text(response: Response, operation: str) -> str:
    """The text of <OpResult>, after checking the response is the ASMX shape element by element."""
    root = response.tree()
    env_ns = root.nsmap.get("soap")
    assert root.tag == f"{{{env_ns}}}Envelope"
    assert [child.tag for child in root] == [f"{{{env_ns}}}Body"]
    body = root[0]
    assert [child.tag for child in body] == [f"{{{OTS}}}{operation}Response"]
    payload = body[0]
    assert payload.nsmap.get(None) == OTS and payload.prefix is None
    assert [child.tag for child in payload] == [f"{{{OTS}}}{operation}Result"]
    return payload[0].text or ""


def fault(response: Response) -> tuple[str, str]:
    """(faultcode, faultstring) of a SOAP 1.1 or 1.2 fault, checking the detail element is there."""
    root = response.tree()
    env_ns = root.nsmap.get("soap")
    body = root.find(f"{{{env_ns}}}Body")
    assert body is not None and len(body) == 1
    fault_element = body[0]
    assert fault_element.tag == f"{{{env_ns}}}Fault"
    if env_ns == SOAP11_ENV:
        assert [c.tag for c in fault_element] == ["faultcode", "faultstring", "detail"]
        return fault_element[0].text or "", fault_element[1].text or ""
    code = fault_element.find(f"{{{env_ns}}}Code/{{{env_ns}}}Value")
    reason = fault_element.find(f"{{{env_ns}}}Reason/{{{env_ns}}}Text")
    assert fault_element.find(f"{{{env_ns}}}Detail") is not None
    return code.text or "", reason.text or ""
