"""docs/functional.rst: with ``auth`` on ``users``, commands need ``--database users``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError

pytestmark = pytest.mark.django_db(databases=["default", "users"])


def test_createsuperuser_with_database_users_creates_the_user_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long enough password 1")
    call_command(
        "createsuperuser", "--noinput", "--database", "users", username="root", email="r@x.test"
    )
    assert User.objects.db_manager("users").get(username="root").is_superuser
    assert User.objects.get(username="root").is_superuser  # the routers read it from users


def test_createsuperuser_without_database_fails_for_want_of_a_user_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long enough password 1")
    with pytest.raises(DatabaseError, match="auth_user"):
        call_command("createsuperuser", "--noinput", username="root", email="r@x.test")
    assert not User.objects.filter(username="root").exists()
