"""Van Jacobson TCP/IP header compression (RFC 1144) and its CSLIP wire form.

:class:`VJCompressor` / :class:`VJDecompressor` follow the RFC's appendix A
algorithm (as in 4.4BSD ``slcompress.c`` and Linux ``slhc.c``):

* non-TCP packets, IP fragments, packets shorter than 40 bytes and TCP
  segments that are not plain ACKs (SYN, FIN, RST set or ACK clear) go out as
  ``TYPE_IP``, untouched, and change no state;
* the first packet of a connection, and any packet whose unchanging fields
  (TOS, DF, TTL, IP/TCP options, header lengths, ...) differ from the saved
  header, go out as ``TYPE_UNCOMPRESSED_TCP``: the whole packet, with the
  connection slot number in the IP protocol field;
* otherwise ``TYPE_COMPRESSED_TCP``: a change mask, the slot number when it
  differs from the previous packet's (or always, with
  ``compress_slot_id=False``), the TCP checksum, and the deltas of urgent
  pointer, window, ack, sequence and IP id (1 byte each for 1..255, else 0
  and two bytes), with the SPECIAL_I (echoed interactive traffic) and
  SPECIAL_D (unidirectional data) shortcuts.

The decompressor rebuilds the headers byte for byte (it recomputes the IP
header checksum; the TCP checksum is carried). After an error, or when the
framing layer reports a lost frame (:meth:`VJDecompressor.toss`), compressed
packets without an explicit slot number are tossed until an
``UNCOMPRESSED_TCP`` packet (or, as in the RFC, a compressed one with an
explicit slot) resynchronises. With TCP, the lost segment is retransmitted,
the compressor sees the sequence number go backwards and sends that segment
uncompressed, which ends the toss.

Three checks beyond the RFC guarantee the rebuilt packet is identical to the
original: a packet is only compressed if its IP total length matches its size
and its IP header checksum is the one the receiver will recompute (otherwise
``TYPE_IP``), its TCP flags other than PSH/URG are unchanged (ECN bits did not
exist in 1990), and SPECIAL_I/SPECIAL_D are not used when the saved header
has URG set (the receiver would keep that flag).

CSLIP wire form (Linux ``slip.c``/``slhc.c``): the packet type travels in the
first byte: COMPRESSED_TCP sets bit 0x80 of the change-mask byte,
UNCOMPRESSED_TCP replaces the IP version nibble 4 by 7; anything else is an
ordinary IP packet. See :func:`cslip_encode_packet` / :func:`cslip_decode_packet`.
"""

from __future__ import annotations

from collections import OrderedDict

from .base import Buffer, CodecError, CodecStats

__all__ = [
    "MAX_SLOTS",
    "TYPE_COMPRESSED_TCP",
    "TYPE_ERROR",
    "TYPE_IP",
    "TYPE_UNCOMPRESSED_TCP",
    "AdaptiveMode",
    "VJCompressor",
    "VJDecompressor",
    "cslip_decode_packet",
    "cslip_encode_packet",
    "wire_type",
]

TYPE_ERROR = 0x00
TYPE_IP = 0x40
TYPE_UNCOMPRESSED_TCP = 0x70
TYPE_COMPRESSED_TCP = 0x80

#: The slot number is one byte.
MAX_SLOTS = 256

# Change-mask bits (RFC 1144 section 3.2.2).
NEW_C = 0x40
NEW_I = 0x20
TCP_PUSH_BIT = 0x10
NEW_S = 0x08
NEW_A = 0x04
NEW_W = 0x02
NEW_U = 0x01
SPECIAL_I = NEW_S | NEW_W | NEW_U
SPECIAL_D = NEW_S | NEW_A | NEW_W | NEW_U
SPECIALS_MASK = SPECIAL_D

_FIN = 0x01
_SYN = 0x02
_RST = 0x04
_PSH = 0x08
_ACK = 0x10
_URG = 0x20
_CTL = _FIN | _SYN | _RST | _ACK
# Flag bits a compressed packet cannot change (it carries only PSH and URG).
_FIXED_FLAGS = 0xFF & ~(_PSH | _URG)


def _ip_header_checksum(hdr: bytes | bytearray) -> int:
    """The IPv4 header checksum of ``hdr`` as the receiver computes it (field treated as 0)."""
    s = (
        int.from_bytes(hdr, "big") - (hdr[10] << 8 | hdr[11]) * (1 << 8 * (len(hdr) - 12))
    ) % 0xFFFF
    # 2**16 == 1 (mod 0xFFFF), so the big integer mod 0xFFFF is the one's-complement
    # sum of the 16-bit words (with 0xFFFF represented as 0, whose complement is 0).
    return 0xFFFF - s if s else 0


def _ones_sum_ok(data: bytes | bytearray) -> bool:
    """True when the one's-complement sum of ``data`` (even length) is 0xFFFF, i.e. a checksum verifies."""
    return int.from_bytes(data, "big") % 0xFFFF == 0 and any(data)


def _encode_delta(out: bytearray, n: int, zero_is_long: bool) -> None:
    # 1..255 in one byte; 0 (for ENCODEZ fields) and 256..65535 as 0, hi, lo.
    if n >= 256 or (n == 0 and zero_is_long):
        out += bytes((0, n >> 8, n & 0xFF))
    else:
        out.append(n)


class VJCompressor:
    """The transmit side of RFC 1144.

    :param slots: connection state slots (1..256; 16 like Linux).
    :param compress_slot_id: omit the slot number when it repeats (the RFC's
        "C" bit optimisation).
    """

    __slots__ = (
        "_by_key",
        "_hdr",
        "_key_of",
        "_last_xmit",
        "_lru",
        "compress_slot_id",
        "slots",
        "stats",
    )

    def __init__(self, slots: int = 16, compress_slot_id: bool = True) -> None:
        if not 1 <= slots <= MAX_SLOTS:
            raise CodecError(f"VJ slots must be 1..{MAX_SLOTS}, got {slots}")
        self.slots = slots
        self.compress_slot_id = compress_slot_id
        self.stats = CodecStats()
        self.reset()

    def reset(self) -> None:
        """Forget all connections (the peer resynchronises on the next UNCOMPRESSED_TCP)."""
        self._by_key: dict[bytes, int] = {}
        self._key_of: list[bytes | None] = [None] * self.slots
        self._hdr: list[bytes | None] = [None] * self.slots
        # Least recently used slot first; a new connection takes it over.
        self._lru: OrderedDict[int, None] = OrderedDict.fromkeys(range(self.slots))
        self._last_xmit = -1

    def compress(self, ip_packet: Buffer) -> tuple[int, bytes]:
        """Compress one IP packet; return ``(packet type, bytes)``.

        For ``TYPE_IP`` the bytes are the packet unchanged; for
        ``TYPE_UNCOMPRESSED_TCP`` the packet with the slot number in the
        protocol field; for ``TYPE_COMPRESSED_TCP`` the RFC 1144 compressed
        form (change mask first, bit 0x80 clear).
        """
        ip = bytes(ip_packet)
        st = self.stats
        st.frames += 1
        st.bytes += len(ip)
        ptype, out = self._compress(ip)
        if ptype == TYPE_COMPRESSED_TCP:
            st.compressed += 1
        elif ptype == TYPE_UNCOMPRESSED_TCP:
            st.uncompressed += 1
        st.wire_bytes += len(out)
        return ptype, out

    def _compress(self, ip: bytes) -> tuple[int, bytes]:
        n = len(ip)
        if n < 40 or ip[0] >> 4 != 4 or ip[9] != 6:
            return TYPE_IP, ip
        ihl = (ip[0] & 0x0F) << 2
        if ihl < 20 or (ip[6] << 8 | ip[7]) & 0x3FFF or (ip[2] << 8 | ip[3]) != n or n < ihl + 20:
            return TYPE_IP, ip
        th = ihl
        doff = (ip[th + 12] >> 4) << 2
        hlen = ihl + doff
        flags = ip[th + 13]
        if doff < 20 or hlen > n or flags & _CTL != _ACK:
            return TYPE_IP, ip
        # The receiver recomputes the IP checksum, so only a packet carrying exactly
        # that value can be rebuilt identically; anything else travels as is.
        if _ip_header_checksum(ip[:ihl]) != (ip[10] << 8 | ip[11]):
            return TYPE_IP, ip

        key = ip[12:20] + ip[th : th + 4]
        slot = self._by_key.get(key)
        if slot is None:
            slot = next(iter(self._lru))
            old_key = self._key_of[slot]
            if old_key is not None:
                del self._by_key[old_key]
            self._by_key[key] = slot
            self._key_of[slot] = key
            self._lru.move_to_end(slot)
            return self._uncompressed(ip, slot, hlen)
        self._lru.move_to_end(slot)
        old = self._hdr[slot]
        assert old is not None

        oflags = old[th + 13]
        if (
            ip[0:2] != old[0:2]  # version, header length, TOS
            or ip[6:10] != old[6:10]  # DF / fragment field, TTL, protocol
            or ip[th + 12] != old[th + 12]  # TCP header length (+ reserved bits)
            or flags & _FIXED_FLAGS != oflags & _FIXED_FLAGS
            or (ihl > 20 and ip[20:ihl] != old[20:ihl])  # IP options
            or (doff > 20 and ip[th + 20 : hlen] != old[th + 20 : hlen])  # TCP options
        ):
            return self._uncompressed(ip, slot, hlen)

        deltas = bytearray()
        changes = 0
        if flags & _URG:
            _encode_delta(deltas, ip[th + 18] << 8 | ip[th + 19], True)
            changes |= NEW_U
        elif ip[th + 18 : th + 20] != old[th + 18 : th + 20]:
            # URG clear but the pointer changed: legal, rare, not representable.
            return self._uncompressed(ip, slot, hlen)
        dw = ((ip[th + 14] << 8 | ip[th + 15]) - (old[th + 14] << 8 | old[th + 15])) & 0xFFFF
        if dw:
            _encode_delta(deltas, dw, False)
            changes |= NEW_W
        da = (
            int.from_bytes(ip[th + 8 : th + 12], "big")
            - int.from_bytes(old[th + 8 : th + 12], "big")
        ) & 0xFFFFFFFF
        if da:
            if da > 0xFFFF:
                return self._uncompressed(ip, slot, hlen)
            _encode_delta(deltas, da, False)
            changes |= NEW_A
        ds = (
            int.from_bytes(ip[th + 4 : th + 8], "big") - int.from_bytes(old[th + 4 : th + 8], "big")
        ) & 0xFFFFFFFF
        if ds:
            if ds > 0xFFFF:
                return self._uncompressed(ip, slot, hlen)
            _encode_delta(deltas, ds, False)
            changes |= NEW_S

        old_len = old[2] << 8 | old[3]
        if changes == 0:
            # Nothing changed: a data packet after a pure ACK is fine; anything else
            # is probably a retransmission, sent whole in case the peer missed the last one.
            if not (n != old_len and old_len == hlen):
                return self._uncompressed(ip, slot, hlen)
        elif changes in (SPECIAL_I, SPECIAL_D):
            # Genuine changes that look like a special encoding: cannot be sent compressed.
            return self._uncompressed(ip, slot, hlen)
        elif not oflags & _URG:
            # (The receiver keeps the saved flags in the special cases, so they must not
            # be used when the saved header has URG set.)
            if changes == NEW_S | NEW_A:
                if ds == da == old_len - hlen:
                    changes = SPECIAL_I  # echoed interactive traffic
                    deltas.clear()
            elif changes == NEW_S and ds == old_len - hlen:
                changes = SPECIAL_D  # unidirectional data transfer
                deltas.clear()

        di = ((ip[4] << 8 | ip[5]) - (old[4] << 8 | old[5])) & 0xFFFF
        if di != 1:
            _encode_delta(deltas, di, True)
            changes |= NEW_I
        if flags & _PSH:
            changes |= TCP_PUSH_BIT

        self._hdr[slot] = ip[:hlen]
        if not self.compress_slot_id or self._last_xmit != slot:
            self._last_xmit = slot
            head = bytes((changes | NEW_C, slot, ip[th + 16], ip[th + 17]))
        else:
            head = bytes((changes, ip[th + 16], ip[th + 17]))
        return TYPE_COMPRESSED_TCP, b"".join((head, deltas, ip[hlen:]))

    def _uncompressed(self, ip: bytes, slot: int, hlen: int) -> tuple[int, bytes]:
        self._hdr[slot] = ip[:hlen]
        self._last_xmit = slot
        return TYPE_UNCOMPRESSED_TCP, b"".join((ip[:9], bytes((slot,)), ip[10:]))


class _Bad(Exception):
    """Internal: a VJ packet could not be decoded."""


class VJDecompressor:
    """The receive side of RFC 1144.

    :param slots: connection state slots (must be >= the peer's).
    :param verify_tcp_checksum: also check the rebuilt segment's TCP checksum
        and treat a mismatch as an error (detects a lost or corrupted packet one
        packet earlier than TCP would; costs a pass over the segment).
    :param stats: counters to add to.

    ``stats``: ``compressed`` counts COMPRESSED_TCP packets received and
    ``uncompressed`` the UNCOMPRESSED_TCP ones taken (as Linux ``sls_i_compressed``
    and ``sls_i_uncompressed``: one rejected is only an error), ``framing_errors``
    undecodable ones, ``tossed`` compressed packets
    discarded while out of sync, ``dropped`` both; ``frames``/``bytes`` the
    packets delivered.
    """

    __slots__ = ("_hdr", "_last_recv", "_toss", "slots", "stats", "verify_tcp_checksum")

    def __init__(
        self,
        slots: int = 16,
        *,
        verify_tcp_checksum: bool = False,
        stats: CodecStats | None = None,
    ) -> None:
        if not 1 <= slots <= MAX_SLOTS:
            raise CodecError(f"VJ slots must be 1..{MAX_SLOTS}, got {slots}")
        self.slots = slots
        self.verify_tcp_checksum = verify_tcp_checksum
        self.stats = stats if stats is not None else CodecStats()
        self.reset()

    def reset(self) -> None:
        """Forget all connection state; toss compressed packets until resynchronised."""
        self._hdr: list[bytearray | None] = [None] * self.slots
        self._last_recv = -1
        self._toss = True

    @property
    def tossing(self) -> bool:
        """True while compressed packets without an explicit slot are being discarded."""
        return self._toss

    def toss(self) -> None:
        """The framing layer lost a frame: discard compressed packets until resync."""
        self._toss = True

    def uncompress(self, ptype: int, data: Buffer) -> bytes | None:
        """Rebuild the IP packet from a VJ packet of type ``ptype``; ``None`` if it was discarded.

        ``TYPE_IP`` data is returned unchanged. ``TYPE_ERROR`` (the RFC's way for
        the framer to report a lost frame) is the same as :meth:`toss`. An
        unknown type or an undecodable packet is counted and starts a toss.
        """
        st = self.stats
        st.wire_bytes += len(data)
        try:
            if ptype == TYPE_COMPRESSED_TCP:
                st.compressed += 1
                pkt = self._compressed(bytes(data))
                if pkt is None:
                    st.tossed += 1
                    st.dropped += 1
                    return None
            elif ptype == TYPE_UNCOMPRESSED_TCP:
                pkt = self._remember(bytes(data))
            elif ptype == TYPE_IP:
                pkt = bytes(data)
            elif ptype == TYPE_ERROR:
                self._toss = True
                return None
            else:
                raise _Bad
        except (_Bad, IndexError):
            self._toss = True
            st.framing_errors += 1
            st.dropped += 1
            return None
        st.frames += 1
        st.bytes += len(pkt)
        return pkt

    def _remember(self, data: bytes) -> bytes:
        # What Linux slhc_remember checks, no more: runts (shorter than the IP header
        # its IHL says plus the TCP header its data offset says, or either below 20
        # bytes), a bad IP header checksum, a slot out of range — each one error, and a
        # toss.  The IP total length is not compared with the frame's size (nor is the
        # version nibble, which the CSLIP wire form overwrites): the packet goes up as
        # it came, its header remembered as it is, and IP judges its length.
        n = len(data)
        if n < 20:
            raise _Bad
        ihl = (data[0] & 0x0F) << 2
        if ihl < 20 or n < ihl + 20:
            raise _Bad
        pkt = bytearray(data)
        slot = pkt[9]
        pkt[9] = 6
        if not _ones_sum_ok(pkt[:ihl]):
            raise _Bad  # as Linux slhc_remember: a bad IP header checksum is an error
        if slot >= self.slots:
            raise _Bad
        doff = (pkt[ihl + 12] >> 4) << 2
        hlen = ihl + doff
        if doff < 20 or n < hlen:
            raise _Bad
        self._hdr[slot] = pkt[:hlen]
        self._last_recv = slot
        self._toss = False
        self.stats.uncompressed += 1  # sls_i_uncompressed: counted once remembered
        return bytes(pkt)

    def _compressed(self, data: bytes) -> bytes | None:
        changes = data[0]
        p = 1
        if changes & NEW_C:
            slot = data[1]
            if slot >= self.slots:
                raise _Bad
            self._toss = False
            self._last_recv = slot
            p = 2
        elif self._toss:
            return None
        else:
            slot = self._last_recv
        saved = self._hdr[slot]
        if saved is None:
            raise _Bad
        hdr = bytearray(saved)  # committed only once the packet decoded cleanly
        th = (hdr[0] & 0x0F) << 2
        hlen = len(hdr)
        hdr[th + 16] = data[p]
        hdr[th + 17] = data[p + 1]
        p += 2
        flags = hdr[th + 13]
        flags = flags | _PSH if changes & TCP_PUSH_BIT else flags & ~_PSH
        old_len = hdr[2] << 8 | hdr[3]

        special = changes & SPECIALS_MASK
        if special == SPECIAL_I:
            i = old_len - hlen
            _add32(hdr, th + 8, i)
            _add32(hdr, th + 4, i)
        elif special == SPECIAL_D:
            _add32(hdr, th + 4, old_len - hlen)
        else:
            if changes & NEW_U:
                flags |= _URG
                v, p = _decode(data, p)
                hdr[th + 18] = v >> 8
                hdr[th + 19] = v & 0xFF
            else:
                flags &= ~_URG
            if changes & NEW_W:
                v, p = _decode(data, p)
                v = ((hdr[th + 14] << 8 | hdr[th + 15]) + v) & 0xFFFF
                hdr[th + 14] = v >> 8
                hdr[th + 15] = v & 0xFF
            if changes & NEW_A:
                v, p = _decode(data, p)
                _add32(hdr, th + 8, v)
            if changes & NEW_S:
                v, p = _decode(data, p)
                _add32(hdr, th + 4, v)
        hdr[th + 13] = flags
        if changes & NEW_I:
            v, p = _decode(data, p)
        else:
            v = 1
        v = ((hdr[4] << 8 | hdr[5]) + v) & 0xFFFF
        hdr[4] = v >> 8
        hdr[5] = v & 0xFF

        if p > len(data):
            raise _Bad
        total = hlen + len(data) - p
        if total > 0xFFFF:
            raise _Bad
        hdr[2] = total >> 8
        hdr[3] = total & 0xFF
        c = _ip_header_checksum(hdr[:th])
        hdr[10] = c >> 8
        hdr[11] = c & 0xFF
        pkt = bytes(hdr) + data[p:]
        if self.verify_tcp_checksum and not _tcp_checksum_ok(pkt, th):
            raise _Bad
        self._hdr[slot] = hdr
        return pkt


def _decode(data: bytes, p: int) -> tuple[int, int]:
    v = data[p]
    if v:
        return v, p + 1
    return data[p + 1] << 8 | data[p + 2], p + 3


def _add32(hdr: bytearray, off: int, delta: int) -> None:
    v = (int.from_bytes(hdr[off : off + 4], "big") + delta) & 0xFFFFFFFF
    hdr[off : off + 4] = v.to_bytes(4, "big")


def _tcp_checksum_ok(pkt: bytes, ihl: int) -> bool:
    seg = pkt[ihl:]
    pseudo = pkt[12:20] + bytes((0, 6)) + len(seg).to_bytes(2, "big")
    if len(seg) & 1:
        seg += b"\0"
    return _ones_sum_ok(pseudo + seg)


def wire_type(wire: Buffer) -> int:
    """The VJ packet type of a CSLIP frame, from its first byte (as Linux ``slip.c``)."""
    if not wire:
        return TYPE_ERROR
    c = wire[0]
    if c & 0x80:
        return TYPE_COMPRESSED_TCP
    if c >= 0x70:
        return TYPE_UNCOMPRESSED_TCP
    return TYPE_IP


def cslip_encode_packet(comp: VJCompressor, ip: Buffer) -> bytes:
    """Compress ``ip`` with ``comp`` and mark the type in the first byte, ready for SLIP framing.

    :raises CodecError: ``ip`` is empty or starts with a byte >= 0x70 (not IPv4/IPv6),
        which the receiver would mistake for a VJ packet.
    """
    if not ip or ip[0] >= 0x70:
        raise CodecError(
            "CSLIP can only carry IP packets (first byte < 0x70); "
            f"got {'an empty packet' if not ip else hex(ip[0])}"
        )
    ptype, pkt = comp.compress(ip)
    if ptype == TYPE_COMPRESSED_TCP:
        return bytes((pkt[0] | 0x80,)) + pkt[1:]
    if ptype == TYPE_UNCOMPRESSED_TCP:
        return bytes(((pkt[0] & 0x0F) | 0x70,)) + pkt[1:]
    return pkt


def cslip_decode_packet(decomp: VJDecompressor, wire: Buffer) -> bytes | None:
    """Rebuild the IP packet from one CSLIP frame; ``None`` if it was tossed or bad."""
    ptype = wire_type(wire)
    if ptype == TYPE_COMPRESSED_TCP:
        return decomp.uncompress(ptype, bytes((wire[0] & 0x7F,)) + bytes(wire[1:]))
    if ptype == TYPE_UNCOMPRESSED_TCP:
        return decomp.uncompress(ptype, bytes((wire[0] & 0x4F,)) + bytes(wire[1:]))
    if ptype == TYPE_ERROR:
        # An empty frame cannot reach here through SLIP; count it like any bad packet.
        return decomp.uncompress(-1, b"")
    return decomp.uncompress(ptype, wire)


class AdaptiveMode:
    """Linux ``SL_MODE_ADAPTIVE``: send plain SLIP until the peer is seen compressing.

    Feed every received CSLIP frame to :meth:`observe`. As in Linux, an
    ``UNCOMPRESSED_TCP`` frame from the peer switches compression on (it is also
    what gives our decompressor state); ``COMPRESSED_TCP`` frames received
    before that cannot be decoded and should be ignored (:meth:`accepts`).
    """

    __slots__ = ("compressing",)

    def __init__(self, compressing: bool = False) -> None:
        #: Whether our side compresses (and accepts compressed packets).
        self.compressing = compressing

    def observe(self, wire: Buffer) -> bool:
        """Note a received frame; return True if it just switched compression on."""
        if not self.compressing and wire_type(wire) == TYPE_UNCOMPRESSED_TCP:
            self.compressing = True
            return True
        return False

    def accepts(self, wire: Buffer) -> bool:
        """False for a compressed frame received while compression is still off."""
        return self.compressing or wire_type(wire) != TYPE_COMPRESSED_TCP
