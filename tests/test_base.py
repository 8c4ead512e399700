from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from multidb_routers import FunctionalRouter


class LegacyRouter(FunctionalRouter):
    routes = {"legacy_app": "legacy"}


def test_class_attributes_configure_a_subclass() -> None:
    assert LegacyRouter().routes == {"legacy_app": "legacy"}


def test_keyword_arguments_win_over_class_attributes() -> None:
    router = LegacyRouter(routes={"legacy_app": "other"})

    assert router.routes == {"legacy_app": "other"}
    assert LegacyRouter.routes == {"legacy_app": "legacy"}


def test_unknown_keyword_arguments_are_named() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword arguments 'primary', 'rotes'"):
        FunctionalRouter(routes={}, rotes={}, primary="x")  # type: ignore[call-arg]


def test_missing_required_option_says_how_to_set_it() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"needs routes: pass routes=\.\.\."):
        FunctionalRouter()


def test_repr_shows_the_options() -> None:
    assert repr(FunctionalRouter(routes={"a": "b"})) == "FunctionalRouter(routes={'a': 'b'})"
