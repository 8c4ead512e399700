"""Template context of the example site."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest


def pattern(request: HttpRequest) -> dict[str, str]:
    """``pattern``: the settings module's pattern and its databases, shown in the header."""
    name = getattr(settings, "EXAMPLE_PATTERN", "")
    return {"pattern": f"{name}: {', '.join(settings.DATABASES)}" if name else ""}
