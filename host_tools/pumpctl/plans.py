"""Programming several schedule plans as one change: check them all first, then send them, and
put back what was sent if the pump refuses one midway.

The pump takes one plan per SET_SCHEDULE request, so a file with an every-day plan and a
saturday plan needs two requests. Before the first, every plan is checked against what the pump
reports (GET_DEVICE_LIMITS: step count, rate range, step resolution; GET_DRUG_LIBRARY: the drug's
hard daily limit at the pump's concentration):
a plan the pump would refuse stops the command with nothing sent. If the pump still refuses a
plan midway (its own rules are the final word), the plans already sent are put back to what the
pump held before; a weekday plan that did not exist before cannot be removed over the protocol,
so it is reported exactly, with what the pump now runs on that day.
"""
from __future__ import annotations

from host_tools.client import PumpClient
from host_tools.errors import Refused
from host_tools.preview import DayPreview
from host_tools.pumpctl.views import refusal_text
from host_tools.records import DeviceLimits
from host_tools.schedule_file import SchedulePlan, weekday_name


class PlanProblem(Exception):
    """A plan the pump would refuse (``weekday``, ``reason``); nothing was sent."""

    def __init__(self, weekday: int, reason: str) -> None:
        self.weekday, self.reason = weekday, reason
        super().__init__(f"{weekday_name(weekday)}: {reason}; nothing was sent to the pump")


class PartialProgramming(Exception):
    """The pump refused a plan midway: ``refused`` (the pump's refusal), ``restored`` (plans
    put back as they were), ``left`` (plans sent that could not be put back)."""

    def __init__(self, refused: Refused, failed_weekday: int, restored: tuple[int, ...],
                 left: tuple[int, ...]) -> None:
        super().__init__(refused, failed_weekday, restored, left)
        self.refused, self.failed_weekday = refused, failed_weekday
        self.restored, self.left = restored, left

    def __str__(self) -> str:
        text = f"{weekday_name(self.failed_weekday)}: {refusal_text(self.refused)}"
        if self.restored:
            text += ("; put back as before: "
                     + ", ".join(weekday_name(w) for w in self.restored))
        if self.left:
            text += ("; NOT undone (the pump now runs the file's plan; it had no plan before "
                     "and a plan cannot be removed, or it refused the old plan back): " + ", ".join(weekday_name(w) for w in self.left)
                     + "; fix the file and program it again")
        elif not self.restored:
            text += "; nothing was changed"
        else:
            text += "; the pump runs the schedule it had before"
        return text


def check_plans(plans: list[SchedulePlan], previews: list[DayPreview],
                limits: DeviceLimits | None) -> None:
    """Raise :class:`PlanProblem` for the first plan the pump would refuse: more steps than it
    takes, a rate (nL/day) outside its range, a start minute off its step resolution (the
    ranges it reports; None: a pump that does not report them, whose ranges are left to it),
    or the day's dose above the hard daily limit of the drug library it reports (``previews``),
    or more plans than the schedule changes its period allows (each plan sent is one change)."""
    changes = limits.max_rate_changes_per_period if limits is not None else None
    if changes and len(plans) > changes:
        raise PlanProblem(plans[0].weekday, f"{len(plans)} plans, but the pump accepts at most "
                          f"{changes} schedule changes per period")
    for plan, pv in zip(plans, previews):
        if limits is not None:
            _check_ranges(plan, limits)
        if pv.over_hard_limit:
            raise PlanProblem(plan.weekday, f"the day's dose {float(pv.total_dose_ug) / 1000:.3f} mg "
                              f"exceeds the drug's hard limit {pv.hard_limit_ug / 1000 if pv.hard_limit_ug else 0:.3f} mg")


def _check_ranges(plan: SchedulePlan, limits: DeviceLimits) -> None:
    if len(plan.steps) > limits.max_steps_per_day:
        raise PlanProblem(plan.weekday, f"{len(plan.steps)} steps, the pump takes at most "
                          f"{limits.max_steps_per_day}")
    low, high = limits.min_rate_nl_per_day, limits.max_rate_nl_per_day
    resolution = max(1, limits.step_resolution_minute)
    for step in plan.steps:
        where = f"line {step.line}: " if step.line else ""
        if not low <= step.rate_nl_per_day <= high:
            raise PlanProblem(plan.weekday, f"{where}rate {step.rate_nl_per_day} nL/day outside "
                              f"the pump's {low}..{high}")
        if step.start_minute % resolution:
            raise PlanProblem(plan.weekday, f"{where}start minute {step.start_minute} is not a "
                              f"multiple of the pump's {resolution}-minute step resolution")


def program_plans(client: PumpClient, plans: list[SchedulePlan]) -> None:
    """Send every plan; on a refusal put back the plans already sent (see the module doc) and
    raise :class:`PartialProgramming`."""
    before = {p.weekday: client.schedule(p.weekday).steps for p in plans}
    sent: list[int] = []
    for plan in plans:
        try:
            client.set_schedule(plan.steps, plan.weekday)
        except Refused as exc:
            restored, left = [], []
            for weekday in reversed(sent):
                if before[weekday] and _put_back(client, before[weekday], weekday):
                    restored.append(weekday)
                else:
                    left.append(weekday)
            raise PartialProgramming(exc, plan.weekday, tuple(restored), tuple(left)) from exc
        sent.append(plan.weekday)


def _put_back(client: PumpClient, steps: tuple, weekday: int) -> bool:
    """Send a plan back as it was; False when the pump refuses (for example when the schedule
    changes its period allows are spent: putting a plan back is a change too)."""
    try:
        client.set_schedule(steps, weekday)
    except Refused:
        return False
    return True
