"""CLI conventions a user expects: help without a command, -h, --version, one line per bad database URL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from eproc.cli import main


def test_bare_eproc_prints_help_and_succeeds() -> None:
    result = CliRunner().invoke(main, [], prog_name="eproc")
    assert result.exit_code == 0
    assert "Usage: eproc" in result.output and "enqueue" in result.output


def test_dash_h_is_help() -> None:
    result = CliRunner().invoke(main, ["account", "-h"])
    assert result.exit_code == 0
    assert "School accounts" in result.output


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("eproc, version ")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nonsense", "is not a database URL"),
        ("postgres://eproc@db/eproc", "write 'postgresql+psycopg://'"),
        ("mysql://eproc@db/eproc", "uses 'mysql', which eproc does not support"),
    ],
)
def test_a_bad_database_url_is_one_line(url: str, expected: str) -> None:
    result = CliRunner().invoke(main, ["account", "list"], env={"EPROC_DATABASE_URL": url})
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("eproc: error: EPROC_DATABASE_URL") and expected in lines[0]


def test_the_cli_imports_no_heavy_library_it_does_not_need() -> None:
    # xmlschema explains rejections only; the Accounts Return toolkit only runs under 'eproc ar'.
    import subprocess
    import sys

    probe = "import sys, eproc.cli; print(sorted(m for m in ('xmlschema', 'authlib', 'openpyxl') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
    listed = CliRunner().invoke(main, ["-h"])
    assert "ar " in listed.output and "Accounts Return" in listed.output
