"""Choosing a backend by URL scheme, from a registry third parties can extend.

A backend factory is a callable ``factory(url: str, *, end: str, **options) -> Link``, where
``end`` is "host" or "pump" and ``options`` are the keyword options given to :func:`open_link`.
Register one with :func:`register_backend`, or from another distribution with an entry point in
the group ``intrapump.hal_backends`` (name = scheme, value = the factory), e.g. in its
pyproject.toml::

    [project.entry-points."intrapump.hal_backends"]
    can = "mypkg.canlink:open_can_link"

Built-in schemes: ``virtual``, ``pty``, ``tcp-listen``, ``tcp``, and the pyserial URLs
(``socket``, ``rfc2217``, ``loop``, ``spy``, ``hwgrep``, ``alt``, ``cp2110``); a string without
``://`` is a serial port name.  Two wrappers apply to any URL: the prefix ``fault+`` (its URL
parameters that are fault keys form the :class:`~hal.faults.FaultPlan`) and the options
``faults="drop=0.01,seed=7"`` / ``faults=FaultPlan(...)`` and ``capture="file.pcapng"`` (with
``capture_segmenter=`` to record one packet per protocol frame, see :mod:`hal.capture`).
The capture records what crosses the wire, i.e. after the faults are applied.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import fields
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlencode

from hal.base import Link
from hal.capture import CaptureLink, SegmenterFactory
from hal.errors import LinkOpenError
from hal.faults import FaultInjector, FaultPlan, parse_fault_spec
from hal.pty_link import pty_factory
from hal.serial_link import serial_factory
from hal.tcp import tcp_factory, tcp_listen_factory
from hal.urls import split_url
from hal.virtual import virtual_factory

_log = logging.getLogger(__name__)

BackendFactory = Callable[..., Link]
ENTRY_POINT_GROUP = "intrapump.hal_backends"

_lock = threading.Lock()
_backends: dict[str, BackendFactory] = {
    "virtual": virtual_factory,
    "pty": pty_factory,
    "tcp-listen": tcp_listen_factory,
    "tcp": tcp_factory,
    "": serial_factory,
}
for _scheme in ("socket", "rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110"):
    _backends[_scheme] = serial_factory
_entry_points_loaded = False


def register_backend(scheme: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make ``scheme://...`` URLs open with ``factory``; ValueError if taken and not ``replace``."""
    key = scheme.lower()
    if not key or "://" in key or "+" in key:
        raise ValueError(f"invalid scheme {scheme!r}")
    with _lock:
        if key in _backends and not replace:
            raise ValueError(f"scheme {scheme!r} is already registered")
        _backends[key] = factory
    _log.info("registered hal backend %r -> %r", key, factory)


def unregister_backend(scheme: str) -> None:
    """Remove a registered scheme (KeyError if unknown)."""
    with _lock:
        del _backends[scheme.lower()]


def backends() -> dict[str, BackendFactory]:
    """A copy of the registry, entry points included, keyed by scheme ("" = serial port name)."""
    _load_entry_points()
    with _lock:
        return dict(_backends)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        with _lock:
            if ep.name.lower() in _backends:
                continue
        try:
            factory = ep.load()
        except Exception:  # noqa: BLE001 - a broken plug-in must not break the built-ins
            _log.exception("could not load hal backend entry point %s", ep)
            continue
        with _lock:
            _backends.setdefault(ep.name.lower(), factory)


def _lookup(scheme: str) -> BackendFactory:
    with _lock:
        factory = _backends.get(scheme)
    if factory is None:
        _load_entry_points()
        with _lock:
            factory = _backends.get(scheme)
    if factory is None:
        raise LinkOpenError(f"no hal backend for scheme {scheme!r} (known: {sorted(backends())})")
    return factory


def open_link(
    url: str,
    *,
    end: str = "host",
    faults: str | FaultPlan | None = None,
    capture: str | None = None,
    capture_segmenter: SegmenterFactory | None = None,
    **options: Any,
) -> Link:
    """Open ``url`` as the ``end`` ("host" or "pump") of a link; see the module documentation.

    Raises LinkOpenError (FaultSpecError for a bad fault specification) if it cannot be opened.
    """
    if end not in ("host", "pump"):
        raise LinkOpenError(f"end must be 'host' or 'pump', got {end!r}")
    plan = parse_fault_spec(faults) if isinstance(faults, str) else faults
    if url.lower().startswith("fault+"):
        url, url_plan = _split_fault_url(url[len("fault+"):])
        if plan is not None:
            raise LinkOpenError("give faults either in a fault+ URL or as the faults= option, not both")
        plan = url_plan
    scheme, _, _ = split_url(url)
    link = _lookup(scheme)(url, end=end, **options)
    try:
        if capture is not None:
            link = CaptureLink(link, capture, segmenter=capture_segmenter)
        if plan is not None:
            link = FaultInjector(link, plan)
    except Exception:
        link.close()
        raise
    return link


def _split_fault_url(url: str) -> tuple[str, FaultPlan]:
    """Take the fault keys out of a URL's parameters; the others stay for the inner backend."""
    scheme, address, params = split_url(url)
    fault_keys = {f.name for f in fields(FaultPlan)}
    fault_params = {k: v for k, v in params.items() if k in fault_keys}
    rest = {k: v for k, v in params.items() if k not in fault_keys}
    inner = f"{scheme}://{address}" if scheme else address
    if rest:
        inner += "?" + urlencode(rest)
    return inner, FaultPlan.from_mapping(fault_params)
