"""Device profiles: shipped files, user files, and every kind of error."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim import Profile, ProfileError, Pump, Schedule, load_profile
from firmware_sim.profile import PROFILE_DIR

from .helpers import ML, ready_pump, write_profile


def test_shipped_profiles() -> None:
    p20, p40 = load_profile("ip20"), load_profile("ip40")
    assert (p20.name, p20.reservoir_capacity_nl) == ("ip20", 20 * ML)
    assert (p40.name, p40.reservoir_capacity_nl) == ("ip40", 40 * ML)
    for p in (p20, p40):
        assert (p.min_rate_nl_per_day, p.max_rate_nl_per_day) == (48_000, 24_000_000)
        assert p.max_steps_per_day == 48
        assert p.low_threshold_default_nl == 2 * ML
        assert set(p.drugs) == {"morphine", "hydromorphone", "ziconotide", "baclofen",
                                "bupivacaine", "clonidine"}
        assert p.drug("MORPHINE") is p.drugs["morphine"]
        assert p.drug("aspirin") is None
        assert Profile.from_dict(p.to_dict()) == p


def test_40ml_pump_takes_40ml() -> None:
    pump = ready_pump("ip40", fill_nl=40 * ML)
    assert pump.status().reservoir_nl == 40 * ML
    assert pump.status().capacity_nl == 40 * ML


def test_user_profile_file(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "clinic", capacity_nl="30_000_000", max_steps_per_day="4",
                         hard_daily_limit_ug="40_000")
    prof = load_profile(path)
    assert prof.name == "clinic" and prof.reservoir_capacity_nl == 30 * ML
    assert prof.max_steps_per_day == 4
    pump = ready_pump(prof, fill_nl=30 * ML, schedule=Schedule.constant(4 * ML))
    assert pump.status().capacity_nl == 30 * ML
    assert load_profile(str(path)) == prof


def test_profile_saved_with_the_pump_wins_on_restart(tmp_path: Path) -> None:
    from firmware_sim import Storage
    prof = load_profile(write_profile(tmp_path, "big", capacity_nl="30_000_000"))
    pump = ready_pump(prof, fill_nl=30 * ML, storage=Storage(tmp_path / "p.db"))
    pump.storage.close()
    again = Pump(load_profile("ip20"), Storage(tmp_path / "p.db"))
    assert again.status().capacity_nl == 30 * ML


@pytest.mark.parametrize("overrides,message", [
    ({"capacity_nl": '"big"'}, "reservoir.capacity_nl: expected an integer"),
    ({"capacity_nl": "0"}, "reservoir.capacity_nl: 0 outside"),
    ({"capacity_nl": "true"}, "reservoir.capacity_nl: expected an integer"),
    ({"low_threshold_default_nl": "6_000_000"}, "reservoir.low_threshold_default_nl"),
    ({"max_nl_per_day": "1"}, "rate.max_nl_per_day"),
    ({"max_steps_per_day": "1441"}, "rate.max_steps_per_day"),
    ({"discrepancy_percent": "101"}, "refill.discrepancy_percent"),
    ({"hard_daily_limit_ug": "1"}, "hard_daily_limit_ug"),
    ({"eri_days_before_end_of_service": "3000"}, "battery.eri_days_before_end_of_service"),
    ({"idle_uah_per_day": "0"}, "battery.idle_uah_per_day"),
    ({"life_days_high_volume": "3000"}, "battery.life_days_high_volume"),
    ({"max_per_24h": "0"}, "patient_bolus.max_per_24h"),
    ({"auth_burst": "0"}, "security.auth_burst: 0 outside"),
    ({"auth_period_ms": "-1"}, "security.auth_period_ms: -1 outside"),
])
def test_profile_value_errors(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(ProfileError) as ei:
        load_profile(write_profile(tmp_path, **overrides))
    assert message in str(ei.value)
    assert "custom.toml" in str(ei.value)


def test_profile_missing_key_and_table(tmp_path: Path) -> None:
    text = (PROFILE_DIR / "ip20.toml").read_text()
    (tmp_path / "a.toml").write_text(text.replace("dead_volume_nl", "#dead_volume_nl"))
    with pytest.raises(ProfileError, match="missing key 'dead_volume_nl'"):
        load_profile(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text(text.replace("[battery]", "[batteries]"))
    with pytest.raises(ProfileError, match=r"missing table \[battery\]"):
        load_profile(tmp_path / "b.toml")
    head = text.split("[drugs.morphine]")[0]
    (tmp_path / "c.toml").write_text(head + "[drugs]\n")
    with pytest.raises(ProfileError, match="drug library is empty"):
        load_profile(tmp_path / "c.toml")
    (tmp_path / "d.toml").write_text(text.replace('name = "ip20"', ""))
    with pytest.raises(ProfileError, match="'name'"):
        load_profile(tmp_path / "d.toml")


def test_profile_not_toml_or_missing(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("this is = = not toml [")
    with pytest.raises(ProfileError, match="not a readable TOML file"):
        load_profile(tmp_path / "bad.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ProfileError):
        load_profile(tmp_path / "bin.toml")
    with pytest.raises(ProfileError, match="ip20, ip40"):
        load_profile("ip99")
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "nope.toml")
    with pytest.raises(ProfileError):
        load_profile(tmp_path)  # a directory
