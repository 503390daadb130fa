"""The tidier: a copy of a body without its zero or null CoA items (what the DfE asks an FMS to do: omit items
it has not populated), every other character kept as it was.

It edits the text, never a re-serialised document: ``10161663.870`` stays ``10161663.870`` and the layout stays
the supplier's. Only CoA items are touched (trustData, counterpartyData, matOverview, each academy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from .body import Member, Path, decode, load, scan
from .validator import path_text

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def is_coa_items(path: Path) -> bool:
    return path in (("trustData",), ("counterpartyData",), ("academyData", "matOverview")) or (
        len(path) == 3 and path[:2] == ("academyData", "academies"))


@dataclass(frozen=True)
class Tidied:
    text: str
    removed: list[str]  # the paths of the items removed, in text order


def _empty(raw: str) -> bool:
    return raw == "null" or (_NUMBER.fullmatch(raw) is not None and Decimal(raw).is_zero())


def tidy_text(text: str) -> Tidied:
    """``text`` without zero or null CoA items. Raises :class:`~.body.NotJson` for text that is not JSON."""
    load(text)  # the same reading as the validator's: refuses what it refuses
    found = scan(text, members_of=is_coa_items)
    cuts: list[tuple[int, int]] = []
    removed: list[tuple[int, str]] = []
    for path, members in found.members.items():
        drop = [_empty(text[m.span.start:m.span.end]) for m in members]
        if not any(drop):
            continue
        removed.extend((m.span.key_start, path_text((*path, m.key))) for m, d in zip(members, drop, strict=True) if d)
        if all(drop):  # nothing left: the object becomes {}
            container = found.containers[path]
            cuts.append((container.start + 1, container.end - 1))
            continue
        cuts.extend(_cuts(members, drop))
    out = []
    position = 0
    for start, end in sorted(cuts):
        out.append(text[position:start])
        position = max(position, end)
    out.append(text[position:])
    return Tidied("".join(out), [p for _offset, p in sorted(removed)])


def _cuts(members: list[Member], drop: list[bool]) -> list[tuple[int, int]]:
    """The text to cut for the dropped members of one object that keeps at least one member: a member followed
    by a kept one loses itself up to the next key (its comma and spacing with it); a trailing run loses
    everything from the end of the last kept value (the comma before it included)."""
    last_kept = max(i for i, d in enumerate(drop) if not d)
    cuts = []
    for i, member in enumerate(members):
        if not drop[i]:
            continue
        if i < last_kept:
            cuts.append((member.span.key_start, members[i + 1].span.key_start))
        else:
            cuts.append((members[i - 1].span.end, member.span.end))
    return cuts


def tidy_bytes(body: bytes) -> tuple[bytes, list[str]]:
    """As :func:`tidy_text`, for a file's bytes; a byte order mark is kept."""
    bom = b"\xef\xbb\xbf" if body.startswith(b"\xef\xbb\xbf") else b""
    text = decode(body)
    tidied = tidy_text(text)
    return bom + tidied.text.encode("utf-8"), tidied.removed
