"""One routing decision: which alias a router chose for a model's read or write, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.models import Model

__all__ = ["Route"]


@dataclass(frozen=True)
class Route:
    """A routing decision, as the routing listeners receive it.

    ``action``: ``"read"`` or ``"write"``. ``model``: the model routed. ``alias``: the
    database chosen. ``code``: a short, stable name of the rule that decided (such as
    ``"pinned"`` or ``"replica"``; listed in the docs' "Seeing the routing" page).
    ``reason``: the same in words, with the details (time left on a pin, a replica's
    weight, the replicas skipped). ``router``: which entry of ``DATABASE_ROUTERS``
    decided (``""`` when none did and Django's default applied).
    """

    action: str
    model: type[Model]
    alias: str
    code: str
    reason: str
    router: str = ""

    @property
    def label(self) -> str:
        """The model's label, such as ``"reviews.Review"``."""
        return self.model._meta.label

    def __str__(self) -> str:
        return f"{self.action} {self.label} -> {self.alias}: {self.reason}"
