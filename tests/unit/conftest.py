"""Fixtures of the unit tests (tests/unit/core has its own ``host``, on a fake clock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netdrv_core import Host


@pytest.fixture
def host() -> Iterator[Host]:
    """A host on the memory attachment, closed afterwards."""
    h = Host()
    yield h
    h.close()
    h.loop.close()
