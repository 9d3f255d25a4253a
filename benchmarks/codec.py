"""Throughput of the protocol codec: encode + decode round trips per second.

Measured through the real codec (``protocol.encode_frame`` then ``protocol.decode``, which checks
sync, header, length bound and CRC and parses the payload into a dict of fields):

- a STATUS response frame (96-byte protocol 1.1 payload);
- a SET_SCHEDULE request frame with 48 steps (290-byte payload);
- in the same run, the baseline: a hand-written ``struct`` codec of the same STATUS frame doing
  the same work (header, payload, CRC on encode; sync, version, length, CRC, fields dict on
  decode). ``ratio_to_struct`` = codec status rate / baseline rate (1.0 = as fast as hand-written).

Every result is checked once against the expected fields before timing. Each figure is the best
of several timed runs of about ``--seconds`` each.

    python benchmarks/codec.py            # a table
    python benchmarks/codec.py --json     # {"status_roundtrips_per_s": .., "schedule_roundtrips_per_s": ..,
                                          #  "ratio_to_struct": .., ...}

Target: at least 50,000 status round trips per second on a 2-core machine (a 115200-baud line
carries a few hundred frames per second).
"""
from __future__ import annotations

import argparse
import binascii
import json
import os
import struct
import sys
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from protocol import (DEVELOPMENT_KEYS, FrameKind, HostSession, MessageType,  # noqa: E402
                      PumpSession, Role, decode, encode_frame)

TARGET_STATUS_PER_S = 50_000

STATUS = {
    "state": 1, "time_ms": 86_400_000, "wall_ms": 1_700_000_000_000, "reservoir_nl": 18_250_000,
    "reservoir_capacity_nl": 20_000_000, "step_index": 1, "step_start_minute": 480,
    "rate_nl_per_day": 500_000, "bolus_kind": 0, "bolus_remaining_nl": 0, "bolus_end_ms": 0,
    "active_alarms": 0b101, "battery_percent": 87, "refill_due_ms": 1_705_000_000_000,
    "delivered_nl": 123_456_789, "delivered_since_refill_nl": 1_750_000,
    "delivered_today_nl": 166_666, "basal_carry": 43_200_000,
    "clock_drift_ppm": -25, "clock_drift_ms": -2_160,
}
SCHEDULE_48 = {"weekday": 0xFF, "steps": [
    {"start_minute": 30 * i, "rate_nl_per_day": 100_000 + 1_000 * i} for i in range(48)]}


# --- hand-written struct baseline of the STATUS frame -------------------------------------------

_B_HEADER = struct.Struct(">2sBBIIBH")
_B_STATUS = struct.Struct(">BQQIIBHIBIQHBQQQQIiq")
_B_NAMES = ("state", "time_ms", "wall_ms", "reservoir_nl", "reservoir_capacity_nl", "step_index",
            "step_start_minute", "rate_nl_per_day", "bolus_kind", "bolus_remaining_nl",
            "bolus_end_ms", "active_alarms", "battery_percent", "refill_due_ms", "delivered_nl",
            "delivered_since_refill_nl", "delivered_today_nl", "basal_carry", "clock_drift_ppm",
            "clock_drift_ms")


def struct_encode_status(fields: dict[str, Any], seq: int) -> bytes:
    """STATUS response frame, untagged, written by hand with struct."""
    payload = _B_STATUS.pack(*[fields[n] for n in _B_NAMES])
    head = _B_HEADER.pack(b"\xa5\x5a", 1, 1, 0, seq, 0x90, len(payload)) + payload
    return head + binascii.crc_hqx(head, 0xFFFF).to_bytes(2, "big")


def struct_decode_status(wire: bytes) -> dict[str, Any]:
    """Fields of a STATUS frame, checking sync, version, type, length and CRC by hand."""
    sync, version, _flags, _sid, _seq, msg_type, length = _B_HEADER.unpack_from(wire)
    if sync != b"\xa5\x5a" or version != 1 or msg_type != 0x90 or length != _B_STATUS.size:
        raise ValueError("bad header")
    end = 15 + length
    if binascii.crc_hqx(wire[:end], 0xFFFF) != int.from_bytes(wire[end:end + 2], "big"):
        raise ValueError("bad crc")
    return dict(zip(_B_NAMES, _B_STATUS.unpack_from(wire, 15)))


# --- round trips -------------------------------------------------------------------------------


def codec_status(seq: int) -> dict[str, Any]:
    _, frame = decode(encode_frame(MessageType.STATUS, STATUS, seq, FrameKind.RESPONSE))
    return frame.fields  # type: ignore[union-attr]


def codec_schedule(seq: int) -> dict[str, Any]:
    _, frame = decode(encode_frame(MessageType.SET_SCHEDULE, SCHEDULE_48, seq))
    return frame.fields  # type: ignore[union-attr]


def baseline_status(seq: int) -> dict[str, Any]:
    return struct_decode_status(struct_encode_status(STATUS, seq))


def _tagged_status() -> Callable[[int], dict[str, Any]]:
    key = DEVELOPMENT_KEYS[Role.CLINICIAN]
    host = HostSession(Role.CLINICIAN, key)
    pump = PumpSession.open(host.open_fields(), DEVELOPMENT_KEYS)
    host.accept(pump.verify_proof(host.proof_fields(pump.challenge_fields())))

    def run(seq: int) -> dict[str, Any]:
        _, frame = decode(encode_frame(MessageType.STATUS, STATUS, seq, FrameKind.RESPONSE,
                                       session=pump))
        host.verify_tag(frame)  # type: ignore[arg-type]
        return frame.fields  # type: ignore[union-attr]
    return run


def rate(fn: Callable[[int], dict[str, Any]], seconds: float, repeats: int) -> float:
    """Best round trips per second over `repeats` runs of about `seconds` each."""
    best = 0.0
    batch = 200
    for _ in range(repeats):
        done = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for i in range(batch):
                fn(i)
            done += batch
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, done / (now - start))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=0.5, help="duration of one timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (best kept)")
    args = parser.parse_args(argv)

    tagged = _tagged_status()
    # correctness first: the baseline writes the very same bytes as the codec, and every path
    # returns exactly the fields it was given
    assert struct_encode_status(STATUS, 1) == encode_frame(MessageType.STATUS, STATUS, 1,
                                                           FrameKind.RESPONSE)
    assert codec_status(1) == STATUS and baseline_status(1) == STATUS and tagged(1) == STATUS
    assert codec_schedule(1) == SCHEDULE_48

    results = {
        "status_roundtrips_per_s": rate(codec_status, args.seconds, args.repeats),
        "schedule_roundtrips_per_s": rate(codec_schedule, args.seconds, args.repeats),
        "struct_status_roundtrips_per_s": rate(baseline_status, args.seconds, args.repeats),
        "status_tagged_roundtrips_per_s": rate(tagged, args.seconds, args.repeats),
    }
    results["ratio_to_struct"] = (results["status_roundtrips_per_s"]
                                  / results["struct_status_roundtrips_per_s"])
    results = {k: round(v, 3 if k == "ratio_to_struct" else 0) for k, v in results.items()}
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{'status (codec)':<34}{results['status_roundtrips_per_s']:>14,.0f} round trips/s")
        print(f"{'status, tagged (codec + HMAC)':<34}{results['status_tagged_roundtrips_per_s']:>14,.0f} round trips/s")
        print(f"{'set-schedule, 48 steps (codec)':<34}{results['schedule_roundtrips_per_s']:>14,.0f} round trips/s")
        print(f"{'status (hand-written struct)':<34}{results['struct_status_roundtrips_per_s']:>14,.0f} round trips/s")
        print(f"{'ratio codec / struct (status)':<34}{results['ratio_to_struct']:>14.3f}")
        verdict = "meets" if results["status_roundtrips_per_s"] >= TARGET_STATUS_PER_S else "MISSES"
        print(f"target >= {TARGET_STATUS_PER_S:,} status round trips/s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
