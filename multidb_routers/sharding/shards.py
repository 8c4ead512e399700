"""The shards of a ShardRouter: each one a primary alias, optionally with replicas.

A shard with replicas holds a
:class:`~multidb_routers.replication.replica_set.ReplicaSet`, so its reads follow the
same primary/replica rules as ``PrimaryReplicaRouter`` (pinning after a write,
``use_primary()``, open transactions, unreachable replicas left out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..exceptions import RouterOptionError
from ..replication.replica_set import ReplicaSet

__all__ = ["Shard", "parse_shards"]


class Shard:
    """One shard: its primary ``alias`` (the shard's name) and, optionally, its replicas."""

    __slots__ = ("alias", "placed_only", "replica_set")

    def __init__(
        self,
        alias: str,
        replicas: Sequence[str] | Mapping[str, float] | None = None,
        *,
        placed_only: bool = False,
    ) -> None:
        self.alias = alias
        self.replica_set = ReplicaSet(alias, replicas) if replicas else None
        #: Only keys the placement directory puts here live here; hashing never picks it.
        self.placed_only = placed_only

    def __repr__(self) -> str:
        return f"Shard({self.alias!r}, replicas={list(self.replicas)!r})"

    @property
    def replicas(self) -> tuple[str, ...]:
        """The replicas' aliases (none for a plain shard)."""
        return self.replica_set.replicas if self.replica_set is not None else ()

    @property
    def aliases(self) -> tuple[str, ...]:
        """The primary, then the replicas."""
        return (self.alias, *self.replicas)

    def read_alias(self) -> str:
        """The alias a read of this shard goes to (a replica when the rules allow)."""
        return self.replica_set.read_alias() if self.replica_set is not None else self.alias

    def note_write(self) -> None:
        """Record a write to this shard's primary (pins later reads to it)."""
        if self.replica_set is not None:
            self.replica_set.note_write()


def parse_shards(entries: object, *, owner: str) -> tuple[Shard, ...]:
    """Turn the ``shards`` option into :class:`Shard` values, in order.

    An entry is an alias (``"shard_0"``) or a mapping
    ``{"primary": "shard_1", "replicas": ["shard_1_replica"]}`` (``replicas`` a list of
    aliases or a dict alias -> weight; ``"placed_only": True`` for a shard that holds only
    the keys the placement directory puts there, such as a big tenant's own database).
    """
    if isinstance(entries, (str, Mapping)) or not isinstance(entries, Sequence):
        raise RouterOptionError(
            f"{owner} shards must be a list of aliases (or of "
            f"{{'primary': ..., 'replicas': [...]}} entries), not {entries!r}."
        )
    shards: list[Shard] = []
    for index, entry in enumerate(entries):
        where = f"{owner} shards[{index}]"
        if isinstance(entry, str) and entry:
            shards.append(Shard(entry))
        elif isinstance(entry, Mapping) and isinstance(entry.get("primary"), str):
            unknown = set(entry) - {"primary", "replicas", "placed_only"}
            if unknown:
                raise RouterOptionError(f"{where} has unknown keys {sorted(unknown)}.")
            placed_only = entry.get("placed_only", False)
            if not isinstance(placed_only, bool):
                raise RouterOptionError(f"{where} placed_only must be True or False.")
            shards.append(Shard(entry["primary"], entry.get("replicas"), placed_only=placed_only))
        else:
            raise RouterOptionError(
                f"{where} must be an alias or {{'primary': alias, 'replicas': [...]}}, "
                f"not {entry!r}."
            )
    return tuple(shards)
