"""``manage.py move_shard_key``: move a shard key's rows to another shard (online on PostgreSQL)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from multidb_routers.exceptions import MoveError, ShardKeyError
from multidb_routers.management.arguments import add_batch_size_argument, model_from_label


class Command(BaseCommand):
    """Move every row of ``--key`` (every model of the model's ShardRouter) to ``--to``."""

    help = (
        "Move every row of one shard key, of every model of the model's ShardRouter, to "
        "another shard and switch the placement directory. Online on PostgreSQL (the key's "
        "writes are refused for the cut-over only, with a retryable ShardMovingError), "
        "offline on SQLite (refused for the whole copy). Running it again finishes an "
        "interrupted move; --rollback undoes one not switched yet."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The model, the key, the target alias, --rollback and the batch size."""
        parser.add_argument(
            "label", metavar="app_label.ModelName", help="A model of the ShardRouter."
        )
        parser.add_argument("--key", required=True, help="The shard key to move.")
        parser.add_argument("--to", dest="target", required=True, help="The target shard alias.")
        parser.add_argument(
            "--rollback",
            action="store_true",
            help="Undo an interrupted move not switched yet (the rows stay on the source).",
        )
        parser.add_argument(
            "--delete-unverified",
            action="store_true",
            help="Delete the source copy of a switched move even if it differs from the "
            "target's (which may have been written since the switch).",
        )
        add_batch_size_argument(parser)

    def handle(
        self,
        *args: Any,
        label: str,
        key: str,
        target: str,
        rollback: bool,
        delete_unverified: bool,
        batch_size: int,
        **options: Any,
    ) -> None:
        """Run, resume or roll back the move."""
        from django.core.exceptions import ImproperlyConfigured

        from multidb_routers.moving.tenant import move_shard_key

        model = model_from_label(label)
        if target not in settings.DATABASES:
            raise CommandError(f"{target!r} is not an alias of settings.DATABASES.")

        def say(message: str) -> None:
            self.stdout.write(message)
            self.stdout.flush()

        try:
            move_shard_key(
                model,
                key,
                target,
                batch_size=batch_size,
                rollback=rollback,
                delete_unverified=delete_unverified,
                say=say,
            )
        except (MoveError, ShardKeyError, ImproperlyConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from exc
