"""intrapump's hardware abstraction layer: Serial-shaped byte links chosen by URL.

``hal`` moves bytes and knows nothing of frames.  A device loop and a client use::

    import hal
    with hal.open("virtual://pump1", end="pump", timeout=0.1) as link:   # the emulator
        data = link.read(4096)          # 1..4096 bytes, or b"" after 0.1 s
        link.write(b"...")
    link = hal.open("virtual://pump1")  # the programmer (host end)

URL forms (see :mod:`hal.registry`): ``virtual://NAME``, ``pty`` (pump end; host end is the
``device_path`` it reports), ``tcp-listen://HOST:PORT`` (pump end), ``tcp://HOST:PORT`` and
``socket://HOST:PORT`` (host end), any pyserial port name or URL, prefix ``fault+`` for fault
injection; options ``faults=`` and ``capture=``.

Exceptions (:mod:`hal.errors`): :class:`LinkError` > :class:`LinkClosed`, :class:`LinkTimeout`,
:class:`LinkOpenError` > :class:`FaultSpecError`.
"""

from hal.base import Link, LinkCounters, WrapperLink
from hal.capture import CapturedChunk, CaptureLink, CaptureWriter, read_capture
from hal.errors import FaultSpecError, LinkClosed, LinkError, LinkOpenError, LinkTimeout
from hal.faults import FaultInjector, FaultPlan, FaultStats, parse_fault_spec
from hal.ports import PortInfo, list_ports
from hal.pty_link import PtyLink
from hal.registry import ENTRY_POINT_GROUP, backends, open_link, register_backend, unregister_backend
from hal.serial_link import SerialLink
from hal.tcp import TcpListenLink
from hal.virtual import VirtualLink, virtual_pair

open = open_link  # noqa: A001 - hal.open(url) mirrors serial.serial_for_url / can.Bus

__all__ = [
    "ENTRY_POINT_GROUP", "CaptureLink", "CaptureWriter", "CapturedChunk", "FaultInjector",
    "FaultPlan", "FaultSpecError", "FaultStats", "Link", "LinkClosed", "LinkCounters", "LinkError",
    "LinkOpenError", "LinkTimeout", "PortInfo", "PtyLink", "SerialLink", "TcpListenLink",
    "WrapperLink",
    "VirtualLink", "backends", "list_ports", "open", "open_link", "parse_fault_spec",
    "read_capture", "register_backend", "unregister_backend", "virtual_pair",
]
