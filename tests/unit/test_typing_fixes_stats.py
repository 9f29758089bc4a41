"""The counter classes declare each slot for the type checker: the two lists must agree."""

from __future__ import annotations

from netdrv_core.netdevice import _STAT_FIELDS, CoreStats, NetDeviceStats


def test_net_device_stats_declares_every_counter() -> None:
    assert set(NetDeviceStats.__annotations__) == set(_STAT_FIELDS)
    assert NetDeviceStats().as_dict() == dict.fromkeys(_STAT_FIELDS, 0)


def test_core_stats_declares_every_counter() -> None:
    assert set(CoreStats.__annotations__) == set(CoreStats.__slots__)
    assert CoreStats().as_dict() == dict.fromkeys(CoreStats.__slots__, 0)
