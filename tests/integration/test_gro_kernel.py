"""GRO against the kernel: snull's NAPI receive hands the kernel super-frames.

snull with NAPI and no offloads (``use_napi=1 offload=0``): the kernel hands
sn0 MTU-sized TCP segments, and sn1's poll merges them (``napi_gro_receive``)
into super-frames written to its TAP with a virtio-net header saying how they
were segmented.  The kernel must take them — the transfer arrives intact — and
count far fewer packets received on sn1 than snull handed up; with
``netdrv ethtool -K sn1 gro off`` the two counts agree again.
"""

from __future__ import annotations

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import device, tcp_transfer

pytestmark = pytest.mark.netns


def _kernel_rx(ns: NetNamespace, dev: str) -> int:
    return int(ns.run(["cat", f"/sys/class/net/{dev}/statistics/rx_packets"]).stdout)


def _transfer(ns: NetNamespace) -> tuple[int, int]:
    """(frames snull handed up on sn1, packets the kernel received on sn1) for 8 MiB."""
    before = (device(ns, "sn1")["stats"]["rx_packets"], _kernel_rx(ns, "sn1"))
    chash, shash, _ = tcp_transfer(ns, ns, "198.18.1.2", "198.18.0.2", 8 << 20)
    assert chash == shash
    after = (device(ns, "sn1")["stats"]["rx_packets"], _kernel_rx(ns, "sn1"))
    return after[0] - before[0], after[1] - before[1]


def test_snull_hands_the_kernel_super_frames(netns: NetNamespace) -> None:
    netns.netdrv("load snull use_napi=1 offload=0")
    assert "generic-receive-offload: on\n" in netns.netdrv("ethtool -k sn1").stdout
    frames, packets = _transfer(netns)
    assert frames > 8 * (1 << 20) // 1500  # MTU-sized segments came in
    assert packets < frames / 4, (frames, packets)  # and went up merged
    assert netns.netdrv("ethtool -K sn1 gro off").stdout == ""
    frames, packets = _transfer(netns)
    assert packets == frames, (frames, packets)
