"""``pumpsim serve --control`` as a child process: :class:`ControlledPumpsim` waits for both
announced lines and gives :attr:`device` (the clinical link) and :attr:`control` (the control
URL, with :attr:`token` when one was generated).
"""
from __future__ import annotations

from pathlib import Path

from host_tools.simprocess import PumpsimProcess


class ControlledPumpsim(PumpsimProcess):
    """``pumpsim serve ARGS --control ADDRESS`` (``ADDRESS`` 127.0.0.1:0 unless given in
    ``args``); closed like :class:`PumpsimProcess`."""

    def __init__(self, args: list[str], log_path: Path | None = None, *,
                 start_timeout_s: float = 30.0) -> None:
        if "--control" not in args:
            args = [*args, "--control", "127.0.0.1:0"]
        self.token: str | None = None
        super().__init__(args, log_path, start_timeout_s=start_timeout_s)
        try:
            self.control = self._line("control:", start_timeout_s)
            if "--control-allow-remote" in args and "--control-token-file" not in args:
                self.token = self._line("control-token:", start_timeout_s)
        except BaseException:
            self.kill()
            raise
