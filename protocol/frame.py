"""Frame layout, frame encoder and the pure framer function `decode`.

Layout (big-endian; offsets in bytes)::

    0   2  sync            0xA5 0x5A
    2   1  version         PROTOCOL_VERSION (1)
    3   1  flags           bits 0-1 FrameKind (0 request, 1 response, 2 event), bit 2 TAG,
                           bits 3-7 zero
    4   4  session_id      u32, 0 = no session (then no tag)
    8   4  seq             u32 sequence number (a response echoes its request's seq)
    12  1  msg_type        MessageType
    13  2  payload_length  u16, 0..MAX_PAYLOAD (1024), checked before the payload is read
    15  n  payload         message fields (see protocol.messages)
    ..  16 tag             only if flags.TAG: HMAC-SHA256(session key, bytes 2..15+n)[:16]
    ..  2  crc             CRC-16/CCITT-FALSE (binascii.crc_hqx, init 0xFFFF) of all bytes before it

`FRAME` is the normative construct declaration (tests check `encode_frame` and `decode`
against it byte for byte); `decode` validates sync, version, flags, length bound and CRC on raw bytes before any parser
sees the frame.
"""
from __future__ import annotations

import binascii
import dataclasses
import hashlib
import hmac
import logging
import struct
from typing import Any, Mapping, Protocol

from construct import (
    Bytes,
    Checksum,
    Const,
    GreedyBytes,
    If,
    Int8ub,
    Int16ub,
    Int32ub,
    Prefixed,
    RawCopy,
    Struct,
    this,
)

from .crc_window import WindowCrc
from .enums import Flag, FrameKind, MessageType
from .errors import ProtocolError, NakCode
from .messages import decode_payload, encode_payload

log = logging.getLogger(__name__)

SYNC = b"\xa5\x5a"
PROTOCOL_VERSION = 1
MAX_PAYLOAD = 1024
TAG_BYTES = 16
HEADER_BYTES = 15  # sync .. payload_length
CRC_BYTES = 2
MAX_FRAME = HEADER_BYTES + MAX_PAYLOAD + TAG_BYTES + CRC_BYTES
_FLAGS_ALLOWED = int(Flag.KIND_MASK | Flag.TAG)
_TAG = int(Flag.TAG)  # plain ints: IntFlag arithmetic is slow on the hot path
_KIND_MASK = int(Flag.KIND_MASK)
_crc_hqx = binascii.crc_hqx


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF); crc16(b"123456789") == 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


def compute_tag(key: bytes, auth_data: bytes) -> bytes:
    """Frame tag: HMAC-SHA256(key, auth_data) truncated to TAG_BYTES (16)."""
    return hmac.new(key, auth_data, hashlib.sha256).digest()[:TAG_BYTES]


FrameBody = Struct(
    "sync" / Const(SYNC) * "0xA5 0x5A",
    "version" / Int8ub * "protocol version, 1",
    "flags" / Int8ub * "bits 0-1 FrameKind, bit 2 TAG present",
    "session_id" / Int32ub * "session id, 0 = none",
    "seq" / Int32ub * "sequence number",
    "msg_type" / Int8ub * "MessageType",
    "payload" / Prefixed(Int16ub, GreedyBytes) * "u16 length then payload, <= 1024 bytes",
    "tag" / If(this.flags & 0x04, Bytes(TAG_BYTES)) * "truncated HMAC-SHA256, if flags.TAG",
)
FRAME = Struct(
    "body" / RawCopy(FrameBody),
    "crc" / Checksum(Int16ub, crc16, this.body.data) * "CRC-16/CCITT-FALSE of the body",
)
_HEADER = struct.Struct(">2sBBIIBH")


class TagSource(Protocol):
    """Anything that can tag frames: HostSession and PumpSession."""

    session_id: int

    def compute_tag(self, auth_data: bytes) -> bytes:
        """Tag of auth_data with the session key."""
        ...


@dataclasses.dataclass(slots=True)
class Frame:
    """One frame whose sync, length and CRC were valid.

    `fields` is the decoded payload (plain dict) or None when the payload did not decode; then
    `error` holds the ProtocolError (UNKNOWN_MESSAGE_TYPE, MALFORMED_PAYLOAD, ...). The tag is
    *not* verified here: sessions do that with `auth_data`.
    """

    version: int
    flags: int
    session_id: int
    seq: int
    msg_type: int
    payload: bytes
    tag: bytes | None
    raw: bytes
    fields: dict[str, Any] | None = None
    error: ProtocolError | None = None

    @property
    def kind(self) -> FrameKind:
        """REQUEST, RESPONSE or EVENT, from the flags."""
        return FrameKind(self.flags & _KIND_MASK)

    @property
    def auth_data(self) -> bytes:
        """The bytes the tag protects: version .. end of payload (includes session_id, seq)."""
        return self.raw[2:HEADER_BYTES + len(self.payload)]

    @property
    def name(self) -> str:
        """Message type name, or 0xNN when unknown."""
        try:
            return MessageType(self.msg_type).name
        except ValueError:
            return f"0x{self.msg_type:02X}"


def encode_frame(msg_type: int, payload: Mapping[str, Any] | bytes | None = None, seq: int = 0,
                 flags: int = FrameKind.REQUEST, session: TagSource | None = None) -> bytes:
    """Build one complete frame.

    `payload` is a dict/Container of the message's fields (encoded by its construct), raw bytes
    (sent as is, for tests), or None for messages without fields. `flags` gives the FrameKind
    (the TAG bit is set here when `session` is given; then the frame carries
    `session.session_id` and a tag from `session.compute_tag`). Raises ProtocolError
    (UNKNOWN_MESSAGE_TYPE / INVALID_FIELD) for bad input.
    """
    body = payload if isinstance(payload, (bytes, bytearray)) else encode_payload(msg_type, payload)
    if len(body) > MAX_PAYLOAD:
        raise ProtocolError(NakCode.INVALID_FIELD, f"payload {len(body)} > {MAX_PAYLOAD} bytes")
    if not 0 <= seq <= 0xFFFFFFFF:
        raise ProtocolError(NakCode.INVALID_FIELD, f"seq {seq} out of u32 range")
    flags = int(flags) & ~_TAG
    if flags & ~_FLAGS_ALLOWED or (flags & _KIND_MASK) == 3:
        raise ProtocolError(NakCode.INVALID_FIELD, f"flags 0x{flags:02X}")
    session_id = 0
    if session is not None:
        flags |= _TAG
        session_id = session.session_id
    # Same bytes as FrameBody.build(...) with tag=None (a test checks the two agree for all
    # inputs); struct is used here because it is 4x faster on this hot path.
    head = _HEADER.pack(SYNC, PROTOCOL_VERSION, flags, session_id, seq, msg_type,
                        len(body)) + body
    if session is not None:
        head += session.compute_tag(head[2:])
    return head + _crc_hqx(head, 0xFFFF).to_bytes(2, "big")


@dataclasses.dataclass(slots=True)
class DecoderStats:
    """Counters of what the framer threw away."""

    frames: int = 0  # frames with a valid CRC
    skipped_bytes: int = 0  # bytes discarded while hunting for sync
    bad_crc: int = 0  # candidates whose CRC failed
    oversize: int = 0  # candidates whose payload_length exceeded MAX_PAYLOAD
    bad_header: int = 0  # candidates with an unknown version or reserved flag bits
    undecodable: int = 0  # CRC-valid frames whose payload did not decode (frame.error set)
    dropped_overflow: int = 0  # bytes dropped because the buffer cap was reached


def decode(buffer: bytes | bytearray | memoryview, final: bool = False,
           stats: DecoderStats | None = None) -> tuple[int, Frame | None]:
    """Pure framer: find the first valid frame in `buffer`.

    Returns (consumed, frame): drop `consumed` bytes from the front of the buffer; `frame` is
    the frame found (ending exactly at `consumed`) or None when more bytes are needed. Garbage
    is skipped; a candidate with a bad version/flags, an oversize length (refused from the
    header alone) or a bad CRC is skipped by one byte and the hunt goes on, so a valid frame
    hidden inside garbage is still found. With `final=True` (end of stream / idle timeout)
    an incomplete candidate is given up instead of waited for. Never raises. The CRC of every
    candidate after the first is found in constant time (:class:`~protocol.crc_window.WindowCrc`),
    so a stream of crafted false headers costs a bounded amount of work per byte.
    """
    buf = buffer if type(buffer) is bytes else bytes(buffer)
    n = len(buf)
    i = 0
    skipped = 0
    candidates = 0
    window: WindowCrc | None = None
    try:
        while True:
            j = buf.find(SYNC, i)
            if j < 0:
                keep = 1 if (n > i and buf[-1] == SYNC[0] and not final) else 0
                skipped += n - keep - i
                return n - keep, None
            skipped += j - i
            i = j
            if n - i < HEADER_BYTES:
                if final:
                    i += 1
                    skipped += 1
                    continue
                return i, None
            _, version, flags, session_id, seq, msg_type, length = _HEADER.unpack_from(buf, i)
            if length > MAX_PAYLOAD:
                if stats is not None:
                    stats.oversize += 1
                i += 1
                skipped += 1
                continue
            if version != PROTOCOL_VERSION or flags & ~_FLAGS_ALLOWED or (flags & 3) == 3:
                if stats is not None:
                    stats.bad_header += 1
                i += 1
                skipped += 1
                continue
            tag_len = TAG_BYTES if flags & _TAG else 0
            end = i + HEADER_BYTES + length + tag_len + CRC_BYTES
            if end > n:
                if final:
                    i += 1
                    skipped += 1
                    continue
                return i, None
            if window is None and candidates:  # resynchronising: O(1) CRC per candidate
                window = WindowCrc(buf)
            candidates += 1
            crc = _crc_hqx(buf[i:end - 2], 0xFFFF) if window is None else window.crc(i, end - 2)
            if crc != (buf[end - 2] << 8 | buf[end - 1]):
                if stats is not None:
                    stats.bad_crc += 1
                i += 1
                skipped += 1
                continue
            pstart = i + HEADER_BYTES
            payload = buf[pstart:pstart + length]
            frame = Frame(version, flags, session_id, seq, msg_type, payload,
                          buf[pstart + length:pstart + length + tag_len] if tag_len else None,
                          buf[i:end])
            try:
                frame.fields = decode_payload(msg_type, payload)
            except ProtocolError as exc:
                frame.error = exc
                if stats is not None:
                    stats.undecodable += 1
            if stats is not None:
                stats.frames += 1
            return end, frame
    finally:
        if stats is not None:
            stats.skipped_bytes += skipped


def parse_frame(data: bytes) -> Frame:
    """Decode exactly one complete frame (no garbage before or after).

    Raises ProtocolError(FRAMING) when `data` is not exactly one valid frame.
    """
    consumed, frame = decode(data, final=True)
    if frame is None or consumed != len(data) or frame.raw != bytes(data):
        raise ProtocolError(NakCode.FRAMING, "not exactly one valid frame")
    return frame
