"""``eproc validate`` and ``eproc checksum``: checking documents without queueing them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from eproc.cli.common import count_of, current_hub, document_type_choice, friendly_errors, read_for_check
from eproc.ebis import SchemaRegistry, ValidationReport, explain_schema_finding
from eproc.services import validation
from eproc.services.errors import InvalidDocument

EXIT_REJECTED, EXIT_UNREADABLE = 1, 2


def _print_report(path: str, report: ValidationReport, explain_with: SchemaRegistry | None = None) -> None:
    verdict = "ACCEPTED" if report.accepted else "REJECTED"
    kind = report.doc_type or "unknown document"
    click.echo(f"{path}: {verdict} ({kind}; {count_of(len(report.errors), 'error')}, "
               f"{count_of(len(report.warnings), 'warning')}; "
               f"rules {report.rule_set_version})")
    for finding in report.findings:
        click.echo(f"  {finding.severity:<7} {finding.one_line()}")
        explanation = explain_schema_finding(finding, explain_with) if explain_with else None
        for line in (explanation or "").splitlines():
            click.echo(f"          {line}")
    metadata = report.metadata
    if metadata is not None and metadata.checksum_expected is not None:
        click.echo(f"  checksum stated {metadata.checksum_stated}, expected {metadata.checksum_expected}")


@click.command("validate")
@click.argument("files", nargs=-1, required=True)
@click.option("--type", "doc_type", type=document_type_choice(with_quote=False), default=None,
              help="The type the document is queued as (default: from the document).")
@click.option("--account", "username", default=None,
              help="Also run the account's checks: DUNS handshake, language, currency.")
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option("--explain-schema", is_flag=True,
              help="For each schema finding, also say what the standard allows at that point.")
@friendly_errors
def validate(
    files: tuple[str, ...], doc_type: str | None, username: str | None, as_json: bool, explain_schema: bool
) -> None:
    """Check documents as 'enqueue' would, without queueing them.

    Exit status: 0 all accepted, 1 any rejected, 2 any file unreadable.
    """
    hub = current_hub()
    if username is not None:
        from eproc.services import accounts

        accounts.show_account(hub, username)  # an unknown account is one error, not one per file
    status = 0
    reports = []
    for path in files:
        data = read_for_check(path)
        if data is None:
            status = EXIT_UNREADABLE
            continue
        report = validation.validate_document(hub, data, requested_type=doc_type, username=username)
        if not report.accepted and status == 0:
            status = EXIT_REJECTED
        if as_json:
            entry = report.to_dict()
            if explain_schema:
                for finding, item in zip(report.errors, entry["errors"], strict=True):
                    item["allowed"] = explain_schema_finding(finding, hub.schemas)
            reports.append({"file": path, "report": entry})
        else:
            _print_report(path, report, hub.schemas if explain_schema else None)
    if as_json:
        click.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    sys.exit(status)


@click.command("checksum")
@click.argument("files", nargs=-1, required=True)
@click.option("--write", is_flag=True, help="Write the expected checksum into each file, changing nothing else.")
@friendly_errors
def checksum(files: tuple[str, ...], write: bool) -> None:
    """Print each document's stated and expected eBIS-XML checksum.

    Exit status: 0 when every checksum is right (or was written), 1 when any is wrong, 2 when a file
    cannot be read or has no checksum to compute.
    """
    hub = current_hub()
    status = 0
    for path in files:
        data = read_for_check(path)
        if data is None:
            status = EXIT_UNREADABLE
            continue
        try:
            reading = validation.read_checksum(hub, data, fill=write)
        except InvalidDocument as exc:
            click.echo(f"eproc: error: {path}: {exc}", err=True)
            status = EXIT_UNREADABLE
            continue
        stated = reading.stated if reading.stated is not None else "none"
        if reading.correct:
            click.echo(f"{path}: stated {reading.stated}, expected {reading.expected}: ok")
        elif reading.filled is not None:
            Path(path).write_bytes(reading.filled)
            click.echo(f"{path}: stated {stated}, expected {reading.expected}: written")
        else:
            click.echo(f"{path}: stated {stated}, expected {reading.expected}: WRONG")
            status = max(status, EXIT_REJECTED)
    sys.exit(status)
