"""A controlled pump in this process: PumpHost on a virtual pair, its Controller and app."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

import hal
from firmware_sim import load_profile
from host_tools.control.app import create_app
from host_tools.control.controller import Controller
from host_tools.control.host import PumpHost


@dataclass
class Controlled:
    """The pieces of one controlled pump under test."""

    host: PumpHost
    controller: Controller
    api: TestClient
    host_link: hal.Link  # the programmer's end of the clinical link


def make_controlled(tmp_path=None, *, allow_reset: bool = True, token: str | None = None,
                    warp: float = 1.0) -> Controlled:
    """A started PumpHost (state in a file under tmp_path, else in memory)."""
    pump_end, host_end = hal.virtual_pair()
    state = str(tmp_path / "pump.db") if tmp_path is not None else ":memory:"
    host = PumpHost(load_profile("ip20"), hal.FaultInjector(pump_end), state_path=state,
                    warp=warp, max_idle_s=0.05).start()
    host.clock.pause()  # tests move time by hand
    controller = Controller(host, allow_reset=allow_reset)
    api = TestClient(create_app(controller, token=token))
    return Controlled(host, controller, api, host_end)


def close_controlled(c: Controlled) -> None:
    c.api.close()
    c.host.close()
    c.host.link.close()
    c.host_link.close()


@pytest.fixture
def controlled(tmp_path) -> Iterator[Controlled]:
    """A controlled pump with a state file, clock paused, reset allowed."""
    c = make_controlled(tmp_path)
    yield c
    close_controlled(c)


def program(c: Controlled, rate_nl_per_day: int = 1_000_000, fill_nl: int = 20_000_000) -> None:
    """Morphine 10 mg/mL at a constant rate, reservoir filled, therapy started."""
    from firmware_sim import Schedule

    def setup(pump):
        pump.program_therapy("morphine", 10_000, Schedule.constant(rate_nl_per_day))
        pump.refill_begin()
        pump.refill_withdrawn(0)
        pump.refill_complete(fill_nl, 10_000)
        pump.start()
    c.controller.pump_call("set up therapy", setup)
