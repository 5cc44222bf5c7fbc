"""The pages of the annual review.

Reads go through `reviews.selectors` (scoped: outside the user's area a record
answers 404); every write is one call to `reviews.services`, whose refusals
(ValidationError, StepRefused) are shown on the page and whose PermissionDenied
answers 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.permissions import Action, can
from core.scoping import communes_for
from core.submissions import ALREADY_SENT, submit_once

from . import selectors, services
from .classification import InvalidSurvey
from .forms import (
    AddHouseholdsForm,
    ApproveForm,
    ComplaintForm,
    DecisionForm,
    MeetingForm,
    PostingForm,
    RefuseForm,
    RequestForm,
    ResolveComplaintForm,
    ReturnForm,
    RoundFilterForm,
    RoundForm,
    SurveyForm,
    attach_errors,
)
from .models import Category, ReviewRound, Survey

# --- lookups and rights ------------------------------------------------------------------


def _or_404(lookup, *args):
    """Outside the user's area a record does not exist for them (404, not 403)."""
    try:
        return lookup(*args)
    except ObjectDoesNotExist:
        raise Http404(_("No such record in your area.")) from None


def _round(request: HttpRequest, pk: int) -> ReviewRound:
    return _or_404(selectors.round_for_user, request.user, pk)


def can_do_commune_steps(user) -> bool:
    return can(user, Action.COMMUNE_REVIEW_STEPS)


def can_review(user) -> bool:
    return can(user, Action.REVIEW_LISTS)


def _require_commune_steps(request: HttpRequest) -> None:
    if not can_do_commune_steps(request.user):
        raise PermissionDenied(_("Only the commune's officer records the steps of its review."))


def _require_reviewer(request: HttpRequest) -> None:
    if not can_review(request.user):
        raise PermissionDenied(_("Only the reviewer of the unit above the commune approves or returns its list."))


def _refusal(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


# --- rounds ------------------------------------------------------------------------------------


@login_required
@require_GET
def round_list(request: HttpRequest) -> HttpResponse:
    form = RoundFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rounds = selectors.round_list(request.user, year=filters.get("year"), status=filters.get("status", ""))
    page = Paginator(rounds, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reviews/round_list.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "queue": list(selectors.reviewer_queue(request.user)),
        "can_open": can_do_commune_steps(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def round_create(request: HttpRequest) -> HttpResponse:
    _require_commune_steps(request)
    form = RoundForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        commune = data.get("commune_code") or communes_for(request.user).first()
        if commune is None:
            raise PermissionDenied(_("Your account is not bound to a commune."))
        try:
            round_ = services.open_round(actor=request.user, commune=commune, year=data["year"], kind=data["kind"],
                                         month=data.get("month") or 0)
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            count = round_.surveys.count()
            messages.success(request, ngettext("Round opened with %(n)d household on its list.",
                                               "Round opened with %(n)d households on its list.", count)
                             % {"n": count})
            return redirect(round_)
    return render(request, "reviews/round_form.html", {"form": form})


def _steps(round_: ReviewRound, surveys: list[Survey], complaints: list, today) -> list[dict]:
    """Where the round stands, step by step (Decision 24/2021/QĐ-TTg)."""
    S = ReviewRound.Status
    total = len(surveys)
    done_surveys = sum(1 for s in surveys if s.has_result)
    to_meet = [s for s in surveys if s.status == Survey.Status.SURVEYED]
    agreed = sum(1 for s in to_meet if s.votes_agree is not None)
    open_complaints = sum(1 for c in complaints if c.is_open)
    after_submission = round_.status in (S.SUBMITTED, S.APPROVED, S.DECIDED)
    posting_done = round_.posting_start is not None and round_.posting_end < today
    steps = [
        (_("List"), total > 0, ngettext("%(n)d household", "%(n)d households", total) % {"n": total}),
        (_("Surveys"), total > 0 and done_surveys == total,
         _("%(done)d of %(total)d surveyed") % {"done": done_surveys, "total": total}),
        (_("Village meetings"), total > 0 and done_surveys == total and agreed == len(to_meet),
         _("%(done)d of %(total)d agreed") % {"done": agreed, "total": len(to_meet)}),
        (_("Public posting"), posting_done,
         (_("%(start)s to %(end)s") % {"start": f"{round_.posting_start:%d/%m/%Y}",
                                       "end": f"{round_.posting_end:%d/%m/%Y}"})
         if round_.posting_start else _("not recorded")),
        (_("Complaints"), posting_done and open_complaints == 0,
         _("%(open)d open of %(total)d") % {"open": open_complaints, "total": len(complaints)}),
        (_("Submission"), after_submission,
         f"{timezone.localtime(round_.submitted_at):%d/%m/%Y}" if round_.submitted_at else ""),
        (_("Review above the commune"), round_.status in (S.APPROVED, S.DECIDED),
         _("returned with comments") if round_.status == S.RETURNED else ""),
        (_("Decision"), round_.status == S.DECIDED,
         f"{round_.decision_number} – {round_.decision_date:%d/%m/%Y}" if round_.decision_date else ""),
    ]
    rows, current_found = [], False
    for label, done, detail in steps:
        state = "done" if done else ("todo" if current_found else "current")
        current_found = current_found or not done
        rows.append({"label": label, "state": state, "detail": detail})
    return rows


@login_required
@require_GET
def round_detail(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    surveys = list(selectors.round_surveys(round_))
    complaints = list(selectors.round_complaints(round_))
    user = request.user
    return render(request, "reviews/round_detail.html", {
        "round": round_, "surveys": surveys, "complaints": complaints,
        "villages": selectors.round_villages(round_),
        "events": list(selectors.round_events(round_)[:200]),
        "steps": _steps(round_, surveys, complaints, timezone.localdate()),
        "problems": services.submission_problems(round_) if round_.is_editable else [],
        "can_commune": can_do_commune_steps(user),
        "can_review": can_review(user),
        "approve_form": ApproveForm(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def round_add(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    _require_commune_steps(request)
    form = AddHouseholdsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = form.codes_list()
        found = {h.code: h for h in selectors.round_commune_households(request.user, round_, codes)}
        unknown = [code for code in codes if code not in found]
        if unknown:
            form.add_error("codes", _("No household of this commune with the code(s): %(codes)s.")
                           % {"codes": ", ".join(unknown)})
        else:
            try:
                added = services.add_households(actor=request.user, round_=round_, households=found.values())
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                messages.success(request, ngettext("%(n)d household added to the list.",
                                                   "%(n)d households added to the list.", added) % {"n": added})
                return redirect(round_)
    return render(request, "reviews/round_add.html", {"round": round_, "form": form})


@login_required
@require_POST
def round_submit(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    _require_commune_steps(request)
    try:
        services.submit_round(actor=request.user, round_=round_)
    except ValidationError as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("The list was submitted for review."))
    return redirect(round_)


@login_required
@require_POST
def round_approve(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    _require_reviewer(request)
    form = ApproveForm(request.POST)
    form.is_valid()
    try:
        services.approve_round(actor=request.user, round_=round_, comment=form.cleaned_data.get("comment", ""))
    except ValidationError as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("The list was approved."))
    return redirect(round_)


@login_required
@require_http_methods(["GET", "POST"])
def round_return(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    _require_reviewer(request)
    surveys = selectors.round_surveys(round_)
    form = ReturnForm(request.POST or None, surveys=surveys)
    if request.method == "POST" and form.is_valid():
        try:
            services.return_round(actor=request.user, round_=round_, comment=form.cleaned_data["comment"],
                                  household_comments=form.household_comments())
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("The list was returned to the commune with your comments."))
            return redirect(round_)
    return render(request, "reviews/round_return.html", {"round": round_, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def round_decision(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    _require_commune_steps(request)
    form = DecisionForm(request.POST or None, initial={"decision_date": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.record_decision(actor=request.user, round_=round_, number=data["decision_number"],
                                     decided_on=data["decision_date"], signer=data["decision_signer"])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Decision %(number)s recorded: the statuses of %(year)d are official.")
                             % {"number": data["decision_number"], "year": round_.year})
            return redirect(round_)
    return render(request, "reviews/round_decision.html", {"round": round_, "form": form})


# --- surveys ---------------------------------------------------------------------------------


def _survey_form(data, survey: Survey) -> SurveyForm:
    standard = survey.round.standard
    return SurveyForm(data, survey=survey, rules=selectors.screening_rules(standard),
                      indicators=selectors.indicators(standard))


def _preview(form: SurveyForm, survey: Survey) -> dict:
    """What the live result fragment shows for the values of a bound form."""
    rule = form.stopping_rule()
    if rule is not None:
        return {"category": Category.NONE, "label": Category.NONE.label,
                "explanation": _("Phiếu A: “yes” to question %(number)d (%(question)s) → screening stops; "
                                 "neither poor nor near-poor.") % {"number": rule.number, "question": rule.question}}
    for name in ("income", "score_a", *(indicator.code for indicator in form.indicators)):
        if form.errors.get(name):
            return {"field": form[name].label, "problem": " ".join(form.errors[name])}
    try:
        result = services.preview(survey.round, survey.household, **form.facts())
    except InvalidSurvey as exc:
        field = form[exc.field].label if exc.field in form.fields else ""
        return {"field": field, "problem": exc.message}
    return {"category": result.category, "label": Category(result.category).label,
            "explanation": result.explanation, "deprived": result.deprivation_count}


def _stored(survey: Survey) -> dict:
    if not survey.category:
        return {}
    return {"category": survey.category, "label": survey.get_category_display(), "explanation": survey.explanation,
            "stored": True}


@login_required
@require_http_methods(["GET", "POST"])
def survey_detail(request: HttpRequest, round_pk: int, pk: int) -> HttpResponse:
    survey = _or_404(selectors.survey_for_user, request.user, round_pk, pk)
    round_ = survey.round
    editable = can_do_commune_steps(request.user) and round_.is_editable
    form = _survey_form(request.POST if request.method == "POST" else None, survey)
    result = _stored(survey)
    if request.method == "POST":
        _require_commune_steps(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                # Phiếu A and Phiếu B are saved together or not at all.
                with transaction.atomic():
                    version = data.get("expected_version")
                    if form.rules:
                        survey = services.record_screening(actor=request.user, survey=survey,
                                                           answers=form.screening(), expected_version=version)
                        version = survey.version
                    if survey.status != Survey.Status.SCREENED_OUT:
                        survey = services.record_survey(actor=request.user, survey=survey,
                                                        demographic_change=data.get("demographic_change", ""),
                                                        causes=data.get("causes", []),
                                                        expected_version=version, **form.facts())
            except ValidationError as exc:
                attach_errors(form, exc)
            else:
                messages.success(request, _("Survey of household %(code)s saved: %(result)s")
                                 % {"code": survey.household.code, "result": survey.get_category_display()})
                return redirect(survey)
        result = _preview(form, survey)
    return render(request, "reviews/survey_form.html", {
        "round": round_, "survey": survey, "form": form, "editable": editable, "result": result,
    })


@login_required
@require_POST
def survey_preview(request: HttpRequest, round_pk: int, pk: int) -> HttpResponse:
    """The live result of the survey form (an HTMX fragment): classified, never saved."""
    survey = _or_404(selectors.survey_for_user, request.user, round_pk, pk)
    _require_commune_steps(request)
    form = _survey_form(request.POST, survey)
    form.is_valid()
    return render(request, "reviews/_classification.html", {"result": _preview(form, survey)})


# --- village meetings ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def meeting(request: HttpRequest, round_pk: int, village_pk: int) -> HttpResponse:
    round_ = _round(request, round_pk)
    village = _or_404(selectors.village_for_round, request.user, round_, village_pk)
    _require_commune_steps(request)
    existing = selectors.meeting_for(round_, village)
    surveys = selectors.meeting_surveys(round_, village)
    form = MeetingForm(request.POST or None, surveys=surveys, meeting=existing)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.record_meeting(actor=request.user, round_=round_, village=village, held_on=data["held_on"],
                                    attendance=data["attendance"], chaired_by=data["chaired_by"],
                                    votes=form.votes(), secretary=data["secretary"], note=data["note"])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            resurvey = sum(1 for agree in form.votes().values()
                           if not services.meeting_outcome(data["attendance"], agree))
            messages.success(request, _("Meeting of %(village)s recorded.") % {"village": village.name})
            if resurvey:
                messages.warning(request, ngettext(
                    "%(n)d household had less than half of the attendees agreeing and goes back to be surveyed "
                    "again.",
                    "%(n)d households had less than half of the attendees agreeing and go back to be surveyed "
                    "again.", resurvey) % {"n": resurvey})
            return redirect(round_)
    return render(request, "reviews/meeting_form.html", {
        "round": round_, "village": village, "form": form, "meeting": existing,
    })


@login_required
@require_GET
def meeting_minutes(request: HttpRequest, round_pk: int, village_pk: int) -> HttpResponse:
    round_ = _round(request, round_pk)
    village = _or_404(selectors.village_for_round, request.user, round_, village_pk)
    record = selectors.meeting_for(round_, village)
    if record is None:
        raise Http404(_("This village has no recorded meeting in this round."))
    surveys = record.surveys.select_related("household").order_by("household__code", "pk")
    return render(request, "reviews/meeting_minutes.html", {
        "round": round_, "village": village, "meeting": record, "surveys": surveys,
    })


# --- posting and complaints -------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def posting(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    _require_commune_steps(request)
    initial = {"posting_start": round_.posting_start or timezone.localdate(), "posting_days": round_.posting_days}
    form = PostingForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            round_ = services.record_posting(actor=request.user, round_=round_,
                                             start=form.cleaned_data["posting_start"],
                                             days=form.cleaned_data["posting_days"])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Public posting recorded: until %(end)s.")
                             % {"end": f"{round_.posting_end:%d/%m/%Y}"})
            return redirect("reviews:round", pk=round_.pk)
    return render(request, "reviews/posting_form.html", {"round": round_, "form": form})


@login_required
@require_GET
def posting_print(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    surveys = [s for s in selectors.round_surveys(round_) if s.has_result]
    return render(request, "reviews/posting_print.html", {"round": round_, "surveys": surveys,
                                                          "today": timezone.localdate()})


@login_required
@require_http_methods(["GET", "POST"])
def complaint_create(request: HttpRequest, round_pk: int) -> HttpResponse:
    round_ = _round(request, round_pk)
    _require_commune_steps(request)
    households = selectors.round_households(request.user, round_)
    form = ComplaintForm(request.POST or None, households=households,
                         initial={"received_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sent = submit_once(user=request.user, key=data.get("submission_key"), create=lambda: (
                services.record_complaint(actor=request.user, round_=round_, complainant=data["complainant"],
                                          received_on=data["received_on"], content=data["content"],
                                          household=data.get("household"))))
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            if sent.created:
                messages.success(request, _("Complaint recorded; resolve it after its re-check."))
            else:  # the same form sent twice: one complaint
                messages.info(request, ALREADY_SENT)
            return redirect(round_)
    return render(request, "reviews/complaint_form.html", {"round": round_, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def complaint_resolve(request: HttpRequest, round_pk: int, pk: int) -> HttpResponse:
    complaint = _or_404(selectors.complaint_for_user, request.user, round_pk, pk)
    _require_commune_steps(request)
    form = ResolveComplaintForm(request.POST or None, initial={"recheck_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.resolve_complaint(actor=request.user, complaint=complaint, recheck_on=data["recheck_on"],
                                       findings=data["recheck_findings"], outcome=data["outcome"])
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Complaint resolved."))
            return redirect(complaint.round)
    return render(request, "reviews/complaint_resolve.html", {
        "round": complaint.round, "complaint": complaint, "form": form,
    })


# --- printouts -----------------------------------------------------------------------------------


@login_required
@require_GET
def decision_print(request: HttpRequest, pk: int) -> HttpResponse:
    round_ = _round(request, pk)
    if round_.status != ReviewRound.Status.DECIDED:
        raise Http404(_("This round has no decision yet."))
    lists = selectors.decision_lists(round_)
    sections = [
        ("poor", _("List 1: poor households"), lists["poor"]),
        ("near_poor", _("List 2: near-poor households"), lists["near_poor"]),
        ("escaped_poor", _("List 3: households that escaped poverty"), lists["escaped_poor"]),
        ("escaped_near_poor", _("List 4: households that escaped near-poverty"), lists["escaped_near_poor"]),
    ]
    return render(request, "reviews/decision_print.html", {"round": round_, "sections": sections})


@login_required
@require_GET
def certificate(request: HttpRequest, round_pk: int, household_pk: int) -> HttpResponse:
    status = _or_404(selectors.certificate_status, request.user, round_pk, household_pk)
    return render(request, "reviews/certificate.html", {
        "status": status, "round": status.round, "household": status.household,
        "members": list(status.household.members.all()),
    })


# --- requests ------------------------------------------------------------------------------------


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    rows = services.due_requests(request.user)
    for row in rows:
        row.days_late = max(0, -row.days_left)
    return render(request, "reviews/request_list.html", {
        "requests": rows,
        "can_commune": can_do_commune_steps(request.user),
    })


@login_required
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest) -> HttpResponse:
    _require_commune_steps(request)
    initial = {}
    household_pk = request.GET.get("household", "")
    if household_pk.isdigit():
        household = _or_404(selectors.household_in_area, request.user, int(household_pk))
        initial = {"household_code": household.code, "commune_code": household.commune.code}
    form = RequestForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sent = submit_once(user=request.user, key=data.get("submission_key"), create=lambda: (
                services.create_request(actor=request.user, household=data["household"], kind=data["kind"],
                                        received_on=data["received_on"], channel=data["channel"],
                                        reason=data["reason"])))
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            if sent.created:
                messages.success(request, _("Request recorded for household %(code)s.")
                                 % {"code": data["household"].code})
            else:  # the same form sent twice: one request
                messages.info(request, ALREADY_SENT)
            return redirect("reviews:requests")
    return render(request, "reviews/request_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def request_refuse(request: HttpRequest, pk: int) -> HttpResponse:
    record = _or_404(selectors.request_for_user, request.user, pk)
    _require_commune_steps(request)
    form = RefuseForm(request.POST or None, initial={"answered_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            services.refuse_request(actor=request.user, request=record, answer=form.cleaned_data["answer"],
                                    answered_on=form.cleaned_data.get("answered_on"))
        except ValidationError as exc:
            attach_errors(form, exc)
        else:
            messages.success(request, _("Request refused with reasons."))
            return redirect("reviews:requests")
    return render(request, "reviews/request_refuse.html", {"record": record, "form": form})
