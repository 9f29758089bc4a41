"""USB Ethernet framing: CDC-NCM and AX88179, receive and transmit, 1500-byte frames.

What a frame costs between a USB transfer and the stack, in Python:

* receive: a bulk IN transfer as the adapter sends it (an NCM NTB16 / an
  AX88179 aggregate of several frames, built by the device-side encoders
  beforehand) is split by the codec's decoder; each frame becomes an skb
  (``netdev_alloc_skb_ip_align`` + copy), gets ``eth_type_trans`` and
  ``netif_rx``, and the backlog delivers it into a memory host;
* transmit: an skb goes ``dev_queue_xmit`` -> qdisc -> ``start_xmit`` of a
  minimal usbnet-like device, which frames it (NCM: batched into NTBs of up
  to 40 datagrams; AX88179: the 8-byte TX header, one frame per transfer) and
  frees it.

Target: <= 6 us per 1514-byte frame each way (CPU time, so a busy machine
does not inflate it); the baseline is the bare allocate-and-copy of the frame,
measured in the same run.

If the usbnet driver is installed (``plugins/netdrv_usbnet/driver.py``), the
same traffic also goes through it with the simulated adapter (``sim=``), over
the pyusb code path and the driver's I/O threads: frames injected on the
simulated cable until received on the interface, and sent on the interface
until the simulated cable has them.  Those rows are wall time per frame of a
flood offered in bursts of 256 frames (each burst queued at once, as a busy
link delivers them; the next burst when the last frame arrived), the best of
three rounds; the simulated adapter's own work (framing on the device side)
is in the figure too.  Both adapters run at USB 3 super speed: a gigabit
adapter needs it (high speed ends at 480 Mbit/s).

Run: ``python benchmarks/bench_usb.py [--quick]`` (no privileges needed).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check, error_row, main, row

from netdrv_core import (
    NETDEV_TX_OK,
    Host,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_netdev,
    dev_kfree_skb,
    eth_type_trans,
    ether_setup,
    netdev_alloc_skb_ip_align,
    netif_start_queue,
)
from netdrv_core.attach.memory import MemoryStack
from netdrv_core.loop import EventLoop

COMMAND = "python benchmarks/bench_usb.py"
TARGET_US = 6.0
FRAME_LEN = 1514
CLOCK = time.thread_time
MAC = b"\x02\x00\x00\x00\x00\x01"
PEER = b"\x02\x00\x00\x00\x00\x02"


def _frame(i: int = 0) -> bytes:
    payload = bytes((i + k) & 0xFF for k in range(FRAME_LEN - 14))
    return MAC + PEER + b"\x08\x00" + payload


class _FramingOps(NetDeviceOps):
    """A minimal usbnet-like device: start_xmit frames the skb and frees it."""

    def __init__(self, frame_tx: Callable[[SkBuff], None]) -> None:
        self.frame_tx = frame_tx

    def open(self, dev: NetDevice) -> int:
        netif_start_queue(dev)
        return 0

    def start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        self.frame_tx(skb)
        dev.stats.tx_packets += 1
        dev_kfree_skb(skb)
        return NETDEV_TX_OK


def _host(frame_tx: Callable[[SkBuff], None]) -> tuple[Host, NetDevice]:
    host = Host(MemoryStack(), EventLoop())

    def setup(dev: NetDevice) -> None:
        ether_setup(dev)
        dev.netdev_ops = _FramingOps(frame_tx)

    dev = alloc_netdev(None, "usb%d", setup)
    dev.dev_addr = MAC
    host.register_netdev(dev)
    host.attachment.up(dev)  # type: ignore[attr-defined]
    return host, dev


def _deliver(dev: NetDevice, rx: Callable[[SkBuff], int], frame: Any) -> None:
    """What usbnet's rx path does with one decoded frame."""
    n = len(frame)
    skb = netdev_alloc_skb_ip_align(dev, n)
    d = skb.data
    skb.buf[d : d + n] = frame
    skb.tail = d + n
    eth_type_trans(skb, dev)
    rx(skb)


def rx_us(decode: Callable[[bytes], list[Any]], transfers: list[bytes], per: int,
          repeats: int) -> tuple[float, int]:  # fmt: skip
    """Best CPU time per frame: decode each transfer and deliver its frames."""
    host, dev = _host(lambda skb: None)
    rxq = host.attachment.rx[dev.name]  # type: ignore[attr-defined]
    rx = host.netif_rx
    run_until_idle = host.loop.run_until_idle
    best = float("inf")
    got = 0
    try:
        for _ in range(repeats):
            rxq.clear()
            t0 = CLOCK()
            for t in transfers:
                for f in decode(t):
                    _deliver(dev, rx, f)
                run_until_idle()
            spent = CLOCK() - t0
            got = len(rxq)
            best = min(best, spent / (len(transfers) * per))
    finally:
        host.close()
        host.loop.close()
    return best * 1e6, got


def tx_us(make_tx: Callable[[list[bytes]], Callable[[SkBuff], None]], frames: int,
          repeats: int) -> tuple[float, int]:  # fmt: skip
    """Best CPU time per frame: dev_queue_xmit -> start_xmit -> framing."""
    out: list[bytes] = []
    host, dev = _host(make_tx(out))
    data = _frame()
    xmit = host.dev_queue_xmit
    best = float("inf")
    try:
        for _ in range(repeats):
            out.clear()
            spent = 0.0
            for _ in range(frames // 64):
                skbs = []
                for _ in range(64):
                    skb = SkBuff(34 + len(data))
                    skb.buf[34:] = data
                    skb.data = skb.mac_header = 34
                    skb.tail = 34 + len(data)
                    skb.dev = dev
                    skbs.append(skb)
                t0 = CLOCK()
                for skb in skbs:
                    xmit(skb)
                spent += CLOCK() - t0
            flush = getattr(make_tx, "flush", None)
            if flush:
                t0 = CLOCK()
                flush()
                spent += CLOCK() - t0
            best = min(best, spent / (frames // 64 * 64))
    finally:
        host.close()
        host.loop.close()
    return best * 1e6, len(out)


def floor_us(repeats: int, n: int = 20_000) -> float:
    """Allocate a buffer and copy a 1514-byte frame into it (us)."""
    data = _frame()
    best = float("inf")
    for _ in range(repeats):
        t0 = CLOCK()
        for _ in range(n):
            b = bytearray(36 + FRAME_LEN)
            b[36:] = data
        best = min(best, (CLOCK() - t0) / n)
    return best * 1e6


# -- the two framings -----------------------------------------------------------------------
def ncm(frames: int, repeats: int) -> tuple[tuple[float, int], tuple[float, int], int]:
    """(rx us, delivered), (tx us, transfers), frames per NTB."""
    from netdrv_usbnet.codecs import NtbDecoder, NtbEncoder

    dev_enc = NtbEncoder(direction="in")
    ntbs: list[bytes] = []
    per = 0
    for i in range(frames):
        f = _frame(i)
        if not dev_enc.add(f):
            per = per or dev_enc.pending
            ntbs.append(dev_enc.build())
            dev_enc.add(f)
    per = per or dev_enc.pending
    ntbs = [t for t in ntbs if t]  # full NTBs only: each holds `per` frames
    dec = NtbDecoder()
    rx = rx_us(dec.decode, ntbs, per, repeats)

    def make_tx(out: list[bytes]) -> Callable[[SkBuff], None]:
        enc = NtbEncoder()

        def frame_tx(skb: SkBuff) -> None:
            v = skb.view()
            if not enc.add(v):
                out.append(enc.build())
                enc.add(v)

        def flush() -> None:
            if enc.pending:
                out.append(enc.build())

        make_tx.flush = flush  # type: ignore[attr-defined]
        return frame_tx

    tx = tx_us(make_tx, frames, repeats)
    return rx, tx, per


def ax88179(frames: int, repeats: int) -> tuple[tuple[float, int], tuple[float, int], int]:
    """(rx us, delivered), (tx us, transfers), frames per bulk IN transfer."""
    from netdrv_usbnet.codecs import Ax88179RxDecoder, encode_rx_transfer, encode_tx

    per = 10  # ~15 KiB: what the chip aggregates in one bulk IN transfer at high speed
    transfers = [encode_rx_transfer([_frame(i + k) for k in range(per)])
                 for i in range(0, frames, per)]  # fmt: skip
    dec = Ax88179RxDecoder(copy=False)
    rx = rx_us(dec.decode, transfers, per, repeats)

    def make_tx(out: list[bytes]) -> Callable[[SkBuff], None]:
        def frame_tx(skb: SkBuff) -> None:
            out.append(encode_tx(skb.view(), max_packet=1024))

        return frame_tx

    tx = tx_us(make_tx, frames, repeats)
    return rx, tx, per


# -- through the usbnet driver and the simulated adapter --------------------------------------
def driver_setup(sim: str) -> tuple[Host, Any, NetDevice, Any]:
    """The usbnet driver with one simulated ``sim`` adapter at super speed, its interface up
    with carrier: (host, driver, device, the adapter's model).  ``count_usb.py`` uses it too."""
    from netdrv_usbnet.driver import Usbnet

    from netdrv_core.params import parse_params

    host = Host(MemoryStack(), EventLoop())
    drv = None
    try:
        drv = Usbnet(host, parse_params("usbnet", Usbnet.parameters,
                                        {"sim": sim, "sim_speed": "super",
                                         "hotplug_interval": "0"}))  # fmt: skip
        with host.as_current():
            drv.init()
        dev = drv.devices[0]
        host.attachment.up(dev)  # type: ignore[attr-defined]
        if not host.loop.run_until(lambda: dev._carrier, 5):
            raise RuntimeError("no carrier from the simulated adapter")
    except BaseException:
        driver_teardown(host, drv)
        raise
    return host, drv, dev, drv.sim_model


def driver_teardown(host: Host, drv: Any) -> None:
    """Unload the driver (if it loaded) and close the host of :func:`driver_setup`."""
    if drv is not None:
        try:
            with host.as_current():
                drv.exit()
        except Exception:
            pass
    host.close()
    host.loop.close()


def driver_rows(quick: bool) -> list[dict]:
    """RX and TX through the usbnet driver with sim=..., if the driver is installed."""
    try:
        import netdrv_usbnet.driver  # noqa: F401
    except ImportError:
        return []

    rows = []
    n = 2000 if quick else 10_000
    rounds = 3
    for sim in ("cdc_ncm", "ax88179"):
        name = f"{sim} through the usbnet driver (sim={sim}, pyusb path, I/O threads)"
        try:
            host, drv, dev, model = driver_setup(sim)
        except Exception as exc:
            rows.append(error_row(name, COMMAND, f"{type(exc).__name__}: {exc}"))
            continue
        try:
            frame = dev.dev_addr + PEER + b"\x08\x00" + bytes(FRAME_LEN - 14)
            rxq = host.attachment.rx[dev.name]  # type: ignore[attr-defined]
            rx_wall = tx_wall = float("inf")
            got = done = 0
            for _ in range(rounds):
                # receive: inject on the cable in bursts the device can buffer
                t0 = time.perf_counter()
                got = 0
                for i in range(0, n, 256):
                    k = min(256, n - i)
                    model.wire_rx_many([frame] * k)
                    host.loop.run_until(lambda q=rxq, k=k: len(q) >= k, 10)
                    got += len(rxq)
                    rxq.clear()
                rx_wall = min(rx_wall, (time.perf_counter() - t0) / max(got, 1) * 1e6)
            for _ in range(rounds):
                # transmit: send on the interface until the cable has them
                sent0 = model.stats.wire_tx_frames
                t0 = time.perf_counter()
                for i in range(0, n, 256):
                    k = min(256, n - i)
                    for _ in range(k):
                        host.attachment.send(dev, frame)  # type: ignore[attr-defined]
                    want = sent0 + i + k
                    host.loop.run_until(lambda m=model, w=want: m.stats.wire_tx_frames >= w, 10)
                done = model.stats.wire_tx_frames - sent0
                tx_wall = min(tx_wall, (time.perf_counter() - t0) / max(done, 1) * 1e6)
            for what, us, count in (("receive", rx_wall, got), ("transmit", tx_wall, done)):
                rows.append(row(f"{sim} {what} through the usbnet driver (simulated adapter), "
                                "wall time", us, "us/frame", None, "", None, f"<= {TARGET_US} us/frame",
                                check(us, "<=", TARGET_US), COMMAND, target_value=TARGET_US,
                                target_op="<=", target_on="figure",
                                note=f"{count}/{n} frames per round, best of {rounds}; USB 3 "
                                "super speed; pyusb + simulated backend (its framing included) + "
                                "the driver's I/O threads and NAPI poll"))  # fmt: skip
        except Exception as exc:
            rows.append(error_row(name, COMMAND, f"{type(exc).__name__}: {exc}"))
        finally:
            driver_teardown(host, drv)
    return rows


def run(quick: bool = False) -> list[dict]:
    """Measure the rows described in the module docstring."""
    frames = 4000 if quick else 20_000
    repeats = 3 if quick else 5
    floor = floor_us(repeats)
    rows = []
    for label, fn in (("CDC-NCM", ncm), ("AX88179", ax88179)):
        try:
            (rx, got), (tx, transfers), per = fn(frames, repeats)
        except Exception as exc:
            rows.append(error_row(f"{label} framing", COMMAND, f"{type(exc).__name__}: {exc}"))
            continue
        what_rx = (f"NTB16s of {per} datagrams" if label == "CDC-NCM"
                   else f"bulk IN transfers of {per} frames")  # fmt: skip
        what_tx = ("batched into NTB16s of up to 40" if label == "CDC-NCM"
                   else "8-byte TX header, one frame per transfer")  # fmt: skip
        rows.append(row(f"{label} receive: decode + skb + netif_rx + delivery, {FRAME_LEN}-byte "
                        "frames", rx, "us/frame", floor, "allocate + copy floor", rx / floor,
                        f"<= {TARGET_US} us/frame", check(rx, "<=", TARGET_US), COMMAND,
                        target_value=TARGET_US, target_op="<=", target_on="figure",
                        note=f"{what_rx}; {got} frames delivered per repeat"))  # fmt: skip
        rows.append(row(f"{label} transmit: dev_queue_xmit + start_xmit + framing, {FRAME_LEN}-byte "
                        "frames", tx, "us/frame", floor, "allocate + copy floor", tx / floor,
                        f"<= {TARGET_US} us/frame", check(tx, "<=", TARGET_US), COMMAND,
                        target_value=TARGET_US, target_op="<=", target_on="figure",
                        note=f"{what_tx}; {transfers} transfers per repeat"))  # fmt: skip
    rows += driver_rows(quick)
    return rows


if __name__ == "__main__":
    main(run, f"USB Ethernet framing, {FRAME_LEN}-byte frames  ({COMMAND})")
