"""``netdrv ethtool -g`` and ``-c``: the layout of ethtool 6.1 (netlink/rings.c and
netlink/coalesce.c), byte for byte, with the attributes Linux's ``rings_fill_reply`` and
``coalesce_fill_reply`` would include for what netdrv's drivers report.

As test_cli_ethtool: an in-process daemon (snull, plus a device with every tuning op)
behind a client that round-trips each message through JSON and the protocol check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_cli_ethtool import TunableEthtool, in_process_daemon, ok

from netdrv_core import NetDeviceOps, alloc_netdev, ether_setup
from netdrv_core.daemon import Daemon
from netdrv_core.ethtool import Coalesce


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    tn0 = alloc_netdev(None, "tn0", ether_setup)
    tn0.netdev_ops = NetDeviceOps()
    tn0.dev_addr = b"\x02\x00\x00\x00\x00\x44"
    tn0.ethtool_ops = TunableEthtool()
    with in_process_daemon(monkeypatch, tn0) as d:
        yield d


def test_rings_show_ethtool_6_1_s_lines_past_the_legacy_ones(daemon: Daemon) -> None:
    """ethtool 6.1's rings_reply_cb prints RX Buf Len, CQE Size (show_u32: ``n/a`` when the
    attribute is absent), TX Push (show_bool) and TCP data split after the four rings.
    Linux 6.1's rings_fill_reply puts RX_BUF_LEN, CQE_SIZE and TCP_DATA_SPLIT only when
    nonzero — a driver of netdrv's (struct ethtool_ringparam only) leaves them 0 — and
    TX_PUSH always (``!!kr->tx_push``: off)."""
    assert ok("-g", "sn0") == (
        "Ring parameters for sn0:\n"
        "Pre-set maximums:\n"
        "RX:\t\tn/a\nRX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t65536\n"
        "Current hardware settings:\n"
        "RX:\t\tn/a\nRX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t8\n"
        "RX Buf Len:\t\tn/a\nCQE Size:\t\tn/a\nTX Push:\toff\nTCP data split:\tn/a\n"
    )
    # --json stays the structure the driver filled
    assert set(json.loads(ok("-g", "sn0", "--json"))) == {
        "rx_max_pending", "rx_mini_max_pending", "rx_jumbo_max_pending", "tx_max_pending",
        "rx_pending", "rx_mini_pending", "rx_jumbo_pending", "tx_pending",
    }  # fmt: skip


# The real ethtool 6.1 on a kernel 6.18 tap device (tun's supported_coalesce_params is
# ETHTOOL_COALESCE_RX_MAX_FRAMES, rx_batched 0), `ethtool -c tp0 | cat -A`:
#   Coalesce parameters for tp0:$            rx-usecs-low: n/a$
#   Adaptive RX: n/a  TX: n/a$               rx-frame-low: n/a$
#   stats-block-usecs: n/a$                  tx-usecs-low: n/a$
#   sample-interval: n/a$                    tx-frame-low: n/a$
#   pkt-rate-low: n/a$                       $
#   pkt-rate-high: n/a$                      rx-usecs-high: n/a$
#   $                                        rx-frame-high: n/a$
#   rx-usecs: n/a$                           tx-usecs-high: n/a$
#   rx-frames: 0$                            tx-frame-high: n/a$
#   rx-usecs-irq: n/a$                       $
#   rx-frames-irq: n/a$                      CQE mode RX: n/a  TX: n/a$
#   $                                        $
#   tx-usecs: n/a$
#   tx-frames: n/a$
#   tx-usecs-irq: n/a$
#   tx-frames-irq: n/a$
#   $
_COALESCE_REST = (
    "rx-usecs-irq: n/a\nrx-frames-irq: n/a\n\n"
    "tx-usecs: {tx_usecs}\ntx-frames: n/a\ntx-usecs-irq: n/a\ntx-frames-irq: n/a\n\n"
    "rx-usecs-low: n/a\nrx-frame-low: n/a\ntx-usecs-low: n/a\ntx-frame-low: n/a\n\n"
    "rx-usecs-high: n/a\nrx-frame-high: n/a\ntx-usecs-high: n/a\ntx-frame-high: n/a\n\n"
    "CQE mode RX: n/a  TX: n/a\n\n"
)


def test_coalesce_shows_ethtool_6_1_s_layout(daemon: Daemon) -> None:
    """ethtool 6.1's coalesce_reply_cb: every parameter ``name: value`` (``n/a`` for an
    absent attribute), in its groups; the kernel includes those the driver supports."""
    assert ok("-c", "tn0") == (
        "Coalesce parameters for tn0:\n"
        "Adaptive RX: off  TX: n/a\n"
        "stats-block-usecs: n/a\nsample-interval: n/a\npkt-rate-low: n/a\npkt-rate-high: n/a\n"
        "\nrx-usecs: 3\nrx-frames: 16\n" + _COALESCE_REST.format(tx_usecs="n/a")
    )


def test_coalesce_shows_a_set_value_the_driver_does_not_claim_to_support(
    daemon: Daemon,
) -> None:
    """Linux's coalesce_put_u32/_bool leave a parameter out only when it is 0 *and* not in
    supported_coalesce_params: a value the driver set is shown all the same."""
    ops: TunableEthtool = daemon.host.devices["tn0"].ethtool_ops  # type: ignore[assignment]
    ops.coalesce = Coalesce(rx_coalesce_usecs=3, rx_max_coalesced_frames=16,
                            tx_coalesce_usecs=7, use_adaptive_tx_coalesce=True)  # fmt: skip
    assert ok("-c", "tn0").startswith("Coalesce parameters for tn0:\nAdaptive RX: off  TX: on\n")
    assert ok("-c", "tn0").endswith("\nrx-usecs: 3\nrx-frames: 16\n"
                                    + _COALESCE_REST.format(tx_usecs="7"))  # fmt: skip
    out = json.loads(ok("-c", "tn0", "--json"))
    assert (out["tx_coalesce_usecs"], out["use_adaptive_tx_coalesce"]) == (7, True)
    assert out["tx_max_coalesced_frames"] is None  # 0 and unsupported: absent (n/a)
