"""A raw host for the conformance kit: every byte it sends is built here from PROTOCOL.md's
rules (through the ``protocol`` package), so forged tags, replays and noise are under the test's
control."""
from __future__ import annotations

import time
from typing import Any

import hal
from protocol import (DEVELOPMENT_KEYS, EventKind, Frame, FrameKind, HostSession, MessageType as MT,
                      NakCode, Role, StreamDecoder, encode_frame)


class WireHost:
    """One link to the pump under test: sends bytes, collects response and event frames."""

    def __init__(self, link: hal.Link, keys: dict[Role, bytes] | None = None) -> None:
        self.link = link
        self.link.timeout = 0.02
        self.keys = keys or dict(DEVELOPMENT_KEYS)
        self.decoder = StreamDecoder()
        self.responses: list[Frame] = []
        self.events: list[Frame] = []
        self.session: HostSession | None = None

    def close(self) -> None:
        """Close the link (the pump then serves the next host)."""
        self.link.close()

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self.link.write(data)

    def _pump(self) -> None:
        data = self.link.read(4096)
        if data:
            for f in self.decoder.feed(data):
                (self.events if f.kind is FrameKind.EVENT else self.responses).append(f)

    def response(self, timeout: float = 5.0) -> Frame:
        """The next response frame; AssertionError if none arrives within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not self.responses:
            if time.monotonic() > deadline:
                raise AssertionError(f"no response from the pump within {timeout} s")
            self._pump()
        return self.responses.pop(0)

    def silent(self, wait_s: float = 0.5) -> bool:
        """True if no response arrives within ``wait_s`` seconds."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            self._pump()
            if self.responses:
                return False
        return True

    def event(self, timeout: float = 5.0, msg_type: MT | None = None) -> Frame:
        """The next authentic event of the session (of ``msg_type`` when given)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.events:
                ev = self.events.pop(0)
                if self.session is not None:
                    self.session.check_event(ev)
                if msg_type is None or ev.msg_type == msg_type:
                    return ev
            if time.monotonic() > deadline:
                raise AssertionError(f"no {msg_type.name if msg_type else 'event'} from the pump")
            self._pump()

    def untagged(self, msg_type: int, fields: Any = None, seq: int = 0) -> Frame:
        """Send an untagged request and return the answer."""
        self.send(encode_frame(msg_type, fields, seq, FrameKind.REQUEST))
        return self.response()

    def handshake(self, role: Role = Role.CLINICIAN, key: bytes | None = None) -> Frame:
        """Open a session; the final answer (SESSION_ACCEPTED, whose pump proof was verified,
        or a NAK)."""
        hs = HostSession(role, self.keys[role] if key is None else key)
        ch = self.untagged(MT.SESSION_OPEN, hs.open_fields())
        if ch.msg_type != MT.SESSION_CHALLENGE:
            return ch
        ans = self.untagged(MT.SESSION_PROOF, hs.proof_fields(ch.fields))
        if ans.msg_type == MT.SESSION_ACCEPTED:
            hs.accept(ans.fields)  # raises if the pump's proof does not verify
            self.session = hs
        return ans

    def build(self, msg_type: int, fields: Any = None) -> tuple[int, bytes]:
        """(seq, bytes) of a new tagged request of the session."""
        assert self.session is not None, "no session"
        return self.session.request(msg_type, fields)

    def request(self, msg_type: int, fields: Any = None) -> Frame:
        """Send a new tagged request; its authentic answer."""
        seq, data = self.build(msg_type, fields)
        self.send(data)
        return self.expect(seq)

    def expect(self, seq: int) -> Frame:
        """The next response, checked to be the session's answer to ``seq``."""
        r = self.response()
        assert self.session is not None
        self.session.check_response(r, seq)
        return r

    def log_count(self) -> int:
        """Entries in the pump's event log (READ_LOG total_count)."""
        return ok(self.request(MT.READ_LOG, {"start_index": 0, "count": 1}),
                  MT.LOG_PAGE)["total_count"]

    def log_since(self, start: int) -> list[dict[str, Any]]:
        """Every event-log entry from index ``start`` on (READ_LOG pages of 16)."""
        out: list[dict[str, Any]] = []
        while True:
            page = ok(self.request(MT.READ_LOG, {"start_index": start + len(out), "count": 16}),
                      MT.LOG_PAGE)
            out += page["entries"]
            if not page["entries"] or start + len(out) >= page["total_count"]:
                return out

    def executed(self, start: int, kind: EventKind) -> int:
        """How many entries of ``kind`` the log holds from index ``start`` on."""
        return sum(1 for e in self.log_since(start) if e["kind"] == kind)


def ok(frame: Frame, msg_type: MT = MT.ACK) -> dict[str, Any]:
    """Assert ``frame`` is ``msg_type`` (not a NAK); its fields."""
    assert frame.msg_type == msg_type, f"expected {msg_type.name}, got {frame.name} {frame.fields}"
    return frame.fields or {}


def nak(frame: Frame, code: NakCode) -> dict[str, Any]:
    """Assert ``frame`` is a NAK with ``code``; its fields."""
    assert frame.msg_type == MT.NAK, f"expected NAK {code.name}, got {frame.name} {frame.fields}"
    got = (frame.fields or {}).get("code")
    assert got == code, f"expected NAK {code.name}, got {NakCode(got).name if got else got}"
    return frame.fields or {}
