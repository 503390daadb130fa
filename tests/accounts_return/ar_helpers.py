"""Shared by the Accounts Return tests: the published example bodies and a small chart of accounts built from
their codes (decision 3 of the spec: eproc ships no code list it cannot verify)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eproc.accounts_return.validator import CodeList, Options, coa_sections

EXAMPLES = Path(__file__).parent / "examples"
SAT_MINIMAL = EXAMPLES / "PUT_Submission_SAT_minimal.json"
MAT_MINIMAL = EXAMPLES / "PUT_Submission_MAT_minimal.json"
SAT_DATASET = EXAMPLES / "Test_Dataset_SAT.json"
MAT_DATASET = EXAMPLES / "Test_Dataset_MAT.json"


def example_codes() -> frozenset[str]:
    codes: set[str] = set()
    for path in EXAMPLES.glob("*.json"):
        document = json.loads(path.read_text())
        for _path, _prefix, items in coa_sections(document):
            codes.update(items)
    return frozenset(codes)


CODES = example_codes()
ACADEMIES = frozenset({"100-1001", "100-1002", "100-1003", "100-1004"})
FULL = Options(active_coa_version="2.0.0", code_lists={"2.0.0": CodeList("2.0.0", CODES)}, academies=ACADEMIES)


def body(**changes: Any) -> dict[str, Any]:
    """The SAT minimal example with top-level members replaced (None removes one)."""
    document: dict[str, Any] = json.loads(SAT_MINIMAL.read_text())
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def text(document: Any) -> str:
    return json.dumps(document, indent=4)
