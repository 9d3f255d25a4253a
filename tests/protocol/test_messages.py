"""Every message: parse(build(m)) == m and build(parse(b)) == b; malformed payloads refused."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import MessageType, NakCode, ProtocolError, REGISTRY, decode_payload, encode_payload
from protocol import messages as m

from tests.vectors.samples import SAMPLES

from .strategies import ALL_TYPES, fields_for

pytestmark = pytest.mark.requirement("PRO-3")

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


@PARAMS
@settings(max_examples=25)
@given(data=st.data())
def test_round_trip_mutated_bytes(msg_type: MessageType, data: st.DataObject) -> None:
    """build(parse(b)) == b for byte strings near valid ones (random bytes rarely parse for
    variable-size messages): a valid payload with some bytes replaced, cut or appended."""
    payload = bytearray(encode_payload(msg_type, data.draw(fields_for(msg_type))))
    for _ in range(data.draw(st.integers(0, 4))):
        if payload and data.draw(st.booleans()):
            payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
        elif data.draw(st.booleans()):
            payload += data.draw(st.binary(min_size=1, max_size=3))
        elif payload:
            del payload[data.draw(st.integers(0, len(payload) - 1))]
    raw = bytes(payload)
    try:
        fields = decode_payload(msg_type, raw)
    except ProtocolError as exc:
        assert exc.code in (NakCode.MALFORMED_PAYLOAD, NakCode.TOO_MANY_STEPS)
        return
    assert encode_payload(msg_type, fields) == raw
    assert decode_payload(msg_type, encode_payload(msg_type, fields)) == fields


def test_round_trips_cover_the_whole_registry() -> None:
    """The parametrised round trips above run for every registered message."""
    assert ALL_TYPES == sorted(REGISTRY) and set(ALL_TYPES) == set(MessageType)
    for t in ALL_TYPES:
        assert fields_for(t) is not None


def reference_decode(msg_type: MessageType, payload: bytes) -> dict | None:
    """Fields by the uncompiled construct declaration alone (exact consumption), or None."""
    import io

    from construct import ConstructError
    stream = io.BytesIO(payload)
    try:
        obj = REGISTRY[msg_type].construct.parse_stream(stream)
    except (ConstructError, UnicodeDecodeError, ValueError):
        return None
    return m.to_plain(obj) if stream.tell() == len(payload) else None


FAST_TYPES = sorted(set(m.FLAT) | set(m.ARRAY))


@pytest.mark.parametrize("msg_type", FAST_TYPES, ids=lambda t: t.name)
@settings(max_examples=40)
@given(data=st.data())
def test_fast_codecs_agree_with_the_declaration(msg_type: MessageType, data: st.DataObject) -> None:
    """The struct codecs derived from the declarations parse and refuse exactly what the
    construct declaration does, on valid and on damaged payloads."""
    payload = bytearray(encode_payload(msg_type, data.draw(fields_for(msg_type))))
    if data.draw(st.booleans()) and payload:
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        payload = payload[:data.draw(st.integers(0, len(payload)))] + data.draw(st.binary(max_size=8))
    raw = bytes(payload)
    expected = reference_decode(msg_type, raw)
    try:
        got = decode_payload(msg_type, raw)
    except ProtocolError:
        assert expected is None or len(expected.get("steps", ())) > m.MAX_STEPS
        return
    assert got == expected
    assert REGISTRY[msg_type].construct.build(got) == raw == encode_payload(msg_type, got)


def test_array_codecs_cover_the_array_messages() -> None:
    assert set(m.ARRAY) == {MessageType.SET_SCHEDULE, MessageType.SCHEDULE, MessageType.ALARM_LIST}


def test_array_codec_refuses_too_many_items_on_build() -> None:
    steps = [{"start_minute": i, "rate_nl_per_day": 1} for i in range(m.MAX_STEPS + 1)]
    with pytest.raises(ProtocolError) as err:
        encode_payload(MessageType.SET_SCHEDULE, {"weekday": 255, "steps": steps})
    assert err.value.code is NakCode.INVALID_FIELD


@pytest.mark.parametrize("text, limit, expected", [
    ("abc", 5, "abc"), ("abcdef", 3, "abc"), ("héllo", 2, "h"), ("héllo", 3, "hé"), ("", 0, ""),
    ("€€", 4, "€")])
def test_truncate_utf8(text: str, limit: int, expected: str) -> None:
    from protocol import truncate_utf8
    assert truncate_utf8(text, limit) == expected
    assert len(truncate_utf8(text, limit).encode("utf8")) <= limit


def test_nak_detail_fits_after_truncation() -> None:
    from protocol import truncate_utf8
    detail = truncate_utf8("schedule.plans[EVERY_DAY].steps[47].rate_nl_per_day: é" * 3,
                           m.MAX_TEXT["detail"])
    fields = {"code": NakCode.RATE_OUT_OF_RANGE, "request_type": MessageType.SET_SCHEDULE,
              "retry_after_ms": 0, "detail": detail}
    assert decode_payload(MessageType.NAK, encode_payload(MessageType.NAK, fields)) == fields
