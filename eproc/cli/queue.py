"""``eproc enqueue``, ``eproc documents`` and ``eproc orders``: what goes to FMS and what comes back."""

from __future__ import annotations

import json
import sys

import click

from eproc.cli.common import (
    current_hub,
    current_settings,
    document_type_choice,
    friendly_errors,
    jsonable,
    plural,
    print_fields,
    print_report,
    print_table,
    read_for_check,
    when,
)
from eproc.ebis import decode_document
from eproc.services import admin, intake
from eproc.services import documents as documents_service
from eproc.services.errors import InvalidDocument


@click.command("enqueue")
@click.argument("files", nargs=-1, required=True)
@click.option("--account", "username", default=None, help="The school account (default: routed by DUNS).")
@click.option("--type", "doc_type", type=document_type_choice(), default=None,
              help="Document type (default: from the document).")
@click.option("--fill-checksum", is_flag=True, help="Compute and write a missing or zero checksum first.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per file, instead of lines.")
@friendly_errors
def enqueue(files: tuple[str, ...], username: str | None, doc_type: str | None, fill_checksum: bool,
            as_json: bool) -> None:
    """Queue documents for a school's FMS; prints one FILE<TAB>DOCID line per queued file.

    FILE '-' reads a document from standard input. Each file is checked on its own: a refused file
    is reported on stderr and queues nothing; the others are still queued. The exit status is 1 if
    any file was refused.
    """
    hub = current_hub()
    failures = 0
    results: list[dict[str, object]] = []
    for path in files:
        data = _read_stdin() if path == "-" else read_for_check(path)
        if data is None:
            failures += 1
            results.append({"file": path, "doc_id": None, "error": "cannot read"})
            continue
        try:
            queued = intake.queue_document(
                hub, data, username=username, requested_type=doc_type, fill_checksum=fill_checksum
            )
        except InvalidDocument as exc:
            failures += 1
            click.echo(f"eproc: error: {path}: refused: {exc.reason}", err=True)
            results.append({"file": path, "doc_id": None, "error": exc.reason})
            continue
        warnings = queued.report.warnings if queued.report else []
        results.append({"file": path, "doc_id": queued.doc_id, "duplicate": queued.duplicate,
                        "warnings": [w.one_line() for w in warnings]})
        if not as_json:
            # The file name first, so that a list of many files can be matched to its DocIDs.
            click.echo(f"{path}\t{queued.doc_id}")
        if queued.duplicate:
            click.echo(f"eproc: note: {path}: already pending as {queued.doc_id}; not stored again", err=True)
        for warning in warnings:
            click.echo(f"eproc: warning: {path}: {warning.path}: {warning.message} [{warning.rule_id}]", err=True)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    if failures:
        sys.exit(1)


def _read_stdin() -> bytes | None:
    limit = current_settings().max_request_bytes
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        click.echo(f"eproc: error: -: the document on standard input is over the limit of {limit} bytes", err=True)
        return None
    return bytes(data)


@click.group()
def documents() -> None:
    """The queue of documents for FMS to collect."""


@documents.command("list")
@click.option("--account", "username", default=None)
@click.option("--unprocessed", is_flag=True, help="Only documents FMS has not marked processed.")
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@friendly_errors
def documents_list(username: str | None, unprocessed: bool, as_json: bool) -> None:
    """List queued documents."""
    rows = admin.list_documents(current_hub(), username, unprocessed)
    if as_json:
        click.echo(json.dumps([{k: v for k, v in jsonable(d).items() if k not in ("report_json", "xml")}
                               for d in rows], indent=2))
        return
    print_table(
        ["DOCID", "TYPE", "ACCOUNT", "NUMBER", "CREATED", "PROCESSED", "COLLECTED"],
        [[d.doc_id, d.doc_type, d.username, d.document_number or "-", when(d.created_at),
          "yes" if d.processed else "no", str(d.collect_count)] for d in rows],
        right=frozenset({6}),
    )


def _echo_stored(view: object, report: object, xml: bytes | None) -> None:
    """A stored document or order as one JSON object: its fields, its report, its XML as text."""
    fields = {k: v for k, v in jsonable(view).items() if k not in ("report_json", "xml")}
    click.echo(json.dumps({**fields, "report": report, "xml": decode_document(xml or b"")}, indent=2))


@documents.command("show")
@click.argument("doc_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the fields, the report and the XML.")
@friendly_errors
def documents_show(doc_id: str, as_json: bool) -> None:
    """Show a document's state, its validation report (verdict and every finding) and its XML."""
    d = admin.show_document(current_hub(), doc_id)
    report = json.loads(d.report_json) if d.report_json else None
    if as_json:
        _echo_stored(d, report, d.xml)
        return
    print_fields([
        ("DocID", d.doc_id),
        ("type", d.doc_type),
        ("account", d.username),
        ("document number", d.document_number or "-"),
        ("document date", d.document_date or "-"),
        ("buyer / supplier DUNS", f"{d.buyer_duns or '-'} / {d.supplier_duns or '-'}"),
        ("lines / total", f"{d.line_count if d.line_count is not None else '-'} / {d.total_value or '-'}"),
        ("sha256", d.sha256),
        ("created", when(d.created_at)),
        ("expires", when(d.expires_at)),
        ("processed", f"yes, {when(d.processed_at)}" if d.processed else "no"),
        (
            "collected",
            f"{d.collect_count} {plural(d.collect_count, 'time')} "
            f"(first {when(d.first_collected_at)}, last {when(d.last_collected_at)})",
        ),
    ], width=24)
    print_report(report)
    click.echo("")
    click.echo(decode_document(d.xml or b""))


@documents.command("withdraw")
@click.argument("doc_id")
@friendly_errors
def documents_withdraw(doc_id: str) -> None:
    """Withdraw a queued document: FMS no longer lists or fetches it (refused once processed)."""
    withdrawn = documents_service.withdraw_document(current_hub(), doc_id)
    click.echo(f"document {withdrawn.doc_id} withdrawn")


@click.group()
def orders() -> None:
    """Authorised Orders received from FMS."""


@orders.command("list")
@click.option("--account", "username", default=None)
@click.option("--json", "as_json", is_flag=True, help="A JSON array instead of a table.")
@friendly_errors
def orders_list(username: str | None, as_json: bool) -> None:
    """List received orders."""
    rows = admin.list_orders(current_hub(), username)
    if as_json:
        click.echo(json.dumps([{k: v for k, v in jsonable(o).items() if k not in ("report_json", "xml")}
                               for o in rows], indent=2))
        return
    print_table(
        ["ID", "ACCOUNT", "ORDER NUMBER", "REV", "RECEIVED"],
        [[str(o.id), o.username, o.order_number, str(o.revision), when(o.received_at)] for o in rows],
        right=frozenset({0, 3}),
    )


@orders.command("show")
@click.argument("order_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the fields, the report and the XML.")
@friendly_errors
def orders_show(order_id: int, as_json: bool) -> None:
    """Show a received order, its validation report (verdict and every finding) and its XML as FMS sent it."""
    o = admin.show_order(current_hub(), order_id)
    report = json.loads(o.report_json) if o.report_json else None
    if as_json:
        _echo_stored(o, report, o.xml)
        return
    print_fields([
        ("id", str(o.id)),
        ("account", o.username),
        ("order number", o.order_number),
        ("revision", str(o.revision)),
        ("received", when(o.received_at)),
        ("sha256", o.sha256),
    ])
    print_report(report)
    click.echo("")
    click.echo(decode_document(o.xml or b""))
