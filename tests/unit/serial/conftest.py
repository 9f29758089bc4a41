"""Fixtures of the serial unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netdrv_core import Host


@pytest.fixture
def host() -> Iterator[Host]:
    """A memory host, closed afterwards."""
    h = Host()
    yield h
    h.close()
    h.loop.close()
