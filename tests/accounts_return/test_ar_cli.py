"""The ``ar`` command group, run through click's runner: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest
from ar_helpers import CODES, MAT_MINIMAL, SAT_DATASET, SAT_MINIMAL, body, text
from click.testing import CliRunner
from conftest import APPROVER, Approver, client_environment

from eproc.accounts_return.cli import ar


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    result = CliRunner().invoke(ar, list(args), env=env, input=input, catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


def one_line_error(result) -> str:
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eproc ar: error: "), result.output
    return lines[0]


# ------------------------------------------------------------------------------------------ validate


def test_validate_accepts_with_warnings_and_exits_0():
    result = run("validate", str(SAT_MINIMAL))
    assert result.exit_code == 0
    assert result.output.startswith(f"{SAT_MINIMAL}: accepted (HTTP 200)")
    assert "warning trustData.125100 (line 16, column 19): Value 10161663.87 is outside the range" in result.output
    assert "[data.academies-unchecked]" in result.output and "[data.coa-version-unchecked]" in result.output


def test_validate_refuses_and_exits_1_pointing_at_tidy():
    result = run("validate", str(SAT_DATASET))
    assert result.exit_code == 1
    assert f'{SAT_DATASET}: refused: HTTP 400 {{"type": "schemaValidation"}}' in result.output
    assert "error   academyData.academies.100-1001.110100 (line 10, column 19): Value 0 is not allowed [schema.zero]" \
        in result.output
    assert "why [schema.zero] x160:" in result.output
    assert f"'eproc ar tidy {SAT_DATASET} -o OUT'" in result.output


def test_validate_dev_details_in_the_human_report():
    result = run("validate", "--dev-details", str(SAT_DATASET))
    assert result.exit_code == 1
    first = "Path 'academyData.academies.100-1001.110100', Line: 10, Position 19, Error: Value 0 is not allowed"
    assert f"\n    {first}\n" in result.output
    assert "Enable-Dev-Error-Details" not in run("validate", str(SAT_DATASET)).output


def test_validate_several_files_exit_with_the_worst(tmp_path):
    missing = tmp_path / "missing.json"
    result = run("validate", str(SAT_MINIMAL), str(SAT_DATASET), str(missing))
    assert result.exit_code == 2
    assert f"{missing}: unreadable: No such file or directory" in result.output
    assert run("validate", str(SAT_MINIMAL), str(SAT_DATASET)).exit_code == 1


def test_validate_json_and_dev_details(tmp_path):
    result = run("validate", "--json", "--dev-details", str(SAT_DATASET), str(tmp_path))
    assert result.exit_code == 2
    first, second = json.loads(result.output)
    assert first["accepted"] is False and first["dfe"]["type"] == "schemaValidation"
    assert len(first["dfe"]["details"]) == 160 and first["dfe"]["details"][0].startswith("Path '")
    assert first["problems"][0] == {
        "rule": "schema.zero", "severity": "error", "dfeType": "schemaValidation",
        "path": "academyData.academies.100-1001.110100", "line": 10, "column": 19, "what": "Value 0 is not allowed",
        "why": first["problems"][0]["why"]}
    assert second == {"file": str(tmp_path), "readable": False, "error": "Is a directory"}
    without = json.loads(run("validate", "--json", str(SAT_DATASET)).output)[0]
    assert without["dfe"] == {"type": "schemaValidation"}


def test_validate_options(tmp_path):
    assert run("validate", "--strict-range", str(SAT_MINIMAL)).exit_code == 1
    assert run("validate", "--academies", "100-1001", str(SAT_MINIMAL)).exit_code == 0
    refused = run("validate", "--academies", "100-1001,100-1002", str(MAT_MINIMAL))
    assert refused.exit_code == 1 and '{"type": "unknownAcademy"}' in refused.output
    assert run("validate", "--active-coa-version", "3.0.0", str(SAT_MINIMAL)).exit_code == 1
    bad = run("validate", "--academies", "1001", str(SAT_MINIMAL))
    assert bad.exit_code == 2 and "'1001' is not an academy number nnn-nnnn" in bad.output
    bad = run("validate", "--active-coa-version", "two", str(SAT_MINIMAL))
    assert bad.exit_code == 2 and "is not X.Y.Z" in bad.output


def test_validate_uses_the_stores_active_version_and_codes(tmp_path):
    codes = tmp_path / "codes.csv"
    codes.write_text("code\n" + "\n".join(sorted(CODES - {"125700"})) + "\n")
    assert run("coa", "import", str(codes), "--version", "2.0.0", "--active").exit_code == 0
    result = run("validate", str(SAT_MINIMAL))
    assert result.exit_code == 1 and "invalidCoaCode" in result.output and "trustData.125700" in result.output
    assert "[data.coa-version-unchecked]" not in result.output


# ------------------------------------------------------------------------------------------ coa


def test_coa_import_csv_and_list(tmp_path, ar_home):
    assert run("coa", "list").output.startswith("no chart of accounts imported")
    csv = tmp_path / "coa.csv"
    csv.write_text("Code,Description,Sections\n125100,Cash,trustData;academies\n125700,Bank,\n\n")
    result = run("coa", "import", str(csv), "--version", "2.0.0")
    assert result.exit_code == 0 and result.output == f"chart of accounts 2.0.0: 2 codes from {csv}\n"
    run("coa", "import", str(csv), "--version", "10.0.0", "--active")
    listing = run("coa", "list").output.splitlines()
    assert [line.split()[:3] for line in listing] == [["2.0.0", "2", "codes"], ["*", "10.0.0", "2"]]
    stored = json.loads((ar_home / "coa" / "2.0.0.json").read_text())
    assert stored["sections"] == {"125100": ["academies", "trustData"]}


def test_coa_import_xlsx(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Academy Trust Chart of Accounts 2025/26"])
    sheet.append([])
    sheet.append(["Code", "Description"])
    sheet.append([125100, "Cash at bank"])
    sheet.append(["125700", "Cash in hand"])
    sheet.append(["Total", None])
    other = workbook.create_sheet("Balance sheet")
    other.append(["CoA code"])
    other.append([310100])
    path = tmp_path / "coa.xlsx"
    workbook.save(path)
    result = run("coa", "import", str(path), "--version", "3.0.0", "--active")
    assert result.exit_code == 0 and "3 codes" in result.output and "(active)" in result.output


@pytest.mark.parametrize(("content", "version", "message"), [
    ("code\n12510\n", "2.0.0", r"line 2: '12510' is not a six-digit CoA code"),
    ("code,sections\n125100,bank\n", "2.0.0", r"line 2: unknown section 'bank'"),
    ("code\n", "2.0.0", r"no six-digit CoA codes found"),
    ("code\n125100\n", "2.0", r"version '2.0' is not three dot-separated numbers"),
])
def test_coa_import_errors_are_one_line(tmp_path, content, version, message):
    path = tmp_path / "coa.csv"
    path.write_text(content)
    result = run("coa", "import", str(path), "--version", version)
    assert result.exit_code == 2 and re.search(message, one_line_error(result))


def test_coa_import_of_an_unreadable_file(tmp_path):
    result = run("coa", "import", str(tmp_path / "nope.csv"), "--version", "2.0.0")
    assert result.exit_code == 2 and "No such file" in one_line_error(result)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    assert "cannot read the spreadsheet" in one_line_error(run("coa", "import", str(broken), "--version", "2.0.0"))


# ------------------------------------------------------------------------------------------ tidy


def test_tidy_writes_an_accepted_copy(tmp_path):
    out = tmp_path / "tidy.json"
    result = run("tidy", str(SAT_DATASET), "-o", str(out))
    assert result.exit_code == 0 and result.output.startswith(f"{out}: 160 zero or null items removed")
    assert run("validate", str(out)).exit_code == 0


def test_tidy_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert "not JSON" in one_line_error(run("tidy", str(bad), "-o", str(tmp_path / "x.json")))
    same = run("tidy", str(SAT_MINIMAL), "-o", str(SAT_MINIMAL))
    assert same.exit_code == 2 and "overwrite the input" in one_line_error(same)
    assert run("tidy", str(tmp_path / "absent.json"), "-o", str(tmp_path / "x.json")).exit_code == 2


# ------------------------------------------------------------------------------------------ client commands


def test_login_submit_get_delete_through_the_cli(sandbox, tmp_path, monkeypatch):
    env = client_environment(sandbox)
    monkeypatch.setattr("webbrowser.open", Approver(*APPROVER))  # the "browser" the command opens
    result = run("login", env=env)
    assert result.exit_code == 0, result.output
    assert "logged in; tokens saved in" in result.output
    token_file = tmp_path / "ar-home" / "tokens" / "sandbox.json"
    secrets = json.loads(token_file.read_text())
    assert secrets["access_token"] not in result.output and secrets["refresh_token"] not in result.output
    assert "demo-client-secret" not in result.output and "client_secret <set>" in result.output

    submitted = run("submit", str(SAT_MINIMAL), env=env)
    assert submitted.exit_code == 0
    guid = re.search(r"submissionGuid ([0-9a-f-]{36})", submitted.output).group(1)
    got = run("get", env=env)
    assert json.loads(got.output)["submissionId"] == guid
    assert '"125100": 10161663.87' in got.output  # the service's text, numbers as written
    saved = tmp_path / "got.json"
    assert run("get", "-o", str(saved), env=env).exit_code == 0
    assert json.loads(saved.read_text())["submissionId"] == guid
    assert run("delete", guid, env=env).output == f"deleted {guid}\n"
    assert run("get", env=env).output == "no submission for this trust in the current period\n"

    refused = run("submit", str(SAT_DATASET), env=env)
    assert refused.exit_code == 1
    assert one_line_error(refused).startswith("eproc ar: error: refused: schemaValidation: the body breaks")
    gone = run("delete", guid, env=env)
    assert gone.exit_code == 1 and "not found" in one_line_error(gone)


def test_client_commands_without_login_or_configuration(sandbox, tmp_path):
    env = client_environment(sandbox)
    not_logged_in = run("get", env=env)
    assert not_logged_in.exit_code == 1
    assert one_line_error(not_logged_in) == "eproc ar: error: not logged in: run 'eproc ar login'"
    unconfigured = run("get", env={"EPROC_AR_PROFILE": "sandbox"})
    assert unconfigured.exit_code == 2 and "client_id is not configured" in one_line_error(unconfigured)
    both = run("login", env={**env, "EPROC_AR_UPIN": "100001"})
    assert "exactly one of upin" in one_line_error(both)
    config = tmp_path / "ar.toml"
    config.write_text('profile = "sandbox"\n[profiles.sandbox]\nclient_secret = 1\nclinet_id = "x"\n')
    typo = run("get", "--config", str(config))
    assert "unknown key 'clinet_id'" in one_line_error(typo)
    config.write_text("profile = [")
    assert "not TOML" in one_line_error(run("get", "--config", str(config)))
    assert "unknown profile 'prod'" in one_line_error(run("get", "--profile", "prod", env=env))
    missing = run("submit", str(tmp_path / "absent.json"), env=env)
    assert missing.exit_code == 2 and "No such file" in one_line_error(missing)


def test_config_file_profile_and_environment_override(sandbox, tmp_path, monkeypatch):
    config = tmp_path / "ar.toml"
    env = client_environment(sandbox)
    config.write_text(
        'profile = "sandbox"\n[profiles.sandbox]\n'
        + "".join(f'{key} = "{env[var]}"\n' for key, var in [
            ("client_id", "EPROC_AR_CLIENT_ID"), ("client_secret", "EPROC_AR_CLIENT_SECRET"),
            ("subscription_key", "EPROC_AR_SUBSCRIPTION_KEY"), ("redirect_uri", "EPROC_AR_REDIRECT_URI"),
            ("company_number", "EPROC_AR_COMPANY_NUMBER"), ("url", "EPROC_AR_SANDBOX_URL")]))
    monkeypatch.setattr("webbrowser.open", Approver(*APPROVER))
    assert run("login", "--config", str(config)).exit_code == 0
    assert run("get", "--config", str(config)).exit_code == 0
    wrong_key = run("get", "--config", str(config), env={"EPROC_AR_SUBSCRIPTION_KEY": "wrong"})
    assert wrong_key.exit_code == 1 and "invalid subscription key" in one_line_error(wrong_key)


def test_paste_mode_for_an_https_redirect_uri(sandbox, tmp_path, monkeypatch):
    """A registered https redirect URI cannot be received locally: the user pastes where the browser went."""
    from dataclasses import replace

    from eproc.accounts_return.sandbox import DEMO_CLIENT

    sandbox.app.config = replace(sandbox.app.config, clients=(
        replace(DEMO_CLIENT, redirect_uris=("https://fms.example/ar/callback",)),))
    landed: list[str] = []

    def browser(url: str) -> None:
        approver = Approver(*APPROVER)
        import requests

        real = requests.Session.request

        def no_follow(self, method, url, **kwargs):
            kwargs["allow_redirects"] = False
            return real(self, method, url, **kwargs)

        monkeypatch.setattr(requests.Session, "request", no_follow)
        approver(url)
        monkeypatch.setattr(requests.Session, "request", real)
        landed.append(approver.pages[-1].headers["Location"])

    monkeypatch.setattr("webbrowser.open", browser)
    monkeypatch.setattr("click.prompt", lambda *args, **kwargs: landed[0])  # the user pastes the address
    env = {**client_environment(sandbox), "EPROC_AR_REDIRECT_URI": "https://fms.example/ar/callback"}
    result = run("login", env=env)
    assert result.exit_code == 0, result.output
    assert landed[0].startswith("https://fms.example/ar/callback?code=")
    assert run("get", env=env).exit_code == 0


# ------------------------------------------------------------------------------------------ sandbox command


def test_sandbox_command_prints_the_demo_set_up_and_serves(tmp_path):
    env = {**os.environ, "EPROC_AR_HOME": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from eproc.accounts_return.cli import ar; ar()", "sandbox", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline()
        match = re.match(r"AR sandbox on (http://127\.0\.0\.1:\d+) \(demo set-up: no --config given\)", first)
        assert match, first + process.stderr.read() if process.poll() is not None else first
        printed = [process.stdout.readline() for _ in range(3)]
        assert "EPROC_AR_CLIENT_ID=demo-fms" in printed[0] and "EPROC_AR_SUBSCRIPTION_KEY=" in printed[1]
        import requests

        deadline = time.time() + 5
        while True:
            try:
                response = requests.get(f"{match.group(1)}/api/submissions", timeout=2)
                break
            except requests.ConnectionError:
                assert time.time() < deadline
        assert response.status_code == 401 and "missing subscription key" in response.json()["message"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def test_sandbox_command_with_a_bad_config(tmp_path):
    config = tmp_path / "sandbox.toml"
    config.write_text('[[clients]]\nclient_id = "a"\nclient_secret = "b"\nsubscription_key = "c"\n'
                      'redirect_uris = ["http://127.0.0.1:8765/cb"]\n[[trusts]]\nupin = "12"\n')
    result = run("sandbox", "--config", str(config))
    assert result.exit_code == 2 and "upin '12' is not 6 digits" in one_line_error(result)
    assert "No such file" in one_line_error(run("sandbox", "--config", str(tmp_path / "none.toml")))


def test_sandbox_config_file(tmp_path, clock):
    from conftest import start

    from eproc.accounts_return.client import Client, load_config
    from eproc.accounts_return.sandbox import load_sandbox_config

    (tmp_path / "codes.csv").write_text("code\n" + "\n".join(sorted(CODES)) + "\n")
    config = tmp_path / "sandbox.toml"
    config.write_text(
        '[sandbox]\naccess_token_lifetime = 30\nperiod = "2026/27"\nactive_coa_version = "2.0.0"\n'
        'strict_range = true\n'
        '[[clients]]\nclient_id = "fms"\nclient_secret = "s3"\nsubscription_key = "k3"\n'
        'redirect_uris = ["http://127.0.0.1:1/cb"]\n'
        '[[trusts]]\nname = "Test Trust"\ncompany_number = "12345678"\nacademies = ["925-2016"]\nstatus = "open"\n'
        'approvers = [{username = "ap", password = "pw"}]\n'
        '[[coa]]\nversion = "2.0.0"\ncodes_file = "codes.csv"\n')
    loaded = load_sandbox_config(config)
    assert loaded.period == "2026/27" and loaded.strict_range and len(loaded.code_lists["2.0.0"].codes) == len(CODES)
    for live in start(loaded, clock):
        env = {"EPROC_AR_PROFILE": "sandbox", "EPROC_AR_SANDBOX_URL": live.url, "EPROC_AR_CLIENT_ID": "fms",
               "EPROC_AR_CLIENT_SECRET": "s3", "EPROC_AR_SUBSCRIPTION_KEY": "k3", "EPROC_AR_DEV_DETAILS": "1",
               "EPROC_AR_REDIRECT_URI": "http://127.0.0.1:0/cb", "EPROC_AR_COMPANY_NUMBER": "12345678"}
        client = Client(load_config(tmp_path / "none.toml", environ=env), clock=clock)
        client.login(Approver("ap", "pw"), timeout=10)
        from eproc.accounts_return.client import DfeError

        with pytest.raises(DfeError) as strict:  # strict range, as configured
            client.put_submission(text(body(academyData={"academies": {"925-2016": {"125100": 5}}})).encode())
        assert strict.value.type == "schemaValidation" and "outside the range" in strict.value.details[0]
        small = body(academyData={"academies": {"925-2016": {"125100": 5}}}, trustData={"125100": 1, "125700": -1})
        assert client.put_submission(text(small).encode())["trustData"] == {"125100": 1, "125700": -1}
