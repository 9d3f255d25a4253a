"""Where the wire specification (PROTOCOL.md) is, in a source tree or an installed package."""
from __future__ import annotations

import pathlib
from importlib import resources

NAME = "PROTOCOL.md"


def spec_path() -> pathlib.Path:
    """Path of PROTOCOL.md: the copy installed with the package (package data of
    ``protocol``), else the one at the root of a source tree. FileNotFoundError if neither."""
    installed = pathlib.Path(str(resources.files(__package__) / NAME))
    if installed.is_file():
        return installed
    source = pathlib.Path(__file__).resolve().parent.parent / NAME
    if source.is_file():
        return source
    raise FileNotFoundError(f"{NAME} is neither installed with the package nor in a source tree")


def spec_text() -> str:
    """The text of PROTOCOL.md (UTF-8)."""
    return spec_path().read_text(encoding="utf-8")
