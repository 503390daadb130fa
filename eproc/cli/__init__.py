"""The admin command line: ``eproc``. Every error is one line on stderr and a non-zero exit.

A module per concern; every command calls the use cases in ``eproc.services``, never the store or
the document standard directly.
"""

from __future__ import annotations

import click

from eproc.accounts_return.cli import ar
from eproc.cli.accounts import account
from eproc.cli.checks import checksum, validate
from eproc.cli.db import db
from eproc.cli.queue import documents, enqueue, orders
from eproc.cli.serve import serve
from eproc.cli.settings import config
from eproc.cli.tokens import token
from eproc.cli.watch import events, purge, status


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eproc", prog_name="eproc")
@click.pass_context
def main(ctx: click.Context) -> None:
    """eproc: the FMS e-procurement web service and its administration."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())  # a bare 'eproc' is a request for help, not a mistake


for command in (
    db, config, account, token, enqueue, documents, orders, events, status, purge, validate, checksum, serve, ar,
):
    main.add_command(command)

__all__ = ["main"]
