"""Why a move stopped."""

from __future__ import annotations

from ..exceptions import MultiDBRoutersError

__all__ = ["MoveError"]


class MoveError(MultiDBRoutersError):
    """Rows cannot be moved without losing or overwriting data; nothing unsafe was done."""
