"""``eproc events``, ``eproc status`` and ``eproc purge``: watching the queue and keeping it tidy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from eproc.cli.common import CliError, count_of, current_hub, friendly_errors, jsonable, print_table, when
from eproc.services import admin, housekeeping
from eproc.services.events import EVENT_TYPE_NAMES


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A date (``2026-12-01``, midnight UTC) or a time (``2026-12-01T09:30``, ``...Z``, ``...+01:00``);
    a time without an offset is UTC, as every time eproc prints is."""

    name = "moment"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.removesuffix("Z") + ("+00:00" if text.endswith("Z") else ""))
        except ValueError:
            self.fail(f"{value!r} is not a date or time: write e.g. 2026-12-01 or 2026-12-01T09:30Z", param, ctx)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("events")
@click.option("--account", "username", default=None)
@click.option("--type", "--kind", "type_", type=click.Choice(list(EVENT_TYPE_NAMES)), default=None,
              help="Only events of this type (see the README's event table).")
@click.option("--since", type=Moment(), default=None, help="Only events at or after this date/time (UTC).")
@click.option("--until", type=Moment(), default=None, help="Only events before this date/time (UTC).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=None, help="Only the most recent N.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of lines.")
@friendly_errors
def events(username: str | None, type_: str | None, since: datetime | None, until: datetime | None,
           limit: int | None, as_json: bool) -> None:
    """The event log, oldest first."""
    if since is not None and until is not None and until <= since:
        raise CliError("--until must be later than --since")
    rows = admin.list_events(current_hub(), username, type_, since=since, until=until, limit=limit)
    if as_json:
        click.echo(json.dumps([jsonable(e) for e in rows], indent=2))
        return
    print_table(
        ["TIME", "TYPE", "ACCOUNT", "SUBJECT", "DETAIL"],
        [[when(e.at), e.type, e.username or "-", e.subject or "-", e.detail or ""] for e in rows],
    )


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@friendly_errors
def status(as_json: bool) -> None:
    """The queue per school: waiting, fetched but never marked processed, expiring within 7 days."""
    rows = admin.queue_status(current_hub())
    if as_json:
        click.echo(json.dumps([jsonable(r) for r in rows], indent=2))
        return
    print_table(
        ["ACCOUNT", "STATE", "WAITING", "FETCHED*", "EXPIRING", "PROCESSED", "ORDERS"],
        [[r.username, "locked" if r.locked else ("enabled" if r.enabled else "disabled"), str(r.waiting),
          str(r.collected_not_processed), str(r.expiring_soon), str(r.processed), str(r.orders)] for r in rows],
        right=frozenset({2, 3, 4, 5, 6}),
    )
    click.echo("* FETCHED: collected by FMS but never marked processed (an import that keeps failing?)")


@click.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object of counts instead of a line.")
@friendly_errors
def purge(dry_run: bool, as_json: bool) -> None:
    """Remove expired documents, processed ones past the retention period, and received orders and
    events past theirs (EPROC_RETENTION_DAYS, EPROC_ORDER_RETENTION_DAYS, EPROC_EVENT_RETENTION_DAYS)."""
    result = housekeeping.purge(current_hub(), dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({"dry_run": result.dry_run, "documents": result.total, "expired": result.expired,
                               "processed": result.processed, "orders": result.orders, "events": result.events}))
        return
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb} {count_of(result.total, 'document')} ({result.expired} expired uncollected, "
        f"{result.processed} processed past retention), {count_of(result.orders, 'received order')}, "
        f"{count_of(result.events, 'event')}"
    )
