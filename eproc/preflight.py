"""Start-up checks: what ``eproc serve`` refuses before it forks a worker or announces a URL.

Each check answers with one line (what is wrong, and what fixes it) instead of a server that starts
and then fails every call: a certificate gunicorn would only try to read at the first connection,
a port some other process holds, a database that is not there or not migrated.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
from pathlib import Path

from eproc.config import ConfigError


class StartupRefused(ConfigError):
    """A start-up check failed; the message is the one line to print."""


def check_tls(cert: str, key: str) -> None:
    """The certificate and key are readable PEM and belong together (gunicorn reads them only on
    the first connection, so a mistake would otherwise show as every handshake failing)."""
    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        _check_readable(option, path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=cert)
    except ssl.SSLError:
        raise StartupRefused(
            f"--tls-cert {cert}: not a PEM certificate (expected '-----BEGIN CERTIFICATE-----')"
        ) from None
    try:
        # A password callback that answers nothing: an encrypted key is refused instead of
        # prompting on a terminal that a service manager does not have.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc)
        if "KEY_VALUES_MISMATCH" in reason:
            raise StartupRefused(f"--tls-key {key} does not belong to the certificate --tls-cert {cert}") from None
        if "BAD_DECRYPT" in reason or "bad decrypt" in str(exc).lower():
            raise StartupRefused(
                f"--tls-key {key} is encrypted: give eproc an unencrypted key file (mode 0600)"
            ) from None
        raise StartupRefused(
            f"--tls-key {key}: not a PEM private key for --tls-cert {cert} (expected '-----BEGIN PRIVATE KEY-----')"
        ) from None


def _check_readable(option: str, path: str) -> None:
    file = Path(path)
    if not file.exists():
        raise StartupRefused(f"{option} {path}: no such file")
    if not file.is_file():
        raise StartupRefused(f"{option} {path}: not a file")
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        raise StartupRefused(f"{option} {path}: cannot read it ({exc.strerror})") from None


def check_port(host: str, port: int) -> None:
    """Bind the address once and let it go: gunicorn would otherwise announce nothing useful and
    retry for several seconds with a screen of errors."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    # As gunicorn binds: with SO_REUSEADDR, so a socket in TIME_WAIT from the last run is no refusal.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupRefused(
                f"cannot listen on {host}:{port}: the port is in use (another eproc?); choose another with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupRefused(
                f"cannot listen on {host}:{port}: permission denied (ports below 1024 need privileges); "
                "use a port above 1024 behind a reverse proxy"
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, socket.EAI_NONAME) or isinstance(exc, socket.gaierror):
            raise StartupRefused(f"cannot listen on {host}:{port}: this machine has no address {host}") from None
        raise StartupRefused(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        probe.close()


def plain_http_warning(host: str, tls: bool) -> str | None:
    """A warning for plain HTTP on an address other machines can reach: FMS sends each school's
    password with every call, so outside the machine it must travel over TLS."""
    if tls or _is_loopback(host):
        return None
    return (
        f"serving plain HTTP on {host}: FMS sends passwords with every call; use --tls-cert/--tls-key, "
        "or listen on 127.0.0.1 behind a reverse proxy that terminates TLS"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
