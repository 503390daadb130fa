"""The validation report: verdict, findings, the document's metadata; stored with every accepted document."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, Literal

from .names import DocType

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem: which rule, how bad, where (element path by name and line), and what to do."""

    rule_id: str
    severity: Severity
    path: str
    message: str
    line: int | None = None

    def one_line(self) -> str:
        """``<path> (line N): <message> [rule-id]``, the shape used in SOAP faults and CLI output."""
        where = f"{self.path} (line {self.line})" if self.line else self.path
        return f"{where}: {self.message} [{self.rule_id}]"


@dataclass
class DocumentMetadata:
    """What intake stores beside the raw XML so that nothing has to parse it again to list or route it.

    ``document_number`` is the supplier's invoice number for invoices and credit notes; for orders
    it is the buyer's order number (what FMS numbers an Authorised Order) or, for a Content Order
    that has none yet, the supplier's order (basket) reference.
    """

    doc_type: DocType | None
    document_number: str | None
    document_date: str | None
    buyer_duns: str | None
    supplier_duns: str | None
    line_count: int
    total_value: Decimal | None
    checksum_stated: int | None
    checksum_expected: int | None
    language: str | None
    currency: str | None
    schema_version: str | None = None
    buyers_order_number: str | None = None
    tax_total: Decimal | None = None
    gross_total: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        # Money stays exact in JSON: a string, never a float.
        return {key: str(value) if isinstance(value, Decimal) else value for key, value in _flat(self).items()}


@dataclass
class ValidationReport:
    accepted: bool
    doc_type: str | None
    errors: list[Finding]
    warnings: list[Finding]
    rule_set_version: str
    metadata: DocumentMetadata | None = None
    # True when more schema errors were found than the report lists.
    findings_truncated: bool = False

    @property
    def findings(self) -> list[Finding]:
        return [*self.errors, *self.warnings]

    def rule_ids(self) -> set[str]:
        return {finding.rule_id for finding in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "doc_type": self.doc_type,
            "rule_set_version": self.rule_set_version,
            "errors": [_flat(finding) for finding in self.errors],
            "warnings": [_flat(finding) for finding in self.warnings],
            "findings_truncated": self.findings_truncated,
            "metadata": self.metadata.to_dict() if self.metadata is not None else None,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    def first_problem(self) -> str:
        """The first error (else the first warning) on one line; what a SOAP fault can carry."""
        for finding in self.findings:
            return finding.one_line()
        return "no problems found"

    @classmethod
    def from_findings(
        cls,
        findings: list[Finding],
        *,
        doc_type: str | None,
        rule_set_version: str,
        metadata: DocumentMetadata | None = None,
        findings_truncated: bool = False,
    ) -> ValidationReport:
        errors = [finding for finding in findings if finding.severity == "error"]
        warnings = [finding for finding in findings if finding.severity == "warning"]
        return cls(
            accepted=not errors,
            doc_type=doc_type,
            errors=errors,
            warnings=warnings,
            rule_set_version=rule_set_version,
            metadata=metadata,
            findings_truncated=findings_truncated,
        )


def _flat(item: Finding | DocumentMetadata) -> dict[str, Any]:
    """A dataclass of plain values as a dict: what ``dataclasses.asdict`` gives for these, without
    its deep copy of every value (a report is turned into a dict on every queueing)."""
    return {field.name: getattr(item, field.name) for field in fields(item)}
