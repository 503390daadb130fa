"""Chart-of-accounts versions: imported from the DfE's published spreadsheet (xlsx) or a CSV, kept in a small
file store, listed, and handed to the validator as code lists.

Store layout (under ``EPROC_AR_HOME``, default ``~/.eproc/ar``)::

    coa/<version>.json   {"version", "codes": [...], "sections": {code: [...]}, "source", "imported_at"}
    coa/ACTIVE           the active version, one line

A file per version keeps the store readable and diffable, and an import atomic (written aside, then renamed).
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .validator import COA_SECTIONS, CodeList, coa_version_ok

CODE = re.compile(r"[0-9]{6}")
MAX_FILE_BYTES = 50 * 1024 * 1024
_SEPARATORS = re.compile(r"[;,\s]+")


class CoaError(Exception):
    """A problem with a chart-of-accounts file or the store, in one line."""


def ar_home() -> Path:
    """Where the AR toolkit keeps its data: ``EPROC_AR_HOME``, default ``~/.eproc/ar``."""
    return Path(os.environ.get("EPROC_AR_HOME") or "~/.eproc/ar").expanduser()


@dataclass(frozen=True)
class CoaVersion:
    version: str
    codes: int
    active: bool
    source: str
    imported_at: str


def _cell_code(value: Any) -> str | None:
    """A 6-digit code from a cell: text, or a number the spreadsheet stored as one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        number = int(value)
        return f"{number:06d}" if 0 <= number <= 999999 else None
    text = str(value).strip()
    return text if CODE.fullmatch(text) else None


def _sections(value: Any, where: str) -> frozenset[str]:
    names = frozenset(n for n in _SEPARATORS.split(str(value or "").strip()) if n)
    unknown = names - set(COA_SECTIONS)
    if unknown:
        raise CoaError(f"{where}: unknown section {sorted(unknown)[0]!r} (use {', '.join(COA_SECTIONS)})")
    return names


def _header(row: Iterable[Any]) -> tuple[int, int | None] | None:
    """The code column (and sections column) of a header row: a cell naming 'code', one naming 'section'."""
    cells = [str(c).strip().lower() if c is not None else "" for c in row]
    code = next((i for i, c in enumerate(cells) if "code" in c), None)
    if code is None:
        return None
    sections = next((i for i, c in enumerate(cells) if "section" in c), None)
    return code, sections


def read_csv(path: Path) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Codes from a CSV: a header naming a ``code`` column (and optionally a ``sections`` column: trustData,
    counterpartyData, matOverview, academies separated by ``;``), or no header and the codes in the first
    column. Every non-blank code cell must be six digits: a CSV is made for import, so nothing is skipped."""
    codes: set[str] = set()
    sections: dict[str, frozenset[str]] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CoaError(f"{path}: cannot read the CSV ({exc})") from None
    header = _header(rows[0]) if rows else None
    code_column, section_column = header if header else (0, None)
    for number, row in enumerate(rows[1:] if header else rows, start=2 if header else 1):
        if not any(cell.strip() for cell in row):
            continue
        cell = row[code_column].strip() if code_column < len(row) else ""
        if not CODE.fullmatch(cell):
            raise CoaError(f"{path}, line {number}: {cell!r} is not a six-digit CoA code")
        codes.add(cell)
        if section_column is not None and section_column < len(row) and row[section_column].strip():
            sections[cell] = _sections(row[section_column], f"{path}, line {number}")
    return frozenset(codes), sections


def _read_sheet(sheet: Any, path: Path, codes: set[str], sections: dict[str, frozenset[str]]) -> None:
    rows: Iterator[tuple[Any, ...]] = sheet.iter_rows(values_only=True)
    head: list[tuple[Any, ...]] = []
    header = None
    for row in rows:
        head.append(row)
        header = _header(row)
        if header or len(head) >= 20:
            break
    code_column, section_column = header if header else (0, None)
    body_rows: Iterable[tuple[Any, ...]] = rows if header else [*head, *rows]
    for number, row in enumerate(body_rows, start=1):
        code = _cell_code(row[code_column]) if code_column < len(row) else None
        if code is None:
            continue
        codes.add(code)
        if section_column is not None and section_column < len(row) and row[section_column]:
            sections[code] = _sections(row[section_column], f"{path}, sheet {sheet.title}, row {number}")


def read_xlsx(path: Path) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Codes from the DfE's spreadsheet: in each sheet, the column under the first header cell naming 'code'
    (within the first 20 rows), or the first column; cells that are not codes (titles, totals) are passed over."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook  # imported here: only this command needs it
    from openpyxl.utils.exceptions import InvalidFileException

    codes: set[str] = set()
    sections: dict[str, frozenset[str]] = {}
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                _read_sheet(sheet, path, codes, sections)
        finally:
            workbook.close()
    except (OSError, InvalidFileException, BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise CoaError(f"{path}: cannot read the spreadsheet ({exc})") from None
    return frozenset(codes), sections


def read_codes(path: Path) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CoaError(f"{path}: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES:
        raise CoaError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} a chart of accounts needs")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        codes, sections = read_xlsx(path)
    elif suffix in (".csv", ".txt"):
        codes, sections = read_csv(path)
    else:
        raise CoaError(f"{path}: give the DfE's spreadsheet (.xlsx) or a CSV (.csv)")
    if not codes:
        raise CoaError(f"{path}: no six-digit CoA codes found")
    return codes, sections


class CoaStore:
    def __init__(self, root: Path | None = None) -> None:
        self.root = (root or ar_home()) / "coa"

    def _file(self, version: str) -> Path:
        return self.root / f"{version}.json"

    def import_file(self, path: Path, version: str, *, active: bool = False) -> CoaVersion:
        if not coa_version_ok(version):
            raise CoaError(f"version {version!r} is not three dot-separated numbers (such as 2.0.0)")
        codes, sections = read_codes(path)
        record = {"version": version, "codes": sorted(codes),
                  "sections": {code: sorted(names) for code, names in sorted(sections.items())},
                  "source": path.name, "imported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        self._write(self._file(version), json.dumps(record, indent=1) + "\n")
        if active:
            self.set_active(version)
        return next(v for v in self.list() if v.version == version)

    def _write(self, target: Path, text: str) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".import-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, target)
        except OSError as exc:
            raise CoaError(f"cannot write {target}: {exc.strerror or exc}") from None

    def set_active(self, version: str) -> None:
        if not self._file(version).exists():
            raise CoaError(f"chart of accounts {version} is not imported (see 'eproc ar coa list')")
        self._write(self.root / "ACTIVE", version + "\n")

    def active(self) -> str | None:
        try:
            version = (self.root / "ACTIVE").read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CoaError(f"cannot read {self.root / 'ACTIVE'}: {exc.strerror or exc}") from None
        return version or None

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CoaError(f"cannot read {path}: {exc}") from None
        return record

    def list(self) -> list[CoaVersion]:
        active = self.active()
        versions = []
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            record = self._read(path)
            versions.append(CoaVersion(record["version"], len(record["codes"]), record["version"] == active,
                                       record.get("source", ""), record.get("imported_at", "")))
        return sorted(versions, key=lambda v: tuple(int(p) for p in v.version.split(".")))

    def code_list(self, version: str) -> CodeList | None:
        path = self._file(version)
        if not path.exists():
            return None
        record = self._read(path)
        return CodeList(record["version"], frozenset(record["codes"]),
                        {code: frozenset(names) for code, names in record.get("sections", {}).items()})

    def code_lists(self) -> dict[str, CodeList]:
        lists = {}
        for version in self.list():
            code_list = self.code_list(version.version)
            if code_list is not None:
                lists[version.version] = code_list
        return lists
