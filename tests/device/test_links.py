"""The device on lossy links and in warped real time, and the PumpClient library against it."""
from __future__ import annotations

import pytest

import hal
from firmware_sim import Alarm, ScaledClock
from firmware_sim.device import start_virtual_pump
from protocol import DEVELOPMENT_KEYS, HostSession, Role, encode_frame
from protocol import MessageType as MT

from .host import PROGRAM, RawHost, ok

pytestmark = pytest.mark.requirement("SAF-6", "ALM-7")


def test_warped_live_run_pushes_alarms_without_requests() -> None:
    # 4 simulated days per real second; 2.5 mL at ~0.47 mL/day is low (2 mL) after ~1 day
    with start_virtual_pump(clock=ScaledClock(warp=4 * 86_400)) as vp:
        link = hal.open(vp.url)
        host = RawHost.on_link(link)
        ok(host.handshake(Role.PATIENT), MT.SESSION_ACCEPTED)
        with vp.device.lock:
            vp.pump.program_therapy("morphine", 10_000, _schedule())
            vp.pump.refill_begin()
            vp.pump.refill_withdrawn(0)
            vp.pump.refill_complete(2_500_000, 10_000)
            vp.pump.start()
        seen = set()
        while Alarm.LOW_RESERVOIR not in seen:
            ev = ok(host.event(timeout=10), MT.ALARM_EVENT)
            seen.add(Alarm(ev["alarm"]))
        with vp.device.lock:
            raised = [a.raised_ms for a in vp.pump.status().alarms
                      if a.alarm is Alarm.LOW_RESERVOIR]
        assert raised and raised[0] == ev["time_ms"]
        link.close()


def _schedule():
    from firmware_sim import Schedule
    return Schedule.daily([(0, 400_000), (480, 600_000)])


def test_retransmissions_over_a_lossy_link_execute_once() -> None:
    with start_virtual_pump(faults="drop=0.3,seed=5") as vp:
        link = hal.open(vp.url, faults="drop=0.2,seed=11")
        host = RawHost.on_link(link)

        def exchange(mt, fields=None):
            seq, data = host.build(mt, fields)
            for _ in range(40):
                host.send(data)
                if not host.no_response(0.05):
                    return host.expect(seq)
            raise AssertionError("the link lost every attempt")

        _lossy_handshake(host)
        for mt, fields in PROGRAM:
            assert exchange(mt, fields).msg_type != MT.NAK
        ok(exchange(MT.CLINICIAN_BOLUS, {"volume_nl": 10_000, "dose_ug": 0,
                                         "duration_ms": 600_000}), MT.BOLUS_STARTED)
        with vp.device.lock:
            events = vp.pump.read_events(0, 10_000)
        starts = [e for e in events if e.kind == "BOLUS_START"]
        refills = [e for e in events if e.kind == "REFILL_COMPLETE"]
        assert len(starts) == 1 and len(refills) == 1
        assert vp.device.stats.duplicates > 0  # some answers were lost and served again
        link.close()


def _retry(host: RawHost, data: bytes):
    """Send identical bytes until an answer comes back (handshake retransmission)."""
    for _ in range(60):
        host.send(data)
        if not host.no_response(0.05):
            return host.response()
    raise AssertionError("the link lost every attempt")


def _lossy_handshake(host: RawHost) -> None:
    hs = HostSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN])
    ch = ok(_retry(host, encode_frame(MT.SESSION_OPEN, hs.open_fields())), MT.SESSION_CHALLENGE)
    proof = encode_frame(MT.SESSION_PROOF, hs.proof_fields(ch))
    hs.accept(ok(_retry(host, proof), MT.SESSION_ACCEPTED))
    host.session = hs
    host.responses.clear()  # late copies of handshake answers


def test_pump_client_library_against_the_device() -> None:
    client_mod = pytest.importorskip("host_tools.client")
    errors = pytest.importorskip("host_tools.errors")
    with start_virtual_pump() as vp:
        with client_mod.PumpClient(vp.url, Role.CLINICIAN, timeout_s=1.0) as client:
            for mt, fields in PROGRAM:
                client.request(mt, fields)
            st = client.request(MT.GET_STATUS)
            assert st["state"] == 1 and st["reservoir_nl"] == 20_000_000
            with pytest.raises(errors.Refused) as exc:
                client.request(MT.SET_CLOCK, {"wall_ms": 10**18})
            assert exc.value.code == 0x31
