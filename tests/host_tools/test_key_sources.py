"""Keys: a key file other users can read is refused (as ssh refuses such a private key);
pumpctl takes the role key from PUMPCTL_KEY or --key-file as well as from --key."""
from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.device.harness import start_virtual_pump
from host_tools.pumpctl import run
from protocol import DEVELOPMENT_KEYS, KeyFileError, Role, dump_keys, load_keys
from protocol.keys import load_key_file

CLINICIAN_HEX = DEVELOPMENT_KEYS[Role.CLINICIAN].hex()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_key_files_readable_by_others_are_refused(tmp_path: Path, mode: int) -> None:
    keys, key = tmp_path / "keys.json", tmp_path / "clinician.key"
    keys.write_text(dump_keys(DEVELOPMENT_KEYS))
    key.write_text(CLINICIAN_HEX + "\n")
    for path in (keys, key):
        path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_keys(keys)
    with pytest.raises(KeyFileError, match="too open"):
        load_key_file(key)
    for path in (keys, key):
        path.chmod(0o600)
    assert load_keys(keys) == DEVELOPMENT_KEYS
    assert load_key_file(key) == DEVELOPMENT_KEYS[Role.CLINICIAN]


def test_pumpctl_takes_the_key_from_the_environment_or_a_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "clinician.key"
    key.write_text(CLINICIAN_HEX + "\n")
    key.chmod(0o600)
    with start_virtual_pump() as vp:
        monkeypatch.setenv("PUMPCTL_KEY", CLINICIAN_HEX)
        assert run(["--url", vp.url, "clock"]) == 0
        monkeypatch.setenv("PUMPCTL_KEY", "11" * 32)  # a wrong key from the environment is used
        assert run(["--url", vp.url, "clock"]) == 4
        monkeypatch.delenv("PUMPCTL_KEY")
        assert "command line" not in capsys.readouterr().err
        assert run(["--url", vp.url, "--key-file", str(key), "clock"]) == 0
        assert run(["--url", vp.url, "--key", CLINICIAN_HEX, "clock"]) == 0
        assert "command line" in capsys.readouterr().err  # --key works, with a warning
        key.chmod(0o644)
        assert run(["--url", vp.url, "--key-file", str(key), "clock"]) == 6
        assert "too open" in capsys.readouterr().err
