"""Replaying the host side of a capture against a pump and comparing the answers.

A capture of a programming session (``pumpctl --capture``, ``pumpsim serve --capture``, any
intrapump pcapng) holds the requests a programmer sent and the answers it got. :func:`replay`
sends the same requests again, in the same order, to a pump at another URL, in a new session of
its own (the recorded frames are tagged with a session key that no longer exists, so every
request is re-signed: the handshake frames of the capture are replaced by the replay's own
handshake, and SESSION_CLOSE by the replay's close at the end). Each answer is compared with the
recorded one: message type, and every field except those in ``ignore`` (by default the fields
that depend on when the session ran: pump clock readings and instants). A NAK is compared by its
code. Events are not compared (they are not answers). This turns a field capture into a
regression test, like python-can's player.

Timing: ``"original"`` keeps the capture's spacing between requests (measured from the first
request); ``"fast"`` sends each request as soon as the previous one is answered.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from host_tools.client import PumpClient
from host_tools.errors import ProtocolViolation, Refused
from host_tools.sniff import Sniffed, from_capture
from protocol.enums import FrameKind
from protocol.enums import MessageType as MT
from protocol.errors import NakCode
from protocol.messages import REGISTRY

CLOCK_FIELDS = frozenset({"time_ms", "wall_ms", "raised_ms", "start_ms", "end_ms", "bolus_end_ms",
                          "refill_due_ms", "next_allowed_ms"})
SESSION_FRAMES = frozenset({MT.SESSION_OPEN, MT.SESSION_PROOF, MT.SESSION_CLOSE})
TIMINGS = ("original", "fast")


@dataclass(frozen=True)
class Exchange:
    """One recorded request and the answer recorded for it (None when none was recorded)."""

    request: Sniffed
    answer: Sniffed | None


@dataclass
class ReplayResult:
    """The outcome of one replayed request: what was recorded, what came now, what differs."""

    index: int
    request: str
    recorded: str | None
    replayed: str
    differences: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when the answer matches the recorded one (ignored fields aside)."""
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable view (one line of ``pumpctl replay --json``)."""
        return {"index": self.index, "request": self.request, "recorded": self.recorded,
                "replayed": self.replayed, "same": self.same, "differences": self.differences}


def exchanges(frames: Iterable[Sniffed]) -> list[Exchange]:
    """Pair every recorded request with the first later response of the same session and seq."""
    items = list(frames)
    out: list[Exchange] = []
    for i, item in enumerate(items):
        frame = item.frame
        if frame.kind is not FrameKind.REQUEST:
            continue
        answer = next((a for a in items[i + 1:] if a.frame.kind is FrameKind.RESPONSE
                       and a.frame.seq == frame.seq and a.frame.session_id == frame.session_id),
                      None)
        out.append(Exchange(item, answer))
    return out


def _recorded(answer: Sniffed | None) -> tuple[str, dict[str, Any]] | None:
    if answer is None:
        return None
    frame = answer.frame
    fields = dict(frame.fields or {})
    if frame.msg_type == MT.NAK:
        return "NAK", {"code": fields.get("code")}
    return frame.name, fields


def _ask(client: PumpClient, msg_type: MT, fields: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """Send one request in the replay's session; the answer as (type name, fields)."""
    try:
        answer = client.request(msg_type, fields or None)
    except Refused as exc:
        return "NAK", {"code": int(exc.code)}
    except ProtocolViolation as exc:
        if exc.code is None:
            raise
        return "NAK", {"code": int(exc.code)}
    expected = REGISTRY[msg_type].responses or (MT.ACK,)
    return expected[0].name, answer


def compare(recorded: tuple[str, dict[str, Any]] | None, replayed: tuple[str, dict[str, Any]],
            ignore: frozenset[str]) -> list[str]:
    """Human-readable differences between a recorded and a replayed answer (empty: same)."""
    if recorded is None:
        return ["no answer was recorded"]
    rtype, rfields = recorded
    ntype, nfields = replayed
    if rtype != ntype:
        return [f"answer {rtype} {rfields if rtype == 'NAK' else ''}".rstrip()
                + f" became {ntype} {nfields if ntype == 'NAK' else ''}".rstrip()]
    out = []
    for key in sorted(set(rfields) | set(nfields)):
        if key in ignore:
            continue
        if rfields.get(key) != nfields.get(key):
            out.append(f"{key}: {rfields.get(key)!r} -> {nfields.get(key)!r}")
    return out


def replay(capture: str, client: PumpClient, *, timing: str = "fast",
           ignore: frozenset[str] = CLOCK_FIELDS,
           sleep: Callable[[float], None] = time.sleep) -> Iterator[ReplayResult]:
    """Replay the host side of ``capture`` through ``client`` (open; its session is used);
    yields one result per replayed request (see the module documentation)."""
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}, got {timing!r}")
    pairs = exchanges(from_capture(capture))
    if not pairs:
        raise ValueError(f"{capture}: no requests recorded")
    first_ns = pairs[0].request.time_ns
    started = time.monotonic()
    for index, pair in enumerate(pairs):
        frame = pair.request.frame
        if frame.msg_type in SESSION_FRAMES:
            continue
        if timing == "original":
            due = (pair.request.time_ns - first_ns) / 1e9 - (time.monotonic() - started)
            if due > 0:
                sleep(due)
        if frame.fields is None or frame.msg_type not in REGISTRY:
            yield ReplayResult(index, frame.name, None, "not sent",
                               [f"the recorded request does not decode ({frame.error}): "
                                "it cannot be re-signed"])
            continue
        msg_type = MT(frame.msg_type)
        answer = _ask(client, msg_type, dict(frame.fields))
        recorded = _recorded(pair.answer)
        yield ReplayResult(index, frame.name, None if recorded is None else _label(recorded),
                           _label(answer), compare(recorded, answer, ignore))


def _label(answer: tuple[str, dict[str, Any]]) -> str:
    name, fields = answer
    if name == "NAK":
        code = fields.get("code")
        try:
            return f"NAK {NakCode(code).name}"
        except (ValueError, TypeError):
            return f"NAK {code}"
    return name


__all__ = ["CLOCK_FIELDS", "Exchange", "ReplayResult", "compare", "exchanges", "replay"]
