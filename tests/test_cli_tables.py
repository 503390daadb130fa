"""The list commands print tables whose columns line up whatever the values' lengths, and counts
in the right number."""

from __future__ import annotations

import re

from support import new_school, quote_xml, run_cli

from eproc.services import intake


def _assert_aligned(output: str, second_header: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("*")]
    start = lines[0].index(second_header)
    for line in lines[1:]:
        # The second column starts where its header does, after two spaces (a long first cell
        # moves the column, not the row).
        assert line[start - 2 : start] == "  " and line[start] != " ", (line, start)
    assert all(line == line.rstrip() for line in lines)
    return lines


def test_account_list_and_status_line_up_with_a_long_username(database_url: str, hub) -> None:
    short, _ = new_school(hub, prefix="s")
    long_name, _ = new_school(hub, prefix="a-very-long-username-for-a-multi-academy-trust")
    intake.queue_document(hub, quote_xml("<N>1</N>"), username=short, requested_type="quote")
    lines = _assert_aligned(run_cli(database_url, "account", "list").stdout, "ENABLED")
    assert any(long_name in line for line in lines)
    status = run_cli(database_url, "status").stdout
    lines = _assert_aligned(status, "STATE")
    # Counts are right-aligned under their headers.
    header = lines[0]
    end = header.index("WAITING") + len("WAITING")
    [row] = [line for line in lines if line.startswith(short)]
    assert row[:end].endswith("1") and row[end] == " "


def test_documents_and_events_line_up(database_url: str, hub) -> None:
    username, _ = new_school(hub, prefix="school-with-a-rather-long-name")
    for number in range(2):
        intake.queue_document(hub, quote_xml(f"<N>{number}</N>"), username=username,
                              requested_type="quote")
    _assert_aligned(run_cli(database_url, "documents", "list").stdout, "TYPE")
    events = run_cli(database_url, "events").stdout
    lines = _assert_aligned(events, "TYPE")
    assert lines[0].startswith("TIME")


def test_counts_agree_in_number(database_url: str) -> None:
    assert run_cli(database_url, "token", "rotate-key").returncode == 0
    again = run_cli(database_url, "token", "rotate-key", "--drop-old")
    assert again.returncode == 0, again.stderr
    assert re.search(r"^removed 1 older signing key$", again.stdout, re.M), again.stdout
    purge = run_cli(database_url, "purge", "--dry-run").stdout
    assert "0 documents" in purge and "0 received orders" in purge and "0 events" in purge
