"""Admin of the reviews, on the alias the settings give them.

Which admin class is registered depends on the settings module the site started
with: a ``MultiDBModelAdmin`` on the reviews' alias (the primary when replicated), a
``ShardedModelAdmin`` when sharded (one shard at a time), and a read-only view of the
snapshot under an overlay (the site itself edits through the merged view).
"""

from __future__ import annotations

from demo.admin_mixins import ReadOnlyAdminMixin
from django.contrib import admin

from multidb_routers.admin import MultiDBModelAdmin
from multidb_routers.overlay import find_overlay_router
from multidb_routers.sharding import find_shard_router
from multidb_routers.sharding.admin import ShardedModelAdmin

from . import catalogue
from .models import Review


class ReviewAdminOptions:
    """What every pattern's review admin shows."""

    list_display = ["title", "rating", "product_id", "author_name", "created_at"]
    list_filter = ["rating"]
    search_fields = ["title", "author_name"]
    ordering = ["-created_at"]
    # Counting every row for "x of y selected" is a second full count; skip it.
    show_full_result_count = False


class ReviewAdmin(ReviewAdminOptions, MultiDBModelAdmin):
    """Reviews, read and written on their alias (the primary when replicated)."""

    using = catalogue.home_alias(Review)


class ShardedReviewAdmin(ReviewAdminOptions, ShardedModelAdmin):
    """Reviews one shard at a time; a saved review goes to its product's shard."""


class SnapshotReviewAdmin(ReadOnlyAdminMixin, ReviewAdmin):
    """Production's reviews, read-only: the snapshot is never written."""


if find_shard_router(Review) is not None:
    admin.site.register(Review, ShardedReviewAdmin)
elif find_overlay_router(Review) is not None:
    admin.site.register(Review, SnapshotReviewAdmin)
else:
    admin.site.register(Review, ReviewAdmin)
