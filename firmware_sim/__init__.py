"""intrapump pump model: an event-driven emulation of an implantable intrathecal drug pump.

Public API: :class:`Pump`, clocks, schedule types, :func:`load_profile`, :class:`Storage`,
:class:`Rejected` and the shared enumerations. ``firmware_sim.device`` (the protocol binding) is
the only module of this package that may import ``protocol`` or ``hal``.
"""
from .clock import Clock, ManualClock, ScaledClock
from .enums import (ALARM_PRIORITY, Alarm, AlarmPriority, BolusKind, DenialReason, RejectCode,
                    Role, TherapyState, Weekday)
from .errors import ProfileError, Rejected
from .profile import DAY_MS, DrugEntry, Profile, load_profile
from .pump import Pump
from .schedule import Plan, Schedule, Step, validate_schedule
from .status import (AlarmStatus, BolusStatus, PatientBolusConfig, PatientBolusResult,
                     PumpStatus)
from .storage import Event, Storage

__all__ = [
    "ALARM_PRIORITY", "Alarm", "AlarmPriority", "AlarmStatus", "BolusKind", "BolusStatus", "Clock",
    "DAY_MS", "DenialReason", "DrugEntry", "Event", "ManualClock", "PatientBolusConfig",
    "PatientBolusResult", "Plan",
    "Profile", "ProfileError", "Pump", "PumpStatus", "Rejected", "RejectCode", "Role",
    "ScaledClock", "Schedule", "Step", "Storage", "TherapyState", "Weekday", "load_profile",
    "validate_schedule",
]
