"""new_id(): 64-bit, time-ordered ids, unique across processes."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import subprocess
import sys
import time

import pytest

from multidb_routers.sharding import IdGenerator, id_datetime, new_id

MOMENT = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
MOMENT_NS = int(MOMENT.timestamp()) * 1_000_000_000
MS = 1_000_000

SCRIPT = """
import sys
from multidb_routers.sharding.ids import new_id
ids = [new_id() for _ in range(50_000)]
assert ids == sorted(ids)
sys.stdout.write("\\n".join(map(str, ids)))
"""


def test_four_processes_make_200_000_distinct_ids() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    processes = [
        subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, env=env)
        for _ in range(4)
    ]
    outputs = [process.communicate()[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0]
    ids = [int(line) for output in outputs for line in output.split()]
    assert len(ids) == 200_000
    assert len(set(ids)) == 200_000
    assert all(0 < value < 2**63 for value in ids)


def test_ids_increase_and_tell_when_they_were_made() -> None:
    before = dt.datetime.now(dt.timezone.utc)
    ids = [new_id() for _ in range(3000)]  # more than one millisecond's sequence
    after = dt.datetime.now(dt.timezone.utc)
    assert ids == sorted(set(ids))
    tolerance = dt.timedelta(milliseconds=2)
    assert before - tolerance <= id_datetime(ids[0]) <= id_datetime(ids[-1]) <= after + tolerance


def test_the_node_setting_is_written_into_the_id(settings: object) -> None:
    settings.MULTIDB_ROUTERS_ID_NODE = 4321  # type: ignore[attr-defined]
    value = IdGenerator()()
    assert (value >> 9) & 0x1FFF == 4321
    assert (IdGenerator(node=17)() >> 9) & 0x1FFF == 17


def test_a_node_out_of_range_is_refused(settings: object) -> None:
    with pytest.raises(ValueError, match="8191"):
        IdGenerator(node=8192)
    settings.MULTIDB_ROUTERS_ID_NODE = 8192  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="MULTIDB_ROUTERS_ID_NODE"):
        IdGenerator()()


def test_the_513th_id_of_a_millisecond_waits_for_the_next_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads = itertools.count()
    monkeypatch.setattr(time, "time_ns", lambda: MOMENT_NS + (MS if next(reads) >= 515 else 0))
    generator = IdGenerator(node=1)

    made = [generator() for _ in range(513)]

    assert made == sorted(set(made))
    assert {id_datetime(value) for value in made[:512]} == {MOMENT}
    assert id_datetime(made[512]) == MOMENT + dt.timedelta(milliseconds=1)
    assert next(reads) > 515  # it read the clock until the clock moved on


def test_ids_keep_increasing_when_the_clock_goes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # One reading, then 600 readings 5 ms earlier; a generator waiting for the clock to
    # catch up would run out of readings.
    readings = iter([MOMENT_NS, *[MOMENT_NS - 5 * MS] * 600])
    monkeypatch.setattr(time, "time_ns", lambda: next(readings))
    generator = IdGenerator(node=1)

    made = [generator() for _ in range(600)]

    assert made == sorted(set(made))
    assert id_datetime(made[-1]) == MOMENT + dt.timedelta(milliseconds=1)


FORK_SCRIPT = """
import os, sys
from multidb_routers.sharding.ids import default_node, new_id
node = lambda value: (value >> 9) & 0x1FFF
parent = node(new_id())
pid = os.fork()
if pid == 0:
    child = node(new_id())
    os._exit(0 if child == default_node() != parent else 1)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


def test_reset_after_fork_takes_the_node_afresh(settings: object) -> None:
    settings.MULTIDB_ROUTERS_ID_NODE = 5  # type: ignore[attr-defined]
    derived, fixed = IdGenerator(), IdGenerator(node=17)
    assert ((derived() >> 9) & 0x1FFF, (fixed() >> 9) & 0x1FFF) == (5, 17)
    settings.MULTIDB_ROUTERS_ID_NODE = 6  # type: ignore[attr-defined]
    assert (derived() >> 9) & 0x1FFF == 5  # read once, not per id
    derived.reset_after_fork()
    fixed.reset_after_fork()
    assert ((derived() >> 9) & 0x1FFF, (fixed() >> 9) & 0x1FFF) == (6, 17)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
def test_a_forked_child_makes_ids_with_its_own_node() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    assert subprocess.run([sys.executable, "-c", FORK_SCRIPT], env=env).returncode == 0
