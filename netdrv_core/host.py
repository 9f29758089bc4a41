"""The :class:`Host`: the "kernel" devices register with.

A host owns the device registry (names, ifindexes), the event loop, the
receive backlog and one attachment — the network stack frames go to and come
from (the kernel through TUN/TAP, or the in-process memory stack).  All
device-level core logic lives here: ``dev_open``/``dev_close``, the transmit
path with its qdisc and the ``start_xmit`` contract, ``netif_rx`` and the
backlog, the watchdog, and isolating a driver that raises.
"""

from __future__ import annotations

import contextvars
import errno
import functools
import logging
import re
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .driver import Driver
from .errors import (
    DriverError,
    InvalidNameError,
    NameInUseError,
    oserror_errno,
    refusal_message,
)
from .ethtool import oper_up
from .gro import gro_receive
from .loop import EventLoop, Timer
from .napi import NapiStruct
from .netdev_queue import (
    NetdevQueue,
    any_txq_stopped,
    freeze_tx_queues,
    netdev_core_pick_tx,
    netdev_get_tx_queue,
    purge_tx_queues,
)
from .netdevice import (
    IFF_ALLMULTI,
    IFF_LOWER_UP,
    IFF_PROMISC,
    IFF_RUNNING,
    IFF_UP,
    IFNAMSIZ,
    NET_ADDR_PERM,
    NET_ADDR_SET,
    NET_RX_DROP,
    NET_RX_SUCCESS,
    NET_XMIT_CN,
    NET_XMIT_DROP,
    NET_XMIT_SUCCESS,
    NETDEV_TX_BUSY,
    NETIF_F_ALL_TSO,
    NETIF_F_GSO,
    NETIF_F_GSO_UDP_L4,
    NETIF_F_HW_CSUM,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_SG,
    NETIF_F_SOFT_FEATURES,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
    NETIF_F_TSO_MANGLEID,
    NETREG_REGISTERED,
    NETREG_UNREGISTERED,
    NetDevice,
    NetDeviceOps,
    _dev_addr_changed,
    kfree_tx,
)
from .skbqueue import SkBuffHead, skb_dequeue
from .skbuff import SkBuff, skb_not_owned
from .vlan import xmit_vlan

if TYPE_CHECKING:
    from .attach.base import Attachment

__all__ = [
    "Host",
    "current_host",
    "dev_close",
    "dev_get_by_name",
    "dev_open",
    "dev_queue_xmit",
    "netdev_features_change",
    "netdev_fix_features",
    "netdev_update_features",
    "netif_receive_skb",
    "netif_receive_skb_list",
    "netif_rx",
    "register_netdev",
    "unregister_netdev",
]

log = logging.getLogger("netdrv.host")

_current_host: contextvars.ContextVar[Host | None] = contextvars.ContextVar(
    "netdrv_current_host", default=None
)

_NAME_BAD = re.compile(r"[\s/:\0]")
FAULT_LOG_BURST = 10
"""Faults of one driver logged (with their traceback) per :data:`FAULT_LOG_INTERVAL`."""
FAULT_LOG_INTERVAL = 5.0
"""Seconds; the faults beyond the burst are counted on the driver, not logged."""
TapCallback = Callable[[NetDevice, SkBuff, str], None]


def current_host() -> Host:
    """The host whose driver code is running (set during driver init/exit)."""
    h = _current_host.get()
    if h is None:
        raise RuntimeError(
            "no current netdrv host: call this from a driver's init/exit, or pass host= explicitly"
        )
    return h


def _is_core(module: Any) -> bool:
    return isinstance(module, str) and (
        module == "netdrv_core" or module.startswith("netdrv_core.")
    )


def _frames(tb: TracebackType | None) -> Iterator[Any]:
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _unwrap(fn: Any, args: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    """The function a callback runs (through Timers and partials) and the objects it gets."""
    objs = list(args)
    for _ in range(16):  # bounded: a partial of a partial of …
        if _is_a(fn, Timer):
            objs.extend(fn.args)
            fn = fn.callback
        elif _is_a(fn, functools.partial):
            objs.extend(fn.args)
            objs.extend(fn.keywords.values())
            fn = fn.func
        else:
            break
    owner = _safe_getattr(fn, "__self__")  # a bound method's object (a priv, a driver, …)
    if owner is not None:
        objs.append(owner)
    return fn, objs


def _safe_getattr(obj: Any, name: str) -> Any:
    """``getattr(obj, name, None)`` that never raises (a dead weak proxy, a raising property)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _is_a(obj: Any, cls: type) -> bool:
    """``isinstance`` that never raises (a dead weak proxy raises ReferenceError for it)."""
    try:
        return isinstance(obj, cls)
    except Exception:
        return False


# Values that are never a device's priv nor hold a device (skipped by _devices_in).
_PLAIN = frozenset({int, float, bool, str, bytes, complex})


def _unique(items: list[Any]) -> list[Any]:
    """``items`` without repeats, by identity (a driver may be unhashable, or define ``==``)."""
    return list({id(i): i for i in items}.values())


def _module_of(fn: Any) -> str | None:
    """The module whose code ``fn`` is (a callable object: its class's)."""
    mod = _safe_getattr(_safe_getattr(fn, "__func__") or fn, "__module__")
    return mod if isinstance(mod, str) else None


def _current_code(globals_: Any) -> bool:
    """False for code of a module that was imported afresh since (a plugin the daemon forgot
    and loaded again): its late timer or thread is not the code of the driver loaded now."""
    name = globals_.get("__name__") if isinstance(globals_, dict) else None
    mod = sys.modules.get(name) if isinstance(name, str) else None
    return mod is None or _safe_getattr(mod, "__dict__") is globals_


def _name_of(fn: Any) -> str:
    """``module.qualname`` of a callback, for the log (never its repr: that may raise)."""
    try:
        fn = getattr(fn, "__func__", fn)
        name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        mod = _module_of(fn)
        return f"{mod}.{name}" if mod else str(name)
    except Exception:
        return "?"


def _describe(exc: BaseException) -> str:
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # a driver's exception whose __str__ raises
        return type(exc).__name__


def _check_name(name: str) -> None:
    """Raise InvalidNameError (a ValueError) for an interface name the kernel would refuse."""
    # The kernel counts bytes (IFNAMSIZ includes the NUL): "é"*8 is 16 bytes, too long.
    if (len(name.encode(errors="surrogateescape")) >= IFNAMSIZ or not name
            or _NAME_BAD.search(name) or name in (".", "..")):  # fmt: skip
        raise InvalidNameError(
            f"invalid interface name {name!r}: 1..15 bytes, no spaces, NUL, '/' or ':'"
        )


def _errcode(
    ret: Any, dev: NetDevice | None = None, what: str = "",
    warned: weakref.WeakKeyDictionary[NetDevice, set[str]] | None = None,
) -> int:  # fmt: skip
    """Map an op's return value to 0 or a negative errno.

    A positive int is a failure, as any non-zero return is to Linux (for the ops
    whose return it does not ignore): most likely an errno whose minus sign was
    forgotten (``return errno.EBUSY``), taken as that errno; 1 (a C-style "true")
    and numbers that are no errno are EIO, as ``register_netdevice`` makes of a
    positive ``ndo_init`` return.  Said once per device and op.
    """
    if ret is None or ret is True:
        return 0
    if isinstance(ret, int) and ret:  # True returned above
        if ret < 0:
            return ret
        err = ret if ret in errno.errorcode and ret != 1 else errno.EIO
        told = warned.setdefault(dev, set()) if warned is not None and dev is not None else None
        if told is None or what not in told:
            if told is not None:
                told.add(what)
            hint = (f"return -errno.{errno.errorcode[ret]}" if err == ret
                    else "return 0 (or None) for success, a negative errno for a failure")  # fmt: skip
            log.warning("%s: %s returned %d, a positive number: taken as a failure, -%s (%s)",
                        dev.name if dev is not None else "?", what or "an op", ret,
                        errno.errorcode[err], hint)  # fmt: skip
        return -err
    return 0


class Host:
    """A network "kernel" for devices: registry, loop, backlog and attachment."""

    netdev_max_backlog = 1000
    dev_weight = 64  # packets per backlog round, like net.core.dev_weight

    def __init__(
        self,
        attachment: Attachment | None = None,
        loop: EventLoop | None = None,
        *,
        netdev_max_backlog: int | None = None,
    ) -> None:
        from .attach.memory import MemoryStack

        self.loop = loop or EventLoop()
        self.attachment: Attachment = attachment or MemoryStack()
        self.devices: dict[str, NetDevice] = {}
        self._next_ifindex = 1
        self.backlog: deque[SkBuff] = deque()
        self._backlog_scheduled = False
        self._rx_busy = False  # inside a direct netif_rx delivery (no re-entry)
        # Instance attributes, not the class defaults: Python 3.11 specialises a load of an
        # instance attribute, not of a class attribute read through the instance (netif_rx
        # reads netdev_max_backlog for every frame).
        cls = type(self)
        self.netdev_max_backlog = (
            cls.netdev_max_backlog if netdev_max_backlog is None else netdev_max_backlog
        )
        self.dev_weight = cls.dev_weight
        self._taps: dict[str, list[TapCallback]] = {}
        self._tap_gone: dict[str, list[Callable[[], None]]] = {}  # told when the device goes
        self._tap_ends: dict[TapCallback, Callable[[], None]] = {}  # ends a tap that raised
        self._purges: dict[NetDevice, list[Callable[[bool], None]]] = {}  # see add_purge
        self._odd_returns: weakref.WeakSet[NetDevice] = weakref.WeakSet()  # warned once each
        self._busy_freed: weakref.WeakSet[NetDevice] = weakref.WeakSet()  # warned once each
        self._busy_listed: weakref.WeakSet[NetDevice] = weakref.WeakSet()  # warned once each
        # Ops of each device whose positive return was warned about (once each).
        self._positive_warned: weakref.WeakKeyDictionary[NetDevice, set[str]] = (
            weakref.WeakKeyDictionary()
        )
        self.notify: Callable[[str, NetDevice], None] | None = None  # lifecycle hook fan-out
        self.extack: str | None = None
        """Why the last op called through the guarded call refused, in the driver's words
        (``OSError(errno.EBUSY, "take sn0 down first")``; Linux's extended ack); None when
        it gave only an errno."""
        self.known_drivers: weakref.WeakSet[Driver] = weakref.WeakSet()
        """Every driver created on this host (``Driver.__init__`` adds itself)."""
        # Devices unregistered but still referenced (by a late timer, a thread): a fault
        # of their code is theirs, not their driver's other devices' (see blame()).
        self._gone: weakref.WeakSet[NetDevice] = weakref.WeakSet()
        # A callback of a driver that raises is that driver's fault: attribute it, and
        # hand what belongs to no driver (nor to this host) to the handler before us.
        self._unattributed = self.loop.error_handler
        self._unattributed_log: dict[str, list[Any]] = {}  # key -> [since, logged, suppressed]
        self.loop.error_handler = self._loop_error
        self.attachment.bind(self)
        # An attachment whose receive() cannot re-enter the host (the kernel one: a
        # write to an fd) lets netif_rx deliver at once while the backlog is empty.
        self._direct_rx = bool(getattr(self.attachment, "direct_rx", False))

    # -- context --------------------------------------------------------------------
    @contextmanager
    def as_current(self) -> Iterator[Host]:
        """Make this host the implicit one for ``register_netdev(dev)`` calls."""
        token = _current_host.set(self)
        try:
            yield self
        finally:
            _current_host.reset(token)

    def _notify(self, event: str, dev: NetDevice) -> None:
        if self.notify is not None:
            try:
                self.notify(event, dev)
            except Exception:
                log.exception("lifecycle hook %s for %s raised", event, dev.name)

    # -- registry -------------------------------------------------------------------
    def dev_alloc_name(self, pattern: str) -> str:
        """Resolve a ``%d`` pattern to the lowest free name (``dev_alloc_name``)."""
        if "%d" not in pattern:
            return pattern
        if pattern.count("%") != 1:
            raise InvalidNameError(
                f"interface name pattern {pattern!r} must contain exactly one %d"
            )
        taken = set(self.devices) | self.attachment.names_in_use()
        for i in range(32768):
            name = pattern.replace("%d", str(i))
            if name not in taken:
                return name
        raise NameInUseError(f"no free interface name for pattern {pattern!r}")

    def register_netdev(self, dev: NetDevice) -> None:
        """Make ``dev`` known to the host and its stack (a kernel interface, if attached)."""
        if dev.reg_state == NETREG_REGISTERED:
            raise DriverError(f"{dev.name}: already registered", errno.EEXIST)
        name = self.dev_alloc_name(dev.name)
        _check_name(name)
        if name in self.devices:
            raise NameInUseError(
                f"interface name {name!r} is already registered by "
                f"{self._owner(self.devices[name])}; choose another name (e.g. name=...%d)"
            )
        if name in self.attachment.names_in_use():
            raise NameInUseError(
                f"interface {name!r} already exists in this network namespace; "
                f"delete it (ip link del {name}) or choose another name"
            )
        dev.name = name
        dev.host = self
        ret = _errcode(dev.netdev_ops.init(dev), dev, "init", self._positive_warned)
        if ret:
            dev.host = None
            raise DriverError(f"{name}: ndo_init failed: {errno.errorcode.get(-ret, ret)}", -ret)
        dev.ifindex = self._next_ifindex
        self._next_ifindex += 1
        # register_netdevice(): the software features (GSO, GRO) are every device's, and the
        # user may change them; then what the driver turned on of what the user may change.
        dev.hw_features |= NETIF_F_SOFT_FEATURES
        dev.features |= NETIF_F_SOFT_FEATURES
        # A device whose IPv4 TSO the user may change may also be let mangle the IDs of a
        # fixed-ID super-frame (ethtool -K DEV tx-tcp-mangleid-segmentation on, or tso on):
        # not turned on here, unless the driver did.
        if dev.hw_features & NETIF_F_TSO:
            dev.hw_features |= NETIF_F_TSO_MANGLEID
        dev.wanted_features = dev.features & dev.hw_features
        if dev.addr_assign_type == NET_ADDR_PERM and not dev.perm_addr:  # register_netdevice()
            dev.perm_addr = bytes(dev.dev_addr)  # the hardware's own: not a random one
        try:
            self.attachment.attach(dev)
        except BaseException:
            dev.host = None
            raise
        self.devices[name] = dev
        dev.reg_state = NETREG_REGISTERED
        # A driver thread's dev_addr_set after attach read the address and before this
        # skipped the attachment (not registered yet): shown now (nothing if it has it).
        _dev_addr_changed(dev)
        # register_netdevice() ends with __netdev_update_features(): the driver's and the
        # core's rules applied to what it declared (a failure leaves them, as in Linux).
        self.netdev_update_features(dev)
        log.info("registered %s (%s)", name, self._owner(dev))
        self._notify("registered", dev)

    def unregister_netdev(self, dev: NetDevice) -> None:
        """Remove ``dev``: closed first, then gone from the stack and the registry."""
        if self.devices.get(dev.name) is not dev:
            raise DriverError(f"{dev.name}: not registered with this host", errno.ENODEV)
        if dev.is_up:
            self.dev_close(dev)
        for napi in list(dev.napi_list):
            napi.disable()
        try:
            self.attachment.detach(dev)
        finally:
            del self.devices[dev.name]
            for cb in self._taps.pop(dev.name, []):
                self._tap_ends.pop(cb, None)
            for gone in self._tap_gone.pop(dev.name, []):
                try:
                    gone()
                except Exception:
                    log.exception("%s: a capture's end-of-device callback raised", dev.name)
            dev.reg_state = NETREG_UNREGISTERED
            self._gone.add(dev)
            try:
                dev.netdev_ops.uninit(dev)
            except Exception:
                log.exception("%s: ndo_uninit raised", dev.name)
            purge_tx_queues(dev)  # a device that went away without dev_close (an unplug)
            self._purge_held(dev, gone=True)
            self._notify("unregistered", dev)
            log.info("unregistered %s", dev.name)

    def unregister_driver_devices(self, drv: Driver) -> None:
        """Unregister every device of ``drv`` still registered, whatever each one raises.

        What a host does for a driver whose ``init`` failed (or that is forced out):
        its ``exit()`` may then release the rest without meeting devices it never
        finished setting up.
        """
        for dev in list(self.devices.values()):
            if dev.driver is drv:
                try:
                    self.unregister_netdev(dev)
                except Exception:
                    log.exception("%s: unregistering it after its driver failed raised", dev.name)

    def dev_rename(self, dev: NetDevice, name: str) -> None:
        """``dev_change_name``: the device is called ``name`` from now on (NETDEV_CHANGENAME).

        What follows a link the user renamed (``ip link set DEV name NEW``), so it changes
        nothing on the stack's side: the attachment re-keys its own state
        (``Attachment.dev_renamed``).  Everything kept by name follows the device: the
        registry (``dev_get_by_name`` knows only the new name), running captures (they go
        on), and lifecycle observers hear ``"renamed"``.  Raises ValueError for a name the
        kernel would refuse and NameInUseError for one another device of this host has.
        """
        if dev.host is not self or self.devices.get(dev.name) is not dev:
            raise DriverError(f"{dev.name}: not registered with this host", errno.ENODEV)
        old = dev.name
        if name == old:
            return
        _check_name(name)
        if name in self.devices:
            raise NameInUseError(
                f"interface name {name!r} is already registered by "
                f"{self._owner(self.devices[name])}"
            )
        # Re-keyed in place, in the order of registration (status lists them so).
        order = [(name if k == old else k, d) for k, d in self.devices.items()]
        self.devices.clear()
        self.devices.update(order)
        if old in self._taps:
            self._taps[name] = self._taps.pop(old)
        if old in self._tap_gone:
            self._tap_gone[name] = self._tap_gone.pop(old)
        dev.name = name
        try:
            self.attachment.dev_renamed(dev, old)
        except Exception:
            log.exception("%s: the attachment failed to follow the rename from %s", name, old)
        log.info("%s: renamed to %s", old, name)
        self._notify("renamed", dev)

    def dev_get_by_name(self, name: str) -> NetDevice | None:
        """The registered device called ``name``, or None."""
        return self.devices.get(name)

    def dev_get_by_index(self, ifindex: int) -> NetDevice | None:
        """The registered device with this ifindex, or None."""
        for d in self.devices.values():
            if d.ifindex == ifindex:
                return d
        return None

    @staticmethod
    def _owner(dev: NetDevice) -> str:
        drv = dev.driver
        return f"driver {getattr(drv, 'name', type(drv).__name__)!s}" if drv else "the host"

    # -- administrative state ----------------------------------------------------------
    def dev_open(self, dev: NetDevice) -> int:
        """Bring ``dev`` up: ``validate_addr`` then ``open``; 0 or a negative errno."""
        if dev.is_up:
            return 0
        if not dev._present:  # detached (suspended, unplugged): Linux's __dev_open
            log.warning("%s: open refused: the device is not present (netif_device_detach)",
                        dev.name)  # fmt: skip
            return -errno.ENODEV
        ops = dev.netdev_ops
        ret = self._call(dev, "validate_addr", ops.validate_addr, dev)
        if ret == 0:
            ret = self._call(dev, "open", ops.open, dev)
        if ret:
            log.warning("%s: open failed: %s", dev.name, errno.errorcode.get(-ret, ret))
            return ret
        dev.flags |= IFF_UP | IFF_RUNNING
        if dev.flags & (IFF_PROMISC | IFF_ALLMULTI) or dev.mc_list:
            # Changed while down (Linux's __dev_open calls dev_set_rx_mode): program it now.
            self._call(dev, "set_rx_mode", dev.netdev_ops.set_rx_mode, dev, positive="ignore")
        dev.operstate = oper_up(dev)
        if not dev._carrier:
            # Linux's dev_activate waits for the carrier: noop_qdisc until netif_carrier_on.
            dev._deactivated = dev._queue_stopped = True
        dev.trans_start = self.loop.clock()  # like dev_activate(): the watchdog counts from now
        for txq in (dev._tx_queues or ())[1:]:
            txq.trans_start = dev.trans_start
        self._arm_watchdog(dev)
        self.attachment.state_changed(dev)
        self._notify("up", dev)
        return 0

    def dev_close(self, dev: NetDevice) -> int:
        """Bring ``dev`` down: ``stop``, NAPI off, pending transmissions dropped."""
        if not dev.is_up:
            return 0
        dev.flags &= ~(IFF_UP | IFF_RUNNING)
        for napi in dev.napi_list:
            napi.disable()
        ret = self._call(dev, "stop", dev.netdev_ops.stop, dev, positive="ignore")
        dev._watchdog_on = False
        if dev._watchdog is not None:
            dev._watchdog.cancel()
            dev._watchdog = None
        purge_tx_queues(dev)
        self._purge_held(dev)
        if dev._deactivated:  # down, the carrier no longer matters: the queue is the driver's
            dev._deactivated = False
            dev._queue_stopped = dev._drv_xoff or dev._stack_xoff
        dev.operstate = "down"
        self.attachment.state_changed(dev)
        self._notify("down", dev)
        return ret

    def dev_set_mtu(self, dev: NetDevice, mtu: int) -> int:
        """Check ``min_mtu``/``max_mtu`` and call ``change_mtu``; 0 or negative errno."""
        if mtu == dev.mtu:
            return 0
        if mtu < dev.min_mtu or mtu > dev.max_mtu:
            log.warning(
                "%s: mtu %d refused: the device accepts %d..%d", dev.name, mtu, dev.min_mtu,
                dev.max_mtu,
            )  # fmt: skip
            return -errno.EINVAL
        if not dev._present:
            return self._absent(dev)
        ret = self._call(dev, "change_mtu", dev.netdev_ops.change_mtu, dev, mtu)
        if ret == 0:
            self.attachment.mtu_changed(dev)
        return ret

    def dev_set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        """Call ``set_mac_address``; 0 or negative errno (``-ENODEV`` while not present)."""
        if not dev._present:
            return self._absent(dev)
        ret = self._call(dev, "set_mac_address", dev.netdev_ops.set_mac_address, dev, bytes(addr))
        if ret == 0:
            dev.addr_assign_type = NET_ADDR_SET
            self.attachment.address_changed(dev)
        return ret

    def netdev_update_features(self, dev: NetDevice) -> int:
        """Recompute ``dev.features`` after ``wanted_features`` or the device changed.

        As Linux's ``__netdev_update_features``: the fixed features, plus the wanted
        ones among ``hw_features``; then the driver's ``fix_features``, the attachment's
        limits and the core's rules (:func:`netdev_fix_features`: last, as a driver may
        be less strict about what depends on what).  If that differs from
        ``dev.features`` the driver's ``set_features`` is called, and on success the
        stack hears of it (the kernel attachment re-programs the TAP's offloads).
        Returns 1 if the features changed, 0 if not, or the driver's negative errno
        (``dev.features`` is then unchanged).
        """
        self.extack = None  # a refusal of an earlier op is not this one's
        features = (dev.features & ~dev.hw_features) | (dev.wanted_features & dev.hw_features)
        try:
            fixed = dev.netdev_ops.fix_features(dev, features)
            if isinstance(fixed, bool) or not isinstance(fixed, int) or fixed < 0:
                # A string, a float, a negative "all bits" mask: no feature set to apply.
                raise TypeError(f"fix_features returned {fixed!r:.100}, not a feature mask "
                                "(a non-negative int of NETIF_F_* bits)")  # fmt: skip
            features = int(fixed)
        except Exception as exc:
            self.driver_fault(dev, "fix_features", exc)
            return -errno.EIO
        features = netdev_fix_features(dev, self.attachment.fix_features(dev, features))
        if features == dev.features:
            return 0
        ret = self._call(dev, "set_features", dev.netdev_ops.set_features, dev, features,
                         positive="keep")  # fmt: skip
        if ret < 0:
            log.warning("%s: set_features() failed (%s); wanted %#x, left %#x", dev.name,
                        errno.errorcode.get(-ret, ret), features, dev.features)  # fmt: skip
            return ret
        if ret == 0:  # > 0: the driver set dev.features itself (__netdev_update_features)
            dev.features = features
        self.attachment.features_changed(dev)
        return 1

    def _absent(self, dev: NetDevice) -> int:
        """``-ENODEV`` for an op on a detached device, ``extack`` saying why."""
        self.extack = f"{dev.name} is detached (suspended or unplugged)"
        return -errno.ENODEV

    def dev_set_config(self, dev: NetDevice, ifmap: dict[str, int]) -> int:
        """Call ``set_config`` (drivers refuse changes while up, as in LDD); ``-ENODEV``
        while the device is detached (Linux's ``SIOCSIFMAP``), ``extack`` saying so."""
        if not dev._present:
            return self._absent(dev)
        return self._call(dev, "set_config", dev.netdev_ops.set_config, dev, ifmap)

    def dev_ioctl(self, dev: NetDevice, request: int, data: Any = None) -> Any:
        """Hand a device ioctl (e.g. SIOCDEVPRIVATE+n) to ``do_ioctl``.

        A detached device (suspended, unplugged) is not asked: ``OSError(ENODEV)``
        saying so, as Linux's ``dev_do_ioctl`` refuses it.
        """
        if not dev._present:
            raise OSError(errno.ENODEV, f"{dev.name} is detached (suspended or unplugged)")
        return dev.netdev_ops.do_ioctl(dev, request, data)

    def dev_set_rx_mode(
        self, dev: NetDevice, *, promisc: bool | None = None, allmulti: bool | None = None,
        mc_list: list[bytes] | None = None,
    ) -> None:  # fmt: skip
        """Update IFF_PROMISC/IFF_ALLMULTI/``mc_list`` and call ``set_rx_mode`` if they changed.

        As in Linux (``__dev_set_rx_mode``), only while the device is up: a
        device that is down has no filter to program; ``dev_open`` programs it.
        """
        old = (dev.flags & (IFF_PROMISC | IFF_ALLMULTI), list(dev.mc_list))
        if promisc is not None:
            dev.flags = dev.flags | IFF_PROMISC if promisc else dev.flags & ~IFF_PROMISC
        if allmulti is not None:
            dev.flags = dev.flags | IFF_ALLMULTI if allmulti else dev.flags & ~IFF_ALLMULTI
        if mc_list is not None:
            dev.mc_list = [bytes(a) for a in mc_list]
        if dev.flags & IFF_UP and (dev.flags & (IFF_PROMISC | IFF_ALLMULTI), dev.mc_list) != old:
            self._call(dev, "set_rx_mode", dev.netdev_ops.set_rx_mode, dev, positive="ignore")

    def dev_mc_add(self, dev: NetDevice, addr: bytes) -> None:
        """Join a link-layer multicast address."""
        if bytes(addr) not in dev.mc_list:
            self.dev_set_rx_mode(dev, mc_list=[*dev.mc_list, bytes(addr)])

    def dev_mc_del(self, dev: NetDevice, addr: bytes) -> None:
        """Leave a link-layer multicast address."""
        if bytes(addr) in dev.mc_list:
            self.dev_set_rx_mode(dev, mc_list=[a for a in dev.mc_list if a != bytes(addr)])

    # -- driver faults ----------------------------------------------------------------------
    def _call(
        self, dev: NetDevice, what: str, fn: Callable[..., Any], *args: Any,
        positive: str = "fail",
    ) -> int:  # fmt: skip
        """``fn(*args)``, an op of ``dev``: 0 or a negative errno; raising is a driver fault.

        A positive return is a failure (``positive="fail"``), except where Linux gives it
        another meaning: ``"ignore"`` for an op whose return Linux ignores (``ndo_stop``,
        the void ``ndo_set_rx_mode``), ``"keep"`` for ``ndo_set_features`` (>0: the
        driver set ``dev->features`` itself), returned as it is.  ``extack`` is set after
        the op returns (an op calling host ops that refused leaves no words of theirs)."""
        try:
            ret = fn(*args)
        except OSError as exc:
            self.extack = refusal_message(exc)
            return -oserror_errno(exc)
        except Exception as exc:
            self.extack = None
            self.driver_fault(dev, what, exc)
            return -errno.EIO
        self.extack = None
        if positive != "fail" and isinstance(ret, int) and not isinstance(ret, bool) and ret > 0:
            return ret if positive == "keep" else 0
        return _errcode(ret, dev, what, self._positive_warned)

    def driver_fault(self, dev: NetDevice, where: str, exc: BaseException) -> None:
        """A driver raised: log it, take the device down, keep everything else running."""
        drv = dev.driver
        note = self._fault_log_note(drv)
        if note is not None:
            log.error(
                "%s: %s raised in %s: %r — taking the device down%s",
                dev.name, self._owner(dev), where, exc, note, exc_info=exc,
            )  # fmt: skip
        if drv is not None:
            drv.faults += 1
            drv.last_fault = f"{dev.name}: {where}: {_describe(exc)}"
        if dev.is_up and where not in ("stop",):
            # Until the deferred close, frames wait in the qdisc (dropped and counted by
            # dev_close) instead of reaching the faulted driver again: a TAP reader in the
            # middle of its batch would otherwise hand it the next frame, and a driver that
            # hung there (aborted by SIGTERM) would hang again before the daemon could stop.
            freeze_tx_queues(dev)
            self.loop.call_soon(self._fault_close, dev)

    def _fault_log_note(self, drv: Driver | None) -> str | None:
        """Whether to log a fault of ``drv`` now: ``printk_ratelimit`` for each driver.

        A driver that keeps faulting once its devices are down (a thread handing
        raising callbacks over, a timer it re-arms) would write a traceback per
        fault — at thousands a second, a full disk and a loop busy formatting
        them.  :data:`FAULT_LOG_BURST` faults per :data:`FAULT_LOG_INTERVAL`
        seconds are logged; the others are only counted (``faults``), and the
        next logged one says how many were not.  None: do not log this one;
        else a note to append to the message.
        """
        if drv is None:
            return ""
        now = self.loop.clock()
        state = getattr(drv, "_fault_log", None)
        if state is None or now - state[0] >= FAULT_LOG_INTERVAL:
            suppressed = state[2] if state is not None else 0
            state = [now, 0, 0]
            try:
                drv._fault_log = state  # type: ignore[attr-defined]
            except Exception:  # an object refusing attributes: every fault logged
                return ""
            if suppressed:
                state[1] = 1
                return f" ({suppressed} more faults of this driver were counted, not logged)"
        if state[1] < FAULT_LOG_BURST:
            state[1] += 1
            return ""
        if not state[2]:
            log.error(
                "driver %s: more than %d faults in %g s; the next ones are counted "
                "(netdrv status) but not logged for now",
                getattr(drv, "name", "?"), FAULT_LOG_BURST, FAULT_LOG_INTERVAL,
            )  # fmt: skip
        state[2] += 1
        return None

    def _fault_close(self, dev: NetDevice) -> None:
        if dev.is_up and self.devices.get(dev.name) is dev:
            self.dev_close(dev)

    # -- faults in a driver's own callbacks and threads -----------------------------------------
    # Nothing here runs per packet: the loop calls it only when a callback raised.
    def _loop_error(self, exc: BaseException, cb: Callable[..., Any]) -> None:
        """The loop's error handler: a driver's timer, reader or call is a driver fault."""
        ctx = self.loop.fault_context
        try:
            if ctx is None:
                handled = self.callback_fault(exc, "callback", cb)
            else:
                handled = self.callback_fault(exc, ctx.kind, ctx.callback, ctx.args, ctx.fd)
        except Exception:
            log.exception("attributing %r to a driver failed", exc)
            handled = False
        if not handled and self._log_unattributed(ctx, cb):
            self._unattributed(exc, cb)

    def _log_unattributed(self, ctx: Any, cb: Callable[..., Any]) -> bool:
        """Rate-limit what no driver is blamed for, per callback, like a driver's faults.

        A reader of the core or of the application that keeps raising fires in every
        loop round: without a limit, a traceback each time fills the log.
        """
        kind = ctx.kind if ctx is not None else "callback"
        key = f"{kind} {_name_of(_unwrap(ctx.callback if ctx is not None else cb, ())[0])}"
        now = self.loop.clock()
        state = self._unattributed_log.get(key)
        if state is None or now - state[0] >= FAULT_LOG_INTERVAL:
            if state is not None and state[2]:
                log.error("%s: %d more errors were not logged", key, state[2])
            self._unattributed_log[key] = [now, 1, 0]
            return True
        if state[1] < FAULT_LOG_BURST:
            state[1] += 1
            return True
        if not state[2]:
            log.error("%s keeps raising: the next errors in %g s are not logged", key,
                      FAULT_LOG_INTERVAL)  # fmt: skip
        state[2] += 1
        return False

    def callback_fault(
        self, exc: BaseException, kind: str, fn: Callable[..., Any],
        args: tuple[Any, ...] = (), fd: int | None = None,
    ) -> bool:  # fmt: skip
        """``fn(*args)``, a loop callback of ``kind`` (timer/reader/callback), raised ``exc``.

        When the code belongs to a driver its device(s) go down through
        :meth:`driver_fault`, and a reader is removed (its fd is still readable: it
        would fire, and raise, in every loop round — Linux disables an IRQ nobody
        handles).  False when no driver is to blame.
        """
        owner = self.loop.reader_owner(fd) if fd is not None else None
        blamed = self.blame(exc, fn, args, owner)
        if not blamed:
            return False
        where = f"{'loop callback' if kind == 'callback' else kind} {_name_of(_unwrap(fn, ())[0])}"
        if fd is not None:
            where += f" (fd {fd})"
            if self.loop.remove_reader(fd):
                log.error("fd %d: its reader raised; it is not watched any more (reload the "
                          "driver to restore it)", fd)  # fmt: skip
        for drv, devs in blamed:
            self._fault_devices(drv, devs, where, exc)
        return True

    def thread_fault(self, exc: BaseException, thread: threading.Thread | None) -> bool:
        """A thread died of ``exc`` (``threading.excepthook``, handed over to the loop).

        A driver's thread takes its device(s) down like any other driver code;
        False when the thread belongs to no driver.  The daemon installs the hook.
        """
        # A Thread subclass's run() is its code; a plain Thread's target is found in the
        # traceback (Thread.run has dropped its reference by now).
        run = None
        if thread is not None and type(thread).run is not threading.Thread.run:
            run = thread.run
        blamed = self.blame(exc, run, ())
        if not blamed:
            return False
        where = f"thread {thread.name if thread is not None else '?'}"
        for drv, devs in blamed:
            self._fault_devices(drv, devs, where, exc)
        return True

    def _fault_devices(
        self, drv: Driver | None, devs: list[NetDevice], where: str, exc: BaseException
    ) -> None:
        devs = [d for d in devs if self.devices.get(d.name) is d]
        for d in devs:
            self.driver_fault(d, where, exc)
        if devs:
            return
        # Nothing to take down (no device, or the device it worked on is unregistered
        # already): logged and counted.
        if drv is None:
            log.error("%s raised %r", where, exc, exc_info=exc)
            return
        note = self._fault_log_note(drv)
        if note is not None:
            log.error("driver %s raised in %s: %r%s", getattr(drv, "name", "?"), where, exc,
                      note, exc_info=exc)  # fmt: skip
        drv.faults += 1
        drv.last_fault = f"{where}: {_describe(exc)}"

    def blame(
        self, exc: BaseException, fn: Any = None, args: tuple[Any, ...] = (),
        registered_by: str | None = None,
    ) -> list[tuple[Driver | None, list[NetDevice]]]:  # fmt: skip
        """Which driver (and which of its devices) the code that raised ``exc`` belongs to.

        Like an oops names the module from the faulting address: the innermost
        frame of a driver's module in the traceback; else the module of ``fn``
        itself (a callable object, a lambda); else the module that registered
        the reader (``registered_by``: a library or C callable leaves no driver
        frame).  Modules map to drivers through every class of the driver's
        MRO outside the core, then through their top-level package.  Several
        candidates (two instances of one driver, a reloaded driver next to the
        unloaded one, drivers sharing a package) are told apart by the devices
        the callback was given (a device, an skb, a NAPI context, a device's
        ``priv``, an object holding a device) or its driver frames hold, and
        by a driver object among them (a bound method's ``self``).

        The devices returned are the registered ones to take down: those the
        callback was given; when it was given none, every device of the
        driver; none when the devices it was given are unregistered already (a
        late timer of an unplugged device: the driver's other devices are not
        to blame).  Code of ``netdrv_core`` is the core's: never blamed on a
        driver by its arguments alone.  Never raises for odd objects (a dead
        weak proxy, an unhashable driver, a class without ``__module__``).
        """
        exact: dict[str, list[Driver]] = {}
        package: dict[str, list[Driver]] = {}
        drivers: dict[int, Driver] = {id(drv): drv for drv in list(self.known_drivers)}
        for d in self.devices.values():
            if d.driver is not None:
                drivers.setdefault(id(d.driver), d.driver)
        # By class (many instances of one driver share it): this runs in a fault storm too.
        by_class: dict[type, list[Driver]] = {}
        for drv in drivers.values():
            by_class.setdefault(type(drv), []).append(drv)
        for cls, same in by_class.items():
            mods = {m for c in cls.__mro__[:-1] if not _is_core(m := _safe_getattr(c, "__module__"))
                    and isinstance(m, str)}  # fmt: skip
            for mod in mods:
                exact.setdefault(mod, []).extend(same)
            for top in {m.partition(".")[0] for m in mods}:
                package.setdefault(top, []).extend(same)

        def owners(mod: Any) -> list[Driver]:
            if not isinstance(mod, str) or _is_core(mod):
                return []
            return exact.get(mod) or package.get(mod.partition(".")[0]) or []

        fn, objs = _unwrap(fn, args)
        culprits: list[Driver] = []
        for frame in _frames(exc.__traceback__):
            if not _current_code(frame.f_globals):
                continue  # a forgotten module's: not the driver of that name loaded now
            found = owners(frame.f_globals.get("__name__"))
            if found:
                culprits = found  # the innermost driver frame: where it went wrong
                objs.extend(frame.f_locals.values())
        fn_mod = _module_of(fn)
        if not _current_code(_safe_getattr(_safe_getattr(fn, "__func__") or fn, "__globals__")):
            fn_mod = None
        if not culprits:
            culprits = owners(fn_mod) or owners(registered_by)
        devs = self._devices_in(objs)  # registered or not: evidence
        given = [o for o in objs if _is_a(o, Driver)]  # a bound method's self, a frame's
        if not culprits:
            if _is_core(fn_mod) or _is_core(registered_by):
                return []  # the core's own callback: a netdrv bug, not a driver's
            # Library or C code scheduled with a driver's object: that driver's.
            culprits = given + [d.driver for d in devs if d.driver is not None]
            if not culprits:
                live = [d for d in devs if self.devices.get(d.name) is d]
                return [(None, live)] if live else []
        culprits = _unique(culprits)
        if len(culprits) > 1:  # shared code of several drivers: its device or driver tells
            told = _unique([d.driver for d in devs if d.driver is not None] + given)
            told = [c for c in told if any(c is k for k in culprits)]
            if told:
                culprits = told
        out: list[tuple[Driver | None, list[NetDevice]]] = []
        for c in culprits:
            mine = [d for d in devs if d.driver is c]
            if not mine:
                mine = list(_safe_getattr(c, "devices") or ())
            out.append((c, [d for d in mine if self.devices.get(d.name) is d]))
        return out

    def _devices_in(self, objs: list[Any]) -> list[NetDevice]:
        """This host's devices among ``objs`` (registered or unregistered already).

        Devices, skbs, NAPI contexts, a device's ``priv``, objects holding a
        device in an attribute.  An object that cannot be inspected (a dead weak
        proxy, a raising property) is skipped.
        """
        privs: dict[int, NetDevice] | None = None  # built when first needed
        found: dict[int, NetDevice] = {}

        def add(o: Any) -> bool:
            nonlocal privs
            if o is None or type(o) in _PLAIN:
                return False
            dev = o if isinstance(o, NetDevice) else None
            if dev is None and isinstance(o, SkBuff | NapiStruct):
                dev = o.dev
            if dev is None:
                if privs is None:
                    privs = {}
                    for d in [*self._gone, *self.devices.values()]:  # a registered one wins
                        p = d.priv
                        if p is not None and type(p) not in _PLAIN:
                            privs[id(p)] = d
                dev = privs.get(id(o))
            if isinstance(dev, NetDevice) and dev.host is self:
                found.setdefault(id(dev), dev)
                return True
            return False

        for o in objs:
            try:
                if not add(o):
                    attrs = getattr(o, "__dict__", None)  # e.g. a usbnet object's .net
                    if isinstance(attrs, dict) and not isinstance(o, type):
                        for v in list(attrs.values()):
                            if isinstance(v, NetDevice):
                                add(v)
            except Exception:  # evidence that cannot be read is no evidence
                continue
        return list(found.values())

    # -- transmit ------------------------------------------------------------------------------
    def dev_queue_xmit(self, skb: SkBuff) -> int:
        """Hand ``skb`` (``skb.dev`` set) to its device, through the device's qdisc."""
        dev = skb.dev
        if dev is None:
            raise ValueError("dev_queue_xmit: skb.dev is not set")
        if skb.on_list is not None:  # the qdisc would link it into a second list
            raise skb_not_owned("dev_queue_xmit", skb)
        # A tag in the metadata goes into the data unless the device inserts it itself
        # (validate_xmit_vlan); the one check an untagged frame costs.
        if skb.vlan_all and not xmit_vlan(skb, dev):
            return NET_XMIT_DROP
        if self._taps:
            taps = self._taps.get(dev.name)
            if taps:
                self._run_taps(taps, dev, skb, "tx")
        # A device that is down has noop_qdisc (noop_enqueue).  1 is IFF_UP: a constant
        # loads faster than a global, and this runs for every frame (as below).
        if not dev.flags & 1:
            dev.core_stats.tx_qdisc_drops += 1
            kfree_tx(skb)
            return NET_XMIT_CN
        # Middleware sits where the qdisc is: without carrier, noop_qdisc takes its place.
        if dev.xmit_hook is not None and not dev._deactivated and not dev.xmit_hook(skb):
            return NET_XMIT_SUCCESS  # middleware took it (dropped and counted, or delayed)
        if dev.qdisc or dev._queue_stopped or dev._tx_queues:  # a multi-queue device: _enqueue
            return self._enqueue(dev, skb)
        # The common case, inlined (it runs for every frame): an empty qdisc and an
        # awake queue send straight to the driver — xmit_one() without the call.
        try:
            rc = dev.netdev_ops.start_xmit(skb, dev)
        except Exception as exc:
            dev.core_stats.tx_submitted += 1
            dev.core_stats.tx_driver_faults += 1
            kfree_tx(skb)
            self.driver_fault(dev, "start_xmit", exc)
            return NET_XMIT_SUCCESS
        if rc != 0:  # not NETDEV_TX_OK (a constant compares faster than a global)
            if rc != NETDEV_TX_BUSY:
                self._odd_xmit_return(dev, rc)
            elif self._busy(dev, skb):
                return NET_XMIT_SUCCESS
            # else BUSY for an skb the driver listed or freed: taken, as NETDEV_TX_OK
        dev.core_stats.tx_submitted += 1
        if dev._watchdog_on:
            # The kernel's txq_trans_update() on TX_OK.  (The clock is an attribute of the
            # loop, not a method: loaded first, it is a specialised load, not a lookup.)
            clock = self.loop.clock
            dev.trans_start = clock()
        return 0  # NET_XMIT_SUCCESS (a constant loads faster than a global)

    def _enqueue(self, dev: NetDevice, skb: SkBuff) -> int:
        if dev.real_num_tx_queues > 1:  # netdev_core_pick_tx: queue 0 is the device's own
            try:
                txq = netdev_core_pick_tx(dev, skb)
            except Exception as exc:
                dev.core_stats.tx_qdisc_drops += 1
                kfree_tx(skb)
                self.driver_fault(dev, "select_queue", exc)
                return NET_XMIT_DROP
            if txq.index:
                return self._txq_enqueue(txq, skb)
        q = dev.qdisc
        if q:  # never without carrier: dev_deactivate emptied it, noop_qdisc keeps it so
            return _pfifo_enqueue(dev, q, skb)
        if dev._queue_stopped:
            if dev._deactivated:
                return _noop_enqueue(dev, skb)
            return _pfifo_enqueue(dev, q, skb)
        self.xmit_one(dev, skb)
        return NET_XMIT_SUCCESS

    def _txq_enqueue(self, txq: NetdevQueue, skb: SkBuff) -> int:
        """``_enqueue`` on TX queue 1 or above: its own qdisc, its own stop."""
        q = txq.qdisc
        dev = txq.dev
        if q:  # never without carrier, as queue 0's
            return _pfifo_enqueue(dev, q, skb)
        # Queue 0's flag is forced on without carrier (dev_deactivate); a subqueue's is its
        # XOFF bits only (netif_xmit_stopped), so its frames check _deactivated here.
        if dev._deactivated:
            return _noop_enqueue(dev, skb)
        if txq.stopped:
            return _pfifo_enqueue(dev, q, skb)
        self.xmit_one(dev, skb, txq)
        return NET_XMIT_SUCCESS

    def xmit_one(self, dev: NetDevice, skb: SkBuff, txq: NetdevQueue | None = None) -> bool:
        """Call ``start_xmit``; False when the driver said BUSY and the core kept the skb
        (requeued at the head of its queue's backlog, or dropped with the qdisc when the
        carrier went).  ``txq`` is TX queue 1 or above; None is queue 0."""
        try:
            rc = dev.netdev_ops.start_xmit(skb, dev)
        except Exception as exc:
            dev.core_stats.tx_submitted += 1
            dev.core_stats.tx_driver_faults += 1
            kfree_tx(skb)
            self.driver_fault(dev, "start_xmit", exc)
            return True
        if rc != 0:  # not NETDEV_TX_OK
            if rc != NETDEV_TX_BUSY:
                self._odd_xmit_return(dev, rc)
            elif self._busy(dev, skb, txq):
                return False
            # else BUSY for an skb the driver listed or freed: taken, as NETDEV_TX_OK
        dev.core_stats.tx_submitted += 1
        if dev._watchdog_on:
            clock = self.loop.clock  # see dev_queue_xmit
            if txq is None:
                dev.trans_start = clock()  # the kernel's txq_trans_update() on TX_OK
            else:
                txq.trans_start = clock()
        return True

    def _odd_xmit_return(self, dev: NetDevice, rc: object) -> None:
        """``start_xmit`` returned neither NETDEV_TX_OK nor NETDEV_TX_BUSY: the skb counts as
        taken (as Linux's dev_xmit_complete() takes NET_XMIT_* codes); said once per device."""
        if dev in self._odd_returns:
            return
        self._odd_returns.add(dev)
        log.warning("%s: %s's %s; counted as taken", dev.name, self._owner(dev),
                    bad_xmit_return(rc))  # fmt: skip

    def _busy(self, dev: NetDevice, skb: SkBuff, txq: NetdevQueue | None = None) -> bool:
        """The driver said NETDEV_TX_BUSY: keep ``skb`` at the head of the qdisc (of
        ``txq``, when not queue 0) and return True.  False when the driver freed the skb or
        put it on a list of its own: the core cannot keep it, and it is taken as
        NETDEV_TX_OK (the caller counts it submitted, updates trans_start, drains on)."""
        dev.core_stats.tx_busy += 1
        if skb.freed:
            # BUSY means the core keeps the skb, yet the driver freed it: requeued, it would
            # reach start_xmit again after its free.  Lost: counted as a driver fault (a drop).
            dev.core_stats.tx_driver_faults += 1
            if dev not in self._busy_freed:
                self._busy_freed.add(dev)
                log.warning("%s: %s's start_xmit freed the skb and returned NETDEV_TX_BUSY: "
                            "BUSY means the core keeps the skb (free it only with "
                            "NETDEV_TX_OK); the frame is lost, counted in tx_dropped",
                            dev.name, self._owner(dev))  # fmt: skip
            return False
        if skb.on_list is not None:
            # BUSY, yet the driver put the skb on a list of its own: requeued, it would be on
            # two (Linux corrupts both).  The driver holds it: taken, as NETDEV_TX_OK.
            if dev not in self._busy_listed:
                self._busy_listed.add(dev)
                log.warning("%s: %s's start_xmit queued the skb on a list and returned "
                            "NETDEV_TX_BUSY: BUSY means the core keeps the skb, and an skb is "
                            "on one list at a time; return NETDEV_TX_OK once it is on yours "
                            "(taken as that)", dev.name, self._owner(dev))  # fmt: skip
            return False
        if dev._deactivated:
            # The carrier went off inside start_xmit: the qdisc is noop_qdisc now (Linux's
            # dev_deactivate resets the old one, freeing the skb requeued there).
            dev.core_stats.tx_qdisc_drops += 1
            kfree_tx(skb)
            return True
        if txq is not None:
            txq.qdisc.appendleft(skb)
            if not txq.stopped:
                self.loop.call_later(0.001, self._txq_wake, txq)
            return True
        dev.qdisc.appendleft(skb)
        if not dev._queue_stopped:
            # BUSY without stopping the queue is a driver bug in Linux too; retry soon.
            log.debug("%s: NETDEV_TX_BUSY with the queue awake", dev.name)
            # _wake, not qdisc_run: once the qdisc drains the attachment must read again
            # (the TAP reader stopped when it saw the qdisc non-empty).
            self.loop.call_later(0.001, self._wake, dev)
        return True

    def qdisc_run(self, dev: NetDevice) -> None:
        """Send what the qdisc holds while the queue is awake."""
        q = dev.qdisc
        while q and not dev._queue_stopped and dev.flags & IFF_UP:
            if not self.xmit_one(dev, q.popleft()):
                return

    def queue_woken(self, dev: NetDevice) -> None:
        """Called by ``netif_wake_queue``: drain the qdisc, then let the stack send again."""
        if dev.qdisc or dev._tx_queues is not None:
            # Several queues: the wake may come from start_xmit on another queue (its TX
            # reaped there), and the attachment must not read and transmit inside it.
            self.loop.call_soon(self._wake, dev)
        else:
            self.attachment.queue_woken(dev)

    def _wake(self, dev: NetDevice) -> None:
        self.qdisc_run(dev)
        if not dev._queue_stopped:
            self.attachment.queue_woken(dev)

    def txq_woken(self, txq: NetdevQueue) -> None:
        """:meth:`queue_woken` for TX queue 1 or above (``netif_tx_wake_queue``): deferred,
        as the wake may come from start_xmit on another queue."""
        self.loop.call_soon(self._txq_wake, txq)

    def _txq_wake(self, txq: NetdevQueue) -> None:
        dev = txq.dev
        q = txq.qdisc
        while q and not txq.stopped and dev.flags & IFF_UP and txq.index < dev.real_num_tx_queues:
            if not self.xmit_one(dev, q.popleft(), txq):
                return
        if not txq.stopped:
            self.attachment.queue_woken(dev)

    # -- watchdog -----------------------------------------------------------------------------
    def _arm_watchdog(self, dev: NetDevice) -> None:
        """At open: watch the queue of a driver with ``tx_timeout`` (the kernel's dev_watchdog_up)."""
        ops = dev.netdev_ops
        if type(ops).tx_timeout is NetDeviceOps.tx_timeout:
            return
        if dev.watchdog_timeo <= 0:
            dev.watchdog_timeo = 5.0  # kernel default: 5 * HZ
        dev._watchdog_on = True
        if any_txq_stopped(dev):
            self.arm_watchdog(dev)

    def arm_watchdog(self, dev: NetDevice, not_before: float = 0.0) -> None:
        """Check ``dev`` once its queue can have been stopped for ``watchdog_timeo`` (and
        not before ``not_before``, a loop-clock time).

        The kernel's dev_watchdog runs every period while a device is up; only a
        stopped queue can time out, so netdrv checks only while one is stopped
        (armed by ``netif_stop_queue``): an idle daemon is not woken hundreds of
        times a second by short timeouts such as snull's 5 ms.
        """
        timeo = dev.watchdog_timeo
        start = dev.trans_start
        if dev.real_num_tx_queues > 1:  # the queue that sent last longest ago
            start = min((t for _, t in self._tx_stopped(dev)), default=start)
        when = max(self.loop.clock(), start + timeo, not_before) + timeo / 16
        dev._watchdog = self.loop.call_at(when, self._watchdog_check, dev)

    def watchdog_up(self, dev: NetDevice) -> None:
        """Watch a stopped queue again (Linux's ``__netdev_watchdog_up``, from
        ``netif_device_attach``)."""
        if dev._watchdog_on and any_txq_stopped(dev) and dev._carrier and dev._watchdog is None:
            self.arm_watchdog(dev)

    @staticmethod
    def _tx_stopped(dev: NetDevice) -> list[tuple[int, float]]:
        """Index and ``trans_start`` of each stopped TX queue in use, lowest index first
        (as dev_watchdog looks)."""
        txqs = dev._tx_queues
        if txqs is None:
            return [(0, dev.trans_start)] if dev._queue_stopped else []
        return [(q.index, q.trans_start) for q in txqs[: dev.real_num_tx_queues] if q.stopped]

    def _watchdog_check(self, dev: NetDevice) -> None:
        dev._watchdog = None
        if (not dev._watchdog_on or not dev.is_up or not dev._present
                or self.devices.get(dev.name) is not dev):  # fmt: skip
            return  # a detached device: netif_device_attach watches it again
        mq = dev._tx_queues is not None  # one queue: the device's fields, no list (per check)
        if not (any_txq_stopped(dev) if mq else dev._queue_stopped):
            return  # woken in time: the next netif_stop_queue arms again
        now = self.loop.clock()
        timeo = dev.watchdog_timeo
        if mq:
            late = [(i, t) for i, t in self._tx_stopped(dev) if now - t > timeo]
        else:
            late = [(0, dev.trans_start)] if now - dev.trans_start > timeo else []
        if dev._carrier and late:
            index, start = late[0]  # dev_watchdog reports the first queue that timed out
            dev.watchdog_fired += 1
            dev.core_stats.tx_timeouts += 1
            log.warning(
                "%s: transmit queue %d timed out (%.0f ms since last transmission)",
                dev.name, index, (now - start) * 1000,
            )  # fmt: skip
            if index:
                netdev_get_tx_queue(dev, index).trans_start = now
            else:
                dev.trans_start = now
            try:
                dev.netdev_ops.tx_timeout(dev, index)
            except Exception as exc:
                self.driver_fault(dev, "tx_timeout", exc)
        # Without carrier a stopped queue is no timeout: carrier_changed arms again.
        stopped = any_txq_stopped(dev) if mq else dev._queue_stopped
        if dev._watchdog_on and stopped and dev._carrier and dev._watchdog is None:
            # After a timeout, dev_watchdog's next look is a full period away: another
            # queue late too is reported then, not tx_timeout once per queue at once.
            self.arm_watchdog(dev, now + timeo if late else 0.0)

    # -- carrier ------------------------------------------------------------------------------
    def carrier_changed(self, dev: NetDevice) -> None:
        """Called by ``netif_carrier_on/off``: on an up device, what Linux's linkwatch does
        (``linkwatch_do_dev``): :meth:`_dev_deactivate` at carrier off, :meth:`_dev_activate`
        at carrier on.  A device that is down is left as it is."""
        if dev.is_up:
            dev.operstate = oper_up(dev)
            if dev._carrier:
                if dev._deactivated:
                    self._dev_activate(dev)
            elif not dev._deactivated:
                self._dev_deactivate(dev)
        if dev._carrier and dev._watchdog_on and any_txq_stopped(dev) and dev._watchdog is None:
            # Linux's netif_carrier_on restarts dev_watchdog a full period from now.
            dev._watchdog = self.loop.call_later(dev.watchdog_timeo, self._watchdog_check, dev)
        self.attachment.carrier_changed(dev)
        self._notify("carrier", dev)

    def _dev_deactivate(self, dev: NetDevice) -> None:
        """Linux's ``dev_deactivate``: each TX queue's qdisc becomes ``noop_qdisc``.

        What the qdiscs hold (a skb requeued after ``NETDEV_TX_BUSY`` too, and what tx
        middleware holds: :meth:`add_purge`) is dropped, freed and counted in
        ``tx_qdisc_drops``, and so is every frame sent until
        :meth:`_dev_activate`.  The driver's queue state (``netif_queue_stopped``) and
        its Byte Queue Limits are left alone: what ``start_xmit`` took is the driver's.
        """
        dev._deactivated = True
        dev._queue_stopped = True  # dev_queue_xmit leaves its inline path for _enqueue
        purge_tx_queues(dev)
        self._purge_held(dev)
        # A TAP reader stopped for the frames held (back-pressure) reads again and drops
        # what the kernel queued before it saw the carrier go; deferred, as carrier off
        # may come from inside start_xmit.
        self.loop.call_soon(self._deactivated_read, dev)

    def _deactivated_read(self, dev: NetDevice) -> None:
        if dev._deactivated and dev.is_up:
            self.attachment.queue_woken(dev)

    def _dev_activate(self, dev: NetDevice) -> None:
        """Linux's ``dev_activate`` at carrier on: the qdiscs are back; every queue the
        driver and BQL leave awake sends again, and the attachment reads again (deferred,
        as :meth:`queue_woken` does: the carrier may come back inside a driver's call)."""
        dev._deactivated = False
        dev._queue_stopped = stopped = dev._drv_xoff or dev._stack_xoff
        if not stopped:
            self.loop.call_soon(self._wake, dev)
        for txq in (dev._tx_queues or ())[1 : dev.real_num_tx_queues]:
            if not txq.stopped:
                self.txq_woken(txq)

    # -- receive ------------------------------------------------------------------------------
    def netif_rx(self, skb: SkBuff) -> int:
        """Queue a received skb on the backlog; NET_RX_DROP when it is full or the device down.

        On an attachment with ``direct_rx`` (the kernel: delivering is a write to
        the TAP fd) an skb arriving while the backlog is empty is delivered at
        once instead of waiting for the next loop round: one hop less per packet
        and less latency.  Anything arriving during that delivery, or while
        skbs are queued, takes the backlog, so order and NET_RX_DROP on a full
        backlog are kept.
        """
        if skb.freed or skb.on_list is not None:  # freed, dropped, held by GRO, or listed
            raise skb_not_owned("netif_rx", skb)
        dev: NetDevice = skb.dev  # type: ignore[assignment]  # None: the try below raises
        # No `dev is None` test per frame: a try costs nothing until it raises (CPython
        # 3.11), and None has no core_stats.  The stores below load core_stats again on
        # the rare paths instead of keeping it in a local on the common one.
        try:
            dev.core_stats.rx_submitted += 1
        except AttributeError:
            raise ValueError("netif_rx: skb.dev is not set (use eth_type_trans or set skb.dev)"
                             ) from None  # fmt: skip
        if not dev.flags & 1:  # IFF_UP (a constant: see dev_queue_xmit)
            dev.core_stats.rx_down_drops += 1
            skb.freed = True
            return NET_RX_DROP
        backlog = self.backlog
        if self._direct_rx and not backlog and not self._rx_busy:
            self._rx_busy = True
            try:
                # _deliver_skb() inline for the common case (no rx middleware, no
                # capture taps; the device is up, checked above): a call less per frame.
                if dev.rx_hook is not None or self._taps:
                    return self._deliver_skb(skb)
                if self.attachment.receive(dev, skb) is False:
                    skb.freed = True  # refused by the stack (counted by it): dropped
                    return NET_RX_DROP
                dev.core_stats.rx_delivered += 1
                return 0  # NET_RX_SUCCESS
            except Exception as exc:
                return self._deliver_failed(dev, skb, exc)
            finally:
                self._rx_busy = False
        if len(backlog) >= self.netdev_max_backlog:
            dev.core_stats.rx_backlog_drops += 1
            skb.freed = True
            return NET_RX_DROP
        backlog.append(skb)
        if not self._backlog_scheduled:
            self._backlog_scheduled = True
            self.loop.call_soon(self.process_backlog)
        return 0  # NET_RX_SUCCESS (a constant: see dev_queue_xmit)

    def process_backlog(self) -> None:
        """Deliver up to ``dev_weight`` backlog skbs; reschedule if more are waiting."""
        bl = self.backlog
        popleft = bl.popleft
        receive = self.attachment.receive
        taps = self._taps  # mutated in place, never replaced: a local load per skb
        try:
            for _ in range(min(len(bl), self.dev_weight)):
                skb = popleft()
                # Never None: netif_rx refuses an skb without a device before queueing it.
                dev: NetDevice = skb.dev  # type: ignore[assignment]
                # _deliver_skb() inline for the common case (it runs for every frame): no
                # rx middleware, the device up, no capture taps.
                if dev.rx_hook is not None or not dev.flags & 1 or taps:  # 1: IFF_UP
                    self._deliver_skb(skb)
                    continue
                try:
                    if receive(dev, skb) is not False:
                        dev.core_stats.rx_delivered += 1
                    else:
                        skb.freed = True  # refused by the stack (counted by it): dropped
                except Exception as exc:
                    self._deliver_failed(dev, skb, exc)
        finally:
            # Rescheduled whatever happened: a backlog left "scheduled" but not
            # scheduled would hold every device's received frames for good.
            if bl:
                self.loop.call_soon(self.process_backlog)
            else:
                self._backlog_scheduled = False

    def netif_receive_skb(self, skb: SkBuff) -> int:
        """Deliver ``skb`` to the stack now (the NAPI path).

        Counted in ``rx_submitted`` like ``netif_rx``, so that on every path
        ``rx_submitted == rx_delivered + rx_backlog_drops + rx_down_drops``.
        """
        dev = skb.dev
        assert dev is not None
        if skb.freed or skb.on_list is not None:  # freed, dropped, held by GRO, or listed
            raise skb_not_owned("netif_receive_skb", skb)
        dev.core_stats.rx_submitted += 1
        return self._deliver_skb(skb)

    #: Hand a received skb up through GRO (see :func:`netdrv_core.gro.napi_gro_receive`).
    napi_gro_receive = gro_receive

    def deliver_gro(self, skb: SkBuff, count: int) -> int:
        """Hand up what GRO held: one skb, or a super-frame merged from ``count`` skbs,
        each already counted in ``rx_submitted`` (and each counted delivered or dropped)."""
        rc = self._deliver_skb(skb)
        if count > 1:
            cs = skb.dev.core_stats  # type: ignore[union-attr]
            if rc == NET_RX_SUCCESS:
                cs.rx_delivered += count - 1
            else:
                cs.rx_down_drops += count - 1
        return rc

    def _deliver_skb(self, skb: SkBuff) -> int:
        """Hand an skb already counted in ``rx_submitted`` to the attachment (backlog, NAPI)."""
        dev = skb.dev
        assert dev is not None
        if dev.rx_hook is not None:
            try:
                if not dev.rx_hook(skb):
                    return NET_RX_SUCCESS  # middleware took it (dropped and counted, or delayed)
            except Exception as exc:
                return self._deliver_failed(dev, skb, exc)
        return self.deliver_past_hook(dev, skb)

    def deliver_past_hook(self, dev: NetDevice, skb: SkBuff) -> int:
        """What delivery does after the rx middleware: capture taps, the stack, the counters.

        Also how rx middleware that held a frame (``phy.FaultInjector``'s delay)
        hands it on later.
        """
        cs = dev.core_stats
        try:
            if not dev.flags & IFF_UP:
                cs.rx_down_drops += 1
                skb.freed = True  # dropped by the core, as every other refusal here
                return NET_RX_DROP
            if self._taps:
                taps = self._taps.get(dev.name)
                if taps:
                    self._run_taps(taps, dev, skb, "rx")
            if self.attachment.receive(dev, skb) is False:
                skb.freed = True  # the stack refused it (counted as a drop by the attachment)
                return NET_RX_DROP
        except Exception as exc:
            return self._deliver_failed(dev, skb, exc)
        cs.rx_delivered += 1
        return NET_RX_SUCCESS

    def _deliver_failed(self, dev: NetDevice, skb: SkBuff, exc: Exception) -> int:
        """Delivering ``skb`` raised: drop and count it, and keep every other frame flowing.

        An OSError from the attachment (the kernel refused a write) costs the frame
        only; anything else — a malformed skb, a raising rx middleware — is a fault
        of the device's driver, which is taken down like a raising ``start_xmit``.
        """
        dev.core_stats.rx_down_drops += 1
        skb.freed = True
        if isinstance(exc, OSError):
            log.warning("%s: a received frame could not be delivered: %s (dropped)", dev.name, exc)
        else:
            self.driver_fault(dev, "netif_rx (delivering the skb)", exc)
        return NET_RX_DROP

    # -- packet taps (capture) ------------------------------------------------------------------
    def add_tap(
        self, dev: NetDevice, callback: TapCallback, gone: Callable[[], None] | None = None
    ) -> Callable[[], None]:
        """Call ``callback(dev, skb, "rx"|"tx")`` for every frame; returns a remover.

        ``gone()`` is called if the tap ends first: the device is unregistered, or
        ``callback`` raised (it is removed then, and the error logged).
        """
        name = dev.name
        self._taps.setdefault(name, []).append(callback)
        if gone is not None:
            self._tap_gone.setdefault(name, []).append(gone)

        def remove() -> None:
            self._tap_ends.pop(callback, None)
            name = dev.name  # the device's name now: a rename (dev_rename) moved its taps
            lst = self._taps.get(name)
            if lst is not None and callback in lst:
                lst.remove(callback)
                if not lst:  # no tap left: the per-frame paths skip the tap lookups again
                    del self._taps[name]
            gl = self._tap_gone.get(name)
            if gone is not None and gl is not None and gone in gl:
                gl.remove(gone)
                if not gl:
                    del self._tap_gone[name]

        def ended() -> None:  # the tap raised: removed, and its owner told
            remove()
            if gone is not None:
                try:
                    gone()
                except Exception:
                    log.exception("%s: a capture tap's end callback raised", dev.name)

        self._tap_ends[callback] = ended
        return remove

    def _run_taps(self, taps: list[TapCallback], dev: NetDevice, skb: SkBuff, d: str) -> None:
        for cb in list(taps):
            try:
                cb(dev, skb, d)
            except Exception:
                log.exception("%s: capture tap raised; removing it", dev.name)
                end = self._tap_ends.get(cb)
                if end is not None:
                    end()
                elif cb in taps:
                    taps.remove(cb)
                    if not taps and self._taps.get(dev.name) is taps:
                        del self._taps[dev.name]

    # -- frames middleware holds ---------------------------------------------------------------
    def add_purge(self, dev: NetDevice, purge: Callable[[bool], None]) -> Callable[[], None]:
        """Call ``purge(gone)`` wherever the core drops what ``dev``'s qdiscs hold; returns
        a function that stops it.

        For middleware that holds frames on their way as a qdisc does
        (``phy.FaultInjector``'s delay, like netem's queue): ``gone`` is False at
        ``dev_close`` and at carrier loss, where Linux's ``dev_deactivate`` resets every
        qdisc, and True once, the last call, when ``dev`` is unregistered: nothing held
        for it may outlive it, in either direction.  ``purge`` drops, frees and counts
        what it holds as the core counts its own (``tx_qdisc_drops``, ``rx_down_drops``).
        """
        self._purges.setdefault(dev, []).append(purge)

        def remove() -> None:
            lst = self._purges.get(dev)
            if lst is not None and purge in lst:
                lst.remove(purge)
                if not lst:
                    del self._purges[dev]

        return remove

    def _purge_held(self, dev: NetDevice, gone: bool = False) -> None:
        purges = self._purges.pop(dev, []) if gone else self._purges.get(dev, [])
        for purge in list(purges):
            try:
                purge(gone)
            except Exception:
                log.exception("%s: purging the frames middleware holds raised", dev.name)

    # -- teardown ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Unregister every device and close the attachment."""
        for dev in list(self.devices.values()):
            try:
                self.unregister_netdev(dev)
            except Exception:
                log.exception("%s: unregister failed", dev.name)
        self.attachment.close()

    def link_flags(self, dev: NetDevice) -> int:
        """Flags as ``ip link`` would show them (LOWER_UP when up with carrier)."""
        f = dev.flags
        if f & IFF_UP and dev._carrier:
            f |= IFF_LOWER_UP
        return f


# -- module-level kernel-style API -------------------------------------------------------------
def _pfifo_enqueue(dev: NetDevice, q: deque[SkBuff], skb: SkBuff) -> int:
    """Queue ``skb`` at the tail of a TX queue's backlog ``q``, a pfifo of ``tx_queue_len``
    frames (with several queues, each has its own, as under Linux's ``mq``); a full one
    drops the frame and counts it."""
    if len(q) >= max(dev.tx_queue_len, 1):
        dev.core_stats.tx_qdisc_drops += 1
        kfree_tx(skb)
        return NET_XMIT_DROP
    q.append(skb)
    return NET_XMIT_SUCCESS


def _noop_enqueue(dev: NetDevice, skb: SkBuff) -> int:
    """Linux's ``noop_qdisc``, every TX queue's while an up device has no carrier
    (``dev_deactivate``): the frame is dropped, freed and counted, and the answer is
    ``NET_XMIT_CN``, as ``noop_enqueue``'s (a full pfifo's is ``NET_XMIT_DROP``)."""
    dev.core_stats.tx_qdisc_drops += 1
    kfree_tx(skb)
    return NET_XMIT_CN


def bad_xmit_return(rc: object) -> str:
    """What to say about a ``start_xmit`` return value that is neither OK nor BUSY."""
    why = " (a missing return statement?)" if rc is None else ""
    return (
        f"start_xmit returned {rc!r}{why}: return NETDEV_TX_OK (the skb is now the driver's "
        f"to count and free) or NETDEV_TX_BUSY (the core keeps it; stop the queue first)"
    )


_IP_CSUMS = NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM


def netdev_fix_features(dev: NetDevice, features: int) -> int:
    """The core's rules on a feature set (Linux's ``netdev_fix_features``).

    Generic checksumming makes the protocol-specific bits redundant; TSO and
    generic segmentation (GSO) need scatter-gather, and TSO/USO a checksum
    offload for its protocol (the device must finish each segment's checksum):
    USO, one bit for IPv4 and IPv6, generic checksumming or both IP ones (Linux
    6.11, "net: Make USO depend on CSUM offload"; USO does not need SG);
    IPv4 ID mangling qualifies IPv4 TSO and ECN any TSO: each goes without what
    it qualifies.
    """
    if features & NETIF_F_HW_CSUM and features & (NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM):
        features &= ~(NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM)
    if not features & NETIF_F_SG:  # GSO too: Linux's segments are the super-frame's frags
        features &= ~(NETIF_F_ALL_TSO | NETIF_F_GSO)
    if not features & (NETIF_F_HW_CSUM | NETIF_F_IP_CSUM):
        features &= ~(NETIF_F_TSO | NETIF_F_TSO_ECN)
    if not features & (NETIF_F_HW_CSUM | NETIF_F_IPV6_CSUM):
        features &= ~NETIF_F_TSO6
    if not (features & NETIF_F_HW_CSUM or (features & _IP_CSUMS) == _IP_CSUMS):
        features &= ~NETIF_F_GSO_UDP_L4  # (Linux's netdev_has_ip_or_hw_csum)
    if not features & NETIF_F_TSO:
        features &= ~NETIF_F_TSO_MANGLEID  # mangling IPv4 IDs needs IPv4 TSO
    if features & NETIF_F_ALL_TSO == NETIF_F_TSO_ECN:
        features &= ~NETIF_F_TSO_ECN  # ECN only qualifies TSO
    return features


def netdev_update_features(dev: NetDevice) -> int:
    """Recompute ``dev.features`` (see :meth:`Host.netdev_update_features`)."""
    if dev.host is None:
        raise DriverError(f"{dev.name}: not registered", errno.ENODEV)
    return dev.host.netdev_update_features(dev)


def register_netdev(dev: NetDevice, host: Host | None = None) -> None:
    """Register ``dev`` with ``host`` (default: the host running the driver's init)."""
    (host or current_host()).register_netdev(dev)


def unregister_netdev(dev: NetDevice) -> None:
    """Unregister ``dev`` from its host."""
    if dev.host is None:
        raise DriverError(f"{dev.name}: not registered", errno.ENODEV)
    dev.host.unregister_netdev(dev)


def dev_get_by_name(name: str, host: Host | None = None) -> NetDevice | None:
    """Look a device up by name."""
    return (host or current_host()).dev_get_by_name(name)


def netif_rx(skb: SkBuff) -> int:
    """Hand a received skb to the stack (``skb.dev`` must be set); NET_RX_SUCCESS/NET_RX_DROP."""
    dev = skb.dev
    if dev is None or dev.host is None:
        raise ValueError("netif_rx: skb.dev must be a registered device")
    return dev.host.netif_rx(skb)


def netif_receive_skb(skb: SkBuff) -> int:
    """Deliver a received skb immediately (from a NAPI poll)."""
    dev = skb.dev
    if dev is None or dev.host is None:
        raise ValueError("netif_receive_skb: skb.dev must be a registered device")
    return dev.host.netif_receive_skb(skb)


def netif_receive_skb_list(skbs: Iterable[SkBuff]) -> None:
    """Deliver a batch of received skbs now, in order (``netif_receive_skb_list``).

    ``skbs`` is a list of skbs or an :class:`~netdrv_core.skbqueue.SkBuffHead`,
    which ends empty (Linux's list is consumed); each goes as with
    :func:`netif_receive_skb` (the return codes are not reported, as in Linux).
    """
    if isinstance(skbs, SkBuffHead):
        while (skb := skb_dequeue(skbs)) is not None:
            netif_receive_skb(skb)
        return
    for skb in skbs:
        netif_receive_skb(skb)


def netdev_features_change(dev: NetDevice) -> None:
    """Tell the stack ``dev.features`` changed (``netdev_features_change``,
    NETDEV_FEAT_CHANGE): for a driver that changed them itself rather than through
    :func:`netdev_update_features`.  The kernel attachment re-programs the TAP's
    offloads.  Nothing to tell before the device is registered."""
    if dev.host is not None and dev.reg_state == NETREG_REGISTERED:
        dev.host.attachment.features_changed(dev)


def dev_queue_xmit(skb: SkBuff) -> int:
    """Transmit ``skb`` on ``skb.dev`` through the core."""
    dev = skb.dev
    if dev is None or dev.host is None:
        raise ValueError("dev_queue_xmit: skb.dev must be a registered device")
    return dev.host.dev_queue_xmit(skb)


def dev_open(dev: NetDevice) -> int:
    """Bring ``dev`` up."""
    assert dev.host is not None, f"{dev.name} is not registered"
    return dev.host.dev_open(dev)


def dev_close(dev: NetDevice) -> int:
    """Bring ``dev`` down."""
    assert dev.host is not None, f"{dev.name} is not registered"
    return dev.host.dev_close(dev)
