"""Setup helpers: each sets the fields the kernel's own helper sets, with the kernel's values.

Reference values are those of the Linux helpers (net/ethernet/eth.c ether_setup,
net/appletalk/dev.c ltalk_setup, net/802/fddi.c, hippi.c, tr.c, fc.c, and
drivers/net/slip/slip.c sl_setup) and their uapi headers (if_ltalk.h: LTALK_HLEN 1,
LTALK_MTU 600; if_fddi.h: FDDI_K_SNAP_HLEN 21, FDDI_K_SNAP_DLEN 4470;
if_hippi.h: sizeof(struct hippi_hdr) 40; if_tr.h: TR_HLEN 32 + 8 = 40;
if_fc.h: FC_HLEN 12 + 8 = 20).
"""

from __future__ import annotations

import pytest

from netdrv_core import alloc_netdev
from netdrv_core.ether import ETH_HEADER_OPS
from netdrv_core.linktypes import (
    ARPHRD_ETHER,
    ARPHRD_FDDI,
    ARPHRD_HIPPI,
    ARPHRD_IEEE802,
    ARPHRD_IEEE802_TR,
    ARPHRD_LOCALTLK,
    ARPHRD_PPP,
    ARPHRD_SLIP,
    ether_setup,
    fc_setup,
    fddi_setup,
    hippi_setup,
    is_l2,
    ltalk_setup,
    ptp_setup,
    tr_setup,
)
from netdrv_core.netdevice import (
    IFF_BROADCAST,
    IFF_MULTICAST,
    IFF_NOARP,
    IFF_POINTOPOINT,
)

BC6 = b"\xff" * 6

# name: (setup, type, hard_header_len, mtu, addr_len, tx_queue_len, flags, broadcast)
KERNEL = {
    "ether": (ether_setup, ARPHRD_ETHER, 14, 1500, 6, 1000, IFF_BROADCAST | IFF_MULTICAST, BC6),
    "ltalk": (ltalk_setup, ARPHRD_LOCALTLK, 1, 600, 1, 10,
              IFF_BROADCAST | IFF_MULTICAST | IFF_NOARP, b"\xff"),
    "fddi": (fddi_setup, ARPHRD_FDDI, 24, 4470, 6, 100, IFF_BROADCAST | IFF_MULTICAST, BC6),
    "hippi": (hippi_setup, ARPHRD_HIPPI, 40, 65280, 6, 25, 0, BC6),
    "tr": (tr_setup, ARPHRD_IEEE802_TR, 40, 2000, 6, 100, IFF_BROADCAST | IFF_MULTICAST, BC6),
    "fc": (fc_setup, ARPHRD_IEEE802, 20, 2024, 6, 100, IFF_BROADCAST, BC6),
    "slip": (ptp_setup, ARPHRD_SLIP, 0, 296, 0, 10,
             IFF_NOARP | IFF_POINTOPOINT | IFF_MULTICAST, b""),
}  # fmt: skip


@pytest.mark.parametrize("name", list(KERNEL))
def test_setup_matches_the_kernel_helper(name: str) -> None:
    setup, type_, hlen, mtu, alen, qlen, flags, bcast = KERNEL[name]
    dev = alloc_netdev(None, "x%d", setup)
    assert dev.type == type_
    assert dev.hard_header_len == hlen
    assert dev.mtu == mtu
    assert dev.addr_len == alen
    assert dev.tx_queue_len == qlen
    assert dev.flags == flags
    assert dev.broadcast == bcast
    assert len(dev.dev_addr) == alen
    assert dev.min_mtu <= dev.mtu <= dev.max_mtu


def test_arphrd_values_are_the_uapi_ones() -> None:
    assert (ARPHRD_ETHER, ARPHRD_IEEE802, ARPHRD_SLIP, ARPHRD_PPP) == (1, 6, 256, 512)
    assert (ARPHRD_HIPPI, ARPHRD_LOCALTLK, ARPHRD_FDDI, ARPHRD_IEEE802_TR) == (780, 773, 774, 800)


def test_ether_setup_mtu_range_and_header_ops() -> None:
    dev = alloc_netdev(None, "x%d", ether_setup)
    assert (dev.min_mtu, dev.max_mtu) == (68, 1500)
    assert dev.header_ops is ETH_HEADER_OPS


def test_fddi_mtu_range() -> None:
    dev = alloc_netdev(None, "x%d", fddi_setup)
    assert (dev.min_mtu, dev.max_mtu) == (21, 4470)  # FDDI_K_SNAP_HLEN..FDDI_K_SNAP_DLEN


def test_hippi_mtu_range() -> None:
    dev = alloc_netdev(None, "x%d", hippi_setup)
    assert (dev.min_mtu, dev.max_mtu) == (68, 65280)


def test_ptp_setup_as_sl_setup() -> None:
    dev = alloc_netdev(None, "sl%d", ptp_setup)
    assert (dev.min_mtu, dev.max_mtu) == (68, 65534)  # sl_setup's MTU range
    assert dev.header_ops is None and dev.dev_addr == b""
    ppp = alloc_netdev(None, "ppp%d", lambda d: ptp_setup(d, ARPHRD_PPP, 1500))
    assert ppp.type == ARPHRD_PPP and ppp.mtu == 1500


def test_is_l2() -> None:
    assert is_l2(alloc_netdev(None, "e", ether_setup))
    assert is_l2(alloc_netdev(None, "f", fddi_setup))
    assert not is_l2(alloc_netdev(None, "s", ptp_setup))
