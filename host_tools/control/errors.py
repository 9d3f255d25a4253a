"""Errors of the control plane: each carries the HTTP status it is answered with."""
from __future__ import annotations


class ControlError(Exception):
    """A control request refused with ``status`` (400 bad input, 403 not allowed, 404 unknown
    name, 409 not possible in the pump's present state) and a specific ``message``; nothing
    was changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ControlError:
    """400: the request itself is wrong."""
    return ControlError(400, message)


def not_found(message: str) -> ControlError:
    """404: no such fault, scenario or resource."""
    return ControlError(404, message)


def conflict(message: str) -> ControlError:
    """409: a well-formed request the pump cannot follow in its present state."""
    return ControlError(409, message)
