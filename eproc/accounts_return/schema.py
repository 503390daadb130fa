"""The DfE's draft-07 schema (as published, corrected), shipped as package data, and its exact evaluation.

The schema is loaded with ``parse_float=Decimal`` so that ``multipleOf`` is compared in exact decimals. Two
keywords are evaluated by eproc rather than by :mod:`jsonschema`, with the same meaning:

- ``multipleOf`` of a power of ten (the schema's 0.001) is a count of decimal places on the exact decimal, so
  that ``1e999999`` or a thousand-digit number costs linear time and never raises :class:`decimal.InvalidOperation`;
- the ``coaItems`` definition (thousands of items per body) is checked natively, because jsonschema spends about
  25 microseconds on each item: a 10 MB body would take tens of seconds. A test holds the native check to
  jsonschema's verdict on the same definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, ValidationError, validators
from jsonschema.protocols import Validator

SCHEMA_RESOURCE = "schema/submission.schema.json"
_NATIVE = "x-eproc-coaItems"


def load_schema() -> dict[str, Any]:
    """The published schema, exactly as shipped (numbers as Decimal)."""
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return schema


def decimal_places(value: Decimal) -> int:
    """Decimal places of ``value`` once trailing zeros are dropped (``1.0010000`` has 3), in linear time.

    Works on the text of the decimal: ``as_tuple()`` would build a tuple of a million ints for a million digits.
    """
    text = str(value)
    if "E" not in text:  # the common case, kept cheap: a body may carry hundreds of thousands of values
        return len(text.partition(".")[2].rstrip("0"))
    coefficient, _, exponent_text = text.lstrip("-").partition("E")
    whole, _, fraction = coefficient.partition(".")
    digits = (whole + fraction).rstrip("0")
    if not digits.strip("0"):
        return 0
    trailing = len(whole) + len(fraction) - len(digits)
    exponent = int(exponent_text) - len(fraction) + trailing
    return max(0, -exponent)


@lru_cache(maxsize=64)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` with JSON Schema's (ECMA 262) meaning of a final ``$``: the very end of the string. Python's
    ``$`` also matches before a final newline, which would let ``"123456\\n"`` pass as a CoA code."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if isinstance(instance, str) and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}", validator="pattern",
                              validator_value=pattern, instance=instance)


def _power_of_ten_places(multiple: Any) -> int | None:
    """k when ``multiple`` is 10**-k (k >= 0), else None."""
    if isinstance(multiple, bool) or not isinstance(multiple, int | Decimal):
        return None
    multiple = Decimal(multiple)
    if multiple <= 0:
        return None
    normal = multiple.normalize()
    sign, digits, exponent = normal.as_tuple()
    if digits != (1,) or not isinstance(exponent, int) or exponent > 0:
        return None
    return -exponent


def is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _multiple_of(validator: Validator, multiple: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not is_number(instance):
        return
    places = _power_of_ten_places(multiple)
    if places is None:  # not in the DfE's schema; keep jsonschema's meaning
        yield from Draft7Validator.VALIDATORS["multipleOf"](validator, multiple, instance, schema)
        return
    if decimal_places(Decimal(instance)) > places:
        yield ValidationError(f"{instance} is not a multiple of {multiple}", validator="multipleOf",
                              validator_value=multiple, instance=instance)


def _pattern_properties(validator: Validator, patterns: Mapping[str, Any], instance: Any,
                        schema: Mapping[str, Any]) -> Iterator[Any]:
    """jsonschema's patternProperties with the ECMA meaning of ``$`` (see :func:`ecma_pattern`)."""
    if not isinstance(instance, dict):
        return
    for pattern, subschema in patterns.items():
        compiled = ecma_pattern(pattern)
        for key, value in instance.items():
            if compiled.search(key):
                # descend() is on every jsonschema validator class, though not on its protocol
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)  # type: ignore[attr-defined]


def _coa_items(validator: Validator, definition: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    """The ``coaItems`` definition, evaluated natively: object; names match the pattern; values are numbers and
    multiples of ``multipleOf``; nothing else."""
    if not isinstance(instance, dict):
        yield ValidationError(f"{instance!r} is not of type 'object'", validator="type", validator_value="object",
                              instance=instance)
        return
    name_pattern = ecma_pattern(definition["propertyNames"]["pattern"])
    (value_pattern_text, item), = definition["patternProperties"].items()
    value_pattern = ecma_pattern(value_pattern_text)
    places = _power_of_ten_places(item["multipleOf"])
    assert places is not None and item["type"] == "number" and definition["additionalProperties"] is False
    same_pattern = name_pattern is value_pattern  # as in the DfE's schema: one search per key, not two
    for key, value in instance.items():
        if not name_pattern.search(key):
            error = ValidationError(f"{key!r} does not match {name_pattern.pattern!r}", validator="propertyNames",
                                    validator_value=definition["propertyNames"], instance=key)
            error.path.appendleft(key)  # eproc reports names at the member, not at the object
            yield error
            continue
        # Unreachable with the DfE's schema (the two patterns are the same), kept for a schema where they differ.
        if not same_pattern and not value_pattern.search(key):
            yield ValidationError(f"{key!r} is not allowed", validator="additionalProperties", instance=instance)
            continue
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            error = ValidationError(f"{value!r} is not of type 'number'", validator="type", validator_value="number",
                                    instance=value)
            error.path.appendleft(key)
            yield error
        elif decimal_places(Decimal(value)) > places:
            error = ValidationError(f"{value} is not a multiple of {item['multipleOf']}", validator="multipleOf",
                                    validator_value=item["multipleOf"], instance=value)
            error.path.appendleft(key)
            yield error


_ExactValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft7Validator, {"multipleOf": _multiple_of, "pattern": _pattern, "patternProperties": _pattern_properties,
                      _NATIVE: _coa_items}
)
_ReferenceValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft7Validator, {"multipleOf": _multiple_of, "pattern": _pattern, "patternProperties": _pattern_properties}
)


def coa_items_definition() -> dict[str, Any]:
    definition: dict[str, Any] = load_schema()["definitions"]["coaItems"]
    return definition


@lru_cache(maxsize=1)
def submission_validator() -> Validator:
    """A validator of the published schema whose ``coaItems`` definition is evaluated natively."""
    schema = load_schema()
    schema["definitions"]["coaItems"] = {_NATIVE: schema["definitions"]["coaItems"]}
    Draft7Validator.check_schema(load_schema())
    validator: Validator = _ExactValidator(schema)
    return validator


def reference_validator() -> Validator:
    """Plain jsonschema on the published schema (exact multipleOf only): the native check is tested against it."""
    validator: Validator = _ReferenceValidator(load_schema())
    return validator
