"""Two namespaces whose ends of the cable disagree on the line mode (a user's typo)."""

from __future__ import annotations

import shutil

import pytest

from .helpers import status, wait_for
from .serial_helpers import Cable

pytestmark = pytest.mark.netns

A, B = "198.18.5.1", "198.18.5.2"


@pytest.fixture
def cable():
    c = Cable(0, use_socat=shutil.which("socat") is not None)
    yield c
    c.close()


def test_walk_cslip_peer_of_a_slip_end_shows_as_frame_errors(netns_factory, cable) -> None:
    a, b = netns_factory(), netns_factory()
    a.netdrv(f"load slip port={cable.a} local={A}/32 peer={B} mode=cslip")
    b.netdrv(f"load slip port={cable.b} local={B}/32 peer={A} mode=slip")
    # A TCP connect from the CSLIP end: its SYN goes as UNCOMPRESSED_TCP, whose first
    # byte is no IP version; the plain SLIP end cannot pass it to the kernel.
    a.run(f"timeout 3 bash -c 'exec 3<>/dev/tcp/{B}/7359' || true", check=False)

    def sl0() -> dict:
        st = status(b)
        return next(d for d in st["devices"] if d["name"] == "sl0") | {"att": st["attachment"]}

    assert wait_for(lambda: sl0()["stats"]["rx_frame_errors"] > 0, timeout=10)
    d = sl0()
    # Counted as the link's frame errors, not handed to the TUN to be refused (which the
    # kernel attachment counts as "rejected" and rx_dropped).
    assert d["stats"]["rx_errors"] >= d["stats"]["rx_frame_errors"] > 0
    assert d["att"]["rejected"] == 0 and d["core"]["rx_down_drops"] == 0
