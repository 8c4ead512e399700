"""PrimaryReplicaRouter with several read/write primaries (``primary=[...]``)."""

from __future__ import annotations

import contextvars
import time
import warnings
from collections import Counter
from io import StringIO
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections, router, transaction
from django.test import Client, override_settings

from multidb_routers import PrimaryReplicaRouter, use_primary
from multidb_routers.conf import conf
from multidb_routers.exceptions import RouterOptionError
from multidb_routers.replication.freshness import TimeFreshness
from multidb_routers.replication.middleware import loads_pins
from multidb_routers.replication.state import Pin
from tests.testapps.legacy_app.models import Customer, Note

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

PRIMARIES = ("master-a", "master-b")
# "slave" mirrors master-a; "default" first: Django creates the other test databases after it.
DATABASES = ["default", *PRIMARIES, "slave"]


def multi_router(**options: Any) -> PrimaryReplicaRouter:
    """Notes on master-a and master-b, read from slave."""
    return PrimaryReplicaRouter(
        **{"primary": list(PRIMARIES), "replicas": ["slave"], "apps": ["legacy_app.Note"]} | options
    )


def in_new_context(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` in an empty context: no pin, no request, as a new process would."""
    return contextvars.Context().run(function, *args, **kwargs)


def test_new_rows_go_to_a_primary_chosen_by_weight() -> None:
    weighted = multi_router(primary={"master-a": 3, "master-b": 1})
    draws = 4000

    # As Model.save() asks for a row not saved yet: an instance hint with no database.
    counts = Counter(
        in_new_context(weighted.db_for_write, Note, instance=Note()) for _ in range(draws)
    )

    expected = {"master-a": draws * 3 / 4, "master-b": draws / 4}
    chi_square = sum((counts[alias] - share) ** 2 / share for alias, share in expected.items())
    # Chi-square with one degree of freedom: above 15.14 has a probability of 1e-4.
    assert chi_square < 15.14, counts


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_an_instance_is_updated_and_deleted_on_the_primary_it_was_saved_to() -> None:
    with override_settings(DATABASE_ROUTERS=[multi_router()]):
        notes = [in_new_context(Note.objects.create, text=f"note {n}") for n in range(24)]
        for note in notes:
            note.text += " (edited)"
            in_new_context(note.save)
        deleted = notes[::2]
        for note in deleted:
            in_new_context(note.delete)

    homes = {note.text: note._state.db for note in notes}
    for alias in PRIMARIES:
        rows = set(Note.objects.using(alias).values_list("text", flat=True))
        kept = {text for text, home in homes.items() if home == alias} - {
            note.text for note in deleted
        }
        assert rows == kept
    assert set(homes.values()) == set(PRIMARIES)


def test_writes_without_a_placed_instance_stay_on_the_primary_already_written() -> None:
    several = multi_router()

    def writes() -> set[str | None]:
        first = several.db_for_write(Note)
        later = {several.db_for_write(Note) for _ in range(30)}
        return {first} | later

    assert all(len(in_new_context(writes)) == 1 for _ in range(10))


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_fresh_reads_go_to_the_written_primary_else_the_first() -> None:
    several = multi_router()

    def pinned() -> tuple[str | None, str | None, str | None]:
        written = several.db_for_write(Note)
        with use_primary():
            forced = several.db_for_read(Note)
        return written, several.db_for_read(Note), forced

    results = {in_new_context(pinned) for _ in range(20)}

    assert {written for written, _, _ in results} == set(PRIMARIES)
    assert all(written == read == forced for written, read, forced in results)
    with use_primary():
        assert several.db_for_read(Note) == PRIMARIES[0]
    assert several.db_for_read(Note) == "slave"


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_reads_inside_a_transaction_on_any_primary_go_to_that_primary() -> None:
    several = multi_router()

    with transaction.atomic(using="master-b"):
        assert several.db_for_read(Note) == "master-b"
    assert several.db_for_read(Note) == "slave"


def test_several_primaries_without_replicas_read_from_the_first() -> None:
    several = multi_router(replicas=[])

    assert {in_new_context(several.db_for_read, Note) for _ in range(10)} == {"master-a"}


class TrustingFreshness(TimeFreshness):
    """A stand-in position-based strategy: every replica has caught up with every pin."""

    def fresh_replicas(self, replicas: Sequence[str], pin: Pin) -> Sequence[str]:
        return replicas


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_pinned_read_goes_to_a_replica_the_freshness_strategy_trusts() -> None:
    several = multi_router(freshness=TrustingFreshness())

    def pinned_read() -> str | None:
        several.db_for_write(Note)
        return several.db_for_read(Note)

    assert {in_new_context(pinned_read) for _ in range(10)} == {"slave"}


@pytest.fixture
def slave_down(tmp_path: Path) -> Iterator[None]:
    """The replica "slave" cannot connect: its database file is in a missing directory."""
    connection = connections["slave"]
    # close() keeps in-memory SQLite databases open: put the open one aside instead.
    opened, connection.connection = connection.connection, None
    name = connection.settings_dict["NAME"]
    connection.settings_dict["NAME"] = str(tmp_path / "missing" / "replica.sqlite3")
    yield
    connection.connection = opened
    connection.settings_dict["NAME"] = name


# transaction=True: a failed connect() would reset the atomic block TestCase opens on it.
@pytest.mark.django_db(databases=DATABASES, transaction=True)
@pytest.mark.usefixtures("slave_down")
def test_with_the_replica_down_reads_go_to_the_pinned_primary_else_the_first() -> None:
    several = multi_router(freshness=TrustingFreshness())
    on_b = Note(text="saved on master-b")
    on_b._state.db = "master-b"

    def pinned_read() -> str | None:
        several.db_for_write(Note, instance=on_b)
        return several.db_for_read(Note)

    assert in_new_context(pinned_read) == "master-b"
    assert several.db_for_read(Note) == "master-a"
    assert several.replica_set.down_replicas() == {"slave"}


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_read_from_primaries_spreads_unpinned_reads_over_primaries_and_replicas() -> None:
    several = multi_router(read_from_primaries=True)

    reads = {in_new_context(several.db_for_read, Note) for _ in range(200)}

    assert reads == {*PRIMARIES, "slave"}


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_client_that_wrote_reads_from_and_is_pinned_to_the_primary_it_wrote_to() -> None:
    with override_settings(
        DATABASE_ROUTERS=[multi_router()], ROOT_URLCONF="tests.testapps.note_views"
    ):
        for number in range(6):
            client = Client()
            text = f"note {number}"

            response = client.post("/notes/", {"text": text}, follow=True)

            written = {alias for alias in PRIMARIES if Note.objects.using(alias).filter(text=text)}
            assert len(written) == 1
            assert response.json()["text"] == text
            assert set(response.json()["read_from"]) == written
            cookie = client.cookies[conf.PIN_COOKIE_NAME].value
            assert set(loads_pins(cookie, now=time.time())) == written


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_every_read_of_a_request_goes_to_the_alias_chosen_first() -> None:
    for alias in PRIMARIES:  # "slave" mirrors master-a
        Note.objects.using(alias).create(pk=1, text="everywhere")
    spread = multi_router(read_from_primaries=True)

    with override_settings(DATABASE_ROUTERS=[spread], ROOT_URLCONF="tests.testapps.note_views"):
        pages = [Client().get("/notes/1/").json()["read_from"] for _ in range(40)]

    assert all(len(set(page)) == 1 for page in pages)
    assert {page[0] for page in pages} == {*PRIMARIES, "slave"}


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_a_request_that_wrote_reads_from_the_primary_it_wrote_to() -> None:
    for alias in PRIMARIES:
        Note.objects.using(alias).create(pk=1, text="old")

    with override_settings(
        DATABASE_ROUTERS=[multi_router()], ROOT_URLCONF="tests.testapps.note_views"
    ):
        edits = [
            Client().post("/notes/1/edit/", {"text": f"edit {number}"}).json()
            for number in range(16)  # the written primary is chosen at random: see both
        ]

    assert [edit["text"] for edit in edits] == [f"edit {number}" for number in range(16)]
    assert {edit["read_from"] for edit in edits} == set(PRIMARIES)


@pytest.mark.django_db(databases=[*DATABASES, "reviews"], transaction=True)
def test_a_write_to_another_routers_primary_leaves_the_reads_on_the_replica() -> None:
    reviews = PrimaryReplicaRouter(
        primary="reviews", replicas=["reviews_replica1"], apps=["replica_app"]
    )
    routers = [multi_router(), reviews]

    with override_settings(DATABASE_ROUTERS=routers, ROOT_URLCONF="tests.testapps.note_views"):
        response = Client().post("/notes/after-a-review/", {"title": "elsewhere"})

    assert response.json() == {"read_from": "slave"}


class PrimaryNamingFreshness(TimeFreshness):
    """A stand-in strategy whose pins record the primary they were made for."""

    def make_pin(self, primary: str, *, seconds: float) -> Pin:
        return Pin(until=time.time() + seconds, position=primary)


@pytest.mark.django_db(databases=DATABASES, transaction=True)
def test_the_cookie_pin_of_a_written_primary_is_made_for_that_primary() -> None:
    router = multi_router(primary=["master-b", "master-a"], freshness=PrimaryNamingFreshness())
    with override_settings(DATABASE_ROUTERS=[router], ROOT_URLCONF="tests.testapps.note_views"):
        client = Client()
        for number in range(8):  # the written primary is chosen at random: see both
            client.cookies.clear()
            response = client.post("/notes/", {"text": f"note {number}"})

            pins = loads_pins(response.cookies[conf.PIN_COOKIE_NAME].value, now=time.time())
            assert {primary: pin.position for primary, pin in pins.items()} == {
                primary: primary for primary in pins
            }


def test_migrations_run_on_every_primary_and_never_on_a_replica() -> None:
    several = multi_router()

    for alias in PRIMARIES:
        assert several.allow_migrate(alias, "legacy_app", model_name="note") is True
    assert several.allow_migrate("default", "legacy_app", model_name="note") is False
    assert several.allow_migrate("slave", "legacy_app", model_name="customer") is False


def test_relations_are_allowed_within_the_whole_set() -> None:
    several = multi_router()
    on_a, on_b, on_replica, elsewhere = Note(), Note(), Note(), Customer()
    on_a._state.db, on_b._state.db, on_replica._state.db = "master-a", "master-b", "slave"
    elsewhere._state.db = "legacy"

    assert several.allow_relation(on_a, on_b) is True
    assert several.allow_relation(on_b, on_replica) is True
    assert several.allow_relation(Note(), on_b) is True
    assert several.allow_relation(on_a, elsewhere) is None


def test_introspection_names_every_primary() -> None:
    several = multi_router(read_from_primaries=True)

    assert several.aliases() == {*PRIMARIES, "slave"}
    assert several.read_only_aliases() == {"slave"}
    assert several.claimed_aliases(Note) == set(PRIMARIES)
    route = several.describe_route(Note)
    assert route is not None
    assert route.write == "master-a, master-b"
    assert set(route.read.split(" (")[0].split(", ")) == {*PRIMARIES, "slave"}
    assert "primary={'master-a': 1.0, 'master-b': 1.0}" in repr(several.replica_set)


@pytest.mark.parametrize(
    ("primary", "error", "message"),
    [
        (["master-a", "master-a"], RouterOptionError, "primary lists an alias more than once"),
        (["master-a", "slave"], RouterOptionError, "'slave' cannot be both the primary and one"),
        ({"master-a": 1, "master-b": 0}, RouterOptionError, "weight of primary 'master-b'"),
        ([], RouterOptionError, "primary names no database alias"),
        ([1], RouterOptionError, "primary holds 1"),
        (1, RouterOptionError, "primary must be a database alias, a list"),
    ],
)
def test_bad_primaries_are_refused_with_a_message_naming_them(
    primary: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        multi_router(primary=primary)


def check_errors(routers: list[PrimaryReplicaRouter], **databases: dict[str, Any]) -> str:
    """The messages of ``manage.py check`` under ``routers``, with extra ``databases``."""
    overridden = override_settings(
        DATABASE_ROUTERS=routers, DATABASES={**settings.DATABASES, **databases}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Overriding setting DATABASES..."
        with overridden, pytest.raises(SystemCheckError) as raised:
            call_command("check", "--tag", "multidb_routers", stdout=StringIO())
    return str(raised.value)


def test_a_replica_may_mirror_any_primary_but_not_another_alias() -> None:
    messages = check_errors(
        [multi_router(replicas=["slave", "reviews_replica1"])],
    )

    assert messages.count("multidb_routers.E0") == 1
    assert (
        "lists 'reviews_replica1' as a replica of 'master-a' or 'master-b', but "
        "DATABASES['reviews_replica1']['TEST'] has MIRROR is 'reviews'"
    ) in messages


def test_a_primary_mirroring_something_else_than_a_primary_fails_the_check() -> None:
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    messages = check_errors(
        [
            multi_router(primary=["master-a", "master-c", "master-d"], replicas=[]),
            multi_router(primary=["master-a", "master-c"], replicas=["replica-c"]),
        ],
        **{
            "master-c": {**sqlite, "TEST": {"MIRROR": "master-a"}},  # shares master-a's: fine
            "master-d": {**sqlite, "TEST": {"MIRROR": "slave"}},
            "replica-c": {**sqlite, "TEST": {"MIRROR": "master-c"}},
        },
    )

    assert messages.count("multidb_routers.E040") == 1
    assert (
        "lists 'master-d' as a primary, but DATABASES['master-d']['TEST'] has MIRROR 'slave'"
        in (messages)
    )
    assert messages.count("multidb_routers.E041") == 1
    assert """Set "TEST": {"MIRROR": 'master-a'} in DATABASES['replica-c'].""" in messages


@pytest.mark.django_db(databases=["default", *PRIMARIES])  # a TestCase; "slave" left out
def test_inside_a_testcase_reads_go_to_the_written_primary_else_the_first() -> None:
    replica_router = multi_router()
    with override_settings(DATABASE_ROUTERS=[replica_router]):
        # Never the replica (not the test's, and it cannot see the test's rows).
        assert in_new_context(router.db_for_read, Note) == "master-a"
        replica_router.replica_set.note_write("master-b")
        assert router.db_for_read(Note) == "master-b"
        note = Note.objects.using("master-b").create(text="on b")
        assert Note.objects.get(pk=note.pk).text == "on b"
