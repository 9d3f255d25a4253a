"""Fixtures: a virtual pump on its own virtual:// link, and raw hosts connected to it."""
from __future__ import annotations

from typing import Iterator

import pytest

import hal
from firmware_sim.device import VirtualPump, start_virtual_pump
from protocol import Role
from protocol import MessageType as MT

from .host import RawHost, ok


@pytest.fixture
def vp() -> Iterator[VirtualPump]:
    with start_virtual_pump() as pump:
        yield pump


@pytest.fixture
def host(vp: VirtualPump) -> Iterator[RawHost]:
    link = hal.open(vp.url)
    try:
        yield RawHost.on_link(link)
    finally:
        link.close()


@pytest.fixture
def clinician(host: RawHost) -> RawHost:
    ok(host.handshake(Role.CLINICIAN), MT.SESSION_ACCEPTED)
    return host


def snapshot(vp: VirtualPump) -> tuple[dict, int]:
    """The pump's persisted state and the number of event-log entries other than REFUSED ones
    (a refusal changes nothing but adds the entry that records it), read under the device
    lock."""
    with vp.device.lock:
        total = vp.pump.storage.event_count()
        events = vp.pump.read_events(0, total) if total else []
        return vp.pump.snapshot(), sum(1 for e in events if e.kind != "REFUSED")
