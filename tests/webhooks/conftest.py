from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The portal API's test client (tests/api/api_support.py), shared rather than copied.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from hook_support import FAST, Receiver
from support import make_settings

from eproc.services.hub import Hub, build_hub


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def hook_hub(database_url: str) -> Hub:
    """A hub whose webhook settings suit a test: retries at once, loopback targets allowed."""
    return build_hub(make_settings(database_url, **FAST))
