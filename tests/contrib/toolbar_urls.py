"""The test suite's URLs with django-debug-toolbar's."""

from __future__ import annotations

from debug_toolbar.toolbar import debug_toolbar_urls

from tests.urls import urlpatterns as suite_urls

urlpatterns = [*suite_urls, *debug_toolbar_urls()]
