"""Property tests (hypothesis) and hostile inputs: the validator and the sandbox agree; the tidier keeps balance
and text; no input makes the validator raise or take more than linear time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal

import pytest
import requests
from ar_helpers import ACADEMIES, CODES, FULL
from conftest import login, make_client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from eproc.accounts_return.body import load
from eproc.accounts_return.rules import DFE_TYPES
from eproc.accounts_return.sandbox import DEMO_CLIENT
from eproc.accounts_return.tidy import tidy_text
from eproc.accounts_return.validator import validate

# Small example counts and no explain phase keep the suite fast; the explain phase alone can take many seconds.
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
CODE_LIST = sorted(CODES)


class Raw(str):
    """A number's text, written into the body as it is."""


def dump(value: object, indent: int) -> str:
    """JSON text with Raw numbers verbatim; indent 0 writes it on one line."""
    pad = "\n" + " " * indent if indent else ""

    def write(item: object, depth: int) -> str:
        if isinstance(item, Raw):
            return str(item)
        if isinstance(item, dict):
            if not item:
                return "{}"
            inner = pad + " " * (indent * depth) if indent else ""
            members = [f"{inner}{json.dumps(k)}: {write(v, depth + 1)}" for k, v in item.items()]
            closing = pad + " " * (indent * (depth - 1)) if indent else ""
            return "{" + ",".join(members) + closing + "}"
        return json.dumps(item)

    return write(value, 1)


def spellings(value: Decimal) -> st.SearchStrategy[Raw]:
    """Ways an FMS may write the same number: plain, with trailing zeros, in exponent form."""
    plain = f"{value:f}"
    forms = {plain, plain + ("0" if "." in plain else ".0"), plain + ("000" if "." in plain else ".000")}
    if value == value.to_integral_value() and value != 0:
        forms.add(f"{value:E}".replace("E+", "e"))
    return st.sampled_from(sorted(forms)).map(Raw)


values = st.decimals(min_value=-2_000_000, max_value=2_000_000, places=3, allow_nan=False, allow_infinity=False)
# Mostly codes of the published examples' chart, sometimes any six digits (unknown to it): cheap to draw.
codes = st.one_of(st.sampled_from(CODE_LIST[:40]), st.integers(100000, 899999).map(str))


@st.composite
def items(draw: st.DrawFn, balanced: bool = False, zeros: bool = True) -> dict[str, object]:
    chosen = draw(st.dictionaries(codes, values, max_size=6))
    if balanced:
        chosen = {k: v for k, v in chosen.items() if not k.startswith("9")}
        chosen.pop("125700", None)
        total = sum(chosen.values(), Decimal(0))
        if total:
            chosen["125700"] = -total
    result: dict[str, object] = {}
    for code, value in chosen.items():
        result[code] = draw(spellings(value))
    if zeros:
        for code in draw(st.lists(st.sampled_from(CODE_LIST[40:80]), max_size=3)):
            if code not in result:
                result[code] = Raw(draw(st.sampled_from(["0", "0.0", "0.000", "-0", "null"])))
    return result


@st.composite
def bodies(draw: st.DrawFn, balanced: bool = True, zeros: bool = True) -> str:
    academies = draw(st.lists(st.sampled_from(sorted(ACADEMIES) + ["999-9999"]), unique=True, max_size=3))
    document = {
        "coaVersion": draw(st.sampled_from(["2.0.0", "2.1.3", "3.0.0", "02.0.0"])),
        "submittedBy": draw(st.sampled_from(["TestUser", "A", "Jane O'Brien", "Finance Team"])),
        "submissionType": "aar",
        "sourceSystem": draw(st.sampled_from(["FMS Application2", "Acme-FMS 4.1", "FMS_2"])),
        "academyData": {"matOverview": draw(items(zeros=zeros)),
                        "academies": {a: draw(items(zeros=zeros)) for a in academies}},
        "trustData": draw(items(balanced=draw(st.booleans()) if not balanced else True, zeros=zeros)),
        "counterpartyData": draw(items(zeros=zeros)),
    }
    return dump(document, draw(st.sampled_from([0, 2, 4])))


# ------------------------------------------------------------------------------------------ validator = sandbox


def test_what_the_validator_accepts_the_sandbox_accepts(sandbox, tmp_path):
    client = make_client(sandbox, tmp_path)
    login(client)
    headers = {"Authorization": f"Bearer {client.access_token()}",
               "Ocp-Apim-Subscription-Key": DEMO_CLIENT.subscription_key, "Content-Type": "application/json",
               "Enable-Dev-Error-Details": "true"}
    seen = {"accepted": 0, "refused": 0}

    @SETTINGS
    @given(bodies(balanced=False))
    def check(payload: str) -> None:
        expected = validate(payload, FULL)
        response = requests.put(f"{sandbox.url}/api/submissions", data=payload.encode(), headers=headers, timeout=10)
        if expected.accepted:
            seen["accepted"] += 1
            assert response.status_code == 200, response.text
            assert response.json()["submissionGuid"]
        else:  # and the other way round: the same refusal, in the same words
            seen["refused"] += 1
            assert response.status_code == 400
            assert response.json() == expected.error_body(dev_details=True)

    check()
    assert seen["accepted"] and seen["refused"]  # both sides of the property were exercised


# ------------------------------------------------------------------------------------------ tidier


def _without_empty(document: object) -> object:
    if isinstance(document, dict):
        return {k: _without_empty(v) for k, v in document.items()
                if not (v is None or (isinstance(v, Decimal) and v.is_zero()))}
    return document


@SETTINGS
@given(bodies(balanced=True))
def test_the_tidied_copy_of_a_balanced_body_balances_and_keeps_every_other_text(payload):
    before = validate(payload, FULL)
    tidied = tidy_text(payload)
    after = validate(tidied.text, FULL)
    rules_after = {p.rule.id for p in after.problems}
    assert not rules_after & {"schema.zero", "schema.null", "data.trust-balance"}
    # Every error but zeros and nulls (and what was found at the items removed) is still there; nothing new appears.
    removed = set(tidied.removed)
    others_before = {(p.rule.id, p.where) for p in before.problems
                     if p.rule.id not in ("schema.zero", "schema.null") and p.where not in removed}
    assert {(p.rule.id, p.where) for p in after.problems} == others_before
    if not others_before:
        assert after.accepted
    # Exactly the empty CoA items went, and the rest is the same, value for value.
    original = load(payload).value
    for section in ("trustData", "counterpartyData"):
        original[section] = _without_empty(original[section])
    original["academyData"] = {k: ({a: _without_empty(i) for a, i in v.items()} if k == "academies"
                                   else _without_empty(v)) for k, v in original["academyData"].items()}
    assert load(tidied.text).value == original
    assert len(tidied.removed) == sum(1 for p in before.problems if p.rule.id in ("schema.zero", "schema.null"))


def test_tidy_keeps_text_and_layout_exactly():
    payload = ('{\r\n  "trustData": {\r\n    "125100": 0,\r\n    "125200": 10.500,\r\n    "125700": -1.05E1,\r\n'
               '    "125800": null\r\n  },\r\n  "counterpartyData": {"1": 0.00}\r\n}')
    tidied = tidy_text(payload)
    assert tidied.text == ('{\r\n  "trustData": {\r\n    "125200": 10.500,\r\n    "125700": -1.05E1\r\n  },\r\n'
                           '  "counterpartyData": {}\r\n}')
    assert tidied.removed == ["trustData.125100", "trustData.125800", "counterpartyData.1"]


# ------------------------------------------------------------------------------------------ never raises


def _answers(result) -> None:
    assert result.status in (200, 400)
    if result.status == 400:
        assert result.error_body(dev_details=True)["type"] in DFE_TYPES
        assert result.problems


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_no_bytes_make_the_validator_raise(payload):
    _answers(validate(payload))


@SETTINGS
@given(json_values, st.sampled_from(["coaVersion", "trustData", "academyData", "submittedBy", "x"]))
def test_no_json_makes_the_validator_raise(value, key):
    _answers(validate(json.dumps({key: value, "trustData": {"125100": value}})))
    _answers(validate(json.dumps(value)))


@pytest.mark.parametrize("payload", [
    "[" * 200_000,
    '{"a":' * 200_000,
    "[" * 63 + "]" * 63,
    '{"trustData": {"125100": 1e999, "125700": -1e999}}',
    '{"trustData": {"125100": 1e999999999999999999}}',
    '{"trustData": {"125100": 1e-999999999999999999}}',
    '{"trustData": {"125100": NaN}}',
    '{"trustData": {"125100": -Infinity}}',
    '{"trustData": {"125100": ' + "9" * 100_000 + "}}",
    '{"trustData": {"125100": 0.' + "0" * 100_000 + "1}}",
    '{"trustData": {"' + "1" * 100_000 + '": 1}}',
    '{"coaVersion": "' + "1." * 50_000 + '"}',
    '"\\ud800"',
    "\ufeff{}",
    '{"trustData": {"125100": 1, "125100": 1, "125100": 1}}',
])
def test_hostile_inputs_get_an_answer_quickly(payload):
    started = time.perf_counter()
    _answers(validate(payload, FULL))
    assert time.perf_counter() - started < 2


_TEN_MEGABYTES = """
import json, sys, time
from eproc.accounts_return.validator import validate
big_string = json.dumps({"coaVersion": "2.0.0", "submittedBy": "x" * 10_000_000})
big_number = '{"trustData": {"125100": ' + "7" * 10_000_000 + "}}"
answers = []
for payload in (big_string, big_number, b" " * (16 * 1024 * 1024 + 1)):
    started = time.perf_counter()
    result = validate(payload)
    answers.append([result.status, result.problems[0].rule.id, time.perf_counter() - started])
print(json.dumps(answers))
"""


def test_ten_megabyte_bodies_get_an_answer():
    # In a child process: a 10 MB body costs the process some 50 MB at its peak, and the rest of the repository's
    # suite measures its children's peak memory, which would inherit this process's high-water mark.
    done = subprocess.run([sys.executable, "-c", _TEN_MEGABYTES], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (string_status, string_rule, string_time), (number_status, number_rule, number_time), (big_status, big_rule, _) = (
        json.loads(done.stdout))
    assert (string_status, string_rule) == (400, "schema.structure")  # required properties missing
    assert (number_status, number_rule) == (400, "schema.structure")
    assert (big_status, big_rule) == (400, "body.too-large")
    assert string_time < 10 and number_time < 10


def _items_body(count: int, value: str) -> str:
    return ('{"coaVersion": "2.0.0", "trustData": {' + ", ".join(f'"{i:06d}": {value}' for i in range(count)) + "}}")


@pytest.mark.parametrize("value", ["1.5", "0"])  # accepted items, and items that are each a problem
def test_time_grows_linearly_with_the_body(value):
    def best_of_three(payload: str) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            validate(payload)
            times.append(time.perf_counter() - started)
        return min(times)

    small, large = best_of_three(_items_body(5_000, value)), best_of_three(_items_body(20_000, value))
    assert large < 8 * small + 0.05  # 4x the body: linear is ~4x, quadratic would be ~16x
