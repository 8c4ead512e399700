"""Report writes routed outside the transaction the code holds open.

Code inside ``transaction.atomic()`` on one alias (``default``) that writes a model the
routers send to another alias (``reviews``) on which no transaction is open gets a write
that commits on its own, whatever becomes of the transaction (Django tickets #32788,
#35349). This module wraps Django's ``router.db_for_write``, the one place every routed
write passes through (``save()``, ``delete()``, ``QuerySet.update()``/``delete()``,
``create()``, ``bulk_create()``, related managers), whichever router decides or when
none does. A write given an explicit ``using=`` is not routed, hence not checked.

Django's ``TestCase`` wraps each test in atomic blocks on every database: those blocks
are marked by Django (``_from_testcase``) and never count as the code's transaction.
A ``TEST: {"MIRROR": ...}`` alias and the alias it mirrors count as one database.

What a detected write does is ``MULTIDB_ROUTERS_CROSS_DATABASE_WRITES``: ``"warn"``
(:class:`~multidb_routers.exceptions.CrossDatabaseWriteWarning`), ``"error"``
(:class:`~multidb_routers.exceptions.CrossDatabaseWriteError`, before the write) or
``"ignore"``. When no transaction is open anywhere, the cost is one loop over this
thread's connection wrappers reading a boolean each (see ``benchmarks/bench_atomic.py``).
"""

from __future__ import annotations

import sys
import threading
import warnings
from typing import TYPE_CHECKING, Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db import router as connection_router
from django.db.utils import ConnectionRouter

from .conf import conf
from .exceptions import CrossDatabaseWriteError, CrossDatabaseWriteWarning

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import Model

__all__ = [
    "MODES",
    "check_cross_database_writes_setting",
    "checked",
    "install",
    "route_write",
    "transaction_holders",
]

#: The values ``MULTIDB_ROUTERS_CROSS_DATABASE_WRITES`` accepts.
MODES = ("warn", "error", "ignore")
_INSTALLED = "_multidb_routers_cross_database"
_SKIPPED_PACKAGES = ("django.", "multidb_routers.", "asgiref.")
_ORM_PACKAGES = ("django.db.", "multidb_routers.", "asgiref.")


class _Wrappers(threading.local):
    """This thread's connection wrapper of every alias (Django keeps one per thread)."""

    def __init__(self) -> None:
        self.count = -1
        self.wrappers: tuple[BaseDatabaseWrapper, ...] = ()


_local = _Wrappers()


def _all_wrappers() -> tuple[BaseDatabaseWrapper, ...]:
    """Every alias's wrapper in this thread (refreshed when an alias is added)."""
    databases = connections.settings
    local = _local
    if local.count != len(databases):
        local.wrappers = tuple(connections[alias] for alias in databases)
        local.count = len(databases)
    return local.wrappers


def _mode_error(value: object) -> str | None:
    if isinstance(value, str) and value in MODES:
        return None
    return (
        f"MULTIDB_ROUTERS_CROSS_DATABASE_WRITES is {value!r}: set it to one of "
        f"{', '.join(repr(mode) for mode in MODES)}."
    )


def check_cross_database_writes_setting(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """E070: ``MULTIDB_ROUTERS_CROSS_DATABASE_WRITES`` is one of :data:`MODES`."""
    error = _mode_error(conf.CROSS_DATABASE_WRITES)
    if error is None:
        return []
    return [
        checks.Error(
            error,
            hint="'warn' (the default) emits CrossDatabaseWriteWarning, 'error' raises "
            "CrossDatabaseWriteError before the write, 'ignore' does nothing.",
            id="multidb_routers.E070",
        )
    ]


def _user_transaction(connection: BaseDatabaseWrapper) -> bool:
    """Whether code (not Django's TestCase) holds an atomic block open on ``connection``."""
    if not connection.in_atomic_block:
        return False
    blocks: list[Any] = connection.atomic_blocks
    return not blocks or not getattr(blocks[-1], "_from_testcase", False)


def _same_database(first: BaseDatabaseWrapper, second: BaseDatabaseWrapper) -> bool:
    """Whether one alias is the other's test mirror, or both mirror the same one."""
    mirror_1 = first.settings_dict.get("TEST", {}).get("MIRROR")
    mirror_2 = second.settings_dict.get("TEST", {}).get("MIRROR")
    return (
        mirror_1 == second.alias
        or mirror_2 == first.alias
        or (mirror_1 is not None and mirror_1 == mirror_2)
    )


def transaction_holders(alias: str) -> list[str]:
    """The aliases whose open transaction a write to ``alias`` would be outside of.

    Empty when a transaction is open on ``alias`` itself (the write is in it) or when the
    code holds none elsewhere. TestCase's own blocks and test mirrors are left out.
    """
    wrappers = _all_wrappers()
    target = connections[alias]
    if _user_transaction(target) or (
        not target.in_atomic_block and not target.autocommit and target.connection is not None
    ):
        return []
    return [
        connection.alias
        for connection in wrappers
        if connection.alias != alias
        and _user_transaction(connection)
        and not _same_database(connection, target)
    ]


def _frames() -> Iterator[Any]:
    """The calling frames, innermost first, from the code that asked for the route."""
    frame: Any = sys._getframe(3)
    while frame is not None:
        yield frame
        frame = frame.f_back


def _module(frame: Any) -> str:
    return str(frame.f_globals.get("__name__", ""))


def _by_django_contrib() -> bool:
    """Whether a contrib app wrote (the first frame outside the ORM and this library).

    Django's contrib apps write on their own: the admin's ``LogEntry``, content types,
    ``last_login``, sessions. The application cannot move those writes into its
    transaction, so they are not reported.
    """
    for frame in _frames():
        name = _module(frame)
        if not name.startswith(_ORM_PACKAGES):
            return name.startswith("django.contrib.")
    return False


def _caller() -> Any:
    """The innermost frame outside Django and this library: the code that wrote."""
    last = None
    for frame in _frames():
        last = frame
        name = _module(frame)
        if not name.startswith(_SKIPPED_PACKAGES) and name not in ("django", "multidb_routers"):
            break
    return last


def _report(model: type[Model], alias: str) -> None:
    """Warn about, or refuse, a write of ``model`` routed to ``alias`` (if it is outside)."""
    mode = conf.CROSS_DATABASE_WRITES
    if mode == "ignore":
        return
    holders = transaction_holders(alias)
    if not holders or _by_django_contrib():
        return
    error = _mode_error(mode)
    if error is not None:
        raise ImproperlyConfigured(error)
    held = ", ".join(repr(holder) for holder in holders)
    message = (
        f"A write of {model._meta.label} was routed to {alias!r} inside a transaction on "
        f"{held} but outside any transaction on {alias!r}: it commits on its own, whatever "
        f"becomes of the transaction on {held}. Open the transaction where the routers "
        f"send the write: multidb_routers.atomic({model.__name__}) (or "
        f"transaction.atomic(using={alias!r})). MULTIDB_ROUTERS_CROSS_DATABASE_WRITES "
        f"is {mode!r}."
    )
    if mode == "error":
        raise CrossDatabaseWriteError(message)
    frame = _caller()
    warnings.warn_explicit(
        message,
        CrossDatabaseWriteWarning,
        frame.f_code.co_filename,
        frame.f_lineno,
        # As warnings.warn() does: code run by exec() may have no __name__ (with None,
        # warn_explicit() would show nothing).
        module=frame.f_globals.get("__name__") or "<string>",
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )


def route_write(model: type[Model], **hints: Any) -> str:
    """The alias the routers choose for writing ``model``, without the cross-database check."""
    return ConnectionRouter.db_for_write(connection_router, model, **hints)


def checked(decide: Callable[..., str]) -> Callable[..., str]:
    """``decide`` (a ``db_for_write``) followed by the cross-database check of its answer.

    The result carries ``checked`` as its ``around`` attribute, so that whoever replaces
    the router's ``db_for_write`` for a while (the routing listeners of
    :mod:`multidb_routers.routes`) can keep the check around its own decider.
    """
    local = _local

    def db_for_write(model: type[Model], **hints: Any) -> str:
        alias = decide(model, **hints)
        # Inlined _all_wrappers(): this runs for every routed write.
        wrappers = local.wrappers if local.count == len(connections.settings) else _all_wrappers()
        for connection in wrappers:
            if connection.in_atomic_block and connection.alias != alias:
                _report(model, alias)
                break
        return alias

    db_for_write.__doc__ = decide.__doc__
    setattr(db_for_write, _INSTALLED, True)
    db_for_write.around = checked  # type: ignore[attr-defined]
    return db_for_write


def install() -> None:
    """Check every routed write from now on (called by the app's ``ready()``; idempotent)."""
    current: Callable[..., str] = connection_router.db_for_write
    if getattr(current, _INSTALLED, False):
        return
    connection_router.db_for_write = checked(current)  # type: ignore[method-assign]
