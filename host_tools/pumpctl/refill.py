"""pumpctl refill: the guided refill procedure.

Steps, as at the bedside: read the expected reservoir volume; enter refill (delivery stops);
withdraw what is left and report it (a discrepancy with the expected volume is warned about: it
may mean over- or under-infusion); fill and give the new concentration; if the concentration
changed, the catheter still holds the old one and the pump bridges it when therapy resumes;
print the new refill-due date. Every value can be given as an option so that scripts need no
prompt.

Every value given is checked before the first request (wire range first, then the reservoir and
drug library the pump reports: GET_DEVICE_LIMITS, GET_DRUG_LIBRARY), and a value typed at a
prompt is checked before it is sent. The withdrawal is always reported (REFILL_WITHDRAWN) before
the fill is sent (REFILL_COMPLETE): the pump refuses a fill before it with WITHDRAW_REQUIRED.
A pump already in REFILL (an earlier refill interrupted) is continued, not begun again (a
withdrawal it already has is not reported twice), so a refill refused or cut short midway is finished by running the command again.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from host_tools.client import PumpClient
from host_tools.errors import Refused
from host_tools.pumpctl.common import (Connection, NotReady, console, json_option, pass_conn,
                                       WIRE_MAX, print_json, quantity, warn)
from host_tools.pumpctl.ranges import device_limits
from host_tools.pumpctl.therapy import drug_entry
from host_tools.records import DeviceLimits, DrugLibraryEntry
from host_tools.units import (QuantityError, ml, parse_concentration, parse_volume_nl, wall_text)
from protocol.enums import Alarm, TherapyState
from protocol.errors import NakCode


def discrepancy_limit_nl(expected_nl: int, min_nl: int, percent: int) -> int:
    """Largest |withdrawn - expected| that is not a discrepancy: max(min_nl, percent % of
    expected), in nL."""
    return max(min_nl, expected_nl * percent // 100)




def _bounded(parser: Callable[[str], int], low: int, high: int, what: str,
             show: Callable[[int], str] = str) -> Callable[[str], int]:
    """``parser`` that also refuses values outside [low, high] (QuantityError naming the text
    as typed and the range in ``show``'s units)."""
    def parse(text: str) -> int:
        value = parser(text)
        if not low <= value <= high:
            raise QuantityError(f"{what}: {text.strip()} is outside {show(low)}..{show(high)}")
        return value
    return parse


def check_refill_values(limits: DeviceLimits | None, entry: DrugLibraryEntry | None,
                        withdrawn: int | None, filled: int | None,
                        concentration: int | None) -> None:
    """Raise click.BadParameter for a given value the pump would refuse, by the ranges and the
    drug-library entry it reports (volumes in nL, concentration in ug/mL); None values, and
    ranges the pump does not report (``limits`` / ``entry`` None), are not checked."""
    cap = limits.reservoir_capacity_nl if limits is not None else None
    if cap is not None and withdrawn is not None and withdrawn > 2 * cap:
        raise click.BadParameter(f"{ml(withdrawn)} is more than this pump could hold "
                                 f"({ml(cap)} reservoir)", param_hint="--withdrawn")
    if cap is not None and filled is not None and not 1 <= filled <= cap:
        raise click.BadParameter(f"{ml(filled)} does not fit the {ml(cap)} reservoir",
                                 param_hint="--filled")
    if concentration is not None and entry is not None and not (
            entry.min_concentration_ug_per_ml <= concentration <= entry.max_concentration_ug_per_ml):
        raise click.BadParameter(
            f"{concentration} ug/mL is outside {entry.name}'s {entry.min_concentration_ug_per_ml}.."
            f"{entry.max_concentration_ug_per_ml} ug/mL", param_hint="--concentration")


def report_withdrawal(client: PumpClient, withdrawn_nl: int) -> bool:
    """Send REFILL_WITHDRAWN (nL); True when the pump already had this refill's withdrawal
    (ALREADY_WITHDRAWN: a refill continued after an interruption), False when reported now."""
    try:
        client.refill_withdrawn(withdrawn_nl)
    except Refused as exc:
        if exc.code != NakCode.ALREADY_WITHDRAWN:
            raise
        return True
    return False


def _ask(value: int | None, prompt: str, parser: Callable[[str], int],
         default: str | None = None) -> int:
    if value is not None:
        return value
    while True:
        text = click.prompt(prompt, default=default, err=True)
        try:
            return parser(text)
        except QuantityError as exc:
            warn(str(exc))


def _wire_volume(text: str) -> int:
    return _bounded(parse_volume_nl, 0, WIRE_MAX, "volume", ml)(text)


def _wire_concentration(text: str) -> int:
    return _bounded(parse_concentration, 1, WIRE_MAX, "concentration",
                    lambda v: f"{v} ug/mL")(text)


HOW_TO_FINISH = ("the pump stays in REFILL with delivery stopped; finish the refill with "
                 "`pumpctl refill --withdrawn VOLUME --filled VOLUME [--concentration C]` "
                 "(it continues the refill in progress)")


@click.command()
@click.option("--withdrawn", callback=quantity(_wire_volume), help="Volume withdrawn (e.g. 3.2mL).")
@click.option("--filled", callback=quantity(_wire_volume), help="Volume filled (e.g. 18mL).")
@click.option("--concentration", callback=quantity(_wire_concentration),
              help="Concentration of the new drug (ug/mL or 10mg/mL; default: unchanged).")
@click.option("--start/--no-start", "start_after", default=None,
              help="Start therapy after the refill when the pump is stopped (default: ask).")
@click.option("--yes", "-y", is_flag=True,
              help="Answer yes to the questions (start therapy afterwards unless --no-start).")
@json_option
@pass_conn
def refill(conn: Connection, withdrawn: int | None, filled: int | None, concentration: int | None,
           start_after: bool | None, yes: bool, as_json: bool) -> None:
    """Guided refill: expected volume, withdrawn (discrepancy check), filled, concentration,
    bridge bolus, new refill-due date."""
    if yes and start_after is None:
        start_after = True
    say = (lambda *a, **k: None) if as_json else console.print
    with conn.client() as client:
        limits = device_limits(client)
        before = client.status()
        drug = client.drug()
        check_refill_values(limits, drug_entry(client, drug.name), withdrawn, filled,
                            concentration)
        try:
            outcome = _run_refill(client, limits, before, drug, say, withdrawn, filled,
                                  concentration, start_after, as_json)
        except Refused as exc:
            if client.status().state == TherapyState.REFILL:
                raise NotReady(f"{exc}; {HOW_TO_FINISH}") from None
            raise
    _report(outcome, as_json, say)


def _withdrawal_step(client: PumpClient, withdrawn_nl: int, expected: int, limit: int | None,
                     say: Callable[..., None]) -> tuple[bool, bool]:
    """Report the withdrawal (nL) and warn of a discrepancy beyond ``limit`` (nL, None when the
    pump does not report its tolerance) or flagged by the pump; (reported before, flagged)."""
    reported_before = report_withdrawal(client, withdrawn_nl)
    if reported_before:
        say("   the withdrawal of this refill was already reported: continuing with the fill")
    flagged = Alarm.REFILL_DISCREPANCY in client.status().active_alarms
    difference = withdrawn_nl - expected
    say(f"   withdrawn {ml(withdrawn_nl)}, expected {ml(expected)} (difference {difference / 1e6:+.3f} mL)")
    if (limit is not None and abs(difference) > limit) or flagged:
        by = f" by more than {ml(limit)}" if limit is not None else ""
        warn(f"refill discrepancy: withdrawn {ml(withdrawn_nl)} differs from the expected "
             f"{ml(expected)}{by}; check for over- or under-infusion")
    return reported_before, flagged


def _run_refill(client, limits, before, drug, say, withdrawn, filled, concentration,
                start_after, as_json):  # type: ignore[no-untyped-def]
    """The refill steps on an open session; returns what the report needs. ``limits``: the
    pump's DeviceLimits, or None (not reported: the wire's bounds only)."""
    cap = limits.reservoir_capacity_nl if limits is not None else WIRE_MAX // 2
    offset = before.wall_offset_ms
    expected = before.reservoir_nl
    say(f"[bold]1. expected in the reservoir[/]: {ml(expected)} of {drug.name or 'no drug'} "
        f"at {drug.concentration_ug_per_ml} ug/mL")
    if before.state == TherapyState.REFILL:
        say("[bold]2. a refill is already in progress[/]: continuing it")
    else:
        client.refill_begin()
        say("[bold]2. refill started[/]: delivery is stopped; withdraw the remaining drug")
    withdrawn_nl = _ask(withdrawn, "volume withdrawn (e.g. 3.2mL)",
                        _bounded(parse_volume_nl, 0, 2 * cap, "volume withdrawn", ml))
    limit = limits.discrepancy_limit_nl(expected) if limits is not None else None
    difference = withdrawn_nl - expected
    scripted = withdrawn is not None and filled is not None
    # As at the bedside (and as the pump requires: WITHDRAW_REQUIRED otherwise), the withdrawal
    # is reported before the fill. A refill continued after an interruption may have had its
    # withdrawal reported already: ALREADY_WITHDRAWN then says so, and the fill follows.
    reported_before, flagged = _withdrawal_step(client, withdrawn_nl, expected, limit, say)
    filled_nl = _ask(filled, "volume filled (e.g. 18mL)", _bounded(parse_volume_nl, 1, cap, "volume filled", ml))
    if concentration is not None:
        new_conc = concentration
    elif scripted:  # all volumes given as options: the concentration stays unless given
        new_conc = drug.concentration_ug_per_ml
    else:
        new_conc = _ask(None, "concentration of the new drug (ug/mL or mg/mL)",
                        _wire_concentration, default=str(drug.concentration_ug_per_ml))
    result = client.refill_complete(0 if reported_before else withdrawn_nl, filled_nl, new_conc)
    flagged = flagged or bool(result.discrepancy)
    say(f"[bold]3. filled[/] {ml(filled_nl)} at {new_conc} ug/mL; reservoir now {ml(result.reservoir_nl)}")
    bridge = new_conc != drug.concentration_ug_per_ml
    if bridge:
        held = f"up to {ml(limits.dead_volume_nl)}" if limits is not None else "the old drug"
        say(f"[bold]4. bridge bolus[/]: the catheter still holds {held} "
            f"at {drug.concentration_ug_per_ml} ug/mL; when therapy runs, the pump bridges it "
            f"at the rate that gives the new program's dose")
    else:
        say("[bold]4. bridge bolus[/]: not needed (concentration unchanged)")
    after = client.status()
    started = False
    if after.state == TherapyState.STOPPED:
        prompt = "start therapy now" + (" (runs the bridge bolus)" if bridge else "") + "?"
        do_start = start_after if start_after is not None else (
            False if as_json else click.confirm(prompt, default=True, err=True))
        if do_start:
            client.start()
            started = True
            after = client.status()
    due = after.refill_due_ms if after.refill_due_ms is not None else result.refill_due_ms
    return RefillOutcome(expected, withdrawn_nl, result, flagged, difference, limit, filled_nl,
                         new_conc, bridge, started, after, due, offset)


@dataclass(frozen=True)
class RefillOutcome:
    """What a finished refill reports (volumes in nL, concentration in ug/mL, times in ms)."""

    expected: int
    withdrawn_nl: int
    result: Any
    flagged: bool
    difference: int
    limit: int | None
    filled_nl: int
    new_conc: int
    bridge: bool
    started: bool
    after: Any
    due: int | None
    offset: int


def _report(o: RefillOutcome, as_json: bool, say: Callable[..., None]) -> None:
    expected, withdrawn_nl, result, flagged = o.expected, o.withdrawn_nl, o.result, o.flagged
    difference, limit, filled_nl, new_conc = o.difference, o.limit, o.filled_nl, o.new_conc
    bridge, started, after, due, offset = o.bridge, o.started, o.after, o.due, o.offset
    if as_json:
        print_json({"expected_reservoir_nl": expected, "withdrawn_nl": withdrawn_nl,
                    "expected_withdrawn_nl": result.expected_withdrawn_nl,
                    "discrepancy": result.discrepancy or flagged
                    or (limit is not None and abs(difference) > limit),
                    "filled_nl": filled_nl, "concentration_ug_per_ml": new_conc,
                    "reservoir_nl": result.reservoir_nl, "bridge_bolus": bridge,
                    "started": started, "state": after.state.name,
                    "refill_due_ms": due, "refill_due_utc": wall_text(due + offset) if due else None})
        return
    if result.discrepancy:
        warn("the pump raised the REFILL_DISCREPANCY alarm")
    say(f"[bold]5. state[/]: {after.state.name}; next refill due: "
        f"{wall_text(due + offset) if due else 'not computable (therapy not running)'}")
