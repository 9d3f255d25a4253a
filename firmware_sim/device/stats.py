"""Counters of the virtual pump's device loop (what it decoded, answered and refused)."""
from __future__ import annotations

import collections
import dataclasses

from protocol import DecoderStats


@dataclasses.dataclass
class DeviceStats:
    """What the device did (counters only grow)."""

    frames: int = 0  # CRC-valid frames decoded
    requests: int = 0  # request frames handled
    executed: int = 0  # requests executed (model, session or read) and answered with success
    duplicates: int = 0  # retransmissions answered from the cache, not executed
    ignored: int = 0  # frames that were not requests
    responses: int = 0  # response frames written
    events: int = 0  # event frames written (ALARM_EVENT, STATUS_PUSH)
    naks: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    sessions: int = 0  # sessions established
    auth_failures: int = 0  # failed SESSION_OPEN / SESSION_PROOF
    ticks: int = 0  # model clock advances
    write_errors: int = 0  # responses/events the link refused
    reconnects: int = 0  # links reopened or hosts changed (sessions dropped)
    decoder: DecoderStats = dataclasses.field(default_factory=DecoderStats)
