"""Serial line settings of a host connection, and the response timeout they imply.

A programmer on a serial line must know the line's settings (baud, byte size, parity, stop bits,
RTS/CTS and XON/XOFF flow control) and must wait long enough for an answer to cross it. Both live
here, so that ``pumpctl`` and scripts share one rule.

Settings come from options or from the URL's query, e.g. ``/dev/pts/2?baud=9600&parity=E``:
:func:`split_line_url` takes them out of a port name or ``pty://`` URL (pyserial would read the
whole string as a file name) and returns the bare URL; ``virtual://`` URLs keep their ``baud``
(the virtual link paces itself with it).

Response timeout (:func:`response_timeout_s`): the time one exchange can take on the wire, plus a
fixed allowance for the pump's processing and the operating system::

    timeout = base_s + (largest request frame + largest answer frame) x bits per byte / baud

where bits per byte = start bit + data bits + parity bit (if any) + stop bits, and the frame sizes
are the largest any request or answer of the protocol can have (header, payload at its maximum,
tag, CRC), computed from the message declarations. With the defaults (8N1, base 0.5 s) that is
0.5 s + 1369 bytes x 10 bits / 9600 baud = 1.93 s at 9600 baud and 0.62 s at 115200; on links
without a line speed (TCP, unpaced virtual links) it is ``base_s``. A pyserial port opened
without a baud rate runs at pyserial's default, 9600, and is timed as such.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from construct import Construct, FormatField, PrefixedArray, Renamed, Struct
from construct import Bytes as BytesCon

from hal.urls import split_url
from protocol import messages as wire
from protocol.frame import CRC_BYTES, HEADER_BYTES, MAX_PAYLOAD, TAG_BYTES

DEFAULT_BASE_TIMEOUT_S = 0.5
PYSERIAL_DEFAULT_BAUD = 9600
PARITIES = {"N": "none", "E": "even", "O": "odd", "M": "mark", "S": "space"}
STOPBITS = (1, 1.5, 2)
BYTESIZES = (5, 6, 7, 8)
SERIAL_SCHEMES = frozenset({"", "pty", "rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110"})
_QUERY_SCHEMES = frozenset({"", "pty"})  # URLs whose query pyserial would not understand
LINE_KEYS = ("baud", "bytesize", "parity", "stopbits", "rtscts", "xonxoff")


class LineSettingsError(ValueError):
    """A line setting that is out of range, unknown, given twice or not for this kind of link."""


@dataclasses.dataclass(frozen=True)
class LineSettings:
    """The settings of a serial line; ``baud`` None means "the link's default"."""

    baud: int | None = None
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    rtscts: bool = False
    xonxoff: bool = False

    def __post_init__(self) -> None:
        if self.baud is not None and (isinstance(self.baud, bool) or self.baud <= 0):
            raise LineSettingsError(f"baud must be a positive integer, got {self.baud!r}")
        if self.bytesize not in BYTESIZES:
            raise LineSettingsError(f"bytesize must be one of {BYTESIZES}, got {self.bytesize!r}")
        if self.parity not in PARITIES:
            raise LineSettingsError(f"parity must be one of {'/'.join(PARITIES)}, got {self.parity!r}")
        if self.stopbits not in STOPBITS:
            raise LineSettingsError(f"stopbits must be one of 1, 1.5, 2, got {self.stopbits!r}")

    @property
    def bits_per_byte(self) -> float:
        """Bits one byte takes on the line: start + data + parity (if any) + stop."""
        return 1 + self.bytesize + (0 if self.parity == "N" else 1) + self.stopbits

    def effective_baud(self, url: str) -> int | None:
        """The line speed the link will run at: the given baud, else pyserial's default for a
        serial port, else None (no line speed: TCP, unpaced virtual links)."""
        if self.baud is not None:
            return self.baud
        scheme = split_url(url)[0]
        return PYSERIAL_DEFAULT_BAUD if scheme in SERIAL_SCHEMES and scheme != "loop" else None

    def link_options(self, url: str) -> dict[str, Any]:
        """Keyword options for ``hal.open(url, ...)`` carrying these settings.

        Serial ports get all of them; ``virtual://`` only ``baud`` (pacing); other links none,
        and LineSettingsError if any setting differs from the default there.
        """
        scheme = split_url(url)[0]
        if scheme in SERIAL_SCHEMES:
            opts: dict[str, Any] = {"bytesize": self.bytesize, "parity": self.parity,
                                    "stopbits": self.stopbits, "rtscts": self.rtscts,
                                    "xonxoff": self.xonxoff}
            if self.baud is not None:
                opts["baudrate"] = self.baud
            return opts
        non_default = [k for k in LINE_KEYS if getattr(self, k) != getattr(LineSettings(), k)]
        if scheme == "virtual":
            extra = [k for k in non_default if k != "baud"]
            if extra:
                raise LineSettingsError(f"{url}: a virtual link takes only baud, not {', '.join(extra)}")
            return {} if self.baud is None else {"baud": self.baud}
        if non_default:
            raise LineSettingsError(f"{url}: serial line settings ({', '.join(non_default)}) "
                                    "apply to serial ports, ptys and virtual links only")
        return {}

    def describe(self, url: str) -> str:
        """One line for ``-v`` output, e.g. ``9600 baud 8N1, RTS/CTS off, XON/XOFF off``."""
        baud = self.effective_baud(url)
        stop = f"{self.stopbits:g}"
        speed = f"{baud} baud" if baud else "no line speed (unpaced)"
        return (f"{speed} {self.bytesize}{self.parity}{stop}, RTS/CTS {'on' if self.rtscts else 'off'}, "
                f"XON/XOFF {'on' if self.xonxoff else 'off'}")


def _parse_bool(key: str, text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise LineSettingsError(f"{key} must be 0/1 (or true/false), got {text!r}")


def settings_from_mapping(values: Mapping[str, str]) -> dict[str, Any]:
    """Typed line settings from text values (URL query); unknown keys raise LineSettingsError."""
    out: dict[str, Any] = {}
    for key, text in values.items():
        name = "baud" if key == "baudrate" else key
        try:
            if name in ("baud", "bytesize"):
                out[name] = int(text)
            elif name == "parity":
                out[name] = text.strip().upper()[:1]
            elif name == "stopbits":
                out[name] = float(text)
            elif name in ("rtscts", "xonxoff"):
                out[name] = _parse_bool(name, text)
            else:
                raise LineSettingsError(f"unknown line setting {key!r} (known: {', '.join(LINE_KEYS)})")
        except ValueError as exc:
            if isinstance(exc, LineSettingsError):
                raise
            raise LineSettingsError(f"{key}: not a number: {text!r}") from None
    return out


def split_line_url(url: str) -> tuple[str, dict[str, Any]]:
    """``(url without line settings, settings found in its query)``.

    Only port names and ``pty://`` URLs lose their query (every key must be a line setting);
    ``virtual://`` keeps it and reports its ``baud``; other URLs are returned unchanged.
    """
    scheme, address, query = split_url(url)
    if scheme == "" and "?" in url:  # a port name: split_url keeps its query in the address
        address, _, text = url.partition("?")
        query = _parse_query(url, text)
    if scheme == "virtual":
        return url, settings_from_mapping({k: v for k, v in query.items() if k == "baud"})
    if scheme not in _QUERY_SCHEMES or "?" not in url:
        return url, {}
    found = settings_from_mapping(query)
    return (f"pty://{address}" if scheme == "pty" else address), found


def _parse_query(url: str, text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key in found:
            raise LineSettingsError(f"{url}: {key} given twice")
        found[key] = value
    return found


def merge_settings(from_url: Mapping[str, Any], from_options: Mapping[str, Any]) -> LineSettings:
    """One LineSettings from the URL's and the options' values (options left None are unset);
    LineSettingsError when both give a key with different values."""
    merged = dict(from_url)
    for key, value in from_options.items():
        if value is None:
            continue
        if key in merged and merged[key] != value:
            raise LineSettingsError(f"{key} is {merged[key]!r} in the URL but {value!r} as an option")
        merged[key] = value
    return LineSettings(**merged)


# ------------------------------------------------------------------------------- frame sizes
def max_payload_bytes(con: Construct) -> int:
    """The largest payload a message declaration can encode to, in bytes."""
    if isinstance(con, Renamed):
        if con.name in wire.MAX_TEXT:
            return 1 + wire.MAX_TEXT[con.name]
        return max_payload_bytes(con.subcon)
    if isinstance(con, Struct):
        return sum(max_payload_bytes(sc) for sc in con.subcons)
    max_items = getattr(con, "max_items", None)
    if max_items is not None:
        return 1 + max_items * max_payload_bytes(con.item)  # type: ignore[attr-defined]
    if isinstance(con, (FormatField, BytesCon)):
        return con.sizeof()
    if isinstance(con, PrefixedArray):
        return MAX_PAYLOAD
    inner = getattr(con, "subcon", None)
    if inner is not None:
        return max_payload_bytes(inner)
    try:
        return con.sizeof()
    except Exception:  # noqa: BLE001 - an unknown variable-size construct: assume the maximum
        return MAX_PAYLOAD


def max_frame_bytes(kind: str) -> int:
    """The largest tagged frame of ``kind`` ("request", or "answer" = response or event)."""
    kinds = ("request",) if kind == "request" else ("response", "event")
    payload = max(min(MAX_PAYLOAD, max_payload_bytes(s.construct))
                  for s in wire.REGISTRY.values() if s.kind in kinds)
    return HEADER_BYTES + payload + TAG_BYTES + CRC_BYTES


def response_timeout_s(baud: int | None, bits_per_byte: float = 10,
                       base_s: float = DEFAULT_BASE_TIMEOUT_S) -> float:
    """Seconds to wait for an answer at ``baud`` (None: no line speed); see the module docs."""
    if not baud:
        return base_s
    wire_bytes = max_frame_bytes("request") + max_frame_bytes("answer")
    return base_s + wire_bytes * bits_per_byte / baud


__all__ = ["LineSettings", "LineSettingsError", "max_frame_bytes", "max_payload_bytes",
           "merge_settings", "response_timeout_s", "settings_from_mapping", "split_line_url"]
