"""Helpers for the portal API tests: a token, and a small client speaking to a base URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from eproc.services import tokens
from eproc.services.hub import Hub

ALL_PERMISSIONS = list(tokens.PERMISSIONS)


def new_token(hub: Hub, name: str, permissions: list[str] | None = None, accounts: list[str] | None = None,
              expires_days: int | None = None) -> str:
    _view, raw = tokens.create_token(hub, name, permissions or ALL_PERMISSIONS, accounts, expires_days)
    return raw


@dataclass
class Portal:
    """A supplier portal calling the API over real HTTP."""

    base_url: str
    token: str

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.base_url}/api/v1{path}", params=params, headers=self._headers(), timeout=30)

    def get_url(self, url: str) -> requests.Response:
        return requests.get(url, headers=self._headers(), timeout=30)

    def post(self, path: str, data: bytes | None = None, json: Any = None, headers: dict[str, str] | None = None,
             **params: Any) -> requests.Response:
        return requests.post(f"{self.base_url}/api/v1{path}", data=data, json=json, params=params,
                             headers=self._headers(headers), timeout=30)

    def queue(self, document: bytes, **params: Any) -> requests.Response:
        return self.post("/documents", data=document, headers={"Content-Type": "application/xml"}, **params)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(f"{self.base_url}/api/v1{path}", headers=self._headers(), timeout=30)
