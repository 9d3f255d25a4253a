"""Generate the Wireshark dissector's message tables from the construct declarations.

``python -m host_tools.wireshark.generate`` rewrites ``host_tools/wireshark/intrapump.lua`` from
``dissector_template.lua`` and :mod:`protocol.messages` (every message, field, unit text and
enumeration); ``--check`` exits 1 when the shipped file differs (the test suite runs the same
comparison, so the dissector cannot drift from the protocol). Run it after changing
``protocol/messages.py`` or the enumerations.
"""
from __future__ import annotations

import argparse
import enum
import sys
from pathlib import Path
from typing import Any

from construct import Bytes, Construct, FormatField, Renamed, StringEncoded, Struct

from protocol import messages as wire
from protocol.describe import ENUM_FIELDS
from protocol.frame import PROTOCOL_VERSION

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "dissector_template.lua"
OUTPUT = HERE / "intrapump.lua"
MARKER = "-- @@GENERATED_TABLES@@"
_INT_TYPES = {"B": "u8", "H": "u16", "I": "u32", "L": "u32", "Q": "u64",
              "b": "i8", "h": "i16", "i": "i32", "l": "i32", "q": "i64"}


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _unwrap(con: Construct) -> tuple[str | None, str, Construct]:
    """(name, docs, inner construct) of a possibly twice-renamed field."""
    name, docs = None, ""
    while isinstance(con, Renamed):
        name = name or con.name
        docs = docs or (con.docs or "")
        con = con.subcon
    return name, docs, con


def field_spec(con: Construct) -> dict[str, Any]:
    """A field declaration as a plain dict the Lua tables are written from."""
    name, docs, inner = _unwrap(con)
    spec: dict[str, Any] = {"name": name or "?", "desc": docs}
    if name in ENUM_FIELDS:
        spec["enum"] = ENUM_FIELDS[name].__name__
    if name == "active_alarms":
        spec["bitmask"] = "Alarm"
    max_items = getattr(inner, "max_items", None)
    if max_items is not None:
        spec.update(type="array", max=max_items, item=struct_fields(inner.item))
    elif isinstance(inner, FormatField):
        spec["type"] = _INT_TYPES.get(inner.fmtstr[-1], "bytes")
        if spec["type"] == "bytes":
            spec["len"] = inner.sizeof()
    elif isinstance(inner, Bytes):
        spec.update(type="bytes", len=inner.sizeof())
    elif name in wire.MAX_TEXT or isinstance(getattr(inner, "subcon", None), StringEncoded):
        spec.update(type="text", max=wire.MAX_TEXT.get(name or "", 255))
    elif isinstance(inner, Struct):
        spec.update(type="struct", item=struct_fields(inner))
    else:  # a construct this generator does not know: shown as the remaining bytes
        spec.update(type="rest")
    return spec


def struct_fields(con: Construct) -> list[dict[str, Any]]:
    """The field specs of a Struct declaration, in wire order."""
    _, _, inner = _unwrap(con)
    if not isinstance(inner, Struct):
        return [field_spec(con)]
    return [field_spec(sc) for sc in inner.subcons if sc.name or isinstance(sc, Renamed)]


def _lua_fields(fields: list[dict[str, Any]], indent: str) -> str:
    lines = ["{"]
    for f in fields:
        parts = [f"name={_lua_string(f['name'])}", f"type={_lua_string(f['type'])}"]
        for key in ("len", "max"):
            if key in f:
                parts.append(f"{key}={f[key]}")
        for key in ("enum", "bitmask"):
            if key in f:
                parts.append(f"{key}={_lua_string(f[key])}")
        parts.append(f"desc={_lua_string(f['desc'])}")
        if "item" in f:
            parts.append("item=" + _lua_fields(f["item"], indent + "    "))
        lines.append(f"{indent}  {{{', '.join(parts)}}},")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def _enum_tables() -> str:
    classes: dict[str, type[enum.IntEnum]] = {cls.__name__: cls for cls in ENUM_FIELDS.values()}
    from protocol.enums import Alarm, MessageType
    classes.setdefault("Alarm", Alarm)
    classes.setdefault("MessageType", MessageType)
    out = ["local ENUMS = {"]
    for cname in sorted(classes):
        members = ", ".join(f"[{m.value}]={_lua_string(m.name)}" for m in classes[cname])
        out.append(f"  {cname} = {{{members}}},")
    out.append("}")
    return "\n".join(out)


def generated_tables() -> str:
    """The Lua source of the generated part: protocol version, enumerations, messages."""
    out = [f"local PROTOCOL_VERSION = {PROTOCOL_VERSION}",
           f"local MAX_PAYLOAD = {wire_max_payload()}", _enum_tables(), "local MESSAGES = {"]
    for msg_type, spec in sorted(wire.REGISTRY.items()):
        fields = struct_fields(spec.construct)
        out.append(f"  [0x{int(msg_type):02X}] = {{name={_lua_string(msg_type.name)}, "
                   f"kind={_lua_string(spec.kind)}, summary={_lua_string(spec.summary)},")
        out.append("    fields=" + _lua_fields(fields, "    ") + "},")
    out.append("}")
    return "\n".join(out)


def wire_max_payload() -> int:
    """The protocol's payload limit (bytes)."""
    from protocol.frame import MAX_PAYLOAD
    return MAX_PAYLOAD


def render() -> str:
    """The whole dissector: the template with the generated tables in place of its marker."""
    template = TEMPLATE.read_text(encoding="utf-8")
    if MARKER not in template:
        raise RuntimeError(f"{TEMPLATE}: marker {MARKER!r} missing")
    banner = ("-- GENERATED from protocol/messages.py by `python -m host_tools.wireshark.generate`;"
              " do not edit by hand\n")
    return template.replace(MARKER, banner + generated_tables())


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check compare) the dissector; 0 when it is up to date."""
    parser = argparse.ArgumentParser(prog="python -m host_tools.wireshark.generate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run python -m host_tools.wireshark.generate", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
