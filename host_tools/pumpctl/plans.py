"""Programming several schedule plans as one change: check them all first, then send them, and
put back what was sent if the pump refuses one midway.

The pump takes one plan per SET_SCHEDULE request, so a file with an every-day plan and a
saturday plan needs two requests. Before the first, every plan is checked against the pump's
device profile (step count, rate range, the drug's hard daily limit at the pump's concentration):
a plan the pump would refuse stops the command with nothing sent. If the pump still refuses a
plan midway (its own rules are the final word), the plans already sent are put back to what the
pump held before; a weekday plan that did not exist before cannot be removed over the protocol,
so it is reported exactly, with what the pump now runs on that day.
"""
from __future__ import annotations

from firmware_sim.profile import Profile
from host_tools.client import PumpClient
from host_tools.errors import Refused
from host_tools.preview import DayPreview
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
        text = f"{weekday_name(self.failed_weekday)}: {self.refused}"
        if self.restored:
            text += ("; put back as before: "
                     + ", ".join(weekday_name(w) for w in self.restored))
        if self.left:
            text += ("; NOT undone (the pump now runs the file's plan; it has no plan before "
                     "and a plan cannot be removed): " + ", ".join(weekday_name(w) for w in self.left)
                     + "; fix the file and program it again")
        elif not self.restored:
            text += "; nothing was changed"
        else:
            text += "; the pump runs the schedule it had before"
        return text


def check_plans(plans: list[SchedulePlan], previews: list[DayPreview], profile: Profile) -> None:
    """Raise :class:`PlanProblem` for the first plan the pump's profile refuses (steps, rates
    in nL/day, hard daily limit in ug from ``previews``)."""
    for plan, pv in zip(plans, previews):
        if len(plan.steps) > profile.max_steps_per_day:
            raise PlanProblem(plan.weekday, f"{len(plan.steps)} steps, the pump takes at most "
                              f"{profile.max_steps_per_day}")
        for step in plan.steps:
            if not profile.min_rate_nl_per_day <= step.rate_nl_per_day <= profile.max_rate_nl_per_day:
                where = f"line {step.line}: " if step.line else ""
                raise PlanProblem(plan.weekday, f"{where}rate {step.rate_nl_per_day} nL/day outside "
                                  f"the pump's {profile.min_rate_nl_per_day}..{profile.max_rate_nl_per_day}")
        if pv.over_hard_limit:
            raise PlanProblem(plan.weekday, f"the day's dose {float(pv.total_dose_ug) / 1000:.3f} mg "
                              f"exceeds the drug's hard limit {pv.hard_limit_ug / 1000 if pv.hard_limit_ug else 0:.3f} mg")


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
                if before[weekday]:
                    client.set_schedule(before[weekday], weekday)
                    restored.append(weekday)
                else:
                    left.append(weekday)
            raise PartialProgramming(exc, plan.weekday, tuple(restored), tuple(left)) from exc
        sent.append(plan.weekday)
