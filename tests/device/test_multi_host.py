"""Several hosts on one virtual pump: in turn, and at once with a session each."""
from __future__ import annotations

import pytest

from firmware_sim.device import start_virtual_pump
from host_tools.client import PumpClient
from host_tools.errors import ConnectionFailed, Refused
from protocol import Role


def test_hosts_connect_in_turn_without_waiting():
    with start_virtual_pump() as vp:
        for _ in range(5):
            with PumpClient(vp.url) as clinician:
                clinician.status()
            with PumpClient(vp.url, Role.PATIENT) as patient:  # right after the close
                patient.status()


def test_clinician_and_patient_at_once_each_with_its_own_session():
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as clinician, PumpClient(vp.url, Role.PATIENT) as patient:
            assert clinician.session_id != patient.session_id
            clinician.set_drug("morphine", 10_000)
            assert patient.status().state == clinician.status().state
            with pytest.raises(Refused):  # the patient's session keeps the patient's rights
                patient.set_drug("morphine", 1)
            assert clinician.drug().concentration_ug_per_ml == 10_000
            assert vp.hosts == 1


def test_alarm_events_reach_every_connected_host():
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as a, PumpClient(vp.url, Role.PATIENT) as b:
            a.set_drug("morphine", 10_000)
            a.set_schedule([(0, 1_000_000)])
            a.refill_begin()
            a.refill_withdrawn(0)
            a.refill_complete(0, 2_100_000, 10_000)
            a.start()
            a.next_event(0)
            b.next_event(0)  # both listen from now on
            vp.advance(3 * 3_600_000)  # below the 2 mL threshold after ~2.4 h
            assert a.next_event(2.0) is not None
            assert b.next_event(2.0) is not None


def test_hosts_1_keeps_the_point_to_point_rule():
    with start_virtual_pump(hosts=1) as vp:
        with PumpClient(vp.url):
            with pytest.raises(ConnectionFailed):
                PumpClient(vp.url, Role.PATIENT, retries=0).open()


def test_the_plugin_fixtures_work_together(pump_client, patient_client):
    pump_client.set_drug("morphine", 10_000)
    assert patient_client.status().state == pump_client.status().state


def test_a_restart_keeps_every_host_plugged_in():
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as clinician, PumpClient(vp.url, Role.PATIENT) as patient:
            clinician.set_drug("morphine", 10_000)
            vp.restart()
            clinician.reconnect()
            patient.reconnect()
            assert clinician.drug().concentration_ug_per_ml == 10_000
            assert patient.status().state is not None
            assert vp.hosts == 1


def test_a_host_that_closed_is_not_counted_even_before_its_server_notices():
    """A busy machine may schedule the pump's server thread for a closed host late: the host
    count (and the room for another host) follows the host's close at once, not the thread."""
    from hal import virtual_pair
    pump_end, host_end = virtual_pair("peer-close")
    assert not pump_end.peer_closed
    host_end.close()
    assert pump_end.peer_closed  # known before any read on the pump end
    pump_end.close()
    with start_virtual_pump() as vp:
        with PumpClient(vp.url) as first, PumpClient(vp.url, Role.PATIENT) as second:
            first.status()
            second.status()
            with vp._extra_lock:  # hold the server threads back from forgetting the host
                second.close()
                assert vp._open_extras() == 0
