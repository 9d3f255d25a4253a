"""PROTOCOL.md section 4, authentication back-off: after 3 failed authentications within 60 s
SESSION_OPEN is refused with RATE_LIMITED and a retry_after_ms; a handshake after that time
succeeds. Runs last (the back-off holds the pump for a few seconds)."""
from __future__ import annotations

import os
import time

import pytest

from protocol import MessageType as MT, NakCode, Role

from .wire import WireHost, nak, ok

pytestmark = pytest.mark.requirement("SEC-6")


def test_back_off_after_three_failures(bare: WireHost) -> None:
    codes = []
    for _ in range(4):
        r = bare.handshake(Role.CLINICIAN, key=os.urandom(32))
        codes.append(NakCode(r.fields["code"]).name)
        if r.fields["code"] == NakCode.RATE_LIMITED:
            break
    assert codes[-1] == "RATE_LIMITED", f"no back-off after failed proofs: {codes}"
    wait = nak(r, NakCode.RATE_LIMITED)["retry_after_ms"]
    assert 0 < wait <= 300_000
    time.sleep(wait / 1000 + 0.1)
    ok(bare.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
