"""Admin of the products, on ``default``."""

from __future__ import annotations

from django.contrib import admin

from multidb_routers.admin import MultiDBModelAdmin

from .models import Product


@admin.register(Product)
class ProductAdmin(MultiDBModelAdmin):
    """Products, read and written on ``default``."""

    using = "default"
    list_display = ["name", "price"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]
