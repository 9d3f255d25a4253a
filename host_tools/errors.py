"""Exceptions of the programmer side (PumpClient and every tool built on it).

Every failure a tool can meet talking to a pump is a :class:`PumpError`:

* :class:`ConnectionFailed` -- the link could not be opened, or it went away.
* :class:`AuthenticationFailed` -- the pump did not accept the role key (or backs off after
  repeated failures: ``retry_after_ms``), or the pump could not prove it knows the key.
* :class:`Refused` -- the pump understood the request and refused it: ``code`` (NakCode or the
  raw int when unknown), ``field`` (the offending field, "" when the refusal is about the pump's
  state) and ``reason`` (a sentence). Nothing changed on the pump.
* :class:`ResponseTimeout` -- no answer after every retransmission; the request may or may not
  have been executed (a retransmission of the same sequence number never executes twice).
* :class:`ProtocolViolation` -- an answer that breaks the protocol (bad tag, wrong sequence,
  undecodable payload, unexpected message) or a nak that says this client broke it.
"""
from __future__ import annotations

from protocol.enums import MessageType
from protocol.errors import NAK_DESCRIPTIONS, NakCode


class PumpError(Exception):
    """Base class of every programmer-side error."""


class ConnectionFailed(PumpError):
    """The link to the pump could not be opened, or was lost."""


class OutcomeUnknown(ConnectionFailed):
    """A request that is not idempotent may or may not have been executed (the session was
    lost, or only unauthenticated answers came back). The client has reopened the session when
    it could; read the pump's state before repeating the request."""


class AuthenticationFailed(PumpError):
    """The session handshake failed; ``retry_after_ms`` > 0 when the pump is backing off."""

    def __init__(self, message: str, retry_after_ms: int = 0) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class ResponseTimeout(PumpError):
    """No valid response after all retransmissions (``attempts`` sends of the same frame)."""

    def __init__(self, message: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class ProtocolViolation(PumpError):
    """A frame or nak that breaks the protocol (see the module documentation)."""

    def __init__(self, message: str, code: NakCode | int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _code_name(code: NakCode | int) -> str:
    return code.name if isinstance(code, NakCode) else f"0x{int(code):02X}"


class Refused(PumpError):
    """The pump refused a request: ``code``, ``field`` ("" when none) and ``reason``.

    ``request`` is the MessageType refused (or None). ``str()`` is one line such as
    ``SET_SCHEDULE refused: HARD_DAILY_LIMIT (steps): program would exceed ...``.
    """

    def __init__(self, code: NakCode | int, field: str, reason: str,
                 request: MessageType | int | None = None, retry_after_ms: int = 0) -> None:
        self.code = code
        self.field = field
        self.reason = reason
        self.request = request
        self.retry_after_ms = retry_after_ms
        what = request.name if isinstance(request, MessageType) else "request"
        where = f" ({field})" if field else ""
        super().__init__(f"{what} refused: {_code_name(code)}{where}: {reason}")


class Forbidden(Refused):
    """The session's role may not send this request (NAK FORBIDDEN_FOR_ROLE)."""


def refusal_from_nak(fields: dict, request: MessageType | int | None = None) -> Refused:
    """A :class:`Refused` built from the fields of a NAK frame.

    The NAK's ``detail`` is split into field and reason: ``"field: reason"`` gives both; a single
    word (``steps[1].start_minute``) is the field and the reason is the code's description; any
    other text is the reason.
    """
    raw = int(fields.get("code", 0))
    try:
        code: NakCode | int = NakCode(raw)
    except ValueError:
        code = raw
    detail = str(fields.get("detail", "")).strip()
    description = NAK_DESCRIPTIONS.get(code, "refused by the pump") if isinstance(code, NakCode) \
        else "refused by the pump"
    field, reason = "", description
    if ": " in detail:
        head, tail = detail.split(": ", 1)
        if head and " " not in head:
            field, reason = head, tail or description
        else:
            reason = detail
    elif detail and " " not in detail:
        field = detail
    elif detail:
        reason = detail
    cls = Forbidden if code == NakCode.FORBIDDEN_FOR_ROLE else Refused
    return cls(code, field, reason, request, int(fields.get("retry_after_ms", 0)))


__all__ = ["AuthenticationFailed", "ConnectionFailed", "Forbidden", "OutcomeUnknown", "ProtocolViolation",
           "PumpError", "Refused", "ResponseTimeout", "refusal_from_nak"]
