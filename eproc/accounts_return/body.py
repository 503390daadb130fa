"""Reading a submission body safely: exact decimals, duplicate keys found with their line and column, bounded size
and depth, and no NaN or Infinity (they are not JSON).

Two passes, because one pure-Python pass with positions for every value would cost seconds and hundreds of
megabytes on a large body: :func:`load` parses with the C scanner of :mod:`json` (numbers as
:class:`~decimal.Decimal`, never floats), and :func:`scan` walks the text again, in linear time, only when a
position is needed (for problems to report, for the tidier).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64

Path = tuple[str | int, ...]


class BodyMissing(Exception):
    """No body at all (or only white space)."""


class NotJson(Exception):
    """The body cannot be read as JSON; ``offset`` (a character offset) says where, when known."""

    def __init__(self, message: str, offset: int | None = None, rule_id: str = "body.not-json") -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.rule_id = rule_id


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters


class LineIndex:
    """Offset to line and column, built once per text in linear time."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> Position:
        line = bisect.bisect_right(self._starts, offset)
        return Position(line, offset - self._starts[line - 1] + 1)


def decode(body: bytes | str | None, *, max_bytes: int = MAX_BODY_BYTES) -> str:
    """The body as text: UTF-8 (a byte order mark is dropped), within ``max_bytes``."""
    if body is None:
        raise BodyMissing("the request has no body")
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise NotJson(f"the body is {size} bytes, more than the limit of {max_bytes}", None, "body.too-large")
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotJson(f"the body is not UTF-8 (byte {exc.start})", None) from None
    else:
        text = body
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip(" \t\r\n"):
        raise BodyMissing("the request body is empty")
    return text


# A string token (escapes included) or a bracket: enough to measure depth without being fooled by brackets
# inside strings.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_CONSTANT = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|-?Infinity|NaN')


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _STRUCTURE.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise NotJson(f"nested deeper than {max_depth} levels", match.start(), "body.too-deep")
        elif char in "]}":
            depth -= 1


@dataclass
class Loaded:
    text: str
    value: Any
    duplicate_keys: int  # how many; their places come from scan()
    _lines: LineIndex | None = field(default=None, repr=False)

    def position(self, offset: int) -> Position:
        if self._lines is None:
            self._lines = LineIndex(self.text)
        return self._lines.position(offset)


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


class _Constant(ValueError):
    pass


def load(text: str, *, max_depth: int = MAX_DEPTH) -> Loaded:
    """Parse ``text``; every number is a Decimal; of duplicate keys the first is kept (and counted)."""
    _check_depth(text, max_depth)
    duplicates = 0

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal duplicates
        result = dict(items)  # C speed for the usual case: no duplicates
        if len(result) == len(items):
            return result
        result = {}
        for key, value in items:  # keep the first of each key, as the report's later checks should see it
            if key in result:
                duplicates += 1
            else:
                result[key] = value
        return result

    try:
        # parse_int too: Python refuses to convert integers of more than 4300 digits, Decimal does not.
        value = json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant, object_pairs_hook=pairs
        )
    except json.JSONDecodeError as exc:
        raise NotJson(exc.msg, exc.pos) from None
    except _Constant as exc:
        offset = next((m.start() for m in _CONSTANT.finditer(text) if text[m.start()] != '"'), None)
        raise NotJson(f"{exc.args[0]} is not a JSON number", offset) from None
    except RecursionError:  # only if the depth check were ever fooled; never a traceback
        raise NotJson("nested too deeply", None, "body.too-deep") from None
    return Loaded(text, value, duplicates)


@dataclass(frozen=True)
class Span:
    start: int  # offset of the value's first character
    end: int  # offset just after its last character
    key_start: int  # offset of the member's key (its opening quote), or -1 outside objects


@dataclass(frozen=True)
class Member:
    key: str
    span: Span


@dataclass
class Scan:
    spans: dict[Path, Span] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)  # the duplicate's path and its key's offset
    members: dict[Path, list[Member]] = field(default_factory=dict)  # in text order, duplicates included
    containers: dict[Path, Span] = field(default_factory=dict)  # of objects whose members were asked for


_TOKEN = re.compile(r'[ \t\r\n]*(?:("[^"\\]*(?:\\.[^"\\]*)*")|([{}\[\],:])|([^ \t\r\n{}\[\],:"]+))')


def _key(token: str) -> str:
    return token[1:-1] if "\\" not in token else str(json.loads(token))


class _Frame:
    __slots__ = ("is_object", "path", "key", "index", "key_start", "expect_key", "seen", "start", "collect",
                 "own_key_start", "shadowed", "current_duplicate")

    def __init__(self, is_object: bool, path: Path, start: int, own_key_start: int, shadowed: bool,
                 collect: bool) -> None:
        self.is_object = is_object
        self.path = path
        self.key = ""
        self.index = 0
        self.key_start = -1
        self.expect_key = is_object
        self.seen: set[str] = set()
        self.start = start
        self.collect = collect
        self.own_key_start = own_key_start
        self.shadowed = shadowed  # inside a duplicate key's value: not what load() kept
        self.current_duplicate = False

    def child(self) -> tuple[Path, str | int, int, bool]:
        name: str | int = self.key if self.is_object else self.index
        return self.path + (name,), name, self.key_start, self.shadowed or self.current_duplicate


def _skip(text: str, pos: int) -> int:
    """The offset just after the container whose opening bracket ends at ``pos``."""
    depth = 1
    for match in _STRUCTURE.finditer(text, pos):
        char = text[match.start()]
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return match.end()
    return len(text)


def scan(
    text: str,
    wanted: Iterable[Path] = (),
    *,
    duplicates: bool = False,
    members_of: Callable[[Path], bool] | None = None,
) -> Scan:
    """Walk ``text`` (already accepted by :func:`load`) once and return the spans of the ``wanted`` paths, the
    duplicate keys (``duplicates=True``) and the members of the objects ``members_of`` selects.

    A path's span is its first occurrence (the one :func:`load` keeps). Stops early once nothing more is wanted.
    """
    result = Scan()
    want = set(wanted)
    # Containers on the way to a wanted path; any other container is skipped at regex speed (when neither
    # duplicates nor members are asked for), which keeps placing a handful of problems in a large body cheap.
    prefixes = {path[:i] for path in want for i in range(len(path))}
    skipping = not duplicates and members_of is None
    stack: list[_Frame] = []
    pos = 0
    length = len(text)
    finished = not want and not duplicates and members_of is None

    def record(path: Path, name: str | int, span: Span, shadowed: bool) -> None:
        if not shadowed and path in want:
            result.spans[path] = span
            want.discard(path)
        if stack and stack[-1].collect:
            result.members[stack[-1].path].append(Member(str(name), span))

    while pos < length and not finished:
        match = _TOKEN.match(text, pos)
        if match is None:  # only trailing white space is left
            break
        pos = match.end()
        string, punct = match.group(1), match.group(2)
        top = stack[-1] if stack else None
        if string is not None:
            start = match.start(1)
            if top is not None and top.is_object and top.expect_key:
                key = _key(string)
                top.key, top.key_start, top.expect_key = key, start, False
                top.current_duplicate = key in top.seen
                if top.current_duplicate:
                    if duplicates and not top.shadowed:
                        result.duplicates.append((top.path + (key,), start))
                else:
                    top.seen.add(key)
                continue
            path, name, key_start, shadowed = top.child() if top else ((), "", -1, False)
            record(path, name, Span(start, match.end(1), key_start), shadowed)
        elif punct is None:
            path, name, key_start, shadowed = top.child() if top else ((), "", -1, False)
            record(path, name, Span(match.start(3), match.end(3), key_start), shadowed)
        elif punct in "[{":
            path, name, key_start, shadowed = top.child() if top else ((), "", -1, False)
            collect = not shadowed and punct == "{" and members_of is not None and members_of(path)
            if collect:
                result.members[path] = []
            if skipping and path not in prefixes:
                end = _skip(text, match.end(2))
                record(path, name, Span(match.start(2), end, key_start), shadowed)
                pos = end
                finished = not want
                continue
            stack.append(_Frame(punct == "{", path, match.start(2), key_start, shadowed, collect))
            continue
        elif punct in "]}":
            frame = stack.pop()
            span = Span(frame.start, match.end(2), frame.own_key_start)
            if frame.collect:
                result.containers[frame.path] = span
            record(frame.path, frame.path[-1] if frame.path else "", span, frame.shadowed)
        elif punct == "," and top is not None:
            if top.is_object:
                top.expect_key = True
            else:
                top.index += 1
            continue
        else:  # ":"
            continue
        finished = not want and not duplicates and members_of is None
    return result
