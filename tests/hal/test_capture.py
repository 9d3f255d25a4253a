"""Capture files: structure checked independently, read back with read_capture."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

import hal
from hal.capture import CaptureWriter, read_capture
from tests.hal.conftest import read_exact


def _capture_session(tmp_path):
    path = tmp_path / "host.pcapng"
    pump, host = hal.virtual_pair(timeout=2)
    link = hal.CaptureLink(host, path)
    link.write(b"request-1")
    pump.write(b"resp")
    assert read_exact(link, 4) == b"resp"
    link.write(b"\x00\x01\x02")
    link.close()
    pump.close()
    return path


def _blocks(raw: bytes):
    pos = 0
    while pos < len(raw):
        block_type, length = struct.unpack_from("<II", raw, pos)
        assert length % 4 == 0 and length >= 12
        assert struct.unpack_from("<I", raw, pos + length - 4)[0] == length
        yield block_type, raw[pos + 8 : pos + length - 4]
        pos += length
    assert pos == len(raw)


def test_capture_file_structure(tmp_path) -> None:
    raw = _capture_session(tmp_path).read_bytes()
    blocks = list(_blocks(raw))
    assert [t for t, _ in blocks] == [0x0A0D0D0A, 1, 6, 6, 6]
    shb = blocks[0][1]
    assert struct.unpack_from("<IHH", shb) == (0x1A2B3C4D, 1, 0)
    idb = blocks[1][1]
    assert struct.unpack_from("<H", idb)[0] == 147  # LINKTYPE_USER0
    seen = []
    for _, body in blocks[2:]:
        iface, _, _, caplen, origlen = struct.unpack_from("<IIIII", body)
        assert iface == 0 and caplen == origlen
        data = body[20 : 20 + caplen]
        opts = body[20 + caplen + (-caplen % 4) :]
        code, length = struct.unpack_from("<HH", opts)
        assert (code, length) == (2, 4)  # epb_flags
        flags = struct.unpack_from("<I", opts, 4)[0]
        assert struct.unpack_from("<HH", opts, 8) == (0, 0)  # opt_endofopt
        seen.append((flags & 3, data))
    assert seen == [(2, b"request-1"), (1, b"resp"), (2, b"\x00\x01\x02")]


def test_read_capture_round_trip(tmp_path) -> None:
    chunks = list(read_capture(_capture_session(tmp_path)))
    assert [(c.direction, c.data) for c in chunks] == [
        ("tx", b"request-1"), ("rx", b"resp"), ("tx", b"\x00\x01\x02")]
    times = [c.time_ns for c in chunks]
    assert times == sorted(times) and times[0] > 1_600_000_000 * 10**9
    assert chunks[0].time_s == pytest.approx(times[0] / 1e9)


def test_writer_keeps_exact_timestamps(tmp_path) -> None:
    path = tmp_path / "t.pcapng"
    writer = CaptureWriter(path)
    writer.record("rx", b"a", time_ns=1_700_000_000_123_456_789)
    writer.record("tx", b"", time_ns=5)
    writer.close()
    assert [(c.time_ns, c.direction, c.data) for c in read_capture(path)] == [
        (1_700_000_000_123_456_789, "rx", b"a"), (5, "tx", b"")]


def test_capture_option_and_bad_file(tmp_path) -> None:
    path = tmp_path / "opt.pcapng"
    pump = hal.open("virtual://capopt", end="pump", capture=str(path))
    pump.close()
    assert list(read_capture(path)) == []
    bad = tmp_path / "bad.pcapng"
    bad.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\0" * 20)
    with pytest.raises(hal.capture.CaptureFormatError):
        list(read_capture(bad))


@pytest.mark.skipif(not (shutil.which("capinfos") or shutil.which("tshark")),
                    reason="neither capinfos nor tshark installed")
def test_wireshark_tools_accept_capture(tmp_path) -> None:
    path = _capture_session(tmp_path)
    tool = shutil.which("capinfos")
    cmd = [tool, str(path)] if tool else [shutil.which("tshark"), "-r", str(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
