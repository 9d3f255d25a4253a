"""Schedule files (YAML and CSV) and the 24 h preview."""
from pathlib import Path

import pytest

from host_tools.preview import preview_plan
from host_tools.schedule_file import (EVERY_DAY, ScheduleFileError, load_schedule_file,
                                      parse_csv_schedule, parse_yaml_schedule)

EXAMPLES = Path(__file__).resolve().parents[2] / "host_tools" / "examples"


def test_shipped_yaml_example_reads_into_integer_steps():
    plans = load_schedule_file(EXAMPLES / "morphine_day.yaml")
    assert [p.weekday for p in plans] == [EVERY_DAY, 5]
    every_day = plans[0]
    assert [(s.start_minute, s.rate_nl_per_day) for s in every_day.steps] == [
        (0, 400_000), (390, 600_000), (720, 550_000), (1080, 550_000), (1350, 400_000)]
    assert all(isinstance(s.rate_nl_per_day, int) for s in every_day.steps)


def test_shipped_csv_example_matches_yaml_every_day_plan():
    csv_plans = load_schedule_file(EXAMPLES / "morphine_day.csv")
    yaml_plans = load_schedule_file(EXAMPLES / "morphine_day.yaml")
    assert csv_plans[0].steps == yaml_plans[0].steps


@pytest.mark.parametrize("column,value,expected_nl_per_day", [
    ("rate_nl_per_day", "48000", 48_000),
    ("rate_ul_per_day", "48", 48_000),
    ("rate_ml_per_day", "0.048", 48_000),
    ("rate_ul_per_hour", "2", 48_000),
    ("dose_ug_per_day", "480", 48_000),       # at 10,000 ug/mL
    ("dose_mg_per_day", "0.48", 48_000),
    ("dose_ug_per_hour", "20", 48_000),
])
def test_every_unit_converts_exactly(column, value, expected_nl_per_day):
    plans = parse_csv_schedule(f"start,{column}\n00:00,{value}\n", "s.csv", concentration_ug_per_ml=10_000)
    assert plans[0].steps[0].rate_nl_per_day == expected_nl_per_day


@pytest.mark.parametrize("text,line,field", [
    ("every_day:\n  - {start: \"00:00\", rate_ml_per_day: 0.4}\n  - {start: \"25:00\", rate_ml_per_day: 1}\n", 3, "start"),
    ("every_day:\n  - {start: \"00:00\", rate_ml_per_day: lots}\n", 2, "rate_ml_per_day"),
    ("every_day:\n  - {start: \"00:00\", rate_ml_per_day: -1}\n", 2, "rate_ml_per_day"),
    ("every_day:\n  - {start: \"01:00\", rate_ml_per_day: 1}\n", 2, "start"),
    ("every_day:\n  - {start: \"00:00\", rate_ml_per_day: 1}\n  - {start: \"00:00\", rate_ml_per_day: 1}\n", 3, "start"),
    ("every_day:\n  - {start: \"00:00\", rate_ml_per_day: 1, colour: red}\n", 2, "colour"),
    ("every_day:\n  - {start: \"00:00\", dose_mg_per_day: 1}\n", 2, "dose_mg_per_day"),
    ("every_day:\n  - {start: \"00:00\"}\n", 2, "rate"),
    ("funday:\n  - {start: \"00:00\", rate_ml_per_day: 1}\n", 1, "funday"),
    ("every_day: [\n", 2, "yaml"),
])
def test_yaml_errors_name_line_and_field(text, line, field):
    with pytest.raises(ScheduleFileError) as err:
        parse_yaml_schedule(text, "plan.yaml")
    assert (err.value.line, err.value.field) == (line, field)
    assert str(err.value).startswith(f"plan.yaml:{line}: {field}:")


def test_csv_errors_name_line_and_field():
    with pytest.raises(ScheduleFileError) as err:
        parse_csv_schedule("start,rate_ml_per_day\n00:00,0.4\n7h,0.5\n", "plan.csv")
    assert (err.value.line, err.value.field) == (3, "start")
    with pytest.raises(ScheduleFileError) as err:
        parse_csv_schedule("weekday,start,rate_ml_per_day\nsomeday,00:00,0.4\n", "plan.csv")
    assert (err.value.line, err.value.field) == (2, "weekday")


def test_more_than_48_steps_refused():
    rows = "".join(f"{m // 60:02d}:{m % 60:02d},1\n" for m in range(0, 49 * 10, 10))
    with pytest.raises(ScheduleFileError, match="at most 48"):
        parse_csv_schedule("start,rate_ml_per_day\n" + rows, "plan.csv")


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(ScheduleFileError, match="file"):
        load_schedule_file(tmp_path / "absent.yaml")
    other = tmp_path / "plan.txt"
    other.write_text("x")
    with pytest.raises(ScheduleFileError, match="unknown schedule format"):
        load_schedule_file(other)


def test_preview_totals_are_exact_integrals():
    plan = parse_csv_schedule("start,rate_nl_per_day\n00:00,1440000\n12:00,2880000\n", "p.csv")[0]
    preview = preview_plan(plan, concentration_ug_per_ml=1_000, soft_limit_ug=2_000, hard_limit_ug=3_000)
    assert [r.volume_nl for r in preview.rows] == [720_000, 1_440_000]
    assert preview.total_volume_nl == 2_160_000
    assert preview.total_dose_ug == 2_160
    assert preview.over_soft_limit and not preview.over_hard_limit


def test_file_concentration_other_than_the_pumps_is_refused_at_its_line(tmp_path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("every_day:\n  - {start: '00:00', dose_mg_per_day: 5}\n"
                    "concentration_ug_per_ml: 10000\n")
    with pytest.raises(ScheduleFileError) as info:
        load_schedule_file(path, 5000)
    assert info.value.line == 3
    assert info.value.field == "concentration_ug_per_ml"
    assert "10000" in str(info.value) and "5000" in str(info.value)
    # the same concentration as the pump's is accepted
    (plan,) = load_schedule_file(path, 10000)
    assert plan.steps[0].rate_nl_per_day == 500_000


def test_an_unknown_step_field_names_the_fields_a_step_has(tmp_path):
    """A step written with a field the format does not have (``rate: 1``) is refused at its line,
    and the message lists the fields a step can have."""
    path = tmp_path / "plan.yaml"
    path.write_text('every_day:\n  - {start: "00:00", rate: 1}\n', encoding="utf-8")
    with pytest.raises(ScheduleFileError) as err:
        load_schedule_file(path, 10_000)
    text = str(err.value)
    assert "plan.yaml:2" in text and "rate" in text
    assert "rate_ml_per_day" in text and "dose_mg_per_day" in text and "start" in text
