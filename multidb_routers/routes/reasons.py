"""Why a router chose an alias: each router's decision, told in words.

Nothing here runs unless someone listens (:mod:`multidb_routers.routes.hook`). An
explainer calls the router's own method, so the decision is the real one; it looks at
the routing state just before and after the call to name the rule that decided. Each
explainer returns ``(alias, code, reason)``, ``alias`` being ``None`` when the router
abstained.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..consistency import restored_mode
from ..replication.connections import cached_connection, transaction_open
from ..replication.state import context_state, primary_forced, request_state

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from django.db.models import Model

    from ..replication.replica_set import ReplicaSet
    from ..replication.state import Pin

__all__ = ["Before", "Decided", "Explainer", "explainer_for", "explains", "replica_reason"]

Decision = tuple["str | None", str, str]
Explainer = Callable[[Any, str, "type[Model]", "Mapping[str, Any]", Callable[..., Any]], Decision]


@dataclass(frozen=True)
class Before:
    """The replication state just before a decision (a decision may change it)."""

    in_request: bool
    forced: bool
    pins: Mapping[str, Pin]
    written: frozenset[str]
    chosen: Mapping[ReplicaSet, str]

    @classmethod
    def take(cls) -> Before:
        """The current context's state."""
        state = request_state()
        if state is None:
            outside = context_state()
            return cls(False, primary_forced(), outside.pins, frozenset(), outside.replicas)
        return cls(
            True, primary_forced(), state.pins, frozenset(state.written), dict(state.replicas)
        )


def _pin_text(pin: Pin, before: Before, now: float, mode: str | None = None) -> str:
    if mode is not None:
        details = [f"mode {mode}"]
        if mode != "primary" and pin.position:
            details.append(f"WAL position {pin.position}")
        elif mode != "primary" and math.isfinite(pin.until):
            details.append(f"window {pin.until - now:.1f} s left")
        return f"pinned by a consistency token ({', '.join(details)})"
    source = "the request's pin cookie" if before.in_request else "a write in this context"
    position = f", WAL position {pin.position}" if pin.position else ""
    return f"pinned by {source} ({pin.until - now:.1f} s left{position})"


def _skipped(
    replica_set: ReplicaSet, alias: str, fresh: Sequence[str] | None, readers: Sequence[str]
) -> str:
    down = replica_set.down_replicas()
    within_lag = getattr(replica_set.freshness, "within_lag", None)
    reasons = []
    for other in readers:
        if other == alias or other in replica_set.primary_weights:
            continue
        if other in down:
            reasons.append(f"{other} (down)")
        elif fresh is not None and other not in fresh:
            reasons.append(f"{other} (not caught up)")
        elif within_lag is not None and not within_lag(other):
            reasons.append(f"{other} (lagging)")
    return f"; skipped {', '.join(reasons)}" if reasons else ""


def replica_reason(replica_set: ReplicaSet, alias: str, before: Before) -> tuple[str, str]:
    """The rule of :meth:`ReplicaSet.read_alias` that sent a read to ``alias``."""
    is_primary = alias in replica_set.primary_weights
    where = "this request" if before.in_request else "this context"
    if not replica_set.readers:
        return "no_replicas", f"{alias} has no replica"
    if is_primary and before.forced:
        return "use_primary", "inside use_primary()"
    if is_primary and alias in before.written:
        return "written", f"{where} wrote to {alias}"
    now = time.time()
    pinned_primary = alias if is_primary else replica_set.primary
    pin = before.pins.get(pinned_primary)
    if pin is not None and not pin.until > now:
        pin = None
    fresh = None if pin is None else replica_set.freshness.fresh_replicas(replica_set.replicas, pin)
    mode = None if pin is None else restored_mode(pinned_primary, pin)
    if is_primary and pin is not None and not fresh:
        code = "pinned" if mode is None else "token"
        if pin.position is None or mode == "primary":
            return code, _pin_text(pin, before, now, mode)
        return code, f"{_pin_text(pin, before, now, mode)}; no replica has caught up"
    if is_primary and transaction_open(cached_connection(alias)):
        return "transaction", f"a transaction is open on {alias}"
    kind = "primary" if is_primary else "replica"
    if before.chosen.get(replica_set) == alias:
        return "kept", f"{kind} {alias} kept for {where} (monotonic reads)"
    readers = replica_set.readers
    if alias in readers:
        skipped = _skipped(replica_set, alias, fresh, readers)
        if pin is not None:
            caught_up = f"{_pin_text(pin, before, now, mode)}; replica {alias} has caught up"
            return "caught_up", f"{caught_up}{skipped}"
        total = sum(replica_set.weights.values())
        if replica_set.read_from_primaries:
            total += sum(replica_set.primary_weights.values())
        weight = replica_set.weights.get(alias, replica_set.primary_weights.get(alias, 0.0))
        return "replica", f"{kind} {alias} chosen by weight {weight:g} of {total:g}{skipped}"
    skipped = _skipped(replica_set, alias, fresh, readers)
    return "no_live_replica", f"no live replica{skipped or ''}: the primary {alias}"


def _replica_write_reason(replica_set: ReplicaSet, alias: str, instance: object) -> str:
    pins = "pins this client's next reads to it" if replica_set.pin_writes else "pins nothing"
    if len(replica_set.primaries) > 1:
        state = getattr(instance, "_state", None)
        if state is not None and state.db == alias:
            return f"the primary the instance lives on ({pins})"
        return f"primary {alias} of {', '.join(replica_set.primaries)} ({pins})"
    return f"writes go to the primary ({pins})"


@dataclass(frozen=True)
class Decided:
    """A router's decision, told to its reason: the call, the alias decided."""

    router: Any
    action: str
    model: type[Model]
    hints: Mapping[str, Any]
    alias: str
    #: A read's routing state just before the decision (with ``explains(before=True)``).
    before: Before | None


def explains(
    *, before: bool = False
) -> Callable[[Callable[[Decided], tuple[str, str]]], Explainer]:
    """Make an explainer of a reason: it calls the router's method, ``None`` is no decision.

    The reason gets the :class:`Decided` alias and returns ``(code, reason)``. With
    ``before``, a read's state is taken just before the router decides (a decision may
    change it).
    """

    def decorator(reason: Callable[[Decided], tuple[str, str]]) -> Explainer:
        @functools.wraps(reason)
        def explain(
            router: Any,
            action: str,
            model: type[Model],
            hints: Mapping[str, Any],
            method: Callable[..., Any],
        ) -> Decision:
            state = Before.take() if before and action == "read" else None
            alias = method(model, **hints)
            if alias is None:
                return None, "", ""
            code, text = reason(Decided(router, action, model, hints, alias, state))
            return alias, code, text

        return explain

    return decorator


@explains(before=True)
def explain_replication(decided: Decided) -> tuple[str, str]:
    """A :class:`~multidb_routers.PrimaryReplicaRouter` decision."""
    replica_set = decided.router.replica_set
    if decided.before is None:  # a write
        return "write", _replica_write_reason(
            replica_set, decided.alias, decided.hints.get("instance")
        )
    return replica_reason(replica_set, decided.alias, decided.before)


@explains(before=True)
def explain_sharding(decided: Decided) -> tuple[str, str]:
    """A :class:`~multidb_routers.ShardRouter` decision: which shard, then which copy of it."""
    from ..sharding.selection import current_selection

    router, model, hints, alias = decided.router, decided.model, decided.hints, decided.alias
    before, selection = decided.before, current_selection()
    shard = router._by_alias.get(alias)  # a shard's replicas map to their shard too
    instance = hints.get("instance")
    if hints.get("shard") is not None:
        code, reason = "shard_hint", f"the shard={hints['shard']!r} hint"
    elif instance is not None and instance._state.db in router._by_alias:
        code, reason = "shard_instance", f"the instance was loaded from {instance._state.db}"
    elif instance is not None and instance._meta.concrete_model is model._meta.concrete_model:
        spec = router.key_spec(model)
        name = spec if isinstance(spec, str) else getattr(spec, "__name__", "shard_key")
        code, reason = "shard_key", f"shard key {name}={router.key_of(instance)!r} -> {alias}"
    elif selection is not None and selection.has_key:
        code, reason = "use_shard", f"use_shard({selection.key!r})"
    elif selection is not None:
        code, reason = "use_shard", f"use_shard({selection.alias!r})"
    else:
        code, reason = "shard", "its shard"
    if shard is not None and shard.replica_set is not None and before is not None:
        _, replica = replica_reason(shard.replica_set, alias, before)
        return code, f"{reason}; {replica}"
    return code, reason


@explains()
def explain_overlay(decided: Decided) -> tuple[str, str]:
    """An :class:`~multidb_routers.OverlayRouter` decision."""
    from ..overlay.router import Kind

    router, alias = decided.router, decided.alias
    kind = router.kind(decided.model)
    if kind is Kind.REPLACED:
        return "overlay_replaced", f"a replaced model: it lives wholly in {alias}"
    if kind is Kind.TOMBSTONE:
        return "overlay_tombstone", f"the overlay's tombstones live in {alias}"
    if decided.action == "write":
        return "overlay_write", f"a merged model: writes go to the overlay {alias}"
    if kind is Kind.MERGED and alias != router.base_alias:
        return "overlay_instance", f"the instance was loaded from the overlay {alias}"
    if kind is Kind.MERGED:
        return "overlay_merged", f"a merged model: read from the base {alias}, overlay merged"
    return "overlay_base", f"read from the read-only base {alias}"


@explains()
def explain_functional(decided: Decided) -> tuple[str, str]:
    """A :class:`~multidb_routers.FunctionalRouter` decision: the label that named the alias."""
    meta, alias = decided.model._meta, decided.alias
    if meta.label_lower in decided.router._routes._models:
        return "functional", f"routes[{meta.label!r}] = {alias!r}"
    return "functional", f"{meta.label} is routed to {alias!r} (its app or model entry)"


@explains()
def explain_other(decided: Decided) -> tuple[str, str]:
    """A router of another library or of the project: it chose, it gives no reason."""
    name = type(decided.router).__name__
    return "router", f"{name}.db_for_{decided.action}() returned {decided.alias!r}"


_explainers: dict[type, Explainer] = {}


def explainer_for(router: object) -> Explainer:
    """The explainer of ``router``'s decisions (looked up once per router class)."""
    kind = type(router)
    explainer = _explainers.get(kind)
    if explainer is None:
        explainer = _explainers[kind] = _find_explainer(router)
    return explainer


def _find_explainer(router: object) -> Explainer:
    from ..functional import FunctionalRouter
    from ..overlay.router import OverlayRouter
    from ..replication.router import PrimaryReplicaRouter
    from ..sharding.router import ShardRouter

    if isinstance(router, PrimaryReplicaRouter):
        return explain_replication
    if isinstance(router, ShardRouter):
        return explain_sharding
    if isinstance(router, OverlayRouter):
        return explain_overlay
    if isinstance(router, FunctionalRouter):
        return explain_functional
    return explain_other
