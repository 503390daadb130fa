"""The submission checked as the DfE checks it, in its order, with the answer it would give; and, beyond the DfE,
every problem at once with its path, line, what and why, plus warnings for the documented rules eproc does not
enforce as documented (see ``rules.py``).

Order: body missing -> not JSON -> schema stage (all ``schemaValidation``: duplicate keys, the draft-07 schema,
zeros, nulls, decimal places, strict range, patterns) -> data stage (coaVersion, CoA codes, value type,
trust balance, academies, trust status). The DfE answers with the first stage that fails; within the data stage
with the first rule that fails. The report still lists what later stages find wherever they can look.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from jsonschema import ValidationError

from . import body as bodylib
from .body import BodyMissing, Loaded, NotJson, Path
from .rules import ALWAYS_DETAILS, DEV_ONLY_DETAILS, RULES, Rule, Severity
from .schema import decimal_places, ecma_pattern, submission_validator

RANGE_LIMIT = Decimal(999999)
# The largest .NET decimal: a value beyond it cannot be held by the DfE's service (coaValueInvalidType).
DOTNET_DECIMAL_MAX = Decimal(79228162514264337593543950335)
MAX_PROBLEMS = 1000  # listed per result; the rest are counted, so a hostile body cannot make a huge report

COA_SECTIONS = ("trustData", "counterpartyData", "matOverview", "academies")
COA_VERSION = re.compile(r"([1-9][0-9]{0,4})\.([0-9]+)\.([0-9]+)")
ACADEMY = ecma_pattern(r"^[0-9]{3}-[0-9]{4}$")
CODE = ecma_pattern(r"^[0-9]{6}$")
SUBMITTED_BY = ecma_pattern(r"^[^<>\[\]{}/'#:!=|&+*?^$]+$")
SOURCE_SYSTEM = ecma_pattern(r"^[a-zA-Z0-9-&. ]+$")

# Exact arithmetic for the balance: values reaching it are below 8e28 with at most 3 places, so 60 digits hold
# any sum of ten million of them; Inexact is trapped so that a mistake here fails loudly, never silently.
_EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow])
_ROUGH = decimal.Context(prec=60)


class TrustStatus(StrEnum):
    NOT_SET_UP = "not-set-up"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class CodeList:
    """A chart of accounts version's codes; ``sections`` (optional) says where each code may be used."""

    version: str
    codes: frozenset[str]
    sections: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Options:
    active_coa_version: str | None = None
    code_lists: Mapping[str, CodeList] = field(default_factory=dict)
    academies: frozenset[str] | None = None  # the trust's; None: not checked (warning)
    trust_status: TrustStatus | None = None  # None: not checked
    strict_range: bool = False
    max_body_bytes: int = bodylib.MAX_BODY_BYTES
    max_depth: int = bodylib.MAX_DEPTH


@dataclass
class Problem:
    rule: Rule
    path: Path
    message: str  # in the words of the DfE's (Json.NET) dev details
    detail: str | None = None  # the DfE's ``details`` entry for data-stage types
    offset: int | None = None  # where the human report points: the value or key start
    end: int | None = None  # where Json.NET's "Position" points: just after the token
    line: int | None = None
    column: int | None = None
    position: int | None = None
    at_key: bool = False

    @property
    def where(self) -> str:
        return path_text(self.path)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.id, "severity": self.rule.severity.value, "dfeType": self.rule.dfe_type,
                "path": self.where, "line": self.line, "column": self.column, "what": self.message,
                "why": self.rule.why}

    def dev_message(self) -> str:
        """The Json.NET shape of the DfE's dev details."""
        return f"Path '{self.where}', Line: {self.line or 0}, Position {self.position or 0}, Error: {self.message}"


@dataclass
class Result:
    status: int
    dfe_type: str | None
    problems: list[Problem]  # errors, in the order the DfE would meet them
    warnings: list[Problem]
    document: Any = None
    omitted: int = 0  # problems not listed beyond MAX_PROBLEMS
    _answer: list[Problem] = field(default_factory=list, repr=False)

    @property
    def accepted(self) -> bool:
        return self.status == 200

    def details(self, dev_details: bool = False) -> list[str] | None:
        """The ``details`` the DfE would send, or None where it sends none."""
        if self.dfe_type is None:
            return None
        if self.dfe_type in ALWAYS_DETAILS:
            return sorted({p.detail or p.where for p in self._answer})
        if self.dfe_type in DEV_ONLY_DETAILS and dev_details:
            if self.dfe_type == "schemaValidation":
                return [p.dev_message() for p in self._answer]
            if self.dfe_type == "unknownAcademy":
                return sorted({p.detail or p.where for p in self._answer})
            return [p.message for p in self._answer]
        return None

    def error_body(self, dev_details: bool = False) -> dict[str, Any] | None:
        """The DfE's 400 body (``type`` and, where the type has them, ``details``); None when accepted."""
        if self.dfe_type is None:
            return None
        answer: dict[str, Any] = {"type": self.dfe_type}
        details = self.details(dev_details)
        if details is not None:
            answer["details"] = details
        return answer

    def report(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "status": self.status, "dfe": self.error_body(True),
                "problems": [p.as_dict() for p in self.problems], "warnings": [p.as_dict() for p in self.warnings],
                "omitted": self.omitted}


def path_text(path: Path) -> str:
    """Json.NET's path: dotted names, ``[n]`` for array items, ``''`` for the root."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text


def _problem(rule_id: str, path: Path, message: str, detail: str | None = None, at_key: bool = False) -> Problem:
    return Problem(RULES[rule_id], path, message, detail, at_key=at_key)


# ---------------------------------------------------------------------------------------------------- schema


def _netjson_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, str):
        return "String"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, Decimal) and decimal_places(value) == 0 and "E" not in str(value).upper() and \
            "." not in str(value):
        return "Integer"
    return "Float"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _short(value: Any, limit: int = 80) -> str:
    """A value for a one-line message: control characters escaped, long text cut."""
    text = value if isinstance(value, str) else str(value)
    text = text if len(text) <= limit else text[:limit] + "..."
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], text)


def _schema_problems(document: Any) -> Iterator[Problem]:
    for error in submission_validator().iter_errors(document):
        yield from _from_validation_error(error)


def _from_validation_error(error: ValidationError) -> Iterator[Problem]:
    path: Path = tuple(error.absolute_path)
    kind = error.validator
    instance: Any = error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else str(error.validator_value)
        yield _problem("schema.structure", path, f"Required properties are missing from object: {missing}.")
    elif kind == "additionalProperties":
        allowed = set(schema.get("properties", {}))
        patterns = [ecma_pattern(p) for p in schema.get("patternProperties", {})]
        names = schema.get("propertyNames", {}).get("pattern")
        for key in instance:
            if names is not None and not ecma_pattern(names).search(key):
                continue  # already reported by propertyNames: one mistake, one finding
            if key not in allowed and not any(p.search(key) for p in patterns):
                yield _problem("schema.structure", (*path, key), f"Property '{_short(key)}' has not been defined and "
                               "the schema does not allow additional properties.", at_key=True)
    elif kind == "propertyNames":
        name: str | int = path[-1] if path and path[-1] == instance else str(instance)
        parent = path[:-1] if path and path[-1] == instance else path
        pattern = error.validator_value.get("pattern", "") if isinstance(error.validator_value, dict) else ""
        yield _problem("schema.pattern", (*parent, name),
                       f"Property name '{_short(name)}' does not match regex pattern '{pattern}'.", at_key=True)
    elif kind == "type":
        expected = str(error.validator_value).capitalize()
        rule = "schema.null" if instance is None and expected == "Number" else "schema.structure"
        yield _problem(rule, path, f"Invalid type. Expected {expected} but got {_netjson_type(instance)}.")
    elif kind == "multipleOf":
        yield _problem("schema.decimal-places", path,
                       f"{_netjson_type(instance)} {_short(instance)} is not a multiple of {error.validator_value}.")
    elif kind == "minLength":
        yield _problem("schema.structure", path,
                       f"String '{_short(instance)}' is less than minimum length of {error.validator_value}.")
    elif kind == "maxLength":
        yield _problem("schema.structure", path,
                       f"String '{_short(instance)}' exceeds maximum length of {error.validator_value}.")
    elif kind == "enum":
        yield _problem("schema.structure", path, f"Value {json.dumps(_short(instance))} is not defined in enum.")
    elif kind == "pattern" and "propertyNames" in error.schema_path:  # a name, reported at its member
        yield _problem("schema.pattern", (*path, str(instance)),
                       f"Property name '{_short(instance)}' does not match regex pattern '{error.validator_value}'.",
                       at_key=True)
    elif kind == "pattern":
        yield _problem("schema.pattern", path,
                       f"String '{_short(instance)}' does not match regex pattern '{error.validator_value}'.")
    else:  # pragma: no cover - the DfE's schema uses no other keyword
        yield _problem("schema.structure", path, str(error.message))


def coa_sections(document: Any) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """Every CoA items object: its path, the DfE's details prefix, the object (whatever its shape elsewhere)."""
    if not isinstance(document, dict):
        return
    for name in ("trustData", "counterpartyData"):
        if isinstance(document.get(name), dict):
            yield (name,), name, document[name]
    academy_data = document.get("academyData")
    if isinstance(academy_data, dict):
        if isinstance(academy_data.get("matOverview"), dict):
            yield ("academyData", "matOverview"), "matOverview", academy_data["matOverview"]
        academies = academy_data.get("academies")
        if isinstance(academies, dict):
            for number, items in academies.items():
                if isinstance(items, dict):
                    yield ("academyData", "academies", number), number, items


def _section_of(prefix: str) -> str:
    return prefix if prefix in ("trustData", "counterpartyData", "matOverview") else "academies"


def _rule_problems(document: Any, options: Options) -> Iterator[Problem]:
    """The documented schema-level rules the draft-07 schema does not express."""
    for path, _prefix, items in coa_sections(document):
        for code, value in items.items():
            if type(value) is not Decimal:  # load() makes every number a Decimal; the schema reports the rest
                continue
            if value.is_zero():
                yield _problem("schema.zero", (*path, code), f"Value {value} is not allowed")
            elif value.copy_abs() > RANGE_LIMIT:
                rule = "schema.range-strict" if options.strict_range else "schema.range"
                yield _problem(rule, (*path, code),
                               f"Value {_short(value)} is outside the range -999999 to 999999")
    if isinstance(document, dict):
        for name, pattern in (("submittedBy", SUBMITTED_BY), ("sourceSystem", SOURCE_SYSTEM)):
            value = document.get(name)
            if isinstance(value, str) and value and not pattern.search(value):
                yield _problem("schema.pattern", (name,),
                               f"String '{_short(value)}' does not match regex pattern '{pattern.pattern}'.")


# ---------------------------------------------------------------------------------------------------- data


def coa_version_ok(text: str) -> bool:
    """Three dot-separated numbers: the first 1-99999 without a leading zero, the others 0-99999."""
    match = COA_VERSION.fullmatch(text)
    if match is None:
        return False
    return all(len(part.lstrip("0")) <= 5 for part in match.groups()[1:])


def coa_major(text: str) -> int:
    return int(text.split(".", 1)[0])


def _code_list(version: str, options: Options) -> CodeList | None:
    if version in options.code_lists:
        return options.code_lists[version]
    active = options.active_coa_version
    if active and active in options.code_lists and coa_version_ok(active) and coa_major(active) == coa_major(version):
        return options.code_lists[active]
    return None


def _data_problems(document: Any, options: Options, warnings: list[Problem]) -> Iterator[Problem]:
    if not isinstance(document, dict):
        return
    version = document.get("coaVersion")
    version_ok = isinstance(version, str) and coa_version_ok(version)
    if isinstance(version, str):
        if not version_ok:
            yield _problem("data.coa-version", ("coaVersion",),
                           f"coaVersion '{_short(version)}' is not three dot-separated numbers (such as 2.0.0)")
        elif options.active_coa_version is None:
            warnings.append(_problem("data.coa-version-unchecked", ("coaVersion",),
                                     f"coaVersion {version} was not compared with an active chart of accounts"))
        elif coa_major(version) != coa_major(options.active_coa_version):
            yield _problem("data.coa-version", ("coaVersion",),
                           f"coaVersion {version} has major number {coa_major(version)}; the active chart of "
                           f"accounts is {options.active_coa_version}")
    code_list = _code_list(version, options) if isinstance(version, str) and version_ok else None
    if code_list is None and any(items for _p, _x, items in coa_sections(document)):
        warnings.append(_problem("data.coa-codes-unchecked", ("coaVersion",),
                                 f"no code list is loaded for coaVersion {_short(version)}: codes checked by pattern "
                                 "only"))
    for path, prefix, items in coa_sections(document):
        section = _section_of(prefix)
        for code in items:
            if code_list is not None and CODE.search(code):
                if code not in code_list.codes:
                    yield _problem("data.coa-code", (*path, code),
                                   f"CoA code {code} is not in chart of accounts {code_list.version}",
                                   f"{prefix}.{code}")
                elif code in code_list.sections and section not in code_list.sections[code]:
                    yield _problem("data.coa-code", (*path, code),
                                   f"CoA code {code} may not be used in {section} (chart of accounts "
                                   f"{code_list.version})", f"{prefix}.{code}")
    for path, prefix, items in coa_sections(document):
        for code, value in items.items():
            if type(value) is Decimal and value.copy_abs() > DOTNET_DECIMAL_MAX:
                yield _problem("data.value-type", (*path, code),
                               f"Value {_short(value)} is beyond the range of a decimal", f"{prefix}.{code}")
    trust = document.get("trustData")
    if isinstance(trust, dict):
        total = Decimal(0)
        try:
            for code, value in trust.items():
                if not code.startswith("9"):
                    # Inexact is trapped: a value too long to sum exactly ends the check rather than misleading.
                    total = _EXACT.add(total, value)
        except (TypeError, decimal.DecimalException):
            pass  # the balance is only meaningful over values the earlier checks let through
        else:
            if not total.is_zero():
                yield _problem("data.trust-balance", ("trustData",),
                               f"trustData (codes not starting with 9) totals {total.normalize(_ROUGH):f}, not 0")
    academy_data = document.get("academyData")
    academies = academy_data.get("academies") if isinstance(academy_data, dict) else None
    if isinstance(academies, dict) and academies:
        if options.academies is None:
            warnings.append(_problem("data.academies-unchecked", ("academyData", "academies"),
                                     "academy numbers were not checked against the trust's academies"))
        else:
            for number in academies:
                if ACADEMY.search(number) and number not in options.academies:
                    yield _problem("data.academy", ("academyData", "academies", number),
                                   f"Academy {number} is not recognised as the trust's", number, at_key=True)
    if options.trust_status is TrustStatus.NOT_SET_UP:
        yield _problem("data.trust-not-set-up", (), "The trust is not set up for FMS submissions")
    elif options.trust_status is TrustStatus.CLOSED:
        yield _problem("data.trust-closed", (), "The trust has sent its AR form for approval")


# ---------------------------------------------------------------------------------------------------- positions


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def _key_end(text: str, key_start: int) -> int:
    """The offset just after the key (a string token) that starts at ``key_start``."""
    match = _STRING.match(text, key_start)
    return match.end() if match else key_start + 1


def _place(problems: list[Problem], loaded: Loaded) -> None:
    """Give each problem its line, column and Json.NET position, in one linear scan of the text."""
    if not problems:
        return
    found = bodylib.scan(loaded.text, {p.path for p in problems})
    for problem in problems:
        span = found.spans.get(problem.path)
        if span is None:
            continue
        if problem.at_key and span.key_start >= 0:
            start, end = span.key_start, _key_end(loaded.text, span.key_start)
        else:
            start, end = span.start, span.end
        problem.offset, problem.end = start, end
        where = loaded.position(start)
        problem.line, problem.column = where.line, where.column
        problem.position = loaded.position(max(start, end - 1)).column


def _duplicates(loaded: Loaded) -> list[Problem]:
    found = bodylib.scan(loaded.text, duplicates=True)
    problems = []
    for path, offset in found.duplicates:
        key = str(path[-1])
        problem = _problem("schema.duplicate-key", path, f"Can not add property {_short(key)} to "
                           "Newtonsoft.Json.Linq.JObject. Property with the same name already exists on object.",
                           at_key=True)
        problem.offset, problem.end = offset, _key_end(loaded.text, offset)
        where = loaded.position(offset)
        problem.line, problem.column = where.line, where.column
        problem.position = loaded.position(problem.end - 1).column
        problems.append(problem)
    return problems


# ---------------------------------------------------------------------------------------------------- entry


def _bounded(problems: Iterator[Problem], counts: Callable[[Problem], bool] | None = None) -> tuple[list[Problem], int]:
    """At most MAX_PROBLEMS problems of each kind (errors, warnings), and how many more there were."""
    kept: list[Problem] = []
    seen = {True: 0, False: 0}
    omitted = 0
    for problem in problems:
        kind = counts(problem) if counts else True
        seen[kind] += 1
        if seen[kind] <= MAX_PROBLEMS:
            kept.append(problem)
        else:
            omitted += 1
    return kept, omitted


def _refused(rule_id: str, message: str, offset: int | None, loaded_text: str | None) -> Result:
    problem = _problem(rule_id, (), message)
    if offset is not None and loaded_text is not None:
        where = bodylib.LineIndex(loaded_text).position(offset)
        problem.offset, problem.line, problem.column, problem.position = offset, where.line, where.column, where.column
    result = Result(400, problem.rule.dfe_type, [problem], [])
    result._answer = [problem]
    return result


def validate(body: bytes | str | None, options: Options | None = None) -> Result:
    """Check ``body`` as the DfE would. Never raises: an unexpected failure is an ``unknownException`` answer."""
    options = options or Options()
    try:
        return _validate(body, options)
    except Exception as exc:  # the validator's promise: an answer for every input, never a traceback
        return _refused("internal", f"{type(exc).__name__}: {exc}", None, None)


def _validate(body: bytes | str | None, options: Options) -> Result:
    text: str | None = None
    try:
        text = bodylib.decode(body, max_bytes=options.max_body_bytes)
        loaded = bodylib.load(text, max_depth=options.max_depth)
    except BodyMissing as exc:
        return _refused("body.missing", str(exc), None, None)
    except NotJson as exc:
        return _refused(exc.rule_id, exc.message, exc.offset, text)
    if loaded.value is None:  # ASP.NET binds the literal null as no body at all
        return _refused("body.missing", "the body is the JSON literal null", None, None)

    document = loaded.value
    schema_errors: list[Problem] = []
    warnings: list[Problem] = []
    if loaded.duplicate_keys:
        schema_errors.extend(_duplicates(loaded)[:MAX_PROBLEMS])
    found, omitted = _bounded(_schema_problems(document))
    rule_found, rule_omitted = _bounded(_rule_problems(document, options), lambda p: p.rule.severity is Severity.ERROR)
    data_errors, data_omitted = _bounded(_data_problems(document, options, warnings))
    warnings.extend(p for p in rule_found if p.rule.severity is Severity.WARNING)
    found.extend(p for p in rule_found if p.rule.severity is Severity.ERROR)
    omitted += rule_omitted + data_omitted + max(0, loaded.duplicate_keys - MAX_PROBLEMS)
    _place(found + warnings + data_errors, loaded)
    schema_errors.extend(found)

    def in_text_order(problems: list[Problem]) -> list[Problem]:
        return sorted(problems, key=lambda p: (p.offset if p.offset is not None else -1))

    schema_errors = in_text_order(schema_errors)
    if schema_errors:
        # The DfE reports the first duplicate key only, with the rest of the schema stage.
        first_duplicate = next((p for p in schema_errors if p.rule.id == "schema.duplicate-key"), None)
        answer = [p for p in schema_errors if p.rule.id != "schema.duplicate-key" or p is first_duplicate]
        dfe_type: str | None = "schemaValidation"
    else:
        answer = []
        dfe_type = None
        for problem in data_errors:  # already in the DfE's order of rules
            if dfe_type is None:
                dfe_type = problem.rule.dfe_type
            if problem.rule.dfe_type == dfe_type:
                answer.append(problem)
    problems = schema_errors + data_errors
    omitted += max(0, len(problems) - MAX_PROBLEMS)
    result = Result(400 if dfe_type else 200, dfe_type, problems[:MAX_PROBLEMS], in_text_order(warnings)[:MAX_PROBLEMS],
                    document, omitted)
    result._answer = answer[:MAX_PROBLEMS]
    return result
