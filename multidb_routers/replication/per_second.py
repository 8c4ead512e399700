"""A text made from a whole second, remembered for the last second asked."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["LastSecond"]


class LastSecond:
    """``make(second)``, made again only when ``second`` changes.

    For the texts a response repeats within a second (the pin cookie's timestamp and its
    ``Expires`` date): made once a second instead of once per request. Safe from any
    thread: the remembered pair is replaced whole.
    """

    __slots__ = ("_last", "_make")

    def __init__(self, make: Callable[[int], str]) -> None:
        self._make = make
        self._last: tuple[int, str] | None = None

    def __call__(self, second: int) -> str:
        """``make(second)``."""
        last = self._last
        if last is None or last[0] != second:
            last = self._last = (second, self._make(second))
        return last[1]
