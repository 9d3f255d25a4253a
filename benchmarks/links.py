"""Latency and throughput of the hal backends.

For each backend: the p50 and p99 round-trip time of a 32-byte request answered by an echo thread
on the pump end (2000 round trips after 200 warm-up ones), and the bulk throughput of one
direction (host writes 16 KiB chunks, a thread on the pump end reads them).  pyserial's
``loop://`` is measured in the same run as the baseline (one object, so no echo thread: a round
trip is a write and a read of the same 32 bytes).

    python benchmarks/links.py            # a table
    python benchmarks/links.py --json     # {"virtual": {"p50_us": .., "p99_us": .., "throughput_bytes_per_s": ..}, ..}

Targets: virtual pair p99 < 200 us, pty p99 < 1 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hal  # noqa: E402
from hal import Link, LinkClosed  # noqa: E402

REQUEST = bytes(range(32))
TIMEOUT_S = 5.0


def _virtual() -> tuple[Link, Link]:
    return hal.virtual_pair(timeout=TIMEOUT_S)


def _pty() -> tuple[Link, Link]:
    pump = hal.open("pty", end="pump", timeout=TIMEOUT_S)
    return pump, hal.open(pump.device_path, timeout=TIMEOUT_S)


def _tcp() -> tuple[Link, Link]:
    pump = hal.open("tcp-listen://127.0.0.1:0", end="pump", timeout=TIMEOUT_S)
    return pump, hal.open("tcp://%s:%d" % pump.bound_address, timeout=TIMEOUT_S)


def _fault_off() -> tuple[Link, Link]:
    pump, host = hal.virtual_pair(timeout=TIMEOUT_S)
    return hal.FaultInjector(pump, hal.FaultPlan(seed=1)), hal.FaultInjector(host, hal.FaultPlan(seed=2))


def _loop() -> tuple[Link, Link]:
    link = hal.open("loop://", timeout=TIMEOUT_S)
    return link, link


BACKENDS: dict[str, Callable[[], tuple[Link, Link]]] = {
    "virtual": _virtual,
    "pty": _pty,
    "tcp": _tcp,
    "fault-off+virtual": _fault_off,
    "pyserial-loop": _loop,
}


def _read_exact(link: Link, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = link.read(n - len(out))
        if not chunk:
            raise RuntimeError(f"{link.name}: timed out")
        out += chunk
    return bytes(out)


def _echo(link: Link) -> None:
    try:
        while True:
            data = link.read(4096)
            if data:
                link.write(data)
    except LinkClosed:
        pass


def _close(pump: Link, host: Link) -> None:
    host.close()
    pump.close()


def latency(make: Callable[[], tuple[Link, Link]], rounds: int, warmup: int = 200) -> list[int]:
    """Round-trip times in ns of 32-byte requests."""
    pump, host = make()
    echo = None
    if pump is not host:
        echo = threading.Thread(target=_echo, args=(pump,), daemon=True)
        echo.start()
    samples = []
    try:
        for i in range(warmup + rounds):
            start = time.perf_counter_ns()
            host.write(REQUEST)
            _read_exact(host, len(REQUEST))
            if i >= warmup:
                samples.append(time.perf_counter_ns() - start)
    finally:
        _close(pump, host)
        if echo is not None:
            echo.join(2)
    return samples


def throughput(make: Callable[[], tuple[Link, Link]], total: int, chunk: int = 16384) -> float:
    """Bytes per second of a one-way bulk transfer, host to pump."""
    pump, host = make()
    block = os.urandom(chunk)
    received = 0
    done = threading.Event()

    def sink() -> None:
        nonlocal received
        while received < total:
            data = pump.read(65536)
            if not data:
                break
            received += len(data)
        done.set()

    reader = threading.Thread(target=sink, daemon=True)
    start = time.perf_counter()
    reader.start()
    try:
        for _ in range(total // chunk):
            host.write(block)
        done.wait(60)
        elapsed = time.perf_counter() - start
    finally:
        _close(pump, host)
    if received < total:
        raise RuntimeError(f"only {received} of {total} bytes arrived")
    return total / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=2000, help="round trips per backend")
    parser.add_argument("--bulk-mib", type=int, default=8, help="MiB per throughput run")
    parser.add_argument("--only", nargs="*", choices=sorted(BACKENDS), help="backends to measure")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    for name in args.only or BACKENDS:
        make = BACKENDS[name]
        samples = sorted(latency(make, args.rounds))
        # pyserial's loop:// queues byte by byte: a smaller bulk run keeps the baseline quick.
        total = (args.bulk_mib if name != "pyserial-loop" else 1) * 1024 * 1024
        results[name] = {
            "p50_us": round(statistics.median(samples) / 1000, 1),
            "p99_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000, 1),
            "throughput_bytes_per_s": round(throughput(make, total)),
        }
    if args.json:
        print(json.dumps(results))
    else:
        print(f"{'backend':<20}{'p50 us':>10}{'p99 us':>10}{'MB/s':>10}")
        for name, r in results.items():
            print(f"{name:<20}{r['p50_us']:>10}{r['p99_us']:>10}{r['throughput_bytes_per_s'] / 1e6:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
