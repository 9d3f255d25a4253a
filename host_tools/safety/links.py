"""The host end of the safety machine's link, as one session's client sees it."""
from __future__ import annotations

from hal.base import Link
from hal.faults import FaultInjector, FaultPlan


class SessionLink(Link):
    """The host end as one session's client sees it: the example's one host link, seen
    through an optional FaultInjector, recording the frames written (for replay attacks).

    Closing it leaves the shared host link open (the pump keeps its link across sessions).
    Reads wait at most 10 ms at a time, so a client's reader thread stops at once on close.
    """

    def __init__(self, base: Link, plan: FaultPlan | None = None, keep: int = 32) -> None:
        super().__init__(f"session+{base.name}", timeout=base.timeout)
        self.base = base
        self.faults = FaultInjector(_Shared(base), plan) if plan is not None and plan.active \
            else None
        self.keep = keep
        self.sent: list[bytes] = []

    def _timeout_changed(self, timeout: float | None) -> None:
        pass

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        wait = 0.01 if timeout is None else min(timeout, 0.01)
        inner = self.faults if self.faults is not None else self.base
        inner.timeout = wait
        return inner.read(n)

    def _write_hook(self, data: bytes) -> None:
        self.sent.append(data)
        del self.sent[:-self.keep]
        (self.faults if self.faults is not None else self.base).write(data)

    def write_clean(self, data: bytes) -> None:
        """Write bytes past the fault injector (raw attacks must arrive as written)."""
        self.base.write(data)


class _Shared(Link):
    """A view of a link that does not close it."""

    def __init__(self, inner: Link) -> None:
        super().__init__(inner.name, timeout=inner.timeout)
        self.inner = inner

    def _timeout_changed(self, timeout: float | None) -> None:
        self.inner.timeout = timeout

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        return self.inner.read(n)

    def _write_hook(self, data: bytes) -> None:
        self.inner.write(data)
