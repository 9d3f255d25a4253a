"""The device end to end through the in-process virtual pair: programming, alarms pushed as
events, telemetry, retransmission, power loss, and the PumpClient library on top."""
from __future__ import annotations

import hal
from firmware_sim import Alarm, TherapyState
from firmware_sim.device import VirtualPump, start_virtual_pump
from protocol import FrameKind, NakCode, Role
from protocol import MessageType as MT

from .conftest import snapshot
from .host import RawHost, nak, ok, program

import pytest

pytestmark = pytest.mark.requirement(
    "PRO-5", "PRO-4", "ALM-7", "PRO-7", "PER-2", "ALM-5", "SAF-6", "PRO-8")

DAY_MS = 86_400_000


def test_identify_needs_no_session(host: RawHost) -> None:
    f = ok(host.untagged(MT.IDENTIFY, seq=9), MT.IDENTITY)
    assert f["model"] == "IP-20" and f["protocol_version"] == 1
    assert f["reservoir_capacity_nl"] == 20_000_000


def test_programming_flow_reaches_the_model(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    st = ok(clinician.request(MT.GET_STATUS), MT.STATUS)
    assert st["state"] == TherapyState.INFUSING
    assert st["reservoir_nl"] == 20_000_000 and st["rate_nl_per_day"] == 400_000
    assert ok(clinician.request(MT.GET_DRUG), MT.DRUG) == {
        "drug_name": "morphine", "concentration_ug_per_ml": 10_000}
    sched = ok(clinician.request(MT.GET_SCHEDULE, {"weekday": 0xFF}), MT.SCHEDULE)
    assert [s["rate_nl_per_day"] for s in sched["steps"]] == [400_000, 600_000]
    assert ok(clinician.request(MT.GET_SCHEDULE, {"weekday": 0}), MT.SCHEDULE)["steps"] == []
    lim = ok(clinician.request(MT.GET_LIMITS), MT.LIMITS)
    assert lim["patient_bolus_dose_ug"] == 50 and lim["patient_max_per_day"] == 4
    granted = ok(clinician.request(MT.PATIENT_BOLUS), MT.PATIENT_BOLUS_RESULT)
    assert granted["granted"] == 1 and granted["volume_nl"] == 5_000
    assert granted["end_ms"] == 600_000 and granted["next_allowed_ms"] == 3_600_000
    denied = ok(clinician.request(MT.PATIENT_BOLUS), MT.PATIENT_BOLUS_RESULT)
    # lockout and a running bolus both deny: LOCKOUT wins and says when to try again
    assert denied["granted"] == 0 and denied["denial_reason"] == 1  # LOCKOUT
    assert denied["next_allowed_ms"] == 3_600_000
    with vp.device.lock:
        assert vp.pump.state is TherapyState.BOLUS
    vp.advance(DAY_MS)
    page = ok(clinician.request(MT.READ_LOG, {"start_index": 0, "count": 16}), MT.LOG_PAGE)
    assert page["total_count"] == vp.pump.storage.event_count()
    assert [e["index"] for e in page["entries"]] == list(range(16))
    clock = ok(clinician.request(MT.GET_CLOCK), MT.CLOCK)
    assert clock["time_ms"] == DAY_MS == clock["wall_ms"]
    ok(clinician.request(MT.SET_CLOCK, {"wall_ms": 5 * DAY_MS + 8 * 3_600_000}))
    st = ok(clinician.request(MT.GET_STATUS), MT.STATUS)
    assert st["time_ms"] == DAY_MS and st["wall_ms"] == 5 * DAY_MS + 8 * 3_600_000
    assert st["step_index"] == 1 and st["step_start_minute"] == 480


def test_model_refusals_become_naks_with_field(vp: VirtualPump, clinician: RawHost) -> None:
    r = nak(clinician.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
        {"start_minute": 0, "rate_nl_per_day": 100_000}]}))
    assert r["code"] == NakCode.NO_PROGRAM and r["request_type"] == MT.SET_SCHEDULE
    program(clinician)
    before = snapshot(vp)
    r = nak(clinician.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
        {"start_minute": 0, "rate_nl_per_day": 100_000},
        {"start_minute": 60, "rate_nl_per_day": 99_000_000}]}))
    assert r["code"] == NakCode.RATE_OUT_OF_RANGE and r["detail"] == "steps[1].rate_nl_per_day"
    r = nak(clinician.request(MT.SET_LIMITS, {
        "patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
        "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
        "low_reservoir_threshold_nl": 1}))
    assert r["code"] == NakCode.THRESHOLD_OUT_OF_RANGE
    assert r["detail"] == "low_reservoir_threshold_nl"
    r = nak(clinician.request(MT.CLINICIAN_BOLUS, {"volume_nl": 5, "dose_ug": 5,
                                                   "duration_ms": 600_000}))
    assert r["code"] == NakCode.INVALID_FIELD
    r = nak(clinician.request(MT.ACK_ALARM, {"alarm": Alarm.MOTOR_STALL}))
    assert r["code"] == NakCode.NO_SUCH_ALARM
    r = nak(clinician.request(MT.READ_LOG, {"start_index": 0, "count": 0}))
    assert r["code"] == NakCode.INVALID_FIELD and r["detail"] == "count"
    assert snapshot(vp) == before


def test_set_limits_is_all_or_nothing(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    before = snapshot(vp)
    r = nak(clinician.request(MT.SET_LIMITS, {
        "patient_bolus_dose_ug": 60, "patient_bolus_duration_ms": 600_000,
        "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
        "low_reservoir_threshold_nl": 99_000_000}))
    assert r["code"] == NakCode.THRESHOLD_OUT_OF_RANGE
    assert snapshot(vp) == before  # the valid patient-bolus part was not applied either


def test_alarm_is_pushed_without_a_request(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    vp.advance(60 * DAY_MS)  # 20 mL at ~0.47 mL/day: low reservoir, refill due, then empty
    raised = set()
    while len(raised) < 3:
        ev = ok(clinician.event(), MT.ALARM_EVENT)
        assert ev["raised"] == 1
        raised.add(Alarm(ev["alarm"]))
    assert raised == {Alarm.LOW_RESERVOIR, Alarm.REFILL_DUE, Alarm.EMPTY_RESERVOIR}
    assert ev["active_alarms"] == (1 << Alarm.LOW_RESERVOIR | 1 << Alarm.REFILL_DUE
                                   | 1 << Alarm.EMPTY_RESERVOIR)
    ok(clinician.request(MT.INJECT_FAULT, {"fault": 1, "action": 0, "value": 0}))
    ev = ok(clinician.event(), MT.ALARM_EVENT)
    assert ev["alarm"] == Alarm.MOTOR_STALL and ev["priority"] == 3


def test_status_telemetry(vp: VirtualPump, clinician: RawHost) -> None:
    r = nak(clinician.request(MT.SET_TELEMETRY, {"interval_ms": 5}))
    assert r["code"] == NakCode.INVALID_FIELD
    ok(clinician.request(MT.SET_TELEMETRY, {"interval_ms": 100}))
    first, second = clinician.event(), clinician.event()
    assert first.msg_type == second.msg_type == MT.STATUS_PUSH
    assert second.seq == first.seq + 1 and first.kind is FrameKind.EVENT
    ok(clinician.request(MT.SET_TELEMETRY, {"interval_ms": 0}))


def test_retransmission_is_answered_from_cache_never_executed_twice(
        vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    seq, data = clinician.build(MT.CLINICIAN_BOLUS, {"volume_nl": 10_000, "dose_ug": 0,
                                                     "duration_ms": 600_000})
    clinician.send(data)
    first = clinician.expect(seq)
    ok(first, MT.BOLUS_STARTED)
    after_first = snapshot(vp)
    for _ in range(3):
        clinician.send(data)
        again = clinician.expect(seq)
        assert again.raw == first.raw
    assert snapshot(vp) == after_first
    assert vp.device.stats.duplicates == 3
    with vp.device.lock:
        starts = [e for e in vp.pump.read_events(0, 1000)
                  if e.kind == "BOLUS_START" and e.details.get("bolus_kind") == "CLINICIAN"]
    assert len(starts) == 1


def test_restart_from_state_file(tmp_path) -> None:
    """A power loss drops the session; the pump comes back exactly as committed."""
    path = tmp_path / "pump.db"
    with start_virtual_pump(state_path=path) as vp:
        link = hal.open(vp.url)
        host = RawHost.on_link(link)
        ok(host.handshake(), MT.SESSION_ACCEPTED)
        program(host)
        vp.advance(3_600_000)
        before = ok(host.request(MT.GET_STATUS), MT.STATUS)
        vp.restart()
        seq, data = host.build(MT.GET_STATUS)
        host.send(data)
        lost = nak(host.response())
        assert lost["code"] == NakCode.NO_SESSION
        ok(host.handshake(), MT.SESSION_ACCEPTED)
        after = ok(host.request(MT.GET_STATUS), MT.STATUS)
        assert after == before
        link.close()


def test_a_new_host_can_connect_after_the_first_leaves(vp: VirtualPump) -> None:
    for _ in range(3):
        link = _connect(vp)
        host = RawHost.on_link(link)
        ok(host.handshake(Role.PATIENT), MT.SESSION_ACCEPTED)
        ok(host.request(MT.GET_STATUS), MT.STATUS)
        link.close()


def _connect(vp: VirtualPump) -> hal.Link:
    """Open the host end, waiting for the device to reopen its end after a previous host."""
    import time
    deadline = time.monotonic() + 5
    while True:
        try:
            return hal.open(vp.url)
        except hal.LinkOpenError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_fault_injection(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    assert nak(clinician.request(MT.INJECT_FAULT, {"fault": 99, "action": 0, "value": 0}))["code"] \
        == NakCode.UNKNOWN_FAULT
    assert nak(clinician.request(MT.INJECT_FAULT, {"fault": 5, "action": 0, "value": 0}))["code"] \
        == NakCode.FAULT_NOT_ACTIVE
    ok(clinician.request(MT.INJECT_FAULT, {"fault": 1, "action": 0, "value": 0}))  # motor stall
    assert ok(clinician.event(), MT.ALARM_EVENT)["alarm"] == Alarm.MOTOR_STALL
    assert ok(clinician.request(MT.GET_STATUS), MT.STATUS)["state"] == TherapyState.FAULT
    ok(clinician.request(MT.INJECT_FAULT, {"fault": 5, "action": 0, "value": 0}))  # the motor turns again
    cleared = ok(clinician.event(), MT.ALARM_EVENT)
    assert cleared["alarm"] == Alarm.MOTOR_STALL and cleared["raised"] == 0
    assert ok(clinician.request(MT.GET_STATUS), MT.STATUS)["state"] == TherapyState.STOPPED
    ok(clinician.request(MT.INJECT_FAULT, {"fault": 3, "action": 0, "value": 0}))  # battery at ERI: still running
    assert ok(clinician.event(), MT.ALARM_EVENT)["alarm"] == Alarm.BATTERY_ERI
    ok(clinician.request(MT.START_THERAPY))
    vp.advance(3_600_000)
    ok(clinician.request(MT.INJECT_FAULT, {"fault": 4, "action": 0, "value": 0}))  # end of service
    # the battery passes its reduced-battery level (minimum-rate safe mode) on the way down
    assert ok(clinician.event(), MT.ALARM_EVENT)["alarm"] == Alarm.REDUCED_BATTERY
    assert ok(clinician.event(), MT.ALARM_EVENT)["alarm"] == Alarm.END_OF_SERVICE
    st = ok(clinician.request(MT.GET_STATUS), MT.STATUS)
    assert st["state"] == TherapyState.END_OF_SERVICE and st["battery_percent"] == 0
    assert nak(clinician.request(MT.INJECT_FAULT, {"fault": 4, "action": 0, "value": 0}))["code"] == NakCode.INVALID_STATE
    ok(clinician.request(MT.INJECT_FAULT, {"fault": 2, "action": 0, "value": 0}))  # memory error
    assert ok(clinician.event(), MT.ALARM_EVENT)["alarm"] == Alarm.MEMORY_ERROR
    with vp.device.lock:
        st2 = vp.pump.status()
    assert st2.filled_nl == st2.delivered_nl + st2.reservoir_nl + st2.withdrawn_nl


def test_storage_failure_changes_nothing_and_raises_the_memory_alarm(
        vp: VirtualPump, clinician: RawHost, monkeypatch) -> None:
    import sqlite3
    program(clinician)
    before = snapshot(vp)
    storage = vp.pump.storage
    real_commit = storage.commit
    calls = []

    def failing_commit(*args, **kwargs):
        if not calls:
            calls.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(storage, "commit", failing_commit)
    r = nak(clinician.request(MT.SET_CLOCK, {"wall_ms": 999_999}))
    assert r["code"] == NakCode.STORAGE_ERROR
    with vp.device.lock:
        pump = vp.pump
        assert pump.wall_ms == before[0]["t_ms"] + before[0]["wall_offset_ms"]
        assert Alarm.MEMORY_ERROR in {a.alarm for a in pump.status().alarms}
        # a running therapy falls back to the minimum-rate safe mode; otherwise it stays stopped
        assert pump.state is TherapyState.STOPPED or (
            pump.state is TherapyState.INFUSING and pump.safe_mode == "MEMORY_ERROR")
        kinds = [e.kind for e in pump.read_events(before[1], 100)]
    assert "CLOCK_SET" not in kinds and "ALARM_RAISED" in kinds
    assert ok(clinician.event(), MT.ALARM_EVENT)["alarm"] == Alarm.MEMORY_ERROR


def test_device_without_a_thread_answers_fed_bytes() -> None:
    from firmware_sim import Pump, load_profile
    from firmware_sim.device import Device
    from protocol import StreamDecoder, encode_frame

    pump_end, host_end = hal.virtual_pair(timeout=1)
    with Device(Pump(load_profile("ip40")), pump_end, serial_number="IP40-1") as dev:
        dev.handle_bytes(b"\x00garbage" + encode_frame(MT.IDENTIFY, None, 4)[:7])
        dev.handle_bytes(encode_frame(MT.IDENTIFY, None, 4)[7:])
        frames = StreamDecoder().feed(host_end.read(4096))
        assert [f.name for f in frames] == ["IDENTITY"] and frames[0].seq == 4
        assert frames[0].fields["serial_number"] == "IP40-1"
        assert frames[0].fields["model"] == "IP-40"
        assert dev.stats.frames == 1 and dev.stats.responses == 1
        assert dev.stats.decoder.skipped_bytes >= 8
