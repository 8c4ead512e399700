"""The shards of a ShardRouter: each one a primary alias, optionally with replicas."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Shard", "parse_shards"]


@dataclass(frozen=True)
class Shard:
    """One shard: its primary ``alias`` (the shard's name) and its replicas with weights."""

    alias: str
    replicas: Mapping[str, float] = field(default_factory=dict)

    @property
    def aliases(self) -> tuple[str, ...]:
        """The primary, then the replicas."""
        return (self.alias, *self.replicas)

    def read_alias(self) -> str:
        """The alias a read of this shard goes to."""
        return self.alias

    def note_write(self) -> None:
        """Record that this shard's primary is being written."""


def _replicas(value: object, *, where: str) -> dict[str, float]:
    if isinstance(value, str):
        raise TypeError(
            f"{where} must be a list of aliases or a dict alias -> weight, not {value!r}."
        )
    if isinstance(value, Mapping):
        return {str(alias): float(weight) for alias, weight in value.items()}
    if value is None:
        return {}
    return dict.fromkeys(map(str, value), 1.0)  # type: ignore[call-overload]


def parse_shards(entries: object, *, owner: str) -> tuple[Shard, ...]:
    """Turn the ``shards`` option into :class:`Shard` values, in order.

    An entry is an alias (``"shard_0"``) or a mapping
    ``{"primary": "shard_1", "replicas": ["shard_1_replica"]}``.
    """
    if isinstance(entries, (str, Mapping)) or not hasattr(entries, "__iter__"):
        raise TypeError(
            f"{owner} shards must be a list of aliases (or of "
            f"{{'primary': ..., 'replicas': [...]}} entries), not {entries!r}."
        )
    shards: list[Shard] = []
    for index, entry in enumerate(entries):
        where = f"{owner} shards[{index}]"
        if isinstance(entry, str) and entry:
            shards.append(Shard(entry))
        elif isinstance(entry, Mapping) and isinstance(entry.get("primary"), str):
            unknown = set(entry) - {"primary", "replicas"}
            if unknown:
                raise TypeError(f"{where} has unknown keys {sorted(unknown)}.")
            replicas = _replicas(entry.get("replicas"), where=f"{where}['replicas']")
            shards.append(Shard(entry["primary"], replicas))
        else:
            raise TypeError(
                f"{where} must be an alias or {{'primary': alias, 'replicas': [...]}}, "
                f"not {entry!r}."
            )
    return tuple(shards)
