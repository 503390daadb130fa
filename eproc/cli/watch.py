"""``eproc events``, ``eproc status`` and ``eproc purge``: watching the queue and keeping it tidy."""

from __future__ import annotations

import click

from eproc.cli.common import current_hub, friendly_errors, when
from eproc.services import admin, housekeeping
from eproc.services.events import EVENT_TYPE_NAMES


@click.command("events")
@click.option("--account", "username", default=None)
@click.option("--type", "--kind", "type_", type=click.Choice(list(EVENT_TYPE_NAMES)), default=None,
              help="Only events of this type (see the README's event table).")
@friendly_errors
def events(username: str | None, type_: str | None) -> None:
    """The event log, oldest first."""
    for e in admin.list_events(current_hub(), username, type_):
        click.echo(f"{when(e.at)}  {e.type:<24} {e.username or '-':<20} {e.subject or '-'}  {e.detail or ''}".rstrip())


@click.command("status")
@friendly_errors
def status() -> None:
    """The queue per school: waiting, fetched but never marked processed, expiring within 7 days."""
    rows = admin.queue_status(current_hub())
    click.echo(
        f"{'ACCOUNT':<24} {'STATE':<9} {'WAITING':>7} {'FETCHED*':>8} {'EXPIRING':>8} {'PROCESSED':>9} {'ORDERS':>6}"
    )
    for r in rows:
        state = "locked" if r.locked else ("enabled" if r.enabled else "disabled")
        click.echo(f"{r.username:<24} {state:<9} {r.waiting:>7} {r.collected_not_processed:>8} "
                   f"{r.expiring_soon:>8} {r.processed:>9} {r.orders:>6}")
    click.echo("* FETCHED: collected by FMS but never marked processed (an import that keeps failing?)")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@friendly_errors
def purge(dry_run: bool) -> None:
    """Remove expired documents, and processed ones past the retention period."""
    result = housekeeping.purge(current_hub(), dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb} {result.total} documents ({result.expired} expired uncollected, "
        f"{result.processed} processed past retention)"
    )
