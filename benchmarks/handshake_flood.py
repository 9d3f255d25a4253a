"""Handshake abuse against the pump's session layer: the key holder's luck, the guesser's rate.

Everything runs on :class:`protocol.pump_layer.PumpSessionLayer` (pure, time passed in: the
simulated minutes take a few seconds), once with the earlier back-off (growing periods, 16
pending challenges per role: ``benchmarks/previous_backoff.py``) and once with the pump's
current one, so the figures compare in the same run:

* holder sessions obtained / attempted and the median and worst time to a session, on a
  shared line (one sender) and with the guesser on another sender, while
  (a) a guesser sends a wrong proof each time the back-off ends,
  (b) every ``--cycle`` seconds a guesser spends all it can for 20 s (a wrong proof each
      time the back-off ends, plus every collected challenge the pump still verifies), then
      stays silent,
  (c) a flood of SESSION_OPEN frames arrives between the holder's challenge and its proof;
* the most wrong-proof verdicts per minute a guesser can get over ``--hours``, searched over
  burst-and-wait strategies (the long-run guessing rate, before vs now);
* the cost of a SESSION_OPEN frame under a flood, and the pending challenges kept.

The key holder behaves like the reference client: SESSION_OPEN, then SESSION_PROOF, sent again
after ``retry_after_ms`` (at most 1 s apart) while the pump answers RATE_LIMITED; a challenge
that is gone (expired or pushed out) is replaced by a new one. It starts an attempt every
``--every`` seconds and closes each session it gets.

    python benchmarks/handshake_flood.py [--minutes 30] [--every 20] [--cycle 300] [--hours 3]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from typing import Any, Callable

from previous_backoff import GrowingBackoff
from protocol import DEVELOPMENT_KEYS, HostSession, MessageType as MT, NakCode, Role
from protocol import encode_frame, parse_frame
from protocol.backoff import AuthBackoff
from protocol.pending import PendingPool
from protocol.pump_layer import PumpSessionLayer, Reply

KEY = DEVELOPMENT_KEYS[Role.CLINICIAN]
CLIN = int(Role.CLINICIAN)
GIVE_UP_MS = 600_000  # a holder attempt that waits longer counts as failed
DESIGNS: dict[str, Callable[[], PumpSessionLayer]] = {
    "before": lambda: PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {}, lambda t: True,
                                       backoff=GrowingBackoff(),  # type: ignore[arg-type]
                                       pool=PendingPool(size=16, ttl_ms=30_000)),
    "now": lambda: PumpSessionLayer(DEVELOPMENT_KEYS, lambda f: {}, lambda t: True),
}


def send(layer: PumpSessionLayer, msg_type: MT, fields: dict, now_ms: int, sender: int):
    reply = layer.receive(parse_frame(encode_frame(msg_type, fields, 0)), now_ms, sender)
    assert isinstance(reply, Reply)
    return parse_frame(reply.data)


def flood_open(layer: PumpSessionLayer, now_ms: int, sender: int) -> None:
    send(layer, MT.SESSION_OPEN, {"role": CLIN, "host_nonce": os.urandom(16),
                                  "protocol_minor": 1}, now_ms, sender)


class Holder:
    """The key holder: one attempt at a time, timed from its first SESSION_OPEN."""

    def __init__(self, layer: PumpSessionLayer, sender: int, flood_per_rtt: int = 0,
                 flood_sender: int = 0) -> None:
        self.layer, self.sender = layer, sender
        self.flood_per_rtt, self.flood_sender = flood_per_rtt, flood_sender
        self.started: int | None = None
        self.proof: dict | None = None
        self.times: list[int] = []
        self.attempts = 0

    def start(self, now_ms: int) -> int:
        """Begin an attempt (unless one is under way); the next time to act."""
        if self.started is None:
            self.started, self.proof = now_ms, None
            self.attempts += 1
        return self.act(now_ms)

    def act(self, now_ms: int) -> int:
        """Prove (opening a challenge first if needed); the next time to act (-1: done)."""
        assert self.started is not None
        if now_ms - self.started > GIVE_UP_MS:
            self.started = None
            return -1
        if self.proof is None:
            hs = HostSession(Role.CLINICIAN, KEY)
            ch = send(self.layer, MT.SESSION_OPEN, hs.open_fields(), now_ms, self.sender)
            for _ in range(self.flood_per_rtt):  # frames that arrive during the round trip
                flood_open(self.layer, now_ms, self.flood_sender)
            self.proof = hs.proof_fields(ch.fields)
        answer = send(self.layer, MT.SESSION_PROOF, self.proof, now_ms, self.sender)
        if answer.msg_type == MT.SESSION_ACCEPTED:
            self.times.append(now_ms - self.started)
            self.started, self.proof = None, None
            self.layer.session = None  # the holder closes its session
            return -1
        if answer.fields["code"] == NakCode.RATE_LIMITED:
            return now_ms + min(max(answer.fields["retry_after_ms"], 10), 1_000)
        self.proof = None  # challenge gone: ask for another one a round trip later
        return now_ms + 20


class Guesser:
    """A party with a wrong key. ``mode`` "strike": a wrong proof the moment the back-off
    ends, for ever; "burst": every ``cycle_ms``, for ``burst_ms``, a wrong proof the moment
    the back-off ends plus every challenge collected before the latest verdict that the pump
    will still verify (the gate of a handshake under way), then silence."""

    def __init__(self, layer: PumpSessionLayer, sender: int, mode: str, cycle_ms: int = 0,
                 burst_ms: int = 20_000) -> None:
        self.layer, self.sender, self.mode = layer, sender, mode
        self.cycle_ms, self.burst_ms = cycle_ms, burst_ms
        self.burst_began = 0
        self.stock: list[dict] = []  # proofs of challenges collected before a verdict

    def act(self, now_ms: int) -> int:
        """Guess; the next time to act."""
        if self.mode == "burst" and now_ms - self.burst_began >= self.burst_ms:
            self.burst_began += self.cycle_ms * max(1, (now_ms - self.burst_began) // self.cycle_ms)
            if self.burst_began > now_ms:
                return self.burst_began  # silence until the next burst
        if self.mode == "burst":
            self.stock.append(self._challenge(now_ms))
        self._prove(self._challenge(now_ms + 1), now_ms + 1)
        if self.mode == "burst":
            while self.stock and self._prove(self.stock[-1], now_ms + 2):
                self.stock.pop()
        wait = self.layer.backoff.retry_after_ms((CLIN, self.sender), now_ms + 2)
        return now_ms + 2 + max(wait, 1)

    def _challenge(self, now_ms: int) -> dict:
        hs = HostSession(Role.CLINICIAN, os.urandom(32))
        ch = send(self.layer, MT.SESSION_OPEN, hs.open_fields(), now_ms, self.sender)
        return hs.proof_fields(ch.fields)

    def _prove(self, proof: dict, now_ms: int) -> bool:
        """True if the pump verified (and refused) the proof."""
        answer = send(self.layer, MT.SESSION_PROOF, proof, now_ms, self.sender)
        return answer.fields["code"] == NakCode.AUTH_FAILED


def run(layer: PumpSessionLayer, holder: Holder, guesser: Guesser | None, minutes: int,
        every_ms: int, first_ms: int = 0) -> None:
    """Discrete-event run: the holder starts an attempt every ``every_ms`` from ``first_ms``."""
    end = minutes * 60_000
    next_guess = 0 if guesser is not None else end
    next_start, next_holder = first_ms, end
    while min(next_guess, next_start, next_holder) < end:
        now = min(next_guess, next_start, next_holder)
        if now == next_guess:
            assert guesser is not None
            next_guess = guesser.act(now)
        elif now == next_holder:
            nxt = holder.act(now)
            next_holder = end if nxt < 0 else nxt
        else:
            next_start = now + every_ms
            if holder.started is None:
                nxt = holder.start(now)
                next_holder = end if nxt < 0 else nxt
    if holder.started is not None:  # cut short by the end of the run: not counted
        holder.attempts -= 1


def summary(holder: Holder, layer: PumpSessionLayer, minutes: int) -> str:
    times = sorted(holder.times)
    median = f"{statistics.median(times) / 1000:6.1f}" if times else "     -"
    worst = f"{times[-1] / 1000:6.1f}" if times else "     -"
    return (f"holder {len(times):>3}/{holder.attempts:<3} sessions, median {median} s, worst "
            f"{worst} s; guesser's wrong verdicts {layer.stats.auth_failures:>4} "
            f"({layer.stats.auth_failures / minutes:.2f}/min)")


def attacks(minutes: int, every_ms: int, cycle_ms: int) -> None:
    for title, mode in (("(a) a wrong proof each time the back-off ends", "strike"),
                        ("(b) a burst of guesses, then silence", "burst")):
        print(title)
        for where, guesser_sender in (("shared line", 0), ("guesser on another sender", 7)):
            for name, make in DESIGNS.items():
                layer = make()
                holder = Holder(layer, 0)
                guesser = Guesser(layer, guesser_sender, mode, cycle_ms)
                run(layer, holder, guesser, minutes, every_ms, first_ms=1_000)
                print(f"  {where:<26} {name:<7} {summary(holder, layer, minutes)}")


def flood(frames: int, attempts: int = 20, tries: int = 5) -> None:
    print("(c) SESSION_OPEN flood")
    for name, make in DESIGNS.items():
        layer = make()
        opens = [parse_frame(encode_frame(MT.SESSION_OPEN, {
            "role": CLIN, "host_nonce": os.urandom(16), "protocol_minor": 1}, 0))
            for _ in range(frames)]
        start = time.perf_counter()
        for i, frame in enumerate(opens):
            layer.receive(frame, i)
        per_frame_us = (time.perf_counter() - start) / frames * 1e6
        print(f"  {name:<7} {frames} frames: {per_frame_us:.1f} us per frame, "
              f"{layer.pending} challenges kept")
        for per_rtt in (0, 15, 16, 127, 128, 1000):
            layer = make()
            first = 0
            for attempt in range(attempts):  # each attempt: up to `tries` round trips
                holder = Holder(layer, 0, flood_per_rtt=per_rtt)
                holder.start(attempt * 10_000)
                for i in range(1, tries):
                    if holder.times:
                        break
                    holder.act(attempt * 10_000 + 20 * i)
                first += bool(holder.times) and holder.times[0] == 0
            print(f"  {name:<7} {per_rtt:>4} flood frames per holder round trip: holder "
                  f"{first}/{attempts} sessions at the first round trip, {layer.pending} "
                  f"challenges kept")


def best_guessing_rate(make_backoff: Callable[[], Any], hours: int) -> tuple[float, str]:
    """Most wrong verdicts per minute over ``hours`` among burst-and-wait strategies: prove up
    to ``k`` challenges (collected a millisecond before) while the pump verifies them, then
    wait until the back-off ends and at least ``w`` s after the burst began."""
    horizon = hours * 3_600_000
    best, how = 0.0, ""
    for k in range(1, 21):
        for w in [0] + list(range(1, 60)) + list(range(60, 601, 5)):
            backoff, verdicts, t = make_backoff(), 0, 1
            account = (CLIN, 0)
            while t < horizon:
                done = 0
                while done < k and not backoff.may_verify(account, t - 1, t):
                    backoff.failure(account, t)
                    done += 1
                verdicts += done
                t = max(t + backoff.retry_after_ms(account, t), t + w * 1000, t + 1)
            rate = verdicts / (horizon / 60_000)
            if rate > best:
                best, how = rate, f"bursts of up to {k}, at least {w} s apart"
    return best, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30, help="simulated minutes per run")
    parser.add_argument("--every", type=int, default=7, help="s between holder attempts")
    parser.add_argument("--cycle", type=int, default=300, help="s between guesser bursts")
    parser.add_argument("--hours", type=int, default=3, help="horizon of the rate search")
    parser.add_argument("--frames", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the pump's warnings are not the point here
    attacks(args.minutes, args.every * 1000, args.cycle * 1000)
    flood(args.frames)
    print(f"guesser's best long-run rate over {args.hours} h (wrong verdicts per minute):")
    for name, make in (("before", GrowingBackoff), ("now", AuthBackoff)):
        rate, how = best_guessing_rate(make, args.hours)
        print(f"  {name:<7} {rate:.2f}/min ({how})")


if __name__ == "__main__":
    main()
