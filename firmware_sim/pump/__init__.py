"""The pump model as a package; :class:`Pump` (the facade in :mod:`.pump`) is its public API."""
from .pump import Pump

__all__ = ["Pump"]
