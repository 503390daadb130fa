"""Running the WSGI application under gunicorn, with TLS when given a certificate.

The gunicorn arbiter (master) forks the workers and replaces any that dies; each worker is an
:class:`eproc.front.BufferingWorker`, which reads requests whole before its application thread sees
them, so slow clients hold a connection slot but never a worker. Process hooks (gunicorn's
``child_exit``, ``when_ready``, ...) are gunicorn settings: add them to :func:`gunicorn_options`.
"""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication

from eproc.front import BufferingWorker, FrontLimits


class EprocServer(BaseApplication):
    """gunicorn, configured in code: each worker builds its own app (and database pool) after fork."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if value is not None and key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from eproc.web import create_app

        return create_app()


def _freeze_the_application(worker: Any) -> None:
    """After the worker has built the application: move everything alive now (the code, spyne's
    and lxml's schemas, the settings) out of the cyclic collector's way. Those objects live as
    long as the worker, and every collection would otherwise walk them again."""
    gc.freeze()


def worker_class(limits: FrontLimits) -> type[BufferingWorker]:
    """The worker class gunicorn forks, carrying this server's limits (gunicorn settings cannot)."""
    return type("EprocWorker", (BufferingWorker,), {"limits": limits})


def gunicorn_options(
    host: str,
    port: int,
    workers: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: int = 120,
    limits: FrontLimits | None = None,
) -> dict[str, Any]:
    """gunicorn's settings for ``eproc serve``."""
    limits = limits or FrontLimits()
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": worker_class(limits),
        "worker_connections": limits.max_connections,
        # How long one call may keep the application thread before the arbiter replaces the worker
        # (reading the request no longer counts: the front does that, see eproc/front.py).
        "timeout": timeout,
        "graceful_timeout": 30,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "eproc",
        "certfile": tls_cert,
        "keyfile": tls_key,
        # gunicorn >= 24 opens a control socket at one fixed path per user; several eproc servers
        # on one machine (tests, staging beside production) would fight over it.
        "control_socket_disable": True,
        "post_worker_init": _freeze_the_application,
    }


def serve(
    host: str,
    port: int,
    workers: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: int = 120,
    limits: FrontLimits | None = None,
) -> None:
    """Serve until stopped. ``port`` 0 takes a free port; the log line 'Listening at:' names it."""
    EprocServer(gunicorn_options(host, port, workers, tls_cert, tls_key, timeout, limits)).run()
