"""The library's own model: the overlay's record of rows deleted from the base."""

from __future__ import annotations

from django.db import models


class Tombstone(models.Model):
    """A base row deleted through the overlay's merged manager.

    Kept in the overlay database (the :class:`~multidb_routers.OverlayRouter` migrates
    this model there only); the merged view hides base rows that have a tombstone.
    ``model`` is the lower-case model label, ``object_pk`` the primary key as text.
    """

    id = models.BigAutoField(primary_key=True)
    model = models.CharField(max_length=255)
    object_pk = models.CharField(max_length=255)
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "object_pk"], name="multidb_tombstone_unique")
        ]

    def __str__(self) -> str:
        return f"{self.model} #{self.object_pk} (deleted)"


class Placement(models.Model):
    """A placement directory entry: the rows of ``key`` live on ``alias``, whatever the hash.

    ``directory`` names the :class:`~multidb_routers.ShardRouter` (its ``directory``
    option), ``key`` is the canonical text of the shard key
    (:func:`~multidb_routers.sharding.hashing.key_bytes`). Kept in one database,
    ``MULTIDB_ROUTERS_PLACEMENT_DATABASE`` (``"default"``); the routers migrate it there
    only. ``version`` grows on every change, so that a change can be made conditional on
    the entry read (a compare-and-swap: ``filter(version=v).update(...)``).
    """

    id = models.BigAutoField(primary_key=True)
    directory = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    alias = models.CharField(max_length=100)
    version = models.PositiveBigIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["directory", "key"], name="multidb_placement_unique")
        ]

    def __str__(self) -> str:
        return f"{self.directory}: {self.key} -> {self.alias}"


class ShardMove(models.Model):
    """The state of one ``move_shard_key`` run: which key goes where, and how far it got.

    Kept beside the placement directory (``MULTIDB_ROUTERS_PLACEMENT_DATABASE``), and
    switched in the same transaction as the key's :class:`Placement` entry, so the phase
    always says which copy of the rows is authoritative: ``copying``, the source's;
    ``switched``, the target's (the source copy is refused writes, then deleted);
    ``done`` and ``rolled_back`` are history. Re-running the command resumes the one
    unfinished move of a key.
    """

    COPYING = "copying"
    SWITCHED = "switched"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    ACTIVE = (COPYING, SWITCHED)

    id = models.BigAutoField(primary_key=True)
    directory = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    model = models.CharField(max_length=255)
    source = models.CharField(max_length=100)
    target = models.CharField(max_length=100)
    method = models.CharField(max_length=10)
    phase = models.CharField(max_length=12, default=COPYING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    switched_at = models.DateTimeField(null=True, blank=True)
    blocked_ms = models.FloatField(null=True, blank=True)
    verified = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["directory", "key"],
                condition=models.Q(phase__in=["copying", "switched"]),
                name="multidb_shardmove_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.directory}: {self.key} {self.source} -> {self.target} ({self.phase})"
