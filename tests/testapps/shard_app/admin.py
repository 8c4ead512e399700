"""The admin of the sharded reviews."""

from __future__ import annotations

from django.contrib import admin

from multidb_routers.sharding.admin import ShardedModelAdmin

from .models import Review


@admin.register(Review)
class ReviewAdmin(ShardedModelAdmin):
    """Reviews, one shard at a time."""

    list_display = ("id", "product_id", "author", "rating")
