"""What the device does when its store refuses a commit: what the model changed in memory
is not stored, so it goes back to the last committed state (a NAK has no side effect) and
stops delivery there with the memory alarm."""
from __future__ import annotations

import logging

from firmware_sim.pump import Pump

log = logging.getLogger("firmware_sim.device.device")


def reload_committed(old: Pump) -> Pump:
    """A pump on the last committed state of ``old``'s store (``old`` itself if even the
    store cannot be read)."""
    try:
        return Pump(old.profile, old.storage, old.clock)
    except Exception:  # noqa: BLE001 - the store cannot even be read
        log.exception("cannot reload the committed state")
        return old


def raise_memory_error(pump: Pump, why: str) -> None:
    """Stop delivery with the memory alarm; if that cannot be stored, it stays in memory."""
    try:
        pump.inject_memory_error(f"storage failed: {why}")
    except Exception:  # noqa: BLE001 - the alarm stays in memory
        log.exception("could not store the memory error")
