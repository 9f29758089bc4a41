"""Sans-I/O codecs of the serial link: SLIP, CSLIP (VJ compression), PLIP-like, KISS.

Pure objects, bytes in and frames out, with explicit limits and counted
errors; the link driver does the I/O. :data:`MODES` maps a line-mode name to
a factory returning ``(encoder, decoder)`` for IP packets::

    enc, dec = MODES["cslip"](mtu=296)
    port.write(enc.encode(ip_packet))
    for packet in dec.feed(port.read(n)):
        ...
"""

from __future__ import annotations

from .base import (
    Buffer,
    CodecError,
    CodecStats,
    Decoder,
    Encoder,
    PacketDecoder,
    PacketEncoder,
)
from .cslip import (
    TYPE_COMPRESSED_TCP,
    TYPE_ERROR,
    TYPE_IP,
    TYPE_UNCOMPRESSED_TCP,
    AdaptiveMode,
    VJCompressor,
    VJDecompressor,
    cslip_decode_packet,
    cslip_encode_packet,
    wire_type,
)
from .kiss import (
    CMD_DATA,
    CMD_FULLDUPLEX,
    CMD_P,
    CMD_RETURN,
    CMD_SETHARDWARE,
    CMD_SLOTTIME,
    CMD_TXDELAY,
    CMD_TXTAIL,
    KissDecoder,
    KissEncoder,
    KissFrame,
)
from .modes import (
    DEFAULT_MTUS,
    MODES,
    VJ_ROOM,
    CslipPacketDecoder,
    CslipPacketEncoder,
    KissPacketDecoder,
    KissPacketEncoder,
    ModeFactory,
    linux_rx,
    make_adaptive,
    make_cslip,
    make_kiss,
    make_plip,
    make_slip,
)
from .plip import SYNC, PlipDecoder, PlipEncoder
from .slip import (
    DEFAULT_MTU,
    LINUX_MIN_FRAME,
    RX_BUFFER_MIN,
    SlipDecoder,
    SlipEncoder,
    decode_stream,
    encode,
    rx_buffer_size,
)

__all__ = [
    "CMD_DATA",
    "CMD_FULLDUPLEX",
    "CMD_P",
    "CMD_RETURN",
    "CMD_SETHARDWARE",
    "CMD_SLOTTIME",
    "CMD_TXDELAY",
    "CMD_TXTAIL",
    "DEFAULT_MTU",
    "DEFAULT_MTUS",
    "LINUX_MIN_FRAME",
    "MODES",
    "RX_BUFFER_MIN",
    "SYNC",
    "TYPE_COMPRESSED_TCP",
    "TYPE_ERROR",
    "TYPE_IP",
    "TYPE_UNCOMPRESSED_TCP",
    "VJ_ROOM",
    "AdaptiveMode",
    "Buffer",
    "CodecError",
    "CodecStats",
    "CslipPacketDecoder",
    "CslipPacketEncoder",
    "Decoder",
    "Encoder",
    "KissDecoder",
    "KissEncoder",
    "KissFrame",
    "KissPacketDecoder",
    "KissPacketEncoder",
    "ModeFactory",
    "PacketDecoder",
    "PacketEncoder",
    "PlipDecoder",
    "PlipEncoder",
    "SlipDecoder",
    "SlipEncoder",
    "VJCompressor",
    "VJDecompressor",
    "cslip_decode_packet",
    "cslip_encode_packet",
    "decode_stream",
    "encode",
    "linux_rx",
    "make_adaptive",
    "make_cslip",
    "make_kiss",
    "make_plip",
    "make_slip",
    "rx_buffer_size",
    "wire_type",
]
