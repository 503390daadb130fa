"""The shipped schema, and eproc's native evaluation of its ``coaItems`` definition held to jsonschema's verdict."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from eproc.accounts_return.body import load
from eproc.accounts_return.schema import (
    decimal_places,
    load_schema,
    reference_validator,
    submission_validator,
)

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])


def test_the_shipped_schema_is_the_corrected_draft_07_schema():
    schema = load_schema()
    Draft7Validator.check_schema(schema)
    assert schema["required"] == ["coaVersion", "academyData", "trustData", "submittedBy", "sourceSystem",
                                  "submissionType"]
    item = schema["definitions"]["coaItems"]["patternProperties"]["^[0-9]{6}$"]
    assert item == {"type": "number", "multipleOf": Decimal("0.001")}  # read as an exact decimal, never a float


def _errors(validator, document) -> set[tuple[tuple, str]]:
    """Where each error is and what kind; a bad name is one finding (jsonschema also adds additionalProperties)."""
    found = set()
    for error in validator.iter_errors(document):
        path = tuple(error.absolute_path)
        if error.validator == "propertyNames" or "propertyNames" in error.schema_path:
            kind = "propertyNames"
            path = (*path, error.instance) if not path or path[-1] != error.instance else path
        else:
            kind = error.validator
        if error.validator == "additionalProperties" and path in (("trustData",), ("counterpartyData",)):
            continue
        if error.validator == "additionalProperties" and len(path) >= 2 and path[-2:] == ("academyData", "matOverview"):
            continue
        if error.validator == "additionalProperties" and len(path) == 3 and path[:2] == ("academyData", "academies"):
            continue
        found.add((path, kind))
    return found


keys = st.one_of(st.from_regex(r"\A[0-9]{6}\Z"), st.text(max_size=7), st.just("123456\n"))
leaves = st.one_of(st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
                   st.integers(-10**30, 10**30).map(str), st.sampled_from(["null", "true", '"12"', "[]", "{}", "1e999",
                                                                           "1.0010000", "0.0005", "1E-3", "-0"]))


@SETTINGS
@given(st.dictionaries(keys, leaves, max_size=6), st.sampled_from(["trustData", "counterpartyData", "matOverview",
                                                                   "academy", "not-an-object"]))
def test_native_coa_items_agree_with_jsonschema(items, where):
    text = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in items.items()) + "}"
    if where == "not-an-object":
        text = "[]"
    section = load(text).value
    document = {"coaVersion": "2.0.0", "submittedBy": "Te", "sourceSystem": "FM", "submissionType": "aar",
                "academyData": {}, "trustData": {}}
    if where in ("trustData", "counterpartyData", "not-an-object"):
        document[where if where != "not-an-object" else "trustData"] = section
    elif where == "matOverview":
        document["academyData"] = {"matOverview": section}
    else:
        document["academyData"] = {"academies": {"100-1001": section}}
    native = _errors(submission_validator(), document)
    reference = _errors(reference_validator(), document)
    assert native == reference


def test_decimal_places_are_exact_and_ignore_trailing_zeros():
    cases = {"1": 0, "1.5": 1, "1.0010000": 3, "1.0001": 4, "1E+5": 0, "1E-3": 3, "1.5E-3": 4, "-0.000": 0,
             "123.4560E+2": 1, "0E-7": 0, "1" + "0" * 50: 0}
    assert {text: decimal_places(Decimal(text)) for text in cases} == cases
