"""Command-line arguments shared by the management commands that move rows."""

from __future__ import annotations

from argparse import ArgumentTypeError
from typing import TYPE_CHECKING

from django.apps import apps
from django.core.management.base import CommandError

if TYPE_CHECKING:
    from django.core.management.base import CommandParser
    from django.db.models import Model

__all__ = ["add_batch_size_argument", "model_from_label"]


def model_from_label(label: str) -> type[Model]:
    """The installed model named ``app_label.ModelName``, or a ``CommandError``."""
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise CommandError(
            f"No installed model with label {label!r} (write app_label.Model)."
        ) from None


def _batch_size(value: str) -> int:
    size = int(value)
    if size < 1:
        raise ArgumentTypeError(f"must be at least 1, not {size}")
    return size


def add_batch_size_argument(parser: CommandParser) -> None:
    """``--batch-size N``: rows per transaction, at least 1 (default 500)."""
    parser.add_argument(
        "--batch-size", type=_batch_size, default=500, help="Rows per transaction (default 500)."
    )
