"""A minimal raw host for device tests: frames built with protocol directly, no client library,
so every byte a test sends is under its control (forged tags, replays, garbage). It is the
conformance kit's :class:`~host_tools.conformance.wire.WireHost` over a pair of read/write
callables (a serial port, a hal link, a pipe)."""
from __future__ import annotations

from typing import Any, Callable

import hal
from host_tools.conformance.wire import WireHost, ok
from protocol import Frame
from protocol import MessageType as MT

Reader = Callable[[int], bytes]

__all__ = ["PROGRAM", "RawHost", "nak", "ok", "program"]


class _CallableLink:
    """The little of a link that WireHost uses, over two callables."""

    def __init__(self, read: Reader, write: Callable[[bytes], Any]) -> None:
        self.read, self.write = read, write
        self.timeout: float | None = None

    def close(self) -> None:
        """Nothing to close: the callables' owner closes what they read and write."""


class RawHost(WireHost):
    """Sends bytes, collects frames (responses and events apart)."""

    def __init__(self, read: Reader, write: Callable[[bytes], Any]) -> None:
        super().__init__(_CallableLink(read, write))  # type: ignore[arg-type]

    @classmethod
    def on_link(cls, link: hal.Link) -> "RawHost":
        """A host on an open hal link (its timeout is set short here)."""
        link.timeout = 0.05
        return cls(link.read, link.write)

    def no_response(self, wait_s: float = 0.3) -> bool:
        """True if no response arrives within ``wait_s``."""
        return self.silent(wait_s)


def nak(frame: Frame) -> dict[str, Any]:
    """Assert ``frame`` is a NAK and return its fields."""
    assert frame.msg_type == MT.NAK, f"expected NAK, got {frame.name} {frame.fields}"
    return frame.fields or {}


PROGRAM = [
    (MT.SET_DRUG, {"drug_name": "morphine", "concentration_ug_per_ml": 10_000}),
    (MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
        {"start_minute": 0, "rate_nl_per_day": 400_000},
        {"start_minute": 480, "rate_nl_per_day": 600_000}]}),
    (MT.REFILL_BEGIN, None),
    (MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0}),
    (MT.REFILL_COMPLETE, {"withdrawn_nl": 0, "filled_nl": 20_000_000,
                          "concentration_ug_per_ml": 10_000}),
    (MT.SET_LIMITS, {"patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
                     "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
                     "low_reservoir_threshold_nl": 2_000_000}),
    (MT.START_THERAPY, None),
]


def program(host: RawHost) -> None:
    """Program morphine, a two-step schedule, a full reservoir, patient boluses; start."""
    for mt, fields in PROGRAM:
        r = host.request(mt, fields)
        assert r.msg_type != MT.NAK, f"{mt.name}: {r.fields}"
