"""Driver messages in the kernel's words: ``netdev_err()`` and friends, ``net_ratelimit()``,
``netif_msg_init()`` and the ``NETIF_MSG_*`` bits that ``ethtool -s DEV msglvl`` sets.

A message names the interface (``sn0: transmit timeout``), as Linux's ``netdev_*``
do, and goes to the logger ``netdrv.DRIVER`` (the driver's name), so the daemon's
log says who spoke.  As in the kernel, a message on the per-packet path is guarded
by :func:`net_ratelimit` or a ``netif_msg_*`` test of the driver's ``msg_enable``::

    if netif_msg_rx_err(priv) and net_ratelimit():
        netdev_err(dev, "bad frame of %d bytes", len(skb))
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
import weakref
from collections.abc import Iterator
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any

from .driver import Driver
from .netdevice import NETREG_REGISTERED, NETREG_UNINITIALIZED, NETREG_UNREGISTERED

if TYPE_CHECKING:
    from .netdevice import NetDevice

__all__ = [
    "NETIF_MSG_DRV",
    "NETIF_MSG_HW",
    "NETIF_MSG_IFDOWN",
    "NETIF_MSG_IFUP",
    "NETIF_MSG_INTR",
    "NETIF_MSG_LINK",
    "NETIF_MSG_PKTDATA",
    "NETIF_MSG_PROBE",
    "NETIF_MSG_RX_ERR",
    "NETIF_MSG_RX_STATUS",
    "NETIF_MSG_TIMER",
    "NETIF_MSG_TX_DONE",
    "NETIF_MSG_TX_ERR",
    "NETIF_MSG_TX_QUEUED",
    "NETIF_MSG_WOL",
    "RateLimit",
    "net_ratelimit",
    "netdev_crit",
    "netdev_dbg",
    "netdev_err",
    "netdev_info",
    "netdev_notice",
    "netdev_printk",
    "netdev_warn",
    "netdev_warn_once",
    "netif_dbg",
    "netif_err",
    "netif_info",
    "netif_msg_drv",
    "netif_msg_hw",
    "netif_msg_ifdown",
    "netif_msg_ifup",
    "netif_msg_init",
    "netif_msg_intr",
    "netif_msg_link",
    "netif_msg_pktdata",
    "netif_msg_probe",
    "netif_msg_rx_err",
    "netif_msg_rx_status",
    "netif_msg_timer",
    "netif_msg_tx_done",
    "netif_msg_tx_err",
    "netif_msg_tx_queued",
    "netif_msg_wol",
    "netif_warn",
    "printk_state",
]

# include/linux/netdevice.h, in the order ethtool's msglvl names them (ethtool.NETIF_MSG_NAMES).
NETIF_MSG_DRV = 0x0001
NETIF_MSG_PROBE = 0x0002
NETIF_MSG_LINK = 0x0004
NETIF_MSG_TIMER = 0x0008
NETIF_MSG_IFDOWN = 0x0010
NETIF_MSG_IFUP = 0x0020
NETIF_MSG_RX_ERR = 0x0040
NETIF_MSG_TX_ERR = 0x0080
NETIF_MSG_TX_QUEUED = 0x0100
NETIF_MSG_INTR = 0x0200
NETIF_MSG_TX_DONE = 0x0400
NETIF_MSG_RX_STATUS = 0x0800
NETIF_MSG_PKTDATA = 0x1000
NETIF_MSG_HW = 0x2000
NETIF_MSG_WOL = 0x4000


def netif_msg_init(debug_value: int, default_msg_enable_bits: int) -> int:
    """``netif_msg_init``: a driver's ``debug`` parameter as ``msg_enable`` bits.

    Negative (or 32 and more): the driver's default bits; 0: no messages; N: the low N
    bits (``debug=3`` is drv, probe and link).
    """
    if debug_value < 0 or debug_value >= 32:
        return default_msg_enable_bits
    if debug_value == 0:
        return 0
    return (1 << debug_value) - 1


# netif_msg_TYPE(p): whether ``p.msg_enable`` (a driver's private data) has that bit.
def netif_msg_drv(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_DRV``."""
    return bool(p.msg_enable & NETIF_MSG_DRV)


def netif_msg_probe(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_PROBE``."""
    return bool(p.msg_enable & NETIF_MSG_PROBE)


def netif_msg_link(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_LINK``."""
    return bool(p.msg_enable & NETIF_MSG_LINK)


def netif_msg_timer(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_TIMER``."""
    return bool(p.msg_enable & NETIF_MSG_TIMER)


def netif_msg_ifdown(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_IFDOWN``."""
    return bool(p.msg_enable & NETIF_MSG_IFDOWN)


def netif_msg_ifup(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_IFUP``."""
    return bool(p.msg_enable & NETIF_MSG_IFUP)


def netif_msg_rx_err(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_RX_ERR``."""
    return bool(p.msg_enable & NETIF_MSG_RX_ERR)


def netif_msg_tx_err(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_TX_ERR``."""
    return bool(p.msg_enable & NETIF_MSG_TX_ERR)


def netif_msg_tx_queued(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_TX_QUEUED``."""
    return bool(p.msg_enable & NETIF_MSG_TX_QUEUED)


def netif_msg_intr(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_INTR``."""
    return bool(p.msg_enable & NETIF_MSG_INTR)


def netif_msg_tx_done(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_TX_DONE``."""
    return bool(p.msg_enable & NETIF_MSG_TX_DONE)


def netif_msg_rx_status(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_RX_STATUS``."""
    return bool(p.msg_enable & NETIF_MSG_RX_STATUS)


def netif_msg_pktdata(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_PKTDATA``."""
    return bool(p.msg_enable & NETIF_MSG_PKTDATA)


def netif_msg_hw(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_HW``."""
    return bool(p.msg_enable & NETIF_MSG_HW)


def netif_msg_wol(p: Any) -> bool:
    """``p.msg_enable & NETIF_MSG_WOL``."""
    return bool(p.msg_enable & NETIF_MSG_WOL)


# -- netdev_printk and its levels ----------------------------------------------------------
_loggers: dict[object, logging.Logger] = {}
_STACK_DEPTH = 64  # frames searched for the driver of a device that has none yet


def _driver_on_stack(frame: FrameType | None) -> Driver | None:
    """The driver whose method is running below ``frame``: the owner of a device that
    is not registered yet (``init`` probing before ``self.register(dev)``)."""
    for _ in range(_STACK_DEPTH):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_argcount and code.co_varnames[0] == "self":
            obj = frame.f_locals.get("self")
            if isinstance(obj, Driver):
                return obj
        frame = frame.f_back
    return None


def _logger(dev: NetDevice) -> logging.Logger:
    drv = dev.driver
    if drv is None:
        # Not registered by its driver yet (or registered the LDD way, ``register_netdev
        # (dev)``, in an init that has not returned): the driver is the one running it.
        # Rare — probing, errors at load — so the stack is searched only then.
        drv = _driver_on_stack(sys._getframe(3))
    name = getattr(drv, "name", None)
    logger = _loggers.get(name)
    if logger is None:  # (getLogger takes logging's lock: once per driver name)
        ok = isinstance(name, str) and name
        logger = _loggers[name] = logging.getLogger(f"netdrv.{name}" if ok else "netdrv")
    return logger


# netdev_reg_state(): what a message says of a device that is not (or no longer) registered.
_REG_STATES = {NETREG_UNINITIALIZED: " (uninitialized)", NETREG_REGISTERED: "",
               NETREG_UNREGISTERED: " (unregistered)"}  # fmt: skip


def _name(dev: NetDevice) -> str:
    """``netdev_name()`` and ``netdev_reg_state()``, as Linux prefixes a message.

    A device not registered yet still has its pattern (``eth%d``): ``(unnamed
    net_device) (uninitialized)``; one with a fixed name is ``sn0 (uninitialized)``,
    and after unregistration ``sn0 (unregistered)``.
    """
    name = dev.name
    if not name or "%" in name:
        name = "(unnamed net_device)"
    return name + _REG_STATES.get(getattr(dev, "reg_state", NETREG_REGISTERED), " (unknown)")


def _printk(level: int, dev: NetDevice, fmt: str, args: tuple[Any, ...]) -> None:
    # Called by the function the driver called: the record's file, line and function are
    # the driver's (stacklevel 3), as pytest's captured log and %(lineno)d show them.
    logger = _logger(dev)
    if not logger.isEnabledFor(level):
        return
    if args:
        logger.log(level, "%s: " + fmt, _name(dev), *args, stacklevel=3)
    else:
        logger.log(level, "%s: %s", _name(dev), fmt, stacklevel=3)


def netdev_printk(level: int, dev: NetDevice, fmt: str, *args: Any) -> None:
    """Log ``fmt % args`` at ``level`` (a :mod:`logging` level) as ``DEV: message``.

    The logger is ``netdrv.DRIVER`` (the device's driver; before the driver registered
    it, the driver whose code is running).  Without ``args`` the text is taken as it is
    (a ``%`` in it needs no escaping).  A device not registered yet is ``(unnamed
    net_device) (uninitialized)``, or ``NAME (uninitialized)``, as in the kernel.
    """
    _printk(level, dev, fmt, args)


def netdev_crit(dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netdev_crit`` (also for ``emerg``/``alert``): :data:`logging.CRITICAL`."""
    _printk(logging.CRITICAL, dev, fmt, args)


def netdev_err(dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netdev_err``: :data:`logging.ERROR`."""
    _printk(logging.ERROR, dev, fmt, args)


def netdev_warn(dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netdev_warn``: :data:`logging.WARNING`."""
    _printk(logging.WARNING, dev, fmt, args)


def netdev_notice(dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netdev_notice``: :data:`logging.INFO` (Python has no level between)."""
    _printk(logging.INFO, dev, fmt, args)


def netdev_info(dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netdev_info``: :data:`logging.INFO`."""
    _printk(logging.INFO, dev, fmt, args)


def netdev_dbg(dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netdev_dbg``: :data:`logging.DEBUG` (the daemon logs it once ``netdrv sysctl
    loglevel=8`` lets debug messages in)."""
    _printk(logging.DEBUG, dev, fmt, args)


# The call sites that have warned: the caller's code, by identity (equal code in another
# module has not warned), and the offsets in it.  A plugin the daemon forgot and imports
# afresh has new code, so it warns again, as a reloaded kernel module does (its once-flags
# are in the module's data); an entry goes with its code.
_warned_once: dict[int, tuple[weakref.ref[CodeType], set[int]]] = {}


def _once_sites(code: CodeType) -> set[int]:
    key = id(code)
    warned = _warned_once  # (printk_state may swap in another for a while)
    entry = warned.get(key)
    if entry is None or entry[0]() is not code:
        ref = weakref.ref(code, lambda _ref: warned.pop(key, None))
        entry = warned[key] = (ref, set())
    return entry[1]


def netdev_warn_once(dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netdev_warn_once``: the first time this call site is reached, then never again
    (whatever the device or text), as the kernel's; a plugin imported afresh (``netdrv
    unload``, then ``load``) warns again, as a reloaded module does."""
    caller = sys._getframe(1)
    sites = _once_sites(caller.f_code)
    if caller.f_lasti in sites:
        return
    sites.add(caller.f_lasti)
    _printk(logging.WARNING, dev, fmt, args)


# netif_LEVEL(priv, TYPE, dev, …): netdev_LEVEL when priv.msg_enable has the TYPE bit.
def netif_err(priv: Any, msg_type: int, dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netif_err(priv, TYPE, dev, …)``: :func:`netdev_err` if ``priv.msg_enable & msg_type``."""
    if priv.msg_enable & msg_type:
        _printk(logging.ERROR, dev, fmt, args)


def netif_warn(priv: Any, msg_type: int, dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netif_warn``: :func:`netdev_warn` if ``priv.msg_enable & msg_type``."""
    if priv.msg_enable & msg_type:
        _printk(logging.WARNING, dev, fmt, args)


def netif_info(priv: Any, msg_type: int, dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netif_info``: :func:`netdev_info` if ``priv.msg_enable & msg_type``."""
    if priv.msg_enable & msg_type:
        _printk(logging.INFO, dev, fmt, args)


def netif_dbg(priv: Any, msg_type: int, dev: NetDevice, fmt: str, *args: Any) -> None:
    """``netif_dbg``: :func:`netdev_dbg` if ``priv.msg_enable & msg_type``."""
    if priv.msg_enable & msg_type:
        _printk(logging.DEBUG, dev, fmt, args)


# -- rate limits ---------------------------------------------------------------------------
class RateLimit:
    """``struct ratelimit_state`` and ``__ratelimit()``: calling it says whether to print.

    At most ``burst`` messages per ``interval`` seconds; the rest are counted in
    :attr:`missed`, and the first call of a later interval logs ``NAME: N callbacks
    suppressed`` as the kernel does, NAME being ``name`` or, as the kernel's, the
    function that called.  ``interval`` 0 never limits.
    """

    def __init__(self, interval: float = 5.0, burst: int = 10, name: str | None = None,
                 clock: Any = time.monotonic) -> None:  # fmt: skip
        self.interval = interval
        self.burst = burst
        self.name = name
        self.clock = clock
        self.begin: float | None = None
        self.printed = 0
        self.missed = 0

    def __call__(self) -> bool:
        if not self.interval:
            return True
        now = self.clock()
        if self.begin is None or now - self.begin >= self.interval:
            if self.missed:
                name = self.name or sys._getframe(1).f_code.co_qualname
                logging.getLogger("netdrv").warning("%s: %d callbacks suppressed", name,
                                                    self.missed, stacklevel=2)  # fmt: skip
            self.begin, self.printed, self.missed = now, 0, 0
        if self.printed < self.burst:
            self.printed += 1
            return True
        self.missed += 1
        return False


_net_ratelimit_state = RateLimit(5.0, 10, "net_ratelimit")


def net_ratelimit() -> bool:
    """``net_ratelimit()``: the networking code's shared limit, 10 messages per 5 s
    (``net.core.message_burst``/``message_cost``); guard per-packet messages with it."""
    return _net_ratelimit_state()


@contextlib.contextmanager
def printk_state(clock: Any = time.monotonic) -> Iterator[None]:
    """A fresh :func:`net_ratelimit` (on ``clock``) and :func:`netdev_warn_once` memory
    inside the block, as after a boot; the old ones after it.

    The pytest kit's ``netdrv_host`` runs each test in one, on ``netdrv_clock``: a test
    that floods the limit does not silence the next test's warnings, a warn-once warns
    in every test, and ``netdrv_clock.advance(5)`` starts a new interval.
    """
    global _net_ratelimit_state, _warned_once
    saved = _net_ratelimit_state, _warned_once
    _net_ratelimit_state = RateLimit(5.0, 10, "net_ratelimit", clock=clock)
    _warned_once = {}
    try:
        yield
    finally:
        _net_ratelimit_state, _warned_once = saved
