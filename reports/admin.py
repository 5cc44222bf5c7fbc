from django.contrib import admin

from core.admin_scoping import ReadOnlyAdmin
from core.scoping import units_for

from .models import Rollup, Target


@admin.register(Rollup)
class RollupAdmin(ReadOnlyAdmin):
    list_display = ("unit", "year", "stage", "households", "persons", "poor_households", "near_poor_households",
                    "poor_rate", "computed_at")
    list_filter = ("year", "stage", "unit__level")
    list_select_related = ("unit",)
    search_fields = ("unit__name", "unit__code")

    def scope(self, request, queryset):
        return queryset.filter(unit__in=units_for(request.user))


@admin.register(Target)
class TargetAdmin(ReadOnlyAdmin):
    list_display = ("unit", "year", "kind", "value", "set_by", "set_at")
    list_filter = ("year", "kind")
    list_select_related = ("unit", "set_by")
    search_fields = ("unit__name", "unit__code")

    def scope(self, request, queryset):
        return queryset.filter(unit__in=units_for(request.user))
