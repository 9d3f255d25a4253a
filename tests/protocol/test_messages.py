"""Every message: parse(build(m)) == m and build(parse(b)) == b; malformed payloads refused."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import MessageType, NakCode, ProtocolError, REGISTRY, decode_payload, encode_payload
from protocol import messages as m

from tests.vectors.samples import SAMPLES

from .strategies import ALL_TYPES, fields_for

PARAMS = pytest.mark.parametrize("msg_type", ALL_TYPES, ids=lambda t: t.name)


@PARAMS
@settings(max_examples=25)
@given(data=st.data())
def test_round_trip_fields(msg_type: MessageType, data: st.DataObject) -> None:
    fields = data.draw(fields_for(msg_type))
    payload = encode_payload(msg_type, fields)
    assert decode_payload(msg_type, payload) == fields
    assert encode_payload(msg_type, decode_payload(msg_type, payload)) == payload
    # the declaration itself agrees with the (possibly fast) codec
    assert REGISTRY[msg_type].construct.build(fields) == payload


@PARAMS
@settings(max_examples=25)
@given(data=st.data())
def test_round_trip_bytes(msg_type: MessageType, data: st.DataObject) -> None:
    """Any byte string that decodes re-encodes to itself."""
    size = REGISTRY[msg_type].fixed_size
    raw = data.draw(st.binary(min_size=size or 0, max_size=size if size is not None else 80))
    try:
        fields = decode_payload(msg_type, raw)
    except ProtocolError as exc:
        assert exc.code in (NakCode.MALFORMED_PAYLOAD, NakCode.TOO_MANY_STEPS)
        return
    assert encode_payload(msg_type, fields) == raw


@PARAMS
def test_wrong_length_is_malformed(msg_type: MessageType) -> None:
    good = encode_payload(msg_type, SAMPLES[msg_type])
    for bad in (good + b"\x00", good[:-1]):
        if bad == good:
            continue
        with pytest.raises(ProtocolError) as err:
            decode_payload(msg_type, bad)
        assert err.value.code is NakCode.MALFORMED_PAYLOAD


def test_unknown_type() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_payload(0x7E, b"")
    assert err.value.code is NakCode.UNKNOWN_MESSAGE_TYPE


def test_too_many_steps_has_its_own_code() -> None:
    steps = b"".join(i.to_bytes(2, "big") + b"\x00\x01\x00\x00" for i in range(49))
    with pytest.raises(ProtocolError) as err:
        decode_payload(MessageType.SET_SCHEDULE, b"\xff" + bytes([49]) + steps)
    assert err.value.code is NakCode.TOO_MANY_STEPS


def test_bad_utf8_is_malformed() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_payload(MessageType.SET_DRUG, b"\x02\xff\xfe" + b"\x00\x00\x00\x01")
    assert err.value.code is NakCode.MALFORMED_PAYLOAD


def test_text_longer_than_limit_is_malformed() -> None:
    name = b"x" * (m.MAX_TEXT["drug_name"] + 1)
    with pytest.raises(ProtocolError):
        decode_payload(MessageType.SET_DRUG, bytes([len(name)]) + name + b"\x00\x00\x00\x01")


@pytest.mark.parametrize("fields, fragment", [
    ({"volume_nl": 1, "dose_ug": 2}, "duration_ms"),
    ({"volume_nl": -1, "dose_ug": 2, "duration_ms": 3}, "CLINICIAN_BOLUS"),
    ({"volume_nl": 2**32, "dose_ug": 2, "duration_ms": 3}, "CLINICIAN_BOLUS"),
])
def test_encode_rejects_bad_fields(fields: dict, fragment: str) -> None:
    with pytest.raises(ProtocolError) as err:
        encode_payload(MessageType.CLINICIAN_BOLUS, fields)
    assert err.value.code is NakCode.INVALID_FIELD
    assert fragment in err.value.detail


def test_encode_rejects_short_nonce() -> None:
    with pytest.raises(ProtocolError):
        encode_payload(MessageType.SESSION_OPEN, {"role": 1, "host_nonce": b"short"})


def test_every_request_has_responses_and_kinds_are_consistent() -> None:
    for t, s in REGISTRY.items():
        if s.kind == "request":
            assert s.responses, t
            assert t < 0x80
            for r in s.responses:
                assert REGISTRY[r].kind == "response"
        else:
            assert t >= 0x80
