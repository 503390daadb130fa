"""``eproc token``: API tokens for supplier portals."""

from __future__ import annotations

import json

import click

from eproc.cli.common import count_of, current_hub, friendly_errors, jsonable, print_table, when
from eproc.services import tokens


@click.group()
def token() -> None:
    """API tokens for the supplier portal's HTTP API (/api/v1)."""


@token.command("create")
@click.argument("name")
@click.option("--permission", "permissions", multiple=True, required=True, type=click.Choice(tokens.PERMISSIONS),
              help="Repeat for each permission the token carries.")
@click.option("--account", "usernames", multiple=True, help="Limit the token to these accounts (repeatable).")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None, help="Default: never expires.")
@friendly_errors
def token_create(name: str, permissions: tuple[str, ...], usernames: tuple[str, ...], expires_days: int | None) -> None:
    """Create a token; it is printed once (store it in the portal's secrets)."""
    view, raw = tokens.create_token(current_hub(), name, list(permissions), list(usernames), expires_days)
    click.echo(f"created token {view.name} ({', '.join(view.permissions)}"
               f"{'; accounts ' + ', '.join(view.accounts) if view.accounts else '; every account'}"
               f"{'; expires ' + when(view.expires_at) if view.expires_at else ''})", err=True)
    click.echo(raw)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@friendly_errors
def token_list(as_json: bool) -> None:
    """List tokens (never the tokens themselves)."""
    rows = tokens.list_tokens(current_hub())
    if as_json:
        click.echo(json.dumps([jsonable(t) for t in rows], indent=2))
        return
    now = current_hub().now()
    table = []
    for t in rows:
        state = "revoked" if t.revoked_at else ("expired" if t.expires_at and t.expires_at <= now else "active")
        table.append([t.name, state, ",".join(t.permissions), ",".join(t.accounts) or "(all)", when(t.expires_at),
                      when(t.last_used_at)])
    print_table(["NAME", "STATE", "PERMISSIONS", "ACCOUNTS", "EXPIRES", "LAST USED"], table)


@token.command("revoke")
@click.argument("name")
@friendly_errors
def token_revoke(name: str) -> None:
    """Revoke a token: every worker and machine refuses it from the next call."""
    tokens.revoke_token(current_hub(), name)
    click.echo(f"token {name} revoked")


@token.command("rotate-key")
@click.option("--drop-old", is_flag=True, help="Also remove the older keys: tokens they signed stop working.")
@friendly_errors
def token_rotate_key(drop_old: bool) -> None:
    """Sign new tokens with a new key; tokens signed by older keys keep working unless --drop-old."""
    hub = current_hub()
    kid = tokens.rotate_signing_key(hub)
    click.echo(f"new signing key {kid}")
    if drop_old:
        removed = tokens.drop_old_signing_keys(hub)
        click.echo(f"removed {count_of(removed, 'older signing key')}")
