"""``eproc serve``: the FMS web service under gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys

import click

from eproc.cli.common import CliError, current_hub, current_settings, friendly_errors


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--tls-cert", default=None, type=click.Path(), help="PEM certificate (chain) for HTTPS.")
@click.option("--tls-key", default=None, type=click.Path(), help="PEM private key for HTTPS.")
@click.option("--no-worker", is_flag=True, help="Do not start a webhook worker (run 'eproc worker' elsewhere).")
@friendly_errors
def serve(host: str, port: int, workers: int, tls_cert: str | None, tls_key: str | None, no_worker: bool) -> None:
    """Serve the FMS web service (gunicorn workers behind a buffering front)."""
    from eproc import logs, metrics, preflight
    from eproc.front import FrontLimits
    from eproc.server import server as configured_server
    from eproc.web import check_database, check_files

    if bool(tls_cert) != bool(tls_key):
        raise CliError("--tls-cert and --tls-key go together")
    # Everything that would make every call fail is refused here, before a worker is forked or a
    # URL announced: the settings, the TLS files, the port, the XSLT, the database.
    settings = current_settings()
    logs.configure(settings.log_format, settings.log_level)
    if tls_cert and tls_key:
        preflight.check_tls(tls_cert, tls_key)
    check_files(settings)
    hub = current_hub()
    check_database(hub, require_reachable=True)
    # The workers open their own connections after the fork; none may be inherited from here.
    hub.store.engine.dispose()
    preflight.check_port(host, port)
    metrics_directory = os.environ.get(metrics.MULTIPROC_VARIABLE)
    if metrics_directory:
        try:
            metrics.check_directory(metrics_directory)
        except metrics.MetricsDirectoryError as exc:
            raise CliError(str(exc)) from None
    warning = preflight.plain_http_warning(host, tls=bool(tls_cert))
    if warning:
        click.echo(f"eproc: warning: {warning}", err=True)
    scheme = "https" if tls_cert else "http"
    click.echo(f"eproc: FMS web service at {scheme}://{host}:{port}{settings.service_path}", err=True)
    limits = FrontLimits(
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
        max_body_bytes=settings.max_request_bytes,
        pin_workers=settings.pin_workers,
        # The longest a call served at once takes to fault on a database that does not answer.
        call_wait=float(settings.database_connect_timeout_seconds + settings.database_statement_timeout_seconds),
    )
    try:
        gunicorn = configured_server(host, port, workers, tls_cert, tls_key, limits=limits)
    except metrics.MetricsDirectoryError as exc:
        raise CliError(str(exc)) from None
    webhook_worker = None if no_worker else _start_webhook_worker()
    try:
        gunicorn.run()
    finally:
        if webhook_worker is not None:
            _stop(webhook_worker)


def _start_webhook_worker() -> subprocess.Popen[bytes]:
    """One ``eproc worker`` beside the web workers, so webhooks are delivered out of the box. It
    reads the same settings (the environment is inherited) and stops when this process does, even
    one killed outright (it watches its parent)."""
    process = subprocess.Popen([sys.executable, "-m", "eproc.cli", "worker", "--exit-with-parent"])
    click.echo(f"eproc: webhook worker started (pid {process.pid})", err=True)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
