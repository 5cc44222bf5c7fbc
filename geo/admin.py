from django.contrib import admin

from core.admin_scoping import ReadOnlyAdmin
from core.scoping import units_for

from .models import AdminUnit, CommuneSuccessor


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


@admin.register(CommuneSuccessor)
class CommuneSuccessorAdmin(ReadOnlyAdmin):
    """The 2021 -> 2025 commune conversion: public reference data, changed only by re-deriving it."""

    list_display = ("old", "new", "is_default")
    list_filter = ("is_default",)
    search_fields = ("old__code", "old__name", "new__code", "new__name")
    list_select_related = ("old", "new")
    raw_id_fields = ("old", "new")

    def scope(self, request, queryset):
        return queryset

    def has_add_permission(self, request):
        return False
