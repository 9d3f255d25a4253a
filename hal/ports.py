"""Listing the serial ports of the machine (for a ``ports`` command)."""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports as _list_ports


@dataclass(frozen=True)
class PortInfo:
    """One serial port: its device name, a description and the hardware id (USB VID:PID...)."""

    device: str
    description: str
    hwid: str


def list_ports() -> list[PortInfo]:
    """The serial ports pyserial finds, sorted by device name (pty pump ends are not listed)."""
    return sorted(
        (PortInfo(p.device, p.description or "", p.hwid or "") for p in _list_ports.comports()),
        key=lambda p: p.device,
    )
