from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .admin_scoping import BoundedInputsMixin, ReadOnlyAdmin
from .models import AuditEvent, User
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
