"""Golden vectors: build(fields) == hex and parse(hex) == fields, for every message."""
from __future__ import annotations

import json
import pathlib

import pytest

from protocol import REGISTRY, MessageType, parse_frame
from tests.vectors.fixture_session import vector_session
from tests.vectors.regenerate import build, from_json

pytestmark = pytest.mark.requirement("PRO-6")

VECTORS = pathlib.Path(__file__).parent.parent / "vectors"
FILES = sorted(VECTORS.glob("*.json"))


def test_one_vector_per_message() -> None:
    names = {json.loads(p.read_text())["name"] for p in FILES}
    assert names == {t.name for t in REGISTRY}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_vector(path: pathlib.Path) -> None:
    doc = json.loads(path.read_text())
    msg_type = MessageType[doc["name"]]
    assert doc["msg_type"] == msg_type
    fields = from_json(doc["fields"])
    assert build(msg_type, fields, doc["seq"]).hex() == doc["hex"]
    frame = parse_frame(bytes.fromhex(doc["hex"]))
    assert frame.error is None
    assert (frame.msg_type, frame.seq, frame.fields) == (msg_type, doc["seq"], fields)
    assert (frame.tag is not None) == doc["tagged"]
    if doc["tagged"]:
        vector_session().verify_tag(frame)
