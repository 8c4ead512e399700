from __future__ import annotations

import pytest
from django.db import router

from tests.functional_app.models import Book


@pytest.mark.django_db(databases="__all__")
def test_book_is_routed_to_library() -> None:
    assert router.db_for_write(Book) == "library"
