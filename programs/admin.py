"""Support in the admin: programs edited by superusers (reference data), everything else looked at
in the user's area. Support records are written by `programs.services` from the pages; the one
state change offered here, cancelling supports, calls the same service. Nothing is ever deleted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin_scoping import ReadOnlyAdmin
from core.models import AuditEvent
from core.permissions import Action, can
from exchange.admin import ExchangeAdminMixin, ExchangeImportMixin
from exchange.resources import FORMATS, InterventionResource

from . import services
from .models import (
    BudgetAllocation,
    CourseLearner,
    EscapeRegistration,
    Helper,
    HelperAssignment,
    InfrastructureWork,
    Intervention,
    JobFair,
    Loan,
    LoanBalance,
    MemberProfile,
    ProductionProject,
    Program,
    TrainingCourse,
    Visit,
)


def _all_fields(model) -> list[str]:
    return [f.name for f in model._meta.fields if f.name != "id"] + [f.name for f in model._meta.many_to_many]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "id"]

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Program)
class ProgramAdmin(ReadOnlyAdmin):
    """Programs are data: every role looks; superusers add a program or correct one."""

    superuser_may_edit = True
    list_display = ("code", "name", "kind", "start_year", "end_year", "province", "is_archived")
    list_filter = ("kind", "is_archived")
    search_fields = ("code", "name")
    list_select_related = ("province",)
    raw_id_fields = ("province", "parent")


class SupportReadOnlyAdmin(ReadOnlyAdmin):
    """Written by the services from the support pages; here looked at, in the user's area only."""

    def get_readonly_fields(self, request, obj=None):
        return _all_fields(self.model)

    def has_add_permission(self, request):
        return False


class ProgramFilter(admin.RelatedFieldListFilter):
    """The programs a user may meet: the national ones and their own province's (never another
    province's own programs, whose names would leak through the filter)."""

    def field_choices(self, field, request, model_admin):
        return [(p.pk, str(p)) for p in Program.objects.for_user(request.user).order_by("code", "pk")]


class CancelActionForm(ActionForm):
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=500)


@admin.register(Intervention)
class InterventionAdmin(ExchangeImportMixin, ExchangeAdminMixin, SupportReadOnlyAdmin):
    """Exported as the "Hỗ trợ" sheet, and such a sheet imported with import-export's
    preview and confirmation, each new row written by `services.record_intervention`
    (see `exchange.resources.InterventionResource`)."""

    resource_classes = [InterventionResource]
    import_formats = FORMATS
    import_template_name = "admin/import_export/import.html"
    skip_admin_log = True  # the audit events record who recorded what

    def has_import_permission(self, request) -> bool:
        return can(request.user, Action.RECORD_SUPPORT)

    def get_import_resource_kwargs(self, request, **kwargs):
        return {"user": request.user}

    def get_urls(self):
        # import-export's import and process_import, not the batch pages of
        # ExchangeAdminMixin (the batches take households and members).
        urls, seen = [], set()
        for url in super().get_urls():
            name = getattr(url, "name", None)
            if name and (name in seen or name.endswith("_import_preview")):
                continue
            seen.add(name)
            urls.append(url)
        return urls

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        result = (getattr(response, "context_data", None) or {}).get("result")
        if getattr(result, "unknown_columns", None):
            self.message_user(request, _("Sheet “%(name)s”: these columns are not part of the exchange format and "
                                         "were ignored: %(cols)s")
                              % {"name": InterventionResource.sheet.title, "cols": ", ".join(result.unknown_columns)},
                              messages.WARNING)
        return response

    action_form = CancelActionForm
    actions = ["cancel_selected"]
    list_display = ("given_on", "household", "program", "kind", "amount", "funding_source", "status")
    list_filter = ("status", "kind", "funding_source", ("program", ProgramFilter))
    search_fields = ("household__code", "household__search_text", "program__code")
    list_select_related = ("household", "program")
    date_hierarchy = "given_on"

    @admin.action(description=gettext_lazy("Cancel the selected supports (give the reason)"))
    def cancel_selected(self, request, queryset):
        reason, done = request.POST.get("reason", ""), 0
        for intervention in queryset.select_related("household"):
            try:
                services.cancel_intervention(actor=request.user, intervention=intervention, reason=reason,
                                             source=AuditEvent.Source.ADMIN)
            except (ValidationError, PermissionDenied) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                self.message_user(request, _("%(record)s: refused. %(reason)s") % {"record": intervention,
                                                                                   "reason": text}, messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, _("Supports cancelled: %(count)d.") % {"count": done}, messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not can(request.user, Action.RECORD_SUPPORT):
            actions.pop("cancel_selected", None)
        return actions


class LoanBalanceInline(ReadOnlyInline):
    model = LoanBalance


@admin.register(Loan)
class LoanAdmin(SupportReadOnlyAdmin):
    inlines = [LoanBalanceInline]
    list_display = ("intervention", "principal", "disbursed_on", "term_months", "purpose")
    list_select_related = ("intervention__household", "intervention__program")
    search_fields = ("intervention__household__code", "purpose")


class CourseLearnerInline(ReadOnlyInline):
    model = CourseLearner


@admin.register(TrainingCourse)
class TrainingCourseAdmin(SupportReadOnlyAdmin):
    inlines = [CourseLearnerInline]
    list_display = ("trade", "commune", "program", "starts_on", "ends_on", "cost", "is_archived")
    list_filter = ("is_archived",)
    list_select_related = ("commune", "program")
    search_fields = ("trade",)


@admin.register(JobFair)
class JobFairAdmin(SupportReadOnlyAdmin):
    list_display = ("name", "commune", "held_on", "participants", "placements", "is_archived")
    list_select_related = ("commune",)
    search_fields = ("name",)


@admin.register(ProductionProject)
class ProductionProjectAdmin(SupportReadOnlyAdmin):
    list_display = ("name", "group_name", "commune", "program", "year", "budget", "is_archived")
    list_select_related = ("commune", "program")
    search_fields = ("name", "group_name")


@admin.register(InfrastructureWork)
class InfrastructureWorkAdmin(SupportReadOnlyAdmin):
    list_display = ("name", "commune", "category", "status", "year", "estimated_cost", "actual_cost")
    list_filter = ("status", "category", "year")
    list_select_related = ("commune",)
    search_fields = ("name",)


@admin.register(BudgetAllocation)
class BudgetAllocationAdmin(SupportReadOnlyAdmin):
    list_display = ("commune", "program", "year", "funding_source", "allocated", "disbursed")
    list_filter = ("year", "funding_source", ("program", ProgramFilter))
    list_select_related = ("commune", "program")


@admin.register(MemberProfile)
class MemberProfileAdmin(SupportReadOnlyAdmin):
    list_display = ("member", "has_disability", "low_income_applied_on")
    list_filter = ("has_disability",)
    list_select_related = ("member",)


@admin.register(Helper)
class HelperAdmin(SupportReadOnlyAdmin):
    list_display = ("full_name", "position", "organisation", "commune", "is_archived")
    list_filter = ("position", "is_archived")
    list_select_related = ("commune",)
    search_fields = ("full_name",)


@admin.register(HelperAssignment)
class HelperAssignmentAdmin(SupportReadOnlyAdmin):
    list_display = ("helper", "household", "started_on", "ended_on")
    list_select_related = ("helper", "household")
    search_fields = ("helper__full_name", "household__code")


@admin.register(Visit)
class VisitAdmin(SupportReadOnlyAdmin):
    list_display = ("household", "visited_on", "follow_up_due", "follow_up_done_on")
    list_select_related = ("household",)
    search_fields = ("household__code",)


@admin.register(EscapeRegistration)
class EscapeRegistrationAdmin(SupportReadOnlyAdmin):
    list_display = ("household", "target_year", "registered_on", "helper", "is_archived")
    list_filter = ("target_year", "is_archived")
    list_select_related = ("household", "helper")
    search_fields = ("household__code",)
