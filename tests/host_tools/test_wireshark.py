"""Captures with one packet per frame, and the generated Wireshark dissector read by tshark."""
from __future__ import annotations

import binascii
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import hal
from firmware_sim.device import start_virtual_pump
from hal.capture import CaptureWriter, read_capture
from host_tools import wireshark as ws
from host_tools.capture_frames import NOISE_COMMENT, FrameSegmenter
from host_tools.client import PumpClient
from host_tools.pumpctl import cli
from host_tools.records import Step
from host_tools.wireshark.generate import render
from protocol import messages as wire
from protocol.enums import MessageType as MT

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed "
                                  "(apt-get install tshark; .ci/run installs it when run as root)")


def test_shipped_dissector_is_generated_from_the_declarations():
    shipped = ws.dissector_path().read_text(encoding="utf-8")
    assert shipped == render(), ("host_tools/wireshark/intrapump.lua is stale: run "
                                 "python -m host_tools.wireshark.generate")
    for msg_type, spec in wire.REGISTRY.items():
        assert f"name=\"{msg_type.name}\"" in shipped
        for field in wire.field_names(spec.construct):
            assert f"name=\"{field}\"" in shipped


def test_segmenter_cuts_frames_and_noise_across_chunks():
    vectors = [json.loads(p.read_text()) for p in sorted(VECTORS.glob("*.json"))[:3]]
    frames = [bytes.fromhex(v["hex"]) for v in vectors]
    stream = b"\x01\x02" + frames[0] + frames[1] + b"zz\xa5" + frames[2]
    seg = FrameSegmenter()
    packets = []
    for i in range(0, len(stream), 7):  # arbitrary chunking
        packets += seg.feed(stream[i:i + 7])
    packets += seg.flush()
    assert b"".join(p for p, _ in packets) == stream
    assert packets == [(b"\x01\x02", NOISE_COMMENT), (frames[0], None), (frames[1], None),
                       (b"zz\xa5", NOISE_COMMENT), (frames[2], None)]


def test_a_cut_off_frame_is_written_as_noise_when_the_link_closes(tmp_path):
    path = tmp_path / "cut.pcapng"
    pump, host = hal.virtual_pair()
    link = hal.CaptureLink(host, path, segmenter=FrameSegmenter)
    frame = bytes.fromhex(json.loads((VECTORS / "status.json").read_text())["hex"])
    link.write(frame + frame[:10])
    link.close()
    pump.close()
    chunks = list(read_capture(path))
    assert [(c.data, c.comment) for c in chunks] == [(frame, None), (frame[:10], NOISE_COMMENT)]


def _session_capture(path: Path) -> None:
    """A whole programming session through the pump end, recorded one packet per frame."""
    with start_virtual_pump() as vp:
        link = hal.open(vp.url, capture=str(path), capture_segmenter=FrameSegmenter)
        with PumpClient(link) as c:
            c.identify()
            c.status()
            c.set_drug("morphine", 10_000)
            c.drug()
            c.set_schedule([Step(0, 400_000), Step(390, 600_000)])
            c.schedule()
            c.refill_begin()
            c.refill_withdrawn(0)
            c.refill_complete(0, 20_000_000, 10_000)
            c.set_limits(patient_bolus_dose_ug=500, patient_bolus_duration_ms=600_000,
                         patient_lockout_ms=3_600_000, patient_max_per_day=4,
                         low_reservoir_threshold_nl=2_000_000)
            c.limits()
            c.start()
            c.alarms()
            c.read_log(0, 16)
            c.clock()
        link.write(b"line noise")
        link.close()


def test_session_capture_has_one_packet_per_frame(tmp_path):
    path = tmp_path / "session.pcapng"
    _session_capture(path)
    chunks = list(read_capture(path))
    frames = [c for c in chunks if c.comment is None]
    assert len(frames) >= 30
    assert all(c.data[:2] == b"\xa5\x5a" for c in frames)
    assert [c.data for c in chunks if c.comment == NOISE_COMMENT] == [b"line noise"]
    assert {c.direction for c in frames} == {"tx", "rx"}


def _tshark_json(path: Path) -> list[dict]:
    done = subprocess.run([TSHARK, "-X", f"lua_script:{ws.dissector_path()}", "-r", str(path),
                           "-T", "json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Lua: Error" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def _keys(tree: object, out: dict[str, object]) -> dict[str, object]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.setdefault(key.removesuffix("_tree"), value)
            _keys(value, out)
    elif isinstance(tree, list):
        for value in tree:
            _keys(value, out)
    return out


def _expert_severities(fields: dict[str, object]) -> list[str]:
    """The dissector's expert items on a packet, except the note every NAK carries."""
    return [k for k in fields if k.startswith("intrapump.expert.") and k != "intrapump.expert.nak"]


@needs_tshark
def test_tshark_decodes_every_message_and_field_of_the_golden_vectors(tmp_path):
    path = tmp_path / "vectors.pcapng"
    vectors = [json.loads(p.read_text()) for p in sorted(VECTORS.glob("*.json"))]
    writer = CaptureWriter(path)
    for v in vectors:
        writer.record("tx" if v["kind"] == "request" else "rx", bytes.fromhex(v["hex"]))
    writer.close()
    packets = _tshark_json(path)
    assert len(packets) == len(vectors)
    for v, packet in zip(vectors, packets):
        fields = _keys(packet["_source"]["layers"].get("intrapump"), {})
        assert fields, f"{v['name']}: not dissected"
        assert fields["intrapump.crc.good"] in ("1", "True", True)
        assert int(fields["intrapump.msg_type"], 0) == MT[v["name"]]
        assert _expert_severities(fields) == [], f"{v['name']}: {fields}"
        for name in wire.field_names(wire.REGISTRY[MT[v["name"]]].construct):
            assert f"intrapump.f.{name}" in fields, f"{v['name']}: field {name} not shown"


@needs_tshark
def test_tshark_flags_bad_crc_cut_off_frames_and_noise(tmp_path):
    frame = bytes.fromhex(json.loads((VECTORS / "status.json").read_text())["hex"])
    bad = frame[:-1] + bytes([frame[-1] ^ 0xFF])
    path = tmp_path / "bad.pcapng"
    writer = CaptureWriter(path)
    writer.record("rx", bad)
    writer.record("rx", frame[:20])
    writer.record("rx", b"\x00\x01noise", comment=NOISE_COMMENT)
    identify = bytes.fromhex(json.loads((VECTORS / "identify.json").read_text())["hex"])
    untagged_in_session = identify[:4] + b"\x00\x00\x00\x07" + identify[8:-2]
    writer.record("tx", untagged_in_session + binascii.crc_hqx(untagged_in_session, 0xFFFF).to_bytes(2, "big"))
    writer.close()
    bad_crc, cut, noise, untagged = (_keys(p["_source"]["layers"]["intrapump"], {})
                                     for p in _tshark_json(path))
    assert "intrapump.expert.tag" in untagged and untagged["intrapump.crc.good"] in ("1", "True", True)
    assert bad_crc["intrapump.crc.good"] in ("0", "False", False)
    assert "intrapump.expert.bad_crc" in bad_crc
    assert "intrapump.expert.truncated" in cut
    assert "intrapump.expert.not_a_frame" in noise


@needs_tshark
def test_tshark_reads_a_whole_session_capture(tmp_path):
    path = tmp_path / "session.pcapng"
    _session_capture(path)
    packets = _tshark_json(path)
    layers = [_keys(p["_source"]["layers"]["intrapump"], {}) for p in packets]
    frames = [f for f in layers if "intrapump.msg_type" in f]
    assert len(frames) == len(packets) - 1  # all but the line noise
    assert all(_expert_severities(f) == [] for f in frames)
    names = {int(f["intrapump.msg_type"], 0) for f in frames}
    assert {MT.SESSION_OPEN, MT.STATUS, MT.SET_SCHEDULE, MT.REFILL_RESULT, MT.LOG_PAGE,
            MT.SESSION_CLOSE} <= names


def test_pumpctl_wireshark_prints_the_dissector_and_installs_it(tmp_path):
    result = CliRunner().invoke(cli, ["wireshark"])
    assert result.exit_code == 0
    assert str(ws.dissector_path()) in result.output
    assert f"tshark -X lua_script:{ws.dissector_path()}" in result.output
    result = CliRunner().invoke(cli, ["wireshark", "--plugin-dir", str(tmp_path / "plugins")])
    assert result.exit_code == 0
    assert (tmp_path / "plugins" / "intrapump.lua").read_text() == ws.dissector_path().read_text()
