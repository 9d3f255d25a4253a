"""The project's shared vocabulary: every enumeration both the pump model and the protocol use,
declared once.

Imports nothing of the project (its own import-linter contract says so): the model
(``firmware_sim``), the protocol (``protocol``) and the programmer tools may all import it.
Values are the wire values (u8 unless PROTOCOL.md says otherwise).
"""
from __future__ import annotations

from .therapy import (ALARM_PRIORITY, Alarm, AlarmPriority, BolusKind, DenialReason,
                      DENIAL_PRECEDENCE, Role, TherapyState, Tone, Weekday)
from .records import AckWarning, EventKind

__all__ = ["ALARM_PRIORITY", "AckWarning", "Alarm", "AlarmPriority", "BolusKind",
           "DENIAL_PRECEDENCE", "DenialReason", "EventKind", "Role", "TherapyState", "Tone", "Weekday"]
