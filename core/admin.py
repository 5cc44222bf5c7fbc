import json

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from . import access_log
from .admin_scoping import BoundedInputsMixin, ReadOnlyAdmin
from .models import AuditEvent, PersonalDataAccess, User
from .personal_data import masked_changes, shows_personal_ids
from .scoping import communes_for

# Rights come from the role bound to a unit, not from groups.
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BoundedInputsMixin, DjangoUserAdmin):
    """Accounts are managed by superusers only."""

    list_display = ("username", "get_full_name", "role", "unit", "is_active", "last_login")
    list_filter = ("role", "is_active", "is_staff", "is_superuser", "unit__edition")
    search_fields = ("username", "first_name", "last_name", "email", "unit__name", "unit__code")
    autocomplete_fields = ("unit",)
    fieldsets = DjangoUserAdmin.fieldsets + ((_("Role and area"), {"fields": ("role", "unit", "phone")}),)
    add_fieldsets = DjangoUserAdmin.add_fieldsets + ((_("Role and area"), {"fields": ("role", "unit")}),)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False  # accounts are deactivated, never deleted: audit events point at them




@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "source", "action", "content_type", "object_repr", "household")
    list_filter = ("action", "source", "content_type")
    search_fields = ("object_repr", "actor__username", "household__code", "reason")
    date_hierarchy = "at"
    list_select_related = ("actor", "content_type", "household")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def scope(self, request, queryset):
        user = request.user
        if user.is_superuser:
            return queryset
        return queryset.filter(Q(household__commune__in=communes_for(user)))

    def get_readonly_fields(self, request, obj=None):
        # The before and after values of a personal ID are masked for the people who
        # see IDs masked everywhere else (reviewers, province administrators).
        if request.user.sees_full_personal_ids:
            return self.readonly_fields
        return ["changes_masked" if name == "changes" else name for name in self.readonly_fields]

    def get_fields(self, request, obj=None):
        # Every field is read-only; listing them here keeps the unmasked one off the form.
        return self.get_readonly_fields(request, obj)

    @admin.display(description=_("changes"))
    def changes_masked(self, event: AuditEvent) -> str:
        return json.dumps(masked_changes(event.changes), ensure_ascii=False, cls=DjangoJSONEncoder)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        event = getattr(response, "context_data", {}).get("original")
        if request.user.sees_full_personal_ids and event is not None and shows_personal_ids(event.changes):
            access_log.record(request, access_log.Kind.ADMIN_AUDIT, household=event.household, count=1,
                              whole_ids=True, detail=event.object_repr)
        return response


@admin.register(PersonalDataAccess)
class PersonalDataAccessAdmin(ReadOnlyAdmin):
    """The log of reads of personal data: read here, written only by `core.access_log`."""

    list_display = ("at", "user", "kind", "unit", "household", "count", "whole_ids", "path")
    list_filter = ("kind", "whole_ids")
    search_fields = ("user__username", "unit__name", "unit__code", "household__code")
    date_hierarchy = "at"
    list_select_related = ("user", "unit", "household")
    readonly_fields = [f.name for f in PersonalDataAccess._meta.fields]

    def scope(self, request, queryset):
        return queryset.for_user(request.user)
