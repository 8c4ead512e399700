"""``manage.py move_rows``: copy or move a model's rows to another database, losing nothing."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import FieldError, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections, transaction

from multidb_routers.exceptions import MoveError
from multidb_routers.management.arguments import add_batch_size_argument, model_from_label
from multidb_routers.moving.batches import Mover, chunks, reset_sequences, table_exists
from multidb_routers.moving.progress import Progress

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

    from multidb_routers.moving.checksum import Checksum


_TRUE = frozenset(("true", "1", "yes"))
_FALSE = frozenset(("false", "0", "no"))


def parse_filters(filters: list[str]) -> dict[str, Any]:
    """``["field=value", ...]`` as lookup keyword arguments.

    ``__in`` takes comma-separated values, ``__range`` two of them, ``__isnull`` true or
    false; every other value is passed as written (Django converts it for the field).
    """
    parsed: dict[str, Any] = {}
    for item in filters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise CommandError(f"--filter {item!r} is not of the form field=value.")
        if name in parsed:
            raise CommandError(
                f"--filter {item!r} repeats the lookup {name!r}; give each lookup once."
            )
        lookup = name.rpartition("__")[2] if "__" in name else ""
        if lookup in ("in", "range"):
            values = [part.strip() for part in value.split(",")]
            if lookup == "range" and len(values) != 2:
                raise CommandError(
                    f"--filter {item!r}: a range takes two values separated by a comma "
                    f"({name}=low,high)."
                )
            parsed[name] = values
        elif lookup == "isnull":
            if value.strip().lower() not in _TRUE | _FALSE:
                raise CommandError(f"--filter {item!r}: isnull takes true or false.")
            parsed[name] = value.strip().lower() in _TRUE
        else:
            parsed[name] = value
    return parsed


def _regex_error(name: str, value: object, alias: str) -> str | None:
    """Why ``value`` is no regular expression, for a regex lookup on SQLite.

    SQLite runs ``REGEXP`` through Python's ``re``, whose error reaches the caller only as
    "user-defined function raised exception"; compiling it first names the problem.
    """
    lookup = name.rpartition("__")[2]
    if lookup not in ("regex", "iregex") or connections[alias].vendor != "sqlite":
        return None
    try:
        re.compile(str(value))
    except re.error as exc:
        return f"{value!r} is not a valid regular expression: {exc}"
    return None


def select_rows(model: type[Model], alias: str, filters: list[str]) -> QuerySet[Any]:
    """The rows of ``model`` on ``alias`` that ``filters`` select, each filter run first.

    Every filter is tried alone on ``alias`` (an ``EXISTS`` query) before anything is
    read or moved, so a bad field, lookup, value or pattern stops the command with a
    :class:`CommandError` naming the filter, never a database traceback.
    """
    parsed = parse_filters(filters)
    label = model._meta.label
    manager = model._base_manager.using(alias)
    for item, (name, value) in zip(filters, parsed.items(), strict=True):
        reason = _regex_error(name, value, alias)
        if reason is None:
            try:
                with transaction.atomic(using=alias):
                    manager.filter(**{name: value}).exists()
            except ValidationError as exc:
                reason = "; ".join(exc.messages)
            except (FieldError, ValueError, TypeError, DatabaseError) as exc:
                reason = str(exc)
        if reason is not None:
            raise CommandError(
                f"--filter {item!r} cannot select rows of {label} on {alias}: {reason}"
            )
    # A filter across a many-to-many relation can match a row more than once.
    selection: QuerySet[Any] = manager.filter(**parsed).distinct()
    return selection


class Command(BaseCommand):
    """Copy (or move, with ``--delete-source``) rows of one model between two aliases."""

    help = (
        "Copy the rows of a model from one database alias to another, keeping their primary "
        "keys; many-to-many rows of the model's own fields travel with them. Rows already "
        "on the target with the same content are skipped (a re-run is safe); a row there "
        "with other content stops the command. Ends by comparing counts and checksums."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The model, both aliases, filters and batch options."""
        parser.add_argument("label", metavar="app_label.ModelName", help="The model to move.")
        parser.add_argument("--from", dest="source", required=True, help="The source alias.")
        parser.add_argument("--to", dest="target", required=True, help="The target alias.")
        parser.add_argument(
            "--filter",
            dest="filters",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="Only rows matching this lookup (repeatable; lookups such as id__gte work; "
            "__in takes comma-separated values, __range two, __isnull true or false).",
        )
        parser.add_argument(
            "--delete-source",
            action="store_true",
            help="Delete each batch from the source once its copy is committed (a move).",
        )
        add_batch_size_argument(parser)

    def handle(
        self,
        *args: Any,
        label: str,
        source: str,
        target: str,
        filters: list[str],
        delete_source: bool,
        batch_size: int,
        verbosity: int,
        **options: Any,
    ) -> None:
        """Check, copy in batches, delete if asked, reset sequences, verify."""
        model = model_from_label(label)
        try:
            mover = Mover(model)
        except MoveError as exc:
            raise CommandError(str(exc)) from exc
        self.check_aliases(mover, source, target)
        selection = select_rows(model, source, filters)
        pks = list(selection.order_by("pk").values_list("pk", flat=True))
        name = model._meta.label
        before = mover.checksums(source, pks, batch_size)
        equal = 0
        for batch in chunks(pks, batch_size):
            same, different = mover.compare(source, target, batch)
            if different:
                raise CommandError(str(mover.conflict(different, target)))
            equal += len(same)
        verb = "Moving" if delete_source else "Copying"
        self.stdout.write(f"{verb} {len(pks)} rows of {name} from {source} to {target}.")
        if equal:
            self.stdout.write(f"{equal} of them are already on {target} with the same content.")
        progress = Progress(self.stderr, total=len(pks), label=name, verbosity=verbosity)
        copied = deleted = 0
        try:
            for batch in chunks(pks, batch_size):
                result = mover.move(batch, source, target, delete_source=delete_source)
                copied += result.copied
                deleted += result.deleted
                progress.advance(len(batch))
        except MoveError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            progress.finish()
        reset_sequences(mover.models, target)
        summary = f"Copied {copied} rows"
        if delete_source:
            summary += f", deleted {deleted} from {source}"
        self.stdout.write(summary + ".")
        self.verify(mover, pks, before, source, target, delete_source, batch_size)

    def check_aliases(self, mover: Mover, source: str, target: str) -> None:
        """Both aliases exist, differ, and hold the tables of the mover's models."""
        for alias in (source, target):
            if alias not in settings.DATABASES:
                raise CommandError(f"{alias!r} is not an alias of settings.DATABASES.")
        if source == target:
            raise CommandError("--from and --to name the same alias.")
        for alias in (source, target):
            missing = [m._meta.db_table for m in mover.models if not table_exists(m, alias)]
            if missing:
                raise CommandError(
                    f"The table(s) {', '.join(missing)} of {mover.model._meta.label} do not "
                    f"exist on {alias}; create them first (manage.py migrate --database "
                    f"{alias}, with routers that allow it)."
                )

    def verify(
        self,
        mover: Mover,
        pks: list[Any],
        before: list[Checksum],
        source: str,
        target: str,
        delete_source: bool,
        batch_size: int,
    ) -> None:
        """Compare counts and checksums of the rows on the target with the source's before."""
        after = mover.checksums(target, pks, batch_size)
        problems = []
        for model, old, new in zip(mover.models, before, after, strict=True):
            if old == new:
                self.stdout.write(
                    f"Verified {model._meta.label}: {new.count} rows on {target}, "
                    f"checksum {new.hexdigest} as on {source} before."
                )
            else:
                problems.append(f"{model._meta.label}: {old} on {source}, {new} on {target}")
        if delete_source:
            left = mover.checksums(source, pks, batch_size)[0].count
            if left:
                problems.append(f"{left} rows of {mover.model._meta.label} still on {source}")
        if problems:
            raise CommandError("Verification failed: " + "; ".join(problems) + ".")
