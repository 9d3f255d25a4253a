"""Regenerate the golden vectors: `python -m tests.vectors.regenerate` (never run by tests).

One JSON file per message: frame hex plus the decoded fields. Request frames are sent as
requests, responses as responses, events as events; every frame after the handshake is tagged
with a fixed development session so the tag bytes are pinned too.
"""
from __future__ import annotations

import json
import pathlib

from protocol import FrameKind, REGISTRY, encode_frame
from protocol.enums import MessageType as MT

from .fixture_session import UNTAGGED, vector_session
from .samples import BYTES_FIELDS, EXTRA_SAMPLES, SAMPLES

HERE = pathlib.Path(__file__).parent
KIND = {"request": FrameKind.REQUEST, "response": FrameKind.RESPONSE, "event": FrameKind.EVENT}


def to_json(fields: dict) -> dict:
    """Sample fields -> JSON-able (bytes as hex)."""
    return {k: (v.hex() if k in BYTES_FIELDS else v) for k, v in fields.items()}


def from_json(fields: dict) -> dict:
    """JSON fields -> message fields (hex back to bytes)."""
    return {k: (bytes.fromhex(v) if k in BYTES_FIELDS else v) for k, v in fields.items()}


def build(msg_type: MT, fields: dict, seq: int) -> bytes:
    """Frame bytes for a vector (tagged unless the message travels before a session)."""
    spec = REGISTRY[msg_type]
    session = None if msg_type in UNTAGGED else vector_session()
    return encode_frame(msg_type, fields, seq, KIND[spec.kind], session=session)


def write(stem: str, msg_type: MT, fields: dict, seq: int) -> None:
    """Write one vector file ``stem.json``."""
    doc = {
        "name": msg_type.name, "msg_type": int(msg_type), "kind": REGISTRY[msg_type].kind,
        "seq": seq, "tagged": msg_type not in UNTAGGED,
        "fields": to_json(fields), "hex": build(msg_type, fields, seq).hex(),
    }
    (HERE / f"{stem}.json").write_text(json.dumps(doc, indent=2) + "\n")


def main() -> None:
    for seq, (msg_type, fields) in enumerate(SAMPLES.items(), start=1):
        write(msg_type.name.lower(), msg_type, fields, seq)
    for seq, (stem, (msg_type, fields)) in enumerate(EXTRA_SAMPLES.items(), start=len(SAMPLES) + 1):
        write(stem, msg_type, fields, seq)
    print(f"wrote {len(SAMPLES) + len(EXTRA_SAMPLES)} vectors to {HERE}")


if __name__ == "__main__":
    main()
