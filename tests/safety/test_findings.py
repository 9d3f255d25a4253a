"""Bugs the safety machine found, kept as whole-stack regression tests (PumpClient -> device)."""
from __future__ import annotations

import pytest

from firmware_sim.device import start_virtual_pump
from host_tools.client import PumpClient
from host_tools.errors import Refused
from protocol import NakCode, Weekday

pytestmark = pytest.mark.requirement("LIM-1", "SAF-6", "SAF-14")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TUESDAY = [(0, 16_129_032), (203, 1_920_000), (295, 2_719_800), (382, 16_129_032),
           (446, 6_718_080), (823, 1_920_000)]  # 5.86 mL in its largest 24 h window


def test_program_over_the_hard_limit_is_refused_after_another_program_ran() -> None:
    """A new drug whose schedule's largest 24 h window exceeds its hard daily limit was
    accepted when the pump had run another program in the last 24 h (only windows containing
    "now" were bounded); 29,354 ug of hydromorphone (hard limit 15,000 ug) then ran on the next
    Tuesday."""
    with start_virtual_pump() as vp, PumpClient(vp.url) as client:
        client.set_drug("morphine", 1_860)
        client.set_schedule([(0, 48_000)])
        client.refill_begin()
        client.refill_withdrawn(0)
        client.refill_complete(0, 20_000_000, 1_860)
        client.start()
        vp.advance(HOUR_MS)
        client.set_schedule(TUESDAY, Weekday.TUESDAY)  # 5.86 mL x 1,860 ug/mL: within 30,000 ug
        vp.advance(HOUR_MS)
        with pytest.raises(Refused) as refused:
            client.set_drug("hydromorphone", 5_010)    # 5.86 mL x 5,010 ug/mL > 15,000 ug
        assert refused.value.code == NakCode.HARD_DAILY_LIMIT
        with vp.device.lock:
            assert vp.pump.drug_name == "morphine"


def test_a_stray_no_session_answer_does_not_make_the_client_send_again() -> None:
    """The pump answers a frame of an unknown session (another programmer's, an attacker's, a
    corrupted one) with an untagged NAK NO_SESSION carrying *that* frame's seq. The client took
    any such NAK for the loss of its own session: it reconnected and sent its request again
    although the pump had executed it (the second START was then refused, so the client
    reported a refusal for a command that had run), or aborted its next handshake."""
    from hal import open as hal_open
    from protocol import DEVELOPMENT_KEYS, FrameKind, HostSession, MessageType as MT, Role
    from protocol import encode_frame

    with start_virtual_pump() as vp:
        link = hal_open(vp.url, timeout=1.0)
        try:
            with PumpClient(link, timeout_s=1.0, retries=1) as client:
                client.set_drug("morphine", 10_000)
                client.refill_begin()
                client.refill_withdrawn(0)
                client.refill_complete(0, 10_000_000, 10_000)
                stranger = HostSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN])
                stranger.session_id, stranger._key = 0x5151_5151, b"k" * 32
                link.write(encode_frame(MT.GET_STATUS, None, 77, FrameKind.REQUEST,
                                        session=stranger))
                first = vp.pump.storage.event_count()
                client.start()  # must simply succeed, once
                events = [e.kind for e in vp.pump.read_events(first, 1000)]
                assert client.status().state.name == "INFUSING"
            assert events.count("STATE") == 1
        finally:
            link.close()


def test_a_new_drug_with_a_shorter_dose_window_ends_the_old_window_at_once() -> None:
    """A program change from morphine (4 h window) to hydromorphone (1 h window, 150 ug) 2 h
    into a window left that window open, now over, until the clock next moved: one 10 h step then
    ran the full schedule for 10 h, 2,000 ug of hydromorphone, with no window limit at all (the
    window ended at the end of the step instead of at the change)."""
    from host_tools.safety.device_profiles import device_profile
    with start_virtual_pump(profile=device_profile("ip20+windows")) as vp, \
            PumpClient(vp.url) as client:
        client.set_drug("morphine", 10_000)
        client.set_schedule([(0, 480_000)])  # 200 ug an hour
        client.refill_begin()
        client.refill_withdrawn(0)
        client.refill_complete(0, 20_000_000, 10_000)
        client.start()
        vp.advance(2 * HOUR_MS)
        client.set_drug("hydromorphone", 10_000)
        vp.advance(10 * HOUR_MS)
        with vp.device.lock:
            limits = [e.time_ms for e in vp.pump.read_events(0, 10_000)
                      if e.kind == "DOSE_WINDOW_LIMIT"]
        # 150 ug at 200 ug an hour: 45 min into each hourly window from the change on
        assert limits == [2 * HOUR_MS + 45 * 60_000 + k * HOUR_MS for k in range(10)]
