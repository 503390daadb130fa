"""`eproc validate`, `eproc checksum` and `eproc enqueue --fill-checksum`, run as a supplier runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli import ELSEWHERE, SCHOOL, Eproc

DATA = Path(__file__).parent / "data" / "ebis"
VALID = DATA / "valid"


@pytest.fixture
def eproc(database_url: str) -> Eproc:
    return Eproc(database_url)


def with_checksum(source: Path, target: Path, value: str | None) -> Path:
    text = source.read_text(encoding="utf-8")
    start, end = text.index("<Checksum>"), text.index("</Checksum>") + len("</Checksum>")
    replacement = "" if value is None else f"<Checksum>{value}</Checksum>"
    target.write_text(text[:start] + replacement + text[end:], encoding="utf-8")
    return target


def test_validate_reports_and_exit_statuses(eproc, tmp_path):
    good = VALID / "invoice-full.xml"
    accepted = eproc("validate", str(good))
    assert accepted.stdout.startswith(f"{good}: ACCEPTED (invoice; 0 errors")

    bad = with_checksum(VALID / "content-order-full.xml", tmp_path / "order.xml", "12345")
    rejected = eproc("validate", str(good), str(bad), ok=False)
    assert rejected.returncode == 1
    assert f"{bad}: REJECTED (order; 1 error, 0 warnings" in rejected.stdout  # in the right number
    assert "[checksum.mismatch]" in rejected.stdout and "/Order/OrderHead/Checksum" in rejected.stdout

    unreadable = eproc("validate", str(good), str(tmp_path / "missing.xml"), ok=False)
    assert unreadable.returncode == 2
    assert (
        unreadable.stderr.strip() == f"eproc: error: {tmp_path / 'missing.xml'}: cannot read: No such file or directory"
    )


def test_validate_json(eproc, tmp_path):
    bad = with_checksum(VALID / "content-order-full.xml", tmp_path / "order.xml", "12345")
    result = eproc("validate", "--json", str(VALID / "creditnote-full.xml"), str(bad), ok=False)
    reports = json.loads(result.stdout)
    assert [r["file"] for r in reports] == [str(VALID / "creditnote-full.xml"), str(bad)]
    assert reports[0]["report"]["accepted"] is True and reports[0]["report"]["doc_type"] == "creditnote"
    assert reports[1]["report"]["accepted"] is False
    assert [e["rule_id"] for e in reports[1]["report"]["errors"]] == ["checksum.mismatch"]


def test_validate_with_an_account_runs_the_handshake(eproc):
    eproc("account", "add", "elsewhere", *ELSEWHERE)
    result = eproc("validate", "--account", "elsewhere", str(VALID / "invoice-full.xml"), ok=False)
    assert result.returncode == 1 and "[duns.handshake]" in result.stdout


def test_checksum_prints_and_writes_keeping_other_bytes(eproc, tmp_path):
    source = VALID / "content-order-full.xml"
    right = eproc("checksum", str(source)).stdout.strip()
    expected = right.split("expected ")[1].split(":")[0]
    assert right == f"{source}: stated {expected}, expected {expected}: ok"

    zeroed = with_checksum(source, tmp_path / "zero.xml", "0")
    wrong = eproc("checksum", str(zeroed), ok=False)
    assert wrong.returncode == 1 and wrong.stdout.strip() == f"{zeroed}: stated 0, expected {expected}: WRONG"
    written = eproc("checksum", "--write", str(zeroed)).stdout.strip()
    assert written == f"{zeroed}: stated 0, expected {expected}: written"
    assert zeroed.read_bytes() == source.read_bytes()

    missing = with_checksum(source, tmp_path / "none.xml", None)
    eproc("checksum", "--write", str(missing))
    assert eproc("checksum", str(missing)).stdout.strip().endswith(": ok")


def test_enqueue_fill_checksum_fills_only_a_missing_or_zero_one(eproc, tmp_path):
    eproc("account", "add", "hillside", *SCHOOL)
    source = VALID / "content-order-full.xml"
    zero = with_checksum(source, tmp_path / "zero.xml", "0")
    refused = eproc("enqueue", str(zero), ok=False)
    assert "[checksum.mismatch]" in refused.stderr

    doc_id = eproc("enqueue", "--fill-checksum", str(zero)).stdout.split()[-1]
    assert eproc("documents", "show", doc_id).stdout.rstrip("\n").endswith(source.read_text().rstrip("\n"))

    wrong = with_checksum(source, tmp_path / "wrong.xml", "11111")
    still_refused = eproc("enqueue", "--fill-checksum", str(wrong), ok=False)
    assert "[checksum.mismatch]" in still_refused.stderr


def test_every_rule_variant_through_enqueue(tmp_path):
    """The portal's door: a variant breaking an error rule is refused naming that rule, and nothing is
    stored; a variant breaking a warning rule is queued with the warning on stderr. (SQLite only: ~40
    processes, and the database under the CLI is covered on both backends elsewhere.)"""
    eproc = Eproc(f"sqlite:///{tmp_path / 'variants.db'}")
    eproc("db", "upgrade")
    eproc("account", "add", "hillside", *SCHOOL)
    variants = [v for v in json.loads((DATA / "manifest.json").read_text())["variants"] if v["check"] == "content"]
    queued = 0
    for variant in variants:
        type_args = ["--type", variant["requested_type"]] if variant["requested_type"] else []
        result = eproc("enqueue", *type_args, str(DATA / variant["file"]), ok=False)
        if variant["rule_id"] == "duns.handshake":
            # Routed by DUNS, a document for another school finds no account at all.
            assert result.returncode == 1 and "no account has buyer DUNS" in result.stderr, variant
        elif variant["severity"] == "error":
            assert result.returncode == 1, variant
            assert "refused:" in result.stderr and f"[{variant['rule_id']}]" in result.stderr, (variant, result.stderr)
        else:
            assert result.returncode == 0, (variant, result.stderr)
            assert "eproc: warning:" in result.stderr and f"[{variant['rule_id']}]" in result.stderr, variant
            queued += 1
            # The variants share a document number: withdraw each so the next is not a duplicate.
            eproc("documents", "withdraw", result.stdout.split()[-1])
    assert len(variants) >= 20
    listed = eproc("documents", "list").stdout.strip().splitlines()
    assert len(listed) - 1 == queued  # the header line, then only the warning variants
