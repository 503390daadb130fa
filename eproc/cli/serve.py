"""``eproc serve``: the FMS web service under gunicorn."""

from __future__ import annotations

from pathlib import Path

import click

from eproc.cli.common import CliError, current_settings, friendly_errors


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--tls-cert", default=None, type=click.Path(), help="PEM certificate (chain) for HTTPS.")
@click.option("--tls-key", default=None, type=click.Path(), help="PEM private key for HTTPS.")
@friendly_errors
def serve(host: str, port: int, workers: int, tls_cert: str | None, tls_key: str | None) -> None:
    """Serve the FMS web service (gunicorn)."""
    from eproc.server import serve as run_server

    if bool(tls_cert) != bool(tls_key):
        raise CliError("--tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path and not Path(path).is_file():
            raise CliError(f"{path}: no such file")
    settings = current_settings()  # refuse a bad configuration before forking workers
    scheme = "https" if tls_cert else "http"
    click.echo(f"eproc: FMS web service at {scheme}://{host}:{port}{settings.service_path}", err=True)
    run_server(host, port, workers, tls_cert, tls_key)
