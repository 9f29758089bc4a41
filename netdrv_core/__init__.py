"""netdrv — a network-driver SDK in Python.

The kernel's driver model — ``net_device``, ``sk_buff``, ``ether_setup()``,
NAPI, ethtool, the transmit/receive contract — with devices that become real
interfaces of the host kernel (TUN/TAP) or live in an in-process stack.

Driver authors usually need only what this package exports.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .driver import Driver
from .errors import DriverError, NameInUseError, NetdrvError, ParameterError, PluginError
from .ether import (
    ETH_ALEN,
    ETH_HLEN,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_ZLEN,
    eth_change_mtu,
    eth_header,
    eth_header_parse,
    eth_mac_addr,
    eth_random_addr,
    eth_rebuild_header,
    eth_type_trans,
    eth_validate_addr,
)
from .ethtool import DrvInfo, EthtoolOps, LinkSettings
from .host import (
    Host,
    current_host,
    dev_close,
    dev_get_by_name,
    dev_open,
    dev_queue_xmit,
    netif_receive_skb,
    netif_rx,
    register_netdev,
    unregister_netdev,
)
from .linktypes import (
    ARPHRD_ETHER,
    ARPHRD_LOOPBACK,
    ARPHRD_SLIP,
    ether_setup,
    fc_setup,
    fddi_setup,
    hippi_setup,
    ltalk_setup,
    ptp_setup,
    tr_setup,
)
from .napi import (
    NapiStruct,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    netif_napi_add,
)
from .netdevice import (
    IFF_ALLMULTI,
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_NOARP,
    IFF_POINTOPOINT,
    IFF_PROMISC,
    IFF_RUNNING,
    IFF_UP,
    NET_RX_DROP,
    NET_RX_SUCCESS,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    SIOCDEVPRIVATE,
    HeaderOps,
    NetDevice,
    NetDeviceOps,
    NetDeviceStats,
    alloc_etherdev,
    alloc_netdev,
    dev_get_stats,
    netdev_priv,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_queue_stopped,
    netif_running,
    netif_start_queue,
    netif_stop_queue,
    netif_trans_update,
    netif_wake_queue,
)
from .params import Param
from .plugins import PluginManager, hookimpl
from .skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    SkbOverPanic,
    SkBuff,
    SkbUnderPanic,
    alloc_skb,
    dev_alloc_skb,
    dev_kfree_skb,
    kfree_skb,
    netdev_alloc_skb,
    netdev_alloc_skb_ip_align,
)

try:
    __version__ = version("netdrv")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "ARPHRD_ETHER", "ARPHRD_LOOPBACK", "ARPHRD_SLIP", "CHECKSUM_NONE", "CHECKSUM_PARTIAL",
    "CHECKSUM_UNNECESSARY", "ETH_ALEN", "ETH_HLEN", "ETH_P_ARP", "ETH_P_IP", "ETH_P_IPV6",
    "ETH_ZLEN", "IFF_ALLMULTI", "IFF_BROADCAST", "IFF_LOOPBACK", "IFF_MULTICAST", "IFF_NOARP",
    "IFF_POINTOPOINT", "IFF_PROMISC", "IFF_RUNNING", "IFF_UP", "NETDEV_TX_BUSY", "NETDEV_TX_OK",
    "NET_RX_DROP", "NET_RX_SUCCESS", "PACKET_BROADCAST", "PACKET_HOST", "PACKET_MULTICAST",
    "PACKET_OTHERHOST", "SIOCDEVPRIVATE", "Driver", "DriverError", "DrvInfo", "EthtoolOps",
    "HeaderOps", "Host", "LinkSettings", "NameInUseError", "NapiStruct", "NetDevice",
    "NetDeviceOps", "NetDeviceStats", "NetdrvError", "Param", "ParameterError", "PluginError",
    "PluginManager", "SkBuff", "SkbOverPanic", "SkbUnderPanic", "alloc_etherdev", "alloc_netdev",
    "alloc_skb", "current_host", "dev_alloc_skb", "dev_close", "dev_get_by_name",
    "dev_get_stats", "dev_kfree_skb", "dev_open", "dev_queue_xmit", "eth_change_mtu",
    "eth_header", "eth_header_parse", "eth_mac_addr", "eth_random_addr", "eth_rebuild_header",
    "eth_type_trans", "eth_validate_addr", "ether_setup", "fc_setup", "fddi_setup",
    "hippi_setup", "hookimpl", "kfree_skb", "ltalk_setup", "napi_complete_done", "napi_disable",
    "napi_enable", "napi_schedule", "netdev_alloc_skb", "netdev_alloc_skb_ip_align",
    "netdev_priv", "netif_carrier_off", "netif_carrier_ok", "netif_carrier_on", "netif_napi_add",
    "netif_queue_stopped", "netif_receive_skb", "netif_running", "netif_rx", "netif_start_queue",
    "netif_stop_queue", "netif_trans_update", "netif_wake_queue", "ptp_setup", "register_netdev",
    "tr_setup", "unregister_netdev",
]  # fmt: skip
