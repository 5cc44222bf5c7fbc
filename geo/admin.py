from django.contrib import admin

from core.admin_scoping import ReadOnlyAdmin
from core.scoping import units_for

from .models import AdminUnit


@admin.register(AdminUnit)
class AdminUnitAdmin(ReadOnlyAdmin):
    """Official units come from the loader; a superuser may correct one (say, urban/rural)."""

    superuser_may_edit = True
    list_display = ("code", "name", "level", "kind", "is_urban", "parent", "edition")
    list_filter = ("edition", "level", "is_urban", "kind")
    search_fields = ("code", "name")
    list_select_related = ("parent",)
    raw_id_fields = ("parent", "province")

    def scope(self, request, queryset):
        return units_for(request.user)

    def has_add_permission(self, request):
        return False
