"""A chosen password need never be on the command line: from standard input or a prompt."""

from __future__ import annotations

from click.testing import CliRunner
from support import make_settings, server_environment

from eproc.cli import main
from eproc.services import authentication
from eproc.services.hub import build_hub

SCHOOL = ["--establishment", "Hillside", "--buyer-duns", "123456789", "--supplier-duns", "987654321"]


def add(database_url: str, *args: str, given: str):
    return CliRunner().invoke(main, ["account", "add", "hillside", *SCHOOL, *args], input=given,
                              env=server_environment(database_url))


def test_password_from_standard_input(database_url):
    result = add(database_url, "--password-stdin", given="chosen-password-from-stdin-1\n")
    assert result.exit_code == 0, result.stderr
    assert "chosen-password" not in result.stdout
    hub = build_hub(make_settings(database_url))
    assert authentication.authenticate(hub, "hillside", "chosen-password-from-stdin-1").username == "hillside"


def test_password_from_a_prompt_typed_twice(database_url):
    result = add(database_url, "--prompt-password", given="typed-password-number-1\ntyped-password-number-1\n")
    assert result.exit_code == 0, result.stderr
    assert "typed-password-number-1" not in result.stdout  # not echoed
    hub = build_hub(make_settings(database_url))
    assert authentication.authenticate(hub, "hillside", "typed-password-number-1").username == "hillside"


def test_empty_standard_input_and_two_sources_are_refused(database_url):
    empty = add(database_url, "--password-stdin", given="")
    assert empty.exit_code == 1
    assert empty.stderr.strip() == "eproc: error: --password-stdin: standard input holds no password"
    both = add(database_url, "--password-stdin", "--password", "x", given="y\n")
    assert both.exit_code == 1 and "at most one of" in both.stderr


def test_accounts_and_tokens_as_json(database_url):
    import json

    from support import run_cli

    add(database_url, "--password-stdin", given="chosen-password-from-stdin-1\n")
    [listed] = json.loads(run_cli(database_url, "account", "list", "--json").stdout)
    assert listed["username"] == "hillside" and listed["buyer_duns"] == "123456789"
    shown = json.loads(run_cli(database_url, "account", "show", "--json", "hillside").stdout)
    assert shown["locked"] is False and "chosen-password" not in json.dumps(shown)
    assert run_cli(database_url, "token", "create", "portal", "--permission", "StoreDocument").returncode == 0
    [token] = json.loads(run_cli(database_url, "token", "list", "--json").stdout)
    assert token["name"] == "portal"
