"""Which role may send which request, and which requests need no session."""
from __future__ import annotations

from .enums import MessageType as MT
from .enums import Role

# Requests accepted without a session (untagged, session_id 0 in the header).
NO_SESSION_REQUESTS: frozenset[MT] = frozenset({MT.IDENTIFY, MT.SESSION_OPEN, MT.SESSION_PROOF})

_BOTH = frozenset({Role.CLINICIAN, Role.PATIENT})
_CLIN = frozenset({Role.CLINICIAN})

# Request -> roles allowed to send it inside a session. Patient: read-only views, own bolus,
# alarm list/acknowledge, telemetry. Clinician: everything.
ROLE_PERMISSIONS: dict[MT, frozenset[Role]] = {
    MT.IDENTIFY: _BOTH,
    MT.SESSION_OPEN: _BOTH,
    MT.SESSION_PROOF: _BOTH,
    MT.SESSION_CLOSE: _BOTH,
    MT.GET_STATUS: _BOTH,
    MT.GET_DRUG: _BOTH,
    MT.SET_DRUG: _CLIN,
    MT.GET_SCHEDULE: _BOTH,
    MT.SET_SCHEDULE: _CLIN,
    MT.GET_LIMITS: _BOTH,
    MT.GET_DRUG_LIBRARY: _BOTH,
    MT.GET_DEVICE_LIMITS: _BOTH,
    MT.SET_LIMITS: _CLIN,
    MT.START_THERAPY: _CLIN,
    MT.STOP_THERAPY: _CLIN,
    MT.CLINICIAN_BOLUS: _CLIN,
    MT.PATIENT_BOLUS: _BOTH,
    MT.CANCEL_BOLUS: _CLIN,
    MT.PRIMING_BOLUS: _CLIN,
    MT.REFILL_BEGIN: _CLIN,
    MT.REFILL_WITHDRAWN: _CLIN,
    MT.REFILL_COMPLETE: _CLIN,
    MT.GET_ALARMS: _BOTH,
    MT.ACK_ALARM: _BOTH,
    MT.READ_LOG: _BOTH,
    MT.ALARM_TEST: _CLIN,
    MT.GET_CLOCK: _BOTH,
    MT.SET_CLOCK: _CLIN,
    MT.SET_TELEMETRY: _BOTH,
    MT.INJECT_FAULT: _CLIN,
}


def is_allowed(role: int, msg_type: int) -> bool:
    """True if `role` may send request `msg_type` in a session (False for non-requests)."""
    roles = ROLE_PERMISSIONS.get(msg_type)  # type: ignore[call-overload]
    return roles is not None and role in roles
