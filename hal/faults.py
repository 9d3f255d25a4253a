"""Fault injection around any link: drop, corrupt, duplicate, delay and fragment, seeded.

Units of each fault (all probabilities in [0, 1]):

* ``drop``      -- per chunk: the whole chunk is lost.
* ``corrupt``   -- per byte: the byte gets one random bit flipped (a noisy line's bit errors).
* ``duplicate`` -- per chunk: the chunk is delivered twice.
* ``delay``     -- per chunk: the chunk is held ``delay_ms`` milliseconds before delivery.
* ``fragment``  -- per chunk: the chunk is split at random points into 2..``max_fragments``
  pieces, each written (or returned) separately; the bytes themselves are unchanged.
* ``silent``    -- a switch, not a probability: every chunk is swallowed (a device that does not
  answer at all, or a cable pulled out); counted in ``stats.silenced``.

A "chunk" is one ``write()`` call on the transmit side, one ``read()`` result on the receive side.
``direction`` chooses where faults apply: ``tx`` (default: what this end writes), ``rx`` (what it
reads) or ``both``.  Drop is decided first, then corruption, duplication, fragmentation, delay.

The plan can be replaced while the link is in use (:meth:`FaultInjector.set_plan`,
:meth:`FaultInjector.update`, :meth:`FaultInjector.clear`), from any thread: each chunk is
handled entirely under the plan in force when it arrived.

Every decision comes from one ``random.Random(seed)``, so the same seed and the same traffic give
the same faults.  :attr:`FaultInjector.stats` counts what was done.

Specifications as text, for URLs and options: ``fault+virtual://p1?drop=0.01&corrupt=0.001&seed=7``
or ``faults="drop=0.01,corrupt=0.001,seed=7"``; :func:`parse_fault_spec` parses the latter.
"""

from __future__ import annotations

import logging
import dataclasses
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from hal.base import Link, WrapperLink
from hal.errors import FaultSpecError

_log = logging.getLogger(__name__)

_PROBABILITIES = ("drop", "corrupt", "duplicate", "delay", "fragment")
_DIRECTIONS = ("tx", "rx", "both")


@dataclass(frozen=True)
class FaultPlan:
    """What to inject: probabilities in [0, 1], ``delay_ms`` >= 0, ``max_fragments`` >= 2."""

    drop: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    fragment: float = 0.0
    delay_ms: int = 20
    max_fragments: int = 4
    seed: int | None = None
    direction: str = "tx"
    silent: bool = False

    def __post_init__(self) -> None:
        for key in _PROBABILITIES:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise FaultSpecError(f"fault probability {key}={value!r} is not a number in [0, 1]")
        if not isinstance(self.delay_ms, int) or self.delay_ms < 0:
            raise FaultSpecError(f"delay_ms must be an integer >= 0, got {self.delay_ms!r}")
        if not isinstance(self.max_fragments, int) or self.max_fragments < 2:
            raise FaultSpecError(f"max_fragments must be an integer >= 2, got {self.max_fragments!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            raise FaultSpecError(f"seed must be an integer, got {self.seed!r}")
        if self.direction not in _DIRECTIONS:
            raise FaultSpecError(f"direction must be one of {_DIRECTIONS}, got {self.direction!r}")
        if not isinstance(self.silent, bool):
            raise FaultSpecError(f"silent must be true or false, got {self.silent!r}")

    @property
    def active(self) -> bool:
        """True if any fault has a non-zero probability or the link is silenced."""
        return self.silent or any(getattr(self, key) for key in _PROBABILITIES)

    @classmethod
    def from_mapping(cls, params: Mapping[str, str]) -> "FaultPlan":
        """Build a plan from text values (URL query or spec string); FaultSpecError if invalid."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, text in params.items():
            if key not in known:
                raise FaultSpecError(f"unknown fault key {key!r} (known: {', '.join(sorted(known))})")
            if key == "silent":
                values[key] = _parse_bool(key, text)
                continue
            try:
                if key in _PROBABILITIES:
                    values[key] = float(text)
                elif key == "direction":
                    values[key] = text
                else:
                    values[key] = int(text)
            except ValueError:
                raise FaultSpecError(f"fault key {key!r} has a malformed value {text!r}") from None
        return cls(**values)


def _parse_bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise FaultSpecError(f"fault key {key!r} has a malformed value {text!r} (true or false)")


def parse_fault_spec(spec: str) -> FaultPlan:
    """Parse ``"drop=0.01,corrupt=0.001,seed=7"`` into a FaultPlan; FaultSpecError if invalid."""
    params: dict[str, str] = {}
    for item in spec.replace("&", ",").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise FaultSpecError(f"fault spec item {item!r} is not key=value")
        key = key.strip()
        if key in params:
            raise FaultSpecError(f"fault key {key!r} given twice")
        params[key] = value.strip()
    return FaultPlan.from_mapping(params)


@dataclass
class FaultStats:
    """What a FaultInjector did: chunks seen and faults applied, bytes flipped."""

    chunks: int = 0
    dropped: int = 0
    corrupted_chunks: int = 0
    bits_flipped: int = 0
    duplicated: int = 0
    delayed: int = 0
    fragmented: int = 0
    fragments: int = 0
    silenced: int = 0


class FaultInjector(WrapperLink):
    """Wraps a link and applies a :class:`FaultPlan` to its traffic (see module docs).

    The plan may be switched at any time from any thread (:meth:`set_plan`, :meth:`update`,
    :meth:`clear`); a new plan with a seed restarts the random sequence from that seed.
    Attributes the wrapper lacks (``device_path``, ``bound_address``...) come from the inner link.
    Closing the injector closes the inner link.
    """

    def __init__(self, link: Link, plan: FaultPlan | None = None) -> None:
        super().__init__("fault", link)
        self._plan = plan or FaultPlan()
        self._plan_lock = threading.Lock()
        self.stats = FaultStats()
        self._rng = random.Random(self._plan.seed)
        self._rx_pending = bytearray()
        _log.info("%s: fault plan %s", self._name, self._plan)

    @property
    def plan(self) -> FaultPlan:
        """The plan in force (immutable; replace it with :meth:`set_plan`)."""
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        self.set_plan(plan)

    def set_plan(self, plan: FaultPlan) -> FaultPlan:
        """Put ``plan`` in force from the next chunk on; returns it. A plan with a seed other
        than the current one restarts the random sequence from that seed."""
        if not isinstance(plan, FaultPlan):
            raise FaultSpecError(f"a FaultPlan is needed, got {type(plan).__name__}")
        with self._plan_lock:
            if plan.seed is not None and plan.seed != self._plan.seed:
                self._rng = random.Random(plan.seed)
            self._plan = plan
        _log.info("%s: fault plan now %s", self._name, plan)
        return plan

    def update(self, **changes: Any) -> FaultPlan:
        """Change some fields of the plan (``update(drop=0.05)``, ``update(silent=True)``);
        FaultSpecError (and no change) for an unknown key or a bad value. Returns the new plan."""
        known = {f.name for f in fields(FaultPlan)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultSpecError(f"unknown fault key {unknown[0]!r} "
                                 f"(known: {', '.join(sorted(known))})")
        return self.set_plan(dataclasses.replace(self._plan, **changes))

    def clear(self, *names: str) -> FaultPlan:
        """Switch the named faults off (all of them without names); keeps seed, direction,
        delay_ms and max_fragments. Returns the new plan."""
        off = {"silent": False, **{key: 0.0 for key in _PROBABILITIES}}
        if names:
            unknown = [n for n in names if n not in off]
            if unknown:
                raise FaultSpecError(f"{unknown[0]!r} is not a link fault "
                                     f"(link faults: {', '.join(off)})")
            off = {n: off[n] for n in names}
        return self.update(**off)

    def mangle(self, chunk: bytes, plan: FaultPlan | None = None) -> list[tuple[float, bytes]]:
        """Apply ``plan`` (default: the plan in force) to one chunk: a list of (delay in
        seconds, bytes) to deliver in order."""
        with self._plan_lock:
            return self._mangle(chunk, plan if plan is not None else self._plan)

    def _mangle(self, chunk: bytes, plan: FaultPlan) -> list[tuple[float, bytes]]:
        rng, stats = self._rng, self.stats
        stats.chunks += 1
        if plan.silent:
            stats.silenced += 1
            return []
        if plan.drop and rng.random() < plan.drop:
            stats.dropped += 1
            return []
        if plan.corrupt:
            data = bytearray(chunk)
            flipped = 0
            for i in range(len(data)):
                if rng.random() < plan.corrupt:
                    data[i] ^= 1 << rng.randrange(8)
                    flipped += 1
            if flipped:
                stats.corrupted_chunks += 1
                stats.bits_flipped += flipped
                chunk = bytes(data)
        copies = [chunk]
        if plan.duplicate and rng.random() < plan.duplicate:
            stats.duplicated += 1
            copies.append(chunk)
        pieces: list[bytes] = []
        for copy in copies:
            if plan.fragment and len(copy) > 1 and rng.random() < plan.fragment:
                count = rng.randint(2, min(plan.max_fragments, len(copy)))
                cuts = sorted(rng.sample(range(1, len(copy)), count - 1))
                bounds = [0, *cuts, len(copy)]
                pieces.extend(copy[a:b] for a, b in zip(bounds, bounds[1:]))
                stats.fragmented += 1
                stats.fragments += count
            else:
                pieces.append(copy)
        delay_s = 0.0
        if plan.delay and rng.random() < plan.delay:
            stats.delayed += 1
            delay_s = plan.delay_ms / 1000.0
        return [(delay_s if i == 0 else 0.0, piece) for i, piece in enumerate(pieces)]

    def _write_hook(self, data: bytes) -> None:
        plan = self._plan
        if plan.direction == "rx" or not plan.active:
            self.inner.write(data)
            return
        for delay_s, piece in self.mangle(data, plan):
            if delay_s:
                time.sleep(delay_s)
            self.inner.write(piece)

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        if self._rx_pending:
            data = bytes(self._rx_pending[:n])
            del self._rx_pending[:n]
            return data
        plan = self._plan
        if plan.direction == "tx" or not plan.active:
            return self.inner.read(n)
        # Faulted receive: a dropped chunk is replaced by the next read of the inner link.
        while True:
            chunk = self.inner.read(n)
            if not chunk:
                return b""
            pieces = self.mangle(chunk, plan)
            if not pieces:
                continue
            if pieces[0][0]:
                time.sleep(pieces[0][0])
            first, rest = pieces[0][1], pieces[1:]
            for _, piece in rest:
                self._rx_pending += piece
            return first
