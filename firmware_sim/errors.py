"""Exceptions of the pump model."""
from __future__ import annotations

from .enums import RejectCode


class Rejected(Exception):
    """A program or command was refused; the pump state is unchanged.

    ``code`` is a :class:`RejectCode`, ``field`` names the offending argument/field (``""`` when
    the refusal is about the pump's state), ``reason`` is a human explanation.
    ``retry_after_ms`` > 0 when the same command will be accepted after that many ms of run
    time (MAX_CHANGES_REACHED), else 0.
    """

    def __init__(self, code: RejectCode, field: str, reason: str,
                 retry_after_ms: int = 0) -> None:
        super().__init__(f"{code.value} ({field}): {reason}")
        self.code = code
        self.field = field
        self.reason = reason
        self.retry_after_ms = retry_after_ms


class ProfileError(ValueError):
    """A device profile file is missing, unreadable or invalid; the message says which key."""
