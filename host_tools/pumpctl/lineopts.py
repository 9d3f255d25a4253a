"""pumpctl's serial line options (--baud, --bytesize, --parity, --stopbits, --rtscts, --xonxoff)
and their merge with the settings in the URL (``/dev/pts/2?baud=9600``)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from hal.errors import LinkOpenError
from host_tools.line import (BYTESIZES, PARITIES, LineSettings, LineSettingsError, merge_settings,
                             split_line_url)


def line_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the six line options to a click command (each defaults to None = not given)."""
    options = [
        click.option("--baud", type=click.IntRange(min=1), default=None,
                     help="Line speed of a serial port (default 9600), or pacing of a virtual link."),
        click.option("--bytesize", type=click.Choice([str(b) for b in BYTESIZES]), default=None,
                     help="Data bits per byte (default 8)."),
        click.option("--parity", type=click.Choice(list(PARITIES), case_sensitive=False), default=None,
                     help="Parity: N none, E even, O odd, M mark, S space (default N)."),
        click.option("--stopbits", type=click.Choice(["1", "1.5", "2"]), default=None,
                     help="Stop bits (default 1)."),
        click.option("--rtscts/--no-rtscts", default=None, help="RTS/CTS hardware flow control."),
        click.option("--xonxoff/--no-xonxoff", default=None, help="XON/XOFF software flow control."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def typed_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The click values of the line options in LineSettings' types (None kept for "not given")."""
    out: dict[str, Any] = {}
    for key in ("baud", "rtscts", "xonxoff"):
        out[key] = values.get(key)
    out["bytesize"] = None if values.get("bytesize") is None else int(values["bytesize"])
    out["parity"] = None if values.get("parity") is None else str(values["parity"]).upper()
    out["stopbits"] = None if values.get("stopbits") is None else float(values["stopbits"])
    return out


def connection_line(url: str | None, values: Mapping[str, Any]) -> tuple[str | None, LineSettings]:
    """``(url without line settings, LineSettings)`` from the URL's query and the options;
    a click usage error when they are invalid or contradict each other."""
    try:
        found: dict[str, Any] = {}
        if url:
            url, found = split_line_url(url)
        return url, merge_settings(found, typed_options(values))
    except LineSettingsError as exc:
        raise click.UsageError(f"line settings: {exc}") from None
    except LinkOpenError as exc:  # a malformed URL query (a key given twice)
        raise click.UsageError(str(exc)) from None
