"""Fuzz the virtual pump's device with mutated and random frames; count crashes and any state
change an invalid frame causes.

    python benchmarks/fuzz.py                 # 1,000,000 inputs, a readable report
    python benchmarks/fuzz.py --json          # one JSON object: frames, crashes,
                                              #   invalid_state_changes, frames_per_s (+ detail)
    python benchmarks/fuzz.py --frames 20000  # a short run
    python benchmarks/fuzz.py --threaded      # through a live device thread on a virtual link

The inputs go through the real device code path (``Device.handle_bytes``: stream decoder,
session, tag and sequence checks, dispatch, model), or with ``--threaded`` over a virtual link
to a serving device thread. A clinician session is kept open so that tagged frames with a valid
tag reach the deeper checks. Each input is one of (seeded, reproducible with ``--seed``):

* random bytes, with or without a sync word in front;
* a valid frame of any message type (request, response or event), untagged;
* a frame of the session with a fresh sequence number and a correct tag but a payload that does
  not decode, an unknown message type, or random field values;
* a frame of the session with a stale sequence number, a wrong tag, another session id, the tag
  stripped, or the last request retransmitted byte for byte;
* a valid frame mutated: bits flipped, truncated, spliced with another, bytes inserted or
  deleted, the length field forged (CRC recomputed or not).

A *crash* is an exception escaping the device (or, threaded, the device thread dying). An
*invalid state change* is a change of the pump's persisted state or event log after an input
the device did not answer with success (no ACK or data response): refused, ignored or garbage.
The exit status is 1 when either count is not 0.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hal  # noqa: E402
from firmware_sim import ManualClock, Pump, Storage, load_profile  # noqa: E402
from firmware_sim.device import Device  # noqa: E402
from hal.base import Link  # noqa: E402
from protocol import (DEVELOPMENT_KEYS, REGISTRY, FrameKind, HostSession, MessageType as MT,  # noqa: E402
                      Role, StreamDecoder, crc16, encode_frame)
from protocol import messages as wire  # noqa: E402

SUCCESS = {t for t, s in REGISTRY.items() if s.kind == "response"} - {MT.NAK}
TYPES = sorted(REGISTRY)
REQUESTS = [t for t in TYPES if REGISTRY[t].kind == "request"]


def wire_max_frame() -> int:
    from protocol import MAX_FRAME
    return MAX_FRAME


class SinkLink(Link):
    """A pump-end link that keeps what the device writes and never has anything to read."""

    def __init__(self) -> None:
        super().__init__("fuzz-sink", timeout=0)
        self.out = bytearray()

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        return b""

    def _write_hook(self, data: bytes) -> None:
        self.out += data


def random_fields(rng: random.Random, msg_type: int) -> dict[str, Any]:
    """Field values of any wire value for ``msg_type`` (valid for the codec, not the pump)."""
    return _value(rng, REGISTRY[msg_type].construct, "")


def _value(rng: random.Random, con: Any, name: str) -> Any:
    from construct import Bytes, ExprValidator, FormatField, Renamed, Struct
    while isinstance(con, Renamed):
        con = con.subcon
    if isinstance(con, Struct):
        return {sc.name: _value(rng, sc, sc.name) for sc in con.subcons}
    if isinstance(con, FormatField):
        bits = 8 * con.length
        return rng.choice([0, 1, (1 << bits) - 1, rng.getrandbits(bits), rng.getrandbits(min(bits, 24))])
    if isinstance(con, Bytes):
        return rng.randbytes(con.length)
    if isinstance(con, ExprValidator):
        if name == "steps":
            return [{"start_minute": rng.randrange(0, 1500), "rate_nl_per_day": rng.getrandbits(25)}
                    for _ in range(rng.randrange(0, 6))]
        if name in ("alarms", "entries"):
            return []
        return rng.choice(["", "morphine", "baclofen", "x" * rng.randrange(0, 17), "é"])
    raise TypeError(con)


class Fuzzer:
    """One device + pump under fuzz, and the generators of inputs."""

    def __init__(self, seed: int, threaded: bool = False) -> None:
        self.rng = random.Random(seed)
        self.mono = [1_000.0]
        self.clock = ManualClock(0)
        self.pump = Pump(load_profile("ip20"), Storage(":memory:"), self.clock)
        self.threaded = threaded
        self.name = f"fuzz-{seed}-{id(self)}"
        if threaded:
            self.pump_link: Link = hal.open(f"virtual://{self.name}", end="pump")
            self.host: Link = hal.open(f"virtual://{self.name}", timeout=2.0)
        else:
            self.pump_link = SinkLink()
        if threaded:  # real time (idle flushes); failed proofs must not lock the fuzzer out
            from protocol import AuthLimiter
            self.device = Device(self.pump, self.pump_link, DEVELOPMENT_KEYS,
                                 auth_limiter=AuthLimiter(max_failures=1 << 62))
        else:  # the back-off runs on a clock the fuzzer moves past it before each handshake
            self.device = Device(self.pump, self.pump_link, DEVELOPMENT_KEYS,
                                 monotonic=lambda: self.mono[0])
        if threaded:
            self.device.start()
        self.decoder = StreamDecoder()
        self.session: HostSession | None = None
        self.last_request = b""
        self.sent: list[bytes] = []
        self.stats = {"inputs": 0, "crashes": 0, "invalid_state_changes": 0, "accepted": 0,
                      "handshakes": 0}
        self.examples: list[str] = []
        self._program()

    # -- plumbing -------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Any]:
        """Give ``data`` to the device; the frames it answered with."""
        if self.threaded:
            self.host.write(data)
            out = bytearray()
            self._roundtrip_marker(out)
            return self.decoder.feed(bytes(out))
        sink = self.pump_link
        assert isinstance(sink, SinkLink)
        sink.out.clear()
        self.device.handle_bytes(data)
        return self.decoder.feed(bytes(sink.out)) if sink.out else []

    def _roundtrip_marker(self, out: bytearray) -> None:
        """Threaded mode: an IDENTIFY after the input; everything before its answer is the
        device's answer to the input (the device handles bytes in order)."""
        marker = encode_frame(MT.IDENTIFY, None, 0xFFFFFFF0)
        # zeros complete any half frame the input left (a forged length), so the marker is seen
        self.host.write(b"\x00" * (wire_max_frame() + 1) + marker)
        dec = StreamDecoder()
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            chunk = self.host.read(65536)
            if not chunk:
                if not self.device._thread or not self.device._thread.is_alive():
                    raise RuntimeError("the device thread died")
                continue
            for f in dec.feed(chunk):
                if f.msg_type == MT.IDENTITY and f.seq == 0xFFFFFFF0:
                    return
                out += f.raw
        raise RuntimeError("the device stopped answering")

    def handshake(self) -> None:
        """Open a clinician session (the back-off clock is moved past any back-off first)."""
        self.mono[0] += 3600.0
        s = HostSession(Role.CLINICIAN, DEVELOPMENT_KEYS[Role.CLINICIAN], self.rng.randbytes(16))
        ch = [f for f in self.feed(encode_frame(MT.SESSION_OPEN, s.open_fields()))
              if f.msg_type == MT.SESSION_CHALLENGE]
        if not ch:
            raise RuntimeError("no challenge")
        acc = [f for f in self.feed(encode_frame(MT.SESSION_PROOF, s.proof_fields(ch[-1].fields)))
               if f.msg_type == MT.SESSION_ACCEPTED]
        if not acc:
            raise RuntimeError("session refused")
        s.accept(acc[-1].fields)
        self.session = s
        self.stats["handshakes"] += 1

    def request(self, msg_type: MT, fields: Any = None) -> list[Any]:
        assert self.session is not None
        _, data = self.session.request(msg_type, fields)
        self.last_request = data
        return self.feed(data)

    def _program(self) -> None:
        """A pump with a program, a filled reservoir and running therapy (more code to reach)."""
        self.handshake()
        self.request(MT.SET_DRUG, {"drug_name": "morphine", "concentration_ug_per_ml": 10_000})
        self.request(MT.SET_SCHEDULE, {"weekday": 0xFF, "steps": [
            {"start_minute": 0, "rate_nl_per_day": 400_000},
            {"start_minute": 600, "rate_nl_per_day": 900_000}]})
        self.request(MT.SET_LIMITS, {"patient_bolus_dose_ug": 100, "patient_bolus_duration_ms": 600_000,
                                     "patient_lockout_ms": 3_600_000, "patient_max_per_day": 6,
                                     "low_reservoir_threshold_nl": 2_000_000})
        self.request(MT.REFILL_BEGIN)
        self.request(MT.REFILL_WITHDRAWN, {"withdrawn_nl": 0})
        self.request(MT.REFILL_COMPLETE, {"withdrawn_nl": 0, "filled_nl": 15_000_000,
                                          "concentration_ug_per_ml": 10_000})
        self.request(MT.START_THERAPY)
        self.clock.advance(3_600_000)
        self.device.run_pending()  # the pump runs to the clock now; the clock then stays put

    def fingerprint(self) -> tuple[int, dict[str, Any]]:
        """The pump's event count and persisted state."""
        with self.device.lock:
            return self.pump.storage.event_count(), self.pump.snapshot()

    # -- inputs -------------------------------------------------------------------------------
    def valid_frame(self) -> bytes:
        t = self.rng.choice(TYPES)
        try:
            return encode_frame(t, random_fields(self.rng, t), self.rng.getrandbits(32),
                                self.rng.choice(list(FrameKind)))
        except Exception:  # noqa: BLE001 - an unencodable draw: use an empty request instead
            return encode_frame(MT.GET_STATUS, None, self.rng.getrandbits(32))

    def tagged(self, msg_type: int, payload: bytes | None, seq: int | None = None) -> bytes:
        s = self.session
        assert s is not None
        if seq is None:
            s.last_seq += 1
            seq = s.last_seq
        return encode_frame(msg_type, payload if payload is not None else b"", seq,
                            FrameKind.REQUEST, session=s)

    def session_frame(self) -> tuple[bytes, str]:
        """A frame of the current session that must be refused (or is a legal command)."""
        rng = self.rng
        s = self.session
        assert s is not None
        kind = rng.randrange(8)
        if kind == 0:  # fresh, tagged, payload that does not decode
            t = rng.choice(REQUESTS)
            return self.tagged(t, rng.randbytes(rng.randrange(0, 40))), "bad-payload"
        if kind == 1:  # fresh, tagged, unknown type
            t = rng.choice([x for x in range(256) if x not in REGISTRY or REGISTRY[x].kind != "request"])
            return self.tagged(t, rng.randbytes(rng.randrange(0, 8))), "bad-type"
        if kind == 2:  # fresh, tagged, any field values (may be a legal command)
            t = rng.choice(REQUESTS)
            try:
                payload = wire.encode_payload(t, random_fields(rng, t))
            except Exception:  # noqa: BLE001
                payload = b""
            return self.tagged(t, payload), "random-fields"
        if kind == 3:  # stale sequence number
            t = rng.choice(REQUESTS)
            seq = rng.randrange(0, max(1, s.last_seq))
            return self.tagged(t, b"", seq), "stale-seq"
        if kind == 4:  # wrong tag
            f = bytearray(self.tagged(rng.choice(REQUESTS), b""))
            f[-3 - rng.randrange(16)] ^= 1 << rng.randrange(8)
            f[-2:] = crc16(bytes(f[:-2])).to_bytes(2, "big")
            return bytes(f), "bad-tag"
        if kind == 5:  # another session id
            f = bytearray(self.tagged(rng.choice(REQUESTS), b""))
            f[4:8] = rng.randbytes(4)
            f[-2:] = crc16(bytes(f[:-2])).to_bytes(2, "big")
            return bytes(f), "bad-session"
        if kind == 6:  # tag stripped
            f = self.tagged(rng.choice(REQUESTS), b"")
            body = bytearray(f[:-18])
            body[3] &= ~0x04
            return bytes(body) + crc16(bytes(body)).to_bytes(2, "big"), "untagged"
        return self.last_request or self.valid_frame(), "retransmit"

    def mutate(self, frame: bytes) -> bytes:
        rng = self.rng
        f = bytearray(frame)
        op = rng.randrange(7)
        if op == 0:
            for _ in range(rng.randrange(1, 5)):
                i = rng.randrange(len(f) * 8)
                f[i // 8] ^= 1 << (i % 8)
        elif op == 1:
            del f[rng.randrange(len(f)):]
        elif op == 2:
            other = self.valid_frame()
            f = f[:rng.randrange(len(f) + 1)] + other[rng.randrange(len(other) + 1):]
        elif op == 3:
            i = rng.randrange(len(f) + 1)
            f[i:i] = rng.randbytes(rng.randrange(1, 8))
        elif op == 4:
            i = rng.randrange(len(f))
            del f[i:i + rng.randrange(1, 8)]
        elif op == 5 and len(f) > 15:
            f[13:15] = rng.choice([0, 1, 1024, 1025, 0xFFFF, rng.getrandbits(16)]).to_bytes(2, "big")
            if rng.random() < 0.5:
                f[-2:] = crc16(bytes(f[:-2])).to_bytes(2, "big")
        else:
            for _ in range(rng.randrange(1, 4)):
                f[rng.randrange(len(f))] = rng.getrandbits(8)
            f[-2:] = crc16(bytes(f[:-2])).to_bytes(2, "big")
        return bytes(f)

    def next_input(self) -> tuple[bytes, str]:
        rng = self.rng
        r = rng.random()
        if r < 0.15:
            data = rng.randbytes(rng.randrange(1, 100))
            return (b"\xa5\x5a" + data if rng.random() < 0.5 else data), "random"
        if r < 0.35:
            return self.valid_frame(), "valid-untagged"
        if r < 0.65 and self.session is not None:
            return self.session_frame()
        base = self.valid_frame() if rng.random() < 0.5 or self.session is None \
            else self.session_frame()[0]
        return self.mutate(base), "mutated"

    # -- the loop -----------------------------------------------------------------------------
    def run(self, frames: int, progress: Callable[[int], None] | None = None) -> None:
        check_every = 1
        before = self.fingerprint()
        for n in range(frames):
            data, what = self.next_input()
            seen = self.device.stats.frames
            try:
                answers = self.feed(data)
            except Exception as exc:  # noqa: BLE001 - a crash is what is being counted
                self.stats["crashes"] += 1
                if len(self.examples) < 10:
                    self.examples.append(f"crash on {what} {data.hex()}: "
                                         f"{''.join(traceback.format_exception_only(exc)).strip()}")
                self.device.decoder.reset()
                before = self.fingerprint()
                continue
            self.stats["inputs"] += 1
            ok = any(f.msg_type in SUCCESS and f.kind is FrameKind.RESPONSE
                     and f.msg_type not in (MT.SESSION_CHALLENGE,) for f in answers)
            if self.device.stats.frames != seen or n % check_every == 0:
                after = self.fingerprint()
                if after != before and not ok:
                    self.stats["invalid_state_changes"] += 1
                    if len(self.examples) < 10:
                        self.examples.append(
                            f"state changed by {what} {data.hex()}: answers "
                            f"{[(f.name, (f.fields or {}).get('code')) for f in answers]}; "
                            f"events +{after[0] - before[0]}, changed "
                            f"{sorted(k for k in after[1] if after[1][k] != before[1].get(k))}")
                if ok and after != before:
                    self.stats["accepted"] += 1
                before = after
            if self.device.session is None or self.session is None or \
                    self.device.session.session_id != self.session.session_id:
                self.session = None
                try:
                    self.handshake()
                except Exception:  # noqa: BLE001 - the pump may refuse while rate limiting
                    pass
                before = self.fingerprint()
            if self.device.stats.frames > 50_000 * (self.stats["handshakes"]):
                self.session = None  # a fresh session now and then keeps seqs small
            if progress is not None and n % 50_000 == 0:
                progress(n)
        if self.threaded and (not self.device._thread or not self.device._thread.is_alive()):
            self.stats["crashes"] += 1

    def close(self) -> None:
        self.device.close()
        if self.threaded:
            self.host.close()
        self.pump_link.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1_000_000, help="inputs to send (default 1e6)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--threaded", action="store_true", help="through a live device thread")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)  # every refusal is logged; millions of lines help nobody
    fz = Fuzzer(args.seed, threaded=args.threaded)
    t0 = time.perf_counter()
    try:
        fz.run(args.frames, None if args.json else
               lambda n: print(f"  {n:>9,} inputs ...", file=sys.stderr, flush=True))
    finally:
        fz.close()
    elapsed = time.perf_counter() - t0
    s = fz.stats
    result = {"frames": s["inputs"] + s["crashes"], "crashes": s["crashes"],
              "invalid_state_changes": s["invalid_state_changes"],
              "frames_per_s": round((s["inputs"] + s["crashes"]) / elapsed, 1),
              "accepted_commands": s["accepted"], "sessions": s["handshakes"],
              "device_frames": fz.device.stats.frames,
              "device_naks": {k.name: v for k, v in fz.device.stats.naks.items()},
              "seed": args.seed, "threaded": args.threaded, "examples": fz.examples}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"frames sent           {result['frames']:,}")
        print(f"CRC-valid frames      {result['device_frames']:,}")
        print(f"crashes               {result['crashes']}")
        print(f"invalid state changes {result['invalid_state_changes']}")
        print(f"commands accepted     {result['accepted_commands']:,} (legal random commands)")
        print(f"frames per second     {result['frames_per_s']:,.0f}")
        print("naks                  " + ", ".join(f"{k} {v:,}" for k, v in
                                                 sorted(result["device_naks"].items())))
        for e in fz.examples:
            print("  " + e)
    return 0 if result["crashes"] == 0 and result["invalid_state_changes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
