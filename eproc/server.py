"""Running the WSGI application under gunicorn, with TLS when given a certificate.

The gunicorn arbiter (master) forks the workers and replaces any that dies; each worker is an
:class:`eproc.front.BufferingWorker`, which reads requests whole before its application thread sees
them, so slow clients hold a connection slot but never a worker. Process hooks (gunicorn's
``child_exit``, ``when_ready``, ...) are gunicorn settings: add them to :func:`gunicorn_options`.
"""

from __future__ import annotations

import atexit
import gc
import os
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from eproc import affinity, logs, metrics
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
        "pre_fork": affinity.assign_cpu,
    }


def server(
    host: str,
    port: int,
    workers: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: int = 120,
    limits: FrontLimits | None = None,
) -> EprocServer:
    """The server, configured but not yet forked: the metrics directory is named by now (in the
    environment), so a process started before :meth:`EprocServer.run` (the webhook worker) counts
    in the same one. ``port`` 0 takes a free port; the log line 'Listening at:' names it."""
    options = gunicorn_options(host, port, workers, tls_cert, tls_key, timeout, limits)
    options.update(operations_options())
    return EprocServer(options)


def serve(
    host: str,
    port: int,
    workers: int,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: int = 120,
    limits: FrontLimits | None = None,
) -> None:
    """Serve until stopped."""
    server(host, port, workers, tls_cert, tls_key, timeout, limits).run()


# --- metrics and logs under gunicorn (eproc/metrics.py, eproc/logs.py) ----------------------------


def operations_options() -> dict[str, Any]:
    """gunicorn's part in the metrics and the logs, before the workers fork: the directory every
    worker counts in (the user's ``PROMETHEUS_MULTIPROC_DIR``, emptied, or a private one removed
    at exit), each exited worker's live gauges dropped, gunicorn's own lines in eproc's format, and
    no gunicorn access log (eproc's request line, ``eproc.access``, says more)."""
    directory, made = metrics.use_directory(os.environ.get(metrics.MULTIPROC_VARIABLE))
    if made:
        arbiter = os.getpid()
        # Workers run atexit handlers too when they exit: only the arbiter removes the directory.
        atexit.register(lambda: metrics.remove_directory(directory) if os.getpid() == arbiter else None)
    return {"logger_class": EprocGunicornLogger, "accesslog": None, "child_exit": _worker_exited}


def _worker_exited(_arbiter: Any, worker: Any) -> None:
    metrics.worker_exited(worker.pid)


class EprocGunicornLogger(glogging.Logger):
    """gunicorn's error log ('Booting worker', 'Worker timeout') in eproc's format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setFormatter(logs.formatter(logs.configured_format()))
