"""new_id(): 64-bit, time-ordered ids, unique across processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from multidb_routers.sharding import IdGenerator, id_datetime, new_id

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


def test_a_node_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="8191"):
        IdGenerator(node=8192)
