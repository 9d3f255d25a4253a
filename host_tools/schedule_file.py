"""Schedule files: a time-of-day infusion program written by a person, in YAML or CSV.

A schedule file lists steps (a start time of day and a rate, or a dose per day from which the rate
follows through the drug's concentration), for every day or for one weekday. It is read into
integer units (start minute of the day, rate in nanolitres per day) before anything is sent to a
pump; every error names the file, the line and the field.

YAML::

    concentration_ug_per_ml: 10000      # needed only when steps are given by dose
    every_day:
      - {start: "00:00", rate_ml_per_day: 0.5}
      - {start: "07:30", dose_mg_per_day: 6}
    saturday:
      - {start: "00:00", rate_ul_per_hour: 20}

CSV (one row a step; the ``weekday`` column is optional, empty means every day)::

    weekday,start,rate_ml_per_day
    ,00:00,0.5
    ,07:30,0.8

Rate columns: ``rate_nl_per_day``, ``rate_ul_per_day``, ``rate_ml_per_day``, ``rate_ul_per_hour``.
Dose columns: ``dose_ug_per_day``, ``dose_mg_per_day``, ``dose_ug_per_hour``.

Hostile files are refused with the file, the line and the reason, in bounded time and memory:
files over ``MAX_FILE_BYTES``, bytes that are not UTF-8, YAML anchors and aliases (a few hundred
bytes of aliases can expand to gigabytes), more than ``MAX_YAML_EVENTS`` YAML nodes or ``MAX_YAML_DEPTH`` levels, numbers
with more than ``MAX_DIGITS`` significant digits or an exponent beyond ``MAX_EXPONENT``.
"""
from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

EVERY_DAY = 0xFF
"""Weekday selector of the plan that applies on every day without a plan of its own."""

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_KEYS = {name: index for index, name in enumerate(WEEKDAYS)}
_DAY_KEYS.update({name[:3]: index for index, name in enumerate(WEEKDAYS)})
_DAY_KEYS.update({"every_day": EVERY_DAY, "everyday": EVERY_DAY, "all": EVERY_DAY, "": EVERY_DAY})

NL_PER_DAY = {  # nanolitres per day in one unit of each rate column
    "rate_nl_per_day": Fraction(1),
    "rate_ul_per_day": Fraction(1_000),
    "rate_ml_per_day": Fraction(1_000_000),
    "rate_ul_per_hour": Fraction(24_000),
}
UG_PER_DAY = {  # micrograms per day in one unit of each dose column
    "dose_ug_per_day": Fraction(1),
    "dose_mg_per_day": Fraction(1_000),
    "dose_ug_per_hour": Fraction(24),
}
MAX_STEPS_PER_DAY = 48
MAX_FILE_BYTES = 256 * 1024
"""Largest schedule file read (a full week of 48-step plans is under 30 KB)."""
MAX_YAML_EVENTS = 20_000
"""Most YAML parser events (nodes, starts and ends) a schedule file may have."""
MAX_YAML_DEPTH = 6
"""Deepest nesting of YAML lists and mappings (a schedule needs three levels)."""
MAX_DIGITS = 30
"""Most significant digits of a number in a schedule file."""
MAX_EXPONENT = 12
"""Largest decimal exponent (either sign) of a number in a schedule file: 1e12 nL/day is far
above any pump's rate, and 1e-12 is below any unit's resolution."""


class ScheduleFileError(ValueError):
    """A schedule file that cannot be used: ``path``, ``line`` (1-based, or None), ``field``, ``reason``."""

    def __init__(self, path: str, line: int | None, field_name: str, reason: str) -> None:
        self.path, self.line, self.field, self.reason = path, line, field_name, reason
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field_name}: {reason}")


@dataclass(frozen=True)
class ScheduleStep:
    """One step of a day plan: from ``start_minute`` (0-1439) the pump runs at ``rate_nl_per_day``."""

    start_minute: int
    rate_nl_per_day: int
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SchedulePlan:
    """The steps of one plan; ``weekday`` is 0 (Monday) to 6 (Sunday) or ``EVERY_DAY``."""

    weekday: int
    steps: tuple[ScheduleStep, ...]


def weekday_name(weekday: int) -> str:
    """A person's name for a weekday selector ("every day", "monday", ...)."""
    return "every day" if weekday == EVERY_DAY else WEEKDAYS[weekday]


def load_schedule_file(path: str | Path, concentration_ug_per_ml: int | None = None, *,
                       placeholder_concentration: bool = False) -> list[SchedulePlan]:
    """Read a YAML (``.yaml``/``.yml``) or CSV (``.csv``) schedule file into plans, every-day plan first.

    ``concentration_ug_per_ml`` (the pump's) converts dose columns to rates; a file that declares
    another concentration is refused at that line rather than converted with the wrong one.
    ``placeholder_concentration``: see :func:`check_schedule_file`.
    Raises :class:`ScheduleFileError` naming the line and field of the first problem found.
    """
    path = Path(path)
    text = read_schedule_text(path)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return parse_yaml_schedule(text, str(path), concentration_ug_per_ml,
                                   placeholder_concentration=placeholder_concentration)
    if suffix == ".csv":
        return parse_csv_schedule(text, str(path), concentration_ug_per_ml,
                                  placeholder_concentration=placeholder_concentration)
    raise ScheduleFileError(str(path), None, "file", f"unknown schedule format {suffix!r} (use .yaml, .yml or .csv)")


def check_schedule_file(path: str | Path) -> list[SchedulePlan]:
    """Everything :func:`load_schedule_file` checks that needs no pump: the file's size,
    encoding, syntax, structure and every value. Dose steps, which need the pump's concentration,
    are converted with a placeholder concentration (1 ug/mL) unless the file declares its own, so
    their rates are not meaningful; call :func:`load_schedule_file` for the real plans."""
    return load_schedule_file(path, placeholder_concentration=True)


def read_schedule_text(path: Path) -> str:
    """The file's text: at most MAX_FILE_BYTES, strict UTF-8 (the line of a bad byte named)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScheduleFileError(str(path), None, "file", exc.strerror or str(exc)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise ScheduleFileError(str(path), None, "file", f"larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ScheduleFileError(str(path), line, "file",
                                f"not UTF-8 text (byte 0x{data[exc.start]:02X})") from None


def _yaml_error(name: str, text: str, exc: yaml.YAMLError) -> ScheduleFileError:
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses (NUL, controls)
        return ScheduleFileError(name, text.count("\n", 0, exc.position) + 1, "yaml",
                                 f"character #x{exc.character:04x} is not allowed")
    mark = getattr(exc, "problem_mark", None)
    return ScheduleFileError(name, mark.line + 1 if mark else None, "yaml",
                             str(getattr(exc, "problem", None) or exc))


def _check_yaml_events(text: str, name: str) -> None:
    """Refuse anchors, aliases and oversized documents before any node is built."""
    depth = 0
    try:
        for count, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader)):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise ScheduleFileError(name, line, "yaml", f"nested deeper than {MAX_YAML_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if count > MAX_YAML_EVENTS:
                raise ScheduleFileError(name, line, "yaml", f"more than {MAX_YAML_EVENTS} YAML nodes")
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise ScheduleFileError(name, line, "yaml", "anchors and aliases (& and *) are not allowed")
    except yaml.YAMLError as exc:
        raise _yaml_error(name, text, exc) from exc


def parse_yaml_schedule(text: str, name: str = "<yaml>", concentration_ug_per_ml: int | None = None,
                        *, placeholder_concentration: bool = False) -> list[SchedulePlan]:
    """Parse the YAML form (see the module docstring); line numbers come from the YAML nodes.
    ``placeholder_concentration``: see :func:`check_schedule_file`."""
    _check_yaml_events(text, name)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(name, text, exc) from exc
    if root is None:
        raise ScheduleFileError(name, 1, "file", "the file is empty (expected every_day:, monday:, ...)")
    if not isinstance(root, yaml.MappingNode):
        raise ScheduleFileError(name, _line(root), "file", "expected a mapping of plans (every_day:, monday:, ...)")
    concentration = concentration_ug_per_ml
    raw_plans: list[tuple[int, int, list[tuple[int, dict[str, tuple[str, int]]]]]] = []
    for key_node, value_node in root.value:
        key = _scalar(name, key_node, "key").strip().lower()
        if key == "concentration_ug_per_ml":
            declared = _positive_int(name, _line(value_node), key,
                                     _scalar(name, value_node, key))
            if concentration_ug_per_ml is not None and declared != concentration_ug_per_ml:
                # Doses in the file were written for another concentration: converting them
                # with either value would program a dose nobody asked for.
                raise ScheduleFileError(
                    name, _line(value_node), key,
                    f"the file is written for {declared} ug/mL but the pump holds "
                    f"{concentration_ug_per_ml} ug/mL")
            concentration = declared
            continue
        if key not in _DAY_KEYS or key == "":
            raise ScheduleFileError(name, _line(key_node), key, "unknown key (expected every_day, a weekday or concentration_ug_per_ml)")
        if not isinstance(value_node, yaml.SequenceNode):
            raise ScheduleFileError(name, _line(value_node), key, "expected a list of steps")
        rows = []
        for item in value_node.value:
            if not isinstance(item, yaml.MappingNode):
                raise ScheduleFileError(name, _line(item), key, "each step is a mapping such as {start: \"00:00\", rate_ml_per_day: 0.5}")
            rows.append((_line(item), _step_cells(name, item)))
        raw_plans.append((_DAY_KEYS[key], _line(key_node), rows))
    if concentration is None and placeholder_concentration:
        concentration = 1
    return _build_plans(name, raw_plans, concentration)


def _scalar(name: str, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise ScheduleFileError(name, _line(node), what, "expected a single value, not a list or mapping")
    return str(node.value)


def _step_cells(name: str, item: yaml.MappingNode) -> dict[str, tuple[str, int]]:
    cells: dict[str, tuple[str, int]] = {}
    for k, v in item.value:
        key = _scalar(name, k, "key").strip().lower()
        if key in cells:
            raise ScheduleFileError(name, _line(k), key, "given twice in this step")
        cells[key] = (_scalar(name, v, key), _line(v))
    return cells


def parse_csv_schedule(text: str, name: str = "<csv>", concentration_ug_per_ml: int | None = None,
                       *, placeholder_concentration: bool = False) -> list[SchedulePlan]:
    """Parse the CSV form (see the module docstring); line 1 is the header.
    ``placeholder_concentration``: see :func:`check_schedule_file`."""
    return _parse_csv(text, name, concentration_ug_per_ml if concentration_ug_per_ml is not None
                      or not placeholder_concentration else 1)


def _csv_rows(reader, name: str):  # type: ignore[no-untyped-def]
    """The reader's rows; a csv.Error (NUL byte, oversized field) becomes a file error at its line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ScheduleFileError(name, reader.line_num or 1, "csv", str(exc)) from None
        yield row


def _parse_csv(text: str, name: str, concentration_ug_per_ml: int | None) -> list[SchedulePlan]:
    reader = csv.reader(io.StringIO(text))
    rows = _csv_rows(reader, name)
    try:
        header = [h.strip().lower() for h in next(rows)]
    except StopIteration:
        raise ScheduleFileError(name, 1, "header", "the file is empty") from None
    if "start" not in header:
        raise ScheduleFileError(name, 1, "header", "a 'start' column is required")
    by_day: dict[int, list[tuple[int, dict[str, tuple[str, int]]]]] = {}
    for row in rows:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ScheduleFileError(name, line, "row", f"expected {len(header)} cells, found {len(row)}")
        cells = {h: (c.strip(), line) for h, c in zip(header, row) if c.strip() != "" or h == "weekday"}
        day_text = cells.pop("weekday", ("", line))[0].lower()
        if day_text not in _DAY_KEYS:
            raise ScheduleFileError(name, line, "weekday", f"unknown weekday {day_text!r}")
        by_day.setdefault(_DAY_KEYS[day_text], []).append((line, cells))
    raw_plans = [(day, rows[0][0], rows) for day, rows in by_day.items()]
    return _build_plans(name, raw_plans, concentration_ug_per_ml)


def _build_plans(name, raw_plans, concentration) -> list[SchedulePlan]:
    plans: dict[int, SchedulePlan] = {}
    for weekday, plan_line, rows in raw_plans:
        if weekday in plans:
            raise ScheduleFileError(name, plan_line, weekday_name(weekday), "this plan is given twice")
        if not rows:
            raise ScheduleFileError(name, plan_line, weekday_name(weekday), "a plan needs at least one step")
        if len(rows) > MAX_STEPS_PER_DAY:
            raise ScheduleFileError(name, rows[MAX_STEPS_PER_DAY][0], weekday_name(weekday), f"at most {MAX_STEPS_PER_DAY} steps a day")
        steps = [_build_step(name, line, cells, concentration) for line, cells in rows]
        if steps[0].start_minute != 0:
            raise ScheduleFileError(name, steps[0].line, "start", "the first step of a plan starts at 00:00")
        for before, after in zip(steps, steps[1:]):
            if after.start_minute <= before.start_minute:
                raise ScheduleFileError(name, after.line, "start", "steps must be in increasing order of start time")
        plans[weekday] = SchedulePlan(weekday, tuple(steps))
    if not plans:
        raise ScheduleFileError(name, None, "file", "no plan found")
    return sorted(plans.values(), key=lambda p: (p.weekday != EVERY_DAY, p.weekday))


def _build_step(name: str, line: int, cells: dict[str, tuple[str, int]], concentration: int | None) -> ScheduleStep:
    if "start" not in cells:
        raise ScheduleFileError(name, line, "start", "missing")
    start_text, start_line = cells.pop("start")
    start_minute = _parse_time_of_day(name, start_line, start_text)
    quantity_keys = [k for k in cells if k in NL_PER_DAY or k in UG_PER_DAY]
    unknown = [k for k in cells if k not in NL_PER_DAY and k not in UG_PER_DAY]
    if unknown:
        known = ", ".join(["start", *NL_PER_DAY, *UG_PER_DAY])
        raise ScheduleFileError(name, cells[unknown[0]][1], unknown[0],
                                f"unknown field (a step has {known})")
    if len(quantity_keys) != 1:
        raise ScheduleFileError(name, line, "rate", "give exactly one rate or dose field per step")
    key = quantity_keys[0]
    text, value_line = cells[key]
    amount = _parse_decimal(name, value_line, key, text)
    if key in NL_PER_DAY:
        rate = amount * NL_PER_DAY[key]
    else:
        if concentration is None:
            raise ScheduleFileError(name, value_line, key, "a dose needs the drug's concentration (concentration_ug_per_ml)")
        rate = amount * UG_PER_DAY[key] * 1_000_000 / concentration
    return ScheduleStep(start_minute, _round_half_even(rate), line)


def _parse_time_of_day(name: str, line: int, text: str) -> int:
    hours, sep, minutes = text.partition(":")
    try:
        if not sep:
            raise ValueError
        h, m = int(hours), int(minutes)
    except ValueError:
        raise ScheduleFileError(name, line, "start", f"{text!r} is not a time of day HH:MM") from None
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ScheduleFileError(name, line, "start", f"{text!r} is outside 00:00-23:59")
    return h * 60 + m


def _parse_decimal(name: str, line: int, key: str, text: str) -> Fraction:
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        value = Decimal(text.strip()) if len(text) <= 4 * MAX_DIGITS else None
    except InvalidOperation:
        value = None
    if value is None:
        raise ScheduleFileError(name, line, key, f"{shown!r} is not a number")
    if not value.is_finite() or value < 0:
        raise ScheduleFileError(name, line, key, f"{shown!r} must be a number of zero or more")
    if value and (len(value.as_tuple().digits) > MAX_DIGITS
                  or not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT
                  or value.as_tuple().exponent < -MAX_EXPONENT):  # type: ignore[operator]
        raise ScheduleFileError(name, line, key, f"{shown!r} is out of range (at most "
                                f"{MAX_DIGITS} digits, magnitude 1e-{MAX_EXPONENT} to 1e{MAX_EXPONENT})")
    return Fraction(value)


def _positive_int(name: str, line: int, key: str, text: str) -> int:
    value = _parse_decimal(name, line, key, text)
    if value.denominator != 1 or value <= 0:
        raise ScheduleFileError(name, line, key, f"{text!r} must be a whole number above zero")
    return int(value)


def _round_half_even(value: Fraction) -> int:
    return round(value)  # Fraction rounds exactly, half to even


def _line(node) -> int:
    return node.start_mark.line + 1
