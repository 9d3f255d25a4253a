"""PROTOCOL.md is checked against the declarations: its tables are parsed and compared exactly.

A message, a field (nested record fields included), a MessageType, a NakCode, an enumeration
value, a role permission or a header field that is missing from the document, or documented
with the wrong offset, size or type, fails here. The worked example's hex values are
recomputed from the code.
"""
from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
from construct import Bytes, Construct, ExprValidator, FormatField, IfThenElse, Prefixed, Renamed, Struct

from protocol import (DEVELOPMENT_KEYS, MAX_FRAME, MAX_PAYLOAD, NO_SESSION_REQUESTS, REGISTRY,
                      ROLE_PERMISSIONS, TAG_BYTES, FrameKind, MessageType, NakCode, Role, crc16,
                      encode_frame, parse_frame)
from protocol import enums, log_records
from protocol import messages as m
from protocol import session as s
from protocol.frame import FRAME, FrameBody, HEADER_BYTES
from tests.vectors.fixture_session import HOST_NONCE, PUMP_NONCE, SESSION_ID, vector_session

pytestmark = pytest.mark.requirement("PRO-6")

DOC_PATH = pathlib.Path(__file__).resolve().parents[2] / "PROTOCOL.md"
RECORDS = {"ScheduleStep": m.ScheduleStep, "AlarmEntry": m.AlarmEntry, "LogEntry": m.LogEntry,
           "DrugLibraryEntry": m.DrugLibraryEntry}
ARRAYS = {"steps": ("ScheduleStep", m.MAX_STEPS), "alarms": ("AlarmEntry", m.MAX_ALARMS),
          "entries": ("LogEntry", m.MAX_LOG_ENTRIES), "drugs": ("DrugLibraryEntry", m.MAX_DRUGS)}
INT_TYPES = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
SIGNED_TYPES = {4: "s32", 8: "s64"}
SIGNED_FIELDS = {"clock_drift_ppm", "clock_drift_ms"}  # section 1: the only signed fields
UNITS = [("_nl_per_day", "nL/day"), ("_ug_per_ml", "ug/mL"), ("_nl", "nL"), ("_ug", "ug"),
         ("_ms", "ms"), ("_minute", "min"), ("_percent", "%"), ("_ppm", "ppm")]
ENUMS = [enums.FrameKind, enums.TherapyState, enums.Alarm, enums.AlarmPriority, enums.BolusKind,
         enums.Role, enums.Weekday, enums.DenialReason, enums.FaultKind, enums.FaultAction,
         enums.EventKind, enums.AckWarning, log_records.BolusOutcome]

# --- a small Markdown reader ------------------------------------------------------------------


def read_sections(text: str) -> dict[str, str]:
    """Heading title (without #'s) -> body up to the next heading of any level."""
    out: dict[str, str] = {}
    parts = re.split(r"(?m)^#{1,6} +(.+?) *$", text)
    for title, body in zip(parts[1::2], parts[2::2]):
        assert title not in out, f"duplicate heading {title!r}"
        out[title] = body
    return out


def read_tables(body: str) -> list[list[dict[str, str]]]:
    """Markdown tables of a section body: list of rows (header cell -> cell text)."""
    tables: list[list[dict[str, str]]] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| :]+\|$", lines[i + 1]):
            head = _cells(lines[i])
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = _cells(lines[i])
                assert len(cells) == len(head), f"row width: {lines[i]}"
                rows.append(dict(zip(head, cells)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def _cells(line: str) -> list[str]:
    inner = line.strip()[1:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]


def evaluate(expr: str, env: dict[str, int]) -> int:
    """Value of an offset/size expression like ``3+n1+n2`` or ``1+6*n`` (unknown names = 0)."""
    total = 0
    for term in expr.replace(" ", "").split("+"):
        factors = term.split("*")
        value = 1
        for f in factors:
            value *= int(f) if f.isdigit() else env.get(f, 0)
        total += value
    return total


DOC = DOC_PATH.read_text(encoding="utf-8")
SECTIONS = read_sections(DOC)


def only_table(title: str) -> list[dict[str, str]]:
    assert title in SECTIONS, f"PROTOCOL.md has no section {title!r}"
    tables = read_tables(SECTIONS[title])
    assert len(tables) == 1, f"section {title!r}: expected one table, found {len(tables)}"
    return tables[0]


# --- payload tables ---------------------------------------------------------------------------


def _unwrap(con: Construct) -> Construct:
    while isinstance(con, Renamed):
        con = con.subcon
    return con


def check_field_table(where: str, con: Struct, rows: list[dict[str, str]]) -> None:
    """Rows document exactly con's fields, in order, with exact types, offsets and sizes."""
    assert [r["Field"] for r in rows] == [sc.name for sc in con.subcons], where
    min_offset = 0  # offset with every variable field at its minimum (empty text/array)
    all_fixed = True
    for sc, row in zip(con.subcons, rows):
        name, inner = sc.name, _unwrap(sc)
        what = f"{where}.{name}"
        if isinstance(inner, FormatField) and name in SIGNED_FIELDS:
            assert inner.fmtstr[0] == ">" and inner.fmtstr[1].islower(), what  # signed BE
            expected_type, fixed = SIGNED_TYPES[inner.length], inner.length
        elif isinstance(inner, FormatField):
            assert inner.fmtstr[0] == ">" and inner.fmtstr[1].isupper(), what  # unsigned BE
            expected_type, fixed = INT_TYPES[inner.length], inner.length
        elif isinstance(inner, Bytes):
            expected_type, fixed = f"bytes[{inner.length}]", inner.length
        elif isinstance(inner, ExprValidator) and name in ARRAYS:
            record, max_items = ARRAYS[name]
            expected_type, fixed = f"{record}[<={max_items}]", None
            item = RECORDS[record]
            if _fixed_size(item) is not None:  # the count multiplies the record size
                symbol = re.fullmatch(r"1\+(\d+)\*(\w+)", row["Size"])
                assert symbol and int(symbol.group(1)) == item.sizeof(), f"{what}: {row['Size']}"
        elif isinstance(inner, ExprValidator) and name in m.MAX_TEXT:
            expected_type, fixed = f"text[<={m.MAX_TEXT[name]}]", None
            assert re.fullmatch(r"1\+\w+", row["Size"]), f"{what}: size {row['Size']}"
        else:
            raise AssertionError(f"{what}: no documentation rule for {inner!r}")
        assert row["Type"] == expected_type, f"{what}: type {row['Type']!r} != {expected_type!r}"
        if fixed is not None:
            assert sc.sizeof() == fixed
            assert row["Size"] == str(fixed), f"{what}: size {row['Size']!r} != {fixed}"
        if all_fixed:
            assert row["Offset"] == str(min_offset), f"{what}: offset {row['Offset']!r}"
        else:
            assert not row["Offset"].isdigit(), f"{what}: offset after a variable field"
            assert evaluate(row["Offset"], {}) == min_offset, f"{what}: offset {row['Offset']!r}"
        min_size = evaluate(row["Size"], {})
        assert min_size == (fixed if fixed is not None else 1), f"{what}: size {row['Size']!r}"
        min_offset += min_size
        all_fixed = all_fixed and fixed is not None
        unit = next((u for suffix, u in UNITS if name.endswith(suffix)), "-")
        assert row["Units"] == unit, f"{what}: units {row['Units']!r} != {unit!r}"
        assert row["Range"] and row["Meaning"], what


def _fixed_size(con: Construct) -> int | None:
    try:
        return con.sizeof()
    except Exception:
        return None


@pytest.mark.parametrize("msg_type", sorted(REGISTRY), ids=lambda t: t.name)
def test_message_section_matches_declaration(msg_type: MessageType) -> None:
    spec = REGISTRY[msg_type]
    title = f"0x{int(msg_type):02X} {msg_type.name}"
    assert title in SECTIONS, f"PROTOCOL.md lacks section '### {title}'"
    body = SECTIONS[title]
    size_text = f"payload: {spec.fixed_size} bytes" if spec.fixed_size is not None else \
        "payload: variable"
    assert size_text in body, f"{title}: '{size_text}' missing"
    assert f"Kind: {spec.kind}" in body, title
    tables = read_tables(body)
    if spec.fixed_size == 0:
        assert tables == [] and "No payload" in body, title
        return
    assert len(tables) == 1, f"{title}: expected one field table"
    check_field_table(msg_type.name, spec.construct, tables[0])


@pytest.mark.parametrize("record", sorted(RECORDS))
def test_record_section_matches_declaration(record: str) -> None:
    check_field_table(record, RECORDS[record], only_table(f"Record {record}"))


def test_every_declared_field_name_is_documented() -> None:
    """All names, nested ones included, appear in the tables of their message or record."""
    for msg_type, spec in REGISTRY.items():
        documented: set[str] = set()
        for table in read_tables(SECTIONS[f"0x{int(msg_type):02X} {msg_type.name}"]):
            for row in table:
                documented.add(row["Field"])
                record = row["Type"].split("[")[0]
                if record in RECORDS:
                    documented |= {r["Field"] for r in only_table(f"Record {record}")}
        missing = set(m.field_names(spec.construct)) - documented
        assert not missing, f"{msg_type.name}: undocumented fields {sorted(missing)}"


# --- tables of types, codes, roles, enumerations ----------------------------------------------


def test_message_type_table() -> None:
    rows = {r["Name"]: r for r in only_table("8. Message types")}
    assert set(rows) == {t.name for t in MessageType}
    for t in MessageType:
        row, spec = rows[t.name], REGISTRY[t]
        assert int(row["Value"], 16) == t, t.name
        assert row["Kind"] == spec.kind, t.name
        size = str(spec.fixed_size) if spec.fixed_size is not None else "variable"
        assert row["Payload bytes"] == size, t.name
        answers = [a.strip() for a in row["Success answer"].split(",") if a.strip() != "-"]
        assert answers == [r.name for r in spec.responses], t.name
        if spec.kind != "request":
            assert row["Roles"] == "-", t.name
        elif t in NO_SESSION_REQUESTS:
            assert "no session" in row["Roles"], t.name
        else:
            roles = {Role[x.strip().upper()] for x in row["Roles"].split(",")}
            assert roles == ROLE_PERMISSIONS[t], t.name


def test_nak_code_table() -> None:
    rows = only_table("12. Error codes")
    documented = {r["Name"]: int(r["Code"], 16) for r in rows}
    assert len(documented) == len(rows), "a NakCode is listed twice"
    assert documented == {name: int(code) for name, code in NakCode.__members__.items()}
    assert all(r["Meaning"] for r in rows)


def test_role_table() -> None:
    rows = {r["Request"]: r for r in only_table("6. Roles: what each may do")}
    assert set(rows) == {t.name for t in ROLE_PERMISSIONS}
    for t, roles in ROLE_PERMISSIONS.items():
        for role, column in ((Role.CLINICIAN, "Clinician"), (Role.PATIENT, "Patient")):
            cell = rows[t.name][column]
            assert cell.startswith("yes" if role in roles else "no"), (t.name, column)
            assert ("no session" in cell) == (t in NO_SESSION_REQUESTS), (t.name, column)


@pytest.mark.parametrize("enum_cls", ENUMS, ids=lambda e: e.__name__)
def test_enumeration_tables(enum_cls: type) -> None:
    rows = only_table(enum_cls.__name__)
    assert {r["Name"]: int(r["Value"]) for r in rows} == \
        {name: int(e) for name, e in enum_cls.__members__.items()}


# --- frame layout ------------------------------------------------------------------------------


def declared_frame_layout() -> list[tuple[str, int | None, int | None]]:
    """(name, offset, size) of the frame fields from the FRAME declaration (None = variable)."""
    out: list[tuple[str, int | None, int | None]] = []
    offset: int | None = 0
    for sc in FrameBody.subcons:
        inner = _unwrap(sc)
        if isinstance(inner, Prefixed):
            out.append(("payload_length", offset, inner.lengthfield.sizeof()))
            assert offset is not None
            offset += inner.lengthfield.sizeof()
            out.append((sc.name, offset, None))
            offset = None
        elif isinstance(inner, IfThenElse):  # the tag, present with flags.TAG
            out.append((sc.name, None, inner.thensubcon.sizeof()))
            assert inner.thensubcon.sizeof() == TAG_BYTES
        else:
            size = sc.sizeof()
            out.append((sc.name, offset, size))
            assert offset is not None
            offset += size
    crc = FRAME.subcons[-1]
    out.append((crc.name, None, crc.sizeof()))
    return out


def test_frame_layout_table() -> None:
    rows = only_table("2. Frame layout")
    layout = declared_frame_layout()
    assert [r["Field"] for r in rows] == [name for name, _, _ in layout]
    for row, (name, offset, size) in zip(rows, layout):
        if offset is not None:
            assert row["Offset"] == str(offset), name
        if size is not None:
            assert row["Size"] == str(size), name
    assert HEADER_BYTES == 15 and "header 15 bytes" in SECTIONS["2. Frame layout"]
    assert f"0..{MAX_PAYLOAD}" in next(r for r in rows if r["Field"] == "payload_length")["Meaning"]
    assert f"**{MAX_FRAME} bytes**" in SECTIONS["2. Frame layout"]


def test_flag_bits_documented() -> None:
    rows = {r["Name"]: r for r in only_table("Flags")}
    assert rows["kind"]["Bits"] == "0-1" and rows["TAG"]["Bits"] == "2"
    for kind in FrameKind:
        assert f"{int(kind)} {kind.name}" in rows["kind"]["Values"]


# --- worked example and constants --------------------------------------------------------------


def worked_example() -> dict[str, str]:
    body = SECTIONS["13. Worked example"]
    return dict(re.findall(r"(?m)^(\w+) += ([0-9a-f]+)$", body))


def test_worked_example_is_reproducible() -> None:
    ex = worked_example()
    key = DEVELOPMENT_KEYS[Role.CLINICIAN]
    t = s.transcript(Role.CLINICIAN, SESSION_ID, HOST_NONCE, PUMP_NONCE)
    host = vector_session()
    set_clock = encode_frame(MessageType.SET_CLOCK, {"wall_ms": 1_700_000_123_456}, 7,
                             FrameKind.REQUEST, session=host)
    expected: dict[str, Any] = {
        "key_clinician": key,
        "frame_open": encode_frame(MessageType.SESSION_OPEN,
                                   {"role": Role.CLINICIAN, "host_nonce": HOST_NONCE,
                                    "protocol_minor": 1}, 0),
        "frame_challenge": encode_frame(MessageType.SESSION_CHALLENGE,
                                        {"session_id": SESSION_ID, "pump_nonce": PUMP_NONCE}, 0,
                                        FrameKind.RESPONSE),
        "transcript": t,
        "host_proof": s.host_proof(key, t),
        "frame_proof": encode_frame(MessageType.SESSION_PROOF,
                                    {"session_id": SESSION_ID, "proof": s.host_proof(key, t)}, 0),
        "pump_proof": s.pump_proof(key, t),
        "frame_accepted": encode_frame(MessageType.SESSION_ACCEPTED,
                                       {"pump_proof": s.pump_proof(key, t)}, 0,
                                       FrameKind.RESPONSE),
        "session_key": s.session_key(key, t),
        "frame_set_clock": set_clock,
        "auth_data": parse_frame(set_clock).auth_data,
        "tag": parse_frame(set_clock).tag,
        "frame_ack": encode_frame(MessageType.ACK, {"request_type": MessageType.SET_CLOCK,
                                                    "warnings": 0}, 7,
                                  FrameKind.RESPONSE, session=host),
    }
    assert set(ex) == set(expected)
    for name, value in expected.items():
        assert ex[name] == value.hex(), name
    assert len(t) == 49


def test_every_hex_frame_in_the_document_is_valid() -> None:
    frames = set(re.findall(r"\ba55a[0-9a-f]{30,}\b", DOC))
    assert len(frames) >= 7
    for hex_frame in frames:
        parse_frame(bytes.fromhex(hex_frame))


def test_crc_example_and_parameters() -> None:
    crc = SECTIONS["CRC"]
    assert "polynomial 0x1021, initial value 0xFFFF" in crc and "0x29B1" in crc
    assert crc16(b"123456789") == 0x29B1
    header = bytes.fromhex("a55a01000000000000000001100000")
    assert f"= 0x{crc16(header):04X}" in crc
    assert encode_frame(MessageType.GET_STATUS, None, 1) == header + crc16(header).to_bytes(2, "big")


def test_development_keys_are_the_documented_ones() -> None:
    keys = SECTIONS["Keys"]
    assert "NOT secret" in keys
    for role, key in DEVELOPMENT_KEYS.items():
        assert f"{role.name.lower()}: `{key.hex()}`" in keys


def test_session_labels_and_back_off_documented() -> None:
    handshake = SECTIONS["Handshake (challenge-response)"]
    for label in (s._LABEL, b"host-proof", b"pump-proof", b"session-key"):
        assert f'"{label.decode()}' in handshake
    limiter = s.AuthLimiter()
    back_off = SECTIONS["Authentication back-off"]
    assert f"{limiter.max_failures} failures within {limiter.window_ms // 1000} s" in back_off
    assert "RATE_LIMITED" in back_off and "retry_after_ms" in back_off
    assert f"fixed-period form, {limiter.backoff_ms // 1000} s by" in back_off.replace("\n", " ")


# --- protocol 1.1 -----------------------------------------------------------------------------


def test_event_log_record_table_matches_the_layouts() -> None:
    """Section 10 says, per kind, what each number of a LogEntry means: exactly the layouts
    the pump encodes with and hosts decode with."""
    rows = only_table("Event-log records")
    documented = {(r["Kind"], r["Field"]): (r["Name"], r["Unit"]) for r in rows if r["Field"] != "-"}
    declared = {(kind.name, field): (slot.key, slot.unit)
                for kind, layout in log_records.LAYOUTS.items() for field, slot in layout.slots()}
    assert documented == declared
    assert {r["Kind"] for r in rows} == {k.name for k in log_records.LAYOUTS}
    assert set(log_records.LAYOUTS) == set(enums.EventKind)  # every kind has its row


def test_every_duration_names_its_clock() -> None:
    """Section 1 names the clock of every u32 duration field of every message."""
    clocks = SECTIONS["1. Conventions"]
    for spec in REGISTRY.values():
        for name in m.field_names(spec.construct):
            sub = next((sc for sc in _walk(spec.construct) if sc.name == name), None)
            if name.endswith("_ms") and sub is not None and _unwrap(sub).sizeof() == 4:
                assert name in clocks, f"{spec.msg_type.name}.{name}: clock not named"


def _walk(con: Construct) -> list[Construct]:
    out = []
    for sc in getattr(con, "subcons", []):
        out.append(sc)
        inner = _unwrap(sc)
        item = getattr(inner, "item", None)
        if item is not None:
            out.extend(_walk(item))
    return out


def test_versions_section_lists_every_message_that_grew() -> None:
    versions = only_table("16. Versions 1.0 and 1.1")
    named = {n.strip() for r in versions for n in r["Message"].split(",")}
    assert named == {t.name for t in m.LEGACY_1_0}
