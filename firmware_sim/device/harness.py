"""An in-process virtual pump for tests and tools: model + storage + device on a virtual link.

    with start_virtual_pump() as vp:            # ManualClock at 0, ip20, in-memory store
        link = hal.open(vp.url)                 # the host end ("virtual://NAME")
        ...
        vp.advance(3_600_000)                   # one pump hour; alarms are pushed at once
        vp.restart()                            # power loss: rebuilt from the committed state

The device serves in a daemon thread. Code that touches ``vp.pump`` directly while the device
runs holds ``vp.device.lock`` (``vp.advance`` does).

Several hosts: ``vp.url`` takes hosts in turn (the pump end is reopened when a host leaves) and at
once, as a pump with a clinician programmer and a patient controller in range. A host that
connects while another is connected (or while the pump end is being reopened) gets a link of its
own, served by a further :class:`Device` on the same model: each host has its own session,
sequence numbers and telemetry, every host receives the alarm events, and all devices share one
lock (``vp.device.lock``) and one authentication back-off, in which each host is a sender of
its own (a guesser on one host never delays another). ``hosts=1`` turns this off (a second
host is refused, as on a point-to-point line).
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from types import TracebackType
from typing import Any, Mapping

import hal
from firmware_sim.clock import Clock, ManualClock
from firmware_sim.profile import Profile, load_profile
from firmware_sim.pump import Pump
from firmware_sim.storage import Storage
from protocol import DEVELOPMENT_KEYS, Role

from hal.faults import FaultInjector, parse_fault_spec
from hal.virtual import VirtualLink, accept_extra_hosts, refuse_extra_hosts

from .auth import profile_backoff

from .device import Device

log = logging.getLogger(__name__)


class VirtualPump:
    """A running virtual pump; see :func:`start_virtual_pump`."""

    def __init__(self, *, profile: str | Profile = "ip20", clock: Clock | None = None,
                 keys: Mapping[Role, bytes] | None = None, name: str | None = None,
                 state_path: str | os.PathLike[str] = ":memory:", faults: Any = None,
                 serial_number: str = "IP-000001", log_frames: bool = False,
                 hosts: int = 8, baud: int | None = None, **device_options: Any) -> None:
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
        self.max_hosts = hosts
        self.baud = baud
        self.lock = threading.RLock()
        self._limiter = self._new_limiter()
        self._senders = 0  # extra hosts are senders 1, 2, ... for the back-off accounts
        self._extra: dict[VirtualLink, tuple[Device, threading.Event, threading.Thread]] = {}
        self._extra_lock = threading.Lock()
        self.link: hal.Link = self._open_link()
        self.storage = Storage(self.storage_path)
        self.device = self._make_device(Pump(self.profile, self.storage, self.clock))
        self.device.start()
        if hosts > 1:
            accept_extra_hosts(self.name, self._serve_extra_host)

    @property
    def pump(self) -> Pump:
        """The pump model being served (replaced by :meth:`restart`)."""
        return self.device.pump

    def _open_link(self) -> hal.Link:
        options = {} if self.baud is None else {"baud": self.baud}
        return hal.open(self.url, end="pump", faults=self.faults, **options)

    def _reopen(self) -> hal.Link:
        self.link = self._open_link()
        return self.link

    def _new_limiter(self) -> Any:
        if "auth_limiter" in self.device_options:
            return self.device_options["auth_limiter"]
        # one per pump; each host is a sender of its own (PROTOCOL.md 4)
        return profile_backoff(self.profile)

    def _device_on(self, pump: Pump, link: hal.Link, reopen: Any, sender: int = 0) -> Device:
        options = {k: v for k, v in self.device_options.items() if k != "auth_limiter"}
        device = Device(pump, link, self.keys, serial_number=self.serial_number,
                        log_frames=self.log_frames, reopen=reopen, auth_limiter=self._limiter,
                        sender=sender, **options)
        device.lock = self.lock  # one model: every host's device takes the same lock
        return device

    def _make_device(self, pump: Pump) -> Device:
        return self._device_on(pump, self.link, self._reopen)

    @property
    def hosts(self) -> int:
        """Hosts connected right now through extra links (the pump end's own host not counted;
        a host that closed its end is not counted, even before its server thread noticed)."""
        with self._extra_lock:
            return self._open_extras()

    def _open_extras(self) -> int:
        """Extra links whose host end is still open (caller holds _extra_lock)."""
        return sum(1 for link in self._extra if not link.peer_closed)

    def _serve_extra_host(self, link: VirtualLink) -> None:
        """Serve a host that connected while another was connected (see the module docs)."""
        with self._extra_lock:
            if self._open_extras() + 1 >= self.max_hosts:
                log.warning("%s: refusing host %s: %d hosts connected", self.name, link.name,
                            self.max_hosts)
                link.close()
                return
            self._start_extra(link, self.pump)

    def _start_extra(self, link: VirtualLink, pump: Pump) -> None:
        """A device for ``link`` on ``pump``, serving in a thread (caller holds _extra_lock);
        each host is a sender of its own for the pump's back-off accounting."""
        served: hal.Link = link
        if self.faults is not None:
            plan = parse_fault_spec(self.faults) if isinstance(self.faults, str) else self.faults
            served = FaultInjector(link, plan)
        self._senders += 1
        device = self._device_on(pump, served, None, sender=self._senders)
        stop = threading.Event()
        thread = threading.Thread(target=self._run_extra, args=(link, device, stop),
                                  name=f"pump-device {link.name}", daemon=True)
        self._extra[link] = (device, stop, thread)
        thread.start()

    def _run_extra(self, link: VirtualLink, device: Device, stop: threading.Event) -> None:
        try:
            device.serve_forever(stop)
        finally:
            device.close()
            if not stop.is_set():  # the host left (stopped from here: the link is kept or closed)
                link.close()
                with self._extra_lock:
                    if self._extra.get(link, (None,))[0] is device:
                        del self._extra[link]
                log.info("%s: extra host on %s left", self.name, link.name)

    def _stop_extras(self, *, commit: bool, keep_links: bool = False) -> list[VirtualLink]:
        """Stop every extra device; returns their links, closed unless ``keep_links``."""
        with self._extra_lock:
            extras = list(self._extra.items())
            self._extra.clear()
        for link, (device, stop, _) in extras:
            device._final_commit = commit
            stop.set()
            if not keep_links:
                link.close()
        for _, (_, _, thread) in extras:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        return [link for link, _ in extras if not link.closed]

    def advance(self, delta_ms: int) -> None:
        """Move a ManualClock forward by ``delta_ms`` and run the pump to it now (events pushed
        to every connected host)."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the ManualClock (the clock is not manual)")
        with self.device.lock:
            self.clock.advance(delta_ms)
            self.device.run_pending()
            with self._extra_lock:
                extras = [device for device, _, _ in self._extra.values()]
            for device in extras:
                device.run_pending()

    def restart(self) -> None:
        """Power loss: the device and pump vanish without a final commit and are rebuilt from
        the state file (an in-memory store survives as the same object). Sessions are lost;
        the link stays plugged in."""
        kept = self._stop_extras(commit=False, keep_links=True)  # links stay plugged in
        self.device.stop(commit=False)
        self.device.close()
        self._limiter = self._new_limiter()
        if self.storage_path != ":memory:":
            self.storage.close()
            self.storage = Storage(self.storage_path)
        self.device = self._make_device(Pump(self.profile, self.storage, self.clock))
        self.device.start()
        with self._extra_lock:
            for link in kept:
                self._start_extra(link, self.device.pump)
        log.info("virtual pump %s restarted", self.name)

    def close(self) -> None:
        """Stop the device (state committed), close the link and the store."""
        refuse_extra_hosts(self.name)
        self._stop_extras(commit=True)
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
    ``hosts`` bounds the hosts connected at once (1: one at a time); ``baud`` paces the link
    like a serial line of that speed (10 bits per byte, both ways). Further options
    (``serial_number``, ``log_frames``, ``auth_limiter``, ``max_idle_s``) go to :class:`Device`.
    """
    return VirtualPump(profile=profile, clock=clock, keys=keys, name=name, state_path=state_path,
                       faults=faults, **options)
