"""`netdrv set DEV bql_…=` (sysfs ``byte_queue_limits``): what is refused, and that a
refused setting changes no queue."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_multiqueue import mq_dev

from netdrv_core import Host, netdev_get_tx_queue
from netdrv_core.bql import bql_set
from netdrv_core.cli import cli
from netdrv_core.control import ProtocolError
from netdrv_core.daemon import Daemon


def test_a_hold_time_beyond_sysfs_range_is_refused_and_changes_no_queue(host: Host) -> None:
    """sysfs takes hold_time as an unsigned int of ms; beyond it, nothing is set (it used to
    set limit_max on queue 0, then fail with an OverflowError on the division)."""
    dev = mq_dev(host)
    before = [netdev_get_tx_queue(dev, i).dql.max_limit for i in range(4)]
    for hold in (1 << 32, 10**400):
        with pytest.raises(ValueError, match=r"hold_time_ms: .* over the highest, 4294967295"):
            bql_set(dev, {"limit_max": 5000, "hold_time_ms": hold})
        assert [netdev_get_tx_queue(dev, i).dql.max_limit for i in range(4)] == before
    assert bql_set(dev, {"hold_time_ms": 0xFFFFFFFF})["hold_time_ms"] == 0xFFFFFFFF


def test_the_daemon_refuses_bql_with_other_settings_rather_than_ignore_it(host: Host) -> None:
    """A request with ifmap or ioctl and bql applied the first and dropped the limits
    silently, answering ok; now it is refused whole, nothing applied."""
    dev = mq_dev(host)
    daemon = Daemon(host=host, watchdog=None, exit_when_empty=False)
    for other in ({"ifmap": {"irq": 5}}, {"ioctl": 0x89F0}):
        with pytest.raises(ProtocolError, match="one at a time"):
            daemon.handle({"cmd": "set", "dev": dev.name, "bql": {"limit_max": 5000}, **other})
    assert netdev_get_tx_queue(dev, 1).dql.max_limit != 5000


@pytest.mark.parametrize("other", ["irq=5", "ioctl=0x89f0"])
def test_the_set_command_refuses_bql_with_other_settings_before_any_daemon(other: str) -> None:
    res = CliRunner().invoke(cli, ["set", "sn0", other, "bql_limit_max=5000"])
    assert res.exit_code == 2, res.output
    assert "bql_* settings go in a netdrv set command of their own" in res.output


def test_the_set_command_refuses_ioctl_with_set_config_settings() -> None:
    """irq=... with ioctl= went to set_config alone, the ioctl dropped silently."""
    res = CliRunner().invoke(cli, ["set", "sn0", "irq=5", "ioctl=0x89f0"])
    assert res.exit_code == 2, res.output
    assert "ioctl= goes in a netdrv set command of its own" in res.output
