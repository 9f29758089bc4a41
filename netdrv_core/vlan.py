"""802.1Q VLAN tags and VLAN acceleration: Linux's ``include/linux/if_vlan.h`` for netdrv.

A tagged Ethernet frame carries four bytes after the MAC addresses: the tag's
protocol (``ETH_P_8021Q``, or ``ETH_P_8021AD`` for an outer "service" tag) and
the TCI (priority, DEI, 12-bit VLAN ID).  Most NICs can insert the tag on
transmit and strip it on receive (VLAN acceleration): the tag then travels in
the skb's metadata — :attr:`SkBuff.vlan_proto` and :attr:`SkBuff.vlan_tci`,
the two halves of ``vlan_all`` — instead of in the data.

The contract is Linux's:

* A device with ``NETIF_F_HW_VLAN_CTAG_TX`` is handed 802.1Q-tagged frames
  with the tag in the metadata and untagged data (the kernel's VLAN device
  does that; netdrv's attachments do it for the frames they read), and inserts
  the tag itself.  A device without it gets the tag in the data: an skb with a
  metadata tag is made so before ``start_xmit`` (:func:`validate_xmit_vlan`).
* A driver whose hardware strips the tag on receive hands the skb up untagged
  with :func:`__vlan_hwaccel_put_tag` (when ``dev.features`` has
  ``NETIF_F_HW_VLAN_CTAG_RX``; ``ethtool -K DEV rxvlan off`` should make it
  leave the tag in the data).  The kernel attachment puts the tag back into the
  frame (a TAP's virtio-net header has no VLAN field); the memory attachment
  keeps it in the metadata, as Linux's veth does.
* ``NETIF_F_HW_VLAN_CTAG_FILTER`` is a name for ``ethtool -k`` only: netdrv has
  no ``ndo_vlan_rx_add_vid`` (it does not see the VLAN devices made on the
  kernel side), so a driver must not filter tagged frames by VLAN ID.

Python mangles names that begin with two underscores inside a class body: a
driver's method calling ``__vlan_hwaccel_put_tag`` would look up
``_MyOps__vlan_hwaccel_put_tag``.  Call :func:`vlan_hwaccel_put_tag` (the same
function) from methods; likewise :func:`vlan_hwaccel_clear_tag`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .checksum import csum_partial
from .ether import ETH_ALEN, ETH_HLEN, ETH_P_802_2, ETH_P_802_3, ETH_P_802_3_MIN
from .netdevice import NETIF_F_HW_VLAN_CTAG_TX, kfree_tx
from .skbuff import CHECKSUM_COMPLETE, CHECKSUM_PARTIAL, SkBuff, _use_after_free, skb_frame_start

if TYPE_CHECKING:
    from .netdevice import NetDevice

__all__ = [
    "ETH_P_8021AD",
    "ETH_P_8021Q",
    "VLAN_CFI_MASK",
    "VLAN_ETH_HLEN",
    "VLAN_HLEN",
    "VLAN_N_VID",
    "VLAN_PRIO_MASK",
    "VLAN_PRIO_SHIFT",
    "VLAN_VID_MASK",
    "__vlan_hwaccel_clear_tag",
    "__vlan_hwaccel_copy_tag",
    "__vlan_hwaccel_push_inside",
    "__vlan_hwaccel_put_tag",
    "eth_type_vlan",
    "skb_vlan_tag_get",
    "skb_vlan_tag_get_id",
    "skb_vlan_tag_get_prio",
    "skb_vlan_tag_present",
    "skb_vlan_tagged",
    "skb_vlan_untag",
    "validate_xmit_vlan",
    "vlan_get_tag",
    "vlan_hwaccel_clear_tag",
    "vlan_hwaccel_push_inside",
    "vlan_hwaccel_put_tag",
    "vlan_insert_tag",
    "vlan_insert_tag_set_proto",
]

ETH_P_8021Q = 0x8100
"""802.1Q VLAN tag (a "customer" tag, CTAG)."""
ETH_P_8021AD = 0x88A8
"""802.1ad service VLAN tag (STAG, the outer tag of QinQ)."""
VLAN_HLEN = 4
"""Bytes of one tag: its protocol and TCI."""
VLAN_ETH_HLEN = ETH_HLEN + VLAN_HLEN
VLAN_PRIO_MASK = 0xE000
VLAN_PRIO_SHIFT = 13
VLAN_CFI_MASK = 0x1000
"""The DEI bit (formerly CFI)."""
VLAN_VID_MASK = 0x0FFF
VLAN_N_VID = 4096

_MACS = 2 * ETH_ALEN  # what moves when a tag goes in or out: the two addresses


def eth_type_vlan(ethertype: int) -> bool:
    """True for the two VLAN tag protocols, 802.1Q and 802.1ad."""
    return ethertype in (ETH_P_8021Q, ETH_P_8021AD)


# -- the metadata tag ------------------------------------------------------------------------
def __vlan_hwaccel_put_tag(skb: SkBuff, vlan_proto: int, vlan_tci: int) -> None:
    """Put a tag in ``skb``'s metadata (the hardware stripped it, or insertion is offloaded).

    A receive path calls it before ``netif_rx``/``napi_gro_receive`` on the
    untagged frame; from a class body call :func:`vlan_hwaccel_put_tag`.
    """
    if skb.freed:
        _use_after_free(skb, "__vlan_hwaccel_put_tag")
    skb.vlan_all = (vlan_proto & 0xFFFF) << 16 | vlan_tci & 0xFFFF


def __vlan_hwaccel_clear_tag(skb: SkBuff) -> None:
    """Remove the metadata tag (``vlan_all = 0``)."""
    if skb.freed:
        _use_after_free(skb, "__vlan_hwaccel_clear_tag")
    skb.vlan_all = 0


def __vlan_hwaccel_copy_tag(dst: SkBuff, src: SkBuff) -> None:
    """Give ``dst`` the metadata tag of ``src`` (or none, if it has none)."""
    if dst.freed:
        _use_after_free(dst, "__vlan_hwaccel_copy_tag")
    if src.freed:
        _use_after_free(src, "__vlan_hwaccel_copy_tag")
    dst.vlan_all = src.vlan_all


vlan_hwaccel_put_tag = __vlan_hwaccel_put_tag
vlan_hwaccel_clear_tag = __vlan_hwaccel_clear_tag


def skb_vlan_tag_present(skb: SkBuff) -> bool:
    """True when ``skb`` carries a tag in its metadata (Linux: ``!!skb->vlan_all``)."""
    if skb.freed:
        _use_after_free(skb, "skb_vlan_tag_present")
    return skb.vlan_all != 0


def skb_vlan_tag_get(skb: SkBuff) -> int:
    """The metadata tag's TCI (0 when there is none: ask :func:`skb_vlan_tag_present`)."""
    if skb.freed:
        _use_after_free(skb, "skb_vlan_tag_get")
    return skb.vlan_all & 0xFFFF


def skb_vlan_tag_get_id(skb: SkBuff) -> int:
    """The metadata tag's VLAN ID."""
    if skb.freed:
        _use_after_free(skb, "skb_vlan_tag_get_id")
    return skb.vlan_all & VLAN_VID_MASK


def skb_vlan_tag_get_prio(skb: SkBuff) -> int:
    """The metadata tag's priority (PCP, 0-7)."""
    if skb.freed:
        _use_after_free(skb, "skb_vlan_tag_get_prio")
    return (skb.vlan_all & VLAN_PRIO_MASK) >> VLAN_PRIO_SHIFT


def skb_vlan_tagged(skb: SkBuff) -> bool:
    """True when ``skb`` is tagged, in its metadata or its data (``skb.protocol``)."""
    if skb.freed:
        _use_after_free(skb, "skb_vlan_tagged")
    return skb.vlan_all != 0 or eth_type_vlan(skb.protocol)


def _outer_type(skb: SkBuff) -> tuple[int, int]:
    """(where the frame starts, its outer ethertype); the type is -1 for a frame too short."""
    start = skb_frame_start(skb)
    if skb.tail - start < ETH_HLEN:
        return start, -1
    buf = skb.buf
    return start, buf[start + 12] << 8 | buf[start + 13]


def vlan_get_tag(skb: SkBuff) -> int | None:
    """The TCI of ``skb``'s tag: the metadata one, else the outer one in the data; None when
    untagged (Linux returns ``-EINVAL``)."""
    if skb.freed:
        _use_after_free(skb, "vlan_get_tag")
    if skb.vlan_all:
        return skb.vlan_all & 0xFFFF
    start, proto = _outer_type(skb)
    if not eth_type_vlan(proto) or skb.tail - start < VLAN_ETH_HLEN:
        return None
    return skb.buf[start + 14] << 8 | skb.buf[start + 15]


# -- tags in the data ------------------------------------------------------------------------
def _cow_head(skb: SkBuff, need: int) -> None:
    """At least ``need`` bytes before the frame (``skb_cow_head``): a bigger buffer, every
    offset moved with the bytes it points at."""
    start = skb_frame_start(skb)
    if start >= need:
        return
    shift = need - start
    skb.buf = bytearray(shift) + skb.buf
    skb.end = len(skb.buf)
    skb.data += shift
    skb.tail += shift
    if skb.mac_header >= 0:
        skb.mac_header += shift
    if skb.network_header >= 0:
        skb.network_header += shift
    if skb.transport_header >= 0:
        skb.transport_header += shift
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb.csum_start += shift


def vlan_insert_tag(skb: SkBuff, vlan_proto: int, vlan_tci: int) -> SkBuff:
    """Insert a tag into the data after the MAC addresses (``vlan_insert_tag``); returns ``skb``.

    The frame starts 4 bytes earlier (``mac_header``, and ``data`` when it was
    at the frame's start); the headers after the tag keep their offsets.  The
    buffer grows when the headroom is under 4 bytes.  ``skb.protocol`` is left
    as it is (:func:`vlan_insert_tag_set_proto` sets it).

    :raises ValueError: the frame is too short to hold the MAC addresses.
    """
    if skb.freed:
        _use_after_free(skb, "vlan_insert_tag")
    start = skb_frame_start(skb)
    if skb.tail - start < _MACS:
        raise ValueError(f"vlan_insert_tag: a {skb.tail - start}-byte frame has no MAC addresses")
    if start < VLAN_HLEN:
        _cow_head(skb, VLAN_HLEN)
        start = skb_frame_start(skb)
    buf = skb.buf
    new = start - VLAN_HLEN
    buf[new : new + _MACS] = buf[start : start + _MACS]
    tag = (vlan_proto & 0xFFFF) << 16 | vlan_tci & 0xFFFF
    buf[new + _MACS : start + _MACS] = tag.to_bytes(4, "big")
    if skb.mac_header == start:
        skb.mac_header = new
    if skb.data == start:
        skb.data = new
    return skb


def vlan_insert_tag_set_proto(skb: SkBuff, vlan_proto: int, vlan_tci: int) -> SkBuff:
    """:func:`vlan_insert_tag`, and ``skb.protocol`` becomes the tag's protocol."""
    if skb.freed:
        _use_after_free(skb, "vlan_insert_tag_set_proto")
    vlan_insert_tag(skb, vlan_proto, vlan_tci)
    skb.protocol = vlan_proto
    return skb


def vlan_tag_bytes(vlan_all: int) -> bytes:
    """The 4 bytes a metadata tag (``skb.vlan_all``) is in a frame: its protocol, its TCI.

    A tag whose protocol half is 0 (only ``skb.vlan_tci`` was set; Linux's
    ``__vlan_hwaccel_put_tag`` always sets both) is taken as 802.1Q, as libpcap
    takes it: every place a metadata tag goes back into bytes writes the same.
    """
    if not vlan_all >> 16:
        vlan_all |= ETH_P_8021Q << 16
    return vlan_all.to_bytes(4, "big")


def __vlan_hwaccel_push_inside(skb: SkBuff) -> SkBuff:
    """Move the metadata tag into the data (software insertion); returns ``skb``.

    A tag without its protocol goes in as 802.1Q (:func:`vlan_tag_bytes`)."""
    if skb.freed:
        _use_after_free(skb, "__vlan_hwaccel_push_inside")
    vlan_insert_tag_set_proto(skb, skb.vlan_all >> 16 or ETH_P_8021Q, skb.vlan_all & 0xFFFF)
    skb.vlan_all = 0
    return skb


def vlan_hwaccel_push_inside(skb: SkBuff) -> SkBuff:
    """:func:`__vlan_hwaccel_push_inside` when ``skb`` has a metadata tag; returns ``skb``."""
    if skb.freed:
        _use_after_free(skb, "vlan_hwaccel_push_inside")
    if skb.vlan_all:
        __vlan_hwaccel_push_inside(skb)
    return skb


def _csum16(csum: int) -> int:
    """A one's-complement sum (any width, as ``csum_partial`` returns) folded to 16 bits."""
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    return csum


def _postpull_rcsum(skb: SkBuff, start: int, end: int) -> None:
    """Take the bytes ``start..end`` (``skb.buf`` offsets, the front of what ``skb.csum``
    covers) out of a ``CHECKSUM_COMPLETE`` sum (Linux's ``skb_postpull_rcsum``; the one's
    complement of a sum is its negation, so subtracting is adding the complement)."""
    pulled = _csum16(csum_partial(memoryview(skb.buf)[start:end]))
    rest = _csum16(_csum16(skb.csum) + (~pulled & 0xFFFF))
    if (end - start) & 1:  # what stays began at an odd offset: its sum is byte-swapped
        rest = (rest >> 8 | rest << 8) & 0xFFFF
    skb.csum = rest


def skb_vlan_untag(skb: SkBuff) -> SkBuff:
    """Move the outer tag from the data into the metadata (``skb_vlan_untag``); returns ``skb``.

    What the kernel does with every tagged frame it receives, and a driver may
    do for hardware that does not strip tags.  Works on a frame before
    ``eth_type_trans`` (``data`` at its start; it moves 4 bytes on) and after
    (``data`` past the link header: it stays past it).  ``skb.protocol`` becomes
    the encapsulated protocol.  An skb with a metadata tag already, or with
    none in the data, is left as it is.

    A ``CHECKSUM_COMPLETE`` sum (``skb.csum``, over the frame past its link header,
    which is where ``eth_type_trans`` leaves ``data``) loses the 4 bytes that leave
    it — the tag's TCI and the encapsulated ethertype — as Linux's ``skb_pull_rcsum``
    takes them out: the sum stays right for what follows, and the skb stays
    ``CHECKSUM_COMPLETE``.

    :raises ValueError: the frame is too short for the tag it says it has.
    """
    if skb.freed:
        _use_after_free(skb, "skb_vlan_untag")
    if skb.vlan_all:
        return skb  # as Linux: the metadata holds one tag; a second stays in the data
    start, proto = _outer_type(skb)
    if not eth_type_vlan(proto):
        return skb
    if skb.tail - start < VLAN_ETH_HLEN:
        raise ValueError(f"skb_vlan_untag: a {skb.tail - start}-byte frame is too short for "
                         f"its VLAN tag")  # fmt: skip
    buf = skb.buf
    new, past = start + VLAN_HLEN, start + VLAN_ETH_HLEN
    if skb.ip_summed == CHECKSUM_COMPLETE and skb.data < past:
        # skb_pull_rcsum, before the addresses move over the tag: the sum covers the frame
        # from data (past the link header; not pulled yet, where it will be) to its tail.
        _postpull_rcsum(skb, skb.data if skb.data > start else start + ETH_HLEN, past)
    skb.vlan_all = proto << 16 | buf[start + 14] << 8 | buf[start + 15]
    inner = buf[start + 16] << 8 | buf[start + 17]
    buf[start + VLAN_HLEN : start + VLAN_HLEN + _MACS] = buf[start : start + _MACS]
    if skb.mac_header == start:
        skb.mac_header = new
    if skb.data == start:
        skb.data = new
    elif skb.data < past:  # pulled past the link header (eth_type_trans): past it again
        skb.data = past
    if 0 <= skb.network_header < past:
        skb.network_header = past
    if inner >= ETH_P_802_3_MIN:
        skb.protocol = inner
    else:  # vlan_set_encap_proto: an 802.3 length, raw IPX or LLC behind it
        raw = buf[past : past + 2] == b"\xff\xff"
        skb.protocol = ETH_P_802_3 if raw else ETH_P_802_2
    return skb


def validate_xmit_vlan(skb: SkBuff, features: int) -> SkBuff:
    """Insert the metadata tag in software when a device with ``features`` cannot
    (Linux's ``validate_xmit_vlan``: 802.1Q needs ``NETIF_F_HW_VLAN_CTAG_TX``; netdrv
    has no 802.1ad offload, so such a tag always goes into the data); returns ``skb``.

    :raises ValueError: the frame is too short to hold the MAC addresses.
    """
    tag = skb.vlan_all
    if tag and not (tag >> 16 == ETH_P_8021Q and features & NETIF_F_HW_VLAN_CTAG_TX):
        __vlan_hwaccel_push_inside(skb)
    return skb


def xmit_vlan(skb: SkBuff, dev: NetDevice) -> bool:
    """:func:`validate_xmit_vlan` for ``dev`` on the transmit path; False when the skb could
    not be made right and was dropped (freed, counted in ``core_stats.tx_qdisc_drops``)."""
    try:
        validate_xmit_vlan(skb, dev.features)
    except ValueError:
        dev.core_stats.tx_qdisc_drops += 1
        kfree_tx(skb)
        return False
    return True
