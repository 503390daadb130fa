"""The Accounts Return rules, by stable id: one registry used by the validator, its report, the CLI and the docs.

Each rule says which DfE error ``type`` it produces when it refuses a body, its severity (``error``: the DfE
refuses; ``warning``: reported, the DfE (and the sandbox) accepts) and the stage it belongs to. Stages run in
the DfE's order: ``body`` (missing, not JSON), ``schema`` (all ``schemaValidation``), ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Stage(StrEnum):
    BODY = "body"
    SCHEMA = "schema"
    DATA = "data"


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    stage: Stage
    dfe_type: str | None  # None for warnings: the DfE sends nothing for them
    summary: str
    why: str


_RULES = [
    Rule("body.missing", Severity.ERROR, Stage.BODY, "requestBodyMissing", "the request has a body",
         "the DfE answers requestBodyMissing to an empty body"),
    Rule("body.not-json", Severity.ERROR, Stage.BODY, "invalidRequestBody", "the body is JSON (RFC 8259, UTF-8)",
         "the DfE answers invalidRequestBody to anything it cannot read as JSON"),
    Rule("body.too-large", Severity.ERROR, Stage.BODY, "invalidRequestBody", "the body is within the size limit",
         "eproc bounds the body it reads; the DfE publishes no limit, so this one is eproc's"),
    Rule("body.too-deep", Severity.ERROR, Stage.BODY, "invalidRequestBody", "the body nests at most 64 levels",
         "Json.NET, which the DfE's service reads bodies with, refuses more than 64 levels"),
    Rule("schema.duplicate-key", Severity.ERROR, Stage.SCHEMA, "schemaValidation", "no key appears twice in an object",
         "the DfE refuses duplicate keys and reports the first one only"),
    Rule("schema.structure", Severity.ERROR, Stage.SCHEMA, "schemaValidation",
         "the body matches the DfE's draft-07 schema",
         "required properties, types, enum, lengths and additional properties are checked by the DfE's schema"),
    Rule("schema.zero", Severity.ERROR, Stage.SCHEMA, "schemaValidation", "no CoA item is zero",
         "since AR 2020/21 the DfE refuses 0, 0.0, 0.00: omit items the FMS has not populated"),
    Rule("schema.null", Severity.ERROR, Stage.SCHEMA, "schemaValidation", "no CoA item is null",
         "the DfE refuses null items: omit them"),
    Rule("schema.decimal-places", Severity.ERROR, Stage.SCHEMA, "schemaValidation",
         "a CoA value has at most 3 decimal places (trailing zeros aside)",
         "the schema's multipleOf 0.001, read with exact decimals: 1.0010000 is 1.001 and passes"),
    Rule("schema.range", Severity.WARNING, Stage.SCHEMA, None, "a CoA value is within -999,999..999,999",
         "documented by the DfE, but its own valid examples exceed it, so eproc warns (--strict-range refuses)"),
    Rule("schema.range-strict", Severity.ERROR, Stage.SCHEMA, "schemaValidation",
         "a CoA value is within -999,999..999,999 (strict range)",
         "the range as documented, enforced because strict range was asked for"),
    Rule("schema.pattern", Severity.ERROR, Stage.SCHEMA, "schemaValidation",
         "academy numbers, CoA codes, submittedBy and sourceSystem match their documented patterns",
         "the DfE documents these patterns on top of the schema"),
    Rule("data.coa-version", Severity.ERROR, Stage.DATA, "unknownCoaVersion",
         "coaVersion is three dot-separated numbers with the active chart of accounts' major number",
         "only the major number is compared (minor = mapping changes, patch = descriptions)"),
    Rule("data.coa-version-unchecked", Severity.WARNING, Stage.DATA, None,
         "no active CoA version is configured: any well-formed coaVersion passes",
         "the DfE compares the major number with its active version; eproc does not know it"),
    Rule("data.coa-code", Severity.ERROR, Stage.DATA, "invalidCoaCode", "every CoA code exists in that version",
         "the DfE refuses codes not in the chart of accounts, or used where that version does not allow them"),
    Rule("data.coa-codes-unchecked", Severity.WARNING, Stage.DATA, None,
         "no code list is loaded for this version: CoA codes were checked by pattern only",
         "eproc ships no code list it cannot verify: import one with 'eproc ar coa import'"),
    Rule("data.value-type", Severity.ERROR, Stage.DATA, "coaValueInvalidType",
         "a CoA value fits the DfE's decimal type",
         "the schema lets any JSON number through; one beyond +/-79,228,162,514,264,337,593,543,950,335 (.NET "
         "decimal) cannot be held by the DfE's service"),
    Rule("data.precision", Severity.ERROR, Stage.DATA, "coaValuePrecisionExceeds3dp",
         "a CoA value has at most 3 decimal places",
         "documented by the DfE; with exact decimals the schema's multipleOf 0.001 refuses these first, so eproc "
         "never reaches this type"),
    Rule("data.trust-balance", Severity.ERROR, Stage.DATA, "trustDataNotInBalance",
         "the trustData values whose code does not start with 9 total exactly zero",
         "the DfE refuses a trial balance that does not balance"),
    Rule("data.academy", Severity.ERROR, Stage.DATA, "unknownAcademy", "every academy belongs to the trust",
         "the DfE refuses academies it does not know as the trust's"),
    Rule("data.academies-unchecked", Severity.WARNING, Stage.DATA, None,
         "no academies of the trust were given: academy numbers were checked by pattern only",
         "pass --academies nnn-nnnn,... to check them as the DfE does"),
    Rule("data.trust-not-set-up", Severity.ERROR, Stage.DATA, "invalidFormSubmissionStatus",
         "the trust is set up for FMS submissions", "the DfE refuses submissions for a trust not yet set up"),
    Rule("data.trust-closed", Severity.ERROR, Stage.DATA, "newFmsSubmissionsClosed",
         "the trust has not sent its AR form for approval",
         "once the form is sent for approval the DfE takes no new FMS submission"),
    Rule("internal", Severity.ERROR, Stage.DATA, "unknownException", "eproc could check the body",
         "an unexpected failure; the DfE answers unknownException to its own"),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}

# What each DfE error type means, in one line, for people reading a refusal (the client and the CLI).
DFE_TYPES: dict[str, str] = {
    "requestBodyMissing": "the request had no body: send the submission JSON",
    "invalidRequestBody": "the body is not JSON the DfE can read",
    "schemaValidation": "the body breaks the DfE's schema or its rules (zeros, decimals, patterns, duplicate keys): "
    "run 'eproc ar validate FILE' to see every problem",
    "unknownCoaVersion": "coaVersion is malformed or its major number is not the DfE's current chart of accounts",
    "invalidCoaCode": "a CoA code is not in that version's chart of accounts, or is in a place it may not be",
    "coaValueInvalidType": "a CoA value is not a number the DfE can hold",
    "coaValuePrecisionExceeds3dp": "a CoA value has more than 3 decimal places",
    "trustDataNotInBalance": "trustData (codes not starting with 9) does not total zero",
    "unknownAcademy": "an academy is not recognised as the trust's: use the trust's own academy numbers",
    "invalidFormSubmissionStatus": "the trust is not yet set up for FMS submissions",
    "newFmsSubmissionsClosed": "the trust has sent its AR form for approval: no new FMS submission is taken",
    "unknownException": "the DfE's service failed: try again later, then contact the DfE",
}

# Types whose ``details`` the DfE sends only when dev details are asked for.
DEV_ONLY_DETAILS = frozenset({"schemaValidation", "unknownAcademy", "unknownException"})
# Types whose ``details`` the DfE always sends.
ALWAYS_DETAILS = frozenset({"invalidCoaCode", "coaValueInvalidType", "coaValuePrecisionExceeds3dp"})


def explain(dfe_type: str) -> str:
    """One line for any DfE error type, known or not."""
    return DFE_TYPES.get(dfe_type, f"an error type eproc does not know ({dfe_type})")
