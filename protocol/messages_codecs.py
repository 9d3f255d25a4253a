"""Fast `struct` codecs derived from the construct declarations at import time.

For flat fixed-size payloads (FlatCodec) and for flat records in one counted array (ArrayCodec)
a `struct` codec is *derived from the declaration*, so the declaration stays the single source
of truth. Like construct's compiled parsers, struct does not check lengths, so an untrusted
payload reaches one only after its exact length has been checked (fixed size; or head + 1 +
count x record size, with count <= the array's maximum). Tests check the derived codecs against
construct on valid and damaged payloads.
"""
from __future__ import annotations

import struct
from typing import Any, Mapping

from construct import Bytes, Construct, ExprValidator, FormatField, Renamed, Struct

from .enums import MessageType as MT
from .errors import NakCode, ProtocolError


class FlatCodec:
    """struct.Struct codec derived from a flat, fixed-size Struct declaration.

    Built only from the construct declaration (its FormatField and fixed-length Bytes
    subcons), so the declaration stays the single source of truth; tests check it against
    construct's own parse/build. Only used on payloads whose length equals `size`.
    """

    def __init__(self, names: list[str], fmt: str, byte_fields: list[tuple[int, int]]) -> None:
        self.names = tuple(names)
        self.byte_fields = tuple(byte_fields)  # (index, exact length) of Bytes fields
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size

    @classmethod
    def derive(cls, con: Construct) -> "FlatCodec | None":
        """A FlatCodec for `con`, or None when `con` is not a flat fixed-size Struct."""
        if not isinstance(con, Struct):
            return None
        return cls.from_subcons(con.subcons)

    @classmethod
    def from_subcons(cls, subcons: list[Construct]) -> "FlatCodec | None":
        """A FlatCodec for a sequence of named fields, or None unless all are flat/fixed."""
        names: list[str] = []
        byte_fields: list[tuple[int, int]] = []
        fmt = ">"
        for sc in subcons:
            inner = sc
            while isinstance(inner, Renamed):
                inner = inner.subcon
            if not sc.name:
                return None
            if isinstance(inner, FormatField) and inner.fmtstr[0] == ">":
                fmt += inner.fmtstr[1:]
            elif isinstance(inner, Bytes) and isinstance(inner.length, int):
                fmt += f"{inner.length}s"
                byte_fields.append((len(names), inner.length))
            else:
                return None
            names.append(sc.name)
        return cls(names, fmt, byte_fields)

    def parse(self, payload: bytes) -> dict[str, Any]:
        """Fields of a payload of exactly `size` bytes."""
        return dict(zip(self.names, self.struct.unpack(payload)))

    def build(self, fields: Mapping[str, Any]) -> bytes:
        """Payload from fields (KeyError for a missing field, struct.error for a bad value)."""
        values = [fields[n] for n in self.names]
        for index, length in self.byte_fields:  # struct would silently pad or cut
            value = values[index]
            if not isinstance(value, (bytes, bytearray)) or len(value) != length:
                raise ValueError(f"{self.names[index]}: need exactly {length} bytes")
        return self.struct.pack(*values)


class ArrayCodec:
    """struct codec for a Struct of flat fields followed by one u8-counted array of flat records
    (SET_SCHEDULE, SCHEDULE, ALARM_LIST), derived from the construct declaration.

    Parsing checks the count against the array's maximum and the payload length against
    head + 1 + count x record size exactly before unpacking anything; tests check it against
    construct's own parse/build on valid and on damaged payloads.
    """

    def __init__(self, msg_type: MT, head: FlatCodec, name: str, item: FlatCodec,
                 max_items: int) -> None:
        self.msg_type = msg_type
        self.head = head
        self.name = name
        self.item = item
        self.max_items = max_items

    @classmethod
    def derive(cls, msg_type: MT, con: Construct) -> "ArrayCodec | None":
        """An ArrayCodec for `con`, or None when `con` does not have that shape."""
        if not isinstance(con, Struct) or not con.subcons:
            return None
        last = con.subcons[-1]
        inner = last
        while isinstance(inner, Renamed):
            inner = inner.subcon
        max_items = getattr(inner, "max_items", None) if isinstance(inner, ExprValidator) else None
        if max_items is None or not last.name:
            return None
        head = FlatCodec.from_subcons(con.subcons[:-1])
        item = FlatCodec.derive(inner.item)
        if head is None or item is None or item.byte_fields or item.size == 0:
            return None
        return cls(msg_type, head, last.name, item, max_items)

    def parse(self, payload: bytes) -> dict[str, Any]:
        """Fields of `payload`; ProtocolError(MALFORMED_PAYLOAD / TOO_MANY_STEPS) if not exact."""
        h = self.head.size
        if len(payload) <= h:
            raise ProtocolError(NakCode.MALFORMED_PAYLOAD,
                                f"{self.msg_type.name}: length {len(payload)} < {h + 1}")
        count = payload[h]
        if count > self.max_items:
            code = NakCode.TOO_MANY_STEPS if self.name == "steps" else NakCode.MALFORMED_PAYLOAD
            raise ProtocolError(code, f"{self.name}: {count} > {self.max_items}")
        expected = h + 1 + count * self.item.size
        if len(payload) != expected:
            raise ProtocolError(NakCode.MALFORMED_PAYLOAD,
                                f"{self.msg_type.name}: length {len(payload)} != {expected}")
        fields = self.head.parse(payload[:h]) if h else {}
        names = self.item.names
        fields[self.name] = [dict(zip(names, values))
                             for values in self.item.struct.iter_unpack(payload[h + 1:])]
        return fields

    def build(self, fields: Mapping[str, Any]) -> bytes:
        """Payload from fields (KeyError / ValueError / struct.error for bad input)."""
        items = fields[self.name]
        if len(items) > self.max_items:
            raise ValueError(f"{self.name}: {len(items)} items > {self.max_items}")
        pack = self.item.struct.pack
        names = self.item.names
        head = self.head.build(fields) if self.head.size else b""
        return b"".join([head, bytes([len(items)])]
                        + [pack(*[it[n] for n in names]) for it in items])


