"""The admin command line: ``eproc``. Every error is one line on stderr and a non-zero exit."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from eproc.config import ConfigError, get_settings
from eproc.services import accounts, admin, housekeeping, intake
from eproc.services.errors import EprocError, InvalidDocument
from eproc.services.hub import Hub, build_hub

DEMO_USERNAME = "demo-school"


class CliError(click.ClickException):
    """Printed as 'eproc: error: <message>' with exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"eproc: error: {self.format_message()}", err=True)


def _hub() -> Hub:
    return build_hub(get_settings())


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every expected failure into one readable line instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (EprocError, ConfigError) as exc:
            raise CliError(str(exc)) from None
        except (OperationalError, ProgrammingError) as exc:
            detail = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
            raise CliError(f"database not ready ({detail}); run 'eproc db upgrade' first") from None

    return wrapper


@click.group()
def main() -> None:
    """eproc: the FMS e-procurement web service and its administration."""


# --- database ---------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@friendly_errors
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    from eproc.store.migrate import upgrade

    url = get_settings().database_url
    upgrade(url)
    click.echo("database is at the latest schema")


# --- accounts ---------------------------------------------------------------------------------


@main.group()
def account() -> None:
    """School accounts (FMS logins)."""


@account.command("add")
@click.argument("username")
@click.option("--establishment", required=True, help="The school's name.")
@click.option("--buyer-duns", required=True, help="The school's 9-digit DUNS number.")
@click.option("--supplier-duns", required=True, help="The supplier's 9-digit DUNS number.")
@click.option("--account-number", default=None, help="The supplier's account number for the school.")
@click.option("--password", default=None, help="Choose the password (default: a strong one is generated).")
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
    language: str,
    currency: str,
) -> None:
    """Create a school account."""
    view, secret = accounts.create_account(
        _hub(),
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
    hub = _hub()
    try:
        accounts.show_account(hub, DEMO_USERNAME)
    except EprocError:
        view, secret = accounts.create_account(
            hub,
            DEMO_USERNAME,
            establishment_name="DEMO SCHOOL (not a real school)",
            buyer_duns="123456789",
            supplier_duns="987654321",
            account_number="DEMO-0001",
        )
        click.echo("=== DEMO ACCOUNT (for trying eproc out; disable it in production) ===")
        click.echo(f"username: {view.username}")
        click.echo(f"password: {secret}")
        click.echo("buyer DUNS 123456789, supplier DUNS 987654321")
        return
    click.echo(
        f"demo account {DEMO_USERNAME!r} exists; its password was shown when it was created "
        f"('eproc account reset-password {DEMO_USERNAME}' makes a new one)"
    )


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


@account.command("list")
@friendly_errors
def account_list() -> None:
    """List school accounts."""
    rows = accounts.list_accounts(_hub())
    click.echo(f"{'USERNAME':<24} {'ENABLED':<8} {'BUYER DUNS':<10} {'SUPPLIER':<10} ESTABLISHMENT")
    for a in rows:
        click.echo(
            f"{a.username:<24} {'yes' if a.enabled else 'no':<8} {a.buyer_duns:<10} "
            f"{a.supplier_duns:<10} {a.establishment_name}"
        )


def _print_account(view: accounts.AccountView) -> None:
    from eproc.services.clock import utcnow

    now = utcnow()
    locked = view.locked_until is not None and view.locked_until > now
    remaining = int((view.locked_until - now).total_seconds()) + 1 if locked else 0  # type: ignore[operator]
    for label, value in [
        ("username", view.username),
        ("establishment", view.establishment_name),
        ("buyer DUNS", view.buyer_duns),
        ("supplier DUNS", view.supplier_duns),
        ("account number", view.account_number or "-"),
        ("language / currency", f"{view.language} / {view.currency}"),
        ("enabled", "yes" if view.enabled else "no"),
        ("failed logins", str(view.failed_logins)),
        ("locked", f"yes, until {_when(view.locked_until)} ({remaining}s left)" if locked else "no"),
        ("password changed", _when(view.password_changed_at)),
        ("previous password valid until", _when(view.previous_password_valid_until)),
        ("created", _when(view.created_at)),
    ]:
        click.echo(f"{label + ':':<32}{value}")


@account.command("show")
@click.argument("username")
@friendly_errors
def account_show(username: str) -> None:
    """Show an account (never its password)."""
    _print_account(accounts.show_account(_hub(), username))


@account.command("disable")
@click.argument("username")
@friendly_errors
def account_disable(username: str) -> None:
    """Refuse every call from this account (its documents are kept)."""
    accounts.set_enabled(_hub(), username, False)
    click.echo(f"account {username} disabled")


@account.command("enable")
@click.argument("username")
@friendly_errors
def account_enable(username: str) -> None:
    """Allow calls from this account again."""
    accounts.set_enabled(_hub(), username, True)
    click.echo(f"account {username} enabled")


@account.command("reset-password")
@click.argument("username")
@friendly_errors
def account_reset_password(username: str) -> None:
    """Give the account a new generated password; the old one stops working at once."""
    secret = accounts.reset_password(_hub(), username)
    click.echo(f"new password for {username}: {secret}")


@account.command("unlock")
@click.argument("username")
@friendly_errors
def account_unlock(username: str) -> None:
    """Clear failed-login lockout."""
    accounts.unlock(_hub(), username)
    click.echo(f"account {username} unlocked")


# --- documents --------------------------------------------------------------------------------


def _read_for_check(path: str) -> bytes | None:
    """The file's bytes, or None after saying on stderr why it cannot be read."""
    from eproc.ebis import XmlRejected, read_document

    try:
        return read_document(path, max_bytes=get_settings().max_request_bytes)
    except IsADirectoryError:
        click.echo(f"eproc: error: {path}: is a directory, not a document", err=True)
    except OSError as exc:
        click.echo(f"eproc: error: {path}: cannot read: {exc.strerror}", err=True)
    except XmlRejected as exc:
        click.echo(f"eproc: error: {path}: {exc}", err=True)
    return None


@main.command("enqueue")
@click.argument("files", nargs=-1, required=True)
@click.option("--account", "username", default=None, help="The school account (default: routed by DUNS).")
@click.option(
    "--type",
    "doc_type",
    type=click.Choice(["order", "invoice", "creditnote", "quote"]),
    default=None,
    help="Document type (default: from the document).",
)
@click.option("--fill-checksum", is_flag=True, help="Compute and write a missing or zero checksum first.")
@friendly_errors
def enqueue(files: tuple[str, ...], username: str | None, doc_type: str | None, fill_checksum: bool) -> None:
    """Queue documents for a school's FMS; prints one DocID per line.

    Each file is checked on its own: a refused file is reported and queues nothing; the others
    are still queued. The exit status is 1 if any file was refused.
    """
    hub = _hub()
    failures = 0
    for path in files:
        data = _read_for_check(path)
        if data is None:
            failures += 1
            continue
        try:
            queued = intake.queue_document(
                hub, data, username=username, requested_type=doc_type, fill_checksum=fill_checksum
            )
        except InvalidDocument as exc:
            failures += 1
            click.echo(f"eproc: error: {path}: refused: {exc.reason}", err=True)
            continue
        click.echo(queued.doc_id)
        for warning in queued.report.warnings if queued.report else []:
            click.echo(f"eproc: warning: {path}: {warning.path}: {warning.message} [{warning.rule_id}]", err=True)
    if failures:
        sys.exit(1)


@main.group()
def documents() -> None:
    """The queue of documents for FMS to collect."""


@documents.command("list")
@click.option("--account", "username", default=None)
@click.option("--unprocessed", is_flag=True, help="Only documents FMS has not marked processed.")
@friendly_errors
def documents_list(username: str | None, unprocessed: bool) -> None:
    """List queued documents."""
    rows = admin.list_documents(_hub(), username, unprocessed)
    click.echo(f"{'DOCID':<30} {'TYPE':<10} {'ACCOUNT':<20} {'NUMBER':<16} {'CREATED':<21} {'PROCESSED':<9} COLLECTED")
    for d in rows:
        click.echo(
            f"{d.doc_id:<30} {d.doc_type:<10} {d.username:<20} {(d.document_number or '-'):<16} "
            f"{_when(d.created_at):<21} {'yes' if d.processed else 'no':<9} {d.collect_count}"
        )


@documents.command("show")
@click.argument("doc_id")
@friendly_errors
def documents_show(doc_id: str) -> None:
    """Show a document's state, its validation report and its XML."""
    d = admin.show_document(_hub(), doc_id)
    for label, value in [
        ("DocID", d.doc_id),
        ("type", d.doc_type),
        ("account", d.username),
        ("document number", d.document_number or "-"),
        ("document date", d.document_date or "-"),
        ("buyer / supplier DUNS", f"{d.buyer_duns or '-'} / {d.supplier_duns or '-'}"),
        ("lines / total", f"{d.line_count if d.line_count is not None else '-'} / {d.total_value or '-'}"),
        ("sha256", d.sha256),
        ("created", _when(d.created_at)),
        ("expires", _when(d.expires_at)),
        ("processed", f"yes, {_when(d.processed_at)}" if d.processed else "no"),
        (
            "collected",
            f"{d.collect_count} times (first {_when(d.first_collected_at)}, last {_when(d.last_collected_at)})",
        ),
    ]:
        click.echo(f"{label + ':':<24}{value}")
    if d.report_json:
        report = json.loads(d.report_json)
        click.echo(f"{'report:':<24}{report.get('verdict', '')} ({len(report.get('warnings', []))} warnings)")
    click.echo("")
    click.echo(d.xml)


@main.group()
def orders() -> None:
    """Authorised Orders received from FMS."""


@orders.command("list")
@click.option("--account", "username", default=None)
@friendly_errors
def orders_list(username: str | None) -> None:
    """List received orders."""
    rows = admin.list_orders(_hub(), username)
    click.echo(f"{'ID':<6} {'ACCOUNT':<20} {'ORDER NUMBER':<20} {'REV':<4} RECEIVED")
    for o in rows:
        click.echo(f"{o.id:<6} {o.username:<20} {o.order_number:<20} {o.revision:<4} {_when(o.received_at)}")


@orders.command("show")
@click.argument("order_id", type=int)
@friendly_errors
def orders_show(order_id: int) -> None:
    """Print a received order's XML as FMS sent it."""
    click.echo(admin.show_order(_hub(), order_id).xml)


@main.command("events")
@click.option("--account", "username", default=None)
@click.option("--kind", default=None, help="e.g. queued, collected, processed, login_failed")
@friendly_errors
def events(username: str | None, kind: str | None) -> None:
    """The event log, oldest first."""
    for e in admin.list_events(_hub(), username, kind):
        click.echo(f"{_when(e.at)}  {e.kind:<18} {e.username or '-':<20} {e.subject or '-'}  {e.detail or ''}".rstrip())


@main.command("status")
@friendly_errors
def status() -> None:
    """The queue per school: waiting, fetched but never marked processed, expiring within 7 days."""
    rows = admin.queue_status(_hub())
    click.echo(
        f"{'ACCOUNT':<24} {'STATE':<9} {'WAITING':>7} {'FETCHED*':>8} {'EXPIRING':>8} {'PROCESSED':>9} {'ORDERS':>6}"
    )
    for r in rows:
        state = "locked" if r.locked else ("enabled" if r.enabled else "disabled")
        click.echo(f"{r.username:<24} {state:<9} {r.waiting:>7} {r.collected_not_processed:>8} "
                   f"{r.expiring_soon:>8} {r.processed:>9} {r.orders:>6}")
    click.echo("* FETCHED: collected by FMS but never marked processed (an import that keeps failing?)")


@main.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@friendly_errors
def purge(dry_run: bool) -> None:
    """Remove expired documents, and processed ones past the retention period."""
    result = housekeeping.purge(_hub(), dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    click.echo(
        f"{verb} {result.total} documents ({result.expired} expired uncollected, "
        f"{result.processed} processed past retention)"
    )


# --- eBIS-XML documents ------------------------------------------------------------------------


EXIT_REJECTED, EXIT_UNREADABLE = 1, 2


def _print_report(path: str, report: Any) -> None:
    verdict = "ACCEPTED" if report.accepted else "REJECTED"
    kind = report.doc_type or "unknown document"
    click.echo(f"{path}: {verdict} ({kind}; {len(report.errors)} errors, {len(report.warnings)} warnings; "
               f"rules {report.rule_set_version})")
    for finding in report.findings:
        click.echo(f"  {finding.severity:<7} {finding.one_line()}")
    metadata = report.metadata
    if metadata is not None and metadata.checksum_expected is not None:
        click.echo(f"  checksum stated {metadata.checksum_stated}, expected {metadata.checksum_expected}")


@main.command("validate")
@click.argument("files", nargs=-1, required=True)
@click.option("--type", "doc_type", type=click.Choice(["order", "invoice", "creditnote"]), default=None,
              help="The type the document is queued as (default: from the document).")
@click.option("--account", "username", default=None,
              help="Also run the account's checks: DUNS handshake, language, currency.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@friendly_errors
def validate(files: tuple[str, ...], doc_type: str | None, username: str | None, as_json: bool) -> None:
    """Check documents as 'enqueue' would, without queueing them.

    Exit status: 0 all accepted, 1 any rejected, 2 any file unreadable.
    """
    from eproc import ebis

    expectations = None
    if username is not None:
        view = accounts.show_account(_hub(), username)
        expectations = ebis.AccountExpectations(view.buyer_duns, view.supplier_duns, view.language, view.currency)
    status = 0
    reports = []
    for path in files:
        data = _read_for_check(path)
        if data is None:
            status = EXIT_UNREADABLE
            continue
        report = ebis.check_document(data, requested_type=doc_type, expectations=expectations,
                                     max_bytes=get_settings().max_request_bytes)
        if not report.accepted and status == 0:
            status = EXIT_REJECTED
        if as_json:
            reports.append({"file": path, "report": report.to_dict()})
        else:
            _print_report(path, report)
    if as_json:
        click.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    sys.exit(status)


@main.command("checksum")
@click.argument("files", nargs=-1, required=True)
@click.option("--write", is_flag=True, help="Write the expected checksum into each file, changing nothing else.")
@friendly_errors
def checksum(files: tuple[str, ...], write: bool) -> None:
    """Print each document's stated and expected eBIS-XML checksum.

    Exit status: 0 when every checksum is right (or was written), 1 when any is wrong, 2 when a file
    cannot be read or has no checksum to compute.
    """
    from eproc import ebis

    status = 0
    for path in files:
        data = _read_for_check(path)
        if data is None:
            status = EXIT_UNREADABLE
            continue
        try:
            root = ebis.parse_xml(data, max_bytes=get_settings().max_request_bytes)
            expected = ebis.compute_checksum(root)
            stated = ebis.stated_checksum(root)
        except (ebis.XmlRejected, ebis.ChecksumUnavailable) as exc:
            click.echo(f"eproc: error: {path}: {exc}", err=True)
            status = EXIT_UNREADABLE
            continue
        if stated == expected:
            click.echo(f"{path}: stated {stated}, expected {expected}: ok")
        elif write:
            Path(path).write_bytes(ebis.fill_checksum(data, max_bytes=get_settings().max_request_bytes))
            click.echo(f"{path}: stated {stated if stated is not None else 'none'}, expected {expected}: written")
        else:
            click.echo(f"{path}: stated {stated if stated is not None else 'none'}, expected {expected}: WRONG")
            status = max(status, EXIT_REJECTED)
    sys.exit(status)


# --- serving ----------------------------------------------------------------------------------


@main.command("serve")
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
    get_settings()  # refuse a bad configuration before forking workers
    scheme = "https" if tls_cert else "http"
    click.echo(f"eproc: FMS web service at {scheme}://{host}:{port}{get_settings().service_path}", err=True)
    run_server(host, port, workers, tls_cert, tls_key)


if __name__ == "__main__":
    main()
