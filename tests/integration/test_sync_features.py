"""The kernel's own ``ethtool -K`` on a netdrv link reaches the driver, and back.

rtnetlink reports a features change with an RTM_NEWLINK carrying IFLA_EVENT_FEATURES
(and nothing about the features): the attachment reads the link's features with
SIOCETHTOOL, hands the change to the driver as ``wanted_features`` through
``netdev_update_features``, and writes the device's features back to the link, so
``ethtool -k DEV`` and ``netdrv ethtool -k DEV`` agree.  These run the real ethtool.
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from netdrv_core.testing import NetNamespace

from .helpers import wait_for

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(shutil.which("ethtool") is None, reason="needs ethtool(8)"),
]

# The features kept in step (a TAP's other features are its own, or fixed).
SYNCED = ("tx-scatter-gather", "tx-generic-segmentation", "tx-checksum-ip-generic",
          "tx-tcp-segmentation", "tx-tcp6-segmentation", "tx-udp-segmentation", "rx-gro")  # fmt: skip


def kernel_features(ns: NetNamespace, dev: str) -> dict[str, dict[str, bool]]:
    """``ethtool -k DEV`` as netdrv's JSON shows features: active, requested, fixed."""
    out: dict[str, dict[str, bool]] = {}
    for line in ns.run(f"ethtool -k {dev}").stdout.splitlines()[1:]:
        name, _, rest = line.strip().partition(": ")
        words = rest.split()
        if not words:
            continue
        active = words[0] == "on"
        requested = active
        if "[requested" in rest:
            requested = rest.split("[requested ", 1)[1].startswith("on")
        out[name] = {"active": active, "requested": requested, "fixed": "[fixed]" in rest}
    # ethtool shows these under their heading
    out["rx-gro"] = out["generic-receive-offload"]
    out["tx-generic-segmentation"] = out["generic-segmentation-offload"]
    return out


def netdrv_features(ns: NetNamespace, dev: str) -> dict[str, dict[str, bool]]:
    """``netdrv ethtool --json -k DEV``."""
    return json.loads(ns.netdrv(f"ethtool --json -k {dev}").stdout)["features"]


def agree(ns: NetNamespace, dev: str, **expect: bool) -> bool:
    """Both views show each kept feature alike (on or off, and requested), and as ``expect``
    says for those named (``tx_tcp_segmentation=False``)."""
    k, n = kernel_features(ns, dev), netdrv_features(ns, dev)
    for name in SYNCED:
        if (k[name]["active"], k[name]["requested"]) != (n[name]["active"], n[name]["requested"]):
            return False
    return all(n[key.replace("_", "-")]["active"] == on for key, on in expect.items())


def test_kernel_ethtool_changes_reach_the_driver_and_netdrv_changes_the_link(
    netns: NetNamespace,
) -> None:
    netns.netdrv("load snull")
    assert agree(netns, "sn0", tx_checksum_ip_generic=True, tx_tcp_segmentation=True)
    netns.run("ethtool -K sn0 tso off tx off")
    # Without the features event followed, netdrv kept them on (and offered them to the TAP).
    assert wait_for(lambda: agree(netns, "sn0", tx_checksum_ip_generic=False,
                                  tx_tcp_segmentation=False, tx_tcp6_segmentation=False))  # fmt: skip
    netns.run("ping -c1 -W5 198.18.0.2")
    # netdrv's own ethtool turns them on again, in the kernel too (the TAP no longer masks
    # them by the link's request the user had set off).
    netns.netdrv("ethtool -K sn0 tx on tso on")
    assert wait_for(lambda: agree(netns, "sn0", tx_checksum_ip_generic=True,
                                  tx_tcp_segmentation=True, tx_tcp6_segmentation=True))  # fmt: skip
    k = kernel_features(netns, "sn0")
    assert k["tx-checksum-ip-generic"]["active"] and k["tx-tcp-segmentation"]["active"]
    # Scatter-gather off takes TSO with it on both sides (requested, but not on).
    netns.run("ethtool -K sn0 gro off sg off")
    assert wait_for(lambda: agree(netns, "sn0", rx_gro=False, tx_scatter_gather=False,
                                  tx_tcp_segmentation=False))  # fmt: skip
    assert netdrv_features(netns, "sn0")["tx-tcp-segmentation"]["requested"]
    netns.run("ethtool -K sn0 sg on")
    assert wait_for(lambda: agree(netns, "sn0", tx_scatter_gather=True, tx_tcp_segmentation=True))
    netns.run("ping -c1 -W5 198.18.0.2")


def test_a_driver_that_starts_with_offloads_off_gets_them_from_the_kernel_side(
    netns: NetNamespace,
) -> None:
    netns.netdrv("load snull offload=0")
    assert agree(netns, "sn1", tx_checksum_ip_generic=False, tx_tcp_segmentation=False)
    netns.run("ethtool -K sn1 tx on sg on tso on")
    assert wait_for(lambda: agree(netns, "sn1", tx_checksum_ip_generic=True,
                                  tx_scatter_gather=True, tx_tcp_segmentation=True))  # fmt: skip
    netns.run("ping -c1 -W5 198.18.1.1")


def test_ipv4_id_mangling_is_kept_in_step_and_never_on_the_link_alone(
    netns: NetNamespace,
) -> None:
    # tx-tcp-mangleid-segmentation has no TUNSETOFFLOAD flag: the link does what is requested,
    # and netdrv requests it there only while the device has it on (with it on, the kernel
    # hands over fixed-ID super-frames, read back as plain TCPV4 whose IDs the device counts).
    name = "tx-tcp-mangleid-segmentation"
    netns.netdrv("load snull")

    def both() -> tuple[bool, bool]:  # (the link's, the device's) active
        return (kernel_features(netns, "sn0")[name]["active"],
                netdrv_features(netns, "sn0")[name]["active"])  # fmt: skip

    assert both() == (False, False)  # changeable beside TSO, off (register_netdevice)
    netns.netdrv(f"ethtool -K sn0 {name} on")
    assert wait_for(lambda: both() == (True, True))
    netns.run(f"ethtool -K sn0 {name} off")
    assert wait_for(lambda: both() == (False, False))
    netns.run(f"ethtool -K sn0 {name} on")
    assert wait_for(lambda: both() == (True, True))
    # IPv4 TSO off on the link takes it off on both sides (the device still wants it), and
    # TSO on brings it back on both.
    netns.run("ethtool -K sn0 tx-tcp-segmentation off")
    assert wait_for(lambda: both() == (False, False))
    assert netdrv_features(netns, "sn0")[name]["requested"]
    netns.run("ethtool -K sn0 tx-tcp-segmentation on")
    assert wait_for(lambda: both() == (True, True))
    netns.run("ping -c1 -W5 198.18.0.2")


def test_gso_is_kept_in_step(netns: NetNamespace) -> None:
    # GSO, on every device: the link's is the device's request, and its kernel drops it
    # without scatter-gather as netdrv does.
    netns.netdrv("load snull")
    assert agree(netns, "sn0", tx_generic_segmentation=True)
    netns.netdrv("ethtool -K sn0 gso off")
    assert wait_for(lambda: agree(netns, "sn0", tx_generic_segmentation=False))
    netns.run("ethtool -K sn0 gso on")
    assert wait_for(lambda: agree(netns, "sn0", tx_generic_segmentation=True))
    netns.netdrv("ethtool -K sn0 sg off")
    assert wait_for(lambda: agree(netns, "sn0", tx_scatter_gather=False,
                                  tx_generic_segmentation=False))  # fmt: skip
    assert kernel_features(netns, "sn0")["tx-generic-segmentation"]["requested"]
    netns.run("ethtool -K sn0 sg on")
    assert wait_for(lambda: agree(netns, "sn0", tx_scatter_gather=True,
                                  tx_generic_segmentation=True))  # fmt: skip
    netns.run("ping -c1 -W5 198.18.0.2")


def test_a_feature_the_tap_has_fixed_is_refused_by_the_kernel(netns: NetNamespace) -> None:
    netns.netdrv("load snull")
    res = netns.run("ethtool -K sn0 rx on", check=False)
    assert res.returncode != 0  # "Could not change any device features": no event either
    assert kernel_features(netns, "sn0")["rx-checksumming"]["fixed"]
    # The next change on the kernel side is followed as any other.
    netns.run("ethtool -K sn0 gro off")
    assert wait_for(lambda: agree(netns, "sn0", rx_gro=False))
    assert not netdrv_features(netns, "sn0")["rx-checksum"]["active"]


REFUSALS = r"""
import copy, errno, json, logging, select, subprocess
from netdrv_core.attach.tap import KernelStack
from netdrv_core.ethtool import ethtool_features, ethtool_set_features
from netdrv_core.host import Host
from netdrv_core.netdevice import NETIF_F_GRO, NETIF_F_SG, NETIF_F_TSO
from netdrv_core.params import parse_params
from netdrv_core.plugins import PluginManager

logs = []
class H(logging.Handler):
    def emit(self, rec):
        logs.append([rec.levelname, rec.getMessage()])
logging.getLogger("netdrv").addHandler(H(logging.INFO))
logging.getLogger("netdrv").setLevel(logging.INFO)

host = Host(KernelStack())
ks = host.attachment
pm = PluginManager()
drv = pm.get_driver("snull")(host, parse_params("snull", pm.driver_parameters("snull"), []))
with host.as_current():
    drv.init()
sn0 = host.devices["sn0"]
sn0.netdev_ops = ops = copy.copy(sn0.netdev_ops)
calls = []
def set_features(dev, features):
    calls.append(features)
    return -errno.EBUSY if dev.features & ~features & NETIF_F_TSO else 0  # TSO stays on
ops.set_features = set_features
sn0.hw_features &= ~NETIF_F_SG  # scatter-gather fixed on

def settle():
    # Apply the kernel's events until none comes: a ping-pong of writes never settles.
    fd = ks._mon.fileno()
    for rounds in range(50):
        if not select.select([fd], [], [], 0.5)[0]:
            return rounds
        host.loop.run_once(0)
        host.loop.run_until_idle()
    return rounds

def kernel(name):
    name = "generic-receive-offload" if name == "rx-gro" else name  # ethtool's heading
    out = subprocess.run(["ethtool", "-k", "sn0"], capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.strip().startswith(name + ":"))
    return line.split(": ", 1)[1]

def ethtool(*args):
    return subprocess.run(["ethtool", "-K", "sn0", *args], capture_output=True).returncode

res = {"rounds": [settle()]}
res["calls_at_start"] = len(calls)
ethtool("gro", "off")                       # accepted
res["rounds"].append(settle())
res["gro"] = (bool(sn0.features & NETIF_F_GRO), kernel("generic-receive-offload"), len(calls))
ethtool("tso", "off")                       # the driver refuses
res["rounds"].append(settle())
res["tso"] = (bool(sn0.features & NETIF_F_TSO), bool(sn0.wanted_features & NETIF_F_TSO),
              kernel("tx-tcp-segmentation"), len(calls))
ethtool("sg", "off")                        # fixed by the driver
res["rounds"].append(settle())
res["sg"] = (bool(sn0.features & NETIF_F_SG), kernel("tx-scatter-gather"),
             kernel("tx-tcp-segmentation"), len(calls))
with host.as_current():                     # netdrv's own change: no echo comes back to it
    ethtool_set_features(host, sn0, {"gro": True})
res["rounds"].append(settle())
res["netdrv_gro"] = (bool(sn0.wanted_features & NETIF_F_GRO), kernel("generic-receive-offload"),
                     len(calls))
res["views"] = {n: (f["active"], kernel(n).split()[0] == "on")
                for n, f in ethtool_features(sn0).items()
                if n in ("tx-scatter-gather", "tx-checksum-ip-generic", "tx-tcp-segmentation",
                         "tx-tcp6-segmentation", "rx-gro")}
res["logs"] = logs
with host.as_current():
    drv.exit()
print(json.dumps(res))
"""


def test_refusals_put_the_kernel_side_back_without_ping_pong(netns: NetNamespace) -> None:
    res = json.loads(netns.run([sys.executable, "-c", REFUSALS], timeout=90).stdout)
    assert all(r < 50 for r in res["rounds"]), res  # every change settled
    start = res["calls_at_start"]
    assert res["gro"] == [False, "off", start + 1], res
    # Refused: the device keeps TSO (and wants it), the link is put back on.
    assert res["tso"] == [True, True, "on", start + 2], res
    assert [
        "WARNING",
        "sn0: driver refused the features change (EBUSY); putting the link's features back",
    ] in res["logs"], res["logs"]
    # Fixed on: the driver is not asked; the link is put back, TSO with it.
    assert res["sg"] == [True, "on", "on", start + 2], res
    # Linux ignores a fixed feature's bit without a word: the reason is logged as info.
    assert any(lv == "INFO" and "tx-scatter-gather cannot be changed" in m
               for lv, m in res["logs"]), res["logs"]  # fmt: skip
    # netdrv's change reaches the link once; its echo changes nothing.
    assert res["netdrv_gro"] == [True, "on", start + 3], res
    assert all(a == b for a, b in res["views"].values()), res["views"]
