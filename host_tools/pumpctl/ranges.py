"""The ranges a pump accepts, as it reports them (GET_DEVICE_LIMITS), and the checks pumpctl
makes with them before it sends anything: a value outside them is a usage error (exit 2) that
names the option and the pump's range. The pump's own refusal stays the final word (it also
checks what depends on its state: the schedule under a bolus, the drug's limits); a pump that
does not report its ranges is left to check for itself (PROTOCOL.md section 16)."""
from __future__ import annotations

from collections.abc import Mapping

import click

from host_tools.client import PumpClient
from host_tools.errors import ProtocolViolation
from host_tools.pumpctl.common import warn
from host_tools.records import DeviceLimits
from host_tools.units import duration, ml, ml_per_day

DAY_MS = 86_400_000


def device_limits(client: PumpClient) -> DeviceLimits | None:
    """The ranges **the pump reports** (GET_DEVICE_LIMITS), or None for a pump that does not
    report them (protocol 1.0: UNKNOWN_MESSAGE_TYPE). Never a guess from the model name: with
    None nothing is checked here beyond the wire's own bounds, the pump checks, and a warning
    says so (PROTOCOL.md section 16)."""
    try:
        return client.device_limits()
    except ProtocolViolation:
        warn("the pump does not report its ranges (protocol 1.0): they are not checked before "
             "sending; the pump checks them")
        return None


def _outside(value: int, low: int, high: int, option: str, shown: str) -> click.BadParameter:
    return click.BadParameter(f"{shown} is outside the pump's range {low}..{high}",
                              param_hint=option)


def check_bolus(limits: DeviceLimits | None, volume_nl: int | None, duration_ms: int) -> None:
    """Raise click.BadParameter for a clinician bolus the pump's ranges refuse: a duration (ms)
    outside its range, or a volume (nL) that over ``duration_ms`` alone would run faster than
    its maximum rate (nL/day)."""
    if limits is None:
        return
    low, high = limits.clinician_bolus_min_duration_ms, limits.clinician_bolus_max_duration_ms
    if not low <= duration_ms <= high:
        raise click.BadParameter(f"{duration(duration_ms)} is outside the pump's "
                                 f"{duration(low)}..{duration(high)}", param_hint="--duration")
    if volume_nl is not None and volume_nl * DAY_MS > limits.max_rate_nl_per_day * duration_ms:
        raise click.BadParameter(
            f"{ml(volume_nl)} over {duration(duration_ms)} would run faster than the pump's "
            f"maximum of {ml_per_day(limits.max_rate_nl_per_day)}", param_hint="--duration")


_LIMIT_RANGES = {  # SET_LIMITS field -> (option, DeviceLimits minimum, maximum)
    "patient_bolus_dose_ug": ("--dose", "patient_min_dose_ug", "patient_max_dose_ug"),
    "patient_bolus_duration_ms": ("--duration", "patient_min_duration_ms",
                                  "patient_max_duration_ms"),
    "patient_lockout_ms": ("--lockout", "patient_min_lockout_ms", "patient_max_lockout_ms"),
    "patient_max_per_day": ("--max-per-day", None, "patient_max_per_day"),
    "low_reservoir_threshold_nl": ("--threshold", "low_threshold_min_nl", "low_threshold_max_nl"),
}


_LIMIT_STEPS = {  # SET_LIMITS field -> the DeviceLimits step it must be a multiple of
    "patient_bolus_duration_ms": "patient_duration_step_ms",
    "patient_lockout_ms": "patient_lockout_step_ms",
}


def check_limit_changes(limits: DeviceLimits | None, changes: Mapping[str, int]) -> None:
    """Raise click.BadParameter for a SET_LIMITS change outside the pump's range, or a
    duration / lockout that is not a multiple of the step the pump reports (a dose of 0 turns
    patient boluses off and is always in range)."""
    if limits is None:
        return
    for field, value in changes.items():
        option, low_name, high_name = _LIMIT_RANGES[field]
        if field == "patient_bolus_dose_ug" and value == 0:
            continue
        low = getattr(limits, low_name) if low_name else 0
        high = getattr(limits, high_name)
        if not low <= value <= high:
            raise _outside(value, low, high, option, f"{option.lstrip('-')} {value}")
        step = getattr(limits, _LIMIT_STEPS.get(field, ""), None)
        if step and value % step:
            raise click.BadParameter(
                f"{duration(value)} is not a whole number of the pump's {duration(step)} steps "
                f"(nearest: {duration(value // step * step)} or "
                f"{duration(-(-value // step) * step)})", param_hint=option)
