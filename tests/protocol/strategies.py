"""Hypothesis strategies for the protocol tests, derived from the construct declarations.

The field strategies are the ones shipped to users in :mod:`host_tools.strategies`, so the
protocol's own round trips exercise exactly what the plugin offers.
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from host_tools.strategies import message_fields
from protocol import REGISTRY, FrameKind, MessageType, encode_frame

ALL_TYPES = sorted(REGISTRY)


def fields_for(msg_type: MessageType) -> st.SearchStrategy[dict[str, Any]]:
    """Valid fields for `msg_type` (any wire value the declaration can encode)."""
    return message_fields(msg_type)


@st.composite
def valid_frames(draw: st.DrawFn) -> bytes:
    """A random valid untagged frame of any message type."""
    msg_type = draw(st.sampled_from(ALL_TYPES))
    fields = draw(fields_for(msg_type))
    seq = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(list(FrameKind)))
    return encode_frame(msg_type, fields, seq, kind)
