"""Fixtures of the conformance kit: ``wire`` (a raw host with a clinician session) on the pump
under test (``--pump-url``; a fresh virtual pump when it is not given), keys from
``--pump-keys FILE`` (the public development keys by default; the option is declared by the
intrapump pytest plugin)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import hal
from protocol import DEVELOPMENT_KEYS, MessageType as MT, Role, TherapyState

from .wire import WireHost, ok


@pytest.fixture(scope="session")
def conformance_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of the pump under test (a virtual pump started here without --pump-url)."""
    url = request.config.getoption("--pump-url")
    if url:
        yield url
        return
    from firmware_sim.device import start_virtual_pump
    vp = start_virtual_pump()
    try:
        yield vp.url
    finally:
        vp.close()


@pytest.fixture(scope="session")
def conformance_keys(request: pytest.FixtureRequest) -> dict[Role, bytes]:
    """Role keys of the pump under test."""
    path = request.config.getoption("--pump-keys")
    if not path:
        return dict(DEVELOPMENT_KEYS)
    from protocol.keys import load_keys
    return load_keys(path)


def open_host(url: str, keys: dict[Role, bytes]) -> WireHost:
    """A raw host on ``url`` (retries while the pump re-plugs after the previous host)."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            return WireHost(hal.open(url), keys)
        except hal.LinkOpenError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@pytest.fixture
def bare(conformance_url: str, conformance_keys: dict[Role, bytes]) -> Iterator[WireHost]:
    """A raw host without a session."""
    host = open_host(conformance_url, conformance_keys)
    try:
        yield host
    finally:
        host.close()


@pytest.fixture
def wire(bare: WireHost) -> WireHost:
    """A raw host with an established clinician session."""
    ok(bare.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
    return bare


@pytest.fixture
def programmed(wire: WireHost) -> WireHost:
    """The pump programmed and running: morphine 10 mg/mL, 0.4-0.6 mL/day, 20 mL filled,
    patient boluses of 50 ug with a 1 h lockout (4 a day). Refills the pump each time."""
    steps = [{"start_minute": 0, "rate_nl_per_day": 400_000},
             {"start_minute": 480, "rate_nl_per_day": 600_000}]
    st = ok(wire.request(MT.GET_STATUS), MT.STATUS)
    if st.get("state") in (TherapyState.INFUSING, TherapyState.BOLUS):  # stop first
        wire.request(MT.CANCEL_BOLUS)
        wire.request(MT.STOP_THERAPY)
    if st.get("state") == TherapyState.REFILL:  # finish the refill a previous test began
        wire.request(MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0})
        ok(wire.request(MT.REFILL_COMPLETE, {"withdrawn_nl": 0, "filled_nl": 1_000_000,
                                             "concentration_ug_per_ml": 10_000}), MT.REFILL_RESULT)
    for mt, fields in [
            (MT.SET_DRUG, {"drug_name": "morphine", "concentration_ug_per_ml": 10_000}),
            (MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": steps}),
            (MT.REFILL_BEGIN, None),
            (MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0}),
            (MT.REFILL_COMPLETE, {"withdrawn_nl": 0, "filled_nl": 15_000_000,
                                  "concentration_ug_per_ml": 10_000}),
            (MT.SET_LIMITS, {"patient_bolus_dose_ug": 50, "patient_bolus_duration_ms": 600_000,
                             "patient_lockout_ms": 3_600_000, "patient_max_per_day": 4,
                             "low_reservoir_threshold_nl": 2_000_000}),
            (MT.START_THERAPY, None)]:
        r = wire.request(mt, fields)
        assert r.msg_type != MT.NAK or mt in (MT.REFILL_BEGIN, MT.REFILL_WITHDRAWN,
                                              MT.START_THERAPY), \
            f"setting up the pump: {mt.name} refused {r.fields}"
    assert status(wire)["state"] == TherapyState.INFUSING, "the pump did not start"
    return wire


def status(host: WireHost) -> dict[str, Any]:
    """GET_STATUS fields."""
    return ok(host.request(MT.GET_STATUS), MT.STATUS)
