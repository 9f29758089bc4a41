"""Property tests of the rtnetlink side: link messages and what they do to a device.

:func:`parse_link_messages` reads datagrams from the kernel's NETLINK_ROUTE
socket; whatever bytes arrive it must return well-typed events (never raise,
never loop) and find every well-formed RTM_NEWLINK among garbage.  Then the
events are applied to a driver's device (``ip link set …`` from any user with
CAP_NET_ADMIN): nothing but refusals the kernel link is reverted to, even when
the kernel drops events (a full receive buffer) and the links are read back.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netdrv_core import Host
from netdrv_core.attach.netlink import (
    IFLA_ADDRESS,
    IFLA_IFNAME,
    IFLA_MTU,
    IFLA_PROMISCUITY,
    IFLA_TXQLEN,
    RTM_DELLINK,
    RTM_NEWLINK,
    LinkEvent,
    dump_status,
    parse_link_messages,
)
from netdrv_core.attach.tap import KernelStack, _kernel_mtu, _Port
from netdrv_core.netdevice import IFF_ALLMULTI, IFF_PROMISC, IFF_UP
from netdrv_core.params import parse_params

FAST = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture])  # fmt: skip

NLMSG_HDR = struct.Struct("=IHHII")
IFINFO = struct.Struct("=BxHiII")
u32 = st.integers(0, 0xFFFFFFFF)


def rta(kind: int, payload: bytes) -> bytes:
    a = struct.pack("=HH", 4 + len(payload), kind) + payload
    return a + b"\0" * (-len(a) % 4)


def nlmsg(mtype: int, body: bytes) -> bytes:
    m = NLMSG_HDR.pack(NLMSG_HDR.size + len(body), mtype, 0, 1, 0) + body
    return m + b"\0" * (-len(m) % 4)


@st.composite
def link_message(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """A well-formed RTM_NEWLINK/DELLINK and the fields it carries."""
    want: dict[str, Any] = {
        "kind": draw(st.sampled_from([RTM_NEWLINK, RTM_DELLINK])),
        "index": draw(st.integers(-(2**31), 2**31 - 1)),
        "flags": draw(u32),
    }
    attrs = []
    if draw(st.booleans()):
        want["name"] = draw(st.text(st.characters(min_codepoint=33, max_codepoint=126),
                                    min_size=1, max_size=15))  # fmt: skip
        attrs.append(rta(IFLA_IFNAME, want["name"].encode() + b"\0"))
    if draw(st.booleans()):
        want["mtu"] = draw(u32)
        attrs.append(rta(IFLA_MTU, struct.pack("<I", want["mtu"])))
    if draw(st.booleans()):
        want["address"] = draw(st.binary(max_size=32))
        attrs.append(rta(IFLA_ADDRESS, want["address"]))
    if draw(st.booleans()):
        want["txqlen"] = draw(u32)
        attrs.append(rta(IFLA_TXQLEN, struct.pack("<I", want["txqlen"])))
    if draw(st.booleans()):
        want["promiscuity"] = draw(u32)
        attrs.append(rta(IFLA_PROMISCUITY, struct.pack("<I", want["promiscuity"])))
    # Attributes netdrv does not know (nested or not, large) come along too.  The parser
    # masks NLA_F_NESTED/NLA_F_NET_BYTEORDER (0xC000) off the type, so 0x4001 is an address.
    known = {IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_TXQLEN, IFLA_PROMISCUITY}
    unknown = st.integers(1, 0xFFFF).filter(lambda t: t & 0x3FFF not in known)
    for _ in range(draw(st.integers(0, 3))):
        attrs.insert(draw(st.integers(0, len(attrs))),
                     rta(draw(unknown), draw(st.binary(max_size=40))))  # fmt: skip
    body = IFINFO.pack(0, 1, want["index"], want["flags"], 0xFFFFFFFF) + b"".join(attrs)
    return nlmsg(want["kind"], body), want


def _check_event(ev: LinkEvent) -> None:
    assert ev.kind in (RTM_NEWLINK, RTM_DELLINK)
    assert isinstance(ev.name, str)
    for v in (ev.mtu, ev.txqlen, ev.promiscuity):
        assert v is None or 0 <= v <= 0xFFFFFFFF
    assert ev.address is None or isinstance(ev.address, bytes)


@FAST
@given(st.binary(max_size=1024))
@example(NLMSG_HDR.pack(0, RTM_NEWLINK, 0, 0, 0) * 3)  # zero length: must not loop
@example(NLMSG_HDR.pack(16, RTM_NEWLINK, 0, 0, 0))  # no ifinfomsg
@example(nlmsg(RTM_NEWLINK, IFINFO.pack(0, 1, 3, 1, 0) + struct.pack("=HH", 0, IFLA_MTU)))
@example(nlmsg(RTM_NEWLINK, IFINFO.pack(0, 1, 3, 1, 0) + struct.pack("=HH", 200, IFLA_MTU)))
def test_arbitrary_datagrams_never_raise(data: bytes) -> None:
    events = parse_link_messages(data)
    # Each event needs at least a netlink header and an ifinfomsg: bounded output.
    assert len(events) <= len(data) // (NLMSG_HDR.size + IFINFO.size)
    for ev in events:
        _check_event(ev)
    status = dump_status(data, 1, 0)
    assert status is None or -(2**31) <= status < 2**31


@FAST
@given(st.lists(st.one_of(link_message(), st.binary(max_size=60).map(lambda b: (b, None))),
                max_size=6), st.sampled_from([None, 0, -16]))  # fmt: skip
def test_the_end_of_a_dump_is_found(parts: list[tuple[bytes, Any]], end: int | None) -> None:
    """NLMSG_DONE or NLMSG_ERROR of the monitor's dump (its seq and portid) ends it; the
    same from another request, or another socket's, does not."""

    def reply(mtype: int, seq: int, pid: int, err: int = 0) -> bytes:
        return NLMSG_HDR.pack(20, mtype, 2, seq, pid) + struct.pack("=i", err)

    data = b"".join(raw if want is not None else nlmsg(20, raw) for raw, want in parts)
    data += reply(3, 9, 77) + reply(2, 5, 78, -16)  # another dump's DONE, another socket's
    if end == 0:
        data += reply(3, 5, 77)
    elif end is not None:
        data += reply(2, 5, 77, end)
    assert dump_status(data, 5, 77) == end


@FAST
@given(st.lists(st.one_of(link_message(), st.binary(max_size=60).map(lambda b: (b, None))),
                max_size=8))  # fmt: skip
def test_well_formed_messages_are_found_among_garbage(parts: list[tuple[bytes, Any]]) -> None:
    """Garbage *between* messages is framed as netlink messages of other types and skipped."""
    data = b""
    wanted = []
    for raw, want in parts:
        if want is None:
            # Junk wrapped as a message of another type (RTM_NEWADDR): it has to be skipped.
            data += nlmsg(20, raw)
        else:
            data += raw
            wanted.append(want)
    events = parse_link_messages(data)
    assert len(events) == len(wanted)
    for ev, want in zip(events, wanted, strict=True):
        _check_event(ev)
        assert (ev.kind, ev.index, ev.flags) == (want["kind"], want["index"], want["flags"])
        assert ev.name == want.get("name", "")
        assert ev.mtu == want.get("mtu")
        assert ev.address == want.get("address")
        assert ev.txqlen == want.get("txqlen")
        assert ev.promiscuity == want.get("promiscuity")


@FAST
@given(link_message(), st.integers(0, 200))
def test_a_truncated_datagram_loses_only_the_cut_message(msg: tuple[bytes, Any], cut: int) -> None:
    raw, _want = msg
    good = nlmsg(RTM_NEWLINK, IFINFO.pack(0, 1, 5, 0, 0))
    events = parse_link_messages(good + raw[: max(0, len(raw) - cut)])
    assert events[0].index == 5
    assert len(events) in (1, 2)


# -- events applied to a device ---------------------------------------------------------------
class _FakeLinkConfig:
    """Records what the attachment asks the kernel to change (pyroute2 stand-in)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.kernel_flags = 0

    def set(self, index: int, **kw: Any) -> None:
        self.calls.append(kw)

    def flags(self, index: int) -> int:
        return self.kernel_flags


class _FakeTunTap:
    tap = True
    vnet_hdr = False
    fd = -1
    name = "sn0"

    def set_carrier(self, on: bool) -> bool:
        return True

    def close(self) -> None:
        pass


@pytest.fixture
def kernel_view() -> Iterator[tuple[Host, KernelStack, _Port, _FakeLinkConfig]]:
    """snull's sn0 on a memory host, seen through a KernelStack with a fake netlink config."""
    with _kernel_view() as view:
        yield view


@contextmanager
def _kernel_view() -> Iterator[tuple[Host, KernelStack, _Port, _FakeLinkConfig]]:
    from netdrv_snull.driver import Snull

    host = Host()
    drv = Snull(host, parse_params("snull", Snull.parameters, ["configure=0"]))
    with host.as_current():
        drv.init()
    ks = KernelStack()
    ks.host = host
    cfg = _FakeLinkConfig()
    ks._cfg = cfg  # type: ignore[assignment]
    port = _Port(host.devices["sn0"], _FakeTunTap(), 7)  # type: ignore[arg-type]
    ks.ports["sn0"] = port
    ks._by_index[7] = port
    yield host, ks, port, cfg
    with host.as_current():
        drv.exit()
    host.close()
    host.loop.close()


event_st = st.builds(
    LinkEvent,
    kind=st.just(RTM_NEWLINK),
    index=st.just(7),
    flags=st.one_of(st.sampled_from([0, IFF_UP, IFF_UP | IFF_PROMISC, IFF_ALLMULTI]), u32),
    change=u32,
    name=st.just("sn0"),
    mtu=st.one_of(st.none(), st.sampled_from([0, 67, 68, 1400, 1500, 1501, 65535]), u32),
    address=st.one_of(st.none(), st.binary(max_size=10),
                      st.sampled_from([b"\x02\x11\x22\x33\x44\x55", b"\x01" * 6, bytes(6)])),
    txqlen=st.one_of(st.none(), u32),
    promiscuity=st.one_of(st.none(), u32),
    resync=st.booleans(),
)  # fmt: skip


@FAST
@given(events=st.lists(event_st, min_size=1, max_size=12))
def test_link_events_applied_to_a_driver_never_raise(
    kernel_view: tuple[Host, KernelStack, _Port, _FakeLinkConfig], events: list[LinkEvent]
) -> None:
    host, ks, port, cfg = kernel_view
    dev = port.dev
    for ev in events:
        cfg.calls.clear()
        old_mtu, old_addr = dev.mtu, dev.dev_addr
        ks._handle_events([ev])
        host.loop.run_until_idle()
        assert dev.is_up == bool(ev.flags & IFF_UP)
        # snull accepts 68..1500; anything else is refused and the kernel link reverted.
        assert 68 <= dev.mtu <= 1500
        if ev.mtu is not None and dev.mtu != ev.mtu:
            assert dev.mtu == old_mtu and {"mtu": old_mtu} in cfg.calls
        assert len(dev.dev_addr) == 6 and not dev.dev_addr[0] & 1
        if ev.address is not None and dev.dev_addr != ev.address:
            assert dev.dev_addr == old_addr
        # Promiscuous when the flag says so or anything (tcpdump) holds a promiscuity count.
        assert bool(dev.flags & IFF_PROMISC) == bool(ev.flags & IFF_PROMISC or ev.promiscuity)
        # The kernel's events of what netdrv wrote (the reverts) come next: they change
        # nothing, and nothing is written back.
        state = (dev.is_up, dev.mtu, dev.dev_addr, dev.flags)
        echoes = _echoes(replace(ev, resync=False), cfg.calls)
        cfg.calls.clear()
        ks._handle_events(echoes)
        assert (dev.is_up, dev.mtu, dev.dev_addr, dev.flags) == state
        assert not cfg.calls
    cs = dev.core_stats
    assert cs.tx_driver_faults == 0


def _echoes(link: LinkEvent, calls: list[dict[str, Any]]) -> list[LinkEvent]:
    """The events the kernel queues for ``calls`` made to ``link``: one per call that
    changes it."""
    out = []
    for kw in calls:
        new = replace(link)
        if "mtu" in kw:
            new.mtu = kw["mtu"]
        if "address" in kw:
            new.address = bytes.fromhex(kw["address"].replace(":", ""))
        if "state" in kw:
            new.flags = link.flags | IFF_UP if kw["state"] == "up" else link.flags & ~IFF_UP
        if "txqlen" in kw:  # a txqueuelen 0 the attachment refused, written back
            new.txqlen = kw["txqlen"]
        if new != link:
            out.append(new)
            link = new
    return out


# -- a model of the kernel link: every change queues an event, netdrv's writes too ------------
class _KernelLink:
    """sn0's kernel side: what ``ip link set`` and netdrv's writes do, and the events they queue.

    Events carry the whole state at the moment of the change, like RTM_NEWLINK, and
    pile up until netdrv reads them (in batches of any size: coalescing is the hazard).
    A write that changes nothing queues nothing, like the kernel's (the same MTU or
    state: no RTM_NEWLINK), so netdrv cannot count on an echo of every write; an address
    is the exception: the kernel notifies every one set, the same one too.
    Once the receive buffer is full (``congested``) every event is dropped until netdrv
    has read the queue to the end; a dump then queues the link's state as a ``resync``
    event behind what was read and ahead of later changes.  It is also the attachment's
    LinkMonitor and LinkConfig.
    """

    def __init__(self, port: _Port) -> None:
        self.up = False  # a new TAP, given the device's settings by the attachment
        self.mtu = port.dev.mtu
        self.addr = port.dev.dev_addr
        self.queue: list[LinkEvent] = []
        self.congested = False
        self.batch = 1  # events netdrv reads at once (all of them after an overflow)
        self.overflows = 0
        self.dump_wanted = False
        self.dumped: set[int] | None = None

    def change(self, *, up: bool | None = None, mtu: int | None = None,
               addr: bytes | None = None) -> None:  # fmt: skip
        before = (self.up, self.mtu, self.addr)
        if up is not None:
            self.up = up
        if mtu is not None:
            assert 68 <= mtu <= 65521, "a TAP refuses this mtu"
            self.mtu = mtu
        if addr is not None:
            self.addr = addr
        # The kernel notifies every address set, even the one the link has (measured on 6.x:
        # `ip link set DEV address A` and pyroute2's both queue an RTM_NEWLINK).
        if not self.congested and ((self.up, self.mtu, self.addr) != before or addr is not None):
            self.queue.append(self._event())

    def _event(self, resync: bool = False) -> LinkEvent:
        return LinkEvent(RTM_NEWLINK, 7, IFF_UP if self.up else 0, 0xFFFFFFFF, "sn0", self.mtu,
                         self.addr, 1000, 0, resync=resync)  # fmt: skip

    # LinkMonitor, as the attachment uses it.
    def read(self) -> list[LinkEvent]:
        n = self.batch
        if self.congested:  # ENOBUFS, and the queue read to the end
            self.congested = False
            self.overflows += 1
            self.dump_wanted = True
            n = len(self.queue)
        batch, self.queue = self.queue[:n], self.queue[n:]
        if any(ev.resync for ev in batch):
            self.dumped = {7}  # the dump ended: it showed sn0, which is never deleted here
        return batch

    def request_dump(self) -> bool:
        if not self.dump_wanted:
            return False
        self.dump_wanted = False
        self.queue.append(self._event(resync=True))
        return True

    def take_dump(self) -> set[int] | None:
        done, self.dumped = self.dumped, None
        return done

    # LinkConfig, as the attachment uses it.
    def set(self, index: int, **kw: Any) -> None:
        addr = bytes.fromhex(kw["address"].replace(":", "")) if "address" in kw else None
        up = {"up": True, "down": False}.get(kw.get("state", ""))
        self.change(up=up, mtu=kw.get("mtu"), addr=addr)

    def flags(self, index: int) -> int:
        return IFF_UP if self.up else 0


_addr_st = st.sampled_from([b"\x02\x11\x22\x33\x44\x55", b"\x02\x66\x66\x66\x66\x66",
                            b"\x00\x53\x4e\x55\x4c\x30"])  # fmt: skip
_op_st = st.one_of(
    st.tuples(st.just("user up"), st.booleans()),
    st.tuples(st.just("user mtu"), st.sampled_from([576, 1400, 1500, 9000])),
    st.tuples(st.just("user address"), _addr_st),
    st.tuples(st.just("driver up"), st.booleans()),
    st.tuples(st.just("driver mtu"), st.sampled_from([576, 1280])),
    st.tuples(st.just("driver address"), _addr_st),  # refused (EBUSY) while the driver is up
    st.tuples(st.just("read"), st.integers(1, 4)),  # netdrv reads a batch of this many events
    st.tuples(st.just("overflow"), st.none()),  # the kernel drops events until the next read
)
_A = b"\x02\x11\x22\x33\x44\x55"


_B = b"\x02\x66\x66\x66\x66\x66"


@FAST
@given(ops=st.lists(_op_st, max_size=20))
@example(ops=[("user up", False), ("user address", b"\x02\x11\x22\x33\x44\x55"),
              ("user up", True)])  # fmt: skip
@example(ops=[("user up", False), ("user mtu", 1400), ("user up", True)])
@example(ops=[("user up", False), ("user up", True)])
# Lost: down, address, up.  The read-back link is up with a new address: stop, address, open.
@example(ops=[("overflow", None), ("user up", False), ("user address", _A), ("user mtu", 1400),
              ("user up", True), ("read", 1)])  # fmt: skip
@example(ops=[("overflow", None), ("user up", False), ("read", 1)])
# netdrv's own change, its echo lost: events read before it are not applied after it
# (dropped: the link read back supersedes them).
@example(ops=[("user mtu", 576), ("user mtu", 9000), ("overflow", None), ("driver mtu", 1280)])
@example(ops=[("driver up", False), ("overflow", None), ("user up", True), ("driver mtu", 1280),
              ("read", 2)])  # fmt: skip
# The user's change after netdrv's own, its echo not read yet when the batch before it ends:
# that batch must not write netdrv's value again over the user's.  MTU, state, address.
@example(ops=[("user up", False), ("driver mtu", 576), ("user mtu", 1400), ("read", 1)])
@example(ops=[("user mtu", 1400), ("driver up", False), ("user up", True), ("read", 1)])
@example(ops=[("user up", False), ("read", 1), ("user mtu", 1400), ("driver address", _A),
              ("user address", _B), ("read", 1)])  # fmt: skip
# A write that changes nothing has no echo: the user's event that had made the change shows it.
@example(ops=[("user mtu", 576), ("driver mtu", 576), ("user mtu", 1400), ("read", 1)])
# The driver closes a link the user's unread event took down: that event shows it, and the
# batch before it does not write "down" over the user's "up" that follows.
@example(ops=[("user mtu", 576), ("user up", False), ("driver up", False), ("user up", True),
              ("read", 1)])  # fmt: skip
# A user's address event older than netdrv's write of the same address is not its echo.
@example(ops=[("user address", _B), ("user address", _A), ("driver up", False), ("user up", True),
              ("driver address", _B)])  # fmt: skip
@example(ops=[("user address", _B), ("user address", _A), ("driver up", False),
              ("driver address", _B), ("read", 2), ("driver up", True)])  # fmt: skip
# Events lost, noticed as netdrv reads what is queued before a write of its own: the links
# are asked for at once, or the user's next event would show the lost address as a change.
@example(ops=[("user up", False), ("overflow", None), ("user address", _A), ("driver mtu", 576),
              ("user up", True), ("read", 1)])  # fmt: skip
@example(ops=[("user up", False), ("overflow", None), ("user address", _A), ("driver mtu", 576),
              ("user up", True), ("user up", False), ("user address", _B), ("read", 1)])  # fmt: skip
@example(ops=[("overflow", None), ("user up", False), ("user mtu", 576), ("driver up", False)])
# ... and the answer, queued before netdrv's write, shows the link's old address.
@example(ops=[("driver up", False), ("user up", True), ("overflow", None), ("driver address", _A)])
@example(ops=[("user mtu", 576), ("overflow", None), ("driver mtu", 576), ("user mtu", 1400)])
def test_kernel_and_driver_agree_however_events_are_batched(ops: list[tuple[str, Any]]) -> None:
    """Whatever the user and the driver change, and however the events are read or lost,
    both ends settle on one state (no change bounced back and forth), and it is each
    setting's last change, the user's or the driver's, as with ``ip`` commands one after
    the other: neither a batch ending before the echo of netdrv's own change nor an event
    older than it undoes the other's.  Nothing the driver accepts is refused: an address
    set while the link is down reaches the driver (``ip -batch``: down; address; up —
    stop, set_mac_address, open), also when those events were lost and only the link read
    back shows the new address."""
    with _kernel_view() as (host, ks, port, _):
        _run_ops(host, ks, port, ops)


def _run_ops(host: Host, ks: KernelStack, port: _Port, ops: list[tuple[str, Any]]) -> None:
    dev = port.dev
    kernel = _KernelLink(port)
    ks._cfg = kernel  # type: ignore[assignment]
    ks._mon = kernel  # type: ignore[assignment]
    memory = host.attachment
    host.attachment = ks  # the driver's own changes are mirrored to the model kernel
    refused = []
    real_set_mac = dev.netdev_ops.set_mac_address

    def set_mac(d: Any, addr: bytes) -> int | None:
        ret = real_set_mac(d, addr)
        if ret:
            refused.append(addr)
        return ret

    dev.netdev_ops.set_mac_address = set_mac  # type: ignore[method-assign]
    try:
        host.dev_open(dev)  # up on both sides, as `netdrv load` leaves it
        batch, kernel.queue = kernel.queue, []
        ks._handle_events(batch)
        # Each setting's last change (up, mtu, address), the user's or the driver's: the
        # state both ends must settle on.  None once the user made a change the driver may
        # refuse: netdrv reverts it when it reads the event, and a later change of the user's
        # may have come before that.  The driver's own next change settles it again.
        last: list[Any] = [kernel.up, kernel.mtu, kernel.addr]
        may_refuse = False  # an address change the driver may refuse (EBUSY while up)
        addr_unread = False  # the user set an address: the driver may not have it yet
        for op, arg in ops:
            if op == "user up" and kernel.up != arg:
                kernel.change(up=arg)
                last[0] = arg
            elif op == "user mtu":
                kernel.change(mtu=arg)
                last[1] = arg if arg <= 1500 and last[1] is not None else None  # snull: <= 1500
            elif op == "user address":
                if kernel.up:  # while up the driver refuses it (EBUSY)
                    may_refuse = True
                    last[2] = None
                kernel.change(addr=arg)
                last[2] = arg if last[2] is not None else None
                addr_unread = True
            elif op == "driver up":
                if dev.is_up != arg:
                    (host.dev_open if arg else host.dev_close)(dev)
                    last[0] = arg
                    if arg and addr_unread:  # the address may reach a driver up by now
                        may_refuse = True
                        last[2] = None
            elif op == "driver mtu":
                if dev.mtu != arg and host.dev_set_mtu(dev, arg) == 0:
                    last[1] = arg
            elif op == "driver address":
                may_refuse = True  # the driver's own, while up
                if dev.dev_addr != arg and host.dev_set_mac_address(dev, arg) == 0:
                    last[2] = arg
                    addr_unread = False  # the user's addresses before it are older
            elif op == "read":
                kernel.batch = arg
                ks._on_netlink()
            elif op == "overflow":
                kernel.congested = True
        kernel.batch = 1000
        for _ in range(20):  # what netdrv writes queues events too: it must die down
            if not kernel.queue and not kernel.congested and not ks._backlog:
                break
            ks._on_netlink()
        assert not kernel.queue, "kernel and driver keep changing each other"
        assert ks.counters["netlink_overflows"] == kernel.overflows
    finally:
        host.attachment = memory
    assert (kernel.up, kernel.mtu, kernel.addr) == (dev.is_up, dev.mtu, dev.dev_addr)
    # No event read, lost or read back undoes a later change, the user's or netdrv's.
    for want, got in zip(last, (dev.is_up, dev.mtu, dev.dev_addr), strict=True):
        assert want is None or got == want, (last, (dev.is_up, dev.mtu, dev.dev_addr))
    if not may_refuse:
        assert not refused


class _KernelLinks:
    """sn0 (ifindex 7) and sn1 (8) on one event queue, as _KernelLink models one.

    The links' events are read in one order, so a write for one comes after the other's
    events read before it.  A dump asked for while the model still holds events (netdrv
    read to the end: they have not come yet) goes ahead of them, showing the links as they
    were before them.
    """

    def __init__(self, ports: list[_Port]) -> None:
        self.links: dict[int, list[Any]] = {p.index: [False, _kernel_mtu(p), p.dev.dev_addr]
                                            for p in ports}  # fmt: skip
        self.queue: list[LinkEvent] = []
        self.before: list[dict[int, list[Any]]] = []  # the links before each queued event
        self.congested = False
        self.batch = 1
        self.overflows = 0
        self.dump_wanted = False
        self.dumped: set[int] | None = None

    def change_link(self, index: int, *, up: bool | None = None, mtu: int | None = None,
                    addr: bytes | None = None) -> None:  # fmt: skip
        before = {i: list(link) for i, link in self.links.items()}
        link = self.links[index]
        for i, value in enumerate((up, mtu, addr)):
            if value is not None:
                link[i] = value
        assert 68 <= link[1] <= 65521, "a TAP refuses this mtu"
        if not self.congested and (link != before[index] or addr is not None):
            self.queue.append(self._link_event(index))
            self.before.append(before)

    def _link_event(self, index: int, resync: bool = False,
                    links: dict[int, list[Any]] | None = None) -> LinkEvent:  # fmt: skip
        up, mtu, addr = (links or self.links)[index]
        return LinkEvent(RTM_NEWLINK, index, IFF_UP if up else 0, 0xFFFFFFFF, f"sn{index - 7}",
                         mtu, addr, 1000, 0, resync=resync)  # fmt: skip

    def read(self) -> list[LinkEvent]:
        n = self.batch
        if self.congested:
            self.congested = False
            self.overflows += 1
            self.dump_wanted = True
            n = len(self.queue)
        batch, self.queue, self.before = self.queue[:n], self.queue[n:], self.before[n:]
        if any(ev.resync for ev in batch):
            self.dumped = set(self.links)
        return batch

    def request_dump(self) -> bool:
        if not self.dump_wanted:
            return False
        self.dump_wanted = False
        links = self.before[0] if self.before else self.links
        answer = [self._link_event(i, True, links) for i in self.links]
        self.queue[:0] = answer
        self.before[:0] = [links] * len(answer)
        return True

    def take_dump(self) -> set[int] | None:
        done, self.dumped = self.dumped, None
        return done

    def set(self, index: int, **kw: Any) -> None:
        addr = bytes.fromhex(kw["address"].replace(":", "")) if "address" in kw else None
        up = {"up": True, "down": False}.get(kw.get("state", ""))
        self.change_link(index, up=up, mtu=kw.get("mtu"), addr=addr)

    def flags(self, index: int) -> int:
        return IFF_UP if self.links[index][0] else 0


_two_op_st = st.one_of(
    st.tuples(st.sampled_from(["user up", "driver up"]), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("user mtu"), st.integers(0, 1), st.sampled_from([576, 1400, 1500])),
    st.tuples(st.just("driver mtu"), st.integers(0, 1), st.sampled_from([50, 60, 576, 1280])),
    st.tuples(st.sampled_from(["user address", "driver address"]), st.integers(0, 1), _addr_st),
    st.tuples(st.just("read"), st.just(0), st.integers(1, 4)),
    st.tuples(st.sampled_from(["overflow", "loop"]), st.just(0), st.none()),
)


@FAST
@given(ops=st.lists(_two_op_st, max_size=20), linked=st.booleans())
# A driver MTU below a TAP's minimum, twice: the link keeps 68 and the second write has no
# event of its own; the first write's echo shows both (else the user's next MTU is ignored).
@example(ops=[("driver mtu", 0, 50), ("driver mtu", 0, 60), ("user mtu", 0, 576)], linked=False)
# sn0's new MTU lowers sn1's (an upper device following its lower) while the batch read
# still holds the user's event that already set sn1 to it: that event shows the write.
@example(ops=[("user mtu", 0, 576), ("user mtu", 1, 576), ("read", 0, 2), ("user mtu", 1, 1400)],
         linked=True)  # fmt: skip
def test_two_links_agree_with_their_drivers(ops: list[tuple[str, int, Any]],
                                            linked: bool) -> None:  # fmt: skip
    """As test_kernel_and_driver_agree_however_events_are_batched, for snull's two links:
    both settle on each setting's last change, and no write of netdrv's is still waited
    for (a wait that never ends ignores every later change of the user's).  sn0 and sn1
    take MTUs from 1 (the link gets a TAP's 68); ``linked``: sn0's lowers sn1's."""
    with _kernel_view() as (host, ks, port0, _):
        port1 = _Port(host.devices["sn1"], _FakeTunTap(), 8)  # type: ignore[arg-type]
        ks.ports["sn1"], ks._by_index[8] = port1, port1
        _run_two(host, ks, [port0, port1], ops, linked)


def _run_two(host: Host, ks: KernelStack, ports: list[_Port], ops: list[tuple[str, int, Any]],
             linked: bool) -> None:  # fmt: skip
    devs = [p.dev for p in ports]

    def change_mtu(d: Any, mtu: int) -> int | None:
        if mtu > 1500:
            return -errno.EINVAL
        d.mtu = mtu
        if linked and d is devs[0] and devs[1].mtu > mtu:
            host.dev_set_mtu(devs[1], mtu)
        return 0

    for dev in devs:
        dev.min_mtu = 1
        dev.netdev_ops.change_mtu = change_mtu  # type: ignore[method-assign, assignment]
    kernel = _KernelLinks(ports)
    ks._cfg = kernel  # type: ignore[assignment]
    ks._mon = kernel  # type: ignore[assignment]
    memory = host.attachment
    host.attachment = ks
    try:
        for dev in devs:
            host.dev_open(dev)
        kernel.batch = 1000
        ks._on_netlink()
        host.loop.run_until_idle()
        # Each link's last change per setting (None: the driver may have refused it, or
        # another link's change may have set it).
        last = [list(kernel.links[p.index]) for p in ports]
        unread = [False, False]  # the user set an address the driver may not have yet
        for op, i, arg in ops:
            port, dev, want = ports[i], devs[i], last[i]
            link = kernel.links[port.index]
            if op == "user up" and link[0] != arg:
                kernel.change_link(port.index, up=arg)
                want[0] = arg
            elif op == "user mtu":
                kernel.change_link(port.index, mtu=arg)
                want[1] = arg if want[1] is not None else None
            elif op == "user address":
                kernel.change_link(port.index, addr=arg)
                want[2] = arg if not link[0] and want[2] is not None else None
                unread[i] = True
            elif op == "driver up" and dev.is_up != arg:
                (host.dev_open if arg else host.dev_close)(dev)
                want[0] = arg
                if arg and unread[i]:
                    want[2] = None
            elif op == "driver mtu" and dev.mtu != arg and host.dev_set_mtu(dev, arg) == 0:
                want[1] = arg
            elif op == "driver address":
                if dev.dev_addr != arg and host.dev_set_mac_address(dev, arg) == 0:
                    want[2] = arg
                    unread[i] = False
            elif op == "read":
                kernel.batch = arg
                ks._on_netlink()
            elif op == "overflow":
                kernel.congested = True
            elif op == "loop":  # the calls due soon (a catch-up's _on_netlink)
                kernel.batch = 1
                host.loop.run_until_idle()
            if linked:
                last[1][1] = None  # sn0's MTU may lower sn1's once its event is applied
        kernel.batch = 1000
        for _ in range(20):
            if not kernel.queue and not kernel.congested and not ks._backlog:
                break
            ks._on_netlink()
        host.loop.run_until_idle()
        assert not kernel.queue, "kernel and driver keep changing each other"
        assert ks.counters["netlink_overflows"] == kernel.overflows
    finally:
        host.attachment = memory
    for port, dev, want in zip(ports, devs, last, strict=True):
        got = [dev.is_up, _kernel_mtu(port), dev.dev_addr]
        assert kernel.links[port.index] == got, (dev.name, kernel.links[port.index], got)
        got[1] = dev.mtu
        assert all(w is None or w == g for w, g in zip(want, got, strict=True)), (want, got)
        assert not port.p_up and not port.p_mtu and not port.p_addr, "a write waited for"


def test_a_users_state_read_between_two_reverts_shows_the_second() -> None:
    """_reconcile reverts a refused MTU, then a refused open (the link down again).  The
    user takes the link down in between (read by the MTU write's catch-up): writing "down"
    then changes nothing and has no echo, and the user's event shows it; waiting for an
    echo would ignore every later "up" of the user's."""
    with _kernel_view() as (host, ks, port, _):
        dev = port.dev
        kernel = _KernelLink(port)
        ks._cfg = kernel  # type: ignore[assignment]
        ks._mon = kernel  # type: ignore[assignment]
        memory = host.attachment
        host.attachment = ks
        real_open = dev.netdev_ops.open
        try:
            kernel.batch = 1000
            kernel.change(mtu=9000)  # snull refuses it (68..1500)
            kernel.change(up=True)  # and, patched, the open
            dev.netdev_ops.open = lambda d: -errno.EIO  # type: ignore[method-assign]
            real_read, reads = kernel.read, []

            def read() -> list[LinkEvent]:
                reads.append(1)
                if len(reads) == 3:  # the MTU revert's catch-up: the user's "down" is queued
                    kernel.change(up=False)
                return real_read()

            kernel.read = read  # type: ignore[method-assign]
            ks._on_netlink()
            dev.netdev_ops.open = real_open  # type: ignore[method-assign]
            for _ in range(5):
                ks._on_netlink()
            assert not port.p_up, "a write waits for an echo the kernel never sends"
            kernel.change(up=True)  # the user's next "up" reaches the driver
            ks._on_netlink()
            assert dev.is_up and kernel.up and dev.mtu == kernel.mtu == 1500
        finally:
            dev.netdev_ops.open = real_open  # type: ignore[method-assign]
            host.attachment = memory


def test_a_change_back_after_netdrvs_own_is_seen_when_both_events_are_lost() -> None:
    """The echo of netdrv's MTU change and the user's change back are lost: the link read
    back equals the last event read, not the driver, and must be applied."""
    with _kernel_view() as (host, ks, port, _):
        _run_ops(host, ks, port, [("overflow", None), ("driver mtu", 576), ("user mtu", 1500)])
        assert port.dev.mtu == 1500
        assert ks.counters["netlink_overflows"] == 1


def test_an_mtu_below_a_taps_minimum_is_clamped_not_raised() -> None:
    """A link type accepting a smaller MTU than a TUN/TAP's 68 (LocalTalk, FDDI): the kernel
    link gets 68, as an MTU above a TAP's maximum gets the maximum; the kernel's refusal
    (EINVAL) did not reach the driver's dev_set_mtu as an exception."""
    with _kernel_view() as (host, ks, port, _):
        dev = port.dev
        kernel = _KernelLink(port)
        ks._cfg = kernel  # type: ignore[assignment]
        ks._mon = kernel  # type: ignore[assignment]
        memory = host.attachment
        host.attachment = ks
        dev.min_mtu = 1
        dev.netdev_ops.change_mtu = lambda d, mtu: setattr(d, "mtu", mtu)  # type: ignore
        try:
            assert host.dev_set_mtu(dev, 50) == 0
            assert kernel.mtu == 68
            ks._on_netlink()
            assert dev.mtu == 50 and not kernel.queue  # its echo changes nothing
        finally:
            host.attachment = memory


class _ScriptedMonitor:
    """A LinkMonitor whose dumps end when the test says, with the links it says."""

    def __init__(self) -> None:
        self.overflows = 0
        self.dump_wanted = False
        self.done: set[int] | None = None
        self.asked = 0

    def read(self) -> list[LinkEvent]:
        return []

    def request_dump(self) -> bool:
        if not self.dump_wanted:
            return False
        self.dump_wanted = False
        self.asked += 1
        return True

    def take_dump(self) -> set[int] | None:
        done, self.done = self.done, None
        return done


def test_a_dump_is_judged_against_the_links_it_was_asked_about(
    kernel_view: tuple[Host, KernelStack, _Port, _FakeLinkConfig],
) -> None:
    # Dump A was asked about sn0 only; sn1 was attached while it ran.  A ends in the same
    # read as a new overflow, which asks for dump B: A must not declare sn1 gone (it was
    # never asked about), and B, which does not show sn1, must.
    host, ks, port, _cfg = kernel_view
    mon = _ScriptedMonitor()
    ks._mon = mon  # type: ignore[assignment]
    ks._dump_ports = {7}
    sn1 = _Port(host.devices["sn1"], _FakeTunTap(), 8)  # type: ignore[arg-type]
    ks.ports["sn1"], ks._by_index[8] = sn1, sn1
    mon.done, mon.dump_wanted = {7}, True  # A showed sn0; events were lost again
    ks._on_netlink()
    assert mon.asked == 1 and ks.ports.get("sn1") is sn1 and ks.ports.get("sn0") is port
    assert ks._dump_ports == {7, 8}
    mon.done = {7}  # B: sn1 is gone, its DELLINK lost
    ks._on_netlink()
    assert "sn1" not in ks.ports and ks.ports.get("sn0") is port
    assert ks._dump_ports == set()
    ks._mon = None


def test_an_ip_link_refusal_logs_the_drivers_words(caplog) -> None:
    """``ip link set sn0 mtu 1400`` refused with ``OSError(EBUSY, "why")``: the log has why."""
    with _kernel_view() as (_host, ks, port, _cfg):
        dev = port.dev

        def change_mtu(d: Any, mtu: int) -> int:
            raise OSError(errno.EBUSY, "the ring is being resized")

        dev.netdev_ops.change_mtu = change_mtu  # type: ignore[method-assign]
        ev = LinkEvent(RTM_NEWLINK, 7, dev.flags, 0, name="sn0", mtu=1400)
        with caplog.at_level("WARNING", logger="netdrv.attach.tap"):
            ks._handle_events([ev])
        assert dev.mtu == 1500
        assert any("refused mtu 1400 (EBUSY: the ring is being resized)" in r.getMessage()
                   for r in caplog.records), caplog.text  # fmt: skip
