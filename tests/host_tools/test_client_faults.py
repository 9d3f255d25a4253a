"""Every model fault raised and cleared while the pump runs, through PumpClient over a pty to a
pumpsim process; then the refill of the faulty pump shows the discrepancy the faults caused."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from host_tools.client import PumpClient
from host_tools.errors import Refused
from host_tools.simprocess import PumpsimProcess
from protocol import FAULT_WIRE, FaultKind, NakCode
from protocol.enums import TherapyState

pytestmark = pytest.mark.requirement("MEC-3", "MEC-1")

MEASURE = 0xFFFF_FFFF


def test_every_fault_raised_and_cleared_over_a_pty(tmp_path: Path) -> None:
    state = tmp_path / "pump.db"
    with PumpsimProcess(["--url", "pty", "--state", str(state), "--warp", "36000"],
                        tmp_path / "sim.log") as sim:
        with PumpClient(sim.device, timeout_s=2.0) as client:
            client.set_drug("morphine", 1_000)
            client.set_schedule([(0, 12_000_000)])
            client.refill_begin()
            client.refill_withdrawn(0)
            client.refill_complete(0, 20_000_000, 1_000)
            client.start()
            for kind in (FaultKind.OVER_INFUSION, FaultKind.UNDER_INFUSION,
                         FaultKind.OCCLUSION, FaultKind.LEAK, FaultKind.MOTOR_STALL,
                         FaultKind.MRI_EXPOSURE, FaultKind.REDUCED_BATTERY,
                         FaultKind.MEMORY_ERROR):
                # timed faults last long enough (warped) to be cleared by hand
                client.inject_fault(kind, 86_400_000 if kind is FaultKind.MRI_EXPOSURE else None)
                with pytest.raises(Refused) as e:  # a clear of another, inactive fault
                    client.inject_fault("leak" if kind is not FaultKind.LEAK else "occlusion",
                                        clear=True)
                assert e.value.code == NakCode.FAULT_NOT_ACTIVE
                client.inject_fault(FAULT_WIRE[kind].model_name, clear=True)
                if client.status().state is not TherapyState.INFUSING:
                    for a in client.alarms():
                        client.ack_alarm(a.alarm)
                    if client.status().state is TherapyState.STOPPED:
                        client.start()
            with pytest.raises(Refused) as e:
                client.inject_fault(FaultKind.LEAK, 101)
            assert e.value.code == NakCode.FAULT_PARAM_OUT_OF_RANGE
            # a total occlusion the pump cannot see, then the refill shows it
            client.inject_fault("occlusion", 100)
            before = client.status().reservoir_nl
            deadline = time.monotonic() + 30
            while client.status().reservoir_nl > before - 5_000_000:  # 10 h pass each second
                assert time.monotonic() < deadline, "the warped pump did not deliver"
                time.sleep(0.05)
            client.refill_begin()
            client.refill_withdrawn(MEASURE)  # the emulator's syringe draws the true volume
            names = {a.alarm.name for a in client.alarms()}
            assert "REFILL_DISCREPANCY" in names
