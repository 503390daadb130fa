"""The layering the code promises (issue 7), checked on the source so that it stays true:
the use cases know no SQL, nothing below the entry points reads the environment, and the
document standard knows neither SOAP nor the store."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "eproc"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(("." * node.level) + node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_the_use_cases_import_nothing_from_sqlalchemy() -> None:
    offenders = {p.name: sorted(i for i in _imports(p) if i.startswith("sqlalchemy")) for p in _modules("services")}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_only_the_entry_points_read_the_settings_from_the_environment() -> None:
    allowed = {PACKAGE / "config.py", PACKAGE / "web.py"} | set(_modules("cli"))
    readers = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p not in allowed and "get_settings(" in p.read_text(encoding="utf-8")
    ]
    assert readers == []


def test_the_document_standard_knows_neither_soap_nor_the_store() -> None:
    forbidden = ("eproc.soap", "eproc.store", "eproc.services", "eproc.cli", "eproc.web", "spyne", "sqlalchemy")
    offenders = {
        p.name: sorted(i for i in _imports(p) if i.startswith(forbidden)) for p in _modules("ebis")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_nothing_but_web_imports_the_soap_layer_or_the_api() -> None:
    importers = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        for layer in ("soap", "api")
        if layer not in p.parts and p.name != "web.py" and any(i.startswith(f"eproc.{layer}") for i in _imports(p))
    ]
    assert importers == []


def test_the_api_calls_the_use_cases_never_the_store_or_the_document_standard() -> None:
    offenders = {
        p.name: sorted(i for i in _imports(p) if i.startswith(("eproc.store", "eproc.ebis", "sqlalchemy")))
        for p in _modules("api")
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_accounts_return_toolkit_stands_alone() -> None:
    offenders = {
        p.name: sorted(i for i in _imports(p) if i.startswith("eproc") and not i.startswith("eproc.accounts_return"))
        for p in _modules("accounts_return")
    }
    assert {name: found for name, found in offenders.items() if found} == {}
