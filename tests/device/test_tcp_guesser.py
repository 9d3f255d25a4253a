"""A host without a key cannot hold the pump's only TCP connection: the pump end gives way to
a newcomer when the connected host has proved no key within ``prove_within`` of connecting,
however much it sends (before, any host that kept sending kept everyone else out)."""
from __future__ import annotations

import os
import threading
import time

from firmware_sim import Pump, load_profile
from firmware_sim.device import Device
from hal.tcp import TcpListenLink
from host_tools.client import PumpClient
from protocol import DEVELOPMENT_KEYS, NakCode, Role
from protocol.backoff import AuthBackoff

from .host import RawHost
from .proc import TcpBytes


def _guess_until(url: str, stop: threading.Event, verdicts: list[int]) -> None:
    """Wrong proofs, one after another, until the pump end drops the connection."""
    link = TcpBytes(url)
    host = RawHost(link.read, link.write)
    try:
        while not stop.is_set():
            answer = host.handshake(Role.CLINICIAN, key=os.urandom(32))
            verdicts.append(answer.fields["code"])
    except (EOFError, OSError, TimeoutError):
        pass  # given way to the key holder


def test_a_guesser_on_the_only_tcp_connection_gives_way_to_the_key_holder() -> None:
    link = TcpListenLink("127.0.0.1", 0, timeout=0.05, prove_within=0.3)
    url = f"socket://127.0.0.1:{link.bound_address[1]}"
    # a quick short budget so the key holder's wait behind the guesses stays short here
    backoff = AuthBackoff(burst_period_ms=100, budget=10_000)
    device = Device(Pump(load_profile("ip20")), link, DEVELOPMENT_KEYS, auth_limiter=backoff)
    device.start()
    stop, verdicts = threading.Event(), []
    guesser = threading.Thread(target=_guess_until, args=(url, stop, verdicts), daemon=True)
    try:
        guesser.start()
        time.sleep(0.6)  # guessing all along: busy, but unproven past prove_within
        with PumpClient(url, retries=10) as holder:
            assert holder.status().state is not None
        assert NakCode.AUTH_FAILED in verdicts and device.stats.sessions == 1
        assert link.connections == 2
    finally:
        stop.set()
        device.stop(close_link=True)
        guesser.join(5)
