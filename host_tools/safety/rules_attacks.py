"""The safety machine's rules of sessions, links and attacks: new sessions (possibly over a
faulty link), wrong keys, replays, retransmissions, forged, damaged and malformed frames, and
reading the program and the log back over the wire."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from hal.faults import FaultPlan
from host_tools import strategies as ips
from host_tools.client import PumpClient
from host_tools.errors import AuthenticationFailed, ConnectionFailed, ProtocolViolation, ResponseTimeout
from protocol import FrameKind, MessageType as MT, Role, crc16, encode_frame

from . import draws, stats
from .base import MachineBase, _diff
from .links import SessionLink
from .oracle import Violation

FORGERIES = st.sampled_from(("payload", "seq", "session", "crc", "untag"))


class AttackRules(MachineBase):
    """Sessions and keys, raw attacks on the link, reading back."""

    @rule(role=st.sampled_from([Role.CLINICIAN, Role.CLINICIAN, Role.PATIENT]),
          faulty=st.booleans(), data=st.data())
    def new_session(self, role: Role, faulty: bool, data: st.DataObject) -> None:
        """Open a new session (the old one ends), possibly over a faulty link (its fault plan
        is drawn only then: drawing a plan costs more than the rest of the rule)."""
        plan: FaultPlan | None = None
        if faulty and self.FAULTS:
            plan = data.draw(draws.FAULT_PLANS, label="plan")
        self._connect(role, plan)
        self.failed_logins = 0
        self._drain_events()

    @precondition(lambda self: self.failed_logins < 2)
    @rule(role=st.sampled_from([Role.CLINICIAN, Role.PATIENT]),
          key=st.binary(min_size=16, max_size=64))
    def wrong_key(self, role: Role, key: bytes) -> None:
        """A session with a wrong key is refused and changes nothing."""
        before = self._snapshot()
        if self.client is not None:
            self.client.close()
        link = SessionLink(self.host)
        client = PumpClient(link, role=role, key=key, timeout_s=2.0, retries=0)
        try:
            client.open()
        except AuthenticationFailed:
            pass
        else:
            raise Violation(f"a session with a wrong {role.name} key was accepted")
        finally:
            client.close()
        self.failed_logins += 1
        stats.count("check.SAF-7")
        after = self._snapshot()
        if after != before:
            raise Violation(f"a refused login changed the pump: {_diff(before, after)}")
        self._connect(self.role, None)  # a good login resets the back-off
        self.failed_logins = 0

    # ------------------------------------------------------------------ rules: raw attacks
    def _raw(self, frames: list[bytes]) -> None:
        """Write raw bytes on the session's link, then sync; the pump must not change."""
        assert self.link is not None
        stats.count("check.SAF-7")
        before = self._snapshot()
        for f in frames:
            self.link.write_clean(f)
        self._sync()
        after = self._snapshot()
        evs = [e for e in self._drain_events() if e.kind != "REFUSED"]  # refusals' own records
        if after != before or evs:
            raise Violation(f"raw frames changed the pump: {_diff(before, after)} "
                            f"events {[e.kind for e in evs]}")

    @precondition(lambda self: self.link is not None and len(self.link.sent) >= 3)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """Replay an earlier request of this session: stale, answered from the cache at most."""
        stats.count("attack.replay")
        assert self.link is not None
        old = draws.pick(data, self.link.sent[:-1])
        self._raw([old])

    @precondition(lambda self: self.link is not None and self.link.sent)
    @rule(data=st.data())
    def retransmit_last(self, data: st.DataObject) -> None:
        """The last request again, byte for byte: answered from the cache, never re-executed."""
        stats.count("attack.retransmit")
        assert self.link is not None
        self._raw([self.link.sent[-1]] * data.draw(st.integers(1, 3)))

    @rule(which=st.sampled_from(["patient_bolus", "set_clock", "cancel_bolus", "stop"]),
          times=st.integers(1, 3), data=st.data())
    def command_then_retransmit(self, which: str, times: int, data: st.DataObject) -> None:
        """A command, then its very frame again (the link duplicated it, or the answer was
        lost and the programmer sent it again): answered from the cache, never re-executed."""
        if which == "set_clock":
            self.set_clock(data)
        else:
            getattr(self, which)()
        assert self.link is not None
        if self.link.sent:
            stats.count("attack.retransmit")
            self._raw([self.link.sent[-1]] * times)

    @precondition(lambda self: self.link is not None and self.link.sent)
    @rule(data=st.data())
    def forge(self, data: st.DataObject) -> None:
        """An earlier request with a changed byte and a recomputed CRC (so only the tag or
        the session can catch it), or with a bad CRC, or untagged."""
        stats.count("attack.forge")
        assert self.link is not None
        base = bytearray(draws.pick(data, self.link.sent))
        how = data.draw(FORGERIES)
        if how == "untag" and len(base) > 15:
            body = bytes(base[15:15 + int.from_bytes(base[13:15], "big")])
            frame = encode_frame(base[12], body, int.from_bytes(base[8:12], "big") + 1000,
                                 FrameKind.REQUEST)
        else:
            if how == "crc" or len(base) < 20:
                base[-1] ^= 0xFF
            else:
                i = {"payload": 15 + data.draw(st.integers(0, 1 << 16)) % (len(base) - 17),
                     "seq": data.draw(st.integers(8, 11)),
                     "session": data.draw(st.integers(4, 7))}[how]
                base[i] ^= 1 << data.draw(st.integers(0, 7))
                base[-2:] = crc16(bytes(base[:-2])).to_bytes(2, "big")
            frame = bytes(base)
        self._raw([frame])

    @rule(frame=ips.mutated_frames() | ips.request_frames())
    def garbage(self, frame: bytes) -> None:
        """Any damaged or untagged frame (and the bytes around it) changes nothing."""
        stats.count("attack.garbage")
        self._raw([frame])

    @precondition(lambda self: self.client is not None and self.client.connected)
    @rule(msg_type=st.sampled_from([MT.SET_DRUG, MT.SET_SCHEDULE, MT.CLINICIAN_BOLUS,
                                    MT.REFILL_COMPLETE, MT.SET_CLOCK, MT.SET_LIMITS,
                                    MT.INJECT_FAULT, MT.ACK_ALARM]),
          payload=st.binary(max_size=40))
    def malformed_in_session(self, msg_type: MT, payload: bytes) -> None:
        """A correctly tagged, fresh request whose payload does not parse: refused, nothing
        changes (the payload is only kept when it does not decode)."""
        from protocol import decode_payload, ProtocolError
        try:
            decode_payload(msg_type, payload)
            return  # it parses: not a malformed frame
        except ProtocolError:
            pass
        stats.count("attack.malformed")
        assert self.client is not None
        session = self.client._session  # the established session: fresh seq and a valid tag
        seq = session.last_seq + 1
        session.last_seq = seq
        self._raw([encode_frame(msg_type, payload, seq, FrameKind.REQUEST, session=session)])

    # ------------------------------------------------------------------ rules: reading back
    @rule()
    def read_back(self) -> None:
        """What the pump answers about its program is what was acknowledged (the oracle's)."""
        stats.count("cmd.read_back")
        o = self.oracle
        assert self.client is not None
        try:
            drug = self.client.drug()
            sched = self.client.schedule()
            limits = self.client.limits()
        except (ResponseTimeout, ConnectionFailed, ProtocolViolation):
            self._sync()
            return
        want_drug = (o.drug or "", o.conc or 0)
        if (drug.name, drug.concentration_ug_per_ml) != want_drug:
            raise Violation(f"GET_DRUG {drug} but {want_drug} was acknowledged")
        want = o.plan.plans if o.plan is not None else {}
        for wd in [0xFF] + list(range(7)):
            try:
                sched = self.client.schedule(wd) if wd != 0xFF else sched
            except (ResponseTimeout, ConnectionFailed, ProtocolViolation):
                self._sync()
                return
            steps = [(s.start_minute, s.rate_nl_per_day) for s in sched.steps]
            if steps != want.get(wd, []):
                raise Violation(f"GET_SCHEDULE({wd}) {steps} but {want.get(wd, [])} "
                                "was acknowledged")
        p = o.patient or {}
        want = (p.get("dose_ug", 0), p.get("duration_ms", 0), p.get("lockout_ms", 0),
                p.get("max_per_24h", 0), o.low)
        got = (limits.patient_bolus_dose_ug, limits.patient_bolus_duration_ms,
               limits.patient_lockout_ms, limits.patient_max_per_day,
               limits.low_reservoir_threshold_nl)
        if got != want:
            raise Violation(f"GET_LIMITS {got} but {want} was acknowledged")

    @rule(data=st.data())
    def read_log(self, data: st.DataObject) -> None:
        """A page of the log over the wire is the pump's log (indexes, count)."""
        stats.count("cmd.read_log")
        assert self.client is not None
        with self.vp.device.lock:
            total = self.vp.pump.storage.event_count()
        start = data.draw(st.integers(0, total + 2), label="start")
        try:
            page = self.client.read_log(start, data.draw(st.integers(1, 16), label="count"))
        except (ResponseTimeout, ConnectionFailed, ProtocolViolation):
            self._sync()
            return
        if page.total_count != total:
            raise Violation(f"READ_LOG total {page.total_count}, the log holds {total}")
        with self.vp.device.lock:
            evs = self.vp.pump.read_events(start, len(page.entries))
        if [e.index for e in page.entries] != [e.index for e in evs]:
            raise Violation(f"READ_LOG indexes {[e.index for e in page.entries]} != "
                            f"{[e.index for e in evs]}")

    @rule(interval=st.sampled_from([0, 0, 100, 250, 99, 86_400_001]))
    def set_telemetry(self, interval: int) -> None:
        """Telemetry settings never touch the pump's state."""
        self.command("set_telemetry", lambda c: c.set_telemetry(interval))
