"""One vocabulary: the rule catalogue, the document types and the event kinds, each defined once
and what the README, the CLI and the checks use."""

from __future__ import annotations

from pathlib import Path

from eproc import ebis
from eproc.cli import main
from eproc.services.events import EVENT_TYPE_NAMES

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_rule_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ebis.rule_table_markdown() in readme


def test_the_readme_lists_every_rule_id() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [spec.id for spec in ebis.CATALOGUE if f"`{spec.id}`" not in readme]
    assert missing == []


def test_rule_ids_are_unique_and_every_finding_uses_a_catalogued_id() -> None:
    ids = [spec.id for spec in ebis.CATALOGUE]
    assert len(ids) == len(set(ids))
    corpus = ROOT / "tests" / "data" / "ebis"
    seen: set[str] = set()
    for path in sorted(corpus.rglob("*.xml")):
        report = ebis.check_document(path.read_bytes())
        seen |= report.rule_ids()
    assert seen - set(ids) == set()
    assert len(seen) > 10  # the corpus really produced findings


def test_the_cli_offers_exactly_the_document_types() -> None:
    enqueue = main.commands["enqueue"]
    choice = next(p for p in enqueue.params if p.name == "doc_type").type
    assert list(choice.choices) == list(ebis.DOCUMENT_TYPES)
    validate = main.commands["validate"]
    choice = next(p for p in validate.params if p.name == "doc_type").type
    assert list(choice.choices) == [t for t, kind in ebis.DOCUMENT_TYPES.items() if kind.family]


def test_docid_prefixes_are_distinct() -> None:
    prefixes = [kind.prefix for kind in ebis.DOCUMENT_TYPES.values()]
    assert len(prefixes) == len(set(prefixes))


def test_events_offers_exactly_the_event_kinds() -> None:
    events = main.commands["events"]
    choice = next(p for p in events.params if p.name == "type_").type
    assert list(choice.choices) == list(EVENT_TYPE_NAMES)
    assert all(name.count(".") == 1 for name in EVENT_TYPE_NAMES)  # dotted, as the API publishes them


def test_the_readme_event_table_is_the_generated_one() -> None:
    from eproc.services.events import event_table_markdown

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert event_table_markdown() in readme
