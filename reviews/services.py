"""Every step of a review round is a function here.

Each one checks the user's right and the round's state, locks the round row,
records who did what and why (a ReviewEvent, and AuditEvents for households
whose classification changes), and refuses an illegal step with a message that
says what is wrong. Views, the admin and the demo all call these.

The procedure is Decision 24/2021/QĐ-TTg: list → survey (Phiếu A, Phiếu B) →
village meeting (≥ 50% agreement) → public posting and complaints → report to
the level above → the commune chairman's decision (Mẫu 02).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from core.audit import Change, diff, record_many, record_write, snapshot
from core.models import AuditEvent
from core.permissions import Action, require
from core.text import nfc
from geo.models import AdminUnit
from households.models import Household, Village
from households.services import queue_summary_refresh

from .classification import InvalidSurvey, Result, Rules, classify
from .models import (
    Category,
    Complaint,
    HouseholdStatus,
    PovertyCause,
    PovertyStandard,
    Request,
    ReviewEvent,
    ReviewRound,
    ScreeningRule,
    Survey,
    VillageMeeting,
)

Movement = HouseholdStatus.Movement
FORM = AuditEvent.Source.FORM
# The audited values of each record the review writes (core.audit: before and after).
SURVEY_FIELDS = ("status", "screening", "income", "score_a", "is_farm", "deprivations", "demographic_change",
                 "causes", "category", "deprivation_count", "deprived", "income_gap", "standard_code", "meeting",
                 "votes_agree")
MEETING_FIELDS = ("round", "village", "held_on", "attendance", "chaired_by", "secretary", "note")
POSTING_FIELDS = ("posting_start", "posting_days")
COMPLAINT_FIELDS = ("round", "household", "complainant", "received_on", "content", "recheck_on", "recheck_findings",
                    "outcome")
REQUEST_FIELDS = ("household", "kind", "received_on", "channel", "reason", "status", "answered_on", "answer",
                  "answered_by")
ON_LISTS = (Category.POOR, Category.NEAR_POOR)
# Households that left the lists this many years ago or less are "newly escaped"
# (Decision 90/QĐ-TTg/2022 and the supports that follow it).
NEWLY_ESCAPED_YEARS = 3


class StepRefused(ValidationError):
    """A step that the round's state or the user's role does not allow."""


# --- standards ------------------------------------------------------------------


def standard_for(year: int, commune: AdminUnit) -> PovertyStandard:
    """The standard a year's review uses in a commune: the province's own first, else the national one."""
    candidates = PovertyStandard.objects.filter(first_year__lte=year, last_year__gte=year)
    own = candidates.filter(province_id=commune.province_id).first()
    if own is not None:
        return own
    national = candidates.filter(province__isnull=True).order_by("-first_year").first()
    if national is None:
        raise ValidationError({"year": _("No poverty standard covers the year %(year)d.") % {"year": year}})
    return national


def standard_by_code(code: str) -> PovertyStandard:
    try:
        return PovertyStandard.objects.get(code=code)
    except PovertyStandard.DoesNotExist:
        raise ValidationError(
            {"standard": _("There is no poverty standard with the code “%(code)s”.") % {"code": code}}
        ) from None


def rules_of(standard: PovertyStandard) -> Rules:
    return Rules.from_standard(standard)


# --- rights -----------------------------------------------------------------------


def check_commune_step(actor, round_: ReviewRound) -> None:
    """The commune's own steps: its officer (or a superuser)."""
    require(actor, Action.COMMUNE_REVIEW_STEPS, round_.commune_id)


def check_reviewer(actor, round_: ReviewRound) -> None:
    """Approving or returning a list: the reviewer of the unit above the commune (or a superuser)."""
    require(actor, Action.REVIEW_LISTS, round_.commune_id)


def _lock(round_: ReviewRound) -> ReviewRound:
    return ReviewRound.objects.select_for_update().select_related("commune", "standard").get(pk=round_.pk)


def _require_editable(round_: ReviewRound) -> None:
    if not round_.is_editable:
        raise StepRefused(
            _("The list can no longer be changed: it is “%(status)s”.") % {"status": round_.get_status_display()}
        )


def _event(round_: ReviewRound, actor, action: str, comment: str = "") -> ReviewEvent:
    return ReviewEvent.objects.create(round=round_, actor=actor, action=action, comment=comment)


# --- rounds and their list --------------------------------------------------------------


def open_round(*, actor, commune: AdminUnit, year: int, kind: str = ReviewRound.Kind.PERIODIC,
               month: int = 0) -> ReviewRound:
    """Open a round and build its list.

    A periodic round lists the commune's current poor and near-poor households
    plus every open request; a regular (monthly) round lists the open requests.
    """
    require(actor, Action.COMMUNE_REVIEW_STEPS, commune)
    if commune.level != AdminUnit.Level.COMMUNE:
        raise ValidationError({"commune": _("A review round belongs to a commune.")})
    if kind == ReviewRound.Kind.PERIODIC:
        month = 0
    elif not 1 <= (month or 0) <= 12:
        raise ValidationError({"month": _("A regular review needs the month of its batch (1–12).")})
    standard = standard_for(year, commune)
    with transaction.atomic():
        if ReviewRound.objects.filter(commune=commune, year=year, kind=kind, month=month).exists():
            raise ValidationError({"year": _("This commune already has that round.")})
        round_ = ReviewRound.objects.create(commune=commune, year=year, kind=kind, month=month,
                                            standard=standard, opened_by=actor)
        _event(round_, actor, ReviewEvent.Action.OPENED)
        surveys: dict[int, Survey] = {}
        if kind == ReviewRound.Kind.PERIODIC:
            for household in Household.objects.filter(commune=commune, is_archived=False,
                                                       classification__in=ON_LISTS):
                surveys[household.pk] = Survey(round=round_, household=household, origin=Survey.Origin.CURRENT_LIST,
                                               previous_category=household.classification,
                                               is_farm=household.is_farm)
        requests = list(Request.objects.select_related("household").filter(
            household__commune=commune, household__is_archived=False, status=Request.Status.OPEN))
        for request in requests:
            if request.household_id not in surveys:
                surveys[request.household_id] = Survey(
                    round=round_, household=request.household, origin=Survey.Origin.REQUEST, request=request,
                    previous_category=request.household.classification, is_farm=request.household.is_farm)
            elif surveys[request.household_id].request is None:
                surveys[request.household_id].request = request
        Survey.objects.bulk_create(surveys.values())
        Request.objects.filter(pk__in=[r.pk for r in requests]).update(status=Request.Status.IN_ROUND, round=round_)
    return round_


def add_households(*, actor, round_: ReviewRound, households: Iterable[Household]) -> int:
    """Extend the list by hand (a household the commune knows needs a look)."""
    check_commune_step(actor, round_)
    with transaction.atomic():
        round_ = _lock(round_)
        _require_editable(round_)
        listed = set(round_.surveys.values_list("household_id", flat=True))
        new = []
        for household in households:
            if household.commune_id != round_.commune_id:
                raise ValidationError({"household": _("Household %(code)s is not of this commune.")
                                       % {"code": household.code}})
            if household.is_archived:
                raise ValidationError({"household": _("Household %(code)s is archived.") % {"code": household.code}})
            if household.pk not in listed:
                listed.add(household.pk)
                new.append(Survey(round=round_, household=household, origin=Survey.Origin.MANUAL,
                                  previous_category=household.classification, is_farm=household.is_farm))
        Survey.objects.bulk_create(new)
        if new:
            _event(round_, actor, ReviewEvent.Action.LISTED,
                   ", ".join(s.household.code for s in new))
    return len(new)


# --- surveys --------------------------------------------------------------------------------------


def _lock_survey(survey: Survey) -> tuple[ReviewRound, Survey]:
    round_ = _lock(survey.round)
    locked = Survey.objects.select_for_update().select_related("household").get(pk=survey.pk)
    return round_, locked


def _check_version(survey: Survey, expected_version: int | None) -> None:
    if expected_version is not None and survey.version != expected_version:
        raise StepRefused(_("This survey was changed by someone else after you opened it; open it again."))


def record_screening(*, actor, survey: Survey, answers: Mapping[int, bool],
                     expected_version: int | None = None, source: str = FORM) -> Survey:
    """Phiếu A. A "yes" to a rule that stops ends the screening: the household is not poor or near-poor."""
    check_commune_step(actor, survey.round)
    with transaction.atomic():
        round_, survey = _lock_survey(survey)
        _require_editable(round_)
        _check_version(survey, expected_version)
        before = snapshot(survey, SURVEY_FIELDS)
        rules = list(ScreeningRule.objects.filter(standard=round_.standard, is_active=True))
        missing = [rule for rule in rules if not isinstance(answers.get(rule.number), bool)]
        if missing:
            raise ValidationError({f"q{missing[0].number}": _("Answer question %(number)d of Phiếu A.")
                                   % {"number": missing[0].number}})
        survey.screening = {str(rule.number): answers[rule.number] for rule in rules}
        stopping = [rule for rule in rules if rule.stops and answers[rule.number]]
        if stopping:
            with translation.override("vi"):
                explanation = _("Phiếu A: “yes” to question %(number)d (%(question)s) → screening stops; "
                                "neither poor nor near-poor.") % {"number": stopping[0].number,
                                                                  "question": stopping[0].question}
            _set_result(survey, round_, actor, Category.NONE, (), None, explanation)
            survey.status = Survey.Status.SCREENED_OUT
        elif survey.status == Survey.Status.SCREENED_OUT:
            survey.status = Survey.Status.PENDING
            survey.category, survey.explanation, survey.standard_code = "", "", ""
        survey.version = F("version") + 1
        survey.save()
        if stopping:
            _event(round_, actor, ReviewEvent.Action.SURVEYED, survey.household.code)
        queue_summary_refresh(round_.commune_id)  # the preliminary figures follow the survey
        survey.refresh_from_db()
        record_write(survey, SURVEY_FIELDS, before, actor=actor, source=source, household_id=survey.household_id)
    return survey


def _set_result(survey: Survey, round_: ReviewRound, actor, category: str, deprived, gap, explanation) -> None:
    survey.category = category
    survey.deprived = list(deprived)
    survey.deprivation_count = len(deprived)
    survey.income_gap = gap
    survey.explanation = explanation
    survey.standard_code = round_.standard.code
    survey.surveyed_at = timezone.now()
    survey.surveyed_by = actor


def preview(round_: ReviewRound, household: Household, **facts: Any) -> Result:
    """The classification a survey would get, without saving (the form's live result)."""
    return classify(rules_of(round_.standard), area=household.area, year=round_.year, **facts)


def clean_causes(causes: Iterable[str] | None, category: str) -> list[str]:
    """The causes of poverty kept with a survey: known codes, in the list's order, only for a household
    found poor or near-poor (the others are not asked); an unknown code is refused."""
    given = set(causes or ())
    unknown = sorted(given - set(PovertyCause.values))
    if unknown:
        raise ValidationError({"causes": _("Unknown cause of poverty: %(codes)s.") % {"codes": ", ".join(unknown)}})
    if category not in (Category.POOR, Category.NEAR_POOR):
        return []
    return [code for code in PovertyCause.values if code in given]


def record_survey(*, actor, survey: Survey, deprivations: Mapping[str, bool], income: int | None = None,
                  score_a: int | None = None, is_farm: bool = False, demographic_change: str = "",
                  causes: Iterable[str] | None = None, expected_version: int | None = None,
                  source: str = FORM) -> Survey:
    """Phiếu B: store the facts and their classification (with the standard's code), and for a poor or
    near-poor household the causes of its poverty."""
    check_commune_step(actor, survey.round)
    with transaction.atomic():
        round_, survey = _lock_survey(survey)
        _require_editable(round_)
        _check_version(survey, expected_version)
        if survey.status == Survey.Status.SCREENED_OUT:
            raise StepRefused(_("This household stopped at Phiếu A; change its Phiếu A answers first."))
        before = snapshot(survey, SURVEY_FIELDS)
        rules = rules_of(round_.standard)
        facts = {"area": survey.household.area, "deprivations": deprivations, "income": income,
                 "score_a": score_a, "is_farm": is_farm, "year": round_.year}
        try:
            classify(rules, **facts)  # refusals in the user's language
        except InvalidSurvey as exc:
            raise ValidationError({exc.field: exc.message}) from None
        with translation.override("vi"):  # the stored explanation is Vietnamese
            result = classify(rules, **facts)
        if demographic_change and demographic_change not in Survey.Demographic.values:
            raise ValidationError({"demographic_change": _("Choose a demographic change from the list.")})
        survey.income, survey.score_a, survey.is_farm = income, score_a, is_farm
        survey.deprivations = {code: bool(deprivations[code]) for code in rules.indicators}
        survey.demographic_change = demographic_change
        # None keeps the causes already given (a file without the column, say).
        survey.causes = clean_causes(survey.causes if causes is None else causes, result.category)
        _set_result(survey, round_, actor, result.category, result.deprived, result.income_gap, result.explanation)
        resurveyed = survey.status == Survey.Status.RESURVEY
        survey.status = Survey.Status.SURVEYED
        if resurveyed:
            # A new result goes back to the village meeting.
            survey.meeting, survey.votes_agree = None, None
        survey.version = F("version") + 1
        survey.save()
        _event(round_, actor, ReviewEvent.Action.SURVEYED, survey.household.code)
        queue_summary_refresh(round_.commune_id)  # the preliminary figures follow the survey
        survey.refresh_from_db()
        record_write(survey, SURVEY_FIELDS, before, actor=actor, source=source, household_id=survey.household_id)
    return survey


def record_surveys(*, actor, round_: ReviewRound, entries: Iterable[tuple[Survey, Mapping[str, Any]]],
                   source: str = FORM) -> int:
    """Phiếu B for many households of one round at once (a commune's whole list, the demo).

    The same checks and result as `record_survey`, all or nothing: one bad
    survey refuses the lot, naming the household and the field.
    """
    check_commune_step(actor, round_)
    with transaction.atomic():
        round_ = _lock(round_)
        _require_editable(round_)
        rules = rules_of(round_.standard)
        entries = list(entries)
        locked = {s.pk: s for s in Survey.objects.select_for_update().select_related("household").filter(
            round=round_, pk__in=[survey.pk for survey, _facts in entries])}
        changed, events, audits = [], [], []
        for given, facts in entries:
            survey = locked.get(given.pk)
            if survey is None:
                raise ValidationError({"survey": _("A survey of another round was submitted.")})
            survey.round = round_  # named by its audit event; one query fewer per survey
            facts = {"income": None, "score_a": None, "is_farm": False, **facts}
            demographic = facts.pop("demographic_change", "")
            causes = facts.pop("causes", None)
            code = survey.household.code
            if survey.status == Survey.Status.SCREENED_OUT:
                raise StepRefused(_("Household %(code)s stopped at Phiếu A.") % {"code": code})
            before = snapshot(survey, SURVEY_FIELDS)
            try:
                classify(rules, area=survey.household.area, year=round_.year, **facts)
            except InvalidSurvey as exc:
                raise ValidationError({exc.field: _("Household %(code)s: %(message)s") % {
                    "code": code, "message": exc.message}}) from None
            with translation.override("vi"):
                result = classify(rules, area=survey.household.area, year=round_.year, **facts)
            survey.income, survey.score_a, survey.is_farm = facts["income"], facts["score_a"], facts["is_farm"]
            survey.deprivations = {c: bool(facts["deprivations"][c]) for c in rules.indicators}
            survey.demographic_change = demographic
            try:
                survey.causes = clean_causes(survey.causes if causes is None else causes, result.category)
            except ValidationError as exc:
                raise ValidationError({"causes": _("Household %(code)s: %(message)s") % {
                    "code": code, "message": exc.message_dict["causes"][0]}}) from None
            _set_result(survey, round_, actor, result.category, result.deprived, result.income_gap,
                        result.explanation)
            if survey.status == Survey.Status.RESURVEY:
                survey.meeting, survey.votes_agree = None, None
            survey.status = Survey.Status.SURVEYED
            survey.version += 1
            changed.append(survey)
            audits.append(Change(survey, AuditEvent.Action.UPDATE, diff(before, snapshot(survey, SURVEY_FIELDS)),
                                 survey.household_id))
            events.append(ReviewEvent(round=round_, actor=actor, action=ReviewEvent.Action.SURVEYED, comment=code))
        # One plain UPDATE a survey: far cheaper than bulk_update's CASE over every row.
        for survey in changed:
            Survey.objects.filter(pk=survey.pk).update(**{name: getattr(survey, name) for name in (
                "income", "score_a", "is_farm", "deprivations", "demographic_change", "causes", "category", "deprived",
                "deprivation_count", "income_gap", "explanation", "standard_code", "surveyed_at", "surveyed_by",
                "meeting", "votes_agree", "status", "version")})
        ReviewEvent.objects.bulk_create(events, batch_size=1000)
        record_many(audits, actor=actor, source=source)
        queue_summary_refresh(round_.commune_id)
    return len(changed)


# --- village meeting -------------------------------------------------------------------------------


def meeting_outcome(attendance: int, agree: int) -> bool:
    """A result stands when at least half of the attendees agree (Decision 24/2021, Art. 4)."""
    return 2 * agree >= attendance


def record_meeting(*, actor, round_: ReviewRound, village: Village, held_on: date, attendance: int,
                   chaired_by: str, votes: Mapping[int, int], secretary: str = "", note: str = "",
                   source: str = FORM) -> VillageMeeting:
    """Record a village meeting and the number agreeing with each household's result.

    Below half of the attendees sends the household back to be surveyed again.
    """
    check_commune_step(actor, round_)
    if village.commune_id != round_.commune_id:
        raise ValidationError({"village": _("This village is not of the round's commune.")})
    errors: dict[str, str] = {}
    if not attendance or attendance < 1:
        errors["attendance"] = _("Enter how many people attended (at least one).")
    if not nfc(chaired_by):
        errors["chaired_by"] = _("Enter who chaired the meeting.")
    if held_on and held_on > timezone.localdate():
        errors["held_on"] = _("The meeting date is in the future.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        round_ = _lock(round_)
        _require_editable(round_)
        surveys = {s.pk: s for s in round_.surveys.select_for_update(of=("self",)).select_related("household").filter(
            household__village=village, status=Survey.Status.SURVEYED)}
        for survey_id, agree in votes.items():
            if survey_id not in surveys:
                raise ValidationError({"votes": _("A household that is not awaiting this village's meeting "
                                                  "was submitted.")})
            if agree is None or agree < 0 or agree > attendance:
                raise ValidationError({f"votes_{survey_id}": _(
                    "Household %(code)s: the number agreeing must be between 0 and the attendance (%(n)d).")
                    % {"code": surveys[survey_id].household.code, "n": attendance}})
        existing = VillageMeeting.objects.select_for_update().filter(round=round_, village=village).first()
        meeting_before = None if existing is None else snapshot(existing, MEETING_FIELDS)
        meeting, _created = VillageMeeting.objects.update_or_create(
            round=round_, village=village,
            defaults={"held_on": held_on, "attendance": attendance, "chaired_by": nfc(chaired_by),
                      "secretary": nfc(secretary), "note": nfc(note), "recorded_by": actor},
        )
        record_write(meeting, MEETING_FIELDS, meeting_before, actor=actor, source=source)
        audits = []
        for survey_id, agree in votes.items():
            survey = surveys[survey_id]
            before = snapshot(survey, SURVEY_FIELDS)
            survey.meeting, survey.votes_agree = meeting, agree
            if not meeting_outcome(attendance, agree):
                survey.status = Survey.Status.RESURVEY
            survey.version = F("version") + 1
            survey.save(update_fields=["meeting", "votes_agree", "status", "version"])
            audits.append(Change(survey, AuditEvent.Action.UPDATE, diff(before, snapshot(survey, SURVEY_FIELDS)),
                                 survey.household_id))
        record_many(audits, actor=actor, source=source)
        _event(round_, actor, ReviewEvent.Action.MEETING, f"{village.name}: {held_on:%d/%m/%Y}")
    return meeting


# --- posting and complaints ------------------------------------------------------------------------


def record_posting(*, actor, round_: ReviewRound, start: date, days: int, source: str = FORM) -> ReviewRound:
    check_commune_step(actor, round_)
    if start is None:
        raise ValidationError({"posting_start": _("Enter the day the posting started.")})
    if not days or not 1 <= days <= 30:
        raise ValidationError({"posting_days": _("The posting period is between 1 and 30 working days.")})
    if start > timezone.localdate():
        raise ValidationError({"posting_start": _("The posting cannot start in the future.")})
    with transaction.atomic():
        round_ = _lock(round_)
        _require_editable(round_)
        before = snapshot(round_, POSTING_FIELDS)
        round_.posting_start, round_.posting_days = start, days
        round_.save(update_fields=["posting_start", "posting_days"])
        record_write(round_, POSTING_FIELDS, before, actor=actor, source=source)
        _event(round_, actor, ReviewEvent.Action.POSTED, f"{start:%d/%m/%Y} + {days}")
    return round_


def record_complaint(*, actor, round_: ReviewRound, complainant: str, received_on: date, content: str,
                     household: Household | None = None, source: str = FORM) -> Complaint:
    check_commune_step(actor, round_)
    errors = {}
    if not nfc(complainant):
        errors["complainant"] = _("Enter who made the complaint.")
    if not nfc(content):
        errors["content"] = _("Enter what the complaint says.")
    if received_on is None:
        errors["received_on"] = _("Enter the day the complaint was received.")
    elif received_on > timezone.localdate():
        errors["received_on"] = _("The day received is in the future.")
    if household is not None and household.commune_id != round_.commune_id:
        errors["household"] = _("This household is not of the round's commune.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        round_ = _lock(round_)
        _require_editable(round_)
        complaint = Complaint.objects.create(round=round_, household=household, complainant=nfc(complainant),
                                             received_on=received_on, content=nfc(content), created_by=actor)
        record_write(complaint, COMPLAINT_FIELDS, None, actor=actor, source=source,
                     household_id=complaint.household_id)
        _event(round_, actor, ReviewEvent.Action.COMPLAINT, complaint.complainant)
    return complaint


def resolve_complaint(*, actor, complaint: Complaint, recheck_on: date, findings: str, outcome: str,
                      source: str = FORM) -> Complaint:
    """Close a complaint after its re-check (phúc tra)."""
    check_commune_step(actor, complaint.round)
    errors = {}
    if recheck_on is None:
        errors["recheck_on"] = _("Enter the day of the re-check.")
    elif recheck_on < complaint.received_on:
        errors["recheck_on"] = _("The re-check cannot come before the complaint.")
    elif recheck_on > timezone.localdate():
        errors["recheck_on"] = _("The re-check date is in the future.")
    if not nfc(findings):
        errors["recheck_findings"] = _("Enter what the re-check found.")
    if outcome not in Complaint.Outcome.values:
        errors["outcome"] = _("Choose the outcome.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        round_ = _lock(complaint.round)
        _require_editable(round_)
        complaint = Complaint.objects.select_for_update().get(pk=complaint.pk)
        if not complaint.is_open:
            raise StepRefused(_("This complaint is already resolved."))
        before = snapshot(complaint, COMPLAINT_FIELDS)
        complaint.recheck_on, complaint.recheck_findings, complaint.outcome = recheck_on, nfc(findings), outcome
        complaint.resolved_at, complaint.resolved_by = timezone.now(), actor
        complaint.save()
        record_write(complaint, COMPLAINT_FIELDS, before, actor=actor, source=source,
                     household_id=complaint.household_id)
        _event(round_, actor, ReviewEvent.Action.COMPLAINT_RESOLVED,
               f"{complaint.complainant}: {complaint.get_outcome_display()}")
    return complaint


# --- submission, review, decision --------------------------------------------------------------


def submission_problems(round_: ReviewRound, today: date | None = None) -> list[str]:
    """What still stands between the round and its submission (empty when it may be submitted)."""
    today = today or timezone.localdate()
    problems = []
    surveys = list(round_.surveys.select_related("household"))
    if not surveys:
        problems.append(_("The list has no household."))
    pending = [s for s in surveys if s.status == Survey.Status.PENDING]
    if pending:
        problems.append(_("%(n)d household(s) not yet surveyed.") % {"n": len(pending)})
    resurvey = [s for s in surveys if s.status == Survey.Status.RESURVEY]
    if resurvey:
        problems.append(_("%(n)d household(s) to survey again after the village meeting.") % {"n": len(resurvey)})
    unmet = [s for s in surveys if s.status == Survey.Status.SURVEYED and s.votes_agree is None]
    if unmet:
        problems.append(_("%(n)d household(s) not yet agreed in a village meeting.") % {"n": len(unmet)})
    if round_.posting_start is None:
        problems.append(_("The public posting has not been recorded."))
    elif round_.posting_end >= today:
        problems.append(_("The public posting runs until %(date)s.") % {"date": f"{round_.posting_end:%d/%m/%Y}"})
    open_complaints = round_.complaints.filter(outcome="").count()
    if open_complaints:
        problems.append(_("%(n)d complaint(s) still open.") % {"n": open_complaints})
    return problems


def submit_round(*, actor, round_: ReviewRound) -> ReviewRound:
    check_commune_step(actor, round_)
    with transaction.atomic():
        round_ = _lock(round_)
        _require_editable(round_)
        problems = submission_problems(round_)
        if problems:
            raise StepRefused(_("The list cannot be submitted yet: %(problems)s") % {"problems": " ".join(problems)})
        round_.status, round_.submitted_at, round_.submitted_by = ReviewRound.Status.SUBMITTED, timezone.now(), actor
        round_.save(update_fields=["status", "submitted_at", "submitted_by"])
        _event(round_, actor, ReviewEvent.Action.SUBMITTED)
    return round_


def approve_round(*, actor, round_: ReviewRound, comment: str = "") -> ReviewRound:
    check_reviewer(actor, round_)
    with transaction.atomic():
        # The row lock makes two reviewers approving at once take turns; the
        # second then finds the list approved and is refused.
        round_ = _lock(round_)
        if round_.status != ReviewRound.Status.SUBMITTED:
            raise StepRefused(_("Only a submitted list can be approved; this one is “%(status)s”.")
                              % {"status": round_.get_status_display()})
        round_.status, round_.reviewed_at, round_.reviewed_by = ReviewRound.Status.APPROVED, timezone.now(), actor
        round_.review_comment = nfc(comment)
        round_.save(update_fields=["status", "reviewed_at", "reviewed_by", "review_comment"])
        _event(round_, actor, ReviewEvent.Action.APPROVED, round_.review_comment)
    return round_


def return_round(*, actor, round_: ReviewRound, comment: str,
                 household_comments: Mapping[int, str] | None = None) -> ReviewRound:
    """Send the list back to the commune with comments on the list and, optionally, on households."""
    check_reviewer(actor, round_)
    comment = nfc(comment)
    if not comment:
        raise ValidationError({"comment": _("Say why the list is returned.")})
    with transaction.atomic():
        round_ = _lock(round_)
        if round_.status != ReviewRound.Status.SUBMITTED:
            raise StepRefused(_("Only a submitted list can be returned; this one is “%(status)s”.")
                              % {"status": round_.get_status_display()})
        notes = {pk: nfc(text) for pk, text in (household_comments or {}).items() if nfc(text)}
        surveys = {s.pk: s for s in round_.surveys.filter(pk__in=notes)}
        if set(notes) - set(surveys):
            raise ValidationError({"comment": _("A comment names a household that is not on this list.")})
        for pk, text in notes.items():
            surveys[pk].reviewer_comment = text
            surveys[pk].save(update_fields=["reviewer_comment"])
        round_.status, round_.reviewed_at, round_.reviewed_by = ReviewRound.Status.RETURNED, timezone.now(), actor
        round_.review_comment = comment
        round_.save(update_fields=["status", "reviewed_at", "reviewed_by", "review_comment"])
        _event(round_, actor, ReviewEvent.Action.RETURNED, comment)
    return round_


def movement(previous: str, new: str, *, was_poor_before: bool, demographic: str = "") -> str:
    """The one movement of a household over the year (form 7.2 of Circular 07/2021)."""
    if demographic:
        return demographic
    if previous == new or (previous not in ON_LISTS and new not in ON_LISTS):
        return Movement.UNCHANGED
    if previous == Category.POOR:
        return Movement.ESCAPED_TO_NEAR_POOR if new == Category.NEAR_POOR else Movement.ESCAPED_ABOVE
    if previous == Category.NEAR_POOR:
        return Movement.NEAR_POOR_TO_POOR if new == Category.POOR else Movement.ESCAPED_NEAR_POVERTY
    if new == Category.POOR:
        return Movement.RE_POOR if was_poor_before else Movement.NEWLY_POOR
    return Movement.NEWLY_NEAR_POOR


def record_decision(*, actor, round_: ReviewRound, number: str, decided_on: date, signer: str) -> ReviewRound:
    """The commune chairman's decision (Mẫu 02): the year's statuses become official.

    Every household on the list gets its result; in a periodic round every other
    active household of the commune keeps its classification for the year. Each
    gets one movement, and its classification on the register follows, audited.
    """
    check_commune_step(actor, round_)
    errors = {}
    number, signer = nfc(number), nfc(signer)
    if not number:
        errors["decision_number"] = _("Enter the decision's number.")
    if decided_on is None:
        errors["decision_date"] = _("Enter the decision's date.")
    elif decided_on > timezone.localdate():
        errors["decision_date"] = _("The decision date is in the future.")
    if not signer:
        errors["decision_signer"] = _("Enter who signed the decision.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        round_ = _lock(round_)
        if round_.status != ReviewRound.Status.APPROVED:
            raise StepRefused(_("A decision is recorded only after the list is approved; this one is “%(status)s”.")
                              % {"status": round_.get_status_display()})
        if round_.submitted_at and decided_on < timezone.localtime(round_.submitted_at).date():
            raise ValidationError({"decision_date": _("The decision cannot come before the list was submitted.")})
        _make_official(actor, round_, decided_on, number)
        round_.status = ReviewRound.Status.DECIDED
        round_.decision_number, round_.decision_date, round_.decision_signer = number, decided_on, signer
        round_.decided_at, round_.decided_by = timezone.now(), actor
        round_.save(update_fields=["status", "decision_number", "decision_date", "decision_signer", "decided_at",
                                   "decided_by"])
        round_.requests.filter(status=Request.Status.IN_ROUND).update(
            status=Request.Status.DECIDED, answered_on=decided_on,
            answer=_("Decided by decision %(number)s of %(date)s.") % {"number": number,
                                                                      "date": f"{decided_on:%d/%m/%Y}"})
        _event(round_, actor, ReviewEvent.Action.DECIDED, f"{number} – {decided_on:%d/%m/%Y} – {signer}")
        queue_summary_refresh(round_.commune_id)
    return round_


def _make_official(actor, round_: ReviewRound, decided_on: date, number: str) -> None:
    surveys = {s.household_id: s for s in round_.surveys.select_related("household")}
    scope = Q(pk__in=surveys)
    if round_.kind == ReviewRound.Kind.PERIODIC:
        scope |= Q(commune=round_.commune_id, is_archived=False)
    households = list(Household.objects.select_for_update().filter(scope).order_by("pk"))
    ever_poor = set(HouseholdStatus.objects.filter(
        household__in=households, category=Category.POOR).values_list("household_id", flat=True))
    statuses, changes, by_category = [], [], {}
    for household in households:
        survey = surveys.get(household.pk)
        previous = household.classification
        new = survey.category if survey is not None else previous
        statuses.append(HouseholdStatus(
            household=household, year=round_.year, category=new, previous_category=previous,
            movement=movement(previous, new, was_poor_before=household.pk in ever_poor,
                              demographic=survey.demographic_change if survey else ""),
            round=round_, survey=survey, standard_code=survey.standard_code if survey else round_.standard.code,
            decided_on=decided_on,
        ))
        # A household on no list has no year of classification (as in the exchange format's "Không").
        year = None if new == Category.NONE else round_.year
        if new != previous or household.classification_year != year:
            by_category.setdefault(new, []).append(household.pk)
            change = {"classification_year": [household.classification_year, year]}
            if new != previous:
                change["classification"] = [previous, new]
            changes.append(Change(household, AuditEvent.Action.UPDATE, change, household.pk,
                                  reason=_("Decision %(number)s") % {"number": number}))
    HouseholdStatus.objects.bulk_create(statuses, batch_size=2000)
    for category, pks in by_category.items():
        Household.objects.filter(pk__in=pks).update(
            classification=category, classification_year=None if category == Category.NONE else round_.year,
            version=F("version") + 1,
            updated_by=actor, updated_at=timezone.now())
    record_many(changes, actor=actor, source=AuditEvent.Source.REVIEW, batch=f"round-{round_.pk}")


# --- requests ---------------------------------------------------------------------------------------


def create_request(*, actor, household: Household, kind: str, received_on: date, channel: str,
                   reason: str = "", source: str = FORM) -> Request:
    require(actor, Action.COMMUNE_REVIEW_STEPS, household.commune_id)
    errors = {}
    if kind not in Request.Kind.values:
        errors["kind"] = _("Choose the form: Mẫu 01 or Mẫu 04.")
    if channel not in Request.Channel.values:
        errors["channel"] = _("Choose how the request was received.")
    if received_on is None:
        errors["received_on"] = _("Enter the day the request was received.")
    elif received_on > timezone.localdate():
        errors["received_on"] = _("The day received is in the future.")
    if household.is_archived:
        errors["household"] = _("This household is archived.")
    if kind == Request.Kind.EXIT and household.classification not in ON_LISTS:
        errors["kind"] = _("Only a poor or near-poor household asks to leave the list.")
    if errors:
        raise ValidationError(errors)
    if Request.objects.filter(household=household, kind=kind,
                              status__in=[Request.Status.OPEN, Request.Status.IN_ROUND]).exists():
        raise ValidationError({"kind": _("This household already has an unanswered request of this form.")})
    with transaction.atomic():
        request = Request.objects.create(household=household, kind=kind, received_on=received_on, channel=channel,
                                         reason=nfc(reason), created_by=actor)
        record_write(request, REQUEST_FIELDS, None, actor=actor, source=source, household_id=household.pk)
    return request


def refuse_request(*, actor, request: Request, answer: str, answered_on: date | None = None,
                   source: str = FORM) -> Request:
    """Answer a request with a reasoned refusal (it then leaves the list of what is due)."""
    require(actor, Action.COMMUNE_REVIEW_STEPS, request.household.commune_id)
    answer = nfc(answer)
    if not answer:
        raise ValidationError({"answer": _("Give the reasons for the refusal.")})
    answered_on = answered_on or timezone.localdate()
    with transaction.atomic():
        request = Request.objects.select_for_update().get(pk=request.pk)
        if request.is_closed:
            raise StepRefused(_("This request is already answered."))
        if request.status == Request.Status.IN_ROUND:
            raise StepRefused(_("This request is on a round's list: it is answered by the round's decision."))
        before = snapshot(request, REQUEST_FIELDS)
        request.status, request.answer, request.answered_on = Request.Status.REFUSED, answer, answered_on
        request.answered_by = actor
        request.save(update_fields=["status", "answer", "answered_on", "answered_by"])
        record_write(request, REQUEST_FIELDS, before, actor=actor, source=source, household_id=request.household_id,
                     reason=answer)
    return request


# --- derived facts ------------------------------------------------------------------------------------


def newly_escaped_since(on: date) -> date:
    """Households that left the lists on or after this date are still "newly escaped" on `on`."""
    try:
        return on.replace(year=on.year - NEWLY_ESCAPED_YEARS)
    except ValueError:  # 29 February
        return on.replace(year=on.year - NEWLY_ESCAPED_YEARS, day=28)


def is_newly_escaped(statuses: Iterable[HouseholdStatus], on: date) -> bool:
    """Left the poor or near-poor list at most three years before `on` and not back on it since.

    `statuses` are a household's official statuses (any order); only those decided by `on` count.
    """
    known = sorted((s for s in statuses if s.decided_on <= on), key=lambda s: (s.decided_on, s.pk or 0))
    if not known or known[-1].category in ON_LISTS:
        return False
    left_on = None
    for status in known:
        if status.previous_category in ON_LISTS and status.category not in ON_LISTS:
            left_on = status.decided_on
        elif status.category in ON_LISTS:
            left_on = None
    return left_on is not None and left_on >= newly_escaped_since(on)


def due_requests(user, today: date | None = None):
    """Unanswered requests in the user's area with their due dates, the late ones first."""
    today = today or timezone.localdate()
    open_ = Request.objects.for_user(user).filter(
        status__in=[Request.Status.OPEN, Request.Status.IN_ROUND]).select_related("household", "household__commune")
    rows = sorted(open_, key=lambda r: r.received_on)
    for request in rows:
        request.is_late = request.due_on < today
        request.days_left = (request.due_on - today).days
    return rows
