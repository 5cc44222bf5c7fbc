"""The pages of support and case work.

Reads go through `programs.selectors` and the scoped managers (outside the
user's area a record answers 404); every write is one call to
`programs.services`, whose ValidationErrors go back on the form's fields and
whose PermissionDenied answers 403. Form pages that write answer 403 on GET
too for the roles that may only read.
"""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import access_log
from core.permissions import Action, can
from core.scoping import communes_for
from core.submissions import ALREADY_SENT, submit_once
from exchange.exporter import escape_formula
from households.selectors import household_for_user
from reviews.models import Category

from . import selectors, services
from .forms import (
    AllocationForm,
    AssignHelperForm,
    BeneficiariesForm,
    CommuneFilterForm,
    CourseForm,
    DisbursementForm,
    EndAssignmentForm,
    EscapeRegistrationForm,
    HealthInsuranceForm,
    HelperCreateForm,
    InterventionForm,
    JobFairForm,
    LearnersForm,
    LoanForm,
    MemberProfileForm,
    OutcomeForm,
    ProjectForm,
    ReasonForm,
    RepaymentForm,
    TrainingPlaceForm,
    VisitForm,
    WorkForm,
    WorkUpdateForm,
    attach_errors,
    current_members,
)
from .models import (
    BudgetAllocation,
    Eligibility,
    EscapeRegistration,
    FundingSource,
    Helper,
    HelperAssignment,
    InfrastructureWork,
    Intervention,
    JobFair,
    Loan,
    MemberProfile,
    ProductionProject,
    Program,
    TrainingCourse,
    Visit,
)

PER_PAGE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# --- lookups and rights ------------------------------------------------------------------


def _or_404(queryset, pk: int):
    """Outside the user's area a record does not exist for them (404, not 403)."""
    try:
        return queryset.get(pk=pk)
    except ObjectDoesNotExist:
        raise Http404(_("No such record in your area.")) from None


def _household(request: HttpRequest, pk: int):
    try:
        return household_for_user(request.user, pk)
    except ObjectDoesNotExist:
        raise Http404(_("No such household in your area.")) from None


def can_record(user) -> bool:
    """The commune's officer records its support (a superuser too); the others read."""
    return can(user, Action.RECORD_SUPPORT)


def can_allocate(user) -> bool:
    return can(user, Action.ALLOCATE_BUDGETS)


def _require_recorder(request: HttpRequest) -> None:
    if not can_record(request.user):
        raise PermissionDenied(_("Your role may look at support records but not change them."))


def _commune_filter(request: HttpRequest) -> tuple[CommuneFilterForm, object]:
    form = CommuneFilterForm(request.GET or None, user=request.user)
    commune = form.cleaned_data.get("commune") if form.is_valid() else None
    return form, commune


def _page(request: HttpRequest, rows):
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def _form_page(request: HttpRequest, form, *, title: str, back: str, intro: str = "", household=None,
               submit: str = "", extra: dict | None = None) -> HttpResponse:
    return render(request, "programs/form.html", {
        "form": form, "title": title, "back": back, "intro": intro, "household": household,
        "submit": submit or _("Save"), **(extra or {}),
    })


def _household_url(household) -> str:
    return reverse("households:detail", args=[household.pk]) + "#support"


# --- programs ----------------------------------------------------------------------------------


@login_required
@require_GET
def program_list(request: HttpRequest) -> HttpResponse:
    programs = list(selectors.programs_for(request.user))
    groups, sources = dict(Eligibility.choices), dict(FundingSource.choices)
    for program in programs:
        program.group_labels = [groups.get(g, g) for g in program.target_groups]
        program.source_labels = [sources.get(s, s) for s in program.funding_sources]
    return render(request, "programs/program_list.html", {"programs": programs})


def _program(request: HttpRequest, pk: int) -> Program:
    return _or_404(selectors.programs_for(request.user, include_archived=True), pk)


def _too_large(request: HttpRequest, commune) -> int:
    """The households of a large area when no commune is chosen (the page then asks for one), else 0."""
    if commune is not None:
        return 0
    households = selectors.area_households(request.user)
    return households if households > selectors.LARGE_AREA else 0


def _eligible(request: HttpRequest, program: Program, *, whole_area: bool = False):
    form, commune = _commune_filter(request)
    large = 0 if whole_area else _too_large(request, commune)
    rows = [] if large else selectors.eligible_households(request.user, program, commune=commune)
    form.large_area = large
    groups = dict(Eligibility.choices)
    for row in rows:
        row.labels = [groups.get(code, code) for code in row.matched]
    return form, commune, rows


@login_required
@require_GET
def program_detail(request: HttpRequest, pk: int) -> HttpResponse:
    program = _program(request, pk)
    form, _commune, rows = _eligible(request, program)
    page, query = _page(request, rows)
    groups, sources = dict(Eligibility.choices), dict(FundingSource.choices)
    return render(request, "programs/program_detail.html", {
        "program": program, "form": form, "page": page, "query": query, "count": len(rows), "large": form.large_area,
        "group_labels": [groups.get(g, g) for g in program.target_groups],
        "source_labels": [sources.get(s, s) for s in program.funding_sources],
        "children": [p for p in selectors.programs_for(request.user) if p.parent_id == program.pk],
    })


ELIGIBLE_HEADERS = ("Mã xã", "Tên xã", "Mã hộ", "Thôn", "Họ tên chủ hộ", "Phân loại", "Nhóm đối tượng")


@login_required
@require_GET
def program_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The eligible households not yet reached, as XLSX (default) or CSV; text cells escaped against formulas."""
    program = _program(request, pk)
    _form, commune, rows = _eligible(request, program, whole_area=True)
    values = [[r.household.commune.code, r.household.commune.name, r.household.code,
               r.household.village.name if r.household.village_id else "", r.household.head_name,
               r.household.get_classification_display(), "; ".join(str(label) for label in r.labels)] for r in rows]
    values = [[escape_formula(v) for v in row] for row in values]
    stem = f"du-dieu-kien-{program.code}-{timezone.localdate():%Y%m%d}"
    access_log.record(request, access_log.Kind.ELIGIBLE_LIST, unit=commune, count=len(values), detail=program.code)
    if request.GET.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(ELIGIBLE_HEADERS)
        writer.writerows(values)
        response = HttpResponse(("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return response
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = program.code[:31]
    sheet.append([escape_formula(f"{program.code} – {program.name}")])
    sheet.append(list(ELIGIBLE_HEADERS))
    for row in values:
        sheet.append(row)
    return _xlsx_response(book, stem)


def _xlsx_response(book, stem: str) -> HttpResponse:
    out = io.BytesIO()
    book.save(out)
    response = HttpResponse(out.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{stem}.xlsx"'
    return response


# --- a household's support ----------------------------------------------------------------------


@login_required
@require_GET
def household_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The support panel of a household's page: a fragment for htmx, else a page of its own."""
    from .templatetags.support_panels import panel_context

    household = _household(request, pk)
    template = ("programs/_household_panel.html" if request.headers.get("HX-Request")
                else "programs/household_panel_page.html")
    return render(request, template, panel_context(request.user, household))



def _tell(request: HttpRequest, sent, done: str) -> None:
    """Say what a post did: `done`, or that the same form was already sent (a double click) and
    nothing was added again."""
    if sent.created:
        messages.success(request, done)
    else:
        messages.info(request, ALREADY_SENT)


def _household_action(request: HttpRequest, pk: int, form_class, save, *, title: str, done: str,
                      intro: str = "", form_kwargs: dict | None = None) -> HttpResponse:
    household = _household(request, pk)
    _require_recorder(request)
    form = form_class(request.POST or None, user=request.user, household=household, **(form_kwargs or {}))
    if request.method == "POST" and form.is_valid():
        try:
            sent = submit_once(user=request.user, key=form.cleaned_data.get("submission_key"),
                               create=lambda: save(request.user, household, form.cleaned_data))
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            _tell(request, sent, done)
            return redirect(_household_url(household))
    return _form_page(request, form, title=title, back=_household_url(household), intro=intro, household=household)


def _intervention_values(data: dict) -> dict:
    return {name: data[name] for name in ("program", "member", "given_on", "amount", "funding_source", "status", "note")
            if name in data} | {"member": data.get("member"), "note": data.get("note", "")}


@login_required
@require_http_methods(["GET", "POST"])
def intervention_new(request: HttpRequest, pk: int) -> HttpResponse:
    def save(actor, household, data):
        return services.record_intervention(actor=actor, household=household, kind=data["kind"],
                                            quantity=data["quantity"], house_work=data.get("house_work", ""),
                                            **_intervention_values(data))

    return _household_action(request, pk, InterventionForm, save, title=_("Record support"),
                             done=_("Support recorded."))


@login_required
@require_http_methods(["GET", "POST"])
def health_insurance_new(request: HttpRequest, pk: int) -> HttpResponse:
    def save(actor, household, data):
        return services.record_intervention(actor=actor, household=household, kind=Intervention.Kind.SERVICE,
                                            **_intervention_values(data))

    return _household_action(request, pk, HealthInsuranceForm, save, title=_("Record a health-insurance card"),
                             done=_("Health-insurance card recorded."),
                             # xgettext:no-python-format
                             intro=_("A card paid by the state: 100% for poor households, at least 70% for "
                                     "near-poor ones, at least 30% for middle-living farm households."))


@login_required
@require_http_methods(["GET", "POST"])
def training_place_new(request: HttpRequest, pk: int) -> HttpResponse:
    def save(actor, household, data):
        member = data["member"]
        if data.get("course"):
            if not services.enrol_learners(actor=actor, course=data["course"], members=[member]):
                raise ValidationError({"course": _("%(name)s is already enrolled in this course.")
                                       % {"name": member.full_name}})
            return None  # the place is on the course
        return services.record_intervention(actor=actor, household=household, program=data["program"],
                                            member=member, given_on=data["given_on"],
                                            kind=Intervention.Kind.TRAINING,
                                            amount=data.get("amount") or 0, funding_source=data["funding_source"],
                                            status=Intervention.Status.DELIVERED)

    return _household_action(request, pk, TrainingPlaceForm, save, title=_("Record a training place"),
                             done=_("Training place recorded."))


@login_required
@require_http_methods(["GET", "POST"])
def loan_new(request: HttpRequest, pk: int) -> HttpResponse:
    def save(actor, household, data):
        return services.record_loan(actor=actor, household=household, program=data["program"],
                                    member=data.get("member"), principal=data["principal"],
                                    disbursed_on=data["disbursed_on"], term_months=data["term_months"],
                                    purpose=data["purpose"], note=data.get("note", ""))

    return _household_action(request, pk, LoanForm, save, title=_("Record a loan"), done=_("Loan recorded."))


@login_required
@require_http_methods(["GET", "POST"])
def register_escape(request: HttpRequest, pk: int) -> HttpResponse:
    household = _household(request, pk)
    path = selectors.path_out(household) if household.classification in (Category.POOR, Category.NEAR_POOR) else None

    def save(actor, household, data):
        return services.register_escape(actor=actor, household=household, target_year=data["target_year"],
                                        registered_on=data["registered_on"],
                                        indicators_to_fix=data["indicators_to_fix"],
                                        target_income=data.get("target_income"),
                                        support_asked=data.get("support_asked", ""),
                                        programs=data["programs_asked"], helper=data.get("helper"))

    return _household_action(request, pk, EscapeRegistrationForm, save, title=_("Register to escape poverty"),
                             done=_("Registration to escape poverty recorded."), form_kwargs={"path": path})


@login_required
@require_http_methods(["GET", "POST"])
def assign_helper(request: HttpRequest, pk: int) -> HttpResponse:
    def save(actor, household, data):
        return services.assign_helper(actor=actor, helper=data["helper"], household=household,
                                      started_on=data["started_on"])

    return _household_action(request, pk, AssignHelperForm, save, title=_("Assign a helper"),
                             done=_("Helper assigned."))


@login_required
@require_http_methods(["GET", "POST"])
def visit_new(request: HttpRequest, pk: int) -> HttpResponse:
    def save(actor, household, data):
        return services.record_visit(actor=actor, household=household, visited_on=data["visited_on"],
                                     findings=data["findings"], follow_up=data.get("follow_up", ""),
                                     follow_up_due=data.get("follow_up_due"), helper=data.get("helper"))

    return _household_action(request, pk, VisitForm, save, title=_("Record a visit"), done=_("Visit recorded."))


def _intervention(request: HttpRequest, pk: int) -> Intervention:
    return _or_404(Intervention.objects.for_user(request.user).select_related("household__commune", "program"), pk)


@login_required
@require_POST
def intervention_deliver(request: HttpRequest, pk: int) -> HttpResponse:
    intervention = _intervention(request, pk)
    _require_recorder(request)
    try:
        services.deliver_intervention(actor=request.user, intervention=intervention)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Support marked as delivered."))
    return redirect(_household_url(intervention.household))


@login_required
@require_http_methods(["GET", "POST"])
def intervention_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    intervention = _intervention(request, pk)
    _require_recorder(request)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cancel_intervention(actor=request.user, intervention=intervention,
                                         reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            attach_errors(form, _renamed(exc, {"cancel_reason": "reason"}))
        else:
            messages.success(request, _("Support cancelled."))
            return redirect(_household_url(intervention.household))
    return _form_page(request, form, title=_("Cancel a support"), back=_household_url(intervention.household),
                      intro=str(intervention), household=intervention.household, submit=_("Cancel the support"))


def _renamed(exc: ValidationError, names: dict) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({names.get(k, k): v for k, v in exc.error_dict.items()})


@login_required
@require_http_methods(["GET", "POST"])
def loan_repayment(request: HttpRequest, pk: int) -> HttpResponse:
    loan = _or_404(Loan.objects.for_user(request.user).select_related("intervention__household__commune"), pk)
    household = loan.intervention.household
    _require_recorder(request)
    form = RepaymentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sent = submit_once(user=request.user, key=form.cleaned_data.get("submission_key"), create=lambda: (
                services.record_repayment(actor=request.user, loan=loan, on=form.cleaned_data["on"],
                                          amount=form.cleaned_data["amount"])))
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            _tell(request, sent, _("Repayment recorded."))
            return redirect(_household_url(household))
    return _form_page(request, form, title=_("Record a repayment"), back=_household_url(household),
                      intro=str(loan), household=household)


@login_required
@require_POST
def follow_up_done(request: HttpRequest, pk: int) -> HttpResponse:
    visit = _or_404(Visit.objects.for_user(request.user).select_related("household__commune"), pk)
    _require_recorder(request)
    try:
        services.close_follow_up(actor=request.user, visit=visit)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Follow-up marked as done."))
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(_household_url(visit.household))


@login_required
@require_http_methods(["GET", "POST"])
def member_profiles(request: HttpRequest, pk: int) -> HttpResponse:
    """A form per current member: disability and the low-income worker application (one member saved at a time)."""
    household = _household(request, pk)
    _require_recorder(request)
    members = list(current_members(household))
    profiles = {p.member_id: p for p in MemberProfile.objects.filter(member__in=members)}
    posted = request.POST.get("member", "") if request.method == "POST" else None
    if posted is not None and posted not in {str(m.pk) for m in members}:
        raise Http404(_("No such member in this household."))
    rows, bound = [], None
    for member in members:
        profile = profiles.get(member.pk)
        initial = {"has_disability": profile.has_disability if profile else False,
                   "low_income_applied_on": profile.low_income_applied_on if profile else None}
        is_posted = posted == str(member.pk)
        form = MemberProfileForm(request.POST if is_posted else None, prefix=f"m{member.pk}", initial=initial)
        if is_posted:
            bound = form
            if form.is_valid():
                try:
                    services.set_member_profile(actor=request.user, member=member,
                                                has_disability=form.cleaned_data["has_disability"],
                                                low_income_applied_on=form.cleaned_data["low_income_applied_on"])
                except ValidationError as exc:
                    attach_errors(form, exc)
                else:
                    messages.success(request, _("Details of %(name)s saved.") % {"name": member.full_name})
                    return redirect(reverse("programs:member_profiles", args=[household.pk]))
        rows.append((member, form))
    return render(request, "programs/member_profiles.html", {
        "household": household, "rows": rows, "form": bound, "back": _household_url(household),
        "title": _("Member details for support"),
    })


@login_required
@require_http_methods(["GET", "POST"])
def assignment_end(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = _or_404(HelperAssignment.objects.for_user(request.user)
                         .select_related("household__commune", "helper"), pk)
    household = assignment.household
    _require_recorder(request)
    form = EndAssignmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.end_assignment(actor=request.user, assignment=assignment,
                                    ended_on=form.cleaned_data["ended_on"], reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Helper's assignment ended."))
            return redirect(_household_url(household))
    return _form_page(request, form, title=_("End a helper's assignment"), back=_household_url(household),
                      intro=f"{assignment.helper.full_name} · {assignment.started_on:%d/%m/%Y}", household=household,
                      submit=_("End the assignment"))


@login_required
@require_http_methods(["GET", "POST"])
def registration_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _or_404(EscapeRegistration.objects.for_user(request.user)
                           .select_related("household__commune"), pk)
    household = registration.household
    _require_recorder(request)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_registration(actor=request.user, registration=registration,
                                           reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            attach_errors(form, _renamed(exc, {"archived_reason": "reason"}))
        else:
            messages.success(request, _("Registration to escape poverty withdrawn."))
            return redirect(_household_url(household))
    intro = _("To leave poverty by %(year)s (registered %(date)s)") % {
        "year": registration.target_year, "date": f"{registration.registered_on:%d/%m/%Y}"}
    return _form_page(request, form, title=_("Withdraw a registration to escape poverty"),
                      back=_household_url(household), intro=intro, household=household,
                      submit=_("Withdraw the registration"))


# --- commune lists -----------------------------------------------------------------------------------


@login_required
@require_GET
def path_out_list(request: HttpRequest) -> HttpResponse:
    form, commune = _commune_filter(request)
    closest = request.GET.get("order") == "closest"
    large = _too_large(request, commune)
    if large:
        paths = []
    elif closest:
        paths = selectors.closest_to_leaving(request.user, commune=commune)
    else:
        paths = selectors.path_out_list(request.user, commune=commune)
    page, query = _page(request, paths)
    return render(request, "programs/path_out_list.html", {
        "form": form, "page": page, "query": query, "closest": closest, "count": len(paths), "large": large,
        "keep": [("order", "closest")] if closest else [],
    })


@login_required
@require_GET
def without_helper(request: HttpRequest) -> HttpResponse:
    form, commune = _commune_filter(request)
    households = selectors.households_without_helper(request.user, commune=commune)
    page, query = _page(request, households)
    return render(request, "programs/without_helper.html", {
        "form": form, "page": page, "query": query, "can_record": can_record(request.user),
    })


@login_required
@require_GET
def follow_ups(request: HttpRequest) -> HttpResponse:
    try:
        within = max(0, min(int(request.GET.get("within", 7)), 365))
    except ValueError:
        within = 7
    visits = selectors.due_follow_ups(request.user, within_days=within)
    return render(request, "programs/follow_ups.html", {
        "visits": visits, "within": within, "can_record": can_record(request.user),
    })


@login_required
@require_GET
def registration_list(request: HttpRequest) -> HttpResponse:
    form, commune = _commune_filter(request)
    try:
        year = int(request.GET["year"]) if request.GET.get("year") else None
    except ValueError:
        year = None
    rows = selectors.registrations_for(request.user, year=year, commune=commune)
    page, query = _page(request, rows)
    counts = {state: sum(1 for _r, o in rows if o.state == state) for state in ("escaped", "not_escaped", "pending")}
    return render(request, "programs/registration_list.html", {
        "form": form, "page": page, "query": query, "year": year, "counts": counts, "count": len(rows),
    })


@login_required
@require_http_methods(["GET", "POST"])
def helper_list(request: HttpRequest) -> HttpResponse:
    form = HelperCreateForm(request.POST or None, user=request.user) if can_record(request.user) else None
    if request.method == "POST":
        _require_recorder(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                sent = submit_once(user=request.user, key=data.get("submission_key"), create=lambda: (
                    services.create_helper(actor=request.user, commune=form.commune_for(request.user),
                                           full_name=data["full_name"], position=data["position"],
                                           organisation=data.get("organisation", ""), phone=data.get("phone", ""))))
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                if sent.created:
                    messages.success(request, _("Helper %(name)s added.") % {"name": sent.record.full_name})
                else:
                    messages.info(request, ALREADY_SENT)
                return redirect("programs:helpers")
    helpers = (Helper.objects.for_user(request.user).filter(is_archived=False).select_related("commune")
               .annotate(followed=Count("assignments", filter=Q(assignments__ended_on__isnull=True)))
               .order_by("commune__code", "full_name"))
    return render(request, "programs/helper_list.html", {"form": form, "helpers": helpers[:500]})


# --- group activities ------------------------------------------------------------------------------------


def _create_page(request: HttpRequest, form_class, create, *, title: str, back: str, done,
                 page=None) -> HttpResponse:
    """A form creating a group record; `page(record)` is where the new (or already sent) record is shown."""
    _require_recorder(request)
    form = form_class(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        commune = form.commune_for(request.user)
        if commune is None:
            raise PermissionDenied(_("Your account is not bound to a commune."))
        try:
            data = {k: v for k, v in form.cleaned_data.items() if k not in ("commune", "submission_key")}
            sent = submit_once(user=request.user, key=form.cleaned_data.get("submission_key"),
                               create=lambda: create(request.user, commune, data))
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            _tell(request, sent, done)
            return redirect(page(sent.record) if page is not None and sent.record is not None else back)
    return _form_page(request, form, title=title, back=back)


@login_required
@require_GET
def course_list(request: HttpRequest) -> HttpResponse:
    courses = (TrainingCourse.objects.for_user(request.user).filter(is_archived=False)
               .select_related("commune", "program")
               .annotate(learner_count=Count("enrolments"),
                         placed=Count("enrolments", filter=Q(enrolments__found_work=True)))
               .order_by("-starts_on", "trade"))
    page, query = _page(request, courses)
    return render(request, "programs/course_list.html", {"page": page, "query": query,
                                                         "can_record": can_record(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def course_new(request: HttpRequest) -> HttpResponse:
    def create(actor, commune, data):
        return services.create_course(actor=actor, commune=commune, **data)

    return _create_page(request, CourseForm, create, title=_("New training course"),
                        back=reverse("programs:courses"), done=_("Course created."),
                        page=lambda course: reverse("programs:course", args=[course.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def course_detail(request: HttpRequest, pk: int) -> HttpResponse:
    course = _or_404(TrainingCourse.objects.for_user(request.user).select_related("commune", "program"), pk)
    recorder = can_record(request.user)
    learners_form = LearnersForm(course=course) if recorder else None
    outcome_form = OutcomeForm(course=course, initial={"found_work": list(
        course.enrolments.filter(found_work=True).values_list("member_id", flat=True))}) if recorder else None
    if request.method == "POST":
        _require_recorder(request)
        action = request.POST.get("action")
        try:
            if action == "enrol":
                learners_form = LearnersForm(request.POST, course=course)
                if learners_form.is_valid():
                    added = services.enrol_learners(actor=request.user, course=course,
                                                    members=learners_form.cleaned_data["learners"])
                    messages.success(request, _("%(n)d learners enrolled.") % {"n": added})
                    return redirect("programs:course", pk=course.pk)
            elif action == "outcome":
                outcome_form = OutcomeForm(request.POST, course=course)
                if outcome_form.is_valid():
                    services.record_course_outcome(actor=request.user, course=course, found_work=[
                        m.pk for m in outcome_form.cleaned_data["found_work"]])
                    messages.success(request, _("Outcome recorded."))
                    return redirect("programs:course", pk=course.pk)
            else:
                messages.error(request, _("Nothing to do."))
        except ValidationError as exc:
            attach_errors(learners_form if action == "enrol" else outcome_form, exc)
    enrolments = course.enrolments.select_related("member__household").order_by("member__household__code")
    return render(request, "programs/course_detail.html", {
        "course": course, "enrolments": enrolments, "learners_form": learners_form, "outcome_form": outcome_form,
    })


@login_required
@require_GET
def job_fair_list(request: HttpRequest) -> HttpResponse:
    fairs = JobFair.objects.for_user(request.user).filter(is_archived=False).select_related("commune", "program")
    page, query = _page(request, fairs)
    return render(request, "programs/job_fair_list.html", {"page": page, "query": query,
                                                           "can_record": can_record(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def job_fair_new(request: HttpRequest) -> HttpResponse:
    def create(actor, commune, data):
        return services.record_job_fair(actor=actor, commune=commune, **data)

    return _create_page(request, JobFairForm, create, title=_("Record a job fair"),
                        back=reverse("programs:job_fairs"), done=_("Job fair recorded."))


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = (ProductionProject.objects.for_user(request.user).filter(is_archived=False)
                .select_related("commune", "program").annotate(households=Count("beneficiaries"))
                .order_by("-year", "name"))
    page, query = _page(request, projects)
    return render(request, "programs/project_list.html", {"page": page, "query": query,
                                                          "can_record": can_record(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    def create(actor, commune, data):
        return services.create_project(actor=actor, commune=commune, **data)

    return _create_page(request, ProjectForm, create, title=_("New production project"),
                        back=reverse("programs:projects"), done=_("Project created."),
                        page=lambda project: reverse("programs:project", args=[project.pk]))


@login_required
@require_http_methods(["GET", "POST"])
def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = _or_404(ProductionProject.objects.for_user(request.user).select_related("commune", "program"), pk)
    form = BeneficiariesForm(request.POST or None, user=request.user, project=project) \
        if can_record(request.user) else None
    if request.method == "POST":
        _require_recorder(request)
        if form.is_valid():
            try:
                added = services.add_beneficiaries(actor=request.user, project=project,
                                                   households=form.cleaned_data["households"],
                                                   given_on=form.cleaned_data["given_on"])
            except ValidationError as exc:
                attach_errors(form, _renamed(exc, {"beneficiaries": "households"}))
            else:
                messages.success(request, _("%(n)d households added.") % {"n": added})
                return redirect("programs:project", pk=project.pk)
    return render(request, "programs/project_detail.html", {
        "project": project, "form": form,
        "beneficiaries": project.beneficiaries.select_related("village").order_by("code"),
    })


@login_required
@require_GET
def work_list(request: HttpRequest) -> HttpResponse:
    works = InfrastructureWork.objects.for_user(request.user).filter(is_archived=False).select_related(
        "commune", "program")
    page, query = _page(request, works)
    return render(request, "programs/work_list.html", {"page": page, "query": query,
                                                       "can_record": can_record(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def work_new(request: HttpRequest) -> HttpResponse:
    def create(actor, commune, data):
        return services.record_work(actor=actor, commune=commune, **data)

    return _create_page(request, WorkForm, create, title=_("Record an infrastructure work"),
                        back=reverse("programs:works"), done=_("Work recorded."))


@login_required
@require_http_methods(["GET", "POST"])
def work_update(request: HttpRequest, pk: int) -> HttpResponse:
    work = _or_404(InfrastructureWork.objects.for_user(request.user).select_related("commune"), pk)
    _require_recorder(request)
    form = WorkUpdateForm(request.POST or None, initial={
        "status": work.status, "estimated_cost": work.estimated_cost, "actual_cost": work.actual_cost})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_work(actor=request.user, work=work, status=data["status"],
                                 actual_cost=data.get("actual_cost"), estimated_cost=data["estimated_cost"])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Work updated."))
            return redirect("programs:works")
    return _form_page(request, form, title=_("Update a work"), back=reverse("programs:works"),
                      intro=f"{work.name} – {work.commune.name} ({work.year})")


# --- budgets ------------------------------------------------------------------------------------


@login_required
@require_GET
def budget_list(request: HttpRequest) -> HttpResponse:
    allocations = BudgetAllocation.objects.for_user(request.user).select_related("commune", "program").order_by(
        "-year", "commune__code", "program__code", "funding_source")
    page, query = _page(request, allocations)
    return render(request, "programs/budget_list.html", {
        "page": page, "query": query, "can_allocate": can_allocate(request.user),
        "can_disburse": can_record(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def budget_allocate(request: HttpRequest) -> HttpResponse:
    if not can_allocate(request.user):
        raise PermissionDenied(_("Budgets are allocated above the commune."))
    form = AllocationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.allocate_budget(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Allocation recorded."))
            return redirect("programs:budgets")
    return _form_page(request, form, title=_("Allocate a budget"), back=reverse("programs:budgets"))


@login_required
@require_http_methods(["GET", "POST"])
def budget_disburse(request: HttpRequest, pk: int) -> HttpResponse:
    allocation = _or_404(BudgetAllocation.objects.for_user(request.user).select_related("commune", "program"), pk)
    _require_recorder(request)
    form = DisbursementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            sent = submit_once(user=request.user, key=form.cleaned_data.get("submission_key"), create=lambda: (
                services.record_disbursement(actor=request.user, allocation=allocation,
                                             amount=form.cleaned_data["amount"])))
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            _tell(request, sent, _("Disbursement recorded."))
            return redirect("programs:budgets")
    return _form_page(request, form, title=_("Record a disbursement"), back=reverse("programs:budgets"),
                      intro=str(allocation), extra={"allocation": allocation})


# --- the support report --------------------------------------------------------------------------


def _report_unit(request: HttpRequest, unit: int, year: int):
    if not 2000 <= year <= 2100:
        raise Http404(_("No report for that year."))
    found = selectors.report_units(request.user).filter(pk=unit).first()
    if found is None:
        raise Http404(_("No such unit in your area."))
    return found


@login_required
@require_GET
def report_home(request: HttpRequest) -> HttpResponse:
    unit = request.user.unit if request.user.unit_id else None
    if unit is None:
        commune = communes_for(request.user).filter(summary__households__gt=0).order_by("code").first()
        unit = commune.province if commune is not None else None
    if unit is None:
        raise Http404(_("Your account is not bound to a unit."))
    return redirect("programs:report", unit=unit.pk, year=timezone.localdate().year - 1)


@login_required
@require_GET
def report(request: HttpRequest, unit: int, year: int) -> HttpResponse:
    found = _report_unit(request, unit, year)
    data = selectors.support_report(found, year)
    for row in data.by_program:
        row["source_label"] = FundingSource(row["funding_source"]).label
    data.loans["growth_pct"] = _rate(data.loans["growth_rate"])
    return render(request, "programs/report.html", {
        "report": data, "unit": found, "year": year, "today": timezone.localdate(),
        "years": range(timezone.localdate().year, timezone.localdate().year - 6, -1),
    })


def _rate(value) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def report_rows(data) -> list[tuple[str, list[list]]]:
    """The report's tables as (title, rows with a header row first): the page's figures, in a workbook."""
    sections = [
        (_("Support given"), [[_("Households reached"), _("Amount (VND)")], [data.households_reached, data.amount]]),
        (_("By program and source"), [[_("Program"), _("Funding source"), _("Households"), _("Supports"),
                                       _("Amount (VND)")]] + [
            [f"{r['program'].code} – {r['program'].name}", str(FundingSource(r["funding_source"]).label),
             r["households"], r["supports"], r["amount"] or 0] for r in data.by_program]),
        (_("By funding source"), [[_("Funding source"), _("Households"), _("Amount (VND)")]] + [
            [str(r["label"]), r["households"], r["amount"] or 0] for r in data.by_source]),
        (_("Houses"), [[_("New houses"), _("Repairs"), _("Amount (VND)")],
                       [data.houses.get("new", 0), data.houses.get("repair", 0), data.houses.get("amount", 0)]]),
        (_("Vocational training"), [[_("Courses"), _("Learners"), _("Found work"), _("Cost (VND)")],
                                    [data.training["courses"], data.training["learners"],
                                     data.training["found_work"], data.training["cost"]]]),
        (_("Job fairs"), [[_("Job fairs"), _("Participants"), _("Workers placed")],
                          [data.job_fairs["fairs"], data.job_fairs["participants"], data.job_fairs["placements"]]]),
        (_("Policy credit"), [[_("Outstanding at the start (VND)"), _("Outstanding (VND)"), _("Growth (VND)"),
                               _("Growth rate"), _("Loans outstanding"), _("New loans"), _("New principal (VND)")],
                              [data.loans["outstanding_before"], data.loans["outstanding"], data.loans["growth"],
                               _rate(data.loans["growth_rate"]), data.loans["loans_outstanding"],
                               data.loans["new_loans"], data.loans["new_principal"]]]),
        (_("Infrastructure works"), [[_("Status"), _("Works"), _("Estimated cost (VND)"), _("Actual cost (VND)")]] + [
            [str(r["label"]), r["works"], r["estimated"], r["actual"]] for r in data.works]),
        (_("Budgets"), [[_("Program"), _("Allocated (VND)"), _("Disbursed (VND)"), _("Rate")]] + [
            [f"{r['program'].code} – {r['program'].name}", r["allocated"], r["disbursed"], _rate(r["rate"])]
            for r in data.budgets] + [[_("Total"), data.budget_total["allocated"], data.budget_total["disbursed"],
                                       _rate(data.budget_total["rate"])]]),
        (_("Registrations to escape poverty"), [[_("Registered"), _("Escaped"), _("Not escaped"), _("Pending")],
                                                [data.registrations["registered"], data.registrations["escaped"],
                                                 data.registrations["not_escaped"], data.registrations["pending"]]]),
    ]
    return sections


@login_required
@require_GET
def report_export(request: HttpRequest, unit: int, year: int) -> HttpResponse:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    found = _report_unit(request, unit, year)
    data = selectors.support_report(found, year)
    book = Workbook()
    sheet = book.active
    sheet.title = str(year)
    sheet.append([escape_formula(_("Support report: %(unit)s, %(year)d") % {"unit": found.name, "year": year})])
    sheet.cell(row=1, column=1).font = Font(bold=True)
    for title, rows in report_rows(data):
        sheet.append([])
        sheet.append([escape_formula(title)])
        sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
        for index, row in enumerate(rows):
            sheet.append([escape_formula(c) for c in row])
            if index == 0:
                for cell in sheet[sheet.max_row]:
                    cell.font = Font(bold=True)
    sheet.column_dimensions["A"].width = 50
    access_log.record(request, access_log.Kind.SUPPORT_REPORT, unit=found, detail=str(year))
    return _xlsx_response(book, f"ho-tro-{found.code}-{year}")
