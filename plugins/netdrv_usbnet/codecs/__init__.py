"""Sans-I/O USB network framing codecs (CDC-ECM, CDC-NCM, ASIX AX88179).

Pure objects: bytes in, frames/events out, explicit limits, counted errors
(see ``DESIGN.md`` §5).  Nothing in this package imports ``usb`` or does I/O;
the usbnet driver core moves the bytes with pyusb.

Modules:

* :mod:`.cdc_ecm` - CDC class constants, functional descriptors, MAC string,
  notification parser, ECM RX "decoder".
* :mod:`.cdc_ncm` - NTB parameters, batching NTB16 encoder, validating decoder.
* :mod:`.ax88179` - AX88179 registers, RX trailer decoder, TX header, interrupt
  status, multicast hash, link-reset helpers.

Decoders never raise on malformed device input; :class:`FramingError` and
:class:`DescriptorError` are raised only where documented.
"""

from ._common import (
    CodecStats,
    DescriptorError,
    FramingError,
    UsbCodecError,
    ether_crc,
    needs_zlp,
)
from .ax88179 import (
    Ax88179RxDecoder,
    Ax88179RxPacket,
    Ax88179TxDecoder,
    LinkStatus,
    ax88179_tx_header,
    encode_rx_transfer,
    encode_tx,
    parse_interrupt,
)
from .cdc_ecm import (
    ConnectionSpeedChange,
    EcmRxDecoder,
    FunctionalDescriptors,
    NetworkConnection,
    Notification,
    NotificationParser,
    ResponseAvailable,
    UnknownNotification,
    parse_functional_descriptors,
    parse_mac_string,
)
from .cdc_ncm import NtbDecoder, NtbEncoder, NtbParameters, encode_ntb

__all__ = [
    "Ax88179RxDecoder",
    "Ax88179RxPacket",
    "Ax88179TxDecoder",
    "CodecStats",
    "ConnectionSpeedChange",
    "DescriptorError",
    "EcmRxDecoder",
    "FramingError",
    "FunctionalDescriptors",
    "LinkStatus",
    "NetworkConnection",
    "Notification",
    "NotificationParser",
    "NtbDecoder",
    "NtbEncoder",
    "NtbParameters",
    "ResponseAvailable",
    "UnknownNotification",
    "UsbCodecError",
    "ax88179_tx_header",
    "encode_ntb",
    "encode_rx_transfer",
    "encode_tx",
    "ether_crc",
    "needs_zlp",
    "parse_functional_descriptors",
    "parse_interrupt",
    "parse_mac_string",
]
