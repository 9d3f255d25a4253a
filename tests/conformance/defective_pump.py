"""``pumpsim`` with one planted protocol defect, for showing that the conformance kit fails:

    python defective_pump.py DEFECT serve --url pty

DEFECT: ``replay`` (a request with an older seq is executed), ``reused-seq`` (the last seq with
other content is executed), ``retransmit-twice`` (a retransmission is executed again) or
``bad-crc`` (frames with a wrong CRC are accepted).
"""
from __future__ import annotations

import sys

from protocol import NakCode, ProtocolError
from protocol.session import PumpSession, Verdict


def _session_defect(accept: str) -> None:
    original = PumpSession.check_request

    def check_request(self: PumpSession, frame):  # type: ignore[no-untyped-def]
        last = self.last_seq
        try:
            verdict = original(self, frame)
        except ProtocolError as exc:
            stale = exc.code == NakCode.STALE_SEQUENCE
            if stale and ((accept == "replay" and frame.seq < last)
                          or (accept == "reused-seq" and frame.seq == last)):
                return Verdict.NEW
            raise
        if accept == "retransmit-twice" and verdict is Verdict.RETRANSMIT:
            return Verdict.NEW
        return verdict
    PumpSession.check_request = check_request  # type: ignore[method-assign]


class _AnyCrc(int):
    """A CRC that compares equal to every other (the decoder then accepts any CRC)."""

    def __ne__(self, other: object) -> bool:
        return False

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = int.__hash__


def _bad_crc() -> None:
    import protocol.frame as frame
    real = frame._crc_hqx
    frame._crc_hqx = lambda data, init: _AnyCrc(real(data, init))  # type: ignore[assignment]


DEFECTS = {"replay": lambda: _session_defect("replay"),
           "reused-seq": lambda: _session_defect("reused-seq"),
           "retransmit-twice": lambda: _session_defect("retransmit-twice"),
           "bad-crc": _bad_crc}

if __name__ == "__main__":
    DEFECTS[sys.argv[1]]()
    from host_tools.pumpsim import main
    main(sys.argv[2:])
