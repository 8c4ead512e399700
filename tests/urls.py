"""URLs of the test suite."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("replica/", include("tests.testapps.replica_views")),
]
