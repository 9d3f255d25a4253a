"""The delivery mechanism: strokes, their seeded error model, in closed form.

A pump commands volume (its *belief*: the schedule's exact integral, see the pump model); the
mechanism turns the commanded volume into strokes and moves fluid out of the reservoir (the
*truth*). A motor-driven pump turns its motor one stroke each time the commanded volume passes
the next multiple of the stroke volume; a valve-gated pump discharges its accumulator the same
way. At low rates delivery is therefore a train of pulses, not a line.

Error model (per profile, switchable): stroke ``k`` moves

    stroke_volume_nl x gain_ppm / 1e6 x (1 + variation_k / 1e6)

where ``gain_ppm = 1e6 + systematic error`` and ``variation_k`` is a seeded pattern of
stroke-to-stroke deviations, bounded by the profile's amplitude, repeating every
``variation_period`` strokes and summing to exactly zero over a period. The volume moved after
``n`` strokes is therefore a closed form, ``Vs x gain x (n x 1e6 + P(n mod period)) // 1e12``
with ``P`` the pattern's prefix sums: O(1) however many strokes a pump-year holds, exact in
integers, nondecreasing, and its long-run mean error is exactly the systematic error.

With the error model switched off the mechanism is ideal and continuous: it moves exactly
``commanded x gain // 1e6`` (the commanded volume itself when no fault changes the gain), so the
two ledgers are equal to the nanolitre.

Units: nL, ppm (parts per million of the nominal volume), ms.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Mapping

PPM = 1_000_000
MOTOR = "motor"
VALVE = "valve"
KINDS = (MOTOR, VALVE)


@dataclass(frozen=True)
class MechanismSpec:
    """The delivery mechanism of one pump model (the profile's ``[mechanism]`` table).

    ``kind``: ``"motor"`` (a motor-driven pump: it stalls in an MRI field) or ``"valve"`` (a
    valve-gated pump: an MRI field opens its valves and the reservoir flows freely into the
    patient at ``mri_free_flow_nl_per_min``). ``stroke_volume_nl``: volume of one stroke.
    ``error_model``: whether the seeded error model is on (off: ideal, continuous).
    ``systematic_error_ppm``: the declared mean error of the delivered volume (ppm of the
    commanded volume, e.g. 10_000 = +1 %). ``stroke_variation_ppm``: the largest deviation of
    one stroke from the mean (ppm of a stroke). ``variation_period``: strokes after which the
    variation pattern repeats (even). ``seed``: seeds the pattern.
    """

    kind: str = MOTOR
    stroke_volume_nl: int = 250
    error_model: bool = False
    systematic_error_ppm: int = 0
    stroke_variation_ppm: int = 0
    variation_period: int = 64
    seed: int = 0
    mri_free_flow_nl_per_min: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MechanismSpec":
        """Inverse of :meth:`to_dict` (checked like a profile table)."""
        return parse_mechanism(d, "mechanism")


class MechanismSpecError(ValueError):
    """A ``[mechanism]`` table that does not describe a mechanism (the message names the key)."""


def _int(t: Mapping[str, Any], key: str, where: str, lo: int, hi: int, default: int) -> int:
    v = t.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool):
        raise MechanismSpecError(f"{where}.{key}: expected an integer, got {v!r}")
    if not lo <= v <= hi:
        raise MechanismSpecError(f"{where}.{key}: {v} outside [{lo}, {hi}]")
    return v


def parse_mechanism(t: Mapping[str, Any] | None, where: str = "mechanism") -> MechanismSpec:
    """Validate a ``[mechanism]`` table (None or missing keys: the documented defaults of
    :class:`MechanismSpec`); raises :class:`MechanismSpecError` naming the key."""
    if t is None:
        return MechanismSpec()
    if not isinstance(t, Mapping):
        raise MechanismSpecError(f"{where}: expected a table")
    known = set(MechanismSpec.__dataclass_fields__)
    extra = sorted(set(t) - known)
    if extra:
        raise MechanismSpecError(f"{where}: unknown key '{extra[0]}'")
    d = MechanismSpec()
    kind = t.get("kind", d.kind)
    if kind not in KINDS:
        raise MechanismSpecError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    em = t.get("error_model", d.error_model)
    if not isinstance(em, bool):
        raise MechanismSpecError(f"{where}.error_model: expected true or false, got {em!r}")
    period = _int(t, "variation_period", where, 2, 1 << 16, d.variation_period)
    if period % 2:
        raise MechanismSpecError(f"{where}.variation_period: {period} is not even")
    return MechanismSpec(
        kind=kind,
        stroke_volume_nl=_int(t, "stroke_volume_nl", where, 1, 1_000_000, d.stroke_volume_nl),
        error_model=em,
        systematic_error_ppm=_int(t, "systematic_error_ppm", where, -500_000, 500_000, 0),
        stroke_variation_ppm=_int(t, "stroke_variation_ppm", where, 0, 500_000, 0),
        variation_period=period,
        seed=_int(t, "seed", where, 0, (1 << 63) - 1, 0),
        mri_free_flow_nl_per_min=_int(t, "mri_free_flow_nl_per_min", where, 0, 100_000_000, 0),
    )


def variation_pattern(amplitude_ppm: int, period: int, seed: int) -> tuple[int, ...]:
    """The seeded stroke-to-stroke deviations (ppm) of one period: pairs ``+v, -v`` shuffled,
    each ``|v| <= amplitude_ppm``, so the pattern sums to exactly zero."""
    rng = random.Random(seed)
    half = [rng.randint(0, amplitude_ppm) for _ in range(period // 2)]
    values = half + [-v for v in half]
    rng.shuffle(values)
    return tuple(values)


@dataclass(frozen=True)
class Stroker:
    """Volume moved by the mechanism as a function of the commanded volume, at one gain.

    ``moved_nl(c)`` is the volume (nL) the mechanism has moved once the pump has commanded
    ``c`` nL in total: exact, nondecreasing in ``c``, O(1). ``gain_ppm`` (>= 0) scales every
    stroke (1e6 = nominal)."""

    spec: MechanismSpec
    gain_ppm: int
    _prefix: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        s = self.spec
        pattern = variation_pattern(s.stroke_variation_ppm, s.variation_period, s.seed)
        prefix = [0]
        for v in pattern:
            prefix.append(prefix[-1] + v)
        object.__setattr__(self, "_prefix", tuple(prefix))

    @property
    def pulsed(self) -> bool:
        """Whether the mechanism moves fluid in strokes (error model on) or continuously."""
        return self.spec.error_model

    def strokes(self, commanded_nl: int) -> int:
        """Strokes made once ``commanded_nl`` has been commanded (0 when continuous)."""
        return commanded_nl // self.spec.stroke_volume_nl if self.pulsed else 0

    def moved_nl(self, commanded_nl: int) -> int:
        """Volume moved (nL) once ``commanded_nl`` has been commanded in total."""
        if not self.pulsed:
            return commanded_nl * self.gain_ppm // PPM
        s = self.spec
        n = commanded_nl // s.stroke_volume_nl
        var = self._prefix[n % s.variation_period]
        return s.stroke_volume_nl * self.gain_ppm * (n * PPM + var) // (PPM * PPM)

    def commanded_for(self, moved_nl: int, hi: int) -> int:
        """The smallest commanded volume in [0, hi] at which ``moved_nl(c) >= moved_nl``
        (``hi`` when none): bisection on the exact function."""
        lo = 0
        while lo < hi:
            mid = (lo + hi) // 2
            if self.moved_nl(mid) >= moved_nl:
                hi = mid
            else:
                lo = mid + 1
        return lo


__all__ = ["MechanismSpec", "MechanismSpecError", "Stroker", "parse_mechanism",
           "variation_pattern", "PPM", "MOTOR", "VALVE"]
