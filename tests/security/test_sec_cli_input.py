"""Hostile files given to ``eproc enqueue``: each is refused with one line that names the file and
the problem, nothing is queued, no file or URL is read, memory stays bounded.

Memory is a property of a process, so the files are given to the command in a process of its own
(one for the whole battery: its peak bounds every case's); the rest runs in process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sec_support import new_school, recording_listener, stored_counts
from support import CliResult, make_settings, quote_xml, run_cli, server_environment

from eproc.services.hub import build_hub

# The interpreter with eproc imported peaks at about 60-70 MiB; billion laughs or the quadratic
# blow-up expanded would need gigabytes, and the 50 MiB file read whole at least 50 MiB more.
CHILD_PEAK_RSS_BOUND_KIB = 160 * 1024
LAUGHS = (
    '<!DOCTYPE Order [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
ROUTED_TOO = {"external-file-entity.xml", "billion-laughs.xml", "deep.xml"}
DTD_REFUSED = "DTDs and entity declarations are not allowed (<!DOCTYPE ...>): eBIS-XML documents never need one"


# Runs each ``eproc`` command line it is given (JSON on stdin) in this one process, then reports
# the results and the process's peak resident memory (the kernel's high-water mark, in KiB).
RUNNER = """
import json, sys, traceback
from click.testing import CliRunner
from eproc.cli import main
results = []
for args in json.load(sys.stdin):
    run = CliRunner().invoke(main, args, prog_name="eproc")
    stderr = run.stderr
    if run.exception is not None and not isinstance(run.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*run.exc_info))
    results.append([run.exit_code, run.stdout, stderr])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec, so a
# child of a large pytest process would report the parent's size.
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"results": results, "peak_kib": peak}))
"""


def run_eproc_in_a_process(database_url: str, *runs: list[str], **env: str) -> tuple[list[CliResult], int]:
    """Each command line's result, all run by one fresh process, and that process's peak RSS in KiB."""
    done = subprocess.run(
        [sys.executable, "-c", RUNNER],
        input=json.dumps(list(runs)),
        env={**os.environ, **server_environment(database_url), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return [CliResult(*result) for result in report["results"]], report["peak_kib"]


def cases(listener_url: str, secret_file: Path) -> dict[str, tuple[bytes, str]]:
    order = '<Order xmlns="urn:schemas-basda-org:2000:purchaseOrder:xdr:3.01"><OrderHead/>{}</Order>'
    return {
        "external-file-entity.xml": (
            f'<!DOCTYPE Order [<!ENTITY x SYSTEM "file://{secret_file}">]>{order.format("&x;")}'.encode(),
            DTD_REFUSED,
        ),
        "external-http-entity.xml": (
            f'<!DOCTYPE Order [<!ENTITY x SYSTEM "{listener_url}/entity">]>{order.format("&x;")}'.encode(),
            DTD_REFUSED,
        ),
        "parameter-entity.xml": (
            f'<!DOCTYPE Order [<!ENTITY % p SYSTEM "{listener_url}/parameter"> %p;]>{order.format("")}'.encode(),
            DTD_REFUSED,
        ),
        "external-dtd.xml": (
            f'<!DOCTYPE Order SYSTEM "{listener_url}/order.dtd">{order.format("")}'.encode(),
            DTD_REFUSED,
        ),
        "billion-laughs.xml": ((LAUGHS + order.format("&lol9;")).encode(), DTD_REFUSED),
        "quadratic.xml": (
            (f'<!DOCTYPE Order [<!ENTITY big "{"x" * 100_000}">]>' + order.format("&big;" * 20_000)).encode(),
            DTD_REFUSED,
        ),
        "utf16-dtd.xml": (
            ('<?xml version="1.0" encoding="utf-16"?><!DOCTYPE Order>' + order.format("")).encode("utf-16"),
            DTD_REFUSED,
        ),
        "deep.xml": (
            order.format("<a>" * 10_000 + "</a>" * 10_000).encode(),
            "not well-formed XML: nesting deeper than",
        ),
        "invalid-utf8.xml": (
            order.format("\xff").encode("latin-1"),
            "not well-formed XML: Invalid bytes in character encoding",
        ),
        "nul.xml": (order.format("a\x00b").encode(), "not well-formed XML: Invalid character: Char 0x0"),
        "empty.xml": (b"", "the document is empty"),
        "sql.xml": (b"'; DROP TABLE document; --", "not well-formed XML: Start tag expected"),
    }


@pytest.fixture
def school(database_url: str) -> str:
    username, _ = new_school(build_hub(make_settings(database_url)))
    return username


def test_hostile_files_are_refused_one_line_each(database_url: str, school: str, tmp_path: Path) -> None:
    hub = build_hub(make_settings(database_url))
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("FILE-CONTENT-MARKER-31337")
    before = stored_counts(hub)
    problems: list[str] = []
    with recording_listener() as listener:
        runs: list[tuple[str, Path, list[str], str]] = []
        for name, (data, expected) in cases(listener.url, secret_file).items():
            path = tmp_path / name
            path.write_bytes(data)
            # Routed by DUNS or named: parsing comes first either way, so a few cases cover routing.
            routes = [["--account", school, "--type", "quote"]] + ([[]] if name in ROUTED_TOO else [])
            runs += [(name, path, routing, expected) for routing in routes]
        results, peak = run_eproc_in_a_process(database_url, *(["enqueue", str(p), *r] for _, p, r, _ in runs))
        for (name, path, routing, expected), result in zip(runs, results, strict=True):
            lines = result.stderr.splitlines()
            prefix = f"eproc: error: {path}: refused: "
            if result.returncode != 1 or result.stdout or len(lines) != 1 or not lines[0].startswith(prefix):
                problems.append(
                    f"{name} {routing}: exit {result.returncode}, stdout {result.stdout!r}, "
                    f"stderr {result.stderr!r}"
                )
            elif expected not in lines[0]:
                problems.append(f"{name} {routing}: {lines[0]!r} does not say {expected!r}")
            if "FILE-CONTENT-MARKER" in result.stderr + result.stdout:
                problems.append(f"{name}: the secret file was read")
        if peak > CHILD_PEAK_RSS_BOUND_KIB:
            problems.append(f"peak RSS {peak} KiB over the {len(runs)} files")
        assert listener.requests == []
    assert problems == [], "\n".join(problems)
    assert stored_counts(hub) == before


def test_a_file_over_the_limit_is_refused_before_it_is_read(database_url: str, school: str, tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    with path.open("wb") as handle:  # 50 MiB, sparse: refusing it must not need reading it
        handle.write(b"<Order>")
        handle.seek(50 * 1024 * 1024)
        handle.write(b"</Order>")
    command = ["enqueue", str(path), "--account", school, "--type", "quote"]
    [result], peak = run_eproc_in_a_process(database_url, command)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"eproc: error: {path}: the document is {50 * 1024 * 1024 + 8} bytes, over the limit of 16777216 bytes"
    )
    assert peak < CHILD_PEAK_RSS_BOUND_KIB
    small = run_cli(database_url, "enqueue", str(path), EPROC_MAX_REQUEST_BYTES="4096")
    assert "bytes, over the limit of 4096 bytes" in small.stderr


def test_sql_metacharacters_in_arguments_are_just_text(database_url: str, school: str, tmp_path: Path) -> None:
    path = tmp_path / "quote.xml"
    path.write_bytes(quote_xml("<Line>fine</Line>"))
    hub = build_hub(make_settings(database_url))
    before = stored_counts(hub)
    name = "x' OR '1'='1"
    result = run_cli(database_url, "enqueue", str(path), "--account", name, "--type", "quote")
    assert result.returncode == 1
    assert result.stderr.strip() == f"eproc: error: {path}: refused: no account named {name!r}"
    shown = run_cli(database_url, "account", "show", name)
    assert shown.stderr.strip() == f"eproc: error: no account named {name!r}"
    assert stored_counts(hub) == before
