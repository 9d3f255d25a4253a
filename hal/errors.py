"""The exceptions of the hardware abstraction layer.

Every failure of a link is a :class:`LinkError`, so a caller that catches that one type catches
them all:

* :class:`LinkClosed` -- the link was closed locally, or the peer went away (the other end of a
  virtual pair closed, the pty master closed, the TCP peer disconnected, the USB adapter was
  unplugged).  Reported as soon as it is known, never a hang.
* :class:`LinkTimeout` -- a *write* could not complete within the write timeout.  Reads never raise
  it: like pyserial, a read that times out returns ``b""``.
* :class:`LinkOpenError` -- the link could not be opened (no such port, no pump end listening,
  unknown URL scheme, bad option).
* :class:`FaultSpecError` -- a fault-injection specification is malformed (also a ``ValueError``).
"""

from __future__ import annotations


class LinkError(Exception):
    """Base class of every error raised by :mod:`hal`."""


class LinkClosed(LinkError):
    """The link is closed: closed locally, or the peer went away (disconnect, unplug, hang-up)."""


class LinkTimeout(LinkError):
    """A write did not complete within the link's write timeout (reads return b"" instead)."""


class LinkOpenError(LinkError):
    """The link could not be opened: unknown scheme, missing port or peer, invalid option."""


class FaultSpecError(LinkOpenError, ValueError):
    """A fault specification has an unknown key, a malformed value or a probability outside [0, 1]."""
