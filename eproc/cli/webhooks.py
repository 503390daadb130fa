"""``eproc webhooks`` (endpoints, their delivery log, retry, test ping) and ``eproc worker``."""

from __future__ import annotations

import json

import click

from eproc.cli.common import current_hub, friendly_errors, jsonable, when
from eproc.services import webhooks


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhook endpoints: where eproc POSTs events as they happen (delivered by 'eproc worker')."""


@webhooks_group.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, metavar="TYPE",
              help=f"An event type to send (repeatable): {', '.join(webhooks.SUBSCRIBABLE)}.")
@click.option("--account", "usernames", multiple=True, metavar="USERNAME",
              help="Only these accounts' events (repeatable). Default: every account's, and those naming none.")
@click.option("--description", default=None, help="A note for people: whose receiver this is.")
@friendly_errors
def webhooks_add(url: str, events: tuple[str, ...], usernames: tuple[str, ...], description: str | None) -> None:
    """Add an endpoint; prints its id and its signing secret (shown once: give it to the receiver)."""
    view, secret = webhooks.create_webhook(current_hub(), url, list(events), usernames=list(usernames),
                                           description=description, created_by="cli")
    click.echo(f"added webhook {view.id}: {view.url} ({', '.join(view.events)}"
               f"{'; accounts ' + ', '.join(view.accounts) if view.accounts else '; every account'})", err=True)
    click.echo(f"id: {view.id}")
    click.echo(f"secret: {secret}")


@webhooks_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@friendly_errors
def webhooks_list(as_json: bool) -> None:
    """List endpoints (never their secrets)."""
    rows = webhooks.list_webhooks(current_hub())
    if as_json:
        click.echo(json.dumps([jsonable(v) for v in rows], indent=2))
        return
    click.echo(f"{'ID':>5} {'STATE':<9} {'URL':<48} {'EVENTS':<40} ACCOUNTS")
    for v in rows:
        state = "enabled" if v.enabled else "disabled"
        click.echo(f"{v.id:>5} {state:<9} {v.url:<48} {','.join(v.events):<40} {','.join(v.accounts or ()) or '(all)'}")
        if v.disabled_reason:
            click.echo(f"{'':>5} {'':<9} disabled: {v.disabled_reason}")


@webhooks_group.command("remove")
@click.argument("webhook_id", metavar="ID", type=click.IntRange(1))
@friendly_errors
def webhooks_remove(webhook_id: int) -> None:
    """Remove an endpoint, with its deliveries."""
    webhooks.remove_webhook(current_hub(), webhook_id)
    click.echo(f"webhook {webhook_id} removed")


@webhooks_group.command("enable")
@click.argument("webhook_id", metavar="ID", type=click.IntRange(1))
@friendly_errors
def webhooks_enable(webhook_id: int) -> None:
    """Enable an endpoint again (after a 410, say): its pending deliveries are sent from now."""
    webhooks.update_webhook(current_hub(), webhook_id, enabled=True)
    click.echo(f"webhook {webhook_id} enabled")


@webhooks_group.command("deliveries")
@click.argument("webhook_id", metavar="ID", type=click.IntRange(1))
@click.option("--failed", is_flag=True, help="Only the failed ones (dead letters).")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, each delivery with its attempts.")
@friendly_errors
def webhooks_deliveries(webhook_id: int, failed: bool, limit: int, as_json: bool) -> None:
    """An endpoint's deliveries, newest first, with every attempt."""
    rows = webhooks.deliveries(current_hub(), webhook_id, failed_only=failed, page_size=limit)
    if as_json:
        click.echo(json.dumps([jsonable(d) for d in rows], indent=2, default=str))
        return
    click.echo(f"{'DELIVERY':>8} {'STATUS':<10} {'ATTEMPTS':>8} {'EVENT':<20} {'CREATED':<21} WEBHOOK-ID")
    for d in rows:
        click.echo(f"{d.id:>8} {d.status:<10} {d.attempts:>8} {d.event_type:<20} {when(d.created_at):<21} "
                   f"{d.message_id}")
        for a in d.history:
            answer = str(a.status_code) if a.status_code is not None else "no answer"
            click.echo(f"{'':>8}   {when(a.at)}  {answer:<9} {a.duration_ms:>6} ms  {a.error or ''}".rstrip())
        if d.status == "pending" and d.next_attempt_at:
            click.echo(f"{'':>8}   next attempt {when(d.next_attempt_at)}")


@webhooks_group.command("retry")
@click.argument("delivery_id", metavar="DELIVERY_ID", type=click.IntRange(1))
@friendly_errors
def webhooks_retry(delivery_id: int) -> None:
    """Send a delivery again now (a failed one gets one more attempt), with the same webhook-id."""
    view = webhooks.retry_delivery(current_hub(), delivery_id)
    click.echo(f"delivery {view.id} queued to be sent again ({view.message_id})")


@webhooks_group.command("test")
@click.argument("webhook_id", metavar="ID", type=click.IntRange(1))
@friendly_errors
def webhooks_test(webhook_id: int) -> None:
    """Queue a webhook.test event for this endpoint only."""
    view = webhooks.send_test(current_hub(), webhook_id)
    click.echo(f"test delivery {view.id} queued ({view.message_id})")


@click.command("worker")
@click.option("--exit-with-parent", is_flag=True, hidden=True, help="Stop when the parent process ends.")
@friendly_errors
def worker(exit_with_parent: bool) -> None:
    """Deliver webhooks until stopped (eproc serve starts one unless --no-worker)."""
    import logging

    from eproc.webhook_worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s eproc worker: %(message)s")
    hub = current_hub()
    run_worker(hub, exit_with_parent=exit_with_parent)
    click.echo("eproc: webhook worker stopped", err=True)
