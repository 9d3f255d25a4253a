"""The Wireshark dissector shipped with the package: where it is, how to use it, installing it.

``intrapump.lua`` is generated from the protocol declarations (:mod:`host_tools.wireshark.generate`)
and decodes the captures intrapump writes (pcapng, link type USER0, one packet per frame).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

DISSECTOR = Path(__file__).resolve().parent / "intrapump.lua"


def dissector_path() -> Path:
    """The installed dissector file (``.../host_tools/wireshark/intrapump.lua``)."""
    return DISSECTOR


def usage_commands(capture: str = "capture.pcapng") -> tuple[str, str]:
    """The one-line tshark and wireshark commands that load the dissector for ``capture``."""
    script = f"lua_script:{DISSECTOR}"
    return (f"tshark -X {script} -r {capture} -V", f"wireshark -X {script} {capture}")


def personal_plugin_dir() -> Path:
    """Wireshark's personal Lua plugin folder on this system (created by :func:`install`)."""
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", Path.home())) / "Wireshark" / "plugins"
    return Path.home() / ".local" / "lib" / "wireshark" / "plugins"


def install(target_dir: Path | None = None) -> Path:
    """Copy the dissector into ``target_dir`` (default: the personal plugin folder); returns
    the path written. Wireshark then loads it at every start, without ``-X``."""
    folder = personal_plugin_dir() if target_dir is None else Path(target_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DISSECTOR.name
    shutil.copyfile(DISSECTOR, target)
    return target


__all__ = ["DISSECTOR", "dissector_path", "install", "personal_plugin_dir", "usage_commands"]
