"""Admin of the reviews, on ``reviews``."""

from __future__ import annotations

from django.contrib import admin

from multidb_routers.admin import MultiDBModelAdmin

from .models import Review


@admin.register(Review)
class ReviewAdmin(MultiDBModelAdmin):
    """Reviews, read and written on ``reviews``."""

    using = "reviews"
    list_display = ["title", "rating", "product_id", "author_name", "created_at"]
    list_filter = ["rating"]
    search_fields = ["title", "author_name"]
    ordering = ["-created_at"]
    # Counting every row for "x of y selected" is a second full count; skip it.
    show_full_result_count = False
