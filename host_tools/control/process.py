"""``pumpsim serve --control`` as a child process: :class:`ControlledPumpsim` waits for both
announced lines and gives :attr:`device` (the clinical link) and :attr:`control` (the control
URL, with :attr:`token` when one was generated).
"""
from __future__ import annotations

import os
import selectors
import time
from pathlib import Path

from host_tools.simprocess import PumpsimProcess, PumpsimStartError


class ControlledPumpsim(PumpsimProcess):
    """``pumpsim serve ARGS --control ADDRESS`` (``ADDRESS`` 127.0.0.1:0 unless given in
    ``args``); closed like :class:`PumpsimProcess`."""

    def __init__(self, args: list[str], log_path: Path | None = None, *,
                 start_timeout_s: float = 30.0) -> None:
        if "--control" not in args:
            args = [*args, "--control", "127.0.0.1:0"]
        self._rest = b""
        self.token: str | None = None
        super().__init__(args, log_path, start_timeout_s=start_timeout_s)
        try:
            self.control = self._line("control:", start_timeout_s)
            if "--control-allow-remote" in args and "--control-token-file" not in args:
                self.token = self._line("control-token:", start_timeout_s)
        except BaseException:
            self.kill()
            raise

    def _read_device_line(self, timeout_s: float) -> str:
        return self._line("device:", timeout_s)

    def _line(self, prefix: str, timeout_s: float) -> str:
        """The next stdout line, which must start with ``prefix``; its value."""
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
