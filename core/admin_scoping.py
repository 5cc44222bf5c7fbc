"""What every admin page of household data shares: the one scoping path, 404
outside the user's area, no hard delete, and rights taken from the role."""

from django.contrib import admin
from django.http import Http404
from django.utils.translation import gettext as _

from .permissions import Action, can


def has_role(user) -> bool:
    return user.is_active and (user.is_superuser or bool(getattr(user, "role", "")))


class ScopedAdmin(admin.ModelAdmin):
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
