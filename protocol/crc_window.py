"""CRC-16/CCITT-FALSE of any window of a buffer in constant time, for resynchronisation.

A stream of crafted false headers (each claiming a long payload) would otherwise cost one CRC
over up to a whole frame per candidate header, i.e. about a kilobyte of CRC work per 14 bytes of
stream. The CRC is linear, so with ``Z(k)``, the CRC (initial value 0) of the buffer's first
``k`` bytes, the CRC of a window is ``Z(j) ^ shift(Z(i) ^ 0xFFFF, j - i)``, where
``shift(v, n)`` (v multiplied by x^(8n) modulo the polynomial) comes from precomputed tables.
``Z`` is kept at 64-byte marks computed once per buffer, so each window costs two CRCs of at
most 63 bytes and four table lookups, whatever its length.
"""
from __future__ import annotations

import binascii
import functools

_crc_hqx = binascii.crc_hqx
_MARK = 64
_MAX_WINDOW = 2048  # longer than any frame


def _shift_table(nbytes: int) -> tuple[list[int], list[int]]:
    """(hi, lo): shift(v, nbytes) == hi[v >> 8] ^ lo[v & 0xFF] (linearity of the CRC)."""
    zeros = bytes(nbytes)
    basis = [_crc_hqx(zeros, 1 << b) for b in range(16)]
    hi, lo = [0] * 256, [0] * 256
    for v in range(1, 256):
        low = v & -v
        b = low.bit_length() - 1
        lo[v] = lo[v ^ low] ^ basis[b]
        hi[v] = hi[v ^ low] ^ basis[b + 8]
    return hi, lo


_Tables = list[tuple[list[int], list[int]]]


@functools.cache
def _tables() -> tuple[_Tables, _Tables]:
    """The shift tables for 0..63 bytes and for multiples of 64 bytes, built on the first
    resynchronisation rather than at import (they take about 10 ms)."""
    return ([_shift_table(b) for b in range(_MARK)],
            [_shift_table(_MARK * a) for a in range(_MAX_WINDOW // _MARK + 1)])


class WindowCrc:
    """CRC-16/CCITT-FALSE (init 0xFFFF) of ``buf[i:j]`` for any ``j - i <= 2048`` in O(1)
    (amortised: the 64-byte marks are computed once, as far into ``buf`` as asked)."""

    __slots__ = ("_buf", "_marks", "_small", "_big")

    def __init__(self, buf: bytes) -> None:
        self._buf = buf
        self._marks = [0]
        self._small, self._big = _tables()

    def _mark(self, k: int) -> int:
        marks, buf = self._marks, self._buf
        while len(marks) <= k:
            j = len(marks) - 1
            marks.append(_crc_hqx(buf[j << 6:(j + 1) << 6], marks[j]))
        return marks[k]

    def crc(self, i: int, j: int) -> int:
        """CRC-16/CCITT-FALSE of ``buf[i:j]`` (same value as ``binascii.crc_hqx(buf[i:j], 0xFFFF)``)."""
        marks, buf = self._marks, self._buf
        ki, kj = i >> 6, j >> 6
        mj = marks[kj] if kj < len(marks) else self._mark(kj)
        zi = _crc_hqx(buf[ki << 6:i], marks[ki]) ^ 0xFFFF
        zj = _crc_hqx(buf[kj << 6:j], mj)
        a, b = divmod(j - i, _MARK)
        hi, lo = self._small[b]
        v = hi[zi >> 8] ^ lo[zi & 0xFF]
        hi, lo = self._big[a]
        return zj ^ hi[v >> 8] ^ lo[v & 0xFF]
