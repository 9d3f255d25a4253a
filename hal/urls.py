"""Splitting link URLs into scheme, address and query parameters."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hal.errors import LinkOpenError


def split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """Split ``scheme://address?k=v&...`` into ``(scheme, address, {k: v})``.

    A string without ``://`` is a plain port name (``/dev/ttyUSB0``, ``COM3``): its scheme is "".
    The bare word ``pty`` is the scheme "pty" with an empty address.  Repeated keys raise
    LinkOpenError.
    """
    if url == "pty":
        return "pty", "", {}
    if "://" not in url:
        return "", url, {}
    scheme, rest = url.split("://", 1)
    address, _, query = rest.partition("?")
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in params:
            raise LinkOpenError(f"{url}: parameter {key!r} given twice")
        params[key] = value
    return scheme.lower(), address, params
