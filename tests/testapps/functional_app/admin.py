"""Admin of the functional app: every class works on the ``library`` alias."""

from __future__ import annotations

from django.contrib import admin

from multidb_routers.admin import MultiDBModelAdmin, MultiDBStackedInline, MultiDBTabularInline

from .models import Book, Shelf, Tag


class BookInline(MultiDBTabularInline):
    """The books of a shelf, edited on the shelf's page."""

    model = Book
    using = "library"
    extra = 0


class TaggingInline(MultiDBStackedInline):
    """The books carrying a tag, as rows of the auto-created many-to-many table."""

    model = Book.tags.through
    using = "library"
    extra = 0


@admin.register(Shelf)
class ShelfAdmin(MultiDBModelAdmin):
    """Shelves, with their books inline."""

    using = "library"
    inlines = [BookInline]


@admin.register(Book)
class BookAdmin(MultiDBModelAdmin):
    """Books: a foreign key and a many-to-many field whose choices come from ``library``."""

    using = "library"
    list_display = ["title", "shelf"]


@admin.register(Tag)
class TagAdmin(MultiDBModelAdmin):
    """Tags, with the books carrying them inline."""

    using = "library"
    inlines = [TaggingInline]
