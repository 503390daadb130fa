"""The validator: the published examples, each documented DfE error type, the schema-level rules and the order."""

from __future__ import annotations

import json
import re

import pytest
from ar_helpers import (
    ACADEMIES,
    CODES,
    FULL,
    MAT_DATASET,
    MAT_MINIMAL,
    SAT_DATASET,
    SAT_MINIMAL,
    body,
    text,
)

from eproc.accounts_return import validator as validator_module
from eproc.accounts_return.rules import DFE_TYPES, RULES, explain
from eproc.accounts_return.validator import CodeList, Options, TrustStatus, validate

DEV_MESSAGE = re.compile(r"^Path '[^']*', Line: \d+, Position \d+, Error: .+$")


def rules_of(result: validator_module.Result, severity: str = "error") -> list[str]:
    problems = result.problems if severity == "error" else result.warnings
    return [p.rule.id for p in problems]


# ------------------------------------------------------------------------------------------ published examples


@pytest.mark.parametrize(("path", "beyond_range"), [(SAT_MINIMAL, 4), (MAT_MINIMAL, 10)])
def test_minimal_examples_are_accepted_with_range_warnings(path, beyond_range):
    result = validate(path.read_bytes(), FULL)
    assert result.status == 200 and result.error_body() is None
    assert rules_of(result) == []
    assert rules_of(result, "warning") == ["schema.range"] * beyond_range


def test_minimal_example_without_configuration_warns_what_was_not_checked():
    result = validate(SAT_MINIMAL.read_bytes())
    assert result.accepted
    assert set(rules_of(result, "warning")) == {
        "schema.range", "data.coa-version-unchecked", "data.coa-codes-unchecked", "data.academies-unchecked"}


@pytest.mark.parametrize(("path", "zeros", "beyond_range"), [(SAT_DATASET, 160, 14), (MAT_DATASET, 166, 19)])
def test_datasets_are_refused_listing_every_zero(path, zeros, beyond_range):
    result = validate(path.read_bytes(), FULL)
    assert result.status == 400
    assert result.error_body() == {"type": "schemaValidation"}  # no details without the dev header
    assert rules_of(result) == ["schema.zero"] * zeros
    assert rules_of(result, "warning").count("schema.range") == beyond_range
    lines = path.read_text().splitlines()
    for problem in result.problems:  # each points at its own zero, in text order
        assert re.search(rf'"{problem.path[-1]}": 0(\.0+)?,?$', lines[problem.line - 1])
    assert [p.line for p in result.problems] == sorted(p.line for p in result.problems)
    details = result.error_body(dev_details=True)["details"]
    assert len(details) == zeros and all(DEV_MESSAGE.match(d) for d in details)


def test_dataset_dev_details_name_path_line_and_position_as_jsonnet_does():
    result = validate(SAT_DATASET.read_bytes(), FULL)
    first = result.error_body(dev_details=True)["details"][0]
    line = SAT_DATASET.read_text().splitlines()[9]
    assert line.rstrip().endswith('"110100": 0,')
    # Json.NET's position is the column of the value's last character.
    assert first == f"Path 'academyData.academies.100-1001.110100', Line: 10, Position {line.index(': 0') + 3}, " \
                    "Error: Value 0 is not allowed"


def test_strict_range_refuses_the_minimal_example_as_documented():
    result = validate(MAT_MINIMAL.read_bytes(), Options(strict_range=True))
    assert result.error_body() == {"type": "schemaValidation"}
    assert rules_of(result) == ["schema.range-strict"] * 10


# ------------------------------------------------------------------------------------------ each DfE error type


@pytest.mark.parametrize("payload", [None, b"", "   \r\n\t", "null"])
def test_request_body_missing(payload):
    assert validate(payload).error_body(dev_details=True) == {"type": "requestBodyMissing"}


@pytest.mark.parametrize("payload", [b"{", b'{"a": NaN}', b'{"a": Infinity}', b"\xff\xfe{}", b'{"a": 1,}',
                                     b"{'a': 1}", b"[" * 100 + b"]" * 100, b'{"a": 1} trailing'])
def test_invalid_request_body(payload):
    result = validate(payload)
    assert result.error_body(dev_details=True) == {"type": "invalidRequestBody"}
    assert result.problems[0].rule.dfe_type == "invalidRequestBody"


def test_invalid_json_is_located():
    result = validate('{\n  "coaVersion": "2.0.0",\n  "x": tru\n}')
    assert (result.problems[0].line, result.problems[0].column) == (3, 8)


def test_body_over_the_size_limit_is_refused_without_parsing():
    result = validate(b" " * 101 + b"{}", Options(max_body_bytes=100))
    assert rules_of(result) == ["body.too-large"] and result.dfe_type == "invalidRequestBody"


def test_schema_validation_zero_with_dev_details_in_the_dfe_shape():
    payload = (
        '{\n  "coaVersion": "2.0.0",\n  "submittedBy": "TestUser",\n  "submissionType": "aar",\n'
        '  "sourceSystem": "FMS Application2",\n  "academyData": {\n    "academies": {\n'
        '      "925-2016": {\n        "125100": 0\n      }\n    }\n  },\n  "trustData": {}\n}'
    )
    result = validate(payload)
    assert result.error_body() == {"type": "schemaValidation"}
    assert result.error_body(dev_details=True) == {"type": "schemaValidation", "details": [
        "Path 'academyData.academies.925-2016.125100', Line: 9, Position 19, Error: Value 0 is not allowed"]}


@pytest.mark.parametrize("zero", ["0", "0.0", "0.00", "-0", "0e5"])
def test_every_spelling_of_zero_is_refused(zero):
    payload = text(body()).replace("5098880", zero, 1)  # an academy item: the trust balance stays whole
    assert rules_of(validate(payload)) == ["schema.zero"]


@pytest.mark.parametrize(("document", "rule"), [
    (body(submittedBy=None), "schema.structure"),
    (body(extra=1), "schema.structure"),
    (body(submissionType="AAR"), "schema.structure"),
    (body(submittedBy="T"), "schema.structure"),
    (body(sourceSystem="x" * 51), "schema.structure"),
    (body(coaVersion=2), "schema.structure"),
    (body(trustData={"125100": "10", "125700": -10}), "schema.structure"),
    (body(trustData={"125100": None, "125700": -10}), "schema.null"),
    (body(trustData={"12510": 10, "125700": -10}), "schema.pattern"),
    (body(trustData={"125100\n": 10, "125700": -10}), "schema.pattern"),
    (body(academyData={"academies": {"1001001": {}}}), "schema.pattern"),
    (body(academyData={"academies": {}, "other": {}}), "schema.structure"),
    (body(submittedBy="Test<User>"), "schema.pattern"),
    (body(sourceSystem="FMS_App"), "schema.pattern"),
    (body(trustData={"125100": 1.0001, "125700": -1.0001}), "schema.decimal-places"),
])
def test_schema_violations(document, rule):
    result = validate(text(document))
    assert result.dfe_type == "schemaValidation"
    assert rule in rules_of(result)
    assert all(DEV_MESSAGE.match(d) for d in result.error_body(dev_details=True)["details"])


@pytest.mark.parametrize("value", ["1.0000000", "1.0010000", "1e-3", "0.001", "1E+3", "1.5"])
def test_trailing_zeros_beyond_three_places_are_accepted(value):
    payload = text(body()).replace("10161663.87", value).replace("-10161663.87", "-" + value)
    result = validate(payload)
    assert result.accepted, result.problems


@pytest.mark.parametrize("value", ["1.0001", "1E-4", "0.0000001", "1.00000000000000000000000000000000000000001"])
def test_more_than_three_places_are_refused(value):
    payload = text(body()).replace("-10161663.87", "-10161663.871").replace("10161663.87", value, 1)
    assert "schema.decimal-places" in rules_of(validate(payload))


def test_a_bad_academy_number_is_one_finding_at_its_key():
    payload = text(body(academyData={"academies": {"1001001": {"125100": 1}, "100-1001\n": {}}}))
    result = validate(payload)
    assert [(p.rule.id, p.where) for p in result.problems] == [
        ("schema.pattern", "academyData.academies.1001001"), ("schema.pattern", "academyData.academies.100-1001\n")]
    first = result.problems[0]
    assert payload.splitlines()[first.line - 1][first.column - 1:].startswith('"1001001"')


def test_keys_with_colons_and_escapes_are_located_exactly():
    payload = '{"a:b": 1,\n "\\u00e9t\u00e9": 2, "\u00e9t\u00e9": 3}'
    result = validate(payload)
    extra = {p.where: (p.line, p.column, p.position) for p in result.problems if p.rule.id == "schema.structure"
             and "has not been defined" in p.message}
    assert extra["a:b"] == (1, 2, 6)
    duplicate = next(p for p in result.problems if p.rule.id == "schema.duplicate-key")
    # The duplicate is the raw "été" after the escaped one.
    assert (duplicate.where, duplicate.line, duplicate.column, duplicate.position) == ("\u00e9t\u00e9", 2, 17, 21)


def test_duplicate_keys_line_and_column_only_the_first_in_the_answer():
    payload = '{\n  "coaVersion": "2.0.0",\n  "coaVersion": "2.0.0",\n  "trustData": {"125100": 1, "125100": 2}\n}'
    result = validate(payload)
    duplicates = [p for p in result.problems if p.rule.id == "schema.duplicate-key"]
    assert [(p.where, p.line, p.column) for p in duplicates] == [("coaVersion", 3, 3), ("trustData.125100", 4, 30)]
    details = result.error_body(dev_details=True)["details"]
    assert [d for d in details if "same name" in d] == [
        "Path 'coaVersion', Line: 3, Position 14, Error: Can not add property coaVersion to "
        "Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object."]


@pytest.mark.parametrize("version", ["1.0.0", "1.00.000", "12.01.1", "134.001.001", "99999.99999.00099999"])
def test_well_formed_coa_versions(version):
    result = validate(text(body(coaVersion=version)))
    assert "data.coa-version" not in rules_of(result)


@pytest.mark.parametrize("version", ["01", "01.aaa.bbb", "1.9999999.222222222", "0.1.1", "1.0", "1.0.0.0", " 1.0.0",
                                     "100000.0.0", "1.0.0\n"])
def test_malformed_coa_versions_are_unknown(version):
    result = validate(text(body(coaVersion=version)))
    assert result.error_body(dev_details=True) == {"type": "unknownCoaVersion"}


def test_only_the_major_number_is_compared():
    assert validate(text(body(coaVersion="2.7.13")), Options(active_coa_version="2.0.0")).accepted
    result = validate(text(body(coaVersion="3.0.0")), Options(active_coa_version="2.0.0"))
    assert result.error_body() == {"type": "unknownCoaVersion"}


def test_invalid_coa_code_details_name_the_place_and_code():
    document = body(academyData={"matOverview": {}, "academies": {"925-2016": {"888888": 5, "125100": 7}}},
                    trustData={"125100": 10, "777777": -10})
    result = validate(text(document), Options(active_coa_version="2.0.0",
                                              code_lists={"2.0.0": CodeList("2.0.0", CODES)}))
    assert result.error_body() == {"type": "invalidCoaCode", "details": ["925-2016.888888", "trustData.777777"]}


def test_a_code_in_a_place_its_version_does_not_allow_is_invalid():
    codes = CodeList("2.0.0", CODES, {"125100": frozenset({"trustData"})})
    result = validate(SAT_MINIMAL.read_bytes(), Options(active_coa_version="2.0.0", code_lists={"2.0.0": codes}))
    assert result.error_body() == {"type": "invalidCoaCode", "details": ["100-1001.125100"]}


def test_the_active_versions_code_list_serves_a_minor_version():
    result = validate(text(body(coaVersion="2.1.0", trustData={"125100": 1, "999999": -1})),
                      Options(active_coa_version="2.0.0", code_lists={"2.0.0": CodeList("2.0.0", CODES)}))
    assert result.error_body() == {"type": "invalidCoaCode", "details": ["trustData.999999"]}


def test_coa_value_invalid_type_for_a_number_the_dfe_cannot_hold():
    payload = text(body(academyData={"academies": {"925-2016": {"125100": 4242}}})).replace("4242", "1e999")
    result = validate(payload)
    assert result.error_body() == {"type": "coaValueInvalidType", "details": ["925-2016.125100"]}


def test_coa_value_precision_exceeds_3dp_is_documented_but_the_schema_answers_first():
    """The DfE lists coaValuePrecisionExceeds3dp, but its own schema's multipleOf 0.001 refuses the same values
    first (schemaValidation); eproc answers as the schema does and keeps the rule in its registry."""
    result = validate(text(body()).replace("10161663.87", "1.0005"), FULL)
    assert result.dfe_type == "schemaValidation"
    assert RULES["data.precision"].dfe_type == "coaValuePrecisionExceeds3dp"


def test_trust_data_not_in_balance_ignores_codes_starting_with_9():
    balanced = body(trustData={"125100": 10.5, "125700": -10.5, "910000": 99})
    assert validate(text(balanced)).accepted
    result = validate(text(body(trustData={"125100": 10.5, "125700": -10.499})))
    assert result.error_body(dev_details=True) == {"type": "trustDataNotInBalance"}
    assert "totals 0.001" in result.problems[0].message


def test_balance_is_exact_where_floats_are_not():
    # 0.1 + 0.2 - 0.3 is not 0 in binary floating point; in exact decimals it is.
    assert validate(text(body(trustData={"125100": 0.1, "125200": 0.2, "125700": -0.3}))).accepted


def test_unknown_academy_details_only_with_dev_details():
    result = validate(MAT_MINIMAL.read_bytes(), Options(academies=frozenset({"100-1001", "100-1002"})))
    assert result.error_body() == {"type": "unknownAcademy"}
    assert result.error_body(dev_details=True) == {"type": "unknownAcademy", "details": ["100-1003", "100-1004"]}


@pytest.mark.parametrize(("status", "dfe_type"), [(TrustStatus.NOT_SET_UP, "invalidFormSubmissionStatus"),
                                                  (TrustStatus.CLOSED, "newFmsSubmissionsClosed")])
def test_trust_status(status, dfe_type):
    result = validate(SAT_MINIMAL.read_bytes(), Options(academies=ACADEMIES, trust_status=status))
    assert result.error_body(dev_details=True) == {"type": dfe_type}
    assert validate(SAT_MINIMAL.read_bytes(), Options(trust_status=TrustStatus.OPEN)).accepted


def test_unknown_exception_never_a_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(validator_module, "_data_problems", broken)
    result = validate(SAT_MINIMAL.read_bytes())
    assert result.error_body() == {"type": "unknownException"}
    assert result.error_body(dev_details=True) == {"type": "unknownException",
                                                   "details": ["RuntimeError: disk on fire"]}


def test_every_dfe_type_has_a_rule_and_a_one_line_explanation():
    produced = {rule.dfe_type for rule in RULES.values() if rule.dfe_type}
    assert produced == set(DFE_TYPES)
    assert all("\n" not in explain(t) and explain(t) for t in DFE_TYPES)
    assert "unknownThing" in explain("unknownThing")


# ------------------------------------------------------------------------------------------ order and report


def test_schema_stage_answers_before_data_validation():
    document = body(coaVersion="01", trustData={"125100": 0, "125700": -3})
    result = validate(text(document))
    assert result.dfe_type == "schemaValidation"
    assert rules_of(result) == ["schema.zero", "data.coa-version", "data.trust-balance"]


def test_data_rules_answer_in_the_dfe_order():
    document = body(coaVersion="3.0.0", trustData={"125100": 1, "888888": -2})
    options = Options(active_coa_version="2.0.0", code_lists={"2.0.0": CodeList("2.0.0", CODES)},
                      academies=frozenset({"999-9999"}), trust_status=TrustStatus.CLOSED)
    result = validate(text(document), options)
    assert result.dfe_type == "unknownCoaVersion"
    assert rules_of(result) == ["data.coa-version", "data.trust-balance", "data.academy", "data.trust-closed"]
    assert validate(text(body(trustData={"125100": 1, "888888": -2})), options).dfe_type == "invalidCoaCode"


def test_report_gives_path_line_what_and_why_for_each_problem():
    payload = text(body(submittedBy="T", trustData={"125100": 0, "125700": -1.0001, "125800": 1.0001}))
    report = validate(payload).report()
    assert report["accepted"] is False and report["dfe"]["type"] == "schemaValidation"
    by_rule = {p["rule"]: p for p in report["problems"]}
    assert set(by_rule) == {"schema.structure", "schema.zero", "schema.decimal-places"}
    zero = by_rule["schema.zero"]
    assert zero["path"] == "trustData.125100" and zero["what"] == "Value 0 is not allowed"
    assert payload.splitlines()[zero["line"] - 1][zero["column"] - 1] == "0"
    assert zero["why"] == RULES["schema.zero"].why
    json.dumps(report)  # the CLI's --json needs it serialisable
