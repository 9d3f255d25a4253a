"""The programmer on a slow serial line, and the dissector's speed.

Over a virtual pump paced like a 9600-baud line (10 bits per byte, both directions), with the
response timeout derived from the line speed (host_tools.line): the time of a status read, of a
full 16-entry log page and of a whole log download, with the retransmissions counted (the target
is none), and the same download with the former fixed 0.5 s timeout. Then, when tshark is installed, the time
the shipped Lua dissector takes to decode a capture of N frames.

    python benchmarks/bench_line.py [--baud 9600] [--frames 2000] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from firmware_sim.device import start_virtual_pump  # noqa: E402
from hal.capture import CaptureWriter  # noqa: E402
from host_tools import wireshark  # noqa: E402
from host_tools.client import PumpClient  # noqa: E402
from host_tools.line import response_timeout_s  # noqa: E402


def line_figures(baud: int) -> dict:
    """Timings of status, one full log page and the whole log at ``baud`` (seconds)."""
    out: dict = {"baud": baud, "timeout_s": round(response_timeout_s(baud), 3)}
    with start_virtual_pump(baud=baud) as vp:
        with PumpClient(vp.url, timeout_s=1.0) as fill:
            for i in range(40):
                fill.set_drug("morphine", 1000 + i)
        with PumpClient(vp.url, timeout_s=response_timeout_s(baud)) as client:
            t = time.perf_counter()
            client.status()
            out["status_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            page = client.read_log(0, 16)
            out["log_page_s"] = round(time.perf_counter() - t, 3)
            out["log_page_entries"] = len(page.entries)
            t = time.perf_counter()
            entries = list(client.iter_log())
            out["whole_log_s"] = round(time.perf_counter() - t, 3)
            out["whole_log_entries"] = len(entries)
            out["retransmits"] = client.stats.retransmits
        with PumpClient(vp.url, timeout_s=0.5, retries=8) as fixed:  # the old fixed timeout
            t = time.perf_counter()
            list(fixed.iter_log())
            out["whole_log_fixed_0.5s_s"] = round(time.perf_counter() - t, 3)
            out["fixed_0.5s_retransmits"] = fixed.stats.retransmits
    return out


def dissector_figures(frames: int) -> dict:
    """Seconds tshark needs to decode ``frames`` STATUS frames through the Lua dissector."""
    tshark = shutil.which("tshark")
    if tshark is None:
        return {"tshark": "not installed"}
    vector = json.loads((Path(__file__).resolve().parents[1] / "tests" / "vectors" / "status.json")
                        .read_text())
    raw = bytes.fromhex(vector["hex"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "status.pcapng"
        writer = CaptureWriter(path)
        for _ in range(frames):
            writer.record("rx", raw)
        writer.close()
        t = time.perf_counter()
        done = subprocess.run([tshark, "-X", f"lua_script:{wireshark.dissector_path()}", "-r",
                               str(path), "-V"], capture_output=True, text=True, timeout=600)
        took = time.perf_counter() - t
    return {"frames": frames, "tshark_s": round(took, 2), "ok": done.returncode == 0,
            "frames_per_s": round(frames / took)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = {"line": line_figures(args.baud), "dissector": dissector_figures(args.frames)}
    if args.json:
        print(json.dumps(figures))
    else:
        for section, values in figures.items():
            print(section + ": " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
