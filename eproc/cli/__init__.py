"""The admin command line: ``eproc``. Every error is one line on stderr and a non-zero exit.

A module per concern; every command calls the use cases in ``eproc.services``, never the store or
the document standard directly.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from eproc.cli.accounts import account
from eproc.cli.checks import checksum, validate
from eproc.cli.db import db
from eproc.cli.queue import documents, enqueue, orders
from eproc.cli.serve import serve
from eproc.cli.settings import config
from eproc.cli.tokens import token
from eproc.cli.watch import events, purge, status
from eproc.cli.webhooks import webhooks_group, worker

# Groups imported only when used: the Accounts Return toolkit brings authlib, jsonschema and
# openpyxl, which every other command would otherwise pay for at start-up.
LAZY_COMMANDS = {"ar": ("eproc.accounts_return.cli", "ar", "The DfE Accounts Return: validate, submit, sandbox.")}


class EprocGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attribute, _help = LAZY_COMMANDS[name]
            command: Any = getattr(importlib.import_module(module), attribute)
            return command  # type: ignore[no-any-return]
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The lazy groups' one-line help without importing them.
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS:
                rows.append((name, LAZY_COMMANDS[name][2]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=EprocGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eproc", prog_name="eproc")
@click.pass_context
def main(ctx: click.Context) -> None:
    """eproc: the FMS e-procurement web service and its administration."""
    _configure_logging()
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())  # a bare 'eproc' is a request for help, not a mistake


def _configure_logging() -> None:
    """Every log line a command writes in the configured format. Settings that cannot be read
    leave the plain format: the command itself then reports them, in its one line."""
    from eproc import logs
    from eproc.cli.common import invocation
    from eproc.config import ConfigError

    try:
        settings = invocation().settings
    except ConfigError:
        logs.configure()
        return
    logs.configure(settings.log_format, settings.log_level)


for command in (
    db, config, account, token, enqueue, documents, orders, events, status, purge, validate, checksum, serve,
    webhooks_group, worker,
):
    main.add_command(command)

__all__ = ["main"]
