"""Exceptions of the pump model."""
from __future__ import annotations

from .enums import RejectCode


class Rejected(Exception):
    """A program or command was refused; the pump state is unchanged.

    ``code`` is a :class:`RejectCode`, ``field`` names the offending argument/field (``""`` when
    the refusal is about the pump's state), ``reason`` is a human explanation.
    """

    def __init__(self, code: RejectCode, field: str, reason: str) -> None:
        super().__init__(f"{code.value} ({field}): {reason}")
        self.code = code
        self.field = field
        self.reason = reason


class ProfileError(ValueError):
    """A device profile file is missing, unreadable or invalid; the message says which key."""
