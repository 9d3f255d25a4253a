"""A fixed, deterministic session (development keys, fixed nonces) for the golden vectors."""
from __future__ import annotations

from protocol import DEVELOPMENT_KEYS, HostSession, PumpSession, Role
from protocol.enums import MessageType as MT

UNTAGGED = {MT.IDENTIFY, MT.IDENTITY, MT.SESSION_OPEN, MT.SESSION_CHALLENGE, MT.SESSION_PROOF,
            MT.SESSION_ACCEPTED}
SESSION_ID = 0x1234ABCD
HOST_NONCE = bytes(range(16))
PUMP_NONCE = bytes(range(16, 32))


def vector_session() -> HostSession:
    """Established clinician HostSession with fixed nonces and session id."""
    host = HostSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN], HOST_NONCE)
    pump = PumpSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN], HOST_NONCE, SESSION_ID,
                       PUMP_NONCE)
    host.accept(pump.verify_proof(host.proof_fields(pump.challenge_fields())))
    return host
