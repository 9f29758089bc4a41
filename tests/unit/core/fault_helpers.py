"""What the fault-injector tests share: numbered UDP frames, the books of FaultStats, and
the timers an injector left on the loop."""

from __future__ import annotations

from frames import ETH_P_IP, eth_frame, udp_packet

from netdrv_core import Host, NetDevice
from netdrv_core.phy import FaultInjector, FaultStats

SRC, DST = "198.18.0.1", "198.18.0.2"
HOST_MAC = b"\x02\xaa\xbb\xcc\xdd\xee"


def frame_n(dev: NetDevice, i: int, size: int = 40) -> bytes:
    """Frame ``i`` from ``dev`` to the host: a UDP packet whose payload repeats ``i``."""
    payload = (i.to_bytes(4, "big") * (size // 4 + 1))[:size]
    return eth_frame(dev.dev_addr, HOST_MAC, ETH_P_IP, udp_packet(SRC, DST, 1, 2, payload))


def index_of(frame: bytes) -> int:
    """The ``i`` of a :func:`frame_n` frame."""
    return int.from_bytes(frame[14 + 28 : 14 + 32], "big")


def balanced(st: FaultStats) -> bool:
    """The injector's books: every frame seen, copied or cut up has ended or is held."""
    ended = st.delivered + st.dropped + st.rate_limited + st.limit_dropped + st.purged
    return st.seen + st.duplicated + st.segmented == ended + st.pending


def live_timers(host: Host, fi: FaultInjector) -> list[object]:
    """The timers ``fi`` left on the host's loop that would still run."""
    return [t for _, _, t in host.loop._timers
            if not t.cancelled and getattr(t.callback, "__self__", None) is fi]  # fmt: skip
