"""Admin of the products, on the alias the settings give them (``default`` or a snapshot)."""

from __future__ import annotations

from demo.admin_mixins import ReadOnlyAdminMixin
from django.contrib import admin
from reviews import catalogue

from multidb_routers.admin import MultiDBModelAdmin
from multidb_routers.overlay import find_overlay_router

from .models import Product


class ProductAdmin(MultiDBModelAdmin):
    """Products, read and written on their alias."""

    using = catalogue.home_alias(Product)
    list_display = ["name", "price"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


class SnapshotProductAdmin(ReadOnlyAdminMixin, ProductAdmin):
    """Production's products, read-only: the snapshot is never written."""


if find_overlay_router(Product) is not None:
    admin.site.register(Product, SnapshotProductAdmin)
else:
    admin.site.register(Product, ProductAdmin)
