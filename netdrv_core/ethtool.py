"""ethtool: the driver-information, link-settings and tuning interface.

A driver sets ``dev.ethtool_ops`` to an :class:`EthtoolOps` subclass; netdrv's
``status`` and ``ethtool`` views call these.  Defaults derive what they can from
the device so a minimal driver still answers.

The lower half of this module is the core side of ethtool (Linux's
``net/ethtool/``): :func:`ethtool_get`, :func:`ethtool_set` and friends check a
request as the kernel's ethnl handlers do — the driver implements the op, the
values are within the limits the driver reported, something actually changes —
before the driver sees it, and call set ops through the host's guarded call so
that a raising op is a driver fault, not a daemon crash.  The real ``ethtool``
binary cannot reach a netdrv driver (the kernel answers ethtool requests on a
TAP itself); ``netdrv ethtool`` is the front end.
"""

from __future__ import annotations

import errno
import logging
import math
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import NetdrvError, oserror_errno, refusal_message, refusal_text
from .netdevice import (
    NETIF_F_ALL_TSO,
    NETIF_F_CSUM_MASK,
    NETIF_F_GRO,
    NETIF_F_GSO,
    NETIF_F_GSO_UDP_L4,
    NETIF_F_HIGHDMA,
    NETIF_F_HW_CSUM,
    NETIF_F_HW_VLAN_CTAG_FILTER,
    NETIF_F_HW_VLAN_CTAG_RX,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_IP_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_LOOPBACK,
    NETIF_F_LRO,
    NETIF_F_NTUPLE,
    NETIF_F_RXCSUM,
    NETIF_F_RXHASH,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
    NETIF_F_TSO_MANGLEID,
    netif_device_present,
)

if TYPE_CHECKING:
    from .host import Host
    from .netdevice import NetDevice

__all__ = [
    "DUPLEX_FULL",
    "DUPLEX_HALF",
    "EEE_SETTINGS",
    "ETHTOOL_ID_ACTIVE",
    "ETHTOOL_ID_INACTIVE",
    "ETHTOOL_ID_OFF",
    "ETHTOOL_ID_ON",
    "ETHTOOL_REQUESTS",
    "ETHTOOL_TEST_TIMEOUT",
    "ETH_TEST_FL_EXTERNAL_LB",
    "ETH_TEST_FL_EXTERNAL_LB_DONE",
    "ETH_TEST_FL_FAILED",
    "ETH_TEST_FL_OFFLINE",
    "FEATURE_GROUPS",
    "LINK_MODE_NAMES",
    "LINK_SETTINGS",
    "MAX_PRIV_FLAGS",
    "NETDEV_FEATURE_NAMES",
    "NETIF_MSG_NAMES",
    "SOF_TIMESTAMPING_NAMES",
    "SOPASS_MAX",
    "SPEED_UNKNOWN",
    "WAKE_MAGIC",
    "WAKE_MAGICSECURE",
    "WAKE_PHY",
    "WOL_MODE_CHARS",
    "Channels",
    "Coalesce",
    "Completion",
    "DrvInfo",
    "EthtoolEee",
    "EthtoolEeprom",
    "EthtoolError",
    "EthtoolOps",
    "EthtoolRegs",
    "EthtoolTest",
    "LinkSettings",
    "PauseParam",
    "PhysId",
    "RingParam",
    "TsInfo",
    "WolInfo",
    "ethtool_features",
    "ethtool_get",
    "ethtool_get_eee",
    "ethtool_get_eeprom",
    "ethtool_get_msglevel",
    "ethtool_get_perm_addr",
    "ethtool_get_priv_flags",
    "ethtool_get_regs",
    "ethtool_get_ts_info",
    "ethtool_get_wol",
    "ethtool_nway_reset",
    "ethtool_op_get_ts_info",
    "ethtool_phys_id_begin",
    "ethtool_phys_id_stop",
    "ethtool_report",
    "ethtool_request",
    "ethtool_request_begin",
    "ethtool_self_test",
    "ethtool_self_test_begin",
    "ethtool_set",
    "ethtool_set_eee",
    "ethtool_set_eeprom",
    "ethtool_set_features",
    "ethtool_set_link_ksettings",
    "ethtool_set_msglevel",
    "ethtool_set_priv_flags",
    "ethtool_set_wol",
    "ethtool_supports",
    "netif_testing",
    "netif_testing_off",
    "netif_testing_on",
    "wol_mode_text",
]

log = logging.getLogger("netdrv.ethtool")

SPEED_UNKNOWN = -1
DUPLEX_HALF = 0
DUPLEX_FULL = 1
DUPLEX_UNKNOWN = 0xFF
U32_MAX = 0xFFFF_FFFF

NETIF_MSG_NAMES = (
    "drv", "probe", "link", "timer", "ifdown", "ifup", "rx_err", "tx_err", "tx_queued",
    "intr", "tx_done", "rx_status", "pktdata", "hw", "wol",
)  # fmt: skip
"""``NETIF_MSG_*`` bits in order (bit 0 is ``drv``), named as ``ethtool -s DEV msglvl`` names them."""


@dataclass
class DrvInfo:
    """``ethtool -i``."""

    driver: str
    version: str = ""
    fw_version: str = ""
    bus_info: str = ""


@dataclass
class LinkSettings:
    """``ethtool DEV``: speed in Mbit/s, duplex, autoneg, port."""

    speed: int = SPEED_UNKNOWN
    duplex: int = DUPLEX_UNKNOWN
    autoneg: bool = False
    port: str = "other"
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class RingParam:
    """``struct ethtool_ringparam`` (``ethtool -g/-G``): ring sizes in descriptors.

    A ``*_max_pending`` of 0 means the device has no such ring (shown as
    ``n/a``); its ``*_pending`` can then only be 0.
    """

    rx_max_pending: int = 0
    rx_mini_max_pending: int = 0
    rx_jumbo_max_pending: int = 0
    tx_max_pending: int = 0
    rx_pending: int = 0
    rx_mini_pending: int = 0
    rx_jumbo_pending: int = 0
    tx_pending: int = 0


@dataclass
class Coalesce:
    """The common fields of ``struct ethtool_coalesce`` (``ethtool -c/-C``).

    Which fields the driver implements is :attr:`EthtoolOps.supported_coalesce_params`;
    the others are shown as ``n/a`` and cannot be set.
    """

    rx_coalesce_usecs: int = 0
    rx_max_coalesced_frames: int = 0
    tx_coalesce_usecs: int = 0
    tx_max_coalesced_frames: int = 0
    use_adaptive_rx_coalesce: bool = False
    use_adaptive_tx_coalesce: bool = False


@dataclass
class Channels:
    """``struct ethtool_channels`` (``ethtool -l/-L``): queue counts; a max of 0 is ``n/a``."""

    max_rx: int = 0
    max_tx: int = 0
    max_other: int = 0
    max_combined: int = 0
    rx_count: int = 0
    tx_count: int = 0
    other_count: int = 0
    combined_count: int = 0


@dataclass
class PauseParam:
    """``struct ethtool_pauseparam`` (``ethtool -a/-A``): 802.3x flow control."""

    autoneg: bool = False
    rx_pause: bool = False
    tx_pause: bool = False


@dataclass
class EthtoolEeprom:
    """``struct ethtool_eeprom`` (``ethtool -e/-E``) without its data: which bytes, and the magic.

    For :meth:`EthtoolOps.get_eeprom` the core sets ``offset`` and ``len``; the driver
    sets ``magic`` (a number naming the device's EEPROM layout, which ``-E`` must give
    back) and may lower ``len`` when it returned fewer bytes.  For
    :meth:`EthtoolOps.set_eeprom`, ``magic`` is what the user gave.
    """

    magic: int = 0
    offset: int = 0
    len: int = 0


@dataclass
class EthtoolRegs:
    """``struct ethtool_regs`` (``ethtool -d``) without its data: the dump's length and the
    ``version`` of its layout, which the driver sets (a decoder of the dump checks it)."""

    version: int = 0
    len: int = 0


WAKE_PHY = 1 << 0
"""Wake on PHY activity (link change): ``ethtool -s DEV wol p``."""
WAKE_UCAST = 1 << 1
WAKE_MCAST = 1 << 2
WAKE_BCAST = 1 << 3
WAKE_ARP = 1 << 4
WAKE_MAGIC = 1 << 5
"""Wake on a MagicPacket (``wol g``)."""
WAKE_MAGICSECURE = 1 << 6
"""Wake on a MagicPacket carrying the SecureOn password ``sopass`` (``wol s``)."""
WAKE_FILTER = 1 << 7
WOL_MODE_CHARS = "pumbagsf"
"""ethtool's letter for each ``WAKE_*`` bit, bit 0 first (``wol d`` is none of them)."""
SOPASS_MAX = 6
"""Bytes of the SecureOn password (``struct ethtool_wolinfo``'s ``sopass``)."""


@dataclass
class WolInfo:
    """``struct ethtool_wolinfo`` (``ethtool -s DEV wol …``, ``Wake-on:`` of ``ethtool DEV``):
    the ``WAKE_*`` modes the device ``supported``, those enabled (``wolopts``) and the
    SecureOn password, :data:`SOPASS_MAX` bytes (meaningful with :data:`WAKE_MAGICSECURE`)."""

    supported: int = 0
    wolopts: int = 0
    sopass: bytes = bytes(SOPASS_MAX)


SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_NAMES = (
    "hardware-transmit", "software-transmit", "hardware-receive", "software-receive",
    "software-system-clock", "hardware-legacy-clock", "hardware-raw-clock", "option-id",
    "sched-transmit", "ack-transmit", "option-cmsg", "option-tsonly", "option-stats",
    "option-pktinfo", "option-tx-swhw", "bind-phc", "option-id-tcp",
)  # fmt: skip
"""``SOF_TIMESTAMPING_*`` bits in order, as ``ethtool -T`` names them (the kernel's
``sof_timestamping_names``)."""
HWTSTAMP_TX_NAMES = ("off", "on", "onestep-sync", "onestep-p2p")
"""``HWTSTAMP_TX_*`` (the bits of :attr:`TsInfo.tx_types`) as ethtool names them."""
HWTSTAMP_FILTER_NAMES = (
    "none", "all", "some", "ptpv1-l4-event", "ptpv1-l4-sync", "ptpv1-l4-delay-req",
    "ptpv2-l4-event", "ptpv2-l4-sync", "ptpv2-l4-delay-req", "ptpv2-l2-event",
    "ptpv2-l2-sync", "ptpv2-l2-delay-req", "ptpv2-event", "ptpv2-sync", "ptpv2-delay-req",
    "ntp-all",
)  # fmt: skip
"""``HWTSTAMP_FILTER_*`` (the bits of :attr:`TsInfo.rx_filters`) as ethtool names them."""


@dataclass
class TsInfo:
    """``struct ethtool_ts_info`` (``ethtool -T``): the ``SOF_TIMESTAMPING_*`` capabilities,
    the PTP hardware clock (-1: none) and the hardware time stamping modes (bitmasks of
    ``1 << HWTSTAMP_TX_*`` and ``1 << HWTSTAMP_FILTER_*``)."""

    so_timestamping: int = 0
    phc_index: int = -1
    tx_types: int = 0
    rx_filters: int = 0


LINK_MODE_NAMES: dict[int, str] = {
    0: "10baseT/Half", 1: "10baseT/Full", 2: "100baseT/Half", 3: "100baseT/Full",
    4: "1000baseT/Half", 5: "1000baseT/Full", 12: "10000baseT/Full", 15: "2500baseX/Full",
    17: "1000baseKX/Full", 18: "10000baseKX4/Full", 19: "10000baseKR/Full",
    20: "10000baseR_FEC", 21: "20000baseMLD2/Full", 22: "20000baseKR2/Full",
    23: "40000baseKR4/Full", 24: "40000baseCR4/Full", 25: "40000baseSR4/Full",
    26: "40000baseLR4/Full", 27: "56000baseKR4/Full", 28: "56000baseCR4/Full",
    29: "56000baseSR4/Full", 30: "56000baseLR4/Full", 31: "25000baseCR/Full",
}  # fmt: skip
"""The link modes (``ETHTOOL_LINK_MODE_*_BIT``) of the legacy u32 masks :class:`EthtoolEee`
carries, as ethtool names them; the bits that are no link mode (Autoneg, TP, Pause…) are left
out, as ethtool leaves them out of its lists of link modes."""


@dataclass
class EthtoolEee:
    """``struct ethtool_eee`` (``ethtool --show-eee/--set-eee``): Energy-Efficient Ethernet.

    ``supported``, ``advertised`` and ``lp_advertised`` (the link partner's) are masks of
    link mode bits (:data:`LINK_MODE_NAMES`: ``1 << 5`` is 1000baseT/Full); ``eee_active``
    says whether EEE runs on the link now, ``eee_enabled`` whether it is on,
    ``tx_lpi_enabled`` whether the MAC sends Low Power Idle, after ``tx_lpi_timer`` µs.
    """

    supported: int = 0
    advertised: int = 0
    lp_advertised: int = 0
    eee_active: bool = False
    eee_enabled: bool = False
    tx_lpi_enabled: bool = False
    tx_lpi_timer: int = 0


ETHTOOL_ID_INACTIVE = 0
"""``set_phys_id``: identification is over: back to the normal LED state."""
ETHTOOL_ID_ACTIVE = 1
"""``set_phys_id``: identification starts (``ethtool -p``)."""
ETHTOOL_ID_ON = 2
"""``set_phys_id``: the LED on (the core blinks it when ACTIVE returned a frequency)."""
ETHTOOL_ID_OFF = 3
"""``set_phys_id``: the LED off."""


ETH_TEST_FL_OFFLINE = 1 << 0
"""In: run the offline tests too, which may interrupt traffic (``ethtool -t DEV offline``)."""
ETH_TEST_FL_FAILED = 1 << 1
"""Out: the driver sets it when a test failed (ethtool says FAIL and exits with it, 2)."""
ETH_TEST_FL_EXTERNAL_LB = 1 << 3
"""In: a loopback plug is fitted: run the external loopback test too (``external_lb``)."""
ETH_TEST_FL_EXTERNAL_LB_DONE = 1 << 4
"""Out: the driver ran the external loopback test (ethtool says it was executed)."""
U64_MAX = (1 << 64) - 1
ETHTOOL_TEST_TIMEOUT = 20.0
"""Seconds the core waits for a self-test's :class:`Completion` before it answers
``ETIMEDOUT`` (a driver's test arms a shorter timeout of its own); also the longest a
second test of the same device waits for its turn before it answers ``EBUSY``."""


@dataclass
class EthtoolTest:
    """``struct ethtool_test`` (``ethtool -t``) without its data.

    ``flags`` comes in with :data:`ETH_TEST_FL_OFFLINE` and
    :data:`ETH_TEST_FL_EXTERNAL_LB` as asked, and any other bit of the request as it
    is (as Linux, the core leaves to the driver what it supports); the driver adds
    :data:`ETH_TEST_FL_FAILED` when a test failed and
    :data:`ETH_TEST_FL_EXTERNAL_LB_DONE` when it ran the external loopback test.
    ``len`` is the number of tests (of :meth:`EthtoolOps.get_test_strings`).
    """

    flags: int = 0
    len: int = 0


class Completion:
    """Linux's ``struct completion``, for a self-test that needs the event loop to finish.

    A driver's :meth:`EthtoolOps.self_test` cannot sleep as Linux's does
    (``wait_for_completion_timeout``): everything, its own frames included, runs
    on one event loop.  So it starts the test, returns a ``Completion`` and calls
    :meth:`complete` once the results are in ``data`` and ``test.flags`` — from a
    loop callback (a frame received, its own timer) or from any thread.  The core
    waits without blocking the loop; ``netdrv status`` and the other devices go on.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = False
        self._waiter: Callable[[], None] | None = None

    @property
    def done(self) -> bool:
        """True once :meth:`complete` was called (Linux's ``completion_done``)."""
        return self._done

    def complete(self) -> None:
        """The work is done (``complete()``); a second call does nothing."""
        with self._lock:
            if self._done:
                return
            self._done = True
            waiter = self._waiter
        if waiter is not None:
            waiter()

    def _wait(self, waiter: Callable[[], None]) -> None:
        """Call ``waiter`` on :meth:`complete` (at once if it was already called)."""
        with self._lock:
            self._waiter = waiter
            done = self._done
        if done:
            waiter()


class EthtoolError(NetdrvError):
    """An ethtool request the core or the driver refused; ``errno`` says why (EINVAL, …)."""

    def __init__(self, message: str, err: int) -> None:
        super().__init__(message)
        self.errno = err


class EthtoolOps:
    """``ethtool_ops``: override what the device can report or change.

    An op a subclass does not override is one the driver lacks (a NULL
    pointer in Linux): the core answers ``EOPNOTSUPP`` for it without calling
    it.  Set ops receive the whole new structure — the current values with
    the request applied, already checked against the maximums the get op
    reported — and return 0 (or None) or a negative errno; an op that raises
    is a driver fault and takes the device down.
    """

    supported_coalesce_params: ClassVar[frozenset[str]] = frozenset()
    """Names of the :class:`Coalesce` fields the driver implements (Linux's bitmask)."""

    def get_drvinfo(self, dev: NetDevice) -> DrvInfo:
        """Driver name/version/bus."""
        drv = dev.driver
        return DrvInfo(driver=getattr(drv, "name", "unknown"), version=getattr(drv, "version", ""))

    def get_link(self, dev: NetDevice) -> bool:
        """Link detected (default: the carrier)."""
        from .netdevice import netif_carrier_ok

        return netif_carrier_ok(dev)

    def get_link_ksettings(self, dev: NetDevice) -> LinkSettings:
        """Speed/duplex/autoneg/port (``ethtool DEV``).  A driver with nothing to say (no
        physical link: Linux's loopback and slip) leaves it out: ``ethtool DEV`` then
        shows no such lines, as ``ethtool lo`` does, rather than ``Speed: Unknown!``."""
        return LinkSettings()

    def set_link_ksettings(self, dev: NetDevice, ks: LinkSettings) -> int | None:
        """Change speed/duplex/autoneg (``ethtool -s DEV speed N duplex D autoneg A``).

        ``ks`` is what :meth:`get_link_ksettings` reported with the request applied
        (already checked: a positive speed and a half/full duplex when autoneg is
        off); refuse what the hardware cannot do with ``-errno.EINVAL``.
        """
        return -errno.EOPNOTSUPP

    def get_strings(self, dev: NetDevice) -> list[str]:
        """Names of the driver's private statistics (``ethtool -S``; Linux's ``ETH_SS_STATS``)."""
        return []

    def get_ethtool_stats(self, dev: NetDevice) -> list[int]:
        """Values of the private statistics, in :meth:`get_strings` order."""
        return []

    def get_msglevel(self, dev: NetDevice) -> int:
        """Debug message level (``NETIF_MSG_*`` bits); shown only when overridden."""
        return 0

    def set_msglevel(self, dev: NetDevice, value: int) -> int | None:
        """Set the message level (``ethtool -s DEV msglvl N``); needs :meth:`get_msglevel` too."""
        return -errno.EOPNOTSUPP

    def nway_reset(self, dev: NetDevice) -> int | None:
        """Restart autonegotiation (``ethtool -r``)."""
        return -errno.EOPNOTSUPP

    def get_ringparam(self, dev: NetDevice) -> RingParam | None:
        """Ring sizes and their maximums (``ethtool -g``)."""
        return None

    def set_ringparam(self, dev: NetDevice, ring: RingParam) -> int | None:
        """Resize the rings to ``ring``'s ``*_pending`` (``ethtool -G``)."""
        return -errno.EOPNOTSUPP

    def get_coalesce(self, dev: NetDevice) -> Coalesce | None:
        """Interrupt coalescing (``ethtool -c``)."""
        return None

    def set_coalesce(self, dev: NetDevice, coalesce: Coalesce) -> int | None:
        """Change interrupt coalescing (``ethtool -C``)."""
        return -errno.EOPNOTSUPP

    def get_channels(self, dev: NetDevice) -> Channels | None:
        """Queue counts and their maximums (``ethtool -l``)."""
        return None

    def set_channels(self, dev: NetDevice, channels: Channels) -> int | None:
        """Change the queue counts (``ethtool -L``)."""
        return -errno.EOPNOTSUPP

    def get_pauseparam(self, dev: NetDevice) -> PauseParam | None:
        """Flow control (``ethtool -a``)."""
        return None

    def set_pauseparam(self, dev: NetDevice, pause: PauseParam) -> int | None:
        """Change flow control (``ethtool -A``)."""
        return -errno.EOPNOTSUPP

    def get_priv_flag_strings(self, dev: NetDevice) -> list[str]:
        """Names of the driver's private flags, bit 0 first (Linux's ``get_strings`` for
        ``ETH_SS_PRIV_FLAGS``); at most 32, unique."""
        return []

    def get_priv_flags(self, dev: NetDevice) -> int:
        """The private flags as a bitmask (``ethtool --show-priv-flags``): bit *i* is the
        *i*-th name :meth:`get_priv_flag_strings` gives (needs that op too)."""
        return 0

    def set_priv_flags(self, dev: NetDevice, flags: int) -> int | None:
        """Set the private flags to ``flags`` (``ethtool --set-priv-flags DEV NAME on|off``)."""
        return -errno.EOPNOTSUPP

    def get_eeprom_len(self, dev: NetDevice) -> int:
        """Size of the EEPROM in bytes (``ethtool -i``'s ``supports-eeprom-access``); 0: none."""
        return 0

    def get_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytearray) -> int | None:
        """``ethtool -e``: put the ``eeprom.len`` bytes from ``eeprom.offset`` into ``data``
        (that many zero bytes; do not resize it) and set ``eeprom.magic``; 0 or a negative
        errno.  The range is checked against :meth:`get_eeprom_len` first, and a large one
        comes in pieces of at most a page (4096 bytes).  Returning fewer bytes: lower
        ``eeprom.len``; the core asks for the rest.  Needs :meth:`get_eeprom_len`."""
        return -errno.EOPNOTSUPP

    def set_eeprom(self, dev: NetDevice, eeprom: EthtoolEeprom, data: bytes) -> int | None:
        """``ethtool -E``: write ``data`` (``eeprom.len`` bytes) at ``eeprom.offset``.

        Check ``eeprom.magic`` first and refuse anything but the magic :meth:`get_eeprom`
        reports with ``-EINVAL``: it is what keeps a write meant for another device (or
        layout) out of this one.  The range is already checked; large writes come in pages.
        """
        return -errno.EOPNOTSUPP

    def get_regs_len(self, dev: NetDevice) -> int:
        """Bytes of the register dump (``ethtool -d``; ``supports-register-dump``); 0: none."""
        return 0

    def get_regs(self, dev: NetDevice, regs: EthtoolRegs, data: bytearray) -> int | None:
        """``ethtool -d``: put the registers into ``data`` (``regs.len`` zero bytes, as
        :meth:`get_regs_len` said; do not resize it) and set ``regs.version``.  Dump only
        what reading has no side effect on (no clear-on-read counters)."""
        return None

    def get_wol(self, dev: NetDevice, wol: WolInfo) -> None:
        """Wake-on-LAN (``ethtool DEV``'s ``Supports Wake-on:`` and ``Wake-on:``): set
        ``wol.supported`` (``WAKE_*`` bits), ``wol.wolopts`` (those enabled) and, with
        :data:`WAKE_MAGICSECURE` supported, ``wol.sopass``.  ``wol`` comes zeroed.  A driver
        without it has no Wake-on lines and cannot take ``ethtool -s DEV wol``."""

    def set_wol(self, dev: NetDevice, wol: WolInfo) -> int | None:
        """``ethtool -s DEV wol pumbagsfd [sopass XX:…]``: enable the modes ``wol.wolopts``
        says.  ``wol`` is what :meth:`get_wol` reported with the request applied, already
        checked (only supported modes; a password only with ``WAKE_MAGICSECURE``
        supported); a request that changes nothing does not come here.  Needs :meth:`get_wol`."""
        return -errno.EOPNOTSUPP

    def get_eee(self, dev: NetDevice, eee: EthtoolEee) -> int | None:
        """``ethtool --show-eee``: fill ``eee`` (it comes zeroed); 0 or a negative errno."""
        return -errno.EOPNOTSUPP

    def set_eee(self, dev: NetDevice, eee: EthtoolEee) -> int | None:
        """``ethtool --set-eee DEV eee on|off advertise N tx-lpi on|off tx-timer N``: ``eee``
        is what :meth:`get_eee` reported with the request applied; a request that changes
        nothing does not come here.  Needs :meth:`get_eee`."""
        return -errno.EOPNOTSUPP

    def set_phys_id(self, dev: NetDevice, state: int) -> int | None:
        """``ethtool -p DEV [N]``: make the port findable (blink its LED).

        The core calls it with :data:`ETHTOOL_ID_ACTIVE` first: return 0 when the
        hardware blinks by itself (until :data:`ETHTOOL_ID_INACTIVE`), a positive
        number of on/off cycles per second for the core to call
        :data:`ETHTOOL_ID_ON`/:data:`ETHTOOL_ID_OFF` at twice that rate, or a
        negative errno.  Those return 0 or a negative errno (which ends it).  It
        always ends with :data:`ETHTOOL_ID_INACTIVE` — after N seconds, or when the
        user interrupts ``ethtool -p`` — as Linux's ``ethtool_phys_id`` does.
        """
        return -errno.EOPNOTSUPP

    def get_ts_info(self, dev: NetDevice, info: TsInfo) -> int | None:
        """Time stamping capabilities (``ethtool -T``): fill ``info`` (``phc_index`` comes
        -1); 0 or a negative errno.  Without it the core reports software receive time
        stamps and the software clock, as Linux's ``__ethtool_get_ts_info``; a driver that
        time-stamps transmitted frames in software uses :func:`ethtool_op_get_ts_info`."""
        return -errno.EOPNOTSUPP

    def get_test_strings(self, dev: NetDevice) -> list[str]:
        """Names of the driver's self-tests, in :meth:`self_test`'s ``data`` order (Linux's
        ``get_strings`` for ``ETH_SS_TEST``; ``ethtool -i``'s ``supports-test``), distinct;
        e1000 names them ``"Loopback test  (offline)"``."""
        return []

    def self_test(self, dev: NetDevice, test: EthtoolTest, data: list[int]) -> Completion | None:
        """``ethtool -t``: run the tests ``test.flags`` asks for and put test *i*'s result
        in ``data[i]`` (``test.len`` zeros, one per :meth:`get_test_strings` name; set
        them in place): 0 passed, anything else failed, or a measurement (a u64).

        Set :data:`ETH_TEST_FL_FAILED` in ``test.flags`` when a test failed, and
        :data:`ETH_TEST_FL_EXTERNAL_LB_DONE` when ``test.flags`` has
        :data:`ETH_TEST_FL_EXTERNAL_LB` and the external loopback test ran; change
        no other flag (leave a bit you do not know as it is).  Tests that only
        :data:`ETH_TEST_FL_OFFLINE` allows may interrupt traffic (stop the queue, close and reopen the hardware, as e1000
        does); online, leave their results 0.  The core shows the device's
        operstate as ``testing`` meanwhile (``netif_testing_on``).

        Return None when done.  A test that needs the event loop (it sends frames
        and waits for them) returns a :class:`Completion` instead and calls its
        ``complete()`` when done, within :data:`ETHTOOL_TEST_TIMEOUT` seconds: arm
        a timer of its own that fails the test rather than waiting forever.
        Needs :meth:`get_test_strings`.
        """
        return None


def ethtool_op_get_ts_info(dev: NetDevice, info: TsInfo) -> int:
    """Linux's ``ethtool_op_get_ts_info``, for a driver's :meth:`EthtoolOps.get_ts_info`:
    software transmit and receive time stamps and the software clock, no PHC.

    On a TAP, transmit time stamps are the kernel's tun driver's (``tun_net_xmit``
    calls ``skb_tx_timestamp`` as it queues the frame to netdrv) and receive ones the
    kernel stack's, so a socket on the interface gets both: what usbnet and tun report.
    """
    info.so_timestamping = (SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_RX_SOFTWARE
                            | SOF_TIMESTAMPING_SOFTWARE)  # fmt: skip
    info.phc_index = -1
    return 0


def ethtool_supports(ops: EthtoolOps | None, name: str) -> bool:
    """Whether ``ops`` implements the op ``name`` (overrides :class:`EthtoolOps`'s default)."""
    if ops is None:
        return False
    return getattr(type(ops), name, None) is not getattr(EthtoolOps, name, None)


def _report_stats(dev: NetDevice, names: Any, values: Any) -> dict[str, Any]:
    """The private counters by name, as JSON carries them; ``{"error": …}`` when the names and
    values do not pair up (``ethtool -S`` refuses the same)."""
    try:
        names, values = list(names), list(values)
    except TypeError:
        return {"error": f"{_owner(dev)}'s get_strings/get_ethtool_stats returned no lists"}
    if len(names) != len(values):
        return {"error": _stats_mismatch(dev, names, values)}
    return {_text(k): _number(v) for k, v in zip(names, values, strict=True)}


def _stats_mismatch(dev: NetDevice, names: list[Any], values: list[Any]) -> str:
    """What is wrong when ``get_strings`` and ``get_ethtool_stats`` do not pair up."""
    return (f"{_owner(dev)}'s get_ethtool_stats returned {len(values)} values for the "
            f"{len(names)} names of get_strings: one value per name, in order")  # fmt: skip


def ethtool_report(dev: NetDevice) -> dict[str, object]:
    """Everything ethtool knows about ``dev`` as a dict (for ``netdrv status --json``).

    The tuning structures a driver implements are included (``ringparam``,
    ``coalesce``, ``channels``, ``pauseparam``, ``msglevel``, ``priv_flags``); one that raises
    is reported as ``{"error": …}`` without hiding the rest; ``speed`` and ``duplex`` are
    None for a driver without ``get_link_ksettings``, ``link`` for a device without
    ``ethtool_ops`` (Linux's ``default_ethtool_ops`` has no ``get_link``).  A detached
    device is not asked: :class:`EthtoolError` (``ENODEV``), as for every ethtool request.
    """
    _present(dev)
    ops = dev.ethtool_ops or EthtoolOps()
    info = ops.get_drvinfo(dev)
    has_ks = ethtool_supports(ops, "get_link_ksettings")  # without it: no speed, no duplex
    ks = ops.get_link_ksettings(dev) if has_ks else None
    # What JSON carries, whatever the driver returned (bytes, objects): one driver's
    # garbage must not make `netdrv status` fail for every device.
    out: dict[str, object] = {
        "driver": _text(getattr(info, "driver", None)),
        "version": _text(getattr(info, "version", None)),
        "bus_info": _text(getattr(info, "bus_info", None)),
        # __ethtool_get_link: 0 while down; None (EOPNOTSUPP) without ethtool_ops at all
        "link": None if dev.ethtool_ops is None else dev.is_up and bool(ops.get_link(dev)),
        "speed": _number(getattr(ks, "speed", None)) if has_ks else None,
        "duplex": _duplex_name(getattr(ks, "duplex", None)) if has_ks else None,
        "stats": _report_stats(dev, ops.get_strings(dev), ops.get_ethtool_stats(dev)),
    }  # fmt: skip
    for kind, spec in _KINDS.items():
        if ethtool_supports(ops, spec.get):
            try:
                value = _checked(dev, spec, getattr(ops, spec.get)(dev))
                out[kind] = _as_dict(ops, kind, value)
            except EthtoolError as exc:  # garbage from the driver: named, and JSON still works
                out[kind] = {"error": str(exc)}
            except Exception as exc:  # a driver bug must not hide the rest of the report
                out[kind] = {"error": repr(exc)}
    if ethtool_supports(ops, "get_msglevel"):
        try:
            out["msglevel"] = _checked_msglevel(dev, ops.get_msglevel(dev))
        except EthtoolError as exc:
            out["msglevel"] = {"error": str(exc)}
        except Exception as exc:
            out["msglevel"] = {"error": repr(exc)}
    if _has_priv_flags(ops):
        try:
            names = _checked_priv_flag_names(dev, ops.get_priv_flag_strings(dev))
            flags = _checked_priv_flags(dev, ops.get_priv_flags(dev))
            out["priv_flags"] = {n: bool(flags >> i & 1) for i, n in enumerate(names)}
        except EthtoolError as exc:
            out["priv_flags"] = {"error": str(exc)}
        except Exception as exc:
            out["priv_flags"] = {"error": repr(exc)}
    return out


def _duplex_name(duplex: Any) -> str:
    return {DUPLEX_FULL: "full", DUPLEX_HALF: "half"}.get(duplex, "unknown")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _number(value: Any) -> int | float | str:
    # NaN and infinities are numbers JSON cannot carry: shown as text like other garbage.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return repr(value)


# -- the core side: requests checked as Linux's ethnl checks them ------------------------------
@dataclass(frozen=True)
class _Kind:
    what: str  # "ring parameters": for messages
    get: str
    set: str
    cls: type[Any]  # a dataclass
    settable: tuple[str, ...]
    limits: dict[str, str] = field(default_factory=dict)  # setting -> its maximum's field


_KINDS: dict[str, _Kind] = {
    "ringparam": _Kind(
        "ring parameters", "get_ringparam", "set_ringparam", RingParam,
        ("rx_pending", "rx_mini_pending", "rx_jumbo_pending", "tx_pending"),
        {"rx_pending": "rx_max_pending", "rx_mini_pending": "rx_mini_max_pending",
         "rx_jumbo_pending": "rx_jumbo_max_pending", "tx_pending": "tx_max_pending"},
    ),
    "coalesce": _Kind(
        "coalesce parameters", "get_coalesce", "set_coalesce", Coalesce,
        tuple(f.name for f in fields(Coalesce)),
    ),
    "channels": _Kind(
        "channels", "get_channels", "set_channels", Channels,
        ("rx_count", "tx_count", "other_count", "combined_count"),
        {"rx_count": "max_rx", "tx_count": "max_tx", "other_count": "max_other",
         "combined_count": "max_combined"},
    ),
    "pauseparam": _Kind(
        "pause parameters", "get_pauseparam", "set_pauseparam", PauseParam,
        ("autoneg", "rx_pause", "tx_pause"),
    ),
}  # fmt: skip

ETHTOOL_REQUESTS = (
    "settings", "drvinfo", "stats", "msglevel", "nway_reset", "features", "priv_flags", *_KINDS,
    "permaddr", "eeprom", "regs", "test", "wol", "tsinfo", "eee",
)  # fmt: skip
"""What :func:`ethtool_request` (the daemon's ``ethtool`` command) answers."""


def _unsupported(dev: NetDevice, what: str) -> EthtoolError:
    return EthtoolError(f"{dev.name} does not support {what}", errno.EOPNOTSUPP)


def _owner(dev: NetDevice) -> str:
    drv = dev.driver
    return f"driver {getattr(drv, 'name', type(drv).__name__)!s}" if drv else "the host"


def _driver_raised(host: Host, dev: NetDevice, name: str, exc: Exception) -> EthtoolError:
    """An op raised: a driver fault (the device goes down), said as such to the user."""
    host.driver_fault(dev, name, exc)
    return EthtoolError(
        f"{dev.name}: {_owner(dev)} raised in {name}: {type(exc).__name__}: {exc} "
        f"(the device was taken down; see the daemon log)",
        errno.EIO,
    )


def _present(dev: NetDevice) -> None:
    """ENODEV for a detached device (:func:`~netdrv_core.netdevice.netif_device_detach`):
    Linux's ``ethnl_ops_begin`` and ``dev_ethtool`` refuse it before the driver is asked."""
    if not netif_device_present(dev):
        raise EthtoolError(f"{dev.name}: the device is detached (suspended or unplugged): its "
                           f"driver takes no ethtool request until it is attached again",
                           errno.ENODEV)  # fmt: skip


def _call_get(host: Host, dev: NetDevice, name: str) -> Any:
    """A get op, guarded: raising is a driver fault (device taken down), as for any op."""
    _present(dev)
    ops = dev.ethtool_ops or EthtoolOps()
    try:
        return getattr(ops, name)(dev)
    except OSError as exc:
        err = oserror_errno(exc)
        raise EthtoolError(f"{dev.name}: {name}: {refusal_text(err, refusal_message(exc))}",
                           err) from None  # fmt: skip
    except Exception as exc:
        raise _driver_raised(host, dev, name, exc) from exc


def _registered(host: Host, dev: NetDevice) -> None:
    """ENODEV for a device no longer registered (gone while its request was checked)."""
    if host.devices.get(dev.name) is not dev:
        raise EthtoolError(f"{dev.name}: the device is no longer registered", errno.ENODEV)


def _guarded(host: Host, dev: NetDevice, name: str, fn: Any, *args: Any) -> int:
    """``fn(dev, *args)``: 0 or a negative errno; one that raises is a driver fault, said
    as a get op's is (:func:`_call_get`).  Anything else it returns (a positive number,
    a string, a float) is the driver's bug: ``EIO`` naming the op and the value, never
    taken for success (the user would be told a change was made that perhaps was not).
    The words of an ``OSError(errno, "why")`` go to ``host.extack``, as the host's own
    guarded call leaves them.  A detached device is not asked (``ENODEV``)."""
    _present(dev)
    host.extack = None
    try:
        ret = fn(dev, *args)
    except OSError as exc:
        host.extack = refusal_message(exc)
        return -oserror_errno(exc)
    except Exception as exc:
        raise _driver_raised(host, dev, name, exc) from exc
    if ret is None or ret is True or (type(ret) is int and ret <= 0):
        return 0 if ret is None or ret is True else ret
    raise EthtoolError(f"{dev.name}: {_owner(dev)}'s {name} returned {ret!r:.100}, not 0 (or "
                       "None) or a negative errno: whether it made the change is unknown",
                       errno.EIO)  # fmt: skip


def _call_op(host: Host, dev: NetDevice, name: str, doing: str, *args: Any) -> None:
    """The driver's op ``name`` through the host's guarded call; a negative errno becomes an
    :class:`EthtoolError` saying what could not be done (``cannot {doing}: why``)."""
    ops = dev.ethtool_ops
    assert ops is not None
    ret = _guarded(host, dev, name, getattr(ops, name), *args)
    if ret < 0:
        raise EthtoolError(f"{dev.name}: cannot {doing}: {refusal_text(-ret, host.extack)}",
                           -ret)  # fmt: skip


def _call_set(host: Host, dev: NetDevice, name: str, what: str, *args: Any) -> None:
    """A set op through :func:`_call_op` (``cannot set {what}``).

    Never on a device unregistered in the meantime (by the get op that came
    first, say: a USB driver noticing the unplug): ``ENODEV``.
    """
    _registered(host, dev)
    _call_op(host, dev, name, f"set {what}", *args)


def _as_dict(ops: EthtoolOps, kind: str, value: Any) -> dict[str, Any]:
    """A structure as JSON carries it; a coalesce field that is 0 (off) and that the driver
    does not support is ``None`` (n/a): Linux's coalesce_put_u32/_bool leave such an
    attribute out, and put one the driver set all the same."""
    out = asdict(value)
    if kind == "coalesce":
        supported = ops.supported_coalesce_params
        out = {k: (v if v or k in supported else None) for k, v in out.items()}
    return out


def ethtool_get(host: Host, dev: NetDevice, kind: str) -> Any:
    """``ethtool -g/-c/-l/-a``: the driver's :class:`RingParam`, :class:`Coalesce`, … .

    ``kind`` is ``ringparam``, ``coalesce``, ``channels`` or ``pauseparam``.
    Raises :class:`EthtoolError` (``EOPNOTSUPP`` when the driver lacks the op).
    """
    spec = _KINDS[kind]
    if not ethtool_supports(dev.ethtool_ops, spec.get):
        raise _unsupported(dev, spec.what)
    return _checked(dev, spec, _call_get(host, dev, spec.get))


# Flags by their declared type, not by what a driver returned (a C-minded 0 for False).
_FLAGS = frozenset(
    f.name for cls in (Coalesce, PauseParam) for f in fields(cls) if isinstance(f.default, bool)
)


def _checked(dev: NetDevice, spec: _Kind, value: Any) -> Any:
    """What a get op returned, checked as the kernel's u32/u8 fields would hold it.

    The structure must be the right dataclass, its counts integers 0..U32_MAX
    and its flags booleans (a C-minded 0/1 is taken, as a bool); anything else
    — a string, None, a negative size — is the driver's bug, answered with
    ``EIO`` naming the field, never a ``TypeError`` deep in the core or a
    reply JSON cannot carry.  Returns a copy with the flags as booleans.
    """
    if not isinstance(value, spec.cls):
        raise EthtoolError(
            f"{dev.name}: {_owner(dev)}'s {spec.get} returned {value!r:.200}, not a "
            f"{spec.cls.__name__}",
            errno.EIO,
        )
    flags: dict[str, bool] = {}
    for f in fields(spec.cls):
        v = getattr(value, f.name, None)
        if f.name in _FLAGS:
            if type(v) is not bool and not (type(v) is int and v in (0, 1)):
                raise EthtoolError(f"{dev.name}: {_owner(dev)}'s {spec.get} returned "
                                   f"{f.name}={v!r:.100}, not true or false", errno.EIO)  # fmt: skip
            flags[f.name] = bool(v)
        elif not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= U32_MAX:
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s {spec.get} returned "
                               f"{f.name}={v!r:.100}, not an integer 0..{U32_MAX}",
                               errno.EIO)  # fmt: skip
    if any(type(getattr(value, k)) is not bool for k in flags):
        value = replace(value, **flags)
    return value


def _check_value(dev: NetDevice, name: str, value: Any) -> None:
    if name in _FLAGS:
        if not isinstance(value, bool):
            raise EthtoolError(f"{dev.name}: {name} must be true or false, not {value!r}",
                               errno.EINVAL)  # fmt: skip
    elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U32_MAX:
        raise EthtoolError(f"{dev.name}: {name} must be an integer 0..{U32_MAX}, not {value!r}",
                           errno.EINVAL)  # fmt: skip


def _check_fields(dev: NetDevice, kind: str, changes: Mapping[str, Any]) -> None:
    """``changes`` names settable fields of ``kind`` only, each a u32 or a boolean
    (``EINVAL``): what :func:`ethtool_set` checks without asking the driver."""
    spec = _KINDS[kind]
    for name in changes:
        if name not in spec.settable:
            raise EthtoolError(
                f"{dev.name}: {spec.what} have no settable field {name!r} "
                f"(settable: {', '.join(spec.settable)})",
                errno.EINVAL,
            )
    for name, value in changes.items():
        _check_value(dev, name, value)


def ethtool_set(host: Host, dev: NetDevice, kind: str, changes: Mapping[str, Any]) -> bool:
    """``ethtool -G/-C/-L/-A``: apply ``changes`` (field name -> value); True if any changed.

    Checked first, as Linux's ethnl does: the driver has both the get and the
    set op (``EOPNOTSUPP``); only settable fields, u32 integers or booleans
    (``EINVAL``); ring sizes and channel counts within the maximums the driver
    reported, and at least one RX and one TX channel (``EINVAL``, naming the
    limit); coalesce fields the driver supports (``EOPNOTSUPP``).  A request
    that changes nothing does not reach the driver.  Otherwise the set op gets
    the whole new structure; its negative errno raises :class:`EthtoolError`.
    """
    spec = _KINDS[kind]
    ops = dev.ethtool_ops
    if not (ethtool_supports(ops, spec.get) and ethtool_supports(ops, spec.set)):
        raise _unsupported(dev, spec.what)
    assert ops is not None
    _check_fields(dev, kind, changes)
    if kind == "coalesce":
        unsupported = [n for n in changes if n not in ops.supported_coalesce_params]
        if unsupported:
            have = ", ".join(sorted(ops.supported_coalesce_params)) or "none"
            raise EthtoolError(
                f"{dev.name}: cannot modify an unsupported coalesce parameter: "
                f"{', '.join(unsupported)} (the driver supports: {have})",
                errno.EOPNOTSUPP,
            )
    current = ethtool_get(host, dev, kind)
    new = replace(current, **changes)
    for name, limit in spec.limits.items():
        if getattr(new, name) > getattr(new, limit):
            noun = "ring size" if kind == "ringparam" else "channel count"
            top = getattr(new, limit)
            none = f" (the device has no such {noun.split()[0]})" if not top else ""
            raise EthtoolError(
                f"{dev.name}: requested {noun} exceeds maximum: {name} {getattr(new, name)} > "
                f"{limit} {top}{none}",
                errno.EINVAL,
            )
    if kind == "channels":
        for side in ("rx", "tx"):
            if not new.combined_count and not getattr(new, f"{side}_count"):
                raise EthtoolError(
                    f"{dev.name}: requested channel counts would result in no "
                    f"{side.upper()} channel being configured",
                    errno.EINVAL,
                )
    if new == current:
        return False  # ethnl: "if (!mod) return 0" — the driver is not bothered
    _call_set(host, dev, spec.set, spec.what, new)
    return True


def ethtool_get_msglevel(host: Host, dev: NetDevice) -> int:
    """The driver's message level; ``EOPNOTSUPP`` when it does not override ``get_msglevel``."""
    if not ethtool_supports(dev.ethtool_ops, "get_msglevel"):
        raise _unsupported(dev, "message levels")
    return _checked_msglevel(dev, _call_get(host, dev, "get_msglevel"))


def _checked_msglevel(dev: NetDevice, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U32_MAX:
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_msglevel returned {value!r:.100}, "
                           f"not an integer 0..{U32_MAX}", errno.EIO)  # fmt: skip
    return value


def ethtool_set_msglevel(host: Host, dev: NetDevice, value: int) -> bool:
    """``ethtool -s DEV msglvl N``; True if the level changed (needs get and set ops)."""
    ops = dev.ethtool_ops
    if not (ethtool_supports(ops, "get_msglevel") and ethtool_supports(ops, "set_msglevel")):
        raise _unsupported(dev, "message levels")
    _check_value(dev, "msglevel", value)
    if ethtool_get_msglevel(host, dev) == value:
        return False
    _call_set(host, dev, "set_msglevel", "the message level", value)
    return True


def _link_ksettings(host: Host, dev: NetDevice) -> LinkSettings:
    """``get_link_ksettings``, checked: a :class:`LinkSettings` with integer speed and duplex."""
    ks = _call_get(host, dev, "get_link_ksettings")
    speed, duplex, port = (getattr(ks, f, None) for f in ("speed", "duplex", "port"))
    extra = getattr(ks, "extra", None)
    if (not isinstance(ks, LinkSettings) or type(speed) is not int or type(duplex) is not int
            or not isinstance(port, str) or not isinstance(extra, dict)):  # fmt: skip
        raise _garbage(dev, "get_link_ksettings", ks)
    return ks


LINK_SETTINGS = ("speed", "duplex", "autoneg")
"""What :func:`ethtool_set_link_ksettings` changes (``ethtool -s``'s keywords)."""


def _speed_text(speed: int) -> str:
    return f"{speed}Mb/s" if speed > 0 else "unknown"


def _check_link_fields(dev: NetDevice, changes: Mapping[str, Any]) -> None:
    """``changes`` names :data:`LINK_SETTINGS` only, each with a valid value (``EINVAL``)."""
    for name, value in changes.items():
        if name not in LINK_SETTINGS:
            raise EthtoolError(f"{dev.name}: link settings have no settable field {name!r} "
                               f"(settable: {', '.join(LINK_SETTINGS)})", errno.EINVAL)  # fmt: skip
        if name == "autoneg":
            ok = isinstance(value, bool)
            want = "true or false"
        elif name == "speed":
            ok = type(value) is int and 0 < value < U32_MAX
            want = "a positive number of Mbit/s"
        else:
            ok = type(value) is int and value in (DUPLEX_HALF, DUPLEX_FULL)
            want = f"{DUPLEX_HALF} (half) or {DUPLEX_FULL} (full)"
        if not ok:
            raise EthtoolError(f"{dev.name}: {name} must be {want}, not {value!r:.100}",
                               errno.EINVAL)  # fmt: skip


def ethtool_set_link_ksettings(host: Host, dev: NetDevice, changes: Mapping[str, Any]) -> bool:
    """``ethtool -s DEV speed N duplex half|full autoneg on|off``; True if the settings changed.

    ``changes`` maps ``speed`` (Mbit/s, positive), ``duplex`` (:data:`DUPLEX_HALF`
    or :data:`DUPLEX_FULL`) and ``autoneg`` (bool) to their new values.  As Linux's
    ``ethnl_set_linkmodes``: ``EOPNOTSUPP`` without the driver's ``get_link_ksettings``
    and ``set_link_ksettings``; the op gets what ``get_link_ksettings`` reports with
    the request applied, so only the fields asked for change; a request that
    changes nothing does not reach the driver.  Checked first (``EINVAL``): the
    values; autoneg off needs a known speed and duplex; and with autoneg on, a
    speed or duplex other than the current one is refused, since it would mean
    restricting the advertised link modes, which netdrv does not model (Linux
    advertises only the matching modes) — force them with autoneg off instead.
    The driver's negative errno (``-EINVAL`` for a mode it cannot do) raises
    :class:`EthtoolError`.
    """
    if not (ethtool_supports(dev.ethtool_ops, "get_link_ksettings")
            and ethtool_supports(dev.ethtool_ops, "set_link_ksettings")):  # fmt: skip
        raise _unsupported(dev, "changing link settings (speed, duplex, autoneg)")
    _check_link_fields(dev, changes)
    current = _link_ksettings(host, dev)
    new = replace(current, **{"autoneg": bool(current.autoneg), **changes})
    if (new.speed, new.duplex, new.autoneg) == (current.speed, current.duplex,
                                                bool(current.autoneg)):  # fmt: skip
        return False  # ethnl: "if (!mod) return 0"
    if not new.autoneg and (new.speed <= 0 or new.duplex not in (DUPLEX_HALF, DUPLEX_FULL)):
        raise EthtoolError(
            f"{dev.name}: autoneg off needs a speed and a duplex, and the link reports speed "
            f"{_speed_text(new.speed)}, duplex {_duplex_name(new.duplex)}: give them "
            "(speed N duplex half|full autoneg off)",
            errno.EINVAL,
        )
    if new.autoneg and (new.speed, new.duplex) != (current.speed, current.duplex):
        raise EthtoolError(
            f"{dev.name}: with autoneg on, speed and duplex are negotiated (now "
            f"{_speed_text(current.speed)} {_duplex_name(current.duplex)}); choosing them would "
            "restrict the advertised link modes, which netdrv does not support: force them "
            "with autoneg off, or give autoneg on alone",
            errno.EINVAL,
        )
    what = (f"link settings (speed {_speed_text(new.speed)}, duplex {_duplex_name(new.duplex)}, "
            f"autoneg {'on' if new.autoneg else 'off'})")  # fmt: skip
    _call_set(host, dev, "set_link_ksettings", what, new)
    return True


MAX_PRIV_FLAGS = 32
"""Private flags are the bits of a u32 (``ethtool_ops.get_priv_flags``)."""


def _has_priv_flags(ops: EthtoolOps | None) -> bool:
    return ethtool_supports(ops, "get_priv_flags") and ethtool_supports(
        ops, "get_priv_flag_strings"
    )


def _checked_priv_flag_names(dev: NetDevice, names: Any) -> list[str]:
    if (
        not isinstance(names, list | tuple)
        or len(names) > MAX_PRIV_FLAGS
        or not all(isinstance(n, str) and n and n.isprintable() for n in names)
        or len(set(names)) != len(names)
    ):
        raise EthtoolError(
            f"{dev.name}: {_owner(dev)}'s get_priv_flag_strings returned {names!r:.200}, not a "
            f"list of up to {MAX_PRIV_FLAGS} distinct names",
            errno.EIO,
        )
    return list(names)


def _checked_priv_flags(dev: NetDevice, flags: Any) -> int:
    if isinstance(flags, bool) or not isinstance(flags, int) or not 0 <= flags <= U32_MAX:
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_priv_flags returned {flags!r:.100}, "
                           f"not an integer 0..{U32_MAX}", errno.EIO)  # fmt: skip
    return flags


def _priv_flags(host: Host, dev: NetDevice) -> tuple[list[str], int]:
    """The flag names and the bitmask, checked; ``EOPNOTSUPP`` without both get ops."""
    if not _has_priv_flags(dev.ethtool_ops):
        raise _unsupported(dev, "private flags")
    names = _checked_priv_flag_names(dev, _call_get(host, dev, "get_priv_flag_strings"))
    return names, _checked_priv_flags(dev, _call_get(host, dev, "get_priv_flags"))


def ethtool_get_priv_flags(host: Host, dev: NetDevice) -> dict[str, bool]:
    """``ethtool --show-priv-flags``: each private flag's state, in bit order.

    Needs the driver's ``get_priv_flags`` and ``get_priv_flag_strings``
    (``EOPNOTSUPP``); what they return is checked (``EIO`` naming the op).
    """
    names, flags = _priv_flags(host, dev)
    return {n: bool(flags >> i & 1) for i, n in enumerate(names)}


def ethtool_set_priv_flags(host: Host, dev: NetDevice, changes: Mapping[str, Any]) -> bool:
    """``ethtool --set-priv-flags DEV NAME on|off …`` (name -> bool); True if a flag changed.

    As Linux's ethnl: the driver has ``get_priv_flags``, ``set_priv_flags`` and the
    names (``EOPNOTSUPP``); every name is one of the driver's (``EINVAL``, listing
    them); the bits the request does not name keep what ``get_priv_flags``
    reported; a request that changes nothing does not reach the driver.  The
    driver's negative errno raises :class:`EthtoolError`.
    """
    if not (_has_priv_flags(dev.ethtool_ops)
            and ethtool_supports(dev.ethtool_ops, "set_priv_flags")):  # fmt: skip
        raise _unsupported(dev, "changing private flags")
    names, flags = _priv_flags(host, dev)
    new = flags
    for name, value in changes.items():
        if name not in names:
            raise EthtoolError(f"{dev.name}: unknown private flag {name!r}; {_owner(dev)} has: "
                               f"{', '.join(names) or 'none'}", errno.EINVAL)  # fmt: skip
        if not isinstance(value, bool):
            raise EthtoolError(f"{dev.name}: {name} must be true or false, not {value!r:.100}",
                               errno.EINVAL)  # fmt: skip
        bit = 1 << names.index(name)
        new = new | bit if value else new & ~bit
    if new == flags:
        return False
    _call_set(host, dev, "set_priv_flags", "private flags", new)
    return True


#: ``ethtool -k`` names of the feature bits (Linux's ``netdev_features_strings``), in the
#: kernel's bit order: ethtool lists the features outside a group, and the members of one,
#: in this order (and ``-K``'s "Actual changes:" all of them).  As Linux since 6.12, where
#: LLTX is no feature bit any more (``dev->lltx``), ``NETIF_F_LLTX`` has no name here:
#: ``-k`` does not list ``tx-lockless`` and ``-K`` does not take it.
NETDEV_FEATURE_NAMES: dict[int, str] = {
    NETIF_F_SG: "tx-scatter-gather",
    NETIF_F_IP_CSUM: "tx-checksum-ipv4",
    NETIF_F_HW_CSUM: "tx-checksum-ip-generic",
    NETIF_F_IPV6_CSUM: "tx-checksum-ipv6",
    NETIF_F_HIGHDMA: "highdma",
    NETIF_F_HW_VLAN_CTAG_TX: "tx-vlan-hw-insert",
    NETIF_F_HW_VLAN_CTAG_RX: "rx-vlan-hw-parse",
    NETIF_F_HW_VLAN_CTAG_FILTER: "rx-vlan-filter",
    NETIF_F_GSO: "tx-generic-segmentation",
    NETIF_F_GRO: "rx-gro",
    NETIF_F_LRO: "rx-lro",
    NETIF_F_TSO: "tx-tcp-segmentation",
    NETIF_F_TSO_ECN: "tx-tcp-ecn-segmentation",
    NETIF_F_TSO_MANGLEID: "tx-tcp-mangleid-segmentation",
    NETIF_F_TSO6: "tx-tcp6-segmentation",
    NETIF_F_GSO_UDP_L4: "tx-udp-segmentation",
    NETIF_F_NTUPLE: "rx-ntuple-filter",
    NETIF_F_RXHASH: "rx-hashing",
    NETIF_F_RXCSUM: "rx-checksum",
    NETIF_F_LOOPBACK: "loopback",
}
#: ethtool's short names (``-K DEV tso off``) and group headings in ``-k``: alias -> bits,
#: in the order ethtool prints the headings (before every other feature).
FEATURE_GROUPS: dict[str, tuple[str, int]] = {
    "rx": ("rx-checksumming", NETIF_F_RXCSUM),
    "tx": ("tx-checksumming", NETIF_F_CSUM_MASK),
    "sg": ("scatter-gather", NETIF_F_SG),
    "tso": ("tcp-segmentation-offload", NETIF_F_ALL_TSO),
    "gso": ("generic-segmentation-offload", NETIF_F_GSO),
    "gro": ("generic-receive-offload", NETIF_F_GRO),
    "lro": ("large-receive-offload", NETIF_F_LRO),
    "rxvlan": ("rx-vlan-offload", NETIF_F_HW_VLAN_CTAG_RX),
    "txvlan": ("tx-vlan-offload", NETIF_F_HW_VLAN_CTAG_TX),
    "ntuple": ("ntuple-filters", NETIF_F_NTUPLE),
    "rxhash": ("receive-hashing", NETIF_F_RXHASH),
}
_FEATURE_BITS = {name: bit for bit, name in NETDEV_FEATURE_NAMES.items()}


def ethtool_features(dev: NetDevice) -> dict[str, dict[str, bool]]:
    """``ethtool -k``: each feature's state — ``active`` (in ``features``), ``fixed`` (not in
    ``hw_features``: the user cannot change it) and ``requested`` (in ``wanted_features``,
    or active when fixed)."""
    out = {}
    for bit, name in NETDEV_FEATURE_NAMES.items():
        fixed = not dev.hw_features & bit
        active = bool(dev.features & bit)
        out[name] = {"active": active, "fixed": fixed,
                     "requested": active if fixed else bool(dev.wanted_features & bit)}  # fmt: skip
    return out


def _feature_bits(dev: NetDevice, name: str) -> int:
    if name in FEATURE_GROUPS:
        return FEATURE_GROUPS[name][1]
    if name in _FEATURE_BITS:
        return _FEATURE_BITS[name]
    names = ", ".join([*FEATURE_GROUPS, *_FEATURE_BITS])
    raise EthtoolError(f"{dev.name}: unknown feature {name!r}; features: {names}", errno.EINVAL)


def ethtool_set_features(host: Host, dev: NetDevice, changes: Mapping[str, Any]) -> bool:
    """``ethtool -K``: turn features on or off (name or short name -> bool); True if
    ``dev.features`` changed.

    As ethnl (``ethnl_set_features``): the bits outside ``hw_features`` are left out of
    the request, so a fixed feature asked for the state it has changes nothing (``-K DEV
    rx off`` on a device with receive checksumming fixed off succeeds), and one asked for
    the other state changes nothing either and is no error: ``ethtool -K`` reports it
    ``[requested on]``, and when nothing asked for came out so, "Could not change any
    device features" (exit 1) — what :func:`ethtool_features` shows after it tells.  The
    request updates ``wanted_features`` and
    :meth:`~netdrv_core.host.Host.netdev_update_features` does the rest, so a feature
    another depends on (TSO on checksum offload) may stay off although requested:
    :func:`ethtool_features` shows it ``requested`` but not ``active``.  The driver's
    negative errno from ``set_features`` raises :class:`EthtoolError`.
    """
    _registered(host, dev)
    on = off = 0
    for name, value in changes.items():
        bits = _feature_bits(dev, name)
        if not isinstance(value, bool):
            raise EthtoolError(f"{dev.name}: {name} must be true or false, not {value!r}",
                               errno.EINVAL)  # fmt: skip
        settable = bits & dev.hw_features
        if value:
            on |= settable
        else:
            off |= settable
    if not on | off:
        return False  # only fixed features: ethnl masks them out, nothing changes
    before = dev.features
    dev.wanted_features = (dev.wanted_features | on) & ~off
    ret = host.netdev_update_features(dev)
    if ret < 0:
        why = refusal_text(-ret, host.extack)
        raise EthtoolError(f"{dev.name}: cannot change the features: {why}", -ret)
    return dev.features != before


def ethtool_nway_reset(host: Host, dev: NetDevice) -> None:
    """``ethtool -r``: restart autonegotiation (``EOPNOTSUPP`` without ``nway_reset``)."""
    if not ethtool_supports(dev.ethtool_ops, "nway_reset"):
        raise _unsupported(dev, "restarting autonegotiation")
    _registered(host, dev)
    _call_op(host, dev, "nway_reset", "restart autonegotiation")


# -- Wake-on-LAN (ethtool -s DEV wol) and time stamping (ethtool -T) -------------------------
def wol_mode_text(modes: int) -> str:
    """``WAKE_*`` bits as ethtool's letters (``unparse_wolopts``): ``pg``; ``d`` for none."""
    return "".join(c for i, c in enumerate(WOL_MODE_CHARS) if modes >> i & 1) or "d"


def _checked_wol(dev: NetDevice, wol: Any) -> WolInfo:
    """What ``get_wol`` left: u32 bit sets, a :data:`SOPASS_MAX`-byte password (``EIO``)."""
    if not isinstance(wol, WolInfo):
        raise _garbage(dev, "get_wol", wol)
    for name in ("supported", "wolopts"):
        v = getattr(wol, name)
        if type(v) is not int or not 0 <= v <= U32_MAX:
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_wol left {name}={v!r:.50}, "
                               f"not WAKE_* bits (an integer 0..{U32_MAX})", errno.EIO)  # fmt: skip
    if not isinstance(wol.sopass, bytes | bytearray) or len(wol.sopass) != SOPASS_MAX:
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_wol left sopass="
                           f"{wol.sopass!r:.50}, not {SOPASS_MAX} bytes", errno.EIO)  # fmt: skip
    return WolInfo(wol.supported, wol.wolopts, bytes(wol.sopass))


def ethtool_get_wol(host: Host, dev: NetDevice) -> WolInfo:
    """Wake-on-LAN (``ETHTOOL_MSG_WOL_GET``): the driver's ``get_wol`` fills a zeroed
    :class:`WolInfo`.  ``EOPNOTSUPP`` without the op, as Linux's ``wol_prepare_data``;
    what it leaves is checked (``EIO``); one that raises is a driver fault."""
    ops = dev.ethtool_ops
    if not ethtool_supports(ops, "get_wol"):
        raise _unsupported(dev, "Wake-on-LAN")
    assert ops is not None
    _present(dev)
    wol = WolInfo()
    get_wol: Callable[..., Any] = ops.get_wol  # void in Linux; a driver may return anything
    try:
        ret = get_wol(dev, wol)
    except OSError as exc:
        err = oserror_errno(exc)
        raise EthtoolError(f"{dev.name}: get_wol: {refusal_text(err, refusal_message(exc))}",
                           err) from None  # fmt: skip
    except Exception as exc:
        raise _driver_raised(host, dev, "get_wol", exc) from exc
    if ret is not None:  # void in Linux: a value is a misunderstanding worth naming
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_wol returned {ret!r:.100}: it "
                           f"fills the WolInfo it is given and returns None", errno.EIO)  # fmt: skip
    return _checked_wol(dev, wol)


def _check_wol_fields(dev: NetDevice, changes: Mapping[str, Any]) -> dict[str, Any]:
    """A Wake-on-LAN change: ``wolopts`` (``WAKE_*`` bits) and ``sopass`` (12 hex digits, or
    6 bytes) -> the :class:`WolInfo` fields (``EINVAL`` for anything else)."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "wolopts":
            if type(value) is not int or not 0 <= value < 1 << len(WOL_MODE_CHARS):
                raise EthtoolError(f"{dev.name}: wolopts must be WAKE_* bits 0..0xff (ethtool's "
                                   f"{WOL_MODE_CHARS}), not {value!r:.50}", errno.EINVAL)  # fmt: skip
            out[name] = value
        elif name == "sopass":
            try:
                pw = value if isinstance(value, bytes) else bytes.fromhex(value.replace(":", ""))
            except (AttributeError, ValueError):
                pw = b""
            if len(pw) != SOPASS_MAX:
                raise EthtoolError(f"{dev.name}: sopass must be {SOPASS_MAX} bytes "
                                   f"(xx:yy:zz:aa:bb:cc), not {value!r:.50}", errno.EINVAL)  # fmt: skip
            out[name] = pw
        else:
            raise EthtoolError(f"{dev.name}: Wake-on-LAN has no settable field {name!r} "
                               f"(settable: wolopts, sopass)", errno.EINVAL)  # fmt: skip
    return out


def ethtool_set_wol(host: Host, dev: NetDevice, changes: Mapping[str, Any]) -> bool:
    """``ethtool -s DEV wol MODES [sopass XX:…]``; True if the settings changed.

    As Linux's ``ethnl_set_wol``: ``EOPNOTSUPP`` without the driver's ``get_wol`` and
    ``set_wol``; ``wolopts`` replaces the enabled modes; a mode the device does not
    support is ``EINVAL`` ("cannot enable unsupported WoL mode"), and so is a
    password without ``WAKE_MAGICSECURE`` supported; the driver gets what ``get_wol``
    reported with the request applied, and a request that changes nothing does not
    reach it.  Its negative errno raises :class:`EthtoolError`.
    """
    ops = dev.ethtool_ops
    if not (ethtool_supports(ops, "get_wol") and ethtool_supports(ops, "set_wol")):
        raise _unsupported(dev, "changing Wake-on-LAN")
    fields_ = _check_wol_fields(dev, changes)
    current = ethtool_get_wol(host, dev)
    new = replace(current, **fields_)
    extra = new.wolopts & ~current.supported
    if extra:
        raise EthtoolError(f"{dev.name}: cannot enable unsupported WoL mode: "
                           f"{wol_mode_text(extra)} (the device supports "
                           f"{wol_mode_text(current.supported)})", errno.EINVAL)  # fmt: skip
    if "sopass" in fields_ and not current.supported & WAKE_MAGICSECURE:
        raise EthtoolError(f"{dev.name}: magicsecure not supported, cannot set password",
                           errno.EINVAL)  # fmt: skip
    if new == current:
        return False  # ethnl: "if (!mod) return 0"
    _call_set(host, dev, "set_wol", f"Wake-on-LAN (wol {wol_mode_text(new.wolopts)})", new)
    return True


def _wol_dict(wol: WolInfo) -> dict[str, Any]:
    """As Linux's wol_fill_reply: ``sopass`` only for a device supporting WAKE_MAGICSECURE."""
    secure = {"sopass": wol.sopass.hex(":")} if wol.supported & WAKE_MAGICSECURE else {}
    return {"supported": wol.supported, "wolopts": wol.wolopts, **secure,
            "supported_modes": wol_mode_text(wol.supported),
            "wake_on": wol_mode_text(wol.wolopts)}  # fmt: skip


def ethtool_get_ts_info(host: Host, dev: NetDevice) -> TsInfo:
    """``ethtool -T`` (``ETHTOOL_MSG_TSINFO_GET``), as Linux 6.1's ``__ethtool_get_ts_info``:
    the driver's ``get_ts_info`` fills a zeroed :class:`TsInfo` (``phc_index`` -1); a
    driver without it gets software receive time stamps and the software clock
    (``SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE``), which the kernel's
    stack gives every device's received frames.  What the op leaves is checked (``EIO``);
    its negative errno raises :class:`EthtoolError`."""
    _present(dev)
    info = TsInfo()
    ops = dev.ethtool_ops
    if not ethtool_supports(ops, "get_ts_info"):
        info.so_timestamping = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE
        return info
    _call_op(host, dev, "get_ts_info", "get the time stamping capabilities", info)
    if not isinstance(info, TsInfo):
        raise _garbage(dev, "get_ts_info", info)
    for name in ("so_timestamping", "tx_types", "rx_filters"):
        v = getattr(info, name)
        if type(v) is not int or not 0 <= v <= U32_MAX:
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_ts_info left {name}={v!r:.50}, "
                               f"not a u32 bit set", errno.EIO)  # fmt: skip
    if type(info.phc_index) is not int or not -1 <= info.phc_index < 1 << 31:
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_ts_info left phc_index="
                           f"{info.phc_index!r:.50}, not -1 (none) or a PHC number",
                           errno.EIO)  # fmt: skip
    return replace(info)


def _bit_names(bits: int, names: tuple[str, ...]) -> list[str]:
    """The names of ``bits``' set bits, lowest first; an unnamed one as ``bit N``."""
    return [names[i] if i < len(names) else f"bit {i}"
            for i in range(bits.bit_length()) if bits >> i & 1]  # fmt: skip


def _ts_info_dict(info: TsInfo) -> dict[str, Any]:
    """As the netlink reply carries it: no PHC index (None) when it is -1."""
    return {"so_timestamping": info.so_timestamping,
            "capabilities": _bit_names(info.so_timestamping, SOF_TIMESTAMPING_NAMES),
            "phc_index": info.phc_index if info.phc_index >= 0 else None,
            "tx_types": _bit_names(info.tx_types, HWTSTAMP_TX_NAMES),
            "rx_filters": _bit_names(info.rx_filters, HWTSTAMP_FILTER_NAMES)}  # fmt: skip


EEE_SETTINGS = ("advertised", "eee_enabled", "tx_lpi_enabled", "tx_lpi_timer")
"""What :func:`ethtool_set_eee` changes (``--set-eee``'s advertise, eee, tx-lpi, tx-timer)."""


def ethtool_get_eee(host: Host, dev: NetDevice) -> EthtoolEee:
    """``ethtool --show-eee`` (``ETHTOOL_MSG_EEE_GET``): the driver's ``get_eee`` fills a
    zeroed :class:`EthtoolEee`; ``EOPNOTSUPP`` without it, as Linux's ``eee_prepare_data``.
    Its negative errno raises :class:`EthtoolError`; what it leaves is checked (``EIO``)."""
    ops = dev.ethtool_ops
    if not ethtool_supports(ops, "get_eee"):
        raise _unsupported(dev, "EEE (Energy-Efficient Ethernet)")
    eee = EthtoolEee()
    _call_op(host, dev, "get_eee", "get the EEE settings", eee)
    if not isinstance(eee, EthtoolEee):
        raise _garbage(dev, "get_eee", eee)
    out: dict[str, Any] = {}
    for f in fields(EthtoolEee):
        v = getattr(eee, f.name)
        if isinstance(f.default, bool):
            if type(v) is not bool and not (type(v) is int and v in (0, 1)):
                raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_eee left {f.name}="
                                   f"{v!r:.50}, not true or false", errno.EIO)  # fmt: skip
            v = bool(v)
        elif type(v) is not int or not 0 <= v <= U32_MAX:
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_eee left {f.name}={v!r:.50}, "
                               f"not an integer 0..{U32_MAX}", errno.EIO)  # fmt: skip
        out[f.name] = v
    return EthtoolEee(**out)


def _check_eee_fields(dev: NetDevice, changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        if name not in EEE_SETTINGS:
            raise EthtoolError(f"{dev.name}: EEE has no settable field {name!r} (settable: "
                               f"{', '.join(EEE_SETTINGS)})", errno.EINVAL)  # fmt: skip
        if name in ("eee_enabled", "tx_lpi_enabled"):
            ok = isinstance(value, bool)
        else:
            ok = type(value) is int and 0 <= value <= U32_MAX
        if not ok:
            want = "true or false" if name.endswith("enabled") else f"an integer 0..{U32_MAX}"
            raise EthtoolError(f"{dev.name}: {name} must be {want}, not {value!r:.50}",
                               errno.EINVAL)  # fmt: skip


def ethtool_set_eee(host: Host, dev: NetDevice, changes: Mapping[str, Any]) -> bool:
    """``ethtool --set-eee``; True if the settings changed.

    As Linux 6.1's ``ethnl_set_eee``: ``EOPNOTSUPP`` without ``get_eee`` and ``set_eee``;
    ``changes`` maps :data:`EEE_SETTINGS` to new values (``advertised`` replaces the
    advertised link modes: a mask of link mode bits); the driver gets what ``get_eee``
    reported with them applied, and a request that changes nothing does not reach it.
    Refusing what the hardware cannot do is the driver's (a negative errno).
    """
    ops = dev.ethtool_ops
    if not (ethtool_supports(ops, "get_eee") and ethtool_supports(ops, "set_eee")):
        raise _unsupported(dev, "changing EEE (Energy-Efficient Ethernet)")
    _check_eee_fields(dev, changes)
    current = ethtool_get_eee(host, dev)
    new = replace(current, **changes)
    if new == current:
        return False  # ethnl: "if (!mod) return 0"
    _call_set(host, dev, "set_eee", "the EEE settings", new)
    return True


def _eee_dict(eee: EthtoolEee) -> dict[str, Any]:
    return {**asdict(eee), **{f"{k}_modes": _bit_names_of(getattr(eee, k)) for k in
                              ("supported", "advertised", "lp_advertised")}}  # fmt: skip


def _bit_names_of(mask: int) -> list[str]:
    """The link modes of a legacy mask, lowest bit first (the bits that are none left out)."""
    return [n for b, n in LINK_MODE_NAMES.items() if mask >> b & 1]


# -- identify (ethtool -p) ------------------------------------------------------------------------
_ID_STATES = {ETHTOOL_ID_INACTIVE: "ETHTOOL_ID_INACTIVE", ETHTOOL_ID_ACTIVE: "ETHTOOL_ID_ACTIVE",
              ETHTOOL_ID_ON: "ETHTOOL_ID_ON", ETHTOOL_ID_OFF: "ETHTOOL_ID_OFF"}  # fmt: skip
# The identify running on each host (Linux: one at a time, its static "busy").
_identifying: weakref.WeakKeyDictionary[Host, PhysId] = weakref.WeakKeyDictionary()
_PHYS_ID_WATCH = 1.0
"""Seconds between the checks that a device blinking by itself is still there: Linux's
unregister waits for ``ethtool -p`` to end (the device is held); netdrv's does not, so an
identify of a device unplugged meanwhile ends then (``ENODEV``), not at Ctrl-C."""


class PhysId:
    """One ``ethtool -p`` run on the host's loop (Linux's ``ethtool_phys_id``): :meth:`cancel`
    is the user's interrupt.  ``done`` gets None, or the :class:`EthtoolError` that ended it,
    once the driver was told :data:`ETHTOOL_ID_INACTIVE`."""

    def __init__(self, host: Host, dev: NetDevice, seconds: int,
                 done: Callable[[EthtoolError | None], None] | None,
                 guard: Callable[[], AbstractContextManager[object]] | None = None) -> None:  # fmt: skip
        self.host, self.dev, self.seconds, self.done = host, dev, seconds, done
        self.guard = guard or nullcontext
        self.finished = False
        self.timer: Any = None
        self.watch: Any = None  # the driver blinks by itself: is the device still there?
        self.count = 0  # ON/OFF calls to make (0: until cancelled)
        self.calls = 0
        self.interval = 0.0

    def _call(self, state: int) -> int:
        """``set_phys_id(state)``: 0, a positive frequency (ACTIVE only) or a negative errno;
        a raise is a driver fault (``EIO``), a refusal by ``OSError`` its errno."""
        ops = self.dev.ethtool_ops
        assert ops is not None
        try:
            with self.guard():
                ret: Any = ops.set_phys_id(self.dev, state)
        except OSError as exc:
            self.host.extack = refusal_message(exc)
            return -oserror_errno(exc)
        except Exception as exc:
            raise _driver_raised(self.host, self.dev, "set_phys_id", exc) from exc
        if ret is None:
            return 0
        limit = U32_MAX if state == ETHTOOL_ID_ACTIVE else 0
        if type(ret) is not int or not -4095 <= ret <= limit:
            raise EthtoolError(f"{self.dev.name}: {_owner(self.dev)}'s set_phys_id returned "
                               f"{ret!r:.50} for {_ID_STATES[state]}, not 0"
                               + (", a frequency" if limit else "")
                               + " or a negative errno", errno.EIO)  # fmt: skip
        return int(ret)

    def start(self) -> None:
        """ACTIVE, then the driver's own blinking for ``seconds`` or the core's ON/OFF."""
        self.host.extack = None
        rc = self._call(ETHTOOL_ID_ACTIVE)
        if rc < 0:
            raise EthtoolError(f"{self.dev.name}: cannot identify the device: "
                               f"{refusal_text(-rc, self.host.extack)}", -rc)  # fmt: skip
        _identifying[self.host] = self
        if rc == 0:  # the driver blinks by itself
            if self.seconds:
                self.timer = self.host.loop.call_later(self.seconds, self._finish, None)
            self.watch = self.host.loop.call_later(_PHYS_ID_WATCH, self._watch)
            return
        n = 2 * rc  # "called at twice the frequency in rc"
        self.interval, self.count = 1.0 / n, n * self.seconds
        self._step()

    def _gone(self) -> EthtoolError | None:
        """ENODEV when the device went (unregistered, or detached: unplugged) meanwhile."""
        if self.host.devices.get(self.dev.name) is not self.dev:
            why = "the device is no longer registered"
        elif not netif_device_present(self.dev):
            why = "the device is detached (suspended or unplugged)"
        else:
            return None
        return EthtoolError(f"{self.dev.name}: identification stopped: {why}", errno.ENODEV)

    def _watch(self) -> None:
        self.watch = None
        if self.finished:
            return
        gone = self._gone()
        if gone is not None:
            self._finish(gone)
            return
        self.watch = self.host.loop.call_later(_PHYS_ID_WATCH, self._watch)

    def _step(self) -> None:
        self.timer = None
        if self.finished:
            return
        if self.count and self.calls == self.count:
            self._finish(None)
            return
        gone = self._gone()
        if gone is not None:  # never ON/OFF to a device that is not there
            self._finish(gone)
            return
        state = ETHTOOL_ID_OFF if self.calls & 1 else ETHTOOL_ID_ON
        self.calls += 1
        try:
            rc = self._call(state)
        except EthtoolError as exc:
            self._finish(exc)
            return
        if rc < 0:
            self._finish(EthtoolError(f"{self.dev.name}: identification stopped: "
                                      f"{refusal_text(-rc, self.host.extack)}", -rc))  # fmt: skip
            return
        self.timer = self.host.loop.call_later(self.interval, self._step)

    def cancel(self) -> None:
        """The user interrupted it: it ends now, INACTIVE (Linux: a signal ends the wait)."""
        self._finish(None)

    def stop(self, why: str) -> None:
        """End it now, INACTIVE, ``done`` told ``ENODEV`` and ``why`` (the device is about to
        go: its driver unloads)."""
        self._finish(EthtoolError(f"{self.dev.name}: identification stopped: {why}",
                                  errno.ENODEV))  # fmt: skip

    def _finish(self, error: EthtoolError | None) -> None:
        if self.finished:
            return
        self.finished = True
        for timer in (self.timer, self.watch):
            if timer is not None:
                timer.cancel()
        self.timer = self.watch = None
        if _identifying.get(self.host) is self:
            del _identifying[self.host]
        if self.host.devices.get(self.dev.name) is self.dev and netif_device_present(self.dev):
            try:  # "(void) ops->set_phys_id(dev, ETHTOOL_ID_INACTIVE)": its answer is ignored
                self._call(ETHTOOL_ID_INACTIVE)
            except EthtoolError as exc:
                log.warning("%s", exc)
        if self.done is not None:
            self.done(error)


def ethtool_phys_id_stop(host: Host, dev: NetDevice, why: str) -> bool:
    """End the ``ethtool -p`` running on ``dev``, if one is (True then): the driver is told
    :data:`ETHTOOL_ID_INACTIVE` now and the run's ``done`` gets ``ENODEV`` with ``why``.
    For the device's own end (its driver unloading): Linux's unregister waits for the
    identify instead, which a daemon serving others cannot."""
    run = _identifying.get(host)
    if run is None or run.dev is not dev:
        return False
    run.stop(why)
    return True


def ethtool_phys_id_begin(
    host: Host, dev: NetDevice, seconds: int,
    done: Callable[[EthtoolError | None], None] | None = None,
    guard: Callable[[], AbstractContextManager[object]] | None = None,
) -> PhysId:  # fmt: skip
    """Start ``ethtool -p DEV [seconds]`` (``ETHTOOL_PHYS_ID``) on the host's loop.

    As Linux's ``ethtool_phys_id``: ``EOPNOTSUPP`` without the driver's ``set_phys_id``;
    ``EBUSY`` while another identify runs on the host; ``set_phys_id(ETHTOOL_ID_ACTIVE)``
    first (its negative errno raises :class:`EthtoolError`); then, if it returned 0, the
    driver blinks by itself for ``seconds`` (0: until :meth:`PhysId.cancel`), else the
    core calls ``ETHTOOL_ID_ON``/``ETHTOOL_ID_OFF`` alternately at twice the frequency
    it returned, that many seconds (0: until cancelled; an errno from one ends it).
    Whatever ends it — the time, a cancel, an error — the driver is told
    ``ETHTOOL_ID_INACTIVE`` before ``done`` gets None or the error.  A device that goes
    meanwhile (unregistered, or detached) ends it with ``ENODEV``, its driver not called
    again — within a second when the driver blinks by itself (Linux's unregister waits
    for the identify instead); :func:`ethtool_phys_id_stop` ends it while the device is
    still there.  ``guard``, if given, makes the context (the daemon's lockup watchdog)
    each driver call runs in.
    """
    _present(dev)
    if not ethtool_supports(dev.ethtool_ops, "set_phys_id"):
        raise _unsupported(dev, "identification (ethtool -p: its driver has no set_phys_id)")
    if type(seconds) is not int or not 0 <= seconds <= U32_MAX:
        raise EthtoolError(f"{dev.name}: identify for a number of seconds 0..{U32_MAX} (0: "
                           f"until interrupted), not {seconds!r:.50}", errno.EINVAL)  # fmt: skip
    running = _identifying.get(host)
    if running is not None:
        raise EthtoolError(f"{dev.name}: cannot identify the device: {running.dev.name} is being "
                           f"identified (ethtool -p): one at a time", errno.EBUSY)  # fmt: skip
    _registered(host, dev)
    run = PhysId(host, dev, seconds, done, guard)
    run.start()
    return run


def _garbage(dev: NetDevice, op: str, value: Any) -> EthtoolError:
    return EthtoolError(f"{dev.name}: {_owner(dev)}'s {op} returned {value!r:.200}", errno.EIO)


def _stat_names(host: Host, dev: NetDevice) -> list[str]:
    names = _call_get(host, dev, "get_strings")
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise _garbage(dev, "get_strings", names)
    return list(names)


MAX_ADDR_LEN = 32
"""Bytes ``dev.perm_addr`` can hold (Linux's ``MAX_ADDR_LEN``)."""
ETHTOOL_PAGE = 4096
"""The most bytes one ``get_eeprom``/``set_eeprom`` call handles (the kernel's PAGE_SIZE chunks)."""
MAX_DUMP_LEN = 1 << 24
"""The largest EEPROM or register dump the core accepts (16 MiB): a larger
``get_eeprom_len``/``get_regs_len`` is taken for garbage, not allocated."""


def ethtool_get_perm_addr(dev: NetDevice) -> bytes:
    """``ethtool -P`` (``ETHTOOL_GPERMADDR``): ``dev.perm_addr``, ``dev.addr_len`` bytes.

    As Linux's fixed ``perm_addr`` array: an empty one reads as zeros (registering
    copies ``dev_addr`` into an empty one, whatever it is: netdrv has no
    ``addr_assign_type``).  A ``perm_addr`` that is not ``addr_len`` bytes is the
    driver's bug (``EIO``).
    """
    perm, n = dev.perm_addr, dev.addr_len
    if type(n) is not int or not 0 <= n <= MAX_ADDR_LEN:
        raise EthtoolError(f"{dev.name}: {_owner(dev)} set addr_len to {n!r:.50}, not "
                           f"0..{MAX_ADDR_LEN}", errno.EIO)  # fmt: skip
    if not isinstance(perm, bytes | bytearray) or len(perm) not in (0, n):
        raise EthtoolError(f"{dev.name}: {_owner(dev)} set perm_addr to {perm!r:.100}, not "
                           f"{n} bytes (addr_len)", errno.EIO)  # fmt: skip
    return bytes(perm) if perm else bytes(n)


class _Refused(EthtoolError):
    """The driver refused (a negative errno, or ``OSError``), as opposed to returning
    garbage or raising (``EIO`` too): ``-i`` shows a refusing ``get_regs_len`` as no dump."""


def _dump_len(host: Host, dev: NetDevice, op: str) -> int:
    """``get_eeprom_len``/``get_regs_len``, checked: an integer 0..:data:`MAX_DUMP_LEN`
    (a negative errno from ``get_regs_len`` is a refusal, as Linux returns it)."""
    try:
        n = _call_get(host, dev, op)
    except EthtoolError as exc:
        if exc.__cause__ is None:  # it raised OSError: a refusal (a driver fault has a cause)
            raise _Refused(str(exc), exc.errno) from None
        raise
    if type(n) is int and op == "get_regs_len" and -4095 <= n < 0:
        why = refusal_text(-n, None)
        raise _Refused(f"{dev.name}: cannot dump the registers: {why}", -n)
    if type(n) is not int or not 0 <= n <= MAX_DUMP_LEN:
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s {op} returned {n!r:.100}, not a "
                           f"number of bytes 0..{MAX_DUMP_LEN}", errno.EIO)  # fmt: skip
    return n


def _eeprom_len(host: Host, dev: NetDevice, needs: str, what: str) -> int:
    """The EEPROM's size; ``EOPNOTSUPP`` without ``get_eeprom_len`` and ``needs``, or size 0."""
    ops = dev.ethtool_ops
    if not (ethtool_supports(ops, needs) and ethtool_supports(ops, "get_eeprom_len")):
        raise _unsupported(dev, what)
    total = _dump_len(host, dev, "get_eeprom_len")
    if not total:
        raise _unsupported(dev, f"{what} (its get_eeprom_len is 0)")
    return total


def _bytes(n: int) -> str:
    return f"{n} byte" if n == 1 else f"{n} bytes"


def _eeprom_range(dev: NetDevice, offset: Any, length: Any, total: int) -> None:
    """Linux's checks: a length of at least 1, and the range within the EEPROM (``EINVAL``)."""
    for name, v in (("offset", offset), ("length", length)):
        if type(v) is not int or not 0 <= v <= U32_MAX:
            raise EthtoolError(f"{dev.name}: the EEPROM {name} must be an integer 0..{U32_MAX}, "
                               f"not {v!r:.50}", errno.EINVAL)  # fmt: skip
    if not length:
        raise EthtoolError(f"{dev.name}: an EEPROM access needs a length of at least 1 byte",
                           errno.EINVAL)  # fmt: skip
    if offset + length > total:
        raise EthtoolError(f"{dev.name}: bytes {offset}..{offset + length - 1} are outside the "
                           f"{total}-byte EEPROM (offset + length must be at most {total})",
                           errno.EINVAL)  # fmt: skip


def _check_struct(dev: NetDevice, op: str, value: Any, cls: type, wanted: dict[str, int]) -> None:
    """What a driver left in the ``EthtoolEeprom``/``EthtoolRegs`` it was given: still one,
    its fields u32s, and ``wanted`` fields (name -> the most allowed) within bounds."""
    if not isinstance(value, cls):
        raise _garbage(dev, op, value)
    for f in fields(cls):
        v = getattr(value, f.name)
        top = wanted.get(f.name, U32_MAX)
        if type(v) is not int or not 0 <= v <= top:
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s {op} left {f.name}={v!r:.50}, "
                               f"not an integer 0..{top}", errno.EIO)  # fmt: skip


def _check_buffer(dev: NetDevice, op: str, buf: bytearray, size: int) -> None:
    if len(buf) != size:
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s {op} resized its {size}-byte buffer to "
                           f"{len(buf)} bytes: fill it in place", errno.EIO)  # fmt: skip


def ethtool_get_eeprom(
    host: Host, dev: NetDevice, offset: int = 0, length: int | None = None
) -> tuple[EthtoolEeprom, bytes]:
    """``ethtool -e`` (``ETHTOOL_GEEPROM``): ``length`` bytes of the EEPROM from ``offset``
    (default: to the end), with the driver's magic.

    As Linux's ``ethtool_get_any_eeprom``: the driver has ``get_eeprom`` and a
    non-zero ``get_eeprom_len`` (``EOPNOTSUPP``); the range is at least one byte
    and within the EEPROM (``EINVAL``); the driver is asked a page at a time, and
    one that returns no bytes is ``EIO``.  What it leaves in the structure and the
    buffer is checked (``EIO`` naming the op); a negative errno is a refusal.
    """
    total = _eeprom_len(host, dev, "get_eeprom", "EEPROM access")
    if length is None and type(offset) is int:
        length = max(total - offset, 0)
    _eeprom_range(dev, offset, length, total)
    assert length is not None
    ops = dev.ethtool_ops
    assert ops is not None
    eeprom = EthtoolEeprom(offset=offset)
    out = bytearray()
    while len(out) < length:
        chunk = min(length - len(out), ETHTOOL_PAGE)
        eeprom.offset, eeprom.len = offset + len(out), chunk
        buf = bytearray(chunk)
        _call_op(host, dev, "get_eeprom",
                 f"read {_bytes(chunk)} of the EEPROM at offset {eeprom.offset}",
                 eeprom, buf)  # fmt: skip
        _check_struct(dev, "get_eeprom", eeprom, EthtoolEeprom, {"len": chunk})
        _check_buffer(dev, "get_eeprom", buf, chunk)
        if eeprom.offset != offset + len(out):
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_eeprom changed the offset "
                               f"{offset + len(out)} to {eeprom.offset}", errno.EIO)  # fmt: skip
        if not eeprom.len:
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_eeprom returned no bytes "
                               f"(eeprom.len 0) at offset {eeprom.offset}", errno.EIO)  # fmt: skip
        out += buf[: eeprom.len]
    return EthtoolEeprom(magic=eeprom.magic, offset=offset, len=length), bytes(out)


def ethtool_set_eeprom(host: Host, dev: NetDevice, magic: int, offset: int, data: bytes) -> None:
    """``ethtool -E`` (``ETHTOOL_SEEPROM``): write ``data`` at ``offset``.

    As Linux's ``ethtool_set_eeprom``: the driver has ``set_eeprom`` and a non-zero
    ``get_eeprom_len`` (``EOPNOTSUPP``); the range is at least one byte and within
    the EEPROM (``EINVAL``); the driver gets a page at a time, with ``magic`` as
    given — checking it is the driver's (``EINVAL`` for a wrong one).  A refusal
    after the first page says how much was written.
    """
    total = _eeprom_len(host, dev, "set_eeprom", "writing the EEPROM")
    if type(magic) is not int or not 0 <= magic <= U32_MAX:
        raise EthtoolError(f"{dev.name}: the EEPROM magic must be an integer 0..{U32_MAX}, not "
                           f"{magic!r:.50}", errno.EINVAL)  # fmt: skip
    if not isinstance(data, bytes | bytearray):
        raise EthtoolError(f"{dev.name}: EEPROM data must be bytes, not {type(data).__name__}",
                           errno.EINVAL)  # fmt: skip
    _eeprom_range(dev, offset, len(data), total)
    ops = dev.ethtool_ops
    assert ops is not None
    done = 0
    while done < len(data):
        chunk = bytes(data[done : done + ETHTOOL_PAGE])
        eeprom = EthtoolEeprom(magic=magic, offset=offset + done, len=len(chunk))
        _registered(host, dev)
        ret = _guarded(host, dev, "set_eeprom", ops.set_eeprom, eeprom, chunk)
        if ret < 0:
            why = refusal_text(-ret, host.extack)
            part = f"; the first {done} bytes were written" if done else ""
            # EINVAL as most drivers refuse a wrong magic, EFAULT as igb and e1000e do.
            magic_refused = ret in (-errno.EINVAL, -errno.EFAULT)
            hint = (" (a driver refuses a wrong magic so; `netdrv ethtool --json -e "
                    f"{dev.name}` shows the device's)") if magic_refused else ""  # fmt: skip
            raise EthtoolError(f"{dev.name}: cannot write {_bytes(len(data))} of the EEPROM at "
                               f"offset {offset}: {why}{hint}{part}", -ret)  # fmt: skip
        done += len(chunk)


def ethtool_get_regs(host: Host, dev: NetDevice) -> tuple[EthtoolRegs, bytes]:
    """``ethtool -d`` (``ETHTOOL_GREGS``): the register dump and its layout version.

    As Linux's ``ethtool_get_regs``: ``EOPNOTSUPP`` without ``get_regs`` and
    ``get_regs_len``; a negative ``get_regs_len`` is a refusal and 0 an empty dump
    (``get_regs`` is not called); the driver fills a zeroed buffer of that size.
    Garbage — a length that is no number, a resized buffer, a version that is no
    u32 — is ``EIO`` naming the op.
    """
    ops = dev.ethtool_ops
    if not (ethtool_supports(ops, "get_regs") and ethtool_supports(ops, "get_regs_len")):
        raise _unsupported(dev, "register dumps")
    assert ops is not None
    reglen = _dump_len(host, dev, "get_regs_len")
    regs = EthtoolRegs(len=reglen)
    if not reglen:
        return regs, b""
    buf = bytearray(reglen)
    _call_op(host, dev, "get_regs", "dump the registers", regs, buf)
    _check_struct(dev, "get_regs", regs, EthtoolRegs, {})
    _check_buffer(dev, "get_regs", buf, reglen)
    return EthtoolRegs(version=regs.version, len=reglen), bytes(buf)


def _eeprom_write_data(dev: NetDevice, settings: Mapping[str, Any]) -> bytes:
    """The bytes of an EEPROM write request (``magic``, ``offset``, ``data`` in hex)."""
    unknown = set(settings) - {"magic", "offset", "data"}
    if unknown or "data" not in settings:
        raise EthtoolError(f"{dev.name}: an EEPROM write takes magic, offset and data (hex), "
                           f"not {', '.join(sorted(unknown)) or 'no data'}",
                           errno.EINVAL)  # fmt: skip
    try:
        return bytes.fromhex(settings["data"])
    except (TypeError, ValueError):
        raise EthtoolError(f"{dev.name}: EEPROM data must be hex digits, not "
                           f"{settings['data']!r:.50}", errno.EINVAL) from None  # fmt: skip


def _eeprom_request(
    host: Host, dev: NetDevice, settings: Mapping[str, Any] | None, args: Mapping[str, Any] | None
) -> tuple[dict[str, Any], bool | None]:
    if settings is not None:  # -E: magic, offset, data (hex)
        data = _eeprom_write_data(dev, settings)
        offset = settings.get("offset", 0)
        ethtool_set_eeprom(host, dev, settings.get("magic", 0), offset, data)
        return {"offset": offset, "length": len(data)}, True
    a = dict(args or {})
    unknown = set(a) - {"offset", "length"}
    if unknown:
        raise EthtoolError(f"{dev.name}: an EEPROM read takes offset and length, not "
                           f"{', '.join(sorted(unknown))}", errno.EINVAL)  # fmt: skip
    eeprom, data = ethtool_get_eeprom(host, dev, a.get("offset", 0), a.get("length"))
    return {"magic": eeprom.magic, "offset": eeprom.offset, "length": eeprom.len,
            "data": data.hex()}, None  # fmt: skip


def ethtool_request(
    host: Host,
    dev: NetDevice,
    op: str,
    settings: Mapping[str, Any] | None = None,
    args: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], bool | None]:
    """One ``netdrv ethtool`` request: ``(result, changed)``; ``changed`` is None for a get.

    ``op`` is one of :data:`ETHTOOL_REQUESTS`.  With ``settings`` (field name ->
    value; ``{"msglevel": N}`` for ``msglevel``, ``speed``/``duplex``/``autoneg``
    for ``settings``, flag name -> bool for ``priv_flags``, ``magic``/``offset``/
    ``data`` (hex) for ``eeprom``, ``wolopts``/``sopass`` (hex) for ``wol``, :data:`EEE_SETTINGS` for ``eee``) it is a set
    request and the result is the state after it (``tsinfo``, ``ethtool -T``, is a get
    only).  ``args`` qualify a get: ``offset``/``length`` for ``eeprom``, ``flags``
    for ``test`` (:func:`ethtool_self_test`, which runs the host's loop until the test
    is done: never call it from a loop callback; the daemon uses
    :func:`ethtool_self_test_begin`).  Raises :class:`EthtoolError`; ``ENODEV`` for
    any request while the device is detached (suspended or unplugged), as Linux's
    ethtool ioctl answers.

    A change (a set request, ``nway_reset``) while a self-test runs on the device, or
    waits for one, waits its turn as in Linux, where the test holds the RTNL lock the
    change takes (netdrv's wait is per device; RTNL is one lock for all): this runs the
    host's loop until then (see :func:`ethtool_request_begin`, what a loop callback
    uses; from one, waiting here is ``EDEADLK``).  Given up on (``EDEADLK``, or
    ``ETIMEDOUT`` when the loop's clock does not move), the change is not made later.
    Reads are answered at once.
    """
    _check_request(dev, op, args)
    if _waits_for_tests(dev, op, settings):
        if host.loop.running is not None:
            raise EthtoolError(f"{dev.name}: the ethtool {op} change waits for the self-test "
                               f"running on the device, from a loop callback: use "
                               f"ethtool_request_begin", errno.EDEADLK)  # fmt: skip
        box: list[tuple[dict[str, Any], bool | None] | EthtoolError] = []
        done = box.append
        ethtool_request_begin(host, dev, op, settings, args, done)
        host.loop.run_until(lambda: bool(box), 2 * ETHTOOL_TEST_TIMEOUT + 1.0)
        if not box:  # the loop's clock is a test's fake one and was not moved
            _withdraw_waiting(dev, done)  # told it failed: it is not made later
            raise EthtoolError(f"{dev.name}: the self-test the ethtool {op} change waits "
                               f"for did not complete", errno.ETIMEDOUT)  # fmt: skip
        outcome = box[0]
        if isinstance(outcome, EthtoolError):
            raise outcome
        return outcome
    return _request(host, dev, op, settings, args)


def _check_msglevel_request(dev: NetDevice, settings: Mapping[str, Any]) -> None:
    if set(settings) != {"msglevel"}:
        raise EthtoolError(f"{dev.name}: set only 'msglevel'", errno.EINVAL)
    _check_value(dev, "msglevel", settings["msglevel"])


def _check_change(dev: NetDevice, op: str, settings: Mapping[str, Any] | None) -> None:
    """What is wrong with change ``op`` whatever the state of the device: the request, its
    field names, the types and ranges of its values (``EINVAL``).  Checked before the
    change waits for a self-test, as Linux's netlink policy checks an ethtool request's
    attributes before its handler takes RTNL; what needs the driver (its ops, the
    current values and maximums, its private flag names) is checked at the change's turn."""
    if op not in ETHTOOL_REQUESTS:
        raise EthtoolError(f"unknown ethtool request {op!r}", errno.EINVAL)
    if settings is None:
        return
    if not isinstance(settings, Mapping):
        raise EthtoolError(f"{dev.name}: an ethtool {op} change is field name -> value, not "
                           f"{settings!r:.50}", errno.EINVAL)  # fmt: skip
    if op in _KINDS:
        _check_fields(dev, op, settings)
    elif op == "settings":
        _check_link_fields(dev, settings)
    elif op == "msglevel":
        _check_msglevel_request(dev, settings)
    elif op == "eeprom":
        _eeprom_write_data(dev, settings)
    elif op == "wol":
        _check_wol_fields(dev, settings)
    elif op == "eee":
        _check_eee_fields(dev, settings)
    elif op in ("features", "priv_flags"):
        for name, value in settings.items():
            if op == "features":
                _feature_bits(dev, name)
            if not isinstance(value, bool):
                raise EthtoolError(f"{dev.name}: {name} must be true or false, not "
                                   f"{value!r:.100}", errno.EINVAL)  # fmt: skip


def _withdraw_waiting(dev: NetDevice, done: Callable[[Any], None]) -> bool:
    """Take the change or self-test waiting for ``dev``'s self-test whose ``done`` is
    ``done`` off the queue, its timer cancelled: its caller gave up on it (and was told it
    failed), so it is never made or run.  False when none waits (it was made, or runs)."""
    queue = _waiting.get(dev)
    if not queue:
        return False
    for q in queue:
        if q.done is done:
            queue.remove(q)
            if q.timer is not None:
                q.timer.cancel()
            if not queue:
                _waiting.pop(dev, None)
            return True
    return False


def _check_request(dev: NetDevice, op: str, args: Mapping[str, Any] | None) -> None:
    """What is refused before a request waits for anything: a detached device, stray args."""
    _present(dev)
    if args and op not in ("eeprom", "test"):
        raise EthtoolError(f"{dev.name}: the ethtool {op} request takes no arguments",
                           errno.EINVAL)  # fmt: skip


def _waits_for_tests(dev: NetDevice, op: str, settings: Mapping[str, Any] | None) -> bool:
    """Whether request ``op`` must wait for the device's self-tests: a change (Linux's
    ethtool ioctl takes RTNL for every request; only a change has to wait here, as a read
    cannot disturb the test), while one runs or waits."""
    if op == "test" or (settings is None and op != "nway_reset"):
        return False
    return netif_testing(dev) or bool(_waiting.get(dev))


def ethtool_request_begin(
    host: Host,
    dev: NetDevice,
    op: str,
    settings: Mapping[str, Any] | None = None,
    args: Mapping[str, Any] | None = None,
    done: Callable[[tuple[dict[str, Any], bool | None] | EthtoolError], None] | None = None,
    guard: Callable[[], AbstractContextManager[object]] | None = None,
) -> tuple[dict[str, Any], bool | None] | None:
    """:func:`ethtool_request` without blocking the event loop (what the daemon uses).

    A change (a set request, ``nway_reset``: ``ethtool -G``, ``-K``, ``-s``…) of a
    device on which a self-test runs, or waits, waits for it as in Linux, where the
    test holds the RTNL lock the change takes (the wait is per device: RTNL is one lock
    for every device).  A request malformed whatever the device's state (an unknown
    request or field, a value of the wrong type or out of its range) is refused at
    once, ``EINVAL``, as Linux's netlink policy refuses it before RTNL is taken.  The
    change is made once the test's result is
    handed on, in turn with the tests waiting too, and answers ``EBUSY`` without
    being made when it has waited :data:`ETHTOOL_TEST_TIMEOUT` seconds.  Returns
    ``(result, changed)`` when the request was answered at once (every read, and a
    change with no test to wait for); None when it waits, and then ``done`` gets
    ``(result, changed)`` or the :class:`EthtoolError` on the loop.  ``guard``, if
    given, makes the context (the daemon's lockup watchdog) the driver is called in,
    now or later.  A self-test itself is :func:`ethtool_self_test_begin`.
    """
    if op == "test":
        raise EthtoolError(f"{dev.name}: a self-test is begun with ethtool_self_test_begin",
                           errno.EINVAL)  # fmt: skip
    _check_request(dev, op, args)
    if _waits_for_tests(dev, op, settings):
        _check_change(dev, op, settings)  # a malformed request is not kept waiting
        q = _QueuedChange(host, dev, op, settings, args, done, guard)
        q.timer = host.loop.call_later(ETHTOOL_TEST_TIMEOUT, _waited_too_long, q)
        _waiting.setdefault(dev, deque()).append(q)
        return None
    with (guard or nullcontext)():
        return _request(host, dev, op, settings, args)


def _request(
    host: Host,
    dev: NetDevice,
    op: str,
    settings: Mapping[str, Any] | None,
    args: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], bool | None]:
    """:func:`ethtool_request` once nothing is waited for."""
    _check_request(dev, op, args)  # (again for a change that waited: it may have gone)
    ops = dev.ethtool_ops or EthtoolOps()
    if op == "test":
        a = dict(args or {})
        if set(a) - {"flags"}:
            raise EthtoolError(f"{dev.name}: a self-test takes flags only", errno.EINVAL)
        return ethtool_self_test(host, dev, a.get("flags", ETH_TEST_FL_OFFLINE)), None
    if op == "permaddr":
        addr = ethtool_get_perm_addr(dev)
        return {"perm_addr": addr.hex(":"), "addr_len": len(addr)}, None
    if op == "eeprom":
        return _eeprom_request(host, dev, settings, args)
    if op == "tsinfo":
        return _ts_info_dict(ethtool_get_ts_info(host, dev)), None
    if op == "eee":
        changed = None if settings is None else ethtool_set_eee(host, dev, settings)
        return _eee_dict(ethtool_get_eee(host, dev)), changed
    if op == "wol":
        changed = None if settings is None else ethtool_set_wol(host, dev, settings)
        return _wol_dict(ethtool_get_wol(host, dev)), changed
    if op == "regs":
        regs, data = ethtool_get_regs(host, dev)
        return {"version": regs.version, "length": regs.len, "data": data.hex()}, None
    if op == "settings":
        changed = None if settings is None else ethtool_set_link_ksettings(host, dev, settings)
        return _settings_parts(host, dev, ops), changed
    if op == "drvinfo":
        info = _call_get(host, dev, "get_drvinfo")
        if not isinstance(info, DrvInfo) or not all(
            isinstance(v, str) for v in asdict(info).values()
        ):
            raise _garbage(dev, "get_drvinfo", info)
        n_stats = len(_stat_names(host, dev))
        n_priv_flags = len(_priv_flags(host, dev)[0]) if _has_priv_flags(ops) else 0
        # Linux's ethtool_get_drvinfo: the sizes -e and -d would dump (0: none).
        eedump_len = (_dump_len(host, dev, "get_eeprom_len")
                      if ethtool_supports(ops, "get_eeprom_len") else 0)  # fmt: skip
        regdump_len = 0
        if ethtool_supports(ops, "get_regs_len"):
            try:
                regdump_len = _dump_len(host, dev, "get_regs_len")
            except _Refused:  # Linux shows a refusing get_regs_len (-EIO too) as 0
                pass
        # testinfo_len: the number of self-tests (ETH_SS_TEST), ethtool's supports-test.
        testinfo_len = len(_test_names(host, dev)) if _has_self_test(ops) else 0
        return {**asdict(info), "n_stats": n_stats, "n_priv_flags": n_priv_flags,
                "testinfo_len": testinfo_len, "eedump_len": eedump_len,
                "regdump_len": regdump_len}, None  # fmt: skip
    if op == "stats":
        names = _stat_names(host, dev)
        if not names:
            raise _unsupported(dev, "statistics")
        values = _call_get(host, dev, "get_ethtool_stats")
        if not isinstance(values, list | tuple) or not all(
            not isinstance(v, bool)
            and (isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)))
            for v in values
        ):
            raise _garbage(dev, "get_ethtool_stats", values)
        if len(values) != len(names):  # Linux sizes the buffer from the names: one per value
            raise EthtoolError(f"{dev.name}: {_stats_mismatch(dev, names, list(values))}",
                               errno.EIO)  # fmt: skip
        return {"stats": dict(zip(names, values, strict=True))}, None
    if op == "nway_reset":
        ethtool_nway_reset(host, dev)
        return {}, None
    if op == "features":
        changed = None if settings is None else ethtool_set_features(host, dev, settings)
        return {"features": ethtool_features(dev)}, changed
    if op == "msglevel":
        changed = None
        if settings is not None:
            _check_msglevel_request(dev, settings)
            changed = ethtool_set_msglevel(host, dev, settings["msglevel"])
        return {"msglevel": ethtool_get_msglevel(host, dev)}, changed
    if op == "priv_flags":
        changed = None if settings is None else ethtool_set_priv_flags(host, dev, settings)
        return {"priv_flags": ethtool_get_priv_flags(host, dev)}, changed
    if op not in _KINDS:
        raise EthtoolError(f"unknown ethtool request {op!r}", errno.EINVAL)
    changed = None if settings is None else ethtool_set(host, dev, op, settings)
    return _as_dict(ops, op, ethtool_get(host, dev, op)), changed


def _settings_parts(host: Host, dev: NetDevice, ops: EthtoolOps) -> dict[str, Any]:
    """``ethtool DEV``: what ethtool 6.1's nl_gset asks for, one request at a time in its
    order — link modes and info (``get_link_ksettings``), Wake-on-LAN, the message level,
    the link state.  A part that fails is None, with its error and errno under
    ``errors`` (by part: ``link_ksettings``, ``wol``, ``msglevel``, ``link``), the others
    still shown, as ethtool prints what it got.  ``ENODEV`` too (a driver detaching the
    device in one part fails the ones after it): ethtool 6.1's gset_request returns
    ``exit_code ?: 1``, never -ENODEV, so nl_gset asks for every part all the same.  (A
    device detached before the request is refused whole, as every request: ENODEV.)"""
    errors: dict[str, dict[str, Any]] = {}

    def part(name: str, get: Callable[[], Any]) -> Any:
        try:
            return get()
        except EthtoolError as exc:
            errors[name] = {"error": str(exc), "errno": exc.errno}
            return None

    out: dict[str, Any] = {"speed": None, "duplex": None, "autoneg": None, "port": None}
    extra: dict[str, Any] = {}
    # Without the op (loopback, slip) no speed, duplex, autoneg or port at all: ethtool
    # prints only what it got ("Link detected: yes" for lo).
    if ethtool_supports(ops, "get_link_ksettings"):
        ks = part("link_ksettings", lambda: _link_ksettings(host, dev))
        if ks is not None:
            out = {"speed": ks.speed, "duplex": _duplex_name(ks.duplex),
                   "autoneg": bool(ks.autoneg), "port": ks.port}  # fmt: skip
            extra = {str(k): v if isinstance(v, str | int | float | None) else repr(v)
                     for k, v in ks.extra.items()}  # fmt: skip
    # Wake-on-LAN lines only from a driver with get_wol.
    wol = None
    if ethtool_supports(ops, "get_wol"):
        wol = part("wol", lambda: _wol_dict(ethtool_get_wol(host, dev)))
    level = None
    if ethtool_supports(ops, "get_msglevel"):
        level = part("msglevel", lambda: ethtool_get_msglevel(host, dev))
    # Linux's __ethtool_get_link: no link while the interface is down, and none at all
    # (None: EOPNOTSUPP) for a device without ethtool_ops, as default_ethtool_ops has no
    # get_link: ethtool then says "No data available" (the base get_link is Linux's
    # ethtool_op_get_link, which a driver with ethtool_ops gets by default).
    link = None
    if dev.ethtool_ops is not None:
        link = part("link", lambda: dev.is_up and bool(_call_get(host, dev, "get_link")))
    return {**out, "msglevel": level, "link": link, "wol": wol, "extra": extra,
            "errors": errors}  # fmt: skip


# -- self-test (ethtool -t) ---------------------------------------------------------------------
# Devices under test (Linux's __LINK_STATE_TESTING); kept here rather than as a NetDevice
# field, so the per-packet layout of the device stays as it is.
_testing: weakref.WeakSet[NetDevice] = weakref.WeakSet()


def netif_testing(dev: NetDevice) -> bool:
    """True while a self-test runs on ``dev`` (``netif_testing``)."""
    return dev in _testing


def oper_up(dev: NetDevice) -> str:
    """The operstate of a device that is up (Linux's ``default_operstate``): ``testing``
    while a self-test runs, whatever the carrier; else ``up`` or ``lowerlayerdown``."""
    if dev in _testing:
        return "testing"
    return "up" if dev._carrier else "lowerlayerdown"


def netif_testing_on(dev: NetDevice) -> None:
    """A self-test starts: operstate ``testing`` while the device is up (IF_OPER_TESTING),
    whatever its carrier, as Linux's ``default_operstate`` says."""
    _testing.add(dev)
    if dev.is_up and netif_device_present(dev):
        dev.operstate = "testing"
        if dev.host is not None:
            dev.host.attachment.testing_changed(dev)


def netif_testing_off(dev: NetDevice) -> None:
    """The self-test ended: operstate back to ``up`` or ``lowerlayerdown``."""
    _testing.discard(dev)
    if dev.operstate == "testing":
        dev.operstate = oper_up(dev) if dev.is_up else "down"
        if dev.host is not None and dev.is_up:
            dev.host.attachment.testing_changed(dev)


def _has_self_test(ops: EthtoolOps | None) -> bool:
    return ethtool_supports(ops, "self_test") and ethtool_supports(ops, "get_test_strings")


def _test_names(host: Host, dev: NetDevice) -> list[str]:
    """``get_test_strings``, checked: a list of distinct, non-empty, printable names."""
    names = _call_get(host, dev, "get_test_strings")
    if (
        not isinstance(names, list | tuple)
        or not all(isinstance(n, str) and n and n.isprintable() for n in names)
        or len(set(names)) != len(names)
    ):
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s get_test_strings returned "
                           f"{names!r:.200}, not a list of distinct names", errno.EIO)  # fmt: skip
    return list(names)


_TEST_FLAG_NAMES = {ETH_TEST_FL_OFFLINE: "OFFLINE", ETH_TEST_FL_FAILED: "FAILED",
                    ETH_TEST_FL_EXTERNAL_LB: "EXTERNAL_LB",
                    ETH_TEST_FL_EXTERNAL_LB_DONE: "EXTERNAL_LB_DONE"}  # fmt: skip


class _SelfTestRun:
    """One self-test between ``self_test`` and its result."""

    def __init__(
        self, host: Host, dev: NetDevice, names: list[str], flags: int, test: EthtoolTest,
        data: list[int], done: Callable[[dict[str, Any] | EthtoolError], None] | None,
    ) -> None:  # fmt: skip
        self.host, self.dev, self.names, self.flags = host, dev, names, flags
        self.test, self.data, self.done = test, data, done
        self.finished = False
        self.timer: Any = None

    def result(self) -> dict[str, Any]:
        """Testing off; what the driver left, checked (EIO naming the op and what to fix)."""
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        dev, test, data = self.dev, self.test, self.data
        netif_testing_off(dev)
        _registered(self.host, dev)  # unplugged, unloaded meanwhile: its results mean nothing
        if not isinstance(test, EthtoolTest):
            raise _garbage(dev, "self_test", test)
        allowed = ETH_TEST_FL_FAILED
        if self.flags & ETH_TEST_FL_EXTERNAL_LB:
            allowed |= ETH_TEST_FL_EXTERNAL_LB_DONE
        flags = test.flags
        if type(flags) is not int or flags & ~(self.flags | allowed) or ~flags & self.flags:
            can = " and ETH_TEST_FL_EXTERNAL_LB_DONE" if allowed != ETH_TEST_FL_FAILED else ""
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s self_test left test.flags="
                               f"{flags!r:.50} from {self.flags:#x}: it may only add "
                               f"ETH_TEST_FL_FAILED{can} to the flags it was given",
                               errno.EIO)  # fmt: skip
        if test.len != len(self.names):
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s self_test changed test.len "
                               f"{len(self.names)} to {test.len!r:.50}", errno.EIO)  # fmt: skip
        if not isinstance(data, list) or len(data) != len(self.names):
            n = len(data) if isinstance(data, list) else data
            raise EthtoolError(f"{dev.name}: {_owner(dev)}'s self_test resized its data list of "
                               f"{len(self.names)} results to {n!r:.50}: set data[i] in place, "
                               f"one result per get_test_strings name", errno.EIO)  # fmt: skip
        for i, v in enumerate(data):
            if type(v) is not int or not 0 <= v <= U64_MAX:
                raise EthtoolError(f"{dev.name}: {_owner(dev)}'s self_test set data[{i}] "
                                   f"({self.names[i]}) to {v!r:.50}, not an integer "
                                   f"0..2**64-1 (0: passed)", errno.EIO)  # fmt: skip
        return {
            "passed": not flags & ETH_TEST_FL_FAILED,
            "flags": flags,
            "flag_names": [n for bit, n in _TEST_FLAG_NAMES.items() if flags & bit],
            "external_lb": bool(self.flags & ETH_TEST_FL_EXTERNAL_LB),
            "external_lb_done": bool(flags & ETH_TEST_FL_EXTERNAL_LB_DONE),
            "results": dict(zip(self.names, data, strict=True)),
        }

    def completed(self) -> None:
        """On the loop, after the driver's ``complete()``: hand the result on."""
        if self.finished:
            return
        try:
            outcome: dict[str, Any] | EthtoolError = self.result()
        except EthtoolError as exc:
            outcome = exc
        try:
            if self.done is not None:
                self.done(outcome)
        finally:
            _next_test(self.dev)

    def expired(self) -> None:
        """The driver never completed: ETIMEDOUT, and testing ends (a late complete() is
        ignored)."""
        self.timer = None
        if self.finished:
            return
        self.finished = True
        netif_testing_off(self.dev)
        msg = (f"{self.dev.name}: {_owner(self.dev)}'s self_test did not complete within "
               f"{ETHTOOL_TEST_TIMEOUT:g} s: call complete() on the Completion it returns when "
               f"the test is over, and fail the test from a timer of its own rather than wait "
               f"longer")  # fmt: skip
        log.warning("%s", msg)
        try:
            if self.done is not None:
                self.done(EthtoolError(msg, errno.ETIMEDOUT))
        finally:
            _next_test(self.dev)


@dataclass(eq=False)
class _QueuedTest:
    """A self-test waiting for the one that runs on its device (Linux: for the RTNL lock)."""

    host: Host
    dev: NetDevice
    flags: int
    done: Callable[[dict[str, Any] | EthtoolError], None] | None
    timer: Any = None


@dataclass(eq=False)
class _QueuedChange:
    """An ethtool change waiting for the device's self-tests (Linux: for the RTNL lock)."""

    host: Host
    dev: NetDevice
    op: str
    settings: Mapping[str, Any] | None
    args: Mapping[str, Any] | None
    done: Callable[[tuple[dict[str, Any], bool | None] | EthtoolError], None] | None
    guard: Callable[[], AbstractContextManager[object]] | None
    timer: Any = None

    def run(self) -> tuple[dict[str, Any], bool | None] | EthtoolError:
        """Its turn: make the change (under its guard); the outcome, never raising."""
        try:
            with (self.guard or nullcontext)():
                return _request(self.host, self.dev, self.op, self.settings, self.args)
        except EthtoolError as exc:
            return exc


# Self-tests and changes waiting for their device's running test, first come first served.
_waiting: weakref.WeakKeyDictionary[NetDevice, deque[_QueuedTest | _QueuedChange]] = (
    weakref.WeakKeyDictionary()
)


def _next_test(dev: NetDevice) -> None:
    """The device's test ended and its result was handed on: make the changes and start
    the test waiting longest, in the order they came (and, should that test end at once,
    go on with the next)."""
    queue = _waiting.get(dev)
    while queue:
        q = queue.popleft()
        if q.timer is not None:
            q.timer.cancel()
        if isinstance(q, _QueuedChange):  # made now, at once: then the next one's turn
            try:
                change = q.run()
            except Exception as exc:  # not the driver's (that is an EthtoolError): ours
                log.exception("%s: a queued ethtool %s change raised", dev.name, q.op)
                change = EthtoolError(f"{dev.name}: the ethtool {q.op} change failed: {exc}",
                                      errno.EIO)  # fmt: skip
            if q.done is not None:
                try:
                    q.done(change)
                except Exception:  # as for a test: the others must not be stranded
                    log.exception("%s: handing on a queued ethtool change's result raised",
                                  dev.name)  # fmt: skip
            continue
        outcome: dict[str, Any] | EthtoolError | None
        try:
            _registered(q.host, dev)  # gone while it waited: its driver is not asked
            outcome = _self_test_start(q.host, dev, q.flags, q.done)
        except EthtoolError as exc:
            outcome = exc
        if outcome is None:
            break  # it runs: the others wait for it in turn
        if q.done is not None:
            try:
                q.done(outcome)
            except Exception:  # one caller's failure must not strand the tests behind it
                log.exception("%s: handing on a queued self-test's result raised", dev.name)
    if not queue:
        _waiting.pop(dev, None)


def _waited_too_long(q: _QueuedTest | _QueuedChange) -> None:
    """A waiting test's or change's bound: the tests before it (one running, others
    waiting) took longer than :data:`ETHTOOL_TEST_TIMEOUT`: ``EBUSY``, without running
    or making it."""
    queue = _waiting.get(q.dev)
    if queue is None or q not in queue:
        return
    queue.remove(q)
    if not queue:
        _waiting.pop(q.dev, None)
    if isinstance(q, _QueuedChange):
        msg = (f"{q.dev.name}: a self-test (ethtool -t) of the device still ran after "
               f"{ETHTOOL_TEST_TIMEOUT:g} s, so the ethtool {q.op} change was not made: make "
               f"it again once the test is done")  # fmt: skip
    else:
        msg = (f"{q.dev.name}: another self-test (ethtool -t) of the device still ran after "
               f"{ETHTOOL_TEST_TIMEOUT:g} s, so this one did not start: run it again once "
               f"that one is done")  # fmt: skip
    log.warning("%s", msg)
    if q.done is not None:
        q.done(EthtoolError(msg, errno.EBUSY))


def ethtool_self_test_begin(
    host: Host,
    dev: NetDevice,
    flags: int,
    done: Callable[[dict[str, Any] | EthtoolError], None] | None,
) -> dict[str, Any] | None:
    """Start ``ethtool -t`` (``ETHTOOL_TEST``) without blocking the event loop.

    As Linux's ``ethtool_self_test``: ``EOPNOTSUPP`` without the driver's
    ``self_test`` and ``get_test_strings`` (or with no test names); ``flags``, a
    u32 (``EINVAL`` for anything else), goes to the driver as it is, every bit
    included — those the core does not know, and :data:`ETH_TEST_FL_FAILED` or
    :data:`ETH_TEST_FL_EXTERNAL_LB_DONE`, which then come back set: the driver
    decides what it supports.  The device is marked testing
    (:func:`netif_testing_on`) around the driver's test.

    A test of a device on which one already runs waits for it, as in Linux, where
    the running test holds the RTNL lock the second one takes (the wait is per
    device: RTNL is one lock for every device): it starts once the
    first one's result is handed on (tests waiting for the same device start in
    the order they came), and answers ``EBUSY`` without running when it has waited
    :data:`ETHTOOL_TEST_TIMEOUT` seconds (the running test itself ends by then:
    it times out after as long).

    Returns the result when the driver finished at once; None when it returned a
    :class:`Completion`, or the test waits for its turn, and then ``done`` gets the
    result (or an :class:`EthtoolError`: ``ETIMEDOUT`` after
    :data:`ETHTOOL_TEST_TIMEOUT`, ``EBUSY`` for a wait that long, ``ENODEV`` when
    the device went away meanwhile, ``EIO`` for garbage) on the loop once it
    completes.  The result: ``passed``, ``flags`` (and their ``flag_names``),
    ``external_lb``, ``external_lb_done`` and ``results`` (test name -> value).
    What the driver left is checked (``EIO`` naming the op); a ``self_test`` that
    raises is a driver fault (device taken down, ``EIO``).
    """
    _present(dev)
    if not _has_self_test(dev.ethtool_ops):
        raise _unsupported(dev, "self-tests (ethtool -t)")
    if type(flags) is not int or not 0 <= flags <= U32_MAX:
        raise EthtoolError(f"{dev.name}: self-test flags are a u32 (struct ethtool_test's "
                           f"flags), not {flags!r:.50}", errno.EINVAL)  # fmt: skip
    if netif_testing(dev) or _waiting.get(dev):
        q = _QueuedTest(host, dev, flags, done)
        q.timer = host.loop.call_later(ETHTOOL_TEST_TIMEOUT, _waited_too_long, q)
        _waiting.setdefault(dev, deque()).append(q)
        return None
    return _self_test_start(host, dev, flags, done)


def _self_test_start(
    host: Host,
    dev: NetDevice,
    flags: int,
    done: Callable[[dict[str, Any] | EthtoolError], None] | None,
) -> dict[str, Any] | None:
    """:func:`ethtool_self_test_begin` once no other test runs on ``dev``."""
    _present(dev)  # (again for a test that waited: it may have gone meanwhile)
    ops = dev.ethtool_ops
    if not _has_self_test(ops):
        raise _unsupported(dev, "self-tests (ethtool -t)")
    assert ops is not None
    names = _test_names(host, dev)
    if not names:
        raise _unsupported(dev, "self-tests (its get_test_strings is empty)")
    _registered(host, dev)
    test = EthtoolTest(flags=flags, len=len(names))
    data = [0] * len(names)
    run = _SelfTestRun(host, dev, names, flags, test, data, done)
    netif_testing_on(dev)
    try:
        ret: Any = ops.self_test(dev, test, data)  # (a driver may return anything)
    except OSError as exc:  # a refusal, as from any op
        netif_testing_off(dev)
        err = oserror_errno(exc)
        raise EthtoolError(f"{dev.name}: cannot run the self-test: "
                           f"{refusal_text(err, refusal_message(exc))}", err) from None  # fmt: skip
    except Exception as exc:
        netif_testing_off(dev)
        raise _driver_raised(host, dev, "self_test", exc) from exc
    if ret is None:
        return run.result()
    if not isinstance(ret, Completion):
        netif_testing_off(dev)
        raise EthtoolError(f"{dev.name}: {_owner(dev)}'s self_test returned {ret!r:.100}, not "
                           f"None (done) or a Completion (it completes later)",
                           errno.EIO)  # fmt: skip
    if ret.done:
        return run.result()
    loop = host.loop
    run.timer = loop.call_later(ETHTOOL_TEST_TIMEOUT, run.expired)
    # complete() may come from a thread, or from inside the driver's own callback: the
    # result is taken on the loop, after that callback has returned.
    ret._wait(lambda: loop.call_soon_threadsafe(run.completed))
    return None


def ethtool_self_test(
    host: Host, dev: NetDevice, flags: int = ETH_TEST_FL_OFFLINE
) -> dict[str, Any]:
    """``ethtool -t`` in-process: :func:`ethtool_self_test_begin`, running the host's loop
    until the test is done (never from a loop callback, which would run the loop inside
    itself).  Raises :class:`EthtoolError`."""
    box: list[dict[str, Any] | EthtoolError] = []
    done = box.append
    result = ethtool_self_test_begin(host, dev, flags, done)
    if result is not None:
        return result
    if host.loop.running is not None:
        _withdraw_waiting(dev, done)  # a test waiting its turn does not run (one running does)
        raise EthtoolError(f"{dev.name}: ethtool_self_test waits for a test that needs the "
                           f"loop, from a loop callback: use ethtool_self_test_begin",
                           errno.EDEADLK)  # fmt: skip
    # Its turn (a test running on the device, up to the timeout), then its own test.
    host.loop.run_until(lambda: bool(box), 2 * ETHTOOL_TEST_TIMEOUT + 1.0)
    if not box:  # the loop's clock is a test's fake one and was not moved
        _withdraw_waiting(dev, done)  # still waiting its turn: it never runs
        raise EthtoolError(f"{dev.name}: the self-test did not complete", errno.ETIMEDOUT)
    outcome = box[0]
    if isinstance(outcome, EthtoolError):
        raise outcome
    return outcome
