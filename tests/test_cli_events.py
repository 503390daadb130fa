"""`eproc events --since/--until/--limit/--json`: validated, and limited as `tail` would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from support import run_cli

SCHOOL = ["--establishment", "Hillside", "--buyer-duns", "123456789", "--supplier-duns", "987654321"]


@pytest.fixture
def three_accounts(database_url) -> str:
    for name in ("alpha", "bravo", "charlie"):
        assert run_cli(database_url, "account", "add", name, *SCHOOL).returncode == 0
    return database_url


def subjects(database_url: str, *args: str) -> list[str]:
    result = run_cli(database_url, "events", "--json", "--type", "account.created", *args)
    assert result.returncode == 0, result.stderr
    return [event["username"] for event in json.loads(result.stdout)]


def test_limit_keeps_the_most_recent_oldest_first(three_accounts):
    assert subjects(three_accounts) == ["alpha", "bravo", "charlie"]
    assert subjects(three_accounts, "--limit", "2") == ["bravo", "charlie"]


def test_since_and_until(three_accounts):
    now = datetime.now(UTC)
    hour_ago = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    in_an_hour = (now + timedelta(hours=1)).isoformat()
    assert subjects(three_accounts, "--since", hour_ago) == ["alpha", "bravo", "charlie"]
    assert subjects(three_accounts, "--until", hour_ago) == []
    assert subjects(three_accounts, "--since", in_an_hour) == []
    assert subjects(three_accounts, "--since", now.date().isoformat(), "--until", in_an_hour) == [
        "alpha", "bravo", "charlie"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "yesterday"], "'yesterday' is not a date or time"),
        (["--limit", "0"], "--limit"),
        (["--kind", "nosuchkind"], "'nosuchkind' is not one of"),
    ],
)
def test_bad_arguments_are_refused(database_url, args, expected):
    result = run_cli(database_url, "events", *args)
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr


def test_until_before_since_is_one_line(database_url):
    result = run_cli(database_url, "events", "--since", "2026-12-02", "--until", "2026-12-01")
    assert (result.returncode, result.stderr.strip()) == (1, "eproc: error: --until must be later than --since")
