"""A minimal raw host for device tests: frames built with protocol directly, no client library,
so every byte a test sends is under its control (forged tags, replays, garbage)."""
from __future__ import annotations

import time
from typing import Any, Callable

import hal
from protocol import (DEVELOPMENT_KEYS, Frame, FrameKind, HostSession, Role, StreamDecoder,
                      encode_frame)
from protocol import MessageType as MT

Reader = Callable[[int], bytes]


class RawHost:
    """Sends bytes, collects frames (responses and events apart)."""

    def __init__(self, read: Reader, write: Callable[[bytes], Any]) -> None:
        self._read = read
        self._write = write
        self.decoder = StreamDecoder()
        self.responses: list[Frame] = []
        self.events: list[Frame] = []
        self.session: HostSession | None = None

    @classmethod
    def on_link(cls, link: hal.Link) -> "RawHost":
        """A host on an open hal link (its timeout is set short here)."""
        link.timeout = 0.05
        return cls(link.read, link.write)

    def send(self, data: bytes) -> None:
        self._write(data)

    def _pump(self, wait_s: float) -> None:
        data = self._read(4096)
        if data:
            for f in self.decoder.feed(data):
                (self.events if f.kind is FrameKind.EVENT else self.responses).append(f)

    def response(self, timeout: float = 5.0) -> Frame:
        """The next response frame; AssertionError if none arrives within ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.responses:
            if time.monotonic() > deadline:
                raise AssertionError("no response from the pump")
            self._pump(timeout)
        return self.responses.pop(0)

    def no_response(self, wait_s: float = 0.3) -> bool:
        """True if no response arrives within ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            self._pump(wait_s)
            if self.responses:
                return False
        return True

    def event(self, timeout: float = 5.0) -> Frame:
        """The next event frame (checked against the session)."""
        deadline = time.monotonic() + timeout
        while not self.events:
            if time.monotonic() > deadline:
                raise AssertionError("no event from the pump")
            self._pump(timeout)
        ev = self.events.pop(0)
        if self.session is not None:
            self.session.check_event(ev)
        return ev

    def untagged(self, msg_type: MT, fields: dict[str, Any] | None = None, seq: int = 0) -> Frame:
        self.send(encode_frame(msg_type, fields, seq, FrameKind.REQUEST))
        return self.response()

    def handshake(self, role: Role = Role.CLINICIAN, key: bytes | None = None) -> Frame:
        """Open a session; returns the final answer (SESSION_ACCEPTED or a NAK)."""
        key = DEVELOPMENT_KEYS[role] if key is None else key
        hs = HostSession(role, key)
        ch = self.untagged(MT.SESSION_OPEN, hs.open_fields())
        if ch.msg_type != MT.SESSION_CHALLENGE:
            return ch
        ans = self.untagged(MT.SESSION_PROOF, hs.proof_fields(ch.fields))
        if ans.msg_type == MT.SESSION_ACCEPTED:
            hs.accept(ans.fields)
            self.session = hs
        return ans

    def build(self, msg_type: MT, fields: dict[str, Any] | None = None) -> tuple[int, bytes]:
        assert self.session is not None
        return self.session.request(msg_type, fields)

    def request(self, msg_type: MT, fields: dict[str, Any] | None = None) -> Frame:
        """Send a new tagged request and return its checked answer."""
        seq, data = self.build(msg_type, fields)
        self.send(data)
        return self.expect(seq)

    def expect(self, seq: int) -> Frame:
        r = self.response()
        assert self.session is not None
        self.session.check_response(r, seq)
        return r


def ok(frame: Frame, msg_type: MT = MT.ACK) -> dict[str, Any]:
    """Assert ``frame`` is ``msg_type`` (not a NAK) and return its fields."""
    assert frame.msg_type == msg_type, f"expected {msg_type.name}, got {frame.name} {frame.fields}"
    return frame.fields or {}


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
