from __future__ import annotations

from io import StringIO

from django.core.management.base import OutputWrapper

from multidb_routers.moving.progress import Progress


class TTY(StringIO):
    def isatty(self) -> bool:
        return True


def test_a_shorter_line_blanks_out_the_longer_one_drawn_before_it() -> None:
    stream = TTY()
    progress = Progress(OutputWrapper(stream), total=10, label="app.Model", verbosity=1)
    lines = iter(
        ["app.Model: 5/10 rows (50%), 1003 rows/s", "app.Model: 10/10 rows (100%), 9 rows/s"]
    )
    progress.line = lambda now=None: next(lines)  # type: ignore[method-assign]

    progress.advance(5)
    progress.finish()

    first, second = stream.getvalue().split("\r")[1:]
    assert first == "app.Model: 5/10 rows (50%), 1003 rows/s"
    assert second == "app.Model: 10/10 rows (100%), 9 rows/s \n"


def test_nothing_is_drawn_when_the_output_is_not_a_terminal() -> None:
    stream = StringIO()
    progress = Progress(OutputWrapper(stream), total=3, label="app.Model", verbosity=2)
    progress.advance(3)
    progress.finish()
    assert stream.getvalue() == ""
