"""Serial line settings (options and URL) and the response timeout derived from the line speed."""
from __future__ import annotations

import logging

import pytest
from click.testing import CliRunner

from firmware_sim.device import start_virtual_pump
from host_tools.client import PumpClient
from host_tools.line import (LineSettings, LineSettingsError, max_frame_bytes, merge_settings,
                             response_timeout_s, split_line_url)
from host_tools.pumpctl import cli, run
from protocol import MessageType as MT
from protocol import messages as wire


def test_url_query_gives_line_settings_and_is_removed_from_a_port_name():
    url, found = split_line_url("/dev/pts/2?baud=9600&parity=e&stopbits=2&rtscts=1&bytesize=7")
    assert url == "/dev/pts/2"
    assert found == {"baud": 9600, "parity": "E", "stopbits": 2.0, "rtscts": True, "bytesize": 7}
    assert split_line_url("pty:///dev/pts/3?baudrate=19200") == ("pty:///dev/pts/3", {"baud": 19200})
    assert split_line_url("virtual://p?baud=300") == ("virtual://p?baud=300", {"baud": 300})
    assert split_line_url("tcp://localhost:5000") == ("tcp://localhost:5000", {})


@pytest.mark.parametrize("url", ["/dev/pts/2?speed=9600", "/dev/pts/2?baud=fast",
                                 "/dev/pts/2?rtscts=maybe", "/dev/pts/2?baud=1&baud=2"])
def test_bad_url_settings_are_refused_by_name(url):
    with pytest.raises(LineSettingsError):
        split_line_url(url)


def test_options_and_url_merge_and_contradictions_are_refused():
    assert merge_settings({"baud": 9600}, {"baud": None, "parity": "E"}) == LineSettings(9600, parity="E")
    with pytest.raises(LineSettingsError, match="baud is 9600 in the URL but 19200"):
        merge_settings({"baud": 9600}, {"baud": 19200})
    with pytest.raises(LineSettingsError):
        LineSettings(bytesize=9)
    with pytest.raises(LineSettingsError):
        LineSettings(stopbits=3)


def test_link_options_per_kind_of_link():
    line = LineSettings(9600, parity="E", rtscts=True)
    assert line.link_options("/dev/ttyUSB0") == {"baudrate": 9600, "bytesize": 8, "parity": "E",
                                                 "stopbits": 1, "rtscts": True, "xonxoff": False}
    assert LineSettings(1200).link_options("virtual://p") == {"baud": 1200}
    with pytest.raises(LineSettingsError, match="virtual link takes only baud"):
        line.link_options("virtual://p")
    with pytest.raises(LineSettingsError, match="serial ports"):
        line.link_options("tcp://localhost:1")
    assert LineSettings().link_options("tcp://localhost:1") == {}


def test_timeout_grows_with_the_slowest_exchange_on_the_line():
    # The largest answer is a LOG_PAGE of 16 entries with 48-byte details: build one.
    entry = {"index": 1, "time_ms": 2, "kind": 1, "detail": "x" * 48}
    page = wire.encode_payload(MT.LOG_PAGE, {"total_count": 16, "entries": [entry] * 16})
    tagged = 15 + 16 + 2  # header, tag, CRC
    assert tagged + len(page) == max_frame_bytes("answer")
    schedule = wire.encode_payload(MT.SET_SCHEDULE, {"weekday": 255, "steps": [
        {"start_minute": i, "rate_nl_per_day": 1} for i in range(wire.MAX_STEPS)]})
    assert tagged + len(schedule) == max_frame_bytes("request")
    expected = 0.5 + (max_frame_bytes("request") + max_frame_bytes("answer")) * 10 / 9600
    assert response_timeout_s(9600) == pytest.approx(expected)
    assert 1.5 < response_timeout_s(9600) < 2.5
    assert response_timeout_s(None) == 0.5
    assert response_timeout_s(9600, LineSettings(parity="E", stopbits=2).bits_per_byte) > expected
    assert LineSettings().effective_baud("/dev/ttyUSB0") == 9600  # pyserial's default
    assert LineSettings().effective_baud("tcp://h:1") is None


def _fill_log(vp, entries: int) -> None:
    with PumpClient(vp.url) as fast:
        for i in range(entries):
            fast.set_drug("morphine", 1000 + i)


def test_a_full_log_page_at_9600_baud_needs_the_derived_timeout():
    """Reproduction: a 16-entry page outlasts the fixed 0.5 s timeout at 9600 baud (the request
    is retransmitted); with the timeout derived from the line speed it is not."""
    with start_virtual_pump(baud=9600) as vp:
        _fill_log(vp, 16)
        with PumpClient(vp.url, timeout_s=0.5, retries=6) as fixed:
            fixed.read_log(0, 16)
            assert fixed.stats.retransmits > 0
        with PumpClient(vp.url, timeout_s=response_timeout_s(9600), retries=0) as derived:
            page = derived.read_log(0, 16)
            assert len(page.entries) == 16
            assert derived.stats.retransmits == 0


def test_pumpctl_line_options_in_verbose_output(caplog):
    caplog.set_level(logging.INFO, logger="pumpctl")
    with start_virtual_pump() as vp:
        result = CliRunner().invoke(cli, ["-v", "--url", f"{vp.url}?baud=115200", "status", "--json"])
        assert result.exit_code == 0, result.output
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "115200 baud 8N1, RTS/CTS off, XON/XOFF off" in logged
    assert "response timeout 0.619 s" in logged


def test_pumpctl_refuses_contradicting_or_misplaced_line_settings(capsys):
    assert run(["--url", "/dev/null?baud=9600", "--baud", "1200", "status"]) == 2
    assert "9600 in the URL but 1200" in capsys.readouterr().err
    assert run(["--url", "tcp://127.0.0.1:9", "--parity", "E", "status"]) == 2
    assert "serial ports" in capsys.readouterr().err
    assert run(["--url", "/dev/null?speed=1", "status"]) == 2


def test_version_options():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "pumpctl (intrapump)" in result.output
    from host_tools.pumpsim import cli as pumpsim_cli
    result = CliRunner().invoke(pumpsim_cli, ["--version"])
    assert result.exit_code == 0 and "pumpsim (intrapump)" in result.output
