"""`eproc documents show` and `eproc orders show`: the stored report's verdict and every finding,
in text and as JSON; a received order's report (a wrong checksum is a warning) is visible."""

from __future__ import annotations

import json
from pathlib import Path

import dotnet_client as net
from support import new_school, run_cli

from eproc.services import admin

DATA = Path(__file__).parent / "data" / "ebis"
SCHOOL = ["--establishment", "Hillside Primary School", "--buyer-duns", "123456789", "--supplier-duns", "987654321"]


def test_documents_show_prints_the_verdict_and_each_warning(database_url):
    assert run_cli(database_url, "account", "add", "hillside", *SCHOOL).returncode == 0
    source = DATA / "rules" / "invoice" / "invoice.totals.lines.xml"
    queued = run_cli(database_url, "enqueue", str(source))
    assert queued.returncode == 0, queued.stderr
    doc_id = queued.stdout.split()[-1]

    shown = run_cli(database_url, "documents", "show", doc_id).stdout
    [verdict] = [line for line in shown.splitlines() if line.startswith("report: ")]
    assert verdict.startswith("report: accepted, 1 warning (rule set ")
    [finding] = [line for line in shown.splitlines() if line.startswith("  warning ")]
    assert finding.endswith("[invoice.totals.lines]") and "(line " in finding

    as_json = json.loads(run_cli(database_url, "documents", "show", "--json", doc_id).stdout)
    assert as_json["doc_id"] == doc_id and as_json["report"]["accepted"] is True
    assert [w["rule_id"] for w in as_json["report"]["warnings"]] == ["invoice.totals.lines"]
    assert as_json["xml"].rstrip() == source.read_text(encoding="utf-8").rstrip()


def test_a_clean_document_says_so(database_url):
    run_cli(database_url, "account", "add", "hillside", *SCHOOL)
    doc_id = run_cli(database_url, "enqueue", str(DATA / "valid" / "invoice-full.xml")).stdout.split()[-1]
    shown = run_cli(database_url, "documents", "show", doc_id).stdout
    assert "report: accepted, 0 warnings (rule set " in shown


def test_orders_show_prints_a_received_orders_report(live_app, live_hub, live_database):
    username, password = new_school(live_hub, "orders-show-password-1")
    document = (DATA / "rules" / "authorised-order" / "checksum.mismatch.xml").read_text(encoding="utf-8")
    response = net.call(live_app.endpoint, "SendOrder", f"<Document>{net.escape(document)}</Document>",
                        username=username, password=password)
    assert response.status == 200
    [order] = admin.list_orders(live_hub, username)

    shown = run_cli(live_database, "orders", "show", str(order.id))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"account:      {username}" in lines
    assert any(line.startswith("report: accepted, 1 warning") for line in lines)
    assert any(line.startswith("  warning ") and line.endswith("[checksum.mismatch]") for line in lines)
    assert shown.stdout.rstrip().endswith(document.rstrip())

    as_json = json.loads(run_cli(live_database, "orders", "show", "--json", str(order.id)).stdout)
    assert as_json["id"] == order.id and as_json["username"] == username
    assert [w["rule_id"] for w in as_json["report"]["warnings"]] == ["checksum.mismatch"]
    listed = json.loads(run_cli(live_database, "orders", "list", "--json", "--account", username).stdout)
    assert [o["id"] for o in listed] == [order.id]


def test_documents_list_as_json(database_url):
    run_cli(database_url, "account", "add", "hillside", *SCHOOL)
    doc_id = run_cli(database_url, "enqueue", str(DATA / "valid" / "invoice-full.xml")).stdout.split()[-1]
    listed = json.loads(run_cli(database_url, "documents", "list", "--json").stdout)
    assert [(d["doc_id"], d["username"], d["processed"]) for d in listed] == [(doc_id, "hillside", False)]
    assert listed[0]["created_at"].endswith("+00:00")


def test_enqueue_reads_standard_input_and_names_each_file(database_url, tmp_path):
    from click.testing import CliRunner
    from support import server_environment

    from eproc.cli import main

    run_cli(database_url, "account", "add", "hillside", *SCHOOL)
    invoice = (DATA / "valid" / "invoice-full.xml").read_bytes()
    bad = tmp_path / "bad.xml"
    bad.write_text("<Invoice>")
    result = CliRunner().invoke(main, ["enqueue", "-", str(bad)], input=invoice,
                                env=server_environment(database_url))
    assert result.exit_code == 1
    [line] = result.stdout.splitlines()
    file, doc_id = line.split("\t")
    assert file == "-" and doc_id.startswith("INV-")
    assert result.stderr.startswith(f"eproc: error: {bad}: ")

    again = CliRunner().invoke(main, ["enqueue", "--json", "-"], input=invoice, env=server_environment(database_url))
    assert again.exit_code == 0
    assert json.loads(again.stdout) == [{"file": "-", "doc_id": doc_id, "duplicate": True, "warnings": []}]
