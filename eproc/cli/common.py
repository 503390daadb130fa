"""What every ``eproc`` command shares: the hub for this invocation, one error table, formatting."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from eproc import ebis
from eproc.config import ConfigError, Settings, load_settings
from eproc.services.errors import EprocError
from eproc.services.hub import Hub, build_hub
from eproc.store.condition import explain

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """Printed as 'eproc: error: <message>' with exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"eproc: error: {self.format_message()}", err=True)


class Invocation:
    """One run of the command line: the settings are read once, the hub built on first use."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._hub: Hub | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            self._hub = build_hub(self.settings)
        return self._hub


def invocation() -> Invocation:
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, Invocation):
        root.obj = Invocation()
    return root.obj


def current_hub() -> Hub:
    return invocation().hub


def current_settings() -> Settings:
    return invocation().settings


def fail(message: str) -> NoReturn:
    raise CliError(message)


def friendly_errors(func: F) -> F:
    """Turn every expected failure into one readable line instead of a traceback.

    The use cases raise the error vocabulary of ``services/errors.py``; each is already worded
    for a person, so this one table is all the mapping the command line needs.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (EprocError, ConfigError) as exc:
            raise CliError(str(exc)) from None
        except SQLAlchemyError as exc:
            # 'eproc db upgrade' is the advice only when the schema is what is missing: a server
            # that is down, a read-only file or a full disk each get their own line (condition.py).
            raise CliError(str(explain(exc, current_settings().database_url))) from None

    return wrapper  # type: ignore[return-value]


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``noun`` in the number ``count`` asks for: 1 document, 2 documents, 0 documents."""
    return noun if count == 1 else (plural_form or f"{noun}s")


def count_of(count: int, noun: str, plural_form: str | None = None) -> str:
    return f"{count} {plural(count, noun, plural_form)}"


def jsonable(view: Any) -> dict[str, Any]:
    """A view dataclass as JSON-ready values: times in ISO 8601 UTC, money as exact strings."""
    return _plain(dataclasses.asdict(view))


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, bytes):
            continue
        elif isinstance(value, dict):
            value = _plain(value)
        elif isinstance(value, (list, tuple)):
            # Nested views (an account's buckets, its addresses) come as lists of dicts.
            value = [_plain(item) if isinstance(item, dict) else item for item in value]
        out[key] = value
    return out


def print_table(headers: list[str], rows: list[list[str]], *, right: frozenset[int] = frozenset()) -> None:
    """A table whose columns are as wide as their widest cell (a long username or DocID shifts the
    column, never the row); columns numbered in ``right`` are right-aligned (counts). The last
    column is not padded, so no line ends in spaces."""
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    last = len(headers) - 1
    for row in [headers, *rows]:
        cells = [
            cell if i == last and i not in right else (f"{cell:>{widths[i]}}" if i in right else f"{cell:<{widths[i]}}")
            for i, cell in enumerate(row)
        ]
        click.echo("  ".join(cells).rstrip())


def print_fields(rows: list[tuple[str, str]], width: int = 0) -> None:
    """``label:`` and value, the values aligned (at least) one column past the longest label."""
    width = max(width, max(len(label) for label, _ in rows) + 2)
    for label, value in rows:
        click.echo(f"{label + ':':<{width}}{value}")


def print_report(report: dict[str, Any] | None) -> None:
    """The stored validation report: the verdict, then every finding on a line of its own."""
    if report is None:
        click.echo("report: none stored")
        return
    errors, warnings = report.get("errors", []), report.get("warnings", [])
    verdict = "accepted" if report.get("accepted") else "refused"
    counts = ", ".join(
        part for part in (
            count_of(len(errors), "error") if errors else "",
            count_of(len(warnings), "warning") if warnings or not errors else "",
        ) if part
    )
    click.echo(f"report: {verdict}, {counts} (rule set {report.get('rule_set_version', '-')})")
    for severity, findings in (("error", errors), ("warning", warnings)):
        for finding in findings:
            where = finding.get("path") or "/"
            if finding.get("line"):
                where += f" (line {finding['line']})"
            click.echo(f"  {severity:<8}{where}: {finding.get('message')} [{finding.get('rule_id')}]")
    if report.get("findings_truncated"):
        click.echo("  (more findings than the report lists)")


def read_for_check(path: str) -> bytes | None:
    """The file's bytes, or None after saying on stderr why it cannot be read."""
    try:
        return ebis.read_document(path, max_bytes=current_settings().max_request_bytes)
    except IsADirectoryError:
        click.echo(f"eproc: error: {path}: is a directory, not a document", err=True)
    except OSError as exc:
        click.echo(f"eproc: error: {path}: cannot read: {exc.strerror}", err=True)
    except ebis.XmlRejected as exc:
        click.echo(f"eproc: error: {path}: {exc}", err=True)
    return None


def document_type_choice(*, with_quote: bool = True) -> click.Choice[str]:
    """The document types from the one vocabulary (a quote cannot be validated: it has no schema)."""
    return click.Choice([t for t in ebis.DOCUMENT_TYPES if with_quote or ebis.DOCUMENT_TYPES[t].family])
