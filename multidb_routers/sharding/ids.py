"""64-bit, time-ordered ids made without a central server, for sharded primary keys.

Use as the default of a ``BigIntegerField`` primary key, so a row has its id (and so its
shard, when the id is the shard key) before it is inserted::

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)

Layout of an id (63 bits, always positive in a signed ``BIGINT``)::

    | 41 bits: milliseconds since 2024-01-01 UTC | 13 bits: node | 9 bits: sequence |

Ids of one process strictly increase. Two processes never make the same id as long as
their *nodes* differ. The node is the ``MULTIDB_ROUTERS_ID_NODE`` setting when set (give
every process of every host its own, 0-8191), else the process id modulo 8192 plus a
hash of the host name: distinct for the processes of one host unless two of their pids
differ by a multiple of 8192, but only probably distinct across hosts.
A process makes at most 512 ids per millisecond (it waits for the next millisecond).
The timestamp lasts until 2093.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone

from django.conf import settings

from ..conf import conf

__all__ = ["EPOCH", "IdGenerator", "id_datetime", "new_id"]

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
"""The time of timestamp 0."""

NODE_BITS = 13
SEQUENCE_BITS = 9
MAX_NODE = (1 << NODE_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
_EPOCH_MS = int(EPOCH.timestamp() * 1000)


def default_node() -> int:
    """This process's node: the setting, else host name hash plus process id."""
    node = conf.ID_NODE if settings.configured else None
    if node is not None:
        if not 0 <= node <= MAX_NODE:
            raise ValueError(f"MULTIDB_ROUTERS_ID_NODE must be in 0..{MAX_NODE}, not {node}.")
        return node
    return (zlib.crc32(socket.gethostname().encode()) + os.getpid()) & MAX_NODE


class IdGenerator:
    """Makes 64-bit time-ordered ids; thread-safe. ``node`` defaults to :func:`default_node`."""

    def __init__(self, node: int | None = None) -> None:
        if node is not None and not 0 <= node <= MAX_NODE:
            raise ValueError(f"node must be in 0..{MAX_NODE}, not {node}.")
        self._fixed_node = node
        self._node: int | None = node
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0

    def reset_after_fork(self) -> None:
        """Forget the node and sequence: a forked child is another process."""
        self._lock = threading.Lock()
        self._node = self._fixed_node
        self._last_ms = -1
        self._sequence = 0

    def __call__(self) -> int:
        """A new id, larger than every id this generator made before."""
        with self._lock:
            if self._node is None:
                self._node = default_node()
            now = time.time_ns() // 1_000_000 - _EPOCH_MS
            if now > self._last_ms:
                self._last_ms, self._sequence = now, 0
            elif self._sequence < MAX_SEQUENCE:
                self._sequence += 1
            else:
                # This millisecond is used up: take the next one, waiting for the clock
                # unless it went backwards (then run ahead of it rather than stall).
                self._last_ms += 1
                self._sequence = 0
                while self._last_ms - now == 1:
                    time.sleep(0)
                    now = time.time_ns() // 1_000_000 - _EPOCH_MS
            return (
                (self._last_ms << (NODE_BITS + SEQUENCE_BITS))
                | (self._node << SEQUENCE_BITS)
                | self._sequence
            )


_generator = IdGenerator()
os.register_at_fork(after_in_child=_generator.reset_after_fork)


def new_id() -> int:
    """A new 64-bit time-ordered id (use as ``default=new_id``)."""
    return _generator()


def id_datetime(value: int) -> datetime:
    """When an id was made (to the millisecond, UTC)."""
    return EPOCH + timedelta(milliseconds=value >> (NODE_BITS + SEQUENCE_BITS))
