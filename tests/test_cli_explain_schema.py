"""eproc validate --explain-schema: a schema finding is followed by what the standard allows there."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from eproc.cli import main

VARIANT = Path(__file__).parent / "data" / "ebis" / "rules" / "invoice" / "schema.xml"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["validate", *args], env={"EPROC_DATABASE_URL": "sqlite:///unused.db"})
    return result.exit_code, result.output


def test_explain_schema_says_what_is_allowed_after_the_finding() -> None:
    code, plain = _run(str(VARIANT))
    assert code == 1 and "[schema]" in plain and "the standard allows" not in plain
    code, explained = _run("--explain-schema", str(VARIANT))
    assert code == 1
    lines = explained.splitlines()
    finding = next(i for i, line in enumerate(lines) if "[schema]" in line)
    assert "the standard allows" in lines[finding + 1]


def test_explain_schema_in_json() -> None:
    code, output = _run("--json", "--explain-schema", str(VARIANT))
    assert code == 1
    (entry,) = json.loads(output)
    schema_errors = [e for e in entry["report"]["errors"] if e["rule_id"] == "schema"]
    assert schema_errors and all("the standard allows" in (e["allowed"] or "") for e in schema_errors)
