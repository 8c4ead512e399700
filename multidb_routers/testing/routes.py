"""``record_routes()``: the routed queries of a block of a test, with assertions about them."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..routes.recording import Recorder, RoutedQuery, primary_aliases, replica_aliases

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from django.db.models import Model

    from ..routes.route import Route

__all__ = ["RecordedRoutes", "record_routes"]


def _label(model: str | type[Model] | None) -> str | None:
    if model is None or isinstance(model, str):
        return model
    return model._meta.label


class RecordedRoutes:
    """What :func:`record_routes` saw: ``routes`` (decisions) and ``queries`` (statements).

    Each query is a :class:`~multidb_routers.routes.RoutedQuery` with its ``alias``,
    ``sql``, ``action``, ``label`` (the model's), ``code`` and ``reason``. Models are
    given as classes or labels (``"reviews.Review"``, case-insensitive).
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    @property
    def routes(self) -> list[Route]:
        """Every routing decision, in order."""
        return self._recorder.routes

    @property
    def queries(self) -> list[RoutedQuery]:
        """Every statement run, in order, with the route that chose its alias."""
        return self._recorder.queries

    def _select(self, action: str, model: str | type[Model] | None) -> list[RoutedQuery]:
        label = _label(model)
        return [
            query
            for query in self.queries
            if query.route is not None
            and query.action == action
            and (label is None or query.label.lower() == label.lower())  # type: ignore[union-attr]
        ]

    def reads(self, model: str | type[Model] | None = None) -> list[RoutedQuery]:
        """The routed reads (of ``model``)."""
        return self._select("read", model)

    def writes(self, model: str | type[Model] | None = None) -> list[RoutedQuery]:
        """The routed writes (of ``model``)."""
        return self._select("write", model)

    def aliases(
        self, model: str | type[Model] | None = None, *, action: str = "read"
    ) -> Counter[str]:
        """How many routed reads (or writes) of ``model`` went to each alias."""
        return Counter(query.alias for query in self._select(action, model))

    def report(self, queries: Iterable[RoutedQuery] | None = None) -> str:
        """The queries, one per line: action, model, alias, reason, SQL."""
        lines = [
            f"  {q.action} {q.label or '-'} on {q.alias}: {q.reason} | {q.sql[:200]}"
            for q in (self.queries if queries is None else queries)
        ]
        return "\n".join(lines) or "  (no query)"

    def assert_reads_from(
        self, aliases: str | Iterable[str], model: str | type[Model] | None = None
    ) -> None:
        """Every read (of ``model``) went to ``aliases``, and there was at least one."""
        allowed = {aliases} if isinstance(aliases, str) else set(aliases)
        reads = self.reads(model)
        what = f"of {_label(model)} " if model is not None else ""
        if not reads:
            raise AssertionError(f"No read {what}was routed. Queries:\n{self.report()}")
        wrong = [query for query in reads if query.alias not in allowed]
        if wrong:
            raise AssertionError(
                f"{len(wrong)} of {len(reads)} reads {what}did not go to "
                f"{', '.join(sorted(allowed))}:\n{self.report(wrong)}"
            )

    def assert_reads_from_replica(self, model: str | type[Model] | None = None) -> None:
        """Every read (of ``model``) came from a replica, and there was at least one."""
        replicas = replica_aliases()
        if not replicas:
            raise AssertionError("No router of DATABASE_ROUTERS has replicas.")
        self.assert_reads_from(replicas, model)

    def assert_no_primary_reads(self, model: str | type[Model] | None = None) -> None:
        """No read (of ``model``) went to a primary that has replicas."""
        primaries = primary_aliases()
        wrong = [query for query in self.reads(model) if query.alias in primaries]
        if wrong:
            what = f"of {_label(model)} " if model is not None else ""
            raise AssertionError(
                f"{len(wrong)} read(s) {what}went to a primary:\n{self.report(wrong)}"
            )


@contextmanager
def record_routes() -> Iterator[RecordedRoutes]:
    """Record the routed queries of the block (this thread and context).

    >>> with record_routes() as routes:
    ...     client.get("/products/1/")
    >>> routes.assert_reads_from_replica("reviews.Review")

    Inside Django's ``TestCase`` every read of a replicated model goes to the primary
    (a transaction is open there: no replica sees the test's rows), so tests of replica
    reads use ``TransactionTestCase`` (pytest: ``django_db(transaction=True)``).
    """
    recorder = Recorder()
    recorder.start()
    try:
        yield RecordedRoutes(recorder)
    finally:
        recorder.stop()
