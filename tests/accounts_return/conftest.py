"""Fixtures for the Accounts Return tests: a private EPROC_AR_HOME, a sandbox on a real HTTP server (127.0.0.1,
port 0) with a clock the test moves, and a driver for its consent form."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from ar_helpers import ACADEMIES, CODES

from eproc.accounts_return.client import Client, load_config
from eproc.accounts_return.sandbox import DEMO_CLIENT, DEMO_TRUSTS, Sandbox, SandboxConfig, make_sandbox_server
from eproc.accounts_return.validator import CodeList

APPROVER = ("approver@demo-trust.example", "demo-approver-password")
OTHER_APPROVER = ("approver@other-trust.example", "other-approver-password")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class LiveSandbox:
    app: Sandbox
    url: str
    clock: Clock


@pytest.fixture(autouse=True)
def ar_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the user's ~/.eproc/ar, nor picks up their EPROC_AR_* settings."""
    import os

    for name in list(os.environ):
        if name.startswith("EPROC_AR_"):
            monkeypatch.delenv(name)
    home = tmp_path / "ar-home"
    monkeypatch.setenv("EPROC_AR_HOME", str(home))
    return home


def sandbox_config(**changes: object) -> SandboxConfig:
    config = SandboxConfig(DEMO_TRUSTS, (replace(DEMO_CLIENT, redirect_uris=("http://127.0.0.1:0/callback",)),),
                           active_coa_version="2.0.0", code_lists={"2.0.0": CodeList("2.0.0", CODES)},
                           access_token_lifetime=600, refresh_token_lifetime=3600, code_lifetime=600)
    assert DEMO_TRUSTS[0].academies == ACADEMIES
    return replace(config, **changes)  # type: ignore[arg-type]


def start(config: SandboxConfig, clock: Clock) -> Iterator[LiveSandbox]:
    app = Sandbox(config, clock=clock)
    server = make_sandbox_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield LiveSandbox(app, f"http://127.0.0.1:{server.server_port}", clock)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[LiveSandbox]:
    yield from start(sandbox_config(), clock)


def client_environment(sandbox: LiveSandbox, company_number: str = "10000001", **extra: str) -> dict[str, str]:
    return {"EPROC_AR_PROFILE": "sandbox", "EPROC_AR_SANDBOX_URL": sandbox.url,
            "EPROC_AR_CLIENT_ID": DEMO_CLIENT.client_id, "EPROC_AR_CLIENT_SECRET": DEMO_CLIENT.client_secret,
            "EPROC_AR_SUBSCRIPTION_KEY": DEMO_CLIENT.subscription_key,
            "EPROC_AR_REDIRECT_URI": "http://127.0.0.1:0/callback", "EPROC_AR_COMPANY_NUMBER": company_number,
            **extra}


def make_client(sandbox: LiveSandbox, tmp_path: Path, name: str = "tokens", company_number: str = "10000001",
                **kwargs: object) -> Client:
    environ = client_environment(sandbox, company_number, EPROC_AR_TOKEN_FILE=str(tmp_path / f"{name}.json"))
    if kwargs.pop("dev_details", False):
        environ["EPROC_AR_DEV_DETAILS"] = "true"
    kwargs.setdefault("clock", sandbox.clock)
    return Client(load_config(tmp_path / "absent.toml", environ=environ), **kwargs)  # type: ignore[arg-type]


class Approver:
    """Plays the trust's approver in a browser: opens the consent page, signs in, consents (or refuses)."""

    def __init__(self, username: str, password: str, decision: str = "consent") -> None:
        self.username, self.password, self.decision = username, password, decision
        self.pages: list[requests.Response] = []

    def __call__(self, url: str) -> None:
        with requests.Session() as browser:
            page = browser.get(url, timeout=10)
            self.pages.append(page)
            match = re.search(r"name='form_id' value='([^']+)'", page.text)
            if match is None:
                return  # an error page or a redirect the test inspects
            action = url.split("/oauth2/")[0] + "/oauth2/v2.0/authorize"
            answer = browser.post(action, data={"form_id": match.group(1), "username": self.username,
                                                "password": self.password, "decision": self.decision}, timeout=10)
            self.pages.append(answer)


def login(client: Client, who: tuple[str, str] = APPROVER) -> None:
    client.login(Approver(*who), timeout=10)
