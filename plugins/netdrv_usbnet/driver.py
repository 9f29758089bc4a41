"""The ``usbnet`` driver: USB Ethernet adapters over pyusb, after Linux ``usbnet``.

``netdrv load usbnet`` binds every supported adapter that is plugged in — one
interface ``usb0``, ``usb1``, … per adapter — and keeps watching the bus:
adapters plugged in later are bound, adapters pulled out disappear (their
interface is unregistered, their threads end, the rest of the daemon runs
on).  Supported: CDC-ECM (class 0x02/0x06, e.g. the Linux g_ether gadget
0525:a4a1, phones, docks), CDC-NCM (0x02/0x0D, incl. the iPhone's NCM
function 05ac:12a8) and the ASIX AX88179/AX88178A gigabit chips
(0b95:1790, 0b95:178a).  The id table (:mod:`netdrv_usbnet.ids`) is matched
like Linux's: deny entries first, then specific devices, then generic class
matches.  The interfaces come up *down*, like Linux: ``ip link set usb0 up``.

Parameters (``netdrv load usbnet k=v …``):

``vid=``, ``pid=``
    Only adapters with this vendor/product id (hex, as ``lsusb`` prints it:
    ``vid=0b95``; 0 = any).
``bus=``, ``port=``
    Only adapters on this bus number / root-hub port path (``port=1`` or
    ``port=1.4``, as in ``lsusb -t``; 0 / empty = any).
``name=``
    Interface name pattern (default ``usb%d``).
``backend=MODULE:CALLABLE``
    Import MODULE and call CALLABLE() for the pyusb backend object
    (``usb.backend.IBackend``), e.g. ``backend=netdrv_usbnet.sim:get_backend``
    (the process-wide simulator).  Default: libusb-1.0 from the
    ``libusb-package`` wheel, else the system's libusb.  Parameters are text
    on every path (``parse_params`` refuses an object for a ``str`` one);
    in-process code that holds a backend object sets ``params["backend"]``
    after parsing, and :func:`load_backend` takes it as it is.
``sim=cdc_ether|cdc_ncm|cdc_ncm32|ax88179``
    Plug in a built-in simulated adapter (:mod:`netdrv_usbnet.sim`) and bind
    it through the very same pyusb code path as real hardware (``cdc_ncm32``:
    a CDC-NCM adapter that offers 32-bit NTBs only).  Several joined by
    commas plug in one each (``sim=cdc_ether,ax88179``: ``usb0`` and
    ``usb1``).  Without ``backend=`` only the simulated adapters are seen.
``sim_wire=NAME``
    On the kernel attachment, the simulated adapter's Ethernet cable ends in a
    TAP interface NAME (default ``usbsim0``), not a netdrv device; with
    several adapters, one name each joined by commas (the default numbers
    them: ``usbsim0,usbsim1``).  Deleting the TAP cuts the cable (link down,
    until the driver is reloaded).  Move it to another namespace and answer
    traffic there::

        ip netns add B
        netdrv load usbnet sim=cdc_ether sim_wire=simw0
        ip link set simw0 netns B
        ip addr add 198.18.7.1/24 dev usb0 && ip link set usb0 up
        ip -n B addr add 198.18.7.2/24 dev simw0 && ip -n B link set simw0 up
        ping 198.18.7.2

    On the memory attachment (unit tests, the conformance kit) the cable stays
    in-process: what the adapter transmits is counted by the model
    (``drv.sim_model.stats``, ``drv.sim_model.wire_tx_log``) unless a test sets
    ``drv.sim_model.on_wire_tx``; ``drv.sim_model.wire_rx(frame)`` injects.
``sim_speed=auto|full|high|super``
    The simulated adapter's USB speed (bulk packets of 64/512/1024 bytes;
    auto: high for CDC, super for the AX88179).
``hotplug_interval=SECONDS``
    How often the bus is scanned for adapters that appeared or disappeared
    (default 1; 0 = bind what is there at load time only; else at least 0.01:
    a shorter one is refused, as each scan reads every device's descriptors).

Loading without a matching adapter (and without ``sim=``) succeeds: the
driver reports that it is waiting and binds adapters as they are plugged in
(with ``hotplug_interval=0``, that none will be bound; on a machine without a
USB bus, ``/sys/bus/usb`` missing, that none can appear).  An adapter the id
table denies (a Realtek RTL8153's ECM fallback) is named: ``left alone: …``; so is a
network adapter of a kind usbnet does not drive (an AX88772, a CDC-EEM or RNDIS
function: ``not supported: …``), and one that could not be bound (no permission, broken
descriptors, its ``/dev/bus/usb`` node missing): ``could not bind: …``, until it is unplugged
or bound.  One the daemon may not open is tried again on every scan (a udev rule takes effect
without a replug); any other is tried again once it is replugged.
Without a usable libusb the load fails and says to ``pip install
libusb-package`` (``pip install 'netdrv[usb]'``) or install libusb-1.0; when
an adapter cannot be opened for lack of permission (EACCES) the message says
to run the daemon as root or add a udev rule (see the troubleshooting docs).

Faults and how they show (``netdrv status``, ``ethtool -S``-style counters in
``netdrv status --json`` → ``ethtool.stats``):

* stall (EPIPE) on any endpoint: ``clear_halt``, counted (``rx_stalls``,
  ``tx_stalls``, ``intr_stalls``; the transfer counts as an rx/tx error);
* timeout: counted (``rx_timeouts``/``tx_timeouts``; rx_errors, or tx_errors
  for the frames of a timed-out transfer), the next transfer goes on;
* babble (EOVERFLOW): ``rx_over_errors`` (and rx_errors);
* RX timeouts and other RX errors throttle the reader for 125 ms
  (``rx_throttled``), as do bursts of any error: a sick adapter cannot make
  it spin;
* the watchdog (no transmit completion for 5 s with the queue stopped):
  what the writer has not sent yet counts as tx_errors, the queue is woken
  (``watchdog_timeouts``);
* malformed NTBs / AX88179 trailers / runt ECM transfers: ``rx_errors`` with
  ``rx_length_errors``/``rx_frame_errors``/``rx_crc_errors`` and the
  decoder's own counters (``ntb_*``, ``ax_*``, ``ecm_*``);
* a bad MAC string (ECM/NCM) or NODE_ID (AX88179): a random locally
  administered MAC and a warning in the daemon log;
* an endpoint with wMaxPacketSize 0: ignored (as Linux does); without a
  usable bulk pair (AX88179: interrupt endpoint) the bind fails naming it;
* an unexpected exception from the backend: logged, counted as an rx/tx
  error, the thread goes on;
* unplug (ENODEV on any transfer, or the adapter gone from the bus): carrier
  off, the interface is unregistered, the interfaces released, the threads
  end; when the adapter comes back (it re-enumerates with a new address) it
  is bound again and its interface reappears (down, like on Linux).

Private ioctls (``netdrv set usb0 ioctl=N[:VALUE]``): ``0x89F0``
(SIOCDEVPRIVATE) returns the adapter's state; on simulated adapters
``0x89F1:MS`` pulls the plug and plugs it back in after MS milliseconds (0:
stays unplugged until the driver is unloaded), ``0x89F2:0|1`` sets the cable
link down/up, ``0x89F3:EP`` halts endpoint EP (an address from the state
ioctl's ``endpoints``, e.g. ``0x82`` bulk IN on the simulated models; ``0``:
the next control request STALLs) until the driver clears it.  In-process,
tests reach the model's fault hooks directly: ``drv.sim_model.stall(ep)``, ``timeout_next``, ``overflow_next``,
``unplug``/``replug``, ``drop_zlp``, ``split_notifications``,
``bad_mac_string``, ``malformed_next(kind)``, ``ax88179a_dummy_headers``,
``set_link``.

Data path: ``start_xmit`` never blocks — it queues the frame for the
writer thread and stops the queue when ``tx_qlen`` frames are in flight
(woken at half); the queue lengths follow the USB speed like Linux's
``usbnet_update_max_qlen`` (full speed 4, high speed ~60 frames, super speed
5x).  Everything handed over in one loop pass travels as one batch, which
CDC-NCM packs into as few NTBs as fit (up to 40 datagrams each) and the
AX88179 into transfers of up to 16 KiB of header+frame records.  Transfers
that end on a full USB packet get a pad byte (ECM, AX88179, as Linux does:
never a ZLP); NCM's NTBs end themselves (padded inside the block), except a
DisplayLink dock's, which get a ZLP.  Every skb handed to ``start_xmit`` ends
exactly once as tx_packets, tx_dropped or tx_errors; ``tx_bytes`` counts what
Linux's usbnet counts (ECM and AX88179: the transfer, pad and 8-byte AX88179
header included; NCM: the datagrams).
RX transfers are split by the minidriver on the event loop, in a NAPI poll
that takes every transfer the reader handed over (one wake-up per batch) and
delivers with ``netif_receive_skb`` (through GRO); ``rx_bytes`` counts each
frame's length after ``eth_type_trans``, without the 14-byte Ethernet header,
as Linux's ``usbnet_skb_return`` does.

Threads: per adapter a bulk-IN reader, an interrupt reader, a bulk-OUT
writer and a kevent worker for control requests (see
:mod:`netdrv_usbnet.core`), plus one hotplug watcher per loaded driver; all
end on unload.  Idle readers wake every 100 ms to check whether they must
stop (pyusb's synchronous transfers cannot be cancelled otherwise), so an
unload takes up to ~0.1 s per adapter.

From Python (tests, the conformance kit, which loads the driver with
``conformance_params = {"sim": "cdc_ether"}`` on the memory attachment): the
loaded driver object has ``sim_model`` (the simulated adapter, with its fault
hooks), ``backend`` (the pyusb backend) and ``units`` (the bound adapters,
:class:`~netdrv_usbnet.core.UsbNet`); each device's ``priv`` is its
``UsbNet`` (``counters``, ``rx_qlen``/``tx_qlen``, ``info`` = the
minidriver with its codec state).  ``backend=netdrv_usbnet.sim:get_backend``
shares the process-wide simulator, into which a test plugs its own models
(``get_backend().plug(CdcNcmModel(split_notifications=True))``).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import threading
from typing import Any

import usb.core

from netdrv_core import Driver, DriverError, NetDevice, Param
from netdrv_core.errors import NotPermittedError, ParameterError

from .codecs.cdc_ncm import NTB_FORMAT_NTB32
from .core import (
    USBNET_IOC_SIM_LINK,
    USBNET_IOC_SIM_STALL,
    USBNET_IOC_SIM_UNPLUG,
    BindError,
    UsbNet,
)
from .ids import SUPPORTED, denied_entry, match_device, unsupported_kind

__all__ = ["NO_LIBUSB", "Usbnet", "default_backend", "hexid", "load_backend"]

log = logging.getLogger("netdrv.usbnet")

NO_LIBUSB = (
    "no usable libusb-1.0 found: install it with `pip install libusb-package` (or `pip install "
    "'netdrv[usb]'`), or the system package (Debian: apt install libusb-1.0-0); see the "
    "troubleshooting docs"
)
SIM_MODELS = ("cdc_ether", "cdc_ncm", "cdc_ncm32", "ax88179")
MIN_HOTPLUG_INTERVAL = 0.01
"""The shortest ``hotplug_interval`` but 0: a scan enumerates the bus and reads descriptors."""
USB_SYSFS = "/sys/bus/usb"
"""Where the kernel lists its USB buses: missing, no adapter can ever appear."""
NO_USB_BUS = (
    "this machine has no USB bus ({path} does not exist: no USB host controller, or a VM or "
    "container without one), so no adapter can appear; sim=cdc_ether (or cdc_ncm, ax88179) "
    "plugs in a simulated one"
)


def hexid(text: str) -> int:
    """A USB vendor/product id in hex, as ``lsusb`` prints it (``0b95`` or ``0x0b95``)."""
    try:
        value = int(text, 16)
    except ValueError:
        raise ValueError(f"{text!r} is not a USB id: 4 hex digits, as lsusb prints it "
                         f"(0b95)") from None  # fmt: skip
    if not 0 <= value <= 0xFFFF:
        raise ValueError("a USB id is 0000..ffff")
    return value


def _kinds(text: str) -> str:
    """``sim=``: a simulated adapter kind, or several joined by commas (``cdc_ether,ax88179``:
    two adapters, ``usb0`` and ``usb1``)."""
    if not text:
        return ""
    kinds = [k.strip() for k in text.split(",")]
    for k in kinds:
        if k not in SIM_MODELS:
            raise ValueError(f"{k!r} is no simulated adapter: one of {', '.join(SIM_MODELS)}, "
                             f"or several joined by commas (sim=cdc_ether,ax88179)")  # fmt: skip
    return ",".join(kinds)


def sim_wire_names(kinds: str, wires: str) -> list[str]:
    """The TAP of each simulated adapter's cable: ``sim_wire=`` names one per adapter, comma
    separated; the default ``usbsim0`` numbers them (``usbsim0``, ``usbsim1``, …)."""
    n = len(kinds.split(","))
    names = [w.strip() for w in wires.split(",")]
    if len(names) == 1 and n > 1:
        if wires != "usbsim0":
            raise ParameterError(f"sim={kinds} plugs in {n} adapters: sim_wire= names the "
                                 f"TAP of each, {n} names joined by commas (sim_wire="
                                 f"{','.join(f'simw{i}' for i in range(n))})")  # fmt: skip
        names = [f"usbsim{i}" for i in range(n)]
    if len(names) != n:
        raise ParameterError(f"sim={kinds} plugs in {n} adapter{'s' if n > 1 else ''}, "
                             f"sim_wire={wires} names {len(names)} TAPs: one per adapter")  # fmt: skip
    for name in names:
        _check_ifname("sim_wire", name)
    if len(set(names)) != n:
        raise ParameterError(f"sim_wire={wires}: each adapter's cable needs a TAP of its own")
    return names


def load_backend(spec: Any) -> Any:
    """``MODULE:CALLABLE`` → ``CALLABLE()``; a backend object is returned as is."""
    if not isinstance(spec, str):
        if not hasattr(spec, "enumerate_devices"):
            raise ParameterError(f"backend {spec!r} is not a pyusb backend (no enumerate_devices)")
        return spec
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ParameterError(f"backend={spec!r}: expected MODULE:CALLABLE, e.g. "
                             f"netdrv_usbnet.sim:get_backend")  # fmt: skip
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:
        raise ParameterError(f"backend={spec}: cannot import {mod_name}: "
                             f"{type(exc).__name__}: {exc}") from exc  # fmt: skip
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise ParameterError(f"backend={spec}: {mod_name} has no callable {attr!r}")
    try:
        backend = fn()
    except Exception as exc:
        raise DriverError(f"backend={spec}: {attr}() raised {type(exc).__name__}: {exc}") from exc
    if backend is None or not hasattr(backend, "enumerate_devices"):
        raise DriverError(f"backend={spec}: {attr}() returned {backend!r}, not a pyusb backend "
                          f"(usb.backend.IBackend)")  # fmt: skip
    return backend


def default_backend() -> Any:
    """libusb-1.0 from the ``libusb-package`` wheel, else the system's; DriverError if none."""
    backend = None
    try:
        import libusb_package

        backend = libusb_package.get_libusb1_backend()
    except ImportError:
        pass
    if backend is None:
        import usb.backend.libusb1

        backend = usb.backend.libusb1.get_backend()
    if backend is None:
        raise DriverError(NO_LIBUSB, errno.ENOENT)
    return backend


class Usbnet(Driver):
    """USB Ethernet adapters (CDC-ECM, CDC-NCM, ASIX AX88179) with hotplug."""

    name = "usbnet"
    summary = "USB Ethernet adapters: CDC-ECM, CDC-NCM and ASIX AX88179 over pyusb, with hotplug"
    version = "1.0"
    parameters = (
        Param("vid", hexid, 0, "only adapters with this USB vendor id (hex, e.g. 0b95; 0: any)"),
        Param("pid", hexid, 0, "only adapters with this USB product id (hex; 0: any)"),
        Param("bus", int, 0, "only adapters on this USB bus number (0: any)", min=0, max=255),
        Param("port", str, "", "only adapters on this root-hub port path, e.g. 1 or 1.4 "
              "(empty: any)"),
        Param("name", str, "usb%d", "interface name pattern"),
        Param("backend", str, "", "pyusb backend as MODULE:CALLABLE (default: libusb-1.0 from "
              "libusb-package or the system)"),
        Param("sim", _kinds, "", "plug in a simulated adapter (cdc_ether, cdc_ncm, "
              "cdc_ncm32: an NCM adapter offering NTB32 only, or ax88179); several joined by "
              "commas (cdc_ether,ax88179)"),
        Param("sim_wire", str, "usbsim0", "kernel TAP interface the simulated adapter's cable "
              "ends in (kernel attachment only); one per adapter, joined by commas (the "
              "default numbers them: usbsim0,usbsim1)"),
        Param("sim_speed", str, "auto", "USB speed of the simulated adapter",
              choices=("auto", "full", "high", "super")),
        Param("hotplug_interval", float, 1.0, "seconds between scans for adapters plugged in "
              f"or out (0: no hotplug; else at least {MIN_HOTPLUG_INTERVAL:g})", min=0.0,
              max=3600.0, unit="s"),
    )  # fmt: skip
    conformance_params = {"sim": "cdc_ether"}

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """What each parameter's type and limits cannot say, checked before anything starts
        (``netdrv load`` exits 2 on it, as on a bad value): the name pattern, the port path,
        ``hotplug_interval`` 0 or at least :data:`MIN_HOTPLUG_INTERVAL`, and one cable TAP per
        simulated adapter, none of them the interface name."""
        name, port, every = params["name"], params["port"], params["hotplug_interval"]
        if name.count("%") > 1 or ("%" in name and "%d" not in name):
            raise ParameterError(f"name={name!r} must be a name or contain one %d (usb%d)")
        if port and not all(n.isdigit() for n in port.split(".")):
            raise ParameterError(
                f"port={port}: a root-hub port path is port numbers joined by dots, as "
                f"`lsusb -t` shows them (port=1 or port=1.4)"
            )
        if 0 < every < MIN_HOTPLUG_INTERVAL:
            raise ParameterError(
                f"hotplug_interval={every:g}: each scan enumerates the bus and reads every "
                f"device's descriptors, so scanning more often than every "
                f"{MIN_HOTPLUG_INTERVAL:g} s only burns CPU; give 0 (no hotplug) or "
                f"{MIN_HOTPLUG_INTERVAL:g}..3600 (the default 1 notices a new adapter within "
                f"a second)"
            )
        if params["sim"]:
            wires = sim_wire_names(params["sim"], params["sim_wire"])
            if name in wires:
                raise ParameterError(f"name={name} is the simulated cable's TAP too "
                                     f"(sim_wire={params['sim_wire']}): give either another "
                                     f"name")  # fmt: skip

    def __init__(self, host: Any, params: dict[str, Any]) -> None:
        super().__init__(host, params)
        self.backend: Any = None
        self.sim_model: Any = None  # the (first) simulated adapter
        self.sim_wire: Any = None  # its cable
        self.sim_models: list[Any] = []  # every simulated adapter (sim=a,b)
        self.sim_wires: list[Any] = []  # their cables, in the same order
        self._own_sim_backend = False
        self._lock = threading.Lock()
        self._claimed: dict[tuple[int, int], UsbNet | None] = {}
        # Adapters that could not be bound (broken descriptors, no interface…): key -> why.
        # Not tried again until they leave the bus; named by describe() meanwhile.
        self._failed: dict[tuple[int, int], str] = {}
        # Adapters the daemon may not open (EACCES): key -> why, logged once.  Tried again on
        # every scan, so that a udev rule (udevadm trigger) takes effect without a replug.
        self._refused: dict[tuple[int, int], str] = {}
        # Adapters another program holds (EBUSY), warned about once: key -> the adapter.
        self._busy: dict[tuple[int, int], str] = {}
        # Adapters the id table denies (a Realtek RTL8153's ECM fallback…): key -> why.
        self._left_alone: dict[tuple[int, int], str] = {}
        self._units: list[UsbNet] = []
        self._stop = threading.Event()
        self._rescan = threading.Event()
        self._watcher: threading.Thread | None = None
        self._timers: list[Any] = []
        self._exiting = False
        self.no_usb_bus = False  # libusb and no USB bus on this machine: say so (describe)

    # -- load / unload --------------------------------------------------------------------------
    def init(self) -> None:
        """Bind what is plugged in now (and the simulated adapter), then watch the bus."""
        p = self.params
        self.check_params(p)  # before anything exists (also when not loaded by netdrv load)
        wires = sim_wire_names(p["sim"], p["sim_wire"]) if p["sim"] else []
        self.backend = self._make_backend()
        if p["sim"]:
            self._start_sim(wires)
            self._check_sim_wanted()
        new, _gone, denied = self._scan()
        for un in new:
            self._attach(un, raise_errors=True)
        if not self.devices:
            if denied:
                raise NotPermittedError(denied[0])
            self.no_usb_bus = not p["backend"] and not p["sim"] and not os.path.isdir(USB_SYSFS)
            (log.warning if self.no_usb_bus else log.info)("usbnet: %s", self._unbound())
        if p["hotplug_interval"] > 0:
            self._watcher = threading.Thread(target=self._watch, daemon=True,
                                             name="netdrv-usbnet-hotplug")  # fmt: skip
            self._watcher.start()

    def exit(self) -> None:
        """Unbind every adapter, release interfaces, end every thread, remove the sim cable."""
        self._exiting = True
        self._stop.set()
        self._rescan.set()
        if self._watcher is not None:
            self._watcher.join(5)
            self._watcher = None
        for t in self._timers:
            t.cancel()
        self._timers = []
        with self._lock:
            bound = [un for un in self._claimed.values() if un is not None]
        for un in bound:
            un.disconnect("driver unloaded", quiet=True)
        if self.backend is not None:
            # Pulling our own simulated adapters wakes blocked reads at once.
            for model in self.sim_models:
                with contextlib.suppress(Exception):
                    self.backend.remove(model)
        for un in list(self._units):
            alive = un.join()
            if alive:
                log.warning("usbnet: threads still running after unload: %s", alive)
        self._units = []
        for wire in self.sim_wires:
            wire.close()
        self.sim_wires = []
        self.sim_wire = None
        super().exit()

    def describe(self) -> str:
        """Interfaces and adapters, or that the driver is waiting for one."""
        if self.params["hotplug_interval"] <= 0:
            self._forget_unplugged()
        with self._lock:
            bound = [un for un in self._claimed.values() if un is not None and un.dev is not None]
        # Fewer cables than models when one failed to open (a load that is failing).
        sims = zip(self.params["sim"].split(","), self.sim_models, self.sim_wires, strict=False)
        sim = "".join(f"; {self._describe_sim(kind, model, wire)}" for kind, model, wire in sims)
        every = self.params["hotplug_interval"]
        again = f"tried again every {every:g} s" if every > 0 else "reload the driver to retry"
        replug = "tried again once replugged" if every > 0 else "reload the driver to retry"
        with self._lock:
            left = list(self._left_alone.values())
            failed = [f"{self._refused[k]} ({again})" for k in sorted(self._refused)]
            failed += [f"{self._failed[k]} ({replug})" for k in sorted(self._failed)]
        alone = "".join(f"; {why}" for why in left)
        # A plugged-in adapter that failed to bind is not "waiting": say why, with the fix,
        # and when it is tried again (a fixed udev rule needs no replug; a broken one does).
        alone += "".join(f"; could not bind: {why}" for why in failed)
        if not bound:
            return self._unbound() + alone + sim
        bound.sort(key=lambda un: (un.bus, un.port_numbers, un.address))  # as on the bus
        parts = [f"{un.dev.name}: {un!r}" for un in bound if un.dev is not None]
        return "; ".join(parts) + alone + sim

    def _forget_unplugged(self) -> None:
        """Without hotplug scans (``hotplug_interval=0``), drop what is said of unbound
        adapters that have left the bus: the kernel sees a removal whatever its drivers do,
        so ``netdrv status`` must not name one for the rest of the load.  Nothing is bound
        or tried again here — as documented, that takes a reload (Linux re-probes unbound
        devices when a driver registers, or on a new uevent, which no scan watches for)."""
        with self._lock:
            if not (self._failed or self._busy or self._refused or self._left_alone):
                return  # nothing to refresh: the bus is not enumerated
        try:
            present = {(int(d.bus or 0), int(d.address or 0)) for d in self._enumerate()}
        except Exception as exc:  # the bus cannot be read now: say what was known
            log.debug("usbnet: cannot enumerate the bus for status: %s", exc)
            return
        with self._lock:
            for table in (self._failed, self._busy, self._refused, self._left_alone):
                for key in [k for k in table if k not in present]:
                    del table[key]

    def _describe_sim(self, kind: str, model: Any, wire: Any) -> str:
        if wire.cut:
            where = f"cable cut: {wire.cut} (reload the driver for a new one)"
        elif wire.is_kernel:
            where = f"cable on TAP {wire.name}"
        else:
            where = "cable in-process"
        gone = ""
        if not model.is_plugged:
            pending = any(args and args[0] is model for args in (t.args for t in self._timers))
            gone = (" unplugged, plugged back in shortly" if pending
                    else " unplugged for good (0x89f1:0): reload the driver for a new one")  # fmt: skip
        return f"simulated {kind} adapter{gone}, {where}"

    def _unbound(self) -> str:
        """Why no adapter is bound, and whether one will be."""
        every = self.params["hotplug_interval"]
        with self._lock:
            refused = bool(self._failed or self._refused)
            others = bool(self._left_alone)  # plugged in, but no adapter usbnet drives
        if every > 0 and refused:  # one is plugged in: describe() says why it is not bound
            text = f"no USB Ethernet adapter bound (scanning every {every:g} s for others)"
        elif every > 0:
            which = "supported USB Ethernet adapter" if others else "USB Ethernet adapter"
            text = (f"no {which} yet: waiting for one to be plugged in (scanning "
                    f"every {every:g} s)")  # fmt: skip
        else:
            text = ("no USB Ethernet adapter bound, with hotplug off (hotplug_interval=0), so "
                    "none will be; reload the driver once one is plugged in")  # fmt: skip
        with self._lock:
            busy = list(self._busy.values())
        if busy:
            text += f"; another program holds {', '.join(busy)}"
        if self.no_usb_bus:
            text += "; " + NO_USB_BUS.format(path=USB_SYSFS)
        return text

    # -- backend and simulator -----------------------------------------------------------------
    def _make_backend(self) -> Any:
        p = self.params
        if p["backend"]:
            return load_backend(p["backend"])
        if p["sim"]:
            from .sim import SimBackend

            self._own_sim_backend = True
            return SimBackend()
        return default_backend()

    def _start_sim(self, wires: list[str]) -> None:
        from .sim import Ax88179Model, CdcEcmModel, CdcNcmModel
        from .simwire import SimWire

        p = self.params
        if not hasattr(self.backend, "plug"):
            raise ParameterError(f"sim={p['sim']} needs a simulator backend (SimBackend), not "
                                 f"{type(self.backend).__name__}")  # fmt: skip
        for kind, name in zip(p["sim"].split(","), wires, strict=True):
            kwargs: dict[str, Any] = {} if p["sim_speed"] == "auto" else {"speed": p["sim_speed"]}
            if kind == "cdc_ncm32":
                kwargs["ntb_formats"] = NTB_FORMAT_NTB32
            cls = {"cdc_ether": CdcEcmModel, "cdc_ncm": CdcNcmModel, "cdc_ncm32": CdcNcmModel,
                   "ax88179": Ax88179Model}[kind]  # fmt: skip
            model = cls(**kwargs)
            wire = SimWire(self.host, model, name)
            self.sim_models.append(model)  # before open: exit() removes it should that fail
            wire.open()
            self.sim_wires.append(wire)
            self.backend.plug(model)
        self.sim_model, self.sim_wire = self.sim_models[0], self.sim_wires[0]

    def _check_sim_wanted(self) -> None:
        """Each simulated adapter must pass ``vid=``/``pid=``/``bus=``/``port=``: else it would
        never bind and the load would only say it is waiting."""
        kinds = dict(zip(map(id, self.sim_models), self.params["sim"].split(","), strict=True))
        for udev in self._enumerate():
            ctx = getattr(udev, "_ctx", None)
            model = getattr(getattr(ctx, "dev", None), "model", None)
            if id(model) not in kinds or self._wanted(udev):
                continue
            p = self.params
            given = [f"{k}={p[k]:04x}" if k in ("vid", "pid") else f"{k}={p[k]}"
                     for k in ("vid", "pid", "bus", "port") if p[k]]  # fmt: skip
            path = ".".join(str(n) for n in (udev.port_numbers or ()))
            raise ParameterError(
                f"sim={kinds[id(model)]} plugs in a {udev.idVendor:04x}:{udev.idProduct:04x} "
                f"adapter on bus {udev.bus} port {path}, which {' '.join(given)} excludes: it "
                f"would never bind; drop that parameter or make it match"
            )

    def sim_ioctl(self, un: UsbNet, request: int, data: Any) -> Any:
        """Private ioctls on simulated adapters (unplug/replug, cable link, endpoint stall).

        A missing or wrong value is refused (EINVAL) saying what the ioctl takes: without
        one, 0x89f1 would unplug for good and 0x89f2 take the link down."""
        model = _sim_model_of(un) or self.sim_model
        if model is None or not un.simulated:
            raise OSError(errno.EOPNOTSUPP, f"{un!r}: ioctl {request:#x} works on simulated "
                                            f"adapters only (sim=)")  # fmt: skip
        try:
            value = data if isinstance(data, int) else int(str(data).strip(), 0)
        except ValueError:
            value = None  # from a raw control client: "0x82" and "130" are both fine
        if data is None:
            value = None
        if request == USBNET_IOC_SIM_UNPLUG:
            if value is None or value < 0:
                raise OSError(errno.EINVAL, f"{un!r}: {request:#x} takes the milliseconds after "
                                            f"which the adapter is plugged back in "
                                            f"({request:#x}:1500; 0: it stays unplugged until "
                                            f"the driver is reloaded)")  # fmt: skip
            model.unplug()
            # A hub reports the port change at once: the watcher notices it even while the
            # interface is down and no transfer would fail (no interrupt URB then, as in Linux).
            self._rescan.set()
            if value > 0:
                self._timers.append(self.host.loop.call_later(value / 1000, self._sim_replug,
                                                              model))  # fmt: skip
            return 0
        if request == USBNET_IOC_SIM_LINK:
            if value not in (0, 1):
                raise OSError(errno.EINVAL, f"{un!r}: {request:#x} takes 0 (the cable's link "
                                            f"goes down) or 1 (up): {request:#x}:0")  # fmt: skip
            wire = next((w for w in self.sim_wires if w.model is model), None)
            if value and wire is not None and wire.cut:
                raise OSError(errno.ENOLINK, f"{un!r}: the cable is cut ({wire.cut}): its link "
                                             f"cannot come up; reload the driver")  # fmt: skip
            model.set_link(bool(value))
            return 0
        if request == USBNET_IOC_SIM_STALL:
            # Which endpoint must be said (no default), and only the adapter's own (or 0,
            # control): a stall elsewhere would halt nothing the driver uses.
            if value is None or value not in (0, un.ep_in, un.ep_out, un.ep_int):
                eps = [f"{un.ep_in:#04x} (bulk IN)", f"{un.ep_out:#04x} (bulk OUT)"]
                eps += [f"{un.ep_int:#04x} (interrupt IN)"] if un.ep_int else []
                if data is None:
                    what = "no endpoint given"
                elif value is None:
                    what = f"{data!r} is no endpoint address"
                else:
                    what = f"endpoint {value:#04x} is not one of this adapter's"
                raise OSError(errno.EINVAL, f"{un!r}: {what}; halt one of {', '.join(eps)}, or 0 "
                                            f"(the next control request STALLs)")  # fmt: skip
            model.stall(value)
            return 0
        return -errno.EOPNOTSUPP

    def _sim_replug(self, model: Any) -> None:
        now = self.host.loop.clock()  # this timer and any other that is due have fired
        self._timers = [t for t in self._timers if not t.cancelled and t.when > now]
        if self._exiting:
            return
        model.replug()
        self._rescan.set()

    # -- scanning --------------------------------------------------------------------------------
    def _wanted(self, udev: Any) -> bool:
        p = self.params
        if p["vid"] and udev.idVendor != p["vid"]:
            return False
        if p["pid"] and udev.idProduct != p["pid"]:
            return False
        if p["bus"] and udev.bus != p["bus"]:
            return False
        if p["port"]:
            try:
                path = ".".join(str(n) for n in (udev.port_numbers or ()))
            except Exception:
                path = ""
            if path != p["port"]:
                return False
        return True

    def _enumerate(self) -> list[Any]:
        try:
            return list(usb.core.find(find_all=True, backend=self.backend))
        except usb.core.NoBackendError as exc:
            raise DriverError(NO_LIBUSB, errno.ENOENT) from exc

    def _scan(self) -> tuple[list[UsbNet], list[UsbNet], list[str]]:
        """Enumerate; bind new matching adapters; find bound ones that left the bus.

        Returns (newly bound units, units gone from the bus, permission errors).
        Runs in init (the loop's thread) or in the watcher thread.
        """
        present: set[tuple[int, int]] = set()
        new: list[UsbNet] = []
        denied: list[str] = []
        for udev in self._enumerate():
            if self._stop.is_set():
                break
            try:
                key = (int(udev.bus or 0), int(udev.address or 0))
            except Exception:
                continue
            present.add(key)
            with self._lock:
                if key in self._claimed or key in self._failed:
                    continue  # a refused one (EACCES) is tried again, as a busy one
            if not self._wanted(udev):
                continue
            try:
                match = match_device(udev)
            except (usb.core.USBError, ValueError, IndexError) as exc:
                log.debug("usbnet: cannot read descriptors of %s: %s", key, exc)
                continue
            if match is None:
                self._leave_alone(key, udev)
                continue
            with self._lock:
                self._claimed[key] = None  # probing
            try:
                un = UsbNet.probe(self, udev, match)
            except BindError as exc:
                busy, refused = exc.errno == errno.EBUSY, exc.errno == errno.EACCES
                with self._lock:
                    said = key in (self._busy if busy else self._refused)
                if not (busy or refused) or not said:  # retried ones: logged once
                    retry = ""
                    if self.params["hotplug_interval"] > 0 and (busy or refused):
                        retry = ("; binding it once it is released" if busy
                                 else "; binding it once the daemon may open it")  # fmt: skip
                    level = logging.ERROR if refused else logging.WARNING
                    log.log(level, "usbnet: %s%s", exc, retry)
                with self._lock:
                    self._claimed.pop(key, None)
                    if not busy:  # it was busy or refused before: only the latest reason
                        self._busy.pop(key, None)
                    if not refused:
                        self._refused.pop(key, None)
                    if busy:  # held by another program: tried again on every scan
                        self._busy[key] = _where(udev)
                    elif refused:  # no permission (yet): tried again on every scan
                        self._refused[key] = str(exc)
                    else:
                        self._failed[key] = str(exc)
                if refused:
                    denied.append(str(exc))
                continue
            with self._lock:
                self._claimed[key] = un
                self._busy.pop(key, None)
                self._refused.pop(key, None)
            new.append(un)
        with self._lock:
            # A device that left may come back and be tried again.
            self._failed = {k: v for k, v in self._failed.items() if k in present}
            self._busy = {k: v for k, v in self._busy.items() if k in present}
            self._refused = {k: v for k, v in self._refused.items() if k in present}
            self._left_alone = {k: v for k, v in self._left_alone.items() if k in present}
            gone = [un for key, un in self._claimed.items() if un is not None
                    and key not in present and un.state == "bound"]  # fmt: skip
        return new, gone, denied

    def _leave_alone(self, key: tuple[int, int], udev: Any) -> None:
        """A device with nothing to bind: if the id table denies it (a network adapter
        another driver handles), say so once, and in ``describe``."""
        with self._lock:
            if key in self._left_alone:
                return
        try:
            entry = denied_entry(udev)
        except (usb.core.USBError, ValueError, IndexError):
            entry = None
        if entry is not None:
            why = f"left alone: {_where(udev)}: {entry.comment}"
        else:
            try:
                kind = unsupported_kind(udev)
            except (usb.core.USBError, ValueError, IndexError):
                kind = None
            if kind is None:
                return  # not a network adapter (a keyboard, a hub): nothing to say
            why = f"not supported: {_where(udev)}: {kind}; {SUPPORTED}"
        with self._lock:
            self._left_alone[key] = why
        log.info("usbnet: %s", why)

    def _watch(self) -> None:
        """The hotplug watcher: scan every ``hotplug_interval`` s (or when woken)."""
        interval = self.params["hotplug_interval"]
        post = self.host.loop.call_soon_threadsafe
        failing = False
        while not self._stop.is_set():
            self._rescan.wait(interval)
            self._rescan.clear()
            if self._stop.is_set():
                break
            try:
                new, gone, _denied = self._scan()  # _scan logged the denied ones
            except Exception as exc:
                if not failing:
                    log.warning("usbnet: scanning the USB bus failed: %s", exc)
                failing = True
                continue
            failing = False
            for un in gone:
                post(un.disconnect, "removed from the bus")
            for un in new:
                post(self._attach, un)

    # -- units (loop) ----------------------------------------------------------------------------
    def _attach(self, un: UsbNet, raise_errors: bool = False) -> None:
        """Register a freshly bound adapter's interface."""
        if self._exiting:
            un.disconnect("driver unloading", quiet=True)
            return
        self._units.append(un)
        try:
            dev = un.register()
        except Exception as exc:
            log.error("usbnet: cannot register an interface for %r: %s", un, exc)
            un.disconnect("not registered", quiet=True)
            with self._lock:
                self._failed[un.key] = f"{un!r}: cannot register an interface: {exc}"
            if raise_errors:
                raise
            return
        log.info("%s: %r (%s, MAC %s)", dev.name, un, un.info.description, un.mac.hex(":"))

    def unit_released(self, un: UsbNet) -> None:
        """The unit's worker released the adapter (loop): its bus address may bind again."""
        with self._lock:
            if self._claimed.get(un.key) is un:
                del self._claimed[un.key]
        if un in self._units:
            self._units.remove(un)

    def unregister(self, dev: NetDevice) -> None:
        """Unregister one of our interfaces (ignores one already gone)."""
        with contextlib.suppress(Exception):
            super().unregister(dev)

    @property
    def units(self) -> list[UsbNet]:
        """The adapters bound now."""
        with self._lock:
            return [un for un in self._claimed.values() if un is not None and un.state == "bound"]


def _where(udev: Any) -> str:
    """``VID:PID at usb-BUS-PORT`` of a pyusb device, as the adapters are named in messages."""
    try:
        path = ".".join(str(n) for n in (udev.port_numbers or ()))
    except Exception:
        path = ""
    return f"{udev.idVendor:04x}:{udev.idProduct:04x} at usb-{udev.bus}-{path or '?'}"


def _check_ifname(param: str, name: str) -> None:
    """An interface name the kernel takes as it is (``dev_valid_name``), else ParameterError."""
    if (
        not name
        or len(name) > 15
        or name in (".", "..")
        or any(c == "/" or c == ":" or c.isspace() for c in name)
    ):
        raise ParameterError(
            f"{param}={name!r} is not a valid interface name: 1 to 15 characters, no '/', ':' "
            f"or spaces"
        )


def _sim_model_of(un: UsbNet) -> Any:
    """The simulator model behind a pyusb device of a SimBackend (None otherwise)."""
    ctx = getattr(un.udev, "_ctx", None)
    return getattr(getattr(ctx, "dev", None), "model", None)
