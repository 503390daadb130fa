"""Running the WSGI application under gunicorn, with TLS when given a certificate."""

from __future__ import annotations

import gc
from typing import Any

from gunicorn.app.base import BaseApplication


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


def serve(
    host: str,
    port: int,
    workers: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: int = 120,
) -> None:
    """Serve until stopped. ``port`` 0 takes a free port; the log line 'Listening at:' names it."""
    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "sync",
        # FMS uploads can be several MiB over slow school links.
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
    EprocServer(options).run()
