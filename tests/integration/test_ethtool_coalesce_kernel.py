"""``netdrv ethtool -c`` against the real ethtool 6.1's on a kernel device: a TAP, whose tun
driver reports one coalesce parameter (``supported_coalesce_params`` is
ETHTOOL_COALESCE_RX_MAX_FRAMES, ``rx-frames`` its rx_batched, 0).  A netdrv driver that
reports the same must print the same bytes."""

from __future__ import annotations

import shutil

import pytest

import netdrv_core.cli as cli_mod
from netdrv_core import Host, NetDevice, NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.ethtool import Coalesce, EthtoolOps, ethtool_request
from netdrv_core.testing import NetNamespace

pytestmark = pytest.mark.netns


class TunLike(EthtoolOps):
    """tun's get_coalesce: ``rx_max_coalesced_frames`` (its rx_batched), nothing else."""

    supported_coalesce_params = frozenset({"rx_max_coalesced_frames"})

    def get_coalesce(self, dev: NetDevice) -> Coalesce:
        return Coalesce(rx_max_coalesced_frames=0)


@pytest.mark.skipif(shutil.which("ethtool") is None, reason="needs ethtool(8)")
def test_coalesce_is_the_real_ethtool_s_for_what_tun_reports(netns: NetNamespace) -> None:
    netns.run("ip tuntap add dev tp0 mode tap")
    real = netns.run("ethtool -c tp0")
    assert real.stdout.startswith("Coalesce parameters for tp0:\n")  # ethtool 6.1 and netlink

    host = Host()
    dev = alloc_netdev(None, "tp0", ether_setup)
    dev.netdev_ops = NetDeviceOps()
    dev.ethtool_ops = TunLike()
    host.register_netdev(dev)
    try:
        result, _ = ethtool_request(host, dev, "coalesce")
        # click.echo adds the newline the CLI's text ends without
        assert cli_mod._ethtool_text("tp0", "coalesce", result) + "\n" == real.stdout
    finally:
        host.unregister_netdev(dev)
        host.close()
        host.loop.close()
