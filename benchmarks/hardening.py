"""Hardening figures: what hostile input costs the pump.

1. Crafted false headers: the decoder's CPU time per MB of a stream of headers that each claim a
   long payload (one every 14 bytes, every CRC wrong), and the latency of a legitimate IDENTIFY
   sent on the same TCP connection while that stream runs as fast as the socket takes it
   (target: answered within 0.5 s). The sender's socket send buffer is set to 64 KB: what a
   sender queues is outside the pump's control; the pump bounds its own receive buffer.
2. Log flooding: bytes ``pumpsim`` adds to its log per minute while a client sends valid-CRC
   junk (requests without a session, responses, unknown types) as fast as it can.

    python benchmarks/hardening.py [--seconds 10] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from host_tools.simprocess import PumpsimProcess  # noqa: E402
from protocol import FrameKind, StreamDecoder, encode_frame  # noqa: E402
from protocol import MessageType as MT  # noqa: E402


SENDER_BUFFER = 64 * 1024
"""Send buffer of the connection carrying junk and requests: bytes queued in the sender count
towards the latency too, and are outside the pump's control."""


def false_headers(nbytes: int) -> bytes:
    """Headers 14 bytes apart: sync, version 1, flags 0, ids, type 0x03 and a length whose low
    byte is the next header's first byte (0x03A5 = 933 bytes): each is a candidate frame whose
    CRC can only be checked 950 bytes later, and fails."""
    unit = b"\xa5\x5a\x01\x00" + b"\x11" * 8 + b"\x03\x03"
    return (unit * (nbytes // len(unit) + 1))[:nbytes]


def decoder_cost_s_per_mb(mb: int = 4) -> float:
    """CPU seconds the stream decoder spends per MB of false headers (4 KB reads)."""
    data = false_headers(mb * 1_000_000)
    dec = StreamDecoder()
    t0 = time.process_time()
    for at in range(0, len(data), 4096):
        dec.feed(data[at:at + 4096])
    return (time.process_time() - t0) / mb


def _tcp_address(device: str) -> tuple[str, int]:
    host, _, port = device.split("://", 1)[1].rpartition(":")
    return host, int(port)


def legit_latency_under_false_headers(seconds: float) -> dict[str, float]:
    """Round-trip times (s) of IDENTIFY requests written between chunks of a continuous
    false-header stream on one TCP connection to pumpsim."""
    junk = false_headers(8 * 1024)
    with tempfile.TemporaryDirectory() as tmp, \
            PumpsimProcess(["--url", "tcp-listen://127.0.0.1:0"], Path(tmp) / "sim.log") as sim:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SENDER_BUFFER)
        sock.connect(_tcp_address(sim.device))
        lock = threading.Lock()
        stop = threading.Event()
        answers: dict[int, float] = {}
        sent: dict[int, float] = {}
        sent_bytes = [0]

        def flood() -> None:
            while not stop.is_set():
                with lock:
                    try:
                        sock.sendall(junk)
                    except OSError:
                        return
                sent_bytes[0] += len(junk)

        def read() -> None:
            dec = StreamDecoder()
            while not stop.is_set():
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for f in dec.feed(data):
                    if f.name == "IDENTITY":
                        answers[f.seq] = time.monotonic()

        threads = [threading.Thread(target=flood, daemon=True), threading.Thread(target=read, daemon=True)]
        for t in threads:
            t.start()
        end = time.monotonic() + seconds
        seq = 0
        while time.monotonic() < end:
            time.sleep(0.25)
            seq += 1
            with lock:
                sock.sendall(encode_frame(MT.IDENTIFY, None, seq=seq, flags=FrameKind.REQUEST))
                sent[seq] = time.monotonic()
        time.sleep(2.0)
        stop.set()
        sock.close()
    rtts = [answers[s] - sent[s] for s in sent if s in answers]
    return {"requests": len(sent), "answered": len(rtts),
            "p50_s": statistics.median(rtts) if rtts else float("nan"),
            "max_s": max(rtts) if rtts else float("nan"),
            "junk_mb_per_s": sent_bytes[0] / seconds / 1e6}


def junk_frames(n: int) -> bytes:
    """Valid-CRC frames any stranger can send."""
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(encode_frame(MT.GET_STATUS, None, seq=i))
        elif i % 3 == 1:
            out.append(encode_frame(MT.STATUS, b"\x00" * 8, seq=i, flags=FrameKind.RESPONSE))
        else:
            out.append(encode_frame(0xEE, b"junk", seq=i))
    return b"".join(out)


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(1 << 20):
            pass
    except OSError:
        pass


def log_growth_under_junk(seconds: float) -> dict[str, float]:
    """Log bytes per minute and per wire byte while junk frames arrive as fast as possible."""
    junk = junk_frames(2000)
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "sim.log"
        with PumpsimProcess(["--url", "tcp-listen://127.0.0.1:0"], log_path) as sim:
            sock = socket.create_connection(_tcp_address(sim.device))
            reader = threading.Thread(target=_drain, args=(sock,), daemon=True)
            reader.start()
            time.sleep(0.5)
            start_size = log_path.stat().st_size
            wire = 0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                sock.sendall(junk)
                wire += len(junk)
            time.sleep(0.5)
            grown = log_path.stat().st_size - start_size
            sock.close()
    return {"wire_bytes": wire, "log_bytes": grown,
            "log_bytes_per_minute": grown * 60 / seconds,
            "log_bytes_per_wire_byte": grown / wire if wire else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"decoder_cpu_s_per_mb_false_headers": decoder_cost_s_per_mb(),
              "legit_request_under_false_headers": legit_latency_under_false_headers(args.seconds),
              "log_under_junk": log_growth_under_junk(args.seconds)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    lat = result["legit_request_under_false_headers"]
    logs = result["log_under_junk"]
    print(f"decoder, false headers: {result['decoder_cpu_s_per_mb_false_headers']:.3f} CPU s/MB")
    print(f"legitimate IDENTIFY under false headers ({lat['junk_mb_per_s']:.1f} MB/s of junk): "
          f"{lat['answered']}/{lat['requests']} answered, p50 {lat['p50_s'] * 1000:.0f} ms, "
          f"max {lat['max_s'] * 1000:.0f} ms (target < 500 ms)")
    print(f"pumpsim log under junk: {logs['log_bytes_per_minute'] / 1024:.1f} KB/minute, "
          f"{logs['log_bytes_per_wire_byte']:.4f} log bytes per wire byte")


if __name__ == "__main__":
    main()
