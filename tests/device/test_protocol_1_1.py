"""Protocol 1.1 end to end, one test per item of the contract (PROTOCOL.md sections 1-16):
delivered volume reconciled from STATUS alone, the drug library on the wire, the soft-limit
flag on ACK, refill rules, refusals in the event log as typed records, 1.0/1.1 interop."""
from __future__ import annotations

import json
import pathlib

import pytest

from firmware_sim.device import VirtualPump, start_virtual_pump
from protocol import DEVELOPMENT_KEYS, HostSession, NakCode, Role
from protocol import MessageType as MT
from protocol.log_records import decode_record
from vocabulary import AckWarning, EventKind

from .host import RawHost, nak, ok, program

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def status(host: RawHost) -> dict:
    return ok(host.request(MT.GET_STATUS), MT.STATUS)


def log_entries(host: RawHost) -> list[dict]:
    out: list[dict] = []
    while True:
        page = ok(host.request(MT.READ_LOG, {"start_index": len(out), "count": 16}), MT.LOG_PAGE)
        out += page["entries"]
        if len(out) >= page["total_count"] or not page["entries"]:
            return out


def test_delivered_volume_reconciles_to_the_nanolitre_from_status_alone(
        vp: VirtualPump, clinician: RawHost) -> None:
    """The host predicts every counter from the previous STATUS and the documented rule."""
    program(clinician)  # 400,000 nL/day from 00:00, 600,000 nL/day from 08:00
    s1 = status(clinician)
    assert (s1["delivered_nl"], s1["delivered_since_refill_nl"]) == (0, 0)
    for delta in (1_234_567, 7_654_321, 999, 3 * HOUR_MS + 17):
        vp.advance(delta)
        s2 = status(clinician)
        assert s2["step_index"] == s1["step_index"]  # same step: one rate over the interval
        r = s1["rate_nl_per_day"]
        total = r * (s2["time_ms"] - s1["time_ms"]) + s1["basal_carry"]
        assert s2["delivered_nl"] - s1["delivered_nl"] == total // DAY_MS
        assert s2["basal_carry"] == total % DAY_MS
        assert s2["delivered_since_refill_nl"] - s1["delivered_since_refill_nl"] == total // DAY_MS
        s1 = s2
    # conservation from STATUS: what was filled = delivered + reservoir (nothing withdrawn yet)
    assert s1["delivered_nl"] + s1["reservoir_nl"] == 20_000_000


def test_today_counter_restarts_at_wall_midnight(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    vp.advance(DAY_MS - 1)
    before = status(clinician)
    assert before["delivered_today_nl"] == before["delivered_nl"] > 0
    vp.advance(1)
    at_midnight = status(clinician)
    assert at_midnight["delivered_today_nl"] == 0
    assert at_midnight["delivered_nl"] == before["delivered_nl"] + (
        600_000 * 1 + before["basal_carry"]) // DAY_MS
    vp.advance(HOUR_MS)
    later = status(clinician)
    assert later["delivered_today_nl"] == later["delivered_nl"] - at_midnight["delivered_nl"]


def test_since_refill_counter_and_refill_rules(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    vp.advance(DAY_MS)
    ok(clinician.request(MT.REFILL_BEGIN))
    ok(clinician.request(MT.REFILL_WITHDRAWN, {"withdrawn_nl": 19_000_000}))
    # withdrawn_nl is honoured: another volume than the one reported is refused
    r = nak(clinician.request(MT.REFILL_COMPLETE, {"withdrawn_nl": 18_000_000,
                                                   "filled_nl": 20_000_000,
                                                   "concentration_ug_per_ml": 10_000}))
    assert (r["code"], r["detail"]) == (NakCode.ALREADY_WITHDRAWN, "withdrawn_nl")
    ok(clinician.request(MT.REFILL_COMPLETE, {"withdrawn_nl": 19_000_000,
                                              "filled_nl": 20_000_000,
                                              "concentration_ug_per_ml": 10_000}),
       MT.REFILL_RESULT)
    s = status(clinician)
    assert s["delivered_since_refill_nl"] == 0 and s["delivered_nl"] > 0


def test_bridge_bolus_shows_its_end(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    vp.advance(DAY_MS)
    ok(clinician.request(MT.REFILL_BEGIN))
    ok(clinician.request(MT.REFILL_WITHDRAWN, {"withdrawn_nl": 19_500_000}))
    ok(clinician.request(MT.REFILL_COMPLETE, {"withdrawn_nl": 19_500_000,
                                              "filled_nl": 20_000_000,
                                              "concentration_ug_per_ml": 20_000}),
       MT.REFILL_RESULT)
    s = status(clinician)
    assert s["bolus_kind"] == 4  # BRIDGE
    need = s["bolus_remaining_nl"] * DAY_MS - s["basal_carry"]
    assert s["bolus_end_ms"] == s["time_ms"] + -(-need // s["rate_nl_per_day"])
    vp.advance(s["bolus_end_ms"] - s["time_ms"])
    assert status(clinician)["bolus_kind"] == 0  # the old drug has left: the bridge ended


def test_drug_library_over_the_wire(vp: VirtualPump, clinician: RawHost) -> None:
    lib = ok(clinician.request(MT.GET_DRUG_LIBRARY), MT.DRUG_LIBRARY)["drugs"]
    with vp.device.lock:
        model = vp.pump.drug_library()
    assert [d["drug_name"] for d in lib] == [d.name for d in model]
    morphine = next(d for d in lib if d["drug_name"] == "morphine")
    entry = next(d for d in model if d.name == "morphine")
    assert morphine["soft_daily_limit_ug"] == entry.soft_daily_limit_ug
    assert morphine["hard_daily_limit_ug"] == entry.hard_daily_limit_ug


def test_ack_warns_when_a_program_crosses_the_soft_limit(vp: VirtualPump,
                                                        clinician: RawHost) -> None:
    lib = ok(clinician.request(MT.GET_DRUG_LIBRARY), MT.DRUG_LIBRARY)["drugs"]
    morphine = next(d for d in lib if d["drug_name"] == "morphine")
    conc = 10_000  # ug/mL: 1 nL = 0.01 ug
    ack = ok(clinician.request(MT.SET_DRUG, {"drug_name": "Morphine",  # case-insensitive
                                             "concentration_ug_per_ml": conc}))
    assert ack["warnings"] == 0
    assert ok(clinician.request(MT.GET_DRUG), MT.DRUG)["drug_name"] == "morphine"
    soft_rate = morphine["soft_daily_limit_ug"] * 1_000_000 // conc  # nL/day at the soft limit
    under = ok(clinician.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
        {"start_minute": 0, "rate_nl_per_day": soft_rate}]}))
    assert under["warnings"] == 0
    over = ok(clinician.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
        {"start_minute": 0, "rate_nl_per_day": soft_rate + 1_000}]}))
    assert over["warnings"] == AckWarning.SOFT_LIMIT
    kinds = [e["kind"] for e in log_entries(clinician)]
    assert EventKind.SOFT_LIMIT_WARNING in kinds


def test_refusals_are_typed_records_in_the_event_log(vp: VirtualPump,
                                                     clinician: RawHost) -> None:
    program(clinician)
    r = nak(clinician.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
        {"start_minute": 0, "rate_nl_per_day": 1}]}))
    assert r["code"] == NakCode.RATE_OUT_OF_RANGE
    clinician.untagged(MT.GET_STATUS, None, seq=3)  # no session: unauthenticated refusals,
    clinician.untagged(MT.GET_STATUS, None, seq=4)  # summarised in one entry
    with vp.device.lock:
        vp.device.refusal_records.flush(0, force=True)  # end the summary window now
    entries = log_entries(clinician)
    refused = [decode_record(e["kind"], e) for e in entries if e["kind"] == EventKind.REFUSED]
    assert {"code": NakCode.RATE_OUT_OF_RANGE, "request_type": MT.SET_SCHEDULE,
            "role": Role.CLINICIAN, "count": 1} in refused
    assert {"code": NakCode.NO_SESSION, "request_type": MT.GET_STATUS, "role": 0,
            "count": 2} in refused
    for e in entries:  # every entry is numbers only, its meaning fixed by its kind
        assert set(e) == {"index", "time_ms", "kind", "subject", "value_a", "value_b", "value_c"}
    program_entry = next(e for e in entries if e["kind"] == EventKind.PROGRAM)
    lib = ok(clinician.request(MT.GET_DRUG_LIBRARY), MT.DRUG_LIBRARY)["drugs"]
    assert lib[program_entry["subject"]]["drug_name"] == "morphine"


def test_a_1_0_host_gets_1_0_layouts_from_a_1_1_pump(vp: VirtualPump, host: RawHost) -> None:
    ident = host.untagged(MT.IDENTIFY)  # the empty 1.0 IDENTIFY gets the 1.0 IDENTITY
    assert "protocol_minor" not in ident.fields
    assert host.untagged(MT.IDENTIFY, {"protocol_minor": 1}).fields["protocol_minor"] == 1
    old = HostSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN], protocol_minor=0)
    ch = ok(host.untagged(MT.SESSION_OPEN, old.open_fields()), MT.SESSION_CHALLENGE)
    old.accept(ok(host.untagged(MT.SESSION_PROOF, old.proof_fields(ch)), MT.SESSION_ACCEPTED))
    host.session = old
    st = host.request(MT.GET_STATUS)
    assert len(st.payload) == 56 and "delivered_nl" not in st.fields
    ack = host.request(MT.SET_CLOCK, {"wall_ms": 1_700_000_000_000})
    assert len(ack.payload) == 1
    page = host.request(MT.READ_LOG, {"start_index": 0, "count": 4})
    assert all("detail" in e for e in page.fields["entries"])
    limits = host.request(MT.GET_DEVICE_LIMITS)  # the first layout, without the step fields
    assert len(limits.payload) == 72 and "patient_lockout_step_ms" not in limits.fields


@pytest.mark.parametrize("minor", [0, 1])
def test_client_speaks_to_either_version(minor: int) -> None:
    from host_tools.client import PumpClient
    with start_virtual_pump() as p:
        with PumpClient(p.url) as client:
            client._minor = minor  # as after meeting a 1.0 pump
            client.reconnect()
            assert client.identify().protocol_minor == minor
            st = client.status()
            assert (st.delivered_nl is None) == (minor == 0)
            page = client.read_log(0, 4)
            assert all(e.detail for e in page.entries)
            assert all(bool(e.values) == bool(minor) for e in page.entries)


def test_device_limits_on_the_wire_are_the_profiles(vp: VirtualPump, clinician: RawHost) -> None:
    """GET_DEVICE_LIMITS answers with the ranges the model checks: on ip20 exactly the golden
    vector's fields (tests/vectors/device_limits.json)."""
    vector = pathlib.Path(__file__).parents[1] / "vectors" / "device_limits.json"
    expected = json.loads(vector.read_text())["fields"]
    assert ok(clinician.request(MT.GET_DEVICE_LIMITS), MT.DEVICE_LIMITS) == expected


def test_status_carries_the_clock_drift(vp: VirtualPump, clinician: RawHost) -> None:
    program(clinician)
    vp.advance(DAY_MS)
    s = status(clinician)
    assert (s["clock_drift_ppm"], s["clock_drift_ms"]) == (0, 0)  # ip20 has no drift
