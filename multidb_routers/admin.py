"""Admin classes that show and edit a model on one named database alias.

Django's admin reads and writes through the routers. When the admin must work on a
database the routers would not pick (a model with no router, a second copy of a
table, an alias of an overlay), or simply to make the alias explicit, set ``using``::

    @admin.register(Review)
    class ReviewAdmin(MultiDBModelAdmin):
        using = "reviews"

The changelist, the add, change, delete and history views, the "delete selected"
action, the choices of foreign key and many-to-many fields, and the objects of
:class:`MultiDBTabularInline`/:class:`MultiDBStackedInline` inlines are then read
from and written to that alias, each write inside a transaction on it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from types import new_class
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.checks import InlineModelAdminChecks, ModelAdminChecks
from django.contrib.admin.utils import NestedObjects, quote
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.forms.formsets import DELETION_FIELD_NAME
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst, get_text_list
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from django.contrib.admin.options import BaseModelAdmin
    from django.contrib.admin.sites import AdminSite
    from django.db.models import ForeignKey, ManyToManyField, Model, QuerySet
    from django.forms import BaseInlineFormSet, ModelChoiceField, ModelForm
    from django.forms.models import ModelMultipleChoiceField
    from django.http import HttpRequest, HttpResponse

    _Base = BaseModelAdmin[Any]
    _ModelAdmin = admin.ModelAdmin[Any]
    _TabularInline = admin.TabularInline[Any, Any]
    _StackedInline = admin.StackedInline[Any, Any]
    _InlineFormSet = BaseInlineFormSet[Any, Any, ModelForm[Any]]
else:
    _Base = object
    _ModelAdmin = admin.ModelAdmin
    _TabularInline = admin.TabularInline
    _StackedInline = admin.StackedInline

__all__ = [
    "MultiDBAdminMixin",
    "MultiDBInlineMixin",
    "MultiDBInlineModelAdminChecks",
    "MultiDBModelAdmin",
    "MultiDBModelAdminChecks",
    "MultiDBStackedInline",
    "MultiDBTabularInline",
    "check_using",
]

#: The request methods that change nothing: the admin runs them outside a transaction.
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE"))


def collect_deleted(objs: Sequence[Any] | QuerySet[Any], alias: str) -> NestedObjects:
    """What deleting ``objs`` would delete (and what protects them), collected on ``alias``.

    Django's admin collects on the router's alias for the model, not the admin's.
    """
    collector = NestedObjects(using=alias, origin=objs)
    collector.collect(objs)
    return collector


def check_using(admin_obj: MultiDBAdminMixin) -> list[CheckMessage]:
    """E004: an admin's ``using`` names an alias missing from ``DATABASES``."""
    alias = admin_obj.using
    if alias in settings.DATABASES:
        return []
    name = type(admin_obj).__name__
    return [
        Error(
            f"{name}.using names the database alias {alias!r}, which is not in settings.DATABASES.",
            hint=f"Set {name}.using to one of: {', '.join(sorted(settings.DATABASES))}.",
            obj=type(admin_obj),
            id="multidb_routers.E004",
        )
    ]


class MultiDBModelAdminChecks(ModelAdminChecks):
    """Django's model admin checks, plus ``multidb_routers.E004`` on ``using``."""

    def check(self, admin_obj: Any, **kwargs: Any) -> list[CheckMessage]:
        """Run Django's checks, then check ``using``."""
        return [*super().check(admin_obj, **kwargs), *check_using(admin_obj)]


class MultiDBInlineModelAdminChecks(InlineModelAdminChecks):
    """Django's inline admin checks, plus ``multidb_routers.E004`` on ``using``."""

    def check(self, inline_obj: Any, **kwargs: Any) -> list[CheckMessage]:  # type: ignore[override]
        """Run Django's checks, then check ``using``."""
        return [*super().check(inline_obj, **kwargs), *check_using(inline_obj)]


class MultiDBAdminMixin(_Base):
    """What model admins and inlines share: the alias and the querysets read from it."""

    using: ClassVar[str | None] = None
    """The database alias the admin reads from and writes to. Required."""

    def _validate_using(self) -> None:
        name = type(self).__name__
        if self.using is None:
            raise ImproperlyConfigured(
                f"{name} needs a database alias: set using = 'alias' on the class, "
                "naming a key of settings.DATABASES."
            )
        if not isinstance(self.using, str) or not self.using:
            raise TypeError(
                f"{name}.using must be a database alias (a non-empty string), not {self.using!r}."
            )

    @property
    def _alias(self) -> str:
        """``using``, known to be set (validated when the admin was created)."""
        assert self.using is not None
        return self.using

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        """The admin's queryset, on ``using``."""
        queryset: QuerySet[Any] = super().get_queryset(request).using(self._alias)
        return queryset

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        """A choice field listing the related objects found on ``using``."""
        return super().formfield_for_foreignkey(db_field, request, using=self._alias, **kwargs)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        """A multiple choice field listing the related objects found on ``using``."""
        return super().formfield_for_manytomany(db_field, request, using=self._alias, **kwargs)


class MultiDBModelAdmin(MultiDBAdminMixin, _ModelAdmin):
    """A ``ModelAdmin`` whose views, actions and choice lists all work on ``using``."""

    checks_class = MultiDBModelAdminChecks

    def __init__(self, model: type[Model], admin_site: AdminSite) -> None:
        self._validate_using()
        super().__init__(model, admin_site)

    def _atomic(self, request: HttpRequest) -> AbstractContextManager[object]:
        # Django opens its transaction on the router's alias; the writes go to ours.
        if request.method in SAFE_METHODS:
            return nullcontext()
        return transaction.atomic(using=self._alias)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: Any) -> None:
        """Save the object on ``using``."""
        obj.save(using=self._alias)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        """Delete the object, and what cascades from it, on ``using``."""
        obj.delete(using=self._alias)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """Delete the selected objects on ``using`` (the "delete selected" action)."""
        queryset.using(self._alias).delete()

    def get_deleted_objects(
        self, objs: Sequence[Any] | QuerySet[Any], request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[str]]:
        """What deleting ``objs`` would delete, collected on ``using``.

        The same as Django's, which collects on the router's alias for the model.
        """
        collector = collect_deleted(objs, self._alias)
        perms_needed: set[str] = set()
        site = self.admin_site

        def format_callback(obj: Model) -> str:
            opts = obj._meta
            no_edit_link = f"{capfirst(opts.verbose_name)}: {obj}"
            model_admin = site._registry.get(type(obj))
            if model_admin is None:  # no admin, or edited inline: no link
                return no_edit_link
            if not model_admin.has_delete_permission(request, obj):
                perms_needed.add(str(opts.verbose_name))
            try:
                url = reverse(
                    f"{site.name}:{opts.app_label}_{opts.model_name}_change",
                    args=(quote(obj.pk),),
                )
            except NoReverseMatch:  # pragma: no cover (an admin without a change view)
                return no_edit_link
            return format_html('{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj)

        to_delete = collector.nested(format_callback)
        protected = [format_callback(obj) for obj in collector.protected]
        model_count = {
            # The stubs say str; Django keys it by model class.
            str(cast("type[Model]", model)._meta.verbose_name_plural): len(instances)
            for model, instances in collector.model_objs.items()
        }
        return to_delete, model_count, perms_needed, protected

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The add and change views, writing inside a transaction on ``using``."""
        with self._atomic(request):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The changelist, its actions and ``list_editable`` writing on ``using``."""
        with self._atomic(request):
            return super().changelist_view(request, extra_context)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The delete view, deleting inside a transaction on ``using``."""
        with self._atomic(request):
            return super().delete_view(request, object_id, extra_context)


class _InlineFormSetOnAlias:
    """Saves and deletes a formset's objects on ``using`` (mixed into inline formsets)."""

    using: ClassVar[str]

    deleted_objects: list[Model]
    save_m2m: Callable[[], None]

    def save(self, commit: bool = True) -> list[Any]:
        """Save the new and changed objects and delete the deleted ones, on ``using``.

        With ``commit=False``, as Django's: the caller saves and deletes.
        """
        instances: list[Any] = super().save(commit=False)  # type: ignore[misc]
        if commit:
            for obj in self.deleted_objects:
                obj.delete(using=self.using)
            for obj in instances:
                obj.save(using=self.using)
            self.save_m2m()
        return instances


class _InlineFormOnAlias:
    """Refuses deleting an inline object that protected objects on ``using`` refer to."""

    using: ClassVar[str]
    cleaned_data: dict[str, Any]
    instance: Model

    def hand_clean_DELETE(self) -> None:
        """Django's check, with the related objects collected on ``using``."""
        if not self.cleaned_data.get(DELETION_FIELD_NAME, False) or self.instance._state.adding:
            return
        collector = collect_deleted([self.instance], self.using)
        if not collector.protected:
            return
        objs = [
            _("%(class_name)s %(instance)s")
            % {"class_name": protected._meta.verbose_name, "instance": protected}
            for protected in collector.protected
        ]
        raise ValidationError(
            _(
                "Deleting %(class_name)s %(instance)s would require deleting the following "
                "protected related objects: %(related_objects)s"
            ),
            code="deleting_protected",
            params={
                "class_name": self.instance._meta.verbose_name,
                "instance": self.instance,
                "related_objects": get_text_list(objs, _("and")),
            },
        )


def _formset_on_alias(formset: type[_InlineFormSet], alias: str) -> type[_InlineFormSet]:
    """A subclass of an inline formset class whose forms and objects work on ``alias``."""
    form = new_class(
        formset.form.__name__,
        (_InlineFormOnAlias, formset.form),
        exec_body=lambda namespace: namespace.update(using=alias),
    )
    subclass = new_class(
        formset.__name__,
        (_InlineFormSetOnAlias, formset),
        exec_body=lambda namespace: namespace.update(using=alias, form=form),
    )
    return cast("type[_InlineFormSet]", subclass)


class MultiDBInlineMixin(MultiDBAdminMixin):
    """What both inline classes add to Django's: the formset saves on ``using``."""

    def __init__(self, parent_model: type[Model], admin_site: AdminSite) -> None:
        self._validate_using()
        super().__init__(parent_model, admin_site)  # type: ignore[call-arg]

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        """Django's formset class, validating, saving and deleting its objects on ``using``."""
        formset = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        return _formset_on_alias(formset, self._alias)


class MultiDBTabularInline(MultiDBInlineMixin, _TabularInline):
    """A ``TabularInline`` whose objects and choice lists are on ``using``."""

    checks_class = MultiDBInlineModelAdminChecks


class MultiDBStackedInline(MultiDBInlineMixin, _StackedInline):
    """A ``StackedInline`` whose objects and choice lists are on ``using``."""

    checks_class = MultiDBInlineModelAdminChecks
