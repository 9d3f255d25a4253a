"""A served pump that can be power-cycled and reset while its link stays up.

:class:`PumpHost` owns what outlives one power-on of the pump: the link (wrapped in a switchable
:class:`hal.FaultInjector`), the state file, the :class:`ControlClock`; and the present
:class:`~firmware_sim.device.Device`, run in its own thread. ``host.lock`` is held by every
control action; the device's own lock (``host.device.lock``) is taken inside it, so a control
action and the device's loop never touch the pump at the same time.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hal
from firmware_sim import Profile, Pump, Storage
from firmware_sim.device import Device
from hal import FaultInjector

from .clock import ControlClock

log = logging.getLogger(__name__)

MEMORY = ":memory:"


def _remove_store(path: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


class PumpHost:
    """One pump served on ``link`` with a :class:`ControlClock` (see the module documentation).

    ``state_path`` is a SQLite file or ":memory:"; ``device_options`` go to :class:`Device`
    (keys, serial_number, log_frames, reopen...). ``reopen_inner`` (optional) opens the bare
    link again when its host left (a virtual link): the new link is wrapped in a fault injector
    carrying on the plan in force. ``warp`` is the clock's starting warp factor
    (also the one a reset returns to).
    """

    def __init__(self, profile: Profile, link: hal.Link, *, state_path: str = MEMORY,
                 warp: float = 1.0, keys: Mapping[Any, bytes] | None = None,
                 reopen_inner: Callable[[], hal.Link] | None = None,
                 **device_options: Any) -> None:
        self.profile = profile
        self.injector: FaultInjector | None = link if isinstance(link, FaultInjector) else None
        self.link = link
        self.state_path = state_path
        self.initial_warp = warp
        self.keys = keys
        self.device_options = device_options
        if reopen_inner is not None:
            self.device_options["reopen"] = lambda: self._rewrap(reopen_inner())
        self.lock = threading.RLock()
        self.storage = Storage(state_path)
        self.clock = ControlClock(warp)
        pump = Pump(profile, self.storage, self.clock)
        self.clock.restart(pump.t_ms, warp)
        self.device = self._device(pump)
        self.power_cycles = 0
        self.resets = 0
        self._listeners: list[Callable[[str], None]] = []

    def _rewrap(self, inner: hal.Link) -> hal.Link:
        plan = self.injector.plan if self.injector is not None else None
        self.injector = FaultInjector(inner, plan)
        self.link = self.injector
        return self.injector

    def _device(self, pump: Pump) -> Device:
        return Device(pump, self.link, self.keys, **self.device_options)

    @property
    def pump(self) -> Pump:
        """The pump model being served now (a new object after a power cycle or reset)."""
        return self.device.pump

    def on_restart(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(why)`` after each power cycle or reset (with the lock held)."""
        self._listeners.append(listener)

    @contextmanager
    def locked(self) -> Iterator[Pump]:
        """Hold the host's and the device's locks; yields the pump to act on."""
        with self.lock:
            device = self.device
            with device.lock:
                yield device.pump

    def start(self) -> "PumpHost":
        """Serve the pump in the device's thread."""
        self.device.start()
        return self

    def run_pending(self) -> None:
        """Run the pump to its clock's now and push what that raised (after a clock move)."""
        with self.locked():
            self.device.run_pending()

    def power_cycle(self) -> Pump:
        """A power loss: the device stops without a last commit, and the pump is rebuilt from
        its state file (an in-memory store survives as the same object); sessions are lost, the
        link stays up. The clock keeps running, so the pump catches up from its last commit."""
        with self.lock:
            self.device.stop(commit=False)
            self.device.close()
            self.link = self.device.link  # a serial port may have been reopened
            if self.state_path != MEMORY:
                self.storage.close()
                self.storage = Storage(self.state_path)
            self.device = self._device(Pump(self.profile, self.storage, self.clock))
            self.power_cycles += 1
            self._notify("power cycle")
            self.device.start()
            log.warning("power cycle: pump restarted from its %s at run clock %d ms",
                        "state file" if self.state_path != MEMORY else "memory store",
                        self.pump.t_ms)
            return self.pump

    def reset(self) -> Pump:
        """Back to a fresh pump: the state is erased, the clock starts again at 0 with the
        starting warp factor, and the link faults are switched off."""
        with self.lock:
            self.device.stop(commit=False)
            self.device.close()
            self.link = self.device.link  # a serial port may have been reopened
            self.storage.close()
            if self.state_path != MEMORY:
                _remove_store(self.state_path)
            self.storage = Storage(self.state_path)
            self.clock.restart(0, self.initial_warp)
            if self.injector is not None:
                self.injector.clear()
            self.device = self._device(Pump(self.profile, self.storage, self.clock))
            self.resets += 1
            self._notify("reset")
            self.device.start()
            log.warning("reset: a fresh pump")
            return self.pump

    def _notify(self, why: str) -> None:
        for listener in self._listeners:
            listener(why)

    def close(self) -> None:
        """Stop serving (state committed) and close the store; the caller closes the link."""
        with self.lock:
            self.device.stop()
            self.device.close()
            st = self.pump.status()
            log.info("stopped at run clock %d ms: %s, reservoir %d nL, %d events; state %s",
                     st.time_ms, st.state.name, st.reservoir_nl, st.event_count,
                     "committed" if self.state_path != MEMORY else "discarded (in memory)")
            self.storage.close()

    def describe_store(self) -> str:
        """Where the state lives, for people."""
        return "in memory" if self.state_path == MEMORY else str(Path(self.state_path))
