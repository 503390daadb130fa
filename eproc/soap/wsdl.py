"""The WSDL that FMS (and any .NET proxy generator) reads: a static, ASMX-shaped file, served as-is.

Why static: spyne's generated WSDL hard-codes ``soapAction`` to the bare operation name and
names message parts differently from ASMX, and a .NET tool regenerating a proxy from it would
produce a different client API (see docs/fms-web-service.md, section 3). So ``schemas/service.wsdl``
is written exactly as ASP.NET would write it, and only the two ``address`` locations change at
run time, to the URL the request came in on, as ASMX itself does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from lxml import etree

from eproc.config import SCHEMAS_DIR

WSDL_FILE = "service.wsdl"
# The template beside the code; an endpoint is given the configured one (``<schema_dir>/service.wsdl``).
DEFAULT_TEMPLATE = SCHEMAS_DIR / WSDL_FILE
# The location written in schemas/service.wsdl; it must appear there exactly twice (SOAP 1.1 and 1.2 ports).
PLACEHOLDER_LOCATION = "http://localhost/service.asmx"
_PLACEHOLDER_ATTRIBUTE = f'location="{PLACEHOLDER_LOCATION}"'.encode()
_ADDRESS_TAGS = frozenset(
    {
        "{http://schemas.xmlsoap.org/wsdl/soap/}address",
        "{http://schemas.xmlsoap.org/wsdl/soap12/}address",
    }
)
# Host headers are chosen by the client, so every distinct one costs a cache entry: keep it small.
RENDER_CACHE_SIZE = 32

# A host name (letters, digits, '-', '_', '.') or a bracketed IPv6 literal, with an optional port.
# Anything else in Host / X-Forwarded-Host is ignored rather than echoed into the WSDL.
_HOST_RE = re.compile(r"(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_MAX_HOST_LENGTH = 255
# RFC 3986 path characters kept as they are; everything else is percent-encoded. '%' is kept so
# that a path already percent-encoded (SCRIPT_NAME from some servers) is not encoded twice.
_PATH_SAFE = "/:@!$&'()*+,;=%"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]")


class WsdlTemplateError(RuntimeError):
    """``schemas/service.wsdl`` is not the file this module expects (a deployment error)."""


class WsdlTemplate:
    """The WSDL file, read and checked once (at start-up), rendered per endpoint URL."""

    def __init__(self, path: Path | str = DEFAULT_TEMPLATE) -> None:
        self.path = str(path)
        _template(self.path)  # fail at start-up, not on the first ?wsdl

    def render(self, endpoint_url: str) -> bytes:
        """The service WSDL with both ``soap:address`` and ``soap12:address`` set to ``endpoint_url``.

        A .NET client posts to whatever address the WSDL names, so it must be the public URL the
        school typed into FMS, not the internal one the server listens on. Rendered copies are
        cached per URL in a small LRU (the URL comes from request headers).

        Raises ``ValueError`` if ``endpoint_url`` is not an absolute http(s) URL or contains control
        characters (which XML 1.0 cannot carry in an attribute).
        """
        _check_url(endpoint_url)
        return _render(self.path, endpoint_url)


def render_wsdl(endpoint_url: str, template: Path | str = DEFAULT_TEMPLATE) -> bytes:
    """:meth:`WsdlTemplate.render` of the template at ``template``."""
    _check_url(endpoint_url)
    return _render(str(template), endpoint_url)


def endpoint_url(environ: Mapping[str, Any], service_path: str, trust_forwarded: bool) -> str:
    """The public URL of the service endpoint, as seen by the client that sent this WSGI request.

    Scheme from ``wsgi.url_scheme``, host from the ``Host`` header (else ``SERVER_NAME`` and
    ``SERVER_PORT``), path ``SCRIPT_NAME`` + ``service_path`` (the configured endpoint, not the
    request path, so ``/SERVICE.ASMX?WSDL`` still advertises the canonical path).

    Behind a TLS-terminating proxy the request arrives as plain HTTP for an internal host, so
    ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` say what the client used. Those headers are
    trivially forged by any client, so they are read only when ``trust_forwarded`` is true (the
    operator has said a proxy that sets them sits in front). When a header carries a list
    (``a, b``), the last value is used: it is the one added by the proxy nearest to us, the only
    one we trust. Values that are not a plain scheme or host name are ignored.
    """
    scheme = str(environ.get("wsgi.url_scheme") or "http").lower()
    if scheme not in _DEFAULT_PORTS:
        scheme = "http"
    host: str | None = None

    if trust_forwarded:
        forwarded_proto = _last_value(environ.get("HTTP_X_FORWARDED_PROTO")).lower()
        if forwarded_proto in _DEFAULT_PORTS:
            scheme = forwarded_proto
        host = _valid_host(_last_value(environ.get("HTTP_X_FORWARDED_HOST")))

    if host is None:
        host = _valid_host(str(environ.get("HTTP_HOST") or ""))
    if host is None:
        host = _server_host(environ, scheme)

    script_name = str(environ.get("SCRIPT_NAME") or "").rstrip("/")
    # PEP 3333: environ strings are bytes decoded as latin-1, so encode them back the same way.
    path = quote(script_name, safe=_PATH_SAFE, encoding="latin-1", errors="replace")
    path += quote(service_path, safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host}{path}"


def _last_value(raw: object) -> str:
    """The last entry of a comma-separated header value, stripped ('' if absent)."""
    if not raw:
        return ""
    return str(raw).rsplit(",", 1)[-1].strip()


def _valid_host(host: str) -> str | None:
    host = host.strip()
    if not host or len(host) > _MAX_HOST_LENGTH or not _HOST_RE.fullmatch(host):
        return None
    return host


def _server_host(environ: Mapping[str, Any], scheme: str) -> str:
    """``SERVER_NAME[:SERVER_PORT]`` (PEP 3333 reconstruction), the port left out when it is the default."""
    name = _valid_host(str(environ.get("SERVER_NAME") or "")) or "localhost"
    port = str(environ.get("SERVER_PORT") or "")
    if port and port.isdigit() and port != _DEFAULT_PORTS[scheme] and ":" not in name.rsplit("]", 1)[-1]:
        return f"{name}:{port}"
    return name


def _check_url(url: str) -> None:
    if _CONTROL_CHARS_RE.search(url):
        raise ValueError("endpoint URL contains control characters")
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise ValueError(f"endpoint URL must be an absolute http(s) URL, not {url!r}")


def _escape_attribute(value: str) -> str:
    """``value`` escaped for a double-quoted XML attribute (``&`` first, so nothing is escaped twice)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@lru_cache(maxsize=RENDER_CACHE_SIZE)
def _render(path: str, url: str) -> bytes:
    pieces = _template(path)
    return _escape_attribute(url).encode("utf-8").join(pieces)


@lru_cache(maxsize=4)
def _template(path: str) -> tuple[bytes, ...]:
    """The WSDL file split around its two placeholder ``location`` values.

    Substituting on the bytes keeps the file byte-for-byte as ASMX writes it (``<x />`` spacing,
    attribute order); re-serialising with lxml would not. Checked once against the parsed tree so
    that the substitution can only ever touch the two address elements.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WsdlTemplateError(f"cannot read the WSDL template {path}: {exc.strerror}") from None
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise WsdlTemplateError(f"the WSDL template {path} is not well-formed: {exc}") from None
    addresses = [el for el in root.iter() if el.tag in _ADDRESS_TAGS]
    if len(addresses) != 2 or any(el.get("location") != PLACEHOLDER_LOCATION for el in addresses):
        raise WsdlTemplateError(
            f"the WSDL template {path} must have one soap:address and one soap12:address, "
            f"both with location={PLACEHOLDER_LOCATION!r}"
        )
    pieces = tuple(data.split(_PLACEHOLDER_ATTRIBUTE))
    if len(pieces) != 3:
        raise WsdlTemplateError(
            f"the WSDL template {path} must contain {_PLACEHOLDER_ATTRIBUTE.decode()} exactly twice"
        )
    return (pieces[0] + b'location="', b'"' + pieces[1] + b'location="', b'"' + pieces[2])
