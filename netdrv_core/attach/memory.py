"""The memory attachment: an in-process network stack for tests and tools.

It needs no privileges: devices are opened with :meth:`MemoryStack.up`, frames
are sent with :meth:`MemoryStack.send` (exactly as if the kernel had sent them:
through the qdisc to ``start_xmit``) and whatever drivers hand up with
``netif_rx`` is queued per device for :meth:`MemoryStack.received`.
:meth:`MemoryStack.wire` connects two devices like a cable between two stacks:
what one receives is transmitted by the other.

VLAN tags: a frame sent with an 802.1Q tag in its data reaches a device with
``NETIF_F_HW_VLAN_CTAG_TX`` with the tag in the skb's metadata, as the kernel's
VLAN device hands it over.  A metadata tag a driver hands up stays in the
metadata (:meth:`MemoryStack.received_skbs`, and across a wire, as on Linux's
veth); :meth:`MemoryStack.received` shows the frame with the tag in it.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from ..errors import DriverError
from ..gso import validate_xmit_skb
from ..netdevice import NET_XMIT_DROP, NETIF_F_HW_VLAN_CTAG_TX
from ..skbuff import CHECKSUM_PARTIAL, SkBuff, skb_frame_start
from ..vlan import ETH_P_8021Q, VLAN_ETH_HLEN, skb_vlan_untag, vlan_tag_bytes
from .base import Attachment

if TYPE_CHECKING:
    from ..netdevice import NetDevice

__all__ = ["MemoryStack"]

log = logging.getLogger("netdrv.attach.memory")


class MemoryStack(Attachment):
    """An in-process stack: per-device receive queues, injection, wires."""

    def __init__(self, rx_queue_len: int = 100_000) -> None:
        self.rx_queue_len = rx_queue_len
        self.rx: dict[str, deque[SkBuff]] = {}
        self.rx_overflow: dict[str, int] = {}
        self.wires: dict[str, NetDevice] = {}

    def attach(self, dev: NetDevice) -> None:
        """Give the device a receive queue."""
        self.rx[dev.name] = deque()
        self.rx_overflow[dev.name] = 0

    def detach(self, dev: NetDevice) -> None:
        """Forget the device's queue and wires."""
        self.rx.pop(dev.name, None)
        peer = self.wires.pop(dev.name, None)
        if peer is not None:
            self.wires.pop(peer.name, None)

    def dev_renamed(self, dev: NetDevice, old: str) -> None:
        """Keep the device's queue, overflow count and wire under its new name."""
        super().dev_renamed(dev, old)
        tables: tuple[dict[str, Any], ...] = (self.rx, self.rx_overflow, self.wires)
        for table in tables:
            if old in table:
                table[dev.name] = table.pop(old)

    def receive(self, dev: NetDevice, skb: SkBuff) -> bool | None:
        """Queue the frame, or transmit it on the wired peer; False when the queue is full."""
        name = dev.name
        if self.wires and (peer := self.wires.get(name)) is not None:
            # The frame from its link header: eth_type_trans pulled it off skb.data.
            start = skb_frame_start(skb)
            frame = memoryview(skb.buf)[start : skb.tail]
            if skb.gso_size or skb.ip_summed == CHECKSUM_PARTIAL:
                # The offload job travels with the frame, as on a veth pair.
                at = max(peer.needed_headroom, 16) + skb.csum_start - start
                # With its protocol: what the peer can checksum is decided by it.
                self.send(peer, frame, protocol=skb.protocol, ip_summed=skb.ip_summed,
                          csum_start=at, csum_offset=skb.csum_offset, gso_size=skb.gso_size,
                          gso_type=skb.gso_type, vlan_all=skb.vlan_all)  # fmt: skip
            elif skb.vlan_all:  # the metadata tag travels with the frame too
                self.send(peer, frame, vlan_all=skb.vlan_all)
            else:
                self.send(peer, frame)
            return None
        try:
            q = self.rx[name]  # a subscript, not get(): no method call for every frame
        except KeyError:
            return None
        if len(q) >= self.rx_queue_len:
            self.rx_overflow[name] += 1
            dev.core_stats.rx_backlog_drops += 1  # a full queue, like the TAP's EAGAIN
            return False
        q.append(skb)
        return None

    # -- the user's side ------------------------------------------------------------
    def _dev(self, dev: NetDevice | str) -> NetDevice:
        if isinstance(dev, str):
            d = self.host.dev_get_by_name(dev)
            if d is None:
                raise DriverError(f"no device named {dev!r}", errno.ENODEV)
            return d
        return dev

    def up(self, dev: NetDevice | str) -> None:
        """``ip link set DEV up``; raises DriverError when ``open`` fails."""
        d = self._dev(dev)
        drv = d.driver
        faults = drv.faults if drv is not None else 0
        ret = self.host.dev_open(d)
        if ret:
            why = ""
            if drv is not None and drv.faults != faults:  # it raised: say what
                why = f": the driver raised in {(drv.last_fault or '').split(': ', 1)[-1]}"
            raise DriverError(
                f"{d.name}: open failed ({errno.errorcode.get(-ret, ret)}){why}", -ret
            )

    def down(self, dev: NetDevice | str) -> None:
        """``ip link set DEV down``."""
        self.host.dev_close(self._dev(dev))

    def send(self, dev: NetDevice | str, frame: bytes | bytearray | memoryview, **meta: int) -> int:
        """Transmit ``frame`` (with its link header, if any) as the stack would.

        Keyword arguments set skb metadata (``protocol``, ``ip_summed``, ...; offsets
        such as ``csum_start`` are into the skb's buffer, where the frame starts at
        ``max(dev.needed_headroom, 16)``).  What the device cannot
        offload is done first, as the kernel does (:func:`~netdrv_core.gso.validate_xmit_skb`):
        a super-frame (``gso_size``) for a device without TSO is sent as its segments, and
        so is a VLAN-tagged one for a device without TSO in its ``vlan_features``.
        Returns NET_XMIT_SUCCESS or NET_XMIT_DROP (of the last segment).
        """
        d = self._dev(dev)
        headroom = max(d.needed_headroom, 16)
        skb = SkBuff(headroom + len(frame))
        skb.data = skb.tail = headroom
        skb.put_data(frame)
        skb.dev = d
        skb.mac_header = headroom
        for k, v in meta.items():
            setattr(skb, k, v)
        if (len(frame) >= VLAN_ETH_HLEN and frame[12] << 8 | frame[13] == ETH_P_8021Q
                and d.features & NETIF_F_HW_VLAN_CTAG_TX):  # fmt: skip
            skb_vlan_untag(skb)  # as the kernel's VLAN device hands it to such a device
        if skb.gso_size or skb.ip_summed == CHECKSUM_PARTIAL:
            # What the device cannot offload is done here, as the kernel would before
            # start_xmit: a super-frame goes as its segments.
            rc = NET_XMIT_DROP
            for seg in validate_xmit_skb(skb, d):
                rc = self.host.dev_queue_xmit(seg)
            return rc
        return self.host.dev_queue_xmit(skb)

    def received(self, dev: NetDevice | str) -> list[bytes]:
        """Frames the stack received on ``dev`` since the last call (as bytes, mac header on)."""
        d = self._dev(dev)
        q = self.rx.get(d.name)
        out: list[bytes] = []
        while q:
            skb = q.popleft()
            start = skb.mac_header if skb.mac_header >= 0 else skb.data
            frame = bytes(skb.buf[start : skb.tail])
            if skb.vlan_all:  # the tag the driver put in the metadata, back in the frame
                frame = frame[:12] + vlan_tag_bytes(skb.vlan_all) + frame[12:]
            out.append(frame)
        return out

    def received_skbs(self, dev: NetDevice | str) -> list[SkBuff]:
        """Like :meth:`received` but the skbs themselves (metadata included)."""
        d = self._dev(dev)
        q = self.rx.get(d.name)
        out = list(q) if q else []
        if q:
            q.clear()
        return out

    def wire(self, a: NetDevice | str, b: NetDevice | str) -> None:
        """Connect two devices: frames received on one are transmitted on the other."""
        da, db = self._dev(a), self._dev(b)
        self.wires[da.name] = db
        self.wires[db.name] = da
