from django.contrib import admin

from core.admin_scoping import ReadOnlyAdmin
from core.scoping import units_for

from .models import ReportPack, Rollup, Target


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


@admin.register(ReportPack)
class ReportPackAdmin(ReadOnlyAdmin):
    """Report packs asked for (a superuser: everyone's); prepared by the task, nothing is changed here."""

    list_display = ("unit", "year", "stage", "created_by", "status", "units_done", "units_total", "created_at",
                    "finished_at")
    list_filter = ("status", "year", "stage")
    list_select_related = ("unit", "created_by")
    search_fields = ("unit__name", "unit__code", "created_by__username")
    date_hierarchy = "created_at"
    # Rows come from ReportPack.objects.for_user (ScopedAdmin.scope): the user's own packs in their area.
    # The stored file is left out: its media URL would be a way around the scoping (the pack's page downloads it).
    fields = ("created_by", "unit", "year", "stage", "language", "status", "units_total", "units_done", "error",
              "created_at", "started_at", "finished_at")
    readonly_fields = fields
