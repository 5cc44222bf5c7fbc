"""The review app in the admin: standards edited by superusers, everything else looked at.

Rounds change state only through `reviews.services`: the admin actions below call
the same functions as the pages, so the same rights, checks, events and audit
apply, and each refusal is reported with the service's own message. Nothing is
ever deleted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.admin_scoping import ReadOnlyAdmin, ScopedAdmin
from core.permissions import Action, can
from core.scoping import communes_for
from exchange.admin import ExchangeAdminMixin, ExchangeImportMixin
from exchange.resources import FORMATS, SurveyResource

from . import services
from .models import (
    Complaint,
    HouseholdStatus,
    Indicator,
    PovertyStandard,
    Request,
    ReviewEvent,
    ReviewRound,
    ScoreItem,
    ScreeningRule,
    Survey,
    VillageMeeting,
)


def _all_fields(model) -> list[str]:
    return [f.name for f in model._meta.fields if f.name != "id"]


# --- standards: reference data, edited by superusers --------------------------------------


class StandardDataAdmin(ReadOnlyAdmin):
    """Looked at by every staff role; added and changed by superusers (the provisional standard is edited here)."""

    superuser_may_edit = True

    def scope(self, request, queryset):
        return queryset


class IndicatorInline(admin.TabularInline):
    model = Indicator
    fields = ("number", "code", "dimension", "name", "help_text")
    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PovertyStandard)
class PovertyStandardAdmin(StandardDataAdmin):
    inlines = [IndicatorInline]
    list_display = ("code", "name", "first_year", "last_year", "province", "income_line_rural",
                    "income_line_urban", "is_provisional")
    list_filter = ("is_provisional",)
    search_fields = ("code", "name", "legal_basis")
    list_select_related = ("province",)
    raw_id_fields = ("province",)


@admin.register(ScoreItem)
class ScoreItemAdmin(StandardDataAdmin):
    list_display = ("standard", "province", "question", "question_text", "answer", "answer_text", "area", "points")
    list_filter = ("standard", "area")
    search_fields = ("question", "question_text", "answer", "answer_text")
    list_select_related = ("standard", "province")
    raw_id_fields = ("province",)


@admin.register(ScreeningRule)
class ScreeningRuleAdmin(StandardDataAdmin):
    list_display = ("standard", "number", "question", "stops", "is_active")
    list_filter = ("standard", "stops", "is_active")
    search_fields = ("question",)
    list_select_related = ("standard",)


# --- rounds: state changes through the services -----------------------------------------------


class RoundActionForm(ActionForm):
    """The extra inputs the round actions need: a comment (return, approve) and the decision's details."""

    comment = forms.CharField(label=gettext_lazy("Comment"), required=False, max_length=2000)
    decision_number = forms.CharField(label=gettext_lazy("Decision number"), required=False, max_length=50)
    # Text here, read by DATE_FIELD below: an unreadable date must be reported, not
    # turned by the action form's own validation into "no action selected".
    decision_date = forms.CharField(label=gettext_lazy("Decision date (dd/mm/yyyy)"), required=False,
                                    max_length=10)
    decision_signer = forms.CharField(label=gettext_lazy("Signed by"), required=False, max_length=120)


DATE_FIELD = forms.DateField(input_formats=["%d/%m/%Y", "%Y-%m-%d"])


def _refusal(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or _("You may not do this.")


class ReviewRoundAdmin(ScopedAdmin):
    action_form = RoundActionForm
    actions = ["submit_selected", "approve_selected", "return_selected", "decide_selected"]
    list_display = ("commune", "year", "kind", "month", "standard", "status", "submitted_at", "reviewed_at",
                    "decision_number", "decision_date")
    list_filter = ("year", "kind", "status", "standard")
    search_fields = ("commune__name", "commune__code", "decision_number")
    list_select_related = ("commune", "standard")
    readonly_fields = _all_fields(ReviewRound)

    def has_add_permission(self, request):
        return False  # a round is opened by the commune on its page (services.open_round)

    def has_change_permission(self, request, obj=None):
        return False  # state changes only through the actions below

    def get_actions(self, request):
        actions = super().get_actions(request)
        commune_steps = can(request.user, Action.COMMUNE_REVIEW_STEPS)
        reviews = can(request.user, Action.REVIEW_LISTS)
        offered = {
            "submit_selected": commune_steps,
            "decide_selected": commune_steps,
            "approve_selected": reviews,
            "return_selected": reviews,
        }
        return {name: action for name, action in actions.items() if offered.get(name, True)}

    def _run(self, request, queryset, step, done: str) -> None:
        """Run `step(round)` on each selected round; report what succeeded and what was refused, and why."""
        succeeded = []
        for round_ in queryset.select_related("commune"):
            try:
                step(round_)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, _("%(round)s: refused. %(reason)s")
                                  % {"round": round_, "reason": _refusal(exc)}, messages.ERROR)
            else:
                succeeded.append(str(round_))
        if succeeded:
            self.message_user(request, done % {"rounds": "; ".join(succeeded)}, messages.SUCCESS)

    def _decision_date(self, request):
        """The action form's date, as its DateField reads it; None when empty, False when unreadable."""
        raw = request.POST.get("decision_date", "").strip()
        if not raw:
            return None
        try:
            return DATE_FIELD.clean(raw)
        except ValidationError:
            return False

    @admin.action(description=gettext_lazy("Submit the selected lists for review"))
    def submit_selected(self, request, queryset):
        self._run(request, queryset, lambda r: services.submit_round(actor=request.user, round_=r),
                  _("Submitted: %(rounds)s."))

    @admin.action(description=gettext_lazy("Approve the selected lists (optional comment)"))
    def approve_selected(self, request, queryset):
        comment = request.POST.get("comment", "")
        self._run(request, queryset, lambda r: services.approve_round(actor=request.user, round_=r, comment=comment),
                  _("Approved: %(rounds)s."))

    @admin.action(description=gettext_lazy("Return the selected lists to the commune (write the comment)"))
    def return_selected(self, request, queryset):
        comment = request.POST.get("comment", "")
        self._run(request, queryset, lambda r: services.return_round(actor=request.user, round_=r, comment=comment),
                  _("Returned: %(rounds)s."))

    @admin.action(description=gettext_lazy("Record the decision (number, date, signer) for the selected lists"))
    def decide_selected(self, request, queryset):
        decided_on = self._decision_date(request)
        if decided_on is False:
            self.message_user(request, _("“%(value)s” is not a date; write it as dd/mm/yyyy.")
                              % {"value": request.POST.get("decision_date", "")}, messages.ERROR)
            return
        number, signer = request.POST.get("decision_number", ""), request.POST.get("decision_signer", "")
        self._run(request, queryset, lambda r: services.record_decision(
            actor=request.user, round_=r, number=number, decided_on=decided_on, signer=signer),
            _("Decision recorded: %(rounds)s."))


admin.site.register(ReviewRound, ReviewRoundAdmin)


# --- everything else: scoped, read-only ------------------------------------------------------------


class ReviewReadOnlyAdmin(ReadOnlyAdmin):
    """Written by the services from the review pages; here looked at, in the user's area only."""

    # How the rows reach a commune, for the models without a `for_user` of their own.
    commune_path = ""

    def scope(self, request, queryset):
        if self.commune_path:
            return queryset.filter(**{f"{self.commune_path}__in": communes_for(request.user)})
        return self.model.objects.for_user(request.user)

    def get_readonly_fields(self, request, obj=None):
        return _all_fields(self.model)

    def has_add_permission(self, request):
        return False


@admin.register(Survey)
class SurveyAdmin(ExchangeImportMixin, ExchangeAdminMixin, ReviewReadOnlyAdmin):
    """Looked at here; exported as the Phiếu B sheet, and a Phiếu B sheet imported
    with import-export's preview and confirmation, each row written by
    `services.record_survey` (see `exchange.resources.SurveyResource`)."""

    resource_classes = [SurveyResource]
    import_formats = FORMATS
    import_template_name = "admin/import_export/import.html"
    skip_admin_log = True  # the round's events record who surveyed what

    def has_import_permission(self, request) -> bool:
        # Phiếu B answers are the commune's survey step: its officer imports them.
        return can(request.user, Action.COMMUNE_REVIEW_STEPS)

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
                              % {"name": SurveyResource.sheet.title, "cols": ", ".join(result.unknown_columns)},
                              messages.WARNING)
        return response

    list_display = ("household", "round", "origin", "previous_category", "status", "category", "deprivation_count",
                    "income", "surveyed_at")
    list_filter = ("status", "category", "origin", "round__year")
    search_fields = ("household__code", "household__search_text")
    list_select_related = ("household", "round", "round__commune")


@admin.register(Request)
class RequestAdmin(ReviewReadOnlyAdmin):
    list_display = ("household", "kind", "received_on", "channel", "status", "answered_on")
    list_filter = ("kind", "status", "channel")
    search_fields = ("household__code", "household__search_text", "reason")
    list_select_related = ("household",)
    date_hierarchy = "received_on"


@admin.register(VillageMeeting)
class VillageMeetingAdmin(ReviewReadOnlyAdmin):
    commune_path = "round__commune"
    list_display = ("village", "round", "held_on", "attendance", "chaired_by")
    list_filter = ("round__year",)
    search_fields = ("village__name", "chaired_by")
    list_select_related = ("village", "round", "round__commune")


@admin.register(Complaint)
class ComplaintAdmin(ReviewReadOnlyAdmin):
    commune_path = "round__commune"
    list_display = ("complainant", "round", "household", "received_on", "outcome", "resolved_at")
    list_filter = ("outcome", "round__year")
    search_fields = ("complainant", "content", "household__code")
    list_select_related = ("round", "round__commune", "household")


@admin.register(HouseholdStatus)
class HouseholdStatusAdmin(ReviewReadOnlyAdmin):
    list_display = ("household", "year", "category", "previous_category", "movement", "standard_code", "decided_on")
    list_filter = ("year", "category", "movement")
    search_fields = ("household__code", "household__search_text")
    list_select_related = ("household",)


@admin.register(ReviewEvent)
class ReviewEventAdmin(ReviewReadOnlyAdmin):
    commune_path = "round__commune"
    list_display = ("at", "round", "action", "actor", "comment")
    list_filter = ("action", "round__year")
    search_fields = ("comment", "actor__username", "round__commune__name")
    list_select_related = ("round", "round__commune", "actor")
    date_hierarchy = "at"
