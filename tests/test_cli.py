"""The `eproc` admin command on a real database, in process (click's CliRunner, each run reading its
settings from the environment it is given, as a process does); and once as the installed console
script, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import CliResult, quote_xml, run_cli, server_environment

DATA = Path(__file__).parent / "data" / "ebis" / "valid"
# Another school of the same supplier: documents for Hillside's DUNS must not reach it.
ELSEWHERE = ["--establishment", "Elsewhere", "--buyer-duns", "555555555", "--supplier-duns", "987654321"]
SCHOOL = ["--establishment", "Hillside Primary School", "--buyer-duns", "123456789", "--supplier-duns", "987654321"]


class Eproc:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def __call__(self, *args: str, ok: bool = True, **env: str) -> CliResult:
        result = run_cli(self.database_url, *args, **env)
        if ok:
            assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def eproc(database_url: str) -> Eproc:
    return Eproc(database_url)


def assert_one_line_error(result: CliResult | subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0] == f"eproc: error: {expected}"


def test_db_upgrade_on_a_fresh_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    eproc = Eproc(url)
    assert eproc("db", "upgrade").stdout.strip() == "database is at the latest schema"
    assert eproc("db", "upgrade").returncode == 0  # idempotent
    assert "USERNAME" in eproc("account", "list").stdout


def test_commands_on_an_unmigrated_database_say_what_to_do(tmp_path):
    eproc = Eproc(f"sqlite:///{tmp_path / 'empty.db'}")
    result = eproc("account", "list", ok=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "is not migrated" in result.stderr and result.stderr.rstrip().endswith("run 'eproc db upgrade'")


def test_account_lifecycle(eproc):
    added = eproc("account", "add", "hillside", *SCHOOL, "--account-number", "HILL0042")
    password_line = [line for line in added.stdout.splitlines() if line.startswith("password: ")]
    assert len(password_line) == 1
    password = password_line[0].removeprefix("password: ")
    assert len(password) >= 20 and password.isalnum()

    shown = eproc("account", "show", "hillside").stdout
    assert "Hillside Primary School" in shown and "123456789" in shown and "HILL0042" in shown
    assert password not in shown

    assert "hillside" in eproc("account", "list").stdout
    eproc("account", "disable", "hillside")
    assert "enabled:                        no" in eproc("account", "show", "hillside").stdout
    eproc("account", "enable", "hillside")
    assert "enabled:                        yes" in eproc("account", "show", "hillside").stdout

    reset = eproc("account", "reset-password", "hillside").stdout.strip()
    new_password = reset.rsplit(": ", 1)[1]
    assert new_password != password and new_password.isalnum() and len(new_password) >= 20


def test_account_add_with_a_chosen_password_prints_no_password(eproc):
    result = eproc("account", "add", "chosen", *SCHOOL, "--password", "a-long-chosen-password")
    assert "password" not in result.stdout.lower().replace("created account", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["account", "add", "bad", "--establishment", "X", "--buyer-duns", "12345", "--supplier-duns", "987654321"],
            "buyer (school) DUNS must be exactly 9 digits, not '12345'",
        ),
        (
            [
                "account",
                "add",
                "bad",
                "--establishment",
                "X",
                "--buyer-duns",
                "123456789",
                "--supplier-duns",
                "98765432x",
            ],
            "supplier DUNS must be exactly 9 digits, not '98765432x'",
        ),
        (
            ["account", "add", "has space", *SCHOOL],
            "username 'has space' is not allowed: use 1-100 letters, digits and . _ @ - (no spaces)",
        ),
        (["account", "show", "nobody"], "no account named 'nobody'"),
        (["account", "disable", "nobody"], "no account named 'nobody'"),
        (["account", "reset-password", "nobody"], "no account named 'nobody'"),
        (["documents", "list", "--account", "nobody"], "no account named 'nobody'"),
        (["documents", "show", "ORD-NOPE"], "no document with DocID 'ORD-NOPE'"),
        (["orders", "show", "999"], "no received order with id 999"),
    ],
)
def test_bad_input_is_one_line_on_stderr(eproc, args, message):
    assert_one_line_error(eproc(*args, ok=False), message)


def test_duplicate_account(eproc):
    eproc("account", "add", "twice", *SCHOOL)
    assert_one_line_error(
        eproc("account", "add", "twice", *SCHOOL, ok=False), "an account named 'twice' already exists"
    )


def test_enqueue_routes_by_duns_and_lists(eproc):
    eproc("account", "add", "hillside", *SCHOOL)
    files = [DATA / "content-order-full.xml", DATA / "invoice-full.xml", DATA / "creditnote-full.xml"]
    result = eproc("enqueue", *map(str, files))
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [file for file, _ in lines] == [str(f) for f in files]  # each DocID beside its file
    doc_ids = [doc_id for _, doc_id in lines]
    assert [d.split("-")[0] for d in doc_ids] == ["ORD", "INV", "CRN"]

    listed = eproc("documents", "list", "--account", "hillside", "--unprocessed").stdout
    for doc_id in doc_ids:
        assert doc_id in listed
    shown = eproc("documents", "show", doc_ids[1]).stdout
    assert "type:                   invoice" in shown
    assert shown.rstrip("\n").endswith((DATA / "invoice-full.xml").read_text().rstrip("\n"))
    events = eproc("events", "--type", "document.queued").stdout
    assert all(doc_id in events for doc_id in doc_ids)


def test_enqueue_refusals_store_nothing(eproc, tmp_path):
    eproc("account", "add", "hillside", *SCHOOL)
    malformed = tmp_path / "broken.xml"
    malformed.write_text("<Order><OrderHead></Order>")
    result = eproc("enqueue", str(malformed), ok=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"eproc: error: {malformed}: refused: not well-formed XML:")

    missing = tmp_path / "missing.xml"
    assert_one_line_error(
        eproc("enqueue", str(missing), ok=False), f"{missing}: cannot read: No such file or directory"
    )
    assert_one_line_error(eproc("enqueue", str(tmp_path), ok=False), f"{tmp_path}: is a directory, not a document")

    wrong = eproc("enqueue", str(DATA / "invoice-full.xml"), "--account", "nobody", ok=False)
    assert wrong.stderr.strip() == f"eproc: error: {DATA / 'invoice-full.xml'}: refused: no account named 'nobody'"

    assert eproc("documents", "list").stdout.strip().count("\n") == 0  # the header line only


def test_enqueue_with_no_matching_account_names_both_duns(eproc):
    eproc("account", "add", "elsewhere", *ELSEWHERE)
    result = eproc("enqueue", str(DATA / "invoice-full.xml"), ok=False)
    assert result.stderr.strip().endswith("no account has buyer DUNS 123456789 and supplier DUNS 987654321")


def test_a_quote_needs_the_duns_handshake(eproc, tmp_path):
    eproc("account", "add", "hillside", *SCHOOL)
    eproc("account", "add", "elsewhere", *ELSEWHERE)
    anything = tmp_path / "foo.xml"
    anything.write_text("<foo/>")
    for account in ((), ("--account", "hillside")):
        refused = eproc("enqueue", str(anything), "--type", "quote", *account, ok=False)
        assert "a quote must carry its buyer's and supplier's DUNS" in refused.stderr
    # Hillside's DUNS pair: routed by it, and refused for an account it does not name.
    quote = tmp_path / "quote.xml"
    quote.write_bytes(quote_xml("<Line>Chairs</Line>", buyer_duns="123456789", supplier_duns="987654321"))
    wrong = eproc("enqueue", str(quote), "--type", "quote", "--account", "elsewhere", ok=False)
    assert "do not match account 'elsewhere'" in wrong.stderr
    doc_id = eproc("enqueue", str(quote), "--type", "quote").stdout.split()[-1]
    assert doc_id.startswith("QUO-")
    shown = eproc("documents", "show", doc_id).stdout
    assert "hillside" in shown


def test_purge_removes_only_expired_documents(eproc):
    eproc("account", "add", "hillside", *SCHOOL)
    kept = eproc("enqueue", str(DATA / "invoice-full.xml")).stdout.split()[-1]
    expired = eproc("enqueue", str(DATA / "creditnote-full.xml"), EPROC_EXPIRY_DAYS="0").stdout.split()[-1]

    dry = eproc("purge", "--dry-run").stdout.strip()
    assert dry == ("would purge 1 document (1 expired uncollected, 0 processed past retention), "
                   "0 received orders, 0 events")
    assert expired in eproc("documents", "list").stdout

    assert eproc("purge").stdout.strip() == (
        "purged 1 document (1 expired uncollected, 0 processed past retention), 0 received orders, 0 events"
    )
    listed = eproc("documents", "list").stdout
    assert kept in listed and expired not in listed
    assert expired in eproc("events", "--type", "document.purged").stdout
    assert eproc("purge").stdout.strip().startswith("purged 0 documents")


def test_account_demo_is_created_once(eproc):
    first = eproc("account", "demo").stdout
    assert "DEMO ACCOUNT" in first and "username: demo-school" in first and "password: " in first
    second = eproc("account", "demo").stdout
    assert "password: " not in second and "exists" in second


def test_status_shows_each_schools_queue(eproc):
    eproc("account", "add", "hillside", *SCHOOL)
    eproc("account", "add", "elsewhere", *ELSEWHERE)
    eproc("enqueue", str(DATA / "invoice-full.xml"), str(DATA / "creditnote-full.xml"))
    eproc("account", "disable", "elsewhere")
    lines = eproc("status").stdout.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:-1]}
    assert rows["hillside"] == ["enabled", "2", "0", "0", "0", "0"]
    assert rows["elsewhere"] == ["disabled", "0", "0", "0", "0", "0"]


def test_the_installed_console_script(tmp_path):
    """The one run of the real ``eproc`` executable: the entry point, exit statuses and stderr of a
    process (everything else runs in process)."""
    script = Path(sys.executable).with_name("eproc")
    env = {**os.environ, **server_environment(f"sqlite:///{tmp_path / 'script.db'}")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=120)

    upgraded = run("db", "upgrade")
    assert (upgraded.returncode, upgraded.stdout.strip()) == (0, "database is at the latest schema")
    assert_one_line_error(run("account", "show", "nobody"), "no account named 'nobody'")
