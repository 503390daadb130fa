from __future__ import annotations

from collections.abc import Iterator

import pytest
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
