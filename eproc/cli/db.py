"""``eproc db``: the database schema."""

from __future__ import annotations

import click

from eproc.cli.common import current_settings, friendly_errors


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    from eproc.store.migrate import upgrade

    upgrade(current_settings().database_url)
    click.echo("database is at the latest schema")
