"""The corpus: every valid example is accepted with no findings; every variant trips exactly its rule."""

from __future__ import annotations

import difflib

import pytest
import xmlschema
from ebis_helpers import ACCOUNT, corpus_bytes, manifest, run_entry

from eproc.ebis import RULES, check_content_document, default_registry, parse_xml
from eproc.ebis.names import family_of

VALID = manifest()["valid"]
VARIANTS = manifest()["variants"]


def _ids(entries: list[dict]) -> list[str]:
    return [entry["file"] for entry in entries]


@pytest.mark.parametrize("entry", VALID, ids=_ids(VALID))
def test_valid_example_is_accepted_without_findings(entry: dict) -> None:
    report = run_entry(entry)
    assert report.accepted, report.to_json()
    assert report.errors == [] and report.warnings == []


@pytest.mark.parametrize("entry", VALID, ids=_ids(VALID))
def test_valid_example_is_valid_for_both_schema_engines(entry: dict) -> None:
    root = parse_xml(corpus_bytes(entry["file"]))
    registry = default_registry()
    family = family_of(root)
    assert registry.is_valid(root, family)
    assert list(registry.explainer(family).iter_errors(xmlschema.XMLResource(root, allow="none"))) == []


@pytest.mark.parametrize("entry", VARIANTS, ids=_ids(VARIANTS))
def test_variant_is_caught_by_exactly_its_rule(entry: dict) -> None:
    report = run_entry(entry)
    assert report.rule_ids() == {entry["rule_id"]}, report.to_json()
    assert {finding.severity for finding in report.findings} == {entry["severity"]}
    assert report.accepted is (entry["severity"] == "warning")
    for finding in report.findings:
        assert finding.path.startswith("/") and finding.message
        assert finding.line is None or finding.line >= 1


EBIS_VARIANTS = [entry for entry in VARIANTS if family_of(parse_xml(corpus_bytes(entry["file"]))) is not None]


@pytest.mark.parametrize("entry", EBIS_VARIANTS, ids=_ids(EBIS_VARIANTS))
def test_schema_engines_agree_on_every_variant(entry: dict) -> None:
    """lxml decides, xmlschema explains: they must never disagree on our schemas."""
    root = parse_xml(corpus_bytes(entry["file"]))
    family = family_of(root)
    registry = default_registry()
    explained = list(registry.explainer(family).iter_errors(xmlschema.XMLResource(root, allow="none")))
    assert registry.is_valid(root, family) is (not explained)


def test_every_rule_has_a_corpus_variant() -> None:
    covered = {entry["rule_id"] for entry in VARIANTS}
    # xml.rejected is exercised by the hostile documents (tests/ebis/test_ebis_hostile.py).
    assert set(RULES) - covered == {"xml.rejected"}


EDITED_VARIANTS = [entry for entry in VARIANTS if entry["rule_id"] != "document.type"]


@pytest.mark.parametrize("entry", EDITED_VARIANTS, ids=_ids(EDITED_VARIANTS))
def test_variant_is_its_base_with_one_local_change(entry: dict) -> None:
    """Besides its provenance comment, a variant differs from its valid base in one place (plus the
    restated checksum when the change moves the checksum's inputs)."""
    base = corpus_bytes(entry["base"]).decode().splitlines()
    variant = [line for line in corpus_bytes(entry["file"]).decode().splitlines() if "eproc corpus:" not in line]
    matcher = difflib.SequenceMatcher(a=base, b=variant, autojunk=False)
    hunks = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    changed_lines = sum(max(i2 - i1, j2 - j1) for _, i1, i2, j1, j2 in hunks)
    assert len(hunks) <= 2 and changed_lines <= 4, hunks


def test_account_rules_need_the_account() -> None:
    """Without expectations the handshake, language and currency rules stay silent; DUNS presence does not."""
    for entry in VARIANTS:
        if entry["check"] != "content":
            continue
        root = parse_xml(corpus_bytes(entry["file"]))
        report = check_content_document(root, requested_type=entry["requested_type"])
        if entry["rule_id"] in ("duns.handshake", "language.mismatch", "currency.mismatch"):
            assert report.findings == [], entry["file"]
        else:
            assert report.rule_ids() == {entry["rule_id"]}, entry["file"]


def test_the_test_account_is_the_one_in_the_valid_examples() -> None:
    for entry in VALID:
        report = run_entry(entry)
        assert report.metadata is not None
        assert report.metadata.buyer_duns == ACCOUNT.buyer_duns
        assert report.metadata.supplier_duns == ACCOUNT.supplier_duns
