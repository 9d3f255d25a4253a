"""Junk on the link cannot flood the log: refusals beyond a small burst per 10 s window are
counted and summarised in one line, so the log grows by a bounded amount per minute."""
from __future__ import annotations

import io
import logging
import random

from firmware_sim import Pump, load_profile
from firmware_sim.device.device import Device
from firmware_sim.device.refusal_log import RefusalLog
from protocol import FrameKind, encode_frame
from protocol import MessageType as MT


class SinkLink:
    """A link that takes every write and never has anything to read."""

    name = "sink://"
    timeout = 0.0

    def write(self, data: bytes) -> int:
        return len(data)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _junk(rng: random.Random, n: int) -> bytes:
    """Valid-CRC frames a stranger can send: requests without a session, responses, events,
    unproven session opens, undecodable payloads."""
    frames = []
    for i in range(n):
        pick = i % 4
        if pick == 0:
            frames.append(encode_frame(MT.GET_STATUS, None, seq=i))
        elif pick == 1:
            frames.append(encode_frame(MT.STATUS, bytes(rng.randrange(256) for _ in range(8)),
                                       seq=i, flags=FrameKind.RESPONSE))
        elif pick == 2:
            frames.append(encode_frame(MT.START_THERAPY, b"\x01\x02", seq=i))
        else:
            frames.append(encode_frame(0xEE, b"junk", seq=i))
    return b"".join(frames)


def test_log_grows_by_a_bounded_amount_per_minute_under_junk() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("firmware_sim.device.device")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    clock = FakeClock()
    rng = random.Random(8)
    try:
        device = Device(Pump(load_profile("ip20")), SinkLink(), monotonic=clock)  # type: ignore[arg-type]
        start = len(out.getvalue())
        frames = wire = 0
        for second in range(60):  # one simulated minute, 300 junk frames a second
            data = _junk(rng, 300)
            device.handle_bytes(data)
            wire += len(data)
            frames += 300
            clock.now += 1.0
            device.refusals.flush()
        grown = len(out.getvalue()) - start
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    text = out.getvalue()
    print(f"{frames} junk frames ({wire} bytes) in a simulated minute: {grown} log bytes "
          f"({grown / wire:.4f} log bytes per wire byte)")
    assert device.refusals.total >= frames
    assert "frames refused in the last 10 s: " in text
    assert grown < 64 * 1024, f"{grown} log bytes in a minute"


def test_summary_counts_every_refusal_by_kind() -> None:
    out = io.StringIO()
    logger = logging.getLogger("test.refusals")
    logger.addHandler(logging.StreamHandler(out))
    logger.propagate = False
    clock = FakeClock()
    refusals = RefusalLog(logger, burst=2, monotonic=clock)
    for i in range(5):
        refusals.record("NO_SESSION", f"refused GET_STATUS seq={i}: NO_SESSION " + "x" * 1000)
    refusals.record("BAD_TAG", "refused STOP_THERAPY seq=9: BAD_TAG")
    clock.now += 10
    refusals.flush()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and all(len(line) <= 300 for line in lines)
    assert lines[2] == ("6 frames refused in the last 10 s: NO_SESSION 3, BAD_TAG 1 "
                        "(2 shown above, 4 summarised)")
