"""Run ``pumpsim serve`` as a child process: for demos, benchmarks and tests of programmers.

``PumpsimProcess(["--url", "pty"])`` starts the simulator, waits (bounded) for the
``device: URL`` line it prints first and exposes that URL as :attr:`PumpsimProcess.device`, the
address a programmer opens. Leaving the ``with`` block stops it with SIGTERM (the simulator
commits its state and exits 0) and kills it if it does not stop in time, so nothing is left
running whatever happens.
"""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO


class PumpsimStartError(RuntimeError):
    """pumpsim exited or stayed silent before announcing its device (the message says which)."""


def pumpsim_command() -> list[str]:
    """The ``pumpsim`` console script next to this interpreter, else ``python -m host_tools.pumpsim``."""
    script = Path(sys.executable).with_name("pumpsim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "host_tools.pumpsim"]


class PumpsimProcess:
    """``pumpsim serve ARGS`` in a child process; :attr:`device` is the URL it announced.

    ``log_path`` receives the simulator's log (stderr); without it the log is discarded.
    ``start_timeout_s`` bounds the wait for the device line (seconds).
    """

    def __init__(self, args: list[str], log_path: Path | None = None, *,
                 start_timeout_s: float = 15.0, command: list[str] | None = None) -> None:
        self.log_path = log_path
        self._rest = b""  # stdout read beyond the last announced line
        self._log: IO[str] | None = open(log_path, "a", encoding="utf-8") if log_path else None
        # ``command`` replaces the pumpsim program (e.g. a wrapper that plants a defect)
        self.proc = subprocess.Popen([*(command or pumpsim_command()), "serve", *args],
                                     stdout=subprocess.PIPE,
                                     stderr=self._log if self._log else subprocess.DEVNULL,
                                     start_new_session=True)
        try:
            self.device = self._line("device:", start_timeout_s)
        except BaseException:
            self.kill()
            raise

    def _line(self, prefix: str, timeout_s: float) -> str:
        """The next stdout line, which must start with ``prefix``; its value (bounded wait of
        ``timeout_s`` seconds; PumpsimStartError otherwise)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._rest:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PumpsimStartError(f"pumpsim printed no {prefix} line in {timeout_s} s"
                                            f"{self._log_hint()}")
                if sel.select(timeout=min(left, 0.1)):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        break
                    self._rest += chunk
                elif self.proc.poll() is not None:
                    break
        line, _, self._rest = self._rest.partition(b"\n")
        text = line.decode(errors="replace").strip()
        if not text.startswith(prefix):
            raise PumpsimStartError(f"pumpsim did not print {prefix} (exit code "
                                    f"{self.proc.poll()}, line {text!r}){self._log_hint()}")
        return text[len(prefix):].strip()

    def _log_hint(self) -> str:
        return f"; its log: {self.log_path}" if self.log_path else ""

    def log(self) -> str:
        """The simulator's log so far ("" when it is discarded)."""
        if self._log is None or self.log_path is None:
            return ""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8")

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, then wait; the exit code (0 when it stopped cleanly). Killed after the timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def wait(self, timeout_s: float = 10.0) -> int:
        """Wait for the process to end (kill it after ``timeout_s``); its exit code."""
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode
        finally:
            self._close_pipes()

    def kill(self) -> None:
        """SIGKILL the process group (a power loss, or cleanup after a failure)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()

    def __enter__(self) -> "PumpsimProcess":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
