"""The interactive programmer shell behind ``pumpctl shell`` (standard library cmd + readline).

At the ``pump>`` prompt: typed commands (``status``, ``drug``, ``schedule [WEEKDAY]``,
``limits``, ``alarms``, ``clock``, ``identify``, ``log [START] [COUNT]``, ``wait SECONDS``), any
request by name
(``send SET_DRUG drug_name=morphine concentration_ug_per_ml=10000``; arrays of records as JSON
or compactly, ``send SET_SCHEDULE weekday=EVERY_DAY steps=0:400000,390:600000``; enumerations by
name), raw bytes (``raw a5 5a 01 00 ...``: written as they are, the frames that come back are
decoded and shown), ``messages`` and ``fields MSG`` to look things up. Events (alarms, telemetry)
are printed as they arrive. Tab completes commands, message names and field names; the history
is kept in a file (``~/.pumpctl_history`` when interactive). Every error is one line; the shell
keeps running.
"""
from __future__ import annotations

import cmd
import collections
import dataclasses
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from hal.base import Link, WrapperLink
from host_tools.client import PumpClient
from host_tools.errors import PumpError
from protocol import messages as wire
from protocol.decoder import StreamDecoder
from protocol.describe import ENUM_FIELDS, describe
from protocol.enums import FrameKind
from protocol.enums import MessageType as MT
from protocol.enums import Weekday
from protocol.frame import Frame

try:  # readline is missing on some platforms; the shell works without history then
    import readline
except ImportError:  # pragma: no cover - depends on the Python build
    readline = None  # type: ignore[assignment]

RAW_WAIT_S = 1.0
REQUESTS = sorted(t.name for t, s in wire.REGISTRY.items() if s.kind == "request")


class TapLink(WrapperLink):
    """Wraps a link (named ``tap+NAME``) and keeps the frames it receives (for showing the
    answers to ``raw``)."""

    def __init__(self, link: Link) -> None:
        super().__init__("tap", link)
        self._decoder = StreamDecoder()
        self.received: collections.deque[Frame] = collections.deque(maxlen=256)
        self.arrived = threading.Condition()

    def _read_hook(self, n: int, timeout: float | None) -> bytes:
        data = self.inner.read(n)
        if data:
            frames = self._decoder.feed(data)
            if frames:
                with self.arrived:
                    self.received.extend(frames)
                    self.arrived.notify_all()
        return data


def parse_value(msg: MT, name: str, text: str) -> Any:
    """A field value from its text: enumeration names, numbers (0x.. too), JSON, the compact
    ``a:b,c:d`` form of a record array, else the text itself."""
    enum_cls = ENUM_FIELDS.get(name)
    if enum_cls is not None and text.upper() in enum_cls.__members__:
        return int(enum_cls[text.upper()])
    item = _array_item(msg, name)
    if item is not None and text and text[0] not in "[{":
        names = wire.field_names(item)
        return [dict(zip(names, (int(v, 0) for v in record.split(":"))))
                for record in text.split(",") if record]
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        return text


def _array_item(msg: MT, name: str) -> Any:
    con = wire.REGISTRY[msg].construct
    for sc in getattr(con, "subcons", []):
        inner = sc
        while getattr(inner, "subcon", None) is not None and getattr(inner, "max_items", None) is None:
            inner = inner.subcon
        if sc.name == name and getattr(inner, "max_items", None) is not None:
            return inner.item
    return None


def _message(name: str) -> MT:
    try:
        return MT[name.upper()]
    except KeyError:
        raise ValueError(f"unknown message {name!r} (messages lists them)") from None


def message_fields(msg: MT) -> list[str]:
    """Top-level field names of a message (what ``send`` takes)."""
    return [sc.name for sc in getattr(wire.REGISTRY[msg].construct, "subcons", []) if sc.name]


def _show(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = value.to_json() if hasattr(value, "to_json") else dataclasses.asdict(value)
    return json.dumps(value, default=lambda v: v.name if hasattr(v, "name") else str(v))


class PumpShell(cmd.Cmd):
    """The shell; ``client`` must be connected through ``tap`` (see :func:`open_shell`)."""

    intro = "intrapump shell: 'help' lists the commands, Tab completes, Ctrl-D quits."
    prompt = "pump> "

    def __init__(self, client: PumpClient, tap: TapLink, *, stdin: TextIO | None = None,
                 stdout: TextIO | None = None, history: Path | None = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.client = client
        self.tap = tap
        self.history = history
        self.use_rawinput = stdin is None
        self._print_lock = threading.Lock()
        client.on_event(self._on_event)

    # ---------------------------------------------------------------- plumbing
    def say(self, text: str) -> None:
        """One line of output (thread-safe: events print from the listener thread)."""
        with self._print_lock:
            self.stdout.write(text + "\n")
            self.stdout.flush()

    def _on_event(self, event: Any) -> None:
        self.say(f"[event] {type(event).__name__} {_show(event)}")

    def onecmd(self, line: str) -> bool:
        try:
            return super().onecmd(line)
        except PumpError as exc:
            self.say(f"error: {exc}")
        except (ValueError, KeyError, TypeError) as exc:
            self.say(f"error: {exc}")
        return False

    def precmd(self, line: str) -> str:
        if readline is not None and not self.use_rawinput and line.strip() and line != "EOF":
            readline.add_history(line.strip())
        return line

    def emptyline(self) -> bool:
        return False

    def default(self, line: str) -> bool:
        self.say(f"error: unknown command {line.split()[0]!r} (help lists them)")
        return False

    # ---------------------------------------------------------------- typed commands
    def do_status(self, arg: str) -> None:
        """status: the pump status now."""
        self.say(_show(self.client.status()))

    def do_drug(self, arg: str) -> None:
        """drug: the programmed drug and concentration."""
        self.say(_show(self.client.drug()))

    def do_schedule(self, arg: str) -> None:
        """schedule [WEEKDAY]: a schedule plan (default: the every-day plan)."""
        weekday = Weekday[arg.strip().upper()] if arg.strip() else Weekday.EVERY_DAY
        self.say(_show(self.client.schedule(weekday)))

    def do_limits(self, arg: str) -> None:
        """limits: patient-bolus limits and the low-reservoir threshold."""
        self.say(_show(self.client.limits()))

    def do_alarms(self, arg: str) -> None:
        """alarms: the active alarms."""
        self.say(_show([dataclasses.asdict(a) for a in self.client.alarms()]))

    def do_clock(self, arg: str) -> None:
        """clock: the pump's run clock and wall clock (ms)."""
        self.say(_show(self.client.clock()))

    def do_identify(self, arg: str) -> None:
        """identify: model, serial number, versions."""
        self.say(_show(self.client.identify()))

    def do_log(self, arg: str) -> None:
        """log [START] [COUNT]: a page of the event log."""
        parts = [int(p) for p in arg.split()]
        page = self.client.read_log(*(parts[:2] or [0]))
        for e in page.entries:
            self.say(_show(e))
        self.say(f"({len(page.entries)} of {page.total_count} entries)")

    # ---------------------------------------------------------------- any message
    def do_send(self, arg: str) -> None:
        """send MSG [field=value ...]: any request by name; prints the answer's fields."""
        words = arg.split()
        if not words:
            raise ValueError("send needs a message name (messages lists them)")
        msg = _message(words[0])
        if wire.REGISTRY[msg].kind != "request":
            raise ValueError(f"{msg.name} is not a request")
        fields: dict[str, Any] = {}
        for word in words[1:]:
            name, sep, text = word.partition("=")
            if not sep:
                raise ValueError(f"{word!r}: write field=value")
            if name not in message_fields(msg):
                raise ValueError(f"{msg.name} has no field {name!r} (fields: "
                                 f"{', '.join(message_fields(msg)) or 'none'})")
            fields[name] = parse_value(msg, name, text)
        self.say(_show(self.client.request(msg, fields or None)))

    def do_raw(self, arg: str) -> None:
        """raw HEX...: write these bytes to the link as they are; show the frames that answer."""
        data = bytes.fromhex(arg.replace(":", " "))
        if not data:
            raise ValueError("raw needs bytes in hex, e.g. raw a5 5a 01 00 ...")
        with self.tap.arrived:
            self.tap.received.clear()
        self.tap.write(data)
        deadline = time.monotonic() + RAW_WAIT_S

        def answers() -> list[Frame]:  # events print through the client's callback
            return [f for f in self.tap.received if f.kind is FrameKind.RESPONSE]
        with self.tap.arrived:
            while not answers() and time.monotonic() < deadline:
                self.tap.arrived.wait(deadline - time.monotonic())
            frames = answers()
        if not frames:
            self.say(f"sent {len(data)} bytes; no frame came back within {RAW_WAIT_S:g} s")
        for frame in frames:
            self.say(f"<- {describe(frame)}")

    def do_wait(self, arg: str) -> None:
        """wait SECONDS: do nothing for a while (events still print), e.g. in a script."""
        seconds = float(arg or "1")
        if not 0 <= seconds <= 3600:
            raise ValueError("wait takes 0..3600 seconds")
        time.sleep(seconds)

    def do_messages(self, arg: str) -> None:
        """messages: the requests this pump understands."""
        self.say(" ".join(REQUESTS))

    def do_fields(self, arg: str) -> None:
        """fields MSG: the fields of a message."""
        msg = _message(arg.strip())
        self.say(" ".join(message_fields(msg)) or "(no fields)")

    def do_quit(self, arg: str) -> bool:
        """quit: leave the shell (Ctrl-D too)."""
        return True

    do_exit = do_quit

    def do_EOF(self, arg: str) -> bool:  # noqa: N802 - the name cmd gives end of input
        """Ctrl-D leaves the shell."""
        self.say("")
        return True

    # ---------------------------------------------------------------- completion
    def complete_send(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        """Message names, then the chosen message's ``field=``."""
        words = line[:begidx].split()
        if len(words) <= 1:
            return [n for n in REQUESTS if n.startswith(text.upper())]
        try:
            msg = MT[words[1].upper()]
        except KeyError:
            return []
        given = {w.partition("=")[0] for w in words[2:]}
        return [f"{f}=" for f in message_fields(msg) if f.startswith(text) and f not in given]

    def complete_fields(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        """Message names."""
        return [n for n in MT.__members__ if n.startswith(text.upper())]

    def complete_schedule(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        """Weekday names."""
        return [w.name for w in Weekday if w.name.startswith(text.upper())]

    # ---------------------------------------------------------------- history
    def preloop(self) -> None:
        if readline is not None and self.history is not None and self.history.exists():
            try:
                readline.read_history_file(self.history)
            except OSError:
                pass

    def postloop(self) -> None:
        if readline is not None and self.history is not None:
            try:
                readline.set_history_length(1000)
                readline.write_history_file(self.history)
            except OSError:
                pass


def default_history() -> Path:
    """``$PUMPCTL_HISTORY``, else ``~/.pumpctl_history``."""
    return Path(os.environ.get("PUMPCTL_HISTORY", Path.home() / ".pumpctl_history"))


__all__ = ["PumpShell", "TapLink", "default_history", "message_fields", "parse_value"]
