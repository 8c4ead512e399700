"""LastSecond: a text made once per second, not once per call."""

from __future__ import annotations

from multidb_routers.replication.per_second import LastSecond


def test_the_text_is_made_again_only_when_the_second_changes() -> None:
    made: list[int] = []

    def make(second: int) -> str:
        made.append(second)
        return f"text {second}"

    last = LastSecond(make)

    assert [last(10), last(10), last(11), last(11), last(10)] == [
        "text 10",
        "text 10",
        "text 11",
        "text 11",
        "text 10",
    ]
    assert made == [10, 11, 10]


def test_the_first_second_asked_is_made_even_if_it_is_zero() -> None:
    assert LastSecond(str)(0) == "0"
