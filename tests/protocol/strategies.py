"""Hypothesis strategies derived from the construct declarations themselves."""
from __future__ import annotations

from typing import Any

from construct import Bytes, Construct, ExprValidator, FormatField, Renamed, Struct
from hypothesis import strategies as st

from protocol import MessageType, REGISTRY, encode_frame, FrameKind
from protocol import messages as m

ARRAY_ITEMS = {"steps": (m.ScheduleStep, m.MAX_STEPS), "alarms": (m.AlarmEntry, m.MAX_ALARMS),
               "entries": (m.LogEntry, m.MAX_LOG_ENTRIES)}


def _unwrap(con: Construct) -> Construct:
    while isinstance(con, Renamed):
        con = con.subcon
    return con


def strategy_for(con: Construct, name: str = "") -> st.SearchStrategy[Any]:
    """Strategy of valid field values for a construct (Struct, int, bytes, text, array)."""
    con = _unwrap(con)
    if isinstance(con, Struct):
        return st.fixed_dictionaries({sc.name: strategy_for(sc, sc.name) for sc in con.subcons})
    if isinstance(con, FormatField):
        return st.integers(0, 2 ** (8 * con.length) - 1)
    if isinstance(con, Bytes):
        return st.binary(min_size=con.length, max_size=con.length)
    if isinstance(con, ExprValidator):
        if name in ARRAY_ITEMS:
            item, max_items = ARRAY_ITEMS[name]
            return st.lists(strategy_for(item), max_size=max_items)
        limit = m.MAX_TEXT[name]
        return st.text(max_size=limit).filter(lambda s: len(s.encode("utf8")) <= limit)
    raise TypeError(f"no strategy for {con!r} ({name})")


def fields_for(msg_type: MessageType) -> st.SearchStrategy[dict[str, Any]]:
    """Valid fields for `msg_type`."""
    return strategy_for(REGISTRY[msg_type].construct)


ALL_TYPES = sorted(REGISTRY)


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    """A random valid untagged frame of any message type."""
    msg_type = draw(st.sampled_from(ALL_TYPES))
    fields = draw(fields_for(msg_type))
    seq = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(list(FrameKind)))
    return encode_frame(msg_type, fields, seq, kind)
