"""The README's first steps after 'make run', as a new user takes them."""

from __future__ import annotations

from pathlib import Path

from support import run_cli

SAMPLES = Path(__file__).parent / "data" / "ebis" / "valid"


def test_the_example_school_after_the_demo_gets_the_sample_documents(database_url: str) -> None:
    assert run_cli(database_url, "account", "demo").returncode == 0
    added = run_cli(database_url, "account", "add", "greenfield-primary", "--establishment",
                    "Greenfield Primary School", "--buyer-duns", "123456789", "--supplier-duns", "987654321",
                    "--account-number", "GF-001")
    assert added.returncode == 0, added.stderr
    sample = SAMPLES / "content-order-full.xml"
    queued = run_cli(database_url, "enqueue", str(sample))
    assert queued.returncode == 0, queued.stderr
    [line] = queued.stdout.splitlines()
    path, doc_id = line.split("\t")
    assert path == str(sample) and doc_id.startswith("ORD-")
    listed = run_cli(database_url, "documents", "list", "--account", "greenfield-primary").stdout
    assert doc_id in listed
