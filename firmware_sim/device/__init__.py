"""The virtual pump device: the pump model served over the protocol on any hal link.

``Device(pump, link, keys=None, *, serial_number=..., log_frames=False)`` decodes frames,
checks sessions, roles and sequence numbers, dispatches to the model and answers; see
:mod:`firmware_sim.device.device`. :func:`start_virtual_pump` runs one in-process on a virtual
link (:mod:`firmware_sim.device.harness`). This package is the only part of ``firmware_sim``
that imports ``protocol`` and ``hal``.
"""
from .codes import LOG_KINDS, nak_code
from .device import Device, DeviceStats, next_event_ms
from .handlers import Dispatcher, Refusal
from .harness import VirtualPump, start_virtual_pump

__all__ = [
    "Device", "DeviceStats", "Dispatcher", "LOG_KINDS",
    "Refusal", "VirtualPump", "nak_code", "next_event_ms", "start_virtual_pump",
]
