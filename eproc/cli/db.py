"""``eproc db``: the database schema."""

from __future__ import annotations

import json
import sys

import click

from eproc.cli.common import current_hub, current_settings, friendly_errors


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    from eproc.store.condition import display_url
    from eproc.store.migrate import upgrade

    url = current_settings().database_url
    upgrade(url)
    click.echo("database is at the latest schema")
    click.echo(f"eproc: database {display_url(url)}", err=True)  # which one: the default path is relative


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@friendly_errors
def db_status(as_json: bool) -> None:
    """Which database, its migration against this eproc's, and its rows; exit 1 when not ready."""
    store = current_hub().store
    condition = store.condition()
    counts = store.row_counts() if condition.reachable else {}
    if as_json:
        click.echo(json.dumps({
            "url": condition.url,
            "reachable": condition.reachable,
            "revision": condition.revision,
            "head": condition.head,
            "ready": condition.ready,
            "problem": condition.problem,
            "rows": counts,
        }, indent=2))
    else:
        rows = [
            ("database", condition.url),
            ("reachable", "yes" if condition.reachable else "no"),
            ("revision", condition.revision or "-"),
            ("head", condition.head),
        ] + [(f"rows in {table}", str(count)) for table, count in counts.items()]
        width = max(len(label) for label, _ in rows) + 2
        for label, value in rows:
            click.echo(f"{label + ':':<{width}}{value}")
    if condition.problem:
        click.echo(f"eproc: error: {condition.problem}", err=True)
        sys.exit(1)
