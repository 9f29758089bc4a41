"""Coverage-guided fuzz targets for the core's parsers (atheris / libFuzzer).

Run on demand, one target at a time; extra arguments go to libFuzzer::

    python fuzz/atheris_core.py vnet -max_total_time=60
    python fuzz/atheris_core.py control corpus_dir/ -jobs=2
    python fuzz/atheris_core.py --smoke 2000      # every target, random inputs, no atheris

Targets:

``vnet``     a virtio-net header + frame into ``apply_vnet_header``: only
             VnetHeaderError; a checksum it accepts lies inside the frame.
``netlink``  a datagram into ``parse_link_messages``: never raises, output
             bounded by the input.
``control``  bytes on a control connection (any chunking) into
             ``decode_message``, then ``validate_request`` and the handler of a
             daemon on the memory attachment: only NetdrvError, a JSON-able
             reply, and the daemon still answers ``ping``.
``params``   text as ``name=value`` words into ``parse_params`` of every
             first-party driver: only ParameterError, values within their
             declared types and limits.
``snull``    frames into sn0 on the memory attachment: never raises, every
             frame ends exactly once (``tx_packets + tx_dropped + tx_errors ==
             tx_submitted``, receive side likewise).

Each target raises AssertionError when the contract breaks, which libFuzzer
reports as a crash with the input.  atheris is optional (``pip install
atheris``) and imported only when a target is run.
"""

from __future__ import annotations

import json
import logging
import math
import random
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

TARGET_NAMES = ("vnet", "netlink", "control", "params", "snull")


def _split(data: bytes) -> list[bytes]:
    return _harness.split(data, scale=4)


def build_targets() -> dict[str, Callable[[bytes], None]]:
    """Import netdrv (inside atheris' instrumentation when it is active) and make the targets."""
    from netdrv_core import Host
    from netdrv_core.attach.netlink import parse_link_messages
    from netdrv_core.attach.vnet import VNET_HDR_LEN, VnetHeaderError, apply_vnet_header
    from netdrv_core.control import ProtocolError, decode_message, encode_message, validate_request
    from netdrv_core.daemon import Daemon
    from netdrv_core.errors import NetdrvError, ParameterError
    from netdrv_core.params import parse_params
    from netdrv_core.plugins import PluginManager
    from netdrv_core.skbuff import CHECKSUM_PARTIAL, SkBuff

    logging.getLogger("netdrv").setLevel(logging.CRITICAL)  # faults are expected, and many
    pm = PluginManager()
    drivers = ("snull", "loopback", "slip", "usbnet")
    declared = {name: pm.driver_parameters(name) for name in drivers}

    def vnet(data: bytes) -> None:
        hdr, frame = data[:VNET_HDR_LEN], data[VNET_HDR_LEN:]
        skb = SkBuff(16 + len(frame))
        skb.data = skb.tail = 16
        skb.put_data(frame)
        try:
            apply_vnet_header(hdr, skb)
        except VnetHeaderError:
            return
        if skb.ip_summed == CHECKSUM_PARTIAL:
            assert skb.data <= skb.csum_start and skb.csum_start + skb.csum_offset + 2 <= skb.tail
        assert (skb.gso_size == 0) == (skb.gso_type == 0)

    def netlink(data: bytes) -> None:
        events = parse_link_messages(data)
        assert len(events) <= len(data) // 32
        for ev in events:
            assert isinstance(ev.name, str) and ev.index == int(ev.index)

    # One daemon for every input (fresh ones would be slow); drivers loaded by an input are
    # unloaded after it, so inputs stay independent.
    host = Host()
    daemon = Daemon(host=host, pm=pm, exit_when_empty=False, watchdog=None)

    def control(data: bytes) -> None:
        buf = bytearray()
        for chunk in _split(data):
            buf += chunk
            while True:
                try:
                    req = decode_message(buf)
                except ProtocolError:
                    return  # the daemon answers and closes this connection
                if req is None:
                    break
                req.pop("plugins", None)  # would import modules named by the input
                if req.get("cmd") in ("stop", "capture"):
                    req["cmd"] = "ping"  # stop ends the daemon; capture streams (unit-tested)
                try:
                    validate_request(req)
                    reply = daemon.handle(req, None)
                except NetdrvError:
                    continue
                assert reply is not None and isinstance(reply.get("ok"), bool)
                encode_message(reply)
        for name in list(daemon.drivers):
            daemon.unload(name)
        pm.extra[:] = []
        host.loop.run_until_idle()
        assert daemon.handle({"cmd": "ping"}, None)["ok"]

    def params(data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        words = [w for w in text.replace("\0", " ").split(" ") if w]
        for name in drivers:
            decl = declared[name]
            try:
                values = parse_params(name, decl, words)
            except ParameterError:
                continue
            for p in decl:
                v = values[p.name]
                if isinstance(v, float):
                    assert math.isfinite(v)
                if p.choices is not None:
                    assert v in p.choices
                if p.min is not None and isinstance(v, int | float):
                    assert v >= p.min
                if p.max is not None and isinstance(v, int | float):
                    assert v <= p.max

    def snull(data: bytes) -> None:
        from netdrv_snull.driver import Snull

        flags = data[0] if data else 0
        words = ["configure=0", f"lockup={flags % 4}", f"use_napi={flags >> 2 & 1}",
                 f"pool_size={1 + (flags >> 3 & 3)}"]  # fmt: skip
        h = Host()
        drv = Snull(h, parse_params("snull", Snull.parameters, words))
        with h.as_current():
            drv.init()
        mem: Any = h.attachment
        sn0, sn1 = h.devices["sn0"], h.devices["sn1"]
        try:
            mem.up(sn0)
            mem.up(sn1)
            frames = _split(data[1:])
            for f in frames:
                mem.send(sn0, b"\x00SNUL1\x00SNUL0\x08\x00" + f if f[:1] == b"\x45" else f)
                h.loop.run_until_idle()
            mem.down(sn0)  # what is locked up or queued ends now, counted
            h.loop.run_until_idle()
            cs, st = sn0.core_stats, sn0.stats
            assert cs.tx_submitted + cs.tx_qdisc_drops == len(frames)
            assert cs.tx_submitted == st.tx_packets + st.tx_dropped + st.tx_errors
            c1 = sn1.core_stats
            assert c1.rx_submitted == c1.rx_delivered + c1.rx_backlog_drops + c1.rx_down_drops
        finally:
            with h.as_current():
                drv.exit()
            h.close()
            h.loop.close()

    return {"vnet": vnet, "netlink": netlink, "control": control, "params": params,
            "snull": snull}  # fmt: skip


def _smoke_input(name: str, rnd: random.Random) -> bytes:
    """Random inputs shaped enough to get past each parser's first checks."""
    if name == "control":
        cmd = rnd.choice(["ping", "status", "load", "unload", "set", "bogus", 7, None])
        req: dict[str, Any] = {"cmd": cmd}
        for key, values in (("driver", ["snull", "loopback", "nosuch", "", 3]),
                            ("params", [["configure=0"], ["lockup=x"], "x", [1]]),
                            ("dev", ["sn0", "nlo0", "x", None]), ("ioctl", [0x89F0, "x", -1]),
                            ("ifmap", [{"irq": 5}, [], {"irq": "x"}]), ("count", [1, -1, "x"])):  # fmt: skip
            if rnd.random() < 0.5:
                req[key] = rnd.choice(values)
        body = json.dumps(req).encode()
        if rnd.random() < 0.2:
            body = body[: rnd.randrange(len(body) + 1)] + bytes(
                rnd.randrange(256) for _ in range(5)
            )
        framed = struct.pack("!I", len(body)) + body
        n = rnd.randrange(8)  # _split: first byte % 8 + 1 chunk sizes follow
        return bytes([n]) + bytes(rnd.randrange(1, 20) for _ in range(n + 1)) + framed
    if name == "params":
        names = ["lockup", "pool_size", "retry_max", "mode", "port", "hotplug_interval", "mtu",
                 "vid", "x"]  # fmt: skip
        vals = ["1", "-1", "nan", "inf", "0x10", "1e309", "kiss", "", "é", "9" * 50]
        return " ".join(f"{rnd.choice(names)}={rnd.choice(vals)}"
                        for _ in range(rnd.randrange(5))).encode()  # fmt: skip
    specials = bytes([0x00, 0x01, 0x02, 0x10, 0x45, 0x08, 0xFF, 0x14, 0x11, 0x06])
    return _harness.random_bytes(rnd, specials, 400, 0.4)


def smoke(iterations: int) -> int:
    """Run every target on random inputs (no atheris needed); for CI and quick checks."""
    _harness.ensure_importable("netdrv_core")
    return _harness.smoke(TARGET_NAMES, build_targets(), _smoke_input, iterations, seed=1010,
                          runs=lambda name, n: n if name != "snull" else max(1, n // 10))  # fmt: skip


def main(argv: list[str]) -> int:
    """Entry point: ``atheris_core.py TARGET [libFuzzer args]``, ``--smoke [N]`` or ``list``."""
    return _harness.main(argv, doc=__doc__ or "", package="netdrv_core", names=TARGET_NAMES,
                         build_targets=build_targets, run_smoke=smoke)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv))
