"""Handshake abuse against the pump's session layer: cost per frame and the key holder's luck.

Feeds :class:`protocol.pump_layer.PumpSessionLayer` (pure, time passed in) with

* a SESSION_OPEN flood (fresh nonces, the clinician role): microseconds per frame, pending
  challenges kept (bounded), and whether a key holder whose proof comes back after N flood
  frames still gets in;
* a guesser sending a wrong proof each time the back-off ends while the key holder tries once
  a simulated second: sessions obtained in 45 simulated seconds and wrong-proof verdicts given.

    python benchmarks/handshake_flood.py [--frames 20000]
"""
from __future__ import annotations

import argparse
import logging
import os
import time

from protocol import DEVELOPMENT_KEYS, HostSession, MessageType as MT, Role, encode_frame, parse_frame
from protocol.pump_layer import PumpSessionLayer, Reply

KEY = DEVELOPMENT_KEYS[Role.CLINICIAN]


def new_layer() -> PumpSessionLayer:
    return PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {}, lambda t: True)


def send(layer: PumpSessionLayer, msg_type: MT, fields: dict, now_ms: int):
    reply = layer.receive(parse_frame(encode_frame(msg_type, fields, 0)), now_ms)
    assert isinstance(reply, Reply)
    return parse_frame(reply.data)


def handshake(layer: PumpSessionLayer, key: bytes, now_ms: int, flood_between: int = 0) -> bool:
    hs = HostSession(Role.CLINICIAN, key)
    ch = send(layer, MT.SESSION_OPEN, hs.open_fields(), now_ms)
    for _ in range(flood_between):
        send(layer, MT.SESSION_OPEN, {"role": 1, "host_nonce": os.urandom(16),
                                      "protocol_minor": 1}, now_ms)
    answer = send(layer, MT.SESSION_PROOF, hs.proof_fields(ch.fields), now_ms)
    return answer.msg_type == MT.SESSION_ACCEPTED


def flood(frames: int) -> None:
    layer = new_layer()
    opens = [parse_frame(encode_frame(MT.SESSION_OPEN, {"role": 1, "host_nonce": os.urandom(16),
                                                        "protocol_minor": 1}, 0))
             for _ in range(frames)]
    start = time.perf_counter()
    for i, frame in enumerate(opens):
        layer.receive(frame, i)
    per_frame_us = (time.perf_counter() - start) / frames * 1e6
    print(f"SESSION_OPEN flood: {frames} frames, {per_frame_us:.1f} us per frame, "
          f"{layer.pending} challenges kept")
    for between in (0, 8, 15, 16, 100):
        ok = handshake(layer, KEY, frames, between)
        print(f"  key holder with {between:>3} flood frames between challenge and proof: "
              f"{'session' if ok else 'challenge pushed out'}")


def guesser_each_time_the_back_off_ends() -> None:
    layer = new_layer()
    sessions, refused, next_guess, first = 0, 0, 0, None
    proof: dict | None = None  # the key holder keeps its challenge while the pump backs off
    for second in range(45):
        t = second * 1000
        while next_guess <= t + 999:
            if not handshake(layer, os.urandom(32), next_guess):
                refused += 1
            wait = layer.backoff.retry_after_ms((int(Role.CLINICIAN), 0), next_guess)
            next_guess += max(wait, 1)
        if proof is None:
            hs = HostSession(Role.CLINICIAN, KEY)
            proof = hs.proof_fields(send(layer, MT.SESSION_OPEN, hs.open_fields(), t + 500).fields)
        answer = send(layer, MT.SESSION_PROOF, proof, t + 500)
        if answer.msg_type == MT.SESSION_ACCEPTED:
            sessions += 1
            first = second if first is None else first
            layer.session, proof = None, None
        elif answer.fields["code"] != 0x0A:  # anything but RATE_LIMITED used the challenge up
            proof = None
    print(f"guesser striking each time the back-off ends, key holder trying once a second: "
          f"{sessions} sessions of 45 (first after {first} s); guesser's attempts: {refused}, "
          f"wrong-proof verdicts given: {layer.stats.auth_failures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the pump's warnings are not the point here
    flood(args.frames)
    guesser_each_time_the_back_off_ends()


if __name__ == "__main__":
    main()
