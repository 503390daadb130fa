"""``eproc account``: school accounts (FMS logins)."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from eproc.cli.common import CliError, current_hub, friendly_errors, jsonable, print_table, when
from eproc.services import accounts

DEMO_USERNAME = "demo-school"
# Apart from the README's example school and the sample documents (123456789 / 987654321), so that
# after 'make run' the README's next steps route to the example school, not to two accounts.
DEMO_BUYER_DUNS = "111111111"
DEMO_SUPPLIER_DUNS = "999999999"


@click.group()
def account() -> None:
    """School accounts (FMS logins)."""


@account.command("add")
@click.argument("username")
@click.option("--establishment", required=True, help="The school's name.")
@click.option("--buyer-duns", required=True, help="The school's 9-digit DUNS number.")
@click.option("--supplier-duns", required=True, help="The supplier's 9-digit DUNS number.")
@click.option("--account-number", default=None, help="The supplier's account number for the school.")
@click.option("--password", default=None,
              help="Choose the password (visible in shell history: prefer --password-stdin or --prompt-password).")
@click.option("--password-stdin", is_flag=True, help="Read the chosen password from the first line of standard input.")
@click.option("--prompt-password", is_flag=True, help="Ask for the chosen password (typed twice, not echoed).")
@click.option("--language", default="en", show_default=True)
@click.option("--currency", default="GBP", show_default=True)
@friendly_errors
def account_add(
    username: str,
    establishment: str,
    buyer_duns: str,
    supplier_duns: str,
    account_number: str | None,
    password: str | None,
    password_stdin: bool,
    prompt_password: bool,
    language: str,
    currency: str,
) -> None:
    """Create a school account (default: a strong password is generated and shown once)."""
    if sum((password is not None, password_stdin, prompt_password)) > 1:
        raise CliError("give at most one of --password, --password-stdin and --prompt-password")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("--password-stdin: standard input holds no password")
    elif prompt_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    view, secret = accounts.create_account(
        current_hub(),
        username,
        establishment_name=establishment,
        buyer_duns=buyer_duns,
        supplier_duns=supplier_duns,
        account_number=account_number,
        password=password,
        language=language,
        currency=currency,
    )
    click.echo(f"created account {view.username} for {view.establishment_name}")
    if password is None:
        click.echo(f"password: {secret}")
        click.echo("(shown once; type it into FMS under Tools | eProcurement Setup)")


@account.command("demo")
@friendly_errors
def account_demo() -> None:
    """Create the demo school account if there is none (used by 'make run')."""
    hub = current_hub()
    if accounts.find_account(hub, DEMO_USERNAME) is None:
        view, secret = accounts.create_account(
            hub,
            DEMO_USERNAME,
            establishment_name="DEMO SCHOOL (not a real school)",
            buyer_duns=DEMO_BUYER_DUNS,
            supplier_duns=DEMO_SUPPLIER_DUNS,
            account_number="DEMO-0001",
        )
        click.echo("=== DEMO ACCOUNT (for trying eproc out; disable it in production) ===")
        click.echo(f"username: {view.username}")
        click.echo(f"password: {secret}")
        click.echo(f"buyer DUNS {DEMO_BUYER_DUNS}, supplier DUNS {DEMO_SUPPLIER_DUNS}")
        return
    click.echo(
        f"demo account {DEMO_USERNAME!r} exists; its password was shown when it was created "
        f"('eproc account reset-password {DEMO_USERNAME}' makes a new one)"
    )


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@friendly_errors
def account_list(as_json: bool) -> None:
    """List school accounts."""
    rows = accounts.list_accounts(current_hub())
    if as_json:
        click.echo(json.dumps([jsonable(a) for a in rows], indent=2))
        return
    print_table(
        ["USERNAME", "ENABLED", "BUYER DUNS", "SUPPLIER DUNS", "ESTABLISHMENT"],
        [[a.username, "yes" if a.enabled else "no", a.buyer_duns, a.supplier_duns, a.establishment_name] for a in rows],
    )


def _print_account(view: accounts.AccountView, now: datetime) -> None:
    from eproc.services.lockout import seconds_left

    rows = [
        ("username", view.username),
        ("establishment", view.establishment_name),
        ("buyer DUNS", view.buyer_duns),
        ("supplier DUNS", view.supplier_duns),
        ("account number", view.account_number or "-"),
        ("language / currency", f"{view.language} / {view.currency}"),
        ("enabled", "yes" if view.enabled else "no"),
        ("failed logins", str(view.failed_logins)),
    ]
    for bucket in view.buckets:
        counts = f"{bucket.failures} in a row"
        if bucket.bucket == "unfamiliar":
            counts += f", {bucket.failures_this_hour} this hour"
        rows.append((f"  from {bucket.bucket} addresses", counts))
    locks = [
        f"yes, {b.bucket} addresses until {when(b.locked_until)} ({seconds_left(b.locked_until, now)}s left): "
        f"{b.lock_reason}"
        for b in view.buckets if b.locked
    ]
    rows += [("locked", line) for line in locks] or [("locked", "no")]
    rows += [("familiar addresses", str(sum(1 for a in view.familiar_addresses if a.familiar)))]
    rows += [
        (f"  {a.address}", f"last login {when(a.last_seen_at)}, first {when(a.first_seen_at)}"
                           + ("" if a.familiar else " (no longer familiar)"))
        for a in view.familiar_addresses
    ]
    rows += [
        ("password changed", when(view.password_changed_at)),
        ("previous password valid until", when(view.previous_password_valid_until)),
        ("created", when(view.created_at)),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':<32}{value}")


@account.command("show")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@friendly_errors
def account_show(username: str, as_json: bool) -> None:
    """Show an account (never its password): its familiar addresses, failed logins and lockouts."""
    hub = current_hub()
    view = accounts.show_account(hub, username)
    now = hub.now()
    if as_json:
        click.echo(json.dumps({**jsonable(view), "locked": view.is_locked(now)}, indent=2))
        return
    _print_account(view, now)


@account.command("disable")
@click.argument("username")
@friendly_errors
def account_disable(username: str) -> None:
    """Refuse every call from this account (its documents are kept)."""
    accounts.set_enabled(current_hub(), username, False)
    click.echo(f"account {username} disabled")


@account.command("enable")
@click.argument("username")
@friendly_errors
def account_enable(username: str) -> None:
    """Allow calls from this account again."""
    accounts.set_enabled(current_hub(), username, True)
    click.echo(f"account {username} enabled")


@account.command("reset-password")
@click.argument("username")
@friendly_errors
def account_reset_password(username: str) -> None:
    """Give the account a new generated password; the old one stops working at once."""
    secret = accounts.reset_password(current_hub(), username)
    click.echo(f"new password for {username}: {secret}")


@account.command("unlock")
@click.argument("username")
@friendly_errors
def account_unlock(username: str) -> None:
    """End the account's lockouts and forget its failed logins (familiar and unfamiliar)."""
    accounts.unlock(current_hub(), username)
    click.echo(f"account {username} unlocked")
