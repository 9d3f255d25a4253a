"""The host's session layer: which answer to trust, when to retransmit, when to reissue (pure).

A programmer shell (``host_tools.client.PumpClient``) sends bytes and reads frames; these
objects decide, with no I/O and no clock reads (time is passed in as milliseconds):

* :class:`Exchange` follows one request in flight: every frame read is classified
  (:meth:`Exchange.classify`) as the authentic answer, an **untrusted** hint (an untagged
  NO_SESSION or BAD_TAG inside a session: anyone on the link can forge one, so it is not an
  answer and changes nothing), or something to discard; a deadline passed means retransmitting
  the **identical bytes** (same seq) until the retries are used up (:meth:`Exchange.on_timeout`).
* :func:`recovery` decides what a host does when a request's fate is unknown (the link dropped,
  or only untrusted NO_SESSION hints came back, as after a pump restart): reopen the session and
  send an idempotent request again under a new seq, but never a non-idempotent one
  (bolus, refill step, start, stop...) without first reading back the pump's state.

PROTOCOL.md section 5 ("Answers a host cannot authenticate") states these rules.
"""
from __future__ import annotations

import dataclasses
import enum

from .enums import FrameKind, MessageType as MT
from .errors import NakCode, ProtocolError
from .frame import Frame
from .session import HostSession

# Requests whose second execution leaves the pump exactly as the first did: safe to send again
# under a new seq (and a new session) when the outcome of the first attempt is unknown.
IDEMPOTENT: frozenset[MT] = frozenset({
    MT.IDENTIFY, MT.GET_STATUS, MT.GET_DRUG, MT.SET_DRUG, MT.GET_SCHEDULE, MT.SET_SCHEDULE,
    MT.GET_LIMITS, MT.SET_LIMITS, MT.GET_ALARMS, MT.READ_LOG, MT.GET_CLOCK, MT.SET_TELEMETRY,
    MT.SESSION_CLOSE, MT.GET_DRUG_LIBRARY, MT.GET_DEVICE_LIMITS,
})
UNTRUSTED_CODES = frozenset({NakCode.NO_SESSION, NakCode.BAD_TAG})


class Verdict(enum.Enum):
    """What a frame read while a request is in flight is to the host."""

    ANSWER = "answer"  # the authentic answer to the request: done
    UNTRUSTED = "untrusted"  # untagged NO_SESSION / BAD_TAG: a hint; keep waiting
    LATE = "late"  # an answer to another seq (an earlier request or handshake): ignore
    INVALID = "invalid"  # wrong tag, wrong session, not a response: ignore and count


class Recovery(enum.Enum):
    """What to do after a request's fate became unknown."""

    REISSUE = "reissue"  # reopen the session and send the request again (new seq)
    READ_BACK = "read_back"  # reopen, but let the caller read the state before any repeat


@dataclasses.dataclass
class Exchange:
    """One request in flight: its seq, attempts made and what came back (see module doc).

    ``session`` is None for the handshake frames (their answers are untagged and not
    sequence-checked beyond the echoed seq).
    """

    request: MT
    seq: int
    session: HostSession | None
    retries: int
    attempts: int = 0
    deadline_ms: int = 0
    untrusted: dict[NakCode, int] = dataclasses.field(default_factory=dict)
    invalid: str | None = None

    def sent(self, now_ms: int, timeout_ms: int) -> None:
        """The request bytes were written (again) at ``now_ms``; wait until the deadline."""
        self.attempts += 1
        self.deadline_ms = now_ms + timeout_ms

    def on_timeout(self) -> bool:
        """The deadline passed without an answer: True to retransmit the identical bytes,
        False when the retries are used up."""
        return self.attempts <= self.retries

    @property
    def only_untrusted_no_session(self) -> bool:
        """True when nothing but untagged NO_SESSION hints came back (a pump restart, or a
        forger): the request's fate is unknown."""
        return bool(self.untrusted.get(NakCode.NO_SESSION)) and self.invalid is None

    def classify(self, frame: Frame) -> tuple[Verdict, str]:
        """Classify one response frame read while this request is in flight."""
        if frame.seq != self.seq:
            return Verdict.LATE, f"seq {frame.seq} != {self.seq}"
        if self.session is None:
            if frame.tag is not None or frame.session_id != 0:
                return self._invalid(frame, "tagged answer to a handshake frame")
            return Verdict.ANSWER, ""
        if frame.tag is None and frame.msg_type == MT.NAK and frame.fields \
                and frame.fields.get("code") in UNTRUSTED_CODES:
            code = NakCode(frame.fields["code"])
            self.untrusted[code] = self.untrusted.get(code, 0) + 1
            return Verdict.UNTRUSTED, f"untagged {code.name}"
        try:
            if frame.kind is not FrameKind.RESPONSE:
                raise ProtocolError(NakCode.INVALID_FIELD, "not a response frame")
            self.session.check_response(frame, self.seq)
        except ProtocolError as exc:
            return self._invalid(frame, str(exc))
        return Verdict.ANSWER, ""

    def _invalid(self, frame: Frame, why: str) -> tuple[Verdict, str]:
        self.invalid = f"{frame.name} seq {frame.seq}: {why}"
        return Verdict.INVALID, self.invalid


def recovery(request: MT, may_have_reached_pump: bool) -> Recovery:
    """After a request's fate became unknown: REISSUE when sending it again cannot execute it
    twice (idempotent, or it provably never left the host), else READ_BACK."""
    if request in IDEMPOTENT or not may_have_reached_pump:
        return Recovery.REISSUE
    return Recovery.READ_BACK
