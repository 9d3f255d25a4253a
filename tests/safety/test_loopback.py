"""The safety machine's synchronous loopback: the real device, served in the caller's thread."""
from __future__ import annotations

import os
import threading

import pytest

from firmware_sim import ManualClock, load_profile
from host_tools.client import PumpClient
from host_tools.errors import Refused
from host_tools.safety.loopback import LoopbackPump
from protocol import AuthLimiter

pytestmark = pytest.mark.requirement("SAF-9")


@pytest.fixture
def pump(tmp_path):
    vp = LoopbackPump(profile=load_profile("ip20"), clock=ManualClock(0),
                      state_path=str(tmp_path / "pump.db"),
                      auth_limiter=AuthLimiter(max_failures=1_000_000))
    yield vp
    vp.close()


def test_answers_in_the_callers_thread(pump: LoopbackPump) -> None:
    """A session, a command, a refusal and an alarm pushed by a clock move, without any thread."""
    threads = threading.active_count()
    client = PumpClient(pump.host, timeout_s=2.0, retries=0)
    client.open()
    client.set_drug("morphine", 10_000)
    with pytest.raises(Refused):
        client.start()  # no schedule, no fill
    assert client.drug().name == "morphine"
    assert threading.active_count() == threads
    assert [e.kind for e in pump.pump.read_events(0, 100)].count("PROGRAM") == 1
    client.close()


def test_power_loss_reads_the_committed_store_from_its_file(pump: LoopbackPump) -> None:
    """The store is in memory until the first power loss; the restart rebuilds the pump from
    the state file, with every committed change and log entry."""
    client = PumpClient(pump.host, timeout_s=2.0, retries=0)
    client.open()
    client.set_drug("morphine", 10_000)
    pump.advance(3_600_000)
    before = pump.pump.snapshot()
    log = pump.pump.read_events(0, 1_000)
    assert pump.storage.path == ":memory:"
    pump.restart()
    assert pump.storage.path == pump.storage_path and os.path.getsize(pump.storage_path) > 0
    assert pump.pump.snapshot() == before
    assert pump.pump.read_events(0, 1_000)[:len(log)] == log
    client.reconnect()  # the session died with the device
    assert client.drug().name == "morphine"
    pump.restart()  # and again, from the file
    assert pump.pump.snapshot() == before
    client.close()
