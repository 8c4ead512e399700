"""ShardedModelAdmin: the admin of a sharded model, one shard at a time.

The changelist shows one shard, chosen with a "shard" filter that accepts only the
aliases of the model's router (the first shard by default). The change, delete and
history views find the object on whichever shard holds it. Saves route by the row's
key (a new row) or stay on the row's shard (a changed row). Each view runs inside
:meth:`ShardRouter.use_shard`, so that Django's own hint-less routing calls (the
transaction around a view, collecting related objects to delete) land on that shard.

Not supported: ``list_editable`` across shards (it edits the shown shard only) and
``search_fields`` over every shard (search looks at the shown shard).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect

from ..admin import SAFE_METHODS
from .fanout import across_shards
from .manager import on_shard
from .router import ShardRouter, chosen_shard, require_shard_router
from .selection import current_selection

if TYPE_CHECKING:
    from collections.abc import Iterator

    from django.contrib.admin.views.main import ChangeList
    from django.db.models import Model, QuerySet
    from django.http import HttpRequest, HttpResponse

    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin

__all__ = ["ShardFilter", "ShardedModelAdmin"]

SHARD_PARAMETER = "shard"


class ShardFilter(admin.SimpleListFilter):
    """The changelist filter choosing the shard shown (no "All": one shard at a time)."""

    title = "shard"
    parameter_name = SHARD_PARAMETER

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        """The router's shard aliases."""
        return [(alias, alias) for alias in require_shard_router(model_admin.model).shard_aliases]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Unchanged: the admin's queryset is already on the chosen shard."""
        return queryset

    def choices(self, changelist: ChangeList) -> Iterator[dict[str, Any]]:  # type: ignore[override]
        """One choice per shard, the shown one selected."""
        shown = chosen_shard()
        for alias, title in self.lookup_choices:
            yield {
                "selected": alias == shown,
                "query_string": changelist.get_query_string({self.parameter_name: alias}),
                "display": title,
            }


class ShardedModelAdmin(_ModelAdmin):
    """A ``ModelAdmin`` for a model sharded by a :class:`ShardRouter`."""

    @property
    def shard_router(self) -> ShardRouter:
        """The router sharding the model."""
        return require_shard_router(self.model)

    def _selected_shard(self) -> str | None:
        """The shard of the key of an enclosing ``use_shard(key)`` block (ShardMiddleware)."""
        selection = current_selection()
        if selection is None or not selection.has_key:
            return None
        return selection.route(self.shard_router, self.model).alias  # type: ignore[union-attr]

    def _first_shard(self) -> str:
        selected = self._selected_shard()
        return selected if selected is not None else self.shard_router.shard_aliases[0]

    def get_list_filter(self, request: HttpRequest) -> Any:
        """The shard filter first, then the admin's own filters."""
        return [ShardFilter, *super().get_list_filter(request)]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """The admin's queryset on the shard being shown (the first one outside a view)."""
        chosen = chosen_shard()
        router = self.shard_router
        alias = (
            chosen if chosen is not None and chosen in router.shard_aliases else self._first_shard()
        )
        return on_shard(super().get_queryset(request), alias)

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Model | None:
        """The object, found on whichever shard holds it."""
        meta = self.model._meta
        field = meta.pk if from_field is None else meta.get_field(from_field)
        assert field is not None
        selected = self._selected_shard()
        try:
            value = field.to_python(object_id)
            queryset = super().get_queryset(request)
            found: Model = (
                on_shard(queryset, selected) if selected is not None else across_shards(queryset)
            ).get(**{field.name: value})
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None
        return found

    def _object_shard(self, request: HttpRequest, object_id: str | None) -> str:
        if object_id is not None:
            obj = self.get_object(request, object_id)
            if obj is not None and obj._state.db is not None:
                return str(self.shard_router.shard(obj._state.db).alias)
        return self._first_shard()

    def _in_shard(self, request: HttpRequest, alias: str, all_shards: bool = False) -> ExitStack:
        stack = ExitStack()
        stack.enter_context(self.shard_router.use_shard(alias))
        if request.method not in SAFE_METHODS:
            # A new row's shard is known only once the form is read: hold every shard's
            # transaction so that the row and its inlines commit (or roll back) together.
            every = all_shards and self._selected_shard() is None
            for shard in self.shard_router.shard_aliases if every else [alias]:
                stack.enter_context(transaction.atomic(using=shard))
        return stack

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The changelist of the shard the filter chose (only the router's aliases)."""
        router = self.shard_router
        alias = str(request.GET.get(SHARD_PARAMETER, self._first_shard()))
        if alias not in router.shard_aliases:
            return HttpResponseRedirect(f"{request.path}?e=1")
        with self._in_shard(request, alias):
            return super().changelist_view(request, extra_context)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Add (saved on the new row's shard) and change (on the row's shard)."""
        alias = self._object_shard(request, object_id)
        with self._in_shard(request, alias, all_shards=object_id is None):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Delete the object on its shard."""
        with self._in_shard(request, self._object_shard(request, object_id)):
            return super().delete_view(request, object_id, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The object's history."""
        with self._in_shard(request, self._object_shard(request, object_id)):
            return super().history_view(request, object_id, extra_context)
