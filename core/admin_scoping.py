"""What every admin page of household data shares: the one scoping path, 404
outside the user's area, no hard delete, and rights taken from the role."""

from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.http import Http404
from django.utils.translation import gettext as _

from .forms import BoundedModelMultipleChoiceField
from .params import positive_int
from .permissions import Action, can
from .text import capped_search, search_limit_problem


class BoundedAutocompleteSelect(AutocompleteSelect):
    """The admin's autocomplete box, re-shown after a refused post without looking up a key no
    column holds (Django's widget reads the submitted keys back with `pk__in`)."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [v for v in value if positive_int(v) is not None], attr)


class BoundedInputsMixin:
    """Keys sent to the admin's choice boxes are checked for range before any look-up."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = BoundedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs.setdefault("form_class", BoundedModelMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def has_role(user) -> bool:
    return user.is_active and (user.is_superuser or bool(getattr(user, "role", "")))


class ScopedAdmin(BoundedInputsMixin, admin.ModelAdmin):
    """A ModelAdmin whose rows come from `Model.objects.for_user(user)`.

    `edit_action` is the right (core.permissions) that adds and changes rows
    here; everyone with a role may look. Deleting is never offered: records are archived.
    """

    edit_action: Action | None = None

    def scope(self, request, queryset):
        return self.model.objects.for_user(request.user)

    def get_queryset(self, request):
        qs = self.scope(request, super().get_queryset(request))
        ordering = self.get_ordering(request)
        return qs.order_by(*ordering) if ordering else qs

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Django's admin would redirect with "does not exist"; outside the
            # user's area we answer 404 like every other page.
            raise Http404(_("No such record in your area."))
        return obj

    def get_search_results(self, request, queryset, search_term):
        # Each word of an admin search is one more condition over every search field:
        # a pasted page of text would hold a worker for a minute. Cut it, and say so.
        problem = search_limit_problem(search_term)
        if problem:
            self.message_user(request, problem, messages.WARNING)
        return self.search(request, queryset, capped_search(search_term))

    def search(self, request, queryset, search_term):
        """The search itself (Django's over `search_fields`, unless a model admin has its own)."""
        return super().get_search_results(request, queryset, search_term)

    def has_module_permission(self, request):
        return has_role(request.user)

    def has_view_permission(self, request, obj=None):
        return has_role(request.user)

    def _can_edit(self, request) -> bool:
        return self.edit_action is not None and can(request.user, self.edit_action)

    def has_add_permission(self, request):
        return self._can_edit(request)

    def has_change_permission(self, request, obj=None):
        return self._can_edit(request)

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ScopedAdmin):
    """Reference data and derived figures: looked at in the admin, written elsewhere."""

    superuser_may_edit = False

    def _can_edit(self, request) -> bool:
        return self.superuser_may_edit and request.user.is_active and request.user.is_superuser
