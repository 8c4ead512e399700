"""Freshness strategies: what a write pins, and which replicas may serve a pinned read.

A :class:`~multidb_routers.replicas.ReplicaSet` asks its strategy two questions:

* after a write, :meth:`Freshness.make_pin`: the pin to remember for the primary;
* for a read while a pin is active, :meth:`Freshness.fresh_replicas`: the replicas
  known to have caught up with it (none means "read from the primary").

Only the time window exists today (:class:`TimeFreshness`): a pin lasts
``pin_seconds`` and no replica is trusted before it ends. A strategy based on the
primary's log position would record it in :attr:`~multidb_routers.pinning.Pin.position`
and compare each replica's replayed position in ``fresh_replicas``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from .pinning import Pin

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["Freshness", "TimeFreshness"]


class Freshness(Protocol):
    """How a replica set decides that a replica has caught up with a write."""

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        """The pin to remember after a write to ``primary``, lasting at most ``seconds``."""

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        """Those of ``replicas`` that can serve a read pinned by ``pin`` (an active pin)."""


class TimeFreshness:
    """A pin lasts a fixed time after the write; until then only the primary is fresh."""

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        """A pin that ends ``seconds`` from now."""
        return Pin(until=time.time() + seconds)

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        """No replica, while the pin is active."""
        return ()
