"""``eproc ar``: the Accounts Return commands. Every error a user can cause is one line on stderr, no traceback.

Exit status: 0 accepted / done; 1 refused (by the validator or the DfE) or failed; 2 unreadable input or bad usage.
"""

from __future__ import annotations

import functools
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from .body import NotJson
from .coa import CoaError, CoaStore
from .rules import RULES
from .tidy import tidy_bytes
from .validator import ACADEMY, Options, Result, coa_version_ok, validate

EXIT_REFUSED = 1
EXIT_UNREADABLE = 2


class ArCliError(click.ClickException):
    """Printed as 'eproc ar: error: <message>', exit status 1."""

    exit_code = EXIT_REFUSED

    def show(self, file: Any = None) -> None:
        click.echo(f"eproc ar: error: {self.format_message()}", err=True)


class ArUnreadable(ArCliError):
    """The same, exit status 2: the input could not be read or the configuration is unusable."""

    exit_code = EXIT_UNREADABLE


def fail(message: str, exit_code: int = EXIT_REFUSED) -> NoReturn:
    raise (ArUnreadable if exit_code == EXIT_UNREADABLE else ArCliError)(message)


def friendly(func: Callable[..., Any]) -> Callable[..., Any]:
    """Expected failures of the toolkit become one readable line instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .client import ClientError, ConfigError

        try:
            return func(*args, **kwargs)
        except CoaError as exc:
            fail(str(exc), EXIT_UNREADABLE)
        except ConfigError as exc:
            fail(str(exc), EXIT_UNREADABLE)
        except ClientError as exc:
            fail(str(exc))

    return wrapper


ar = click.Group("ar", help="The DfE Accounts Return: validate and tidy submissions, load charts of accounts, "
                 "log in and submit through the DfE's API, or run a local sandbox of it.")


def _count(count: int, noun: str) -> str:
    """``1 code``, ``2 codes``: the noun in the number the count asks for."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _academies(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    numbers = frozenset(n.strip() for n in value.split(",") if n.strip())
    bad = sorted(n for n in numbers if not ACADEMY.search(n))
    if bad:
        raise click.BadParameter(f"{bad[0]!r} is not an academy number nnn-nnnn", param_hint="--academies")
    return numbers


def _print_result(name: str, result: Result, dev_details: bool) -> None:
    if result.accepted:
        click.echo(f"{name}: accepted (HTTP 200)")
    else:
        click.echo(f"{name}: refused: HTTP 400 {json.dumps(result.error_body())}")
        details = result.details(dev_details=True) if dev_details else None
        if details:
            click.echo("  the DfE's details (with Enable-Dev-Error-Details: true):")
            for detail in details:
                click.echo(f"    {detail}")
    for problem in [*result.problems, *result.warnings]:
        where = problem.where or "(the body)"
        if problem.line is not None:
            where += f" (line {problem.line}, column {problem.column})"
        click.echo(f"  {problem.rule.severity.value:<7} {where}: {problem.message} [{problem.rule.id}]")
    if result.omitted:
        click.echo(f"  ... and {_count(result.omitted, 'more problem')} not listed")
    seen = Counter(p.rule.id for p in [*result.problems, *result.warnings])
    for rule_id, count in seen.items():
        click.echo(f"  why [{rule_id}] x{count}: {RULES[rule_id].why}")
    if "schema.zero" in seen or "schema.null" in seen:
        click.echo(f"  'eproc ar tidy {name} -o OUT' writes a copy without the zero and null items")


@ar.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--dev-details", is_flag=True, help="Show the DfE's answer as it is with Enable-Dev-Error-Details.")
@click.option("--active-coa-version", metavar="X.Y.Z", help="The DfE's active chart of accounts (default: the "
              "store's active version; with none, any well-formed version passes with a warning).")
@click.option("--academies", metavar="nnn-nnnn,...", help="The trust's academies (without: not checked, warned).")
@click.option("--strict-range", is_flag=True, help="Refuse values beyond +/-999,999 as documented (default: warn).")
@friendly
def validate_command(files: tuple[Path, ...], as_json: bool, dev_details: bool, active_coa_version: str | None,
                     academies: str | None, strict_range: bool) -> None:
    """Check FILE... exactly as the DfE would: exit 0 if all are accepted, 1 if any is refused, 2 if any cannot be
    read."""
    if active_coa_version is not None and not coa_version_ok(active_coa_version):
        raise click.BadParameter(f"{active_coa_version!r} is not X.Y.Z", param_hint="--active-coa-version")
    store = CoaStore()
    options = Options(active_coa_version=active_coa_version or store.active(), code_lists=store.code_lists(),
                      academies=_academies(academies), strict_range=strict_range)
    status = 0
    reports = []
    for path in files:
        try:
            payload = path.read_bytes()
        except OSError as exc:
            status = max(status, EXIT_UNREADABLE)
            reason = exc.strerror or str(exc)
            reports.append({"file": str(path), "readable": False, "error": reason})
            if not as_json:
                click.echo(f"{path}: unreadable: {reason}", err=True)
            continue
        result = validate(payload, options)
        if not result.accepted:
            status = max(status, EXIT_REFUSED)
        if as_json:
            report = result.report()
            report["dfe"] = result.error_body(dev_details)
            reports.append({"file": str(path), "readable": True, **report})
        else:
            _print_result(str(path), result, dev_details)
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    sys.exit(status)


@ar.group("coa")
def coa_group() -> None:
    """Chart-of-accounts versions (the DfE publishes one spreadsheet per year)."""


@coa_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--version", "version", required=True, metavar="X.Y.Z", help="The chart of accounts version.")
@click.option("--active", is_flag=True, help="Make it the active version the validator compares with.")
@friendly
def coa_import(file: Path, version: str, active: bool) -> None:
    """Load a version's codes from the DfE's spreadsheet (.xlsx) or a CSV."""
    imported = CoaStore().import_file(file, version, active=active)
    click.echo(f"chart of accounts {imported.version}: {_count(imported.codes, 'code')} from {file}"
               + (" (active)" if imported.active else ""))


@coa_group.command("list")
@friendly
def coa_list() -> None:
    """The imported versions; * marks the active one."""
    versions = CoaStore().list()
    if not versions:
        click.echo("no chart of accounts imported (eproc ar coa import FILE --version X.Y.Z)")
    for version in versions:
        codes = "code " if version.codes == 1 else "codes"
        click.echo(f"{'*' if version.active else ' '} {version.version:<12} {version.codes:>6} {codes}  "
                   f"{version.imported_at}  {version.source}")


@ar.command("tidy")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Where to write the copy.")
@friendly
def tidy_command(file: Path, output: Path) -> None:
    """Write a copy of FILE without zero or null CoA items, every other value's text kept exactly."""
    try:
        payload = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", EXIT_UNREADABLE)
    try:
        tidied, removed = tidy_bytes(payload)
    except NotJson as exc:
        fail(f"{file}: not JSON: {exc.message}", EXIT_UNREADABLE)
    except Exception as exc:  # BodyMissing and the like: say what, never a traceback
        fail(f"{file}: {exc}", EXIT_UNREADABLE)
    if output.resolve() == file.resolve():
        fail("the output would overwrite the input: give another -o", EXIT_UNREADABLE)
    try:
        output.write_bytes(tidied)
    except OSError as exc:
        fail(f"{output}: {exc.strerror or exc}", EXIT_UNREADABLE)
    click.echo(f"{output}: {_count(len(removed), 'zero or null item')} removed")
    for path in removed:
        click.echo(f"  {path}")


# ---------------------------------------------------------------------------------------------------- client


def _client(profile: str | None, config_file: Path | None) -> Any:
    from .client import Client, load_config

    return Client(load_config(config_file, profile=profile))


_profile_option = click.option("--profile", help="ste, production, supplier-test, uat or sandbox "
                               "(default: the config file's, EPROC_AR_PROFILE, else sandbox).")
_config_option = click.option("--config", "config_file", type=click.Path(path_type=Path),
                              help="The TOML configuration (default: EPROC_AR_CONFIG, else "
                              "$EPROC_AR_HOME/config.toml).")


@ar.command("login")
@_profile_option
@_config_option
@click.option("--no-browser", is_flag=True, help="Print the consent address instead of opening a browser.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for the consent callback.")
@friendly
def login_command(profile: str | None, config_file: Path | None, no_browser: bool, timeout: float) -> None:
    """Run the DfE consent flow for the configured trust and keep the tokens (mode 0600)."""
    import webbrowser

    client = _client(profile, config_file)
    click.echo(client.config.describe())
    if client.config.upin:
        click.echo("note: from AR 2026/27 the DfE accepts only the Companies House number (company_number)", err=True)

    def show(url: str) -> None:
        click.echo("Open this address, sign in as the trust's Data Transfer Approver and consent:")
        click.echo(url)
        if not no_browser:
            webbrowser.open(url)

    client.login(show, paste=lambda prompt: str(click.prompt(prompt, prompt_suffix="")), timeout=timeout)
    click.echo(f"logged in; tokens saved in {client.config.token_file}")


@ar.command("submit")
@click.argument("file", type=click.Path(path_type=Path))
@_profile_option
@_config_option
@friendly
def submit_command(file: Path, profile: str | None, config_file: Path | None) -> None:
    """PUT FILE as the trust's submission for the current period (it replaces any earlier one)."""
    try:
        payload = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", EXIT_UNREADABLE)
    answer = _client(profile, config_file).put_submission(payload)
    click.echo(f"submitted: submissionGuid {answer.get('submissionGuid')}, submittedDate {answer.get('submittedDate')}")


@ar.command("get")
@_profile_option
@_config_option
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the submission there.")
@friendly
def get_command(profile: str | None, config_file: Path | None, output: Path | None) -> None:
    """The trust's current submission (the DfE offers this call for testing only)."""
    text = _client(profile, config_file).get_submission_text()
    if text is None:
        click.echo("no submission for this trust in the current period")
        return
    if output is not None:  # the service's own text: numbers exactly as it sent them
        try:
            output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"{output}: {exc.strerror or exc}", EXIT_UNREADABLE)
        click.echo(f"submission written to {output}")
    else:
        click.echo(text)


@ar.command("delete")
@click.argument("guid")
@_profile_option
@_config_option
@friendly
def delete_command(guid: str, profile: str | None, config_file: Path | None) -> None:
    """Delete the submission GUID (testing only)."""
    _client(profile, config_file).delete_submission(guid)
    click.echo(f"deleted {guid}")


@ar.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535))
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="TOML file of dummy trusts, clients and CoA versions (default: a printed demo set-up).")
def sandbox_command(host: str, port: int, config_file: Path | None) -> None:
    """Serve a local imitation of the DfE service: consent page, token endpoint and submissions API."""
    from .sandbox import Sandbox, SandboxConfigError, demo_config, describe, load_sandbox_config, make_sandbox_server

    try:
        config = load_sandbox_config(config_file) if config_file else demo_config()
    except SandboxConfigError as exc:
        fail(str(exc), EXIT_UNREADABLE)
    try:
        server = make_sandbox_server(Sandbox(config), host, port, quiet=False)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_UNREADABLE)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(describe(config, f"http://{shown_host}:{server.server_port}"))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()
