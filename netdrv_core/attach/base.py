"""The attachment contract every network stack implements."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..host import Host
    from ..netdevice import NetDevice
    from ..skbuff import SkBuff

__all__ = ["Attachment"]


class Attachment:
    """Connects a host's devices to a network stack.

    The host calls these as device state changes; the attachment calls
    ``host.dev_queue_xmit`` for frames the stack sends, and receives the
    frames drivers hand up (``netif_rx`` → :meth:`receive`).
    """

    host: Host
    #: True when devices are real interfaces of the host kernel (sockets reach them).
    is_kernel = False

    def bind(self, host: Host) -> None:
        """Called once by the host that owns this attachment."""
        self.host = host
        self.addresses: dict[str, list[tuple[str, str | None]]] = {}
        self.routes: dict[str, list[tuple[str, str | None]]] = {}

    def names_in_use(self) -> set[str]:
        """Interface names the stack already has (for ``%d`` allocation and clash checks)."""
        return set()

    def attach(self, dev: NetDevice) -> None:
        """A device was registered."""

    def detach(self, dev: NetDevice) -> None:
        """A device is being unregistered."""

    def dev_renamed(self, dev: NetDevice, old: str) -> None:
        """The device, called ``old`` until now, is called ``dev.name`` (``Host.dev_rename``).

        Re-key what is kept by name; nothing is renamed on the stack's side (the rename
        follows the stack's own).
        """
        for table in (getattr(self, "addresses", {}), getattr(self, "routes", {})):
            if old in table:
                table[dev.name] = table.pop(old)

    def receive(self, dev: NetDevice, skb: SkBuff) -> bool | None:
        """Deliver a received frame to the stack; False when the stack refused it.

        The attachment counts a refusal in ``dev.core_stats`` — ``rx_backlog_drops``
        for a full queue, ``rx_down_drops`` otherwise — and in its own counters;
        the core then does not count the frame as delivered.
        """
        raise NotImplementedError

    def queue_woken(self, dev: NetDevice) -> None:
        """The device's queue was woken: the stack may send again."""

    def state_changed(self, dev: NetDevice) -> None:
        """The device went up or down."""

    def carrier_changed(self, dev: NetDevice) -> None:
        """The carrier went on or off."""

    def testing_changed(self, dev: NetDevice) -> None:
        """A self-test (``ethtool -t``) started or ended on ``dev``: operstate ``testing``."""

    def mtu_changed(self, dev: NetDevice) -> None:
        """The driver accepted a new MTU."""

    def address_changed(self, dev: NetDevice) -> None:
        """The driver accepted a new hardware address."""

    def dev_addr_changed(self, dev: NetDevice) -> None:
        """The driver set ``dev_addr`` itself on a registered device (``dev_addr_set``,
        ``dev_addr_mod``, ``eth_hw_addr_set``), maybe from a thread of its own: Linux calls
        no notifier, but ``ip link`` shows ``dev->dev_addr`` at once."""

    def fix_features(self, dev: NetDevice, features: int) -> int:
        """Features the stack cannot use on this device removed (default: none)."""
        return features

    def features_changed(self, dev: NetDevice) -> None:
        """``dev.features`` changed (``netdev_update_features``)."""

    def add_address(self, dev: NetDevice, cidr: str, peer: str | None = None) -> None:
        """Give the interface an address (``ip addr add``); recorded only, by default."""
        self.addresses.setdefault(dev.name, []).append((cidr, peer))

    def add_route(self, dev: NetDevice, dst: str, gateway: str | None = None) -> None:
        """Route ``dst`` through the interface (``ip route add``); recorded only, by default."""
        self.routes.setdefault(dev.name, []).append((dst, gateway))

    def set_link_up(self, dev: NetDevice) -> int:
        """Bring the device up (``ip link set DEV up``); 0 or a negative errno."""
        return self.host.dev_open(dev)

    def close(self) -> None:
        """Release everything."""
