"""An in-process virtual pump for tests and tools: model + storage + device on a virtual link.

    with start_virtual_pump() as vp:            # ManualClock at 0, ip20, in-memory store
        link = hal.open(vp.url)                 # the host end ("virtual://NAME")
        ...
        vp.advance(3_600_000)                   # one pump hour; alarms are pushed at once
        vp.restart()                            # power loss: rebuilt from the committed state

The device serves in a daemon thread. Code that touches ``vp.pump`` directly while the device
runs holds ``vp.device.lock`` (``vp.advance`` does).
"""
from __future__ import annotations

import logging
import os
import uuid
from types import TracebackType
from typing import Any, Mapping

import hal
from firmware_sim.clock import Clock, ManualClock
from firmware_sim.profile import Profile, load_profile
from firmware_sim.pump import Pump
from firmware_sim.storage import Storage
from protocol import DEVELOPMENT_KEYS, Role

from .device import Device

log = logging.getLogger(__name__)


class VirtualPump:
    """A running virtual pump; see :func:`start_virtual_pump`."""

    def __init__(self, *, profile: str | Profile = "ip20", clock: Clock | None = None,
                 keys: Mapping[Role, bytes] | None = None, name: str | None = None,
                 state_path: str | os.PathLike[str] = ":memory:", faults: Any = None,
                 serial_number: str = "IP-000001", log_frames: bool = False,
                 **device_options: Any) -> None:
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.clock: Clock = clock if clock is not None else ManualClock(0)
        self.keys: dict[Role, bytes] = dict(keys if keys is not None else DEVELOPMENT_KEYS)
        self.name = name or f"pump-{uuid.uuid4().hex[:12]}"
        self.url = f"virtual://{self.name}"
        self.storage_path = str(state_path)
        self.faults = faults
        self.serial_number = serial_number
        self.log_frames = log_frames
        self.device_options = device_options
        self.link: hal.Link = self._open_link()
        self.storage = Storage(self.storage_path)
        self.device = self._make_device(Pump(self.profile, self.storage, self.clock))
        self.device.start()

    @property
    def pump(self) -> Pump:
        """The pump model being served (replaced by :meth:`restart`)."""
        return self.device.pump

    def _open_link(self) -> hal.Link:
        return hal.open(self.url, end="pump", faults=self.faults)

    def _reopen(self) -> hal.Link:
        self.link = self._open_link()
        return self.link

    def _make_device(self, pump: Pump) -> Device:
        return Device(pump, self.link, self.keys, serial_number=self.serial_number,
                      log_frames=self.log_frames, reopen=self._reopen, **self.device_options)

    def advance(self, delta_ms: int) -> None:
        """Move a ManualClock forward by ``delta_ms`` and run the pump to it now (events pushed)."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the ManualClock (the clock is not manual)")
        with self.device.lock:
            self.clock.advance(delta_ms)
            self.device.run_pending()

    def restart(self) -> None:
        """Power loss: the device and pump vanish without a final commit and are rebuilt from
        the state file (an in-memory store survives as the same object). Sessions are lost;
        the link stays plugged in."""
        self.device.stop(commit=False)
        self.device.close()
        if self.storage_path != ":memory:":
            self.storage.close()
            self.storage = Storage(self.storage_path)
        self.device = self._make_device(Pump(self.profile, self.storage, self.clock))
        self.device.start()
        log.info("virtual pump %s restarted", self.name)

    def close(self) -> None:
        """Stop the device (state committed), close the link and the store."""
        self.device.stop(close_link=True)
        self.device.close()
        self.link.close()
        self.storage.close()

    def __enter__(self) -> "VirtualPump":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def start_virtual_pump(*, profile: str | Profile = "ip20", clock: Clock | None = None,
                       keys: Mapping[Role, bytes] | None = None, name: str | None = None,
                       state_path: str | os.PathLike[str] = ":memory:", faults: Any = None,
                       **options: Any) -> VirtualPump:
    """Start a pump served on ``virtual://NAME`` (a unique name by default) and return it.

    ``clock`` defaults to ``ManualClock(0)``; ``keys`` to the development keys; ``faults`` (a
    spec string like ``"drop=0.01,seed=7"`` or a hal FaultPlan) applies to what the pump sends.
    Further options (``serial_number``, ``log_frames``, ``auth_limiter``, ``max_idle_s``) go
    to :class:`Device`.
    """
    return VirtualPump(profile=profile, clock=clock, keys=keys, name=name, state_path=state_path,
                       faults=faults, **options)
