"""``eproc config``: the settings in effect, and where each came from."""

from __future__ import annotations

import dataclasses
import json

import click

from eproc.cli.common import friendly_errors
from eproc.config import PREFIX, setting_sources

# Never printed as they are: a signing key mints tokens, a URL may hold a password.
SECRETS = frozenset({"api_signing_key", "login_failure_key"})


def _shown(name: str, value: object) -> object:
    if name in SECRETS:
        return "***" if value else ""
    if name == "database_url":
        from eproc.store.condition import display_url

        return display_url(str(value))
    return value


@click.group("config")
def config() -> None:
    """The settings (EPROC_* variables and EPROC_CONFIG_FILE)."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: name -> {value, source, variable}.")
@friendly_errors
def config_show(as_json: bool) -> None:
    """Every setting in effect, where it came from (default, file, environment), secrets masked."""
    settings, sources = setting_sources()
    values: dict[str, object] = {
        f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name != "faults"
    }
    values.update({f"faults.{f.name}": getattr(settings.faults, f.name) for f in dataclasses.fields(settings.faults)})
    rows = [
        (name, _shown(name, value), sources[name], _variable(name))
        for name, value in sorted(values.items(), key=lambda item: item[0].startswith("faults."))
    ]
    if as_json:
        click.echo(json.dumps({name: {"value": value, "source": source, "variable": variable}
                               for name, value, source, variable in rows}, indent=2))
        return
    width = max(len(variable) for *_, variable in rows)
    click.echo(f"{'SETTING':<{width}}  {'SOURCE':<11}  VALUE")
    for _name, value, source, variable in rows:
        click.echo(f"{variable:<{width}}  {source:<11}  {value}")


def _variable(name: str) -> str:
    if name.startswith("faults."):
        return f"{PREFIX}FAULT_{name.removeprefix('faults.').upper()}"
    return f"{PREFIX}{name.upper()}"
