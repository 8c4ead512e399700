"""Admin helpers shared by the example's apps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """An admin that shows rows and changes none: for a read-only snapshot (the base)."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        """No: the snapshot is read-only."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """No: the snapshot is read-only."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """No: the snapshot is read-only."""
        return False
