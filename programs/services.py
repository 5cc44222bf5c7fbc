"""Every write to support records goes through these functions.

Each checks the user's area and role, checks the values and refuses bad input
with a message naming the field (nothing is saved then), writes inside one
transaction, and records an audit event for what concerns a household. Nothing
is deleted: a support is cancelled, an activity archived, a registration withdrawn.

Rights: the commune officer (or a superuser) records what the commune gives and
does; budgets are allocated from above (the reviewer's unit or the province) and
disbursed by the commune.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import Change, diff, record, record_many, record_write, snapshot
from core.models import AuditEvent
from core.permissions import Action, in_area, require
from core.text import nfc
from geo.models import AdminUnit
from households.models import Household, Member
from reviews.models import Category, HouseholdStatus, ReviewRound, Survey

from .models import (
    BudgetAllocation,
    CourseLearner,
    EscapeRegistration,
    FundingSource,
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

ON_LISTS = (Category.POOR, Category.NEAR_POOR)
INTERVENTION_FIELDS = ("household", "member", "program", "given_on", "kind", "quantity", "amount", "funding_source",
                       "status", "house_work", "note", "cancel_reason")
FORM = AuditEvent.Source.FORM
# The audited values of the other records (core.audit: each create and change, before and after).
LOAN_BALANCE_FIELDS = ("loan", "on", "repaid", "outstanding")
COURSE_FIELDS = ("commune", "program", "trade", "starts_on", "ends_on", "cost", "funding_source", "note")
JOB_FAIR_FIELDS = ("commune", "program", "name", "held_on", "participants", "placements", "note")
PROJECT_FIELDS = ("commune", "program", "name", "group_name", "year", "budget", "funding_source", "note")
WORK_FIELDS = ("commune", "program", "name", "category", "status", "year", "estimated_cost", "actual_cost",
               "funding_source", "note")
BUDGET_FIELDS = ("commune", "program", "year", "funding_source", "allocated", "disbursed")
HELPER_FIELDS = ("commune", "full_name", "position", "organisation", "phone", "user")
ASSIGNMENT_FIELDS = ("helper", "household", "started_on", "ended_on", "end_reason")
VISIT_FIELDS = ("household", "helper", "visited_on", "findings", "follow_up", "follow_up_due", "follow_up_done_on")


# --- rights -------------------------------------------------------------------------------


def check_can_record(actor, commune: AdminUnit | int, *, field: str = "commune") -> None:
    """The commune's officer (or a superuser) records support; outside the area the field is refused."""
    if not in_area(actor, commune):
        message = _("This household is outside your area.") if field == "household" else _(
            "This commune is outside your area.")
        raise ValidationError({field: message})
    require(actor, Action.RECORD_SUPPORT)


def check_can_allocate(actor, commune: AdminUnit) -> None:
    """Budgets come from above the commune: the reviewer's unit, the province, or a superuser."""
    if not in_area(actor, commune):
        raise ValidationError({"commune": _("This commune is outside your area.")})
    require(actor, Action.ALLOCATE_BUDGETS)


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _money(errors: dict, name: str, value, *, positive: bool = False) -> None:
    if value is None:
        errors[name] = _("Enter the amount in VND.")
    elif not isinstance(value, int) or isinstance(value, bool):
        errors[name] = _("Enter a whole number of VND.")
    elif value < 0:
        errors[name] = _("The amount cannot be negative.")
    elif positive and value == 0:
        errors[name] = _("The amount must be more than zero.")


def _vnd(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _choice(errors: dict, name: str, value, choices, message) -> None:
    if value not in choices:
        errors[name] = message


# --- programs -----------------------------------------------------------------------------


def check_program(errors: dict, program: Program | None, commune: AdminUnit, on: date | None,
                  *, name: str = "program", date_field: str = "given_on") -> None:
    """The program exists here and runs on that date (a support before its program existed is refused)."""
    if program is None:
        errors[name] = _("Choose the program.")
        return
    if program.is_archived:
        errors[name] = _("This program is archived.")
    elif program.province_id is not None and program.province_id != commune.province_id:
        errors[name] = _("This is another province's program.")
    if on is not None:
        if on.year < program.start_year:
            errors[date_field] = _("The program %(code)s began in %(year)d; this date is before it.") % {
                "code": program.code, "year": program.start_year}
        elif program.end_year is not None and on.year > program.end_year:
            errors[date_field] = _("The program %(code)s ended in %(year)d; this date is after it.") % {
                "code": program.code, "year": program.end_year}


# --- support given to a household ---------------------------------------------------------------


def clean_intervention(values: dict, household: Household) -> dict:
    """Check a support's values; {field: message} of what is wrong (empty when all is right)."""
    errors: dict = {}
    program, given_on, kind = values.get("program"), values.get("given_on"), values.get("kind")
    amount, quantity, member = values.get("amount"), values.get("quantity", 1), values.get("member")
    status = values.get("status", Intervention.Status.PLANNED)
    if household.is_archived:
        errors["household"] = _("This household is archived.")
    if given_on is None:
        errors["given_on"] = _("Enter the date.")
    elif status == Intervention.Status.DELIVERED and given_on > timezone.localdate():
        errors["given_on"] = _("A support delivered cannot be dated in the future.")
    check_program(errors, program, household.commune, given_on)
    _choice(errors, "kind", kind, Intervention.Kind.values, _("Choose the kind of support."))
    _choice(errors, "funding_source", values.get("funding_source"), FundingSource.values,
            _("Choose the funding source."))
    _choice(errors, "status", status, (Intervention.Status.PLANNED, Intervention.Status.DELIVERED),
            _("A support is recorded as planned or delivered."))
    if not isinstance(quantity, int) or quantity < 1:
        errors["quantity"] = _("The quantity is a whole number, at least 1.")
    _money(errors, "amount", amount)
    if member is not None and (member.household_id != household.pk or member.is_archived):
        errors["member"] = _("This person is not a current member of the household.")
    house_work = values.get("house_work", "")
    if house_work and house_work not in Intervention.HouseWork.values:
        errors["house_work"] = _("Choose new house or repair.")
    if program is not None and "amount" not in errors and "program" not in errors:
        _check_caps(errors, program, kind, house_work, amount, quantity if isinstance(quantity, int) else 1)
    return errors


def _check_caps(errors: dict, program: Program, kind: str, house_work: str, amount: int, quantity: int) -> None:
    """The unit amounts the law sets (Decision 90/QĐ-TTg/2022: DA5 housing, DA4 training)."""
    houses = program.cap_new_house is not None or program.cap_house_repair is not None
    if houses and kind != Intervention.Kind.LOAN:
        if not house_work:
            errors["house_work"] = _("Say whether the support builds a new house or repairs one.")
            return
        cap = program.cap_new_house if house_work == Intervention.HouseWork.NEW else program.cap_house_repair
        if cap is not None and amount > cap:
            errors["amount"] = _("%(code)s gives at most %(cap)s VND for this house work.") % {
                "code": program.code, "cap": _vnd(cap)}
            return
    if kind == Intervention.Kind.TRAINING and program.cap_per_course is not None:
        cap = program.cap_per_course * quantity
        if amount > cap:
            errors["amount"] = _("%(code)s gives at most %(cap)s VND per learner and course.") % {
                "code": program.code, "cap": _vnd(program.cap_per_course)}
            return
    if program.cap_per_intervention is not None and amount > program.cap_per_intervention:
        errors["amount"] = _("%(code)s gives at most %(cap)s VND at a time.") % {
            "code": program.code, "cap": _vnd(program.cap_per_intervention)}


def record_intervention(*, actor, household: Household, program: Program | None, given_on: date | None,
                        kind: str, amount: int | None, funding_source: str, quantity: int = 1,
                        member: Member | None = None, status: str = Intervention.Status.PLANNED,
                        house_work: str = "", note: str = "", source: str = FORM) -> Intervention:
    """Record a support planned for or delivered to a household (or one of its members)."""
    check_can_record(actor, household.commune_id, field="household")
    values = {"program": program, "given_on": given_on, "kind": kind, "amount": amount, "quantity": quantity,
              "member": member, "funding_source": funding_source, "status": status, "house_work": house_work}
    if kind == Intervention.Kind.LOAN:
        raise ValidationError({"kind": _("A loan is recorded with its terms, as a loan.")})
    _raise(clean_intervention(values, household))
    with transaction.atomic():
        intervention = Intervention.objects.create(
            household=household, member=member, program=program, given_on=given_on, kind=kind, quantity=quantity,
            amount=amount, funding_source=funding_source, status=status, house_work=house_work, note=nfc(note),
            created_by=actor, updated_by=actor)
        _audit_create(intervention, actor, source)
    return intervention


def _audit_create(intervention: Intervention, actor, source: str) -> None:
    after = snapshot(intervention, INTERVENTION_FIELDS)
    record(Change(intervention, AuditEvent.Action.CREATE, diff({}, after), intervention.household_id),
           actor=actor, source=source)


def _lock_intervention(intervention: Intervention) -> Intervention:
    return Intervention.objects.select_for_update().select_related("household__commune", "program").get(
        pk=intervention.pk)


def deliver_intervention(*, actor, intervention: Intervention, delivered_on: date | None = None,
                         source: str = FORM) -> Intervention:
    """A planned support is delivered (on the day given, else today)."""
    check_can_record(actor, intervention.household.commune_id, field="household")
    with transaction.atomic():
        intervention = _lock_intervention(intervention)
        if intervention.status != Intervention.Status.PLANNED:
            raise ValidationError({"status": _("Only a planned support can be delivered; this one is “%(status)s”.")
                                   % {"status": intervention.get_status_display()}})
        before = snapshot(intervention, INTERVENTION_FIELDS)
        values = {"program": intervention.program, "given_on": delivered_on or timezone.localdate(),
                  "kind": intervention.kind, "amount": intervention.amount, "quantity": intervention.quantity,
                  "member": intervention.member, "funding_source": intervention.funding_source,
                  "status": Intervention.Status.DELIVERED, "house_work": intervention.house_work}
        _raise(clean_intervention(values, intervention.household))
        intervention.status, intervention.given_on = Intervention.Status.DELIVERED, values["given_on"]
        intervention.updated_by = actor
        intervention.save(update_fields=["status", "given_on", "updated_by", "updated_at"])
        record(Change(intervention, AuditEvent.Action.UPDATE,
                      diff(before, snapshot(intervention, INTERVENTION_FIELDS)), intervention.household_id),
               actor=actor, source=source)
    return intervention


def cancel_intervention(*, actor, intervention: Intervention, reason: str, source: str = FORM) -> Intervention:
    """Cancel a support with the reason (nothing is deleted; a loan is never cancelled once lent)."""
    check_can_record(actor, intervention.household.commune_id, field="household")
    reason = nfc(reason)
    if not reason:
        raise ValidationError({"cancel_reason": _("Give the reason for cancelling.")})
    with transaction.atomic():
        intervention = _lock_intervention(intervention)
        if intervention.status == Intervention.Status.CANCELLED:
            raise ValidationError({"status": _("This support is already cancelled.")})
        if Loan.objects.filter(intervention=intervention).exists():
            raise ValidationError({"status": _("A loan that was lent is closed by its repayments, not cancelled.")})
        before = snapshot(intervention, INTERVENTION_FIELDS)
        intervention.status, intervention.cancel_reason, intervention.updated_by = (
            Intervention.Status.CANCELLED, reason, actor)
        intervention.save(update_fields=["status", "cancel_reason", "updated_by", "updated_at"])
        record(Change(intervention, AuditEvent.Action.UPDATE,
                      diff(before, snapshot(intervention, INTERVENTION_FIELDS)), intervention.household_id,
                      reason=reason), actor=actor, source=source)
    return intervention


# --- loans --------------------------------------------------------------------------------------


def record_loan(*, actor, household: Household, program: Program | None, principal: int | None,
                disbursed_on: date | None, term_months: int | None, purpose: str, member: Member | None = None,
                note: str = "", source: str = FORM) -> Loan:
    """A policy-credit loan lent to a household: a delivered support of kind loan, its terms, its first balance."""
    check_can_record(actor, household.commune_id, field="household")
    purpose = nfc(purpose)
    errors = clean_intervention({"program": program, "given_on": disbursed_on, "kind": Intervention.Kind.LOAN,
                                 "amount": principal, "member": member, "funding_source": FundingSource.POLICY_CREDIT,
                                 "status": Intervention.Status.DELIVERED}, household)
    for old, new in (("amount", "principal"), ("given_on", "disbursed_on")):
        if old in errors:
            errors[new] = errors.pop(old)
    if "principal" not in errors and principal == 0:
        errors["principal"] = _("The amount must be more than zero.")
    if not isinstance(term_months, int) or term_months < 1:
        errors["term_months"] = _("Enter the term in months (at least 1).")
    if not purpose:
        errors["purpose"] = _("Enter what the loan is for.")
    _raise(errors)
    with transaction.atomic():
        intervention = Intervention.objects.create(
            household=household, member=member, program=program, given_on=disbursed_on, kind=Intervention.Kind.LOAN,
            amount=principal, funding_source=FundingSource.POLICY_CREDIT, status=Intervention.Status.DELIVERED,
            note=nfc(note), created_by=actor, updated_by=actor)
        loan = Loan.objects.create(intervention=intervention, principal=principal, disbursed_on=disbursed_on,
                                   term_months=term_months, purpose=purpose)
        LoanBalance.objects.create(loan=loan, on=disbursed_on, outstanding=principal, recorded_by=actor)
        _audit_create(intervention, actor, source)
    return loan


def _last_balance(loan: Loan) -> LoanBalance | None:
    return loan.balances.order_by("-on", "-id").first()


def record_repayment(*, actor, loan: Loan, on: date | None, amount: int | None, source: str = FORM) -> LoanBalance:
    """A repayment: the outstanding balance falls by `amount`; more than what is owed is refused."""
    household = loan.intervention.household
    check_can_record(actor, household.commune_id, field="household")
    errors: dict = {}
    _money(errors, "amount", amount, positive=True)
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan.pk)
        last = _last_balance(loan)
        owed = last.outstanding if last else loan.principal
        _check_balance_date(errors, loan, last, on)
        if "amount" not in errors and amount > owed:
            repaid = loan.principal - owed + amount
            errors["amount"] = _("Repaid in all would be %(repaid)s VND, more than the principal of "
                                 "%(principal)s VND.") % {"repaid": _vnd(repaid), "principal": _vnd(loan.principal)}
        _raise(errors)
        balance = LoanBalance.objects.create(loan=loan, on=on, repaid=amount, outstanding=owed - amount,
                                             recorded_by=actor)
        record_write(balance, LOAN_BALANCE_FIELDS, None, actor=actor, source=source, household_id=household.pk)
        return balance


def record_loan_balance(*, actor, loan: Loan, on: date | None, outstanding: int | None,
                        source: str = FORM) -> LoanBalance:
    """The balance as the bank reports it on a date (between the principal and zero)."""
    household = loan.intervention.household
    check_can_record(actor, household.commune_id, field="household")
    errors: dict = {}
    _money(errors, "outstanding", outstanding)
    if "outstanding" in errors and isinstance(outstanding, int) and outstanding < 0:
        errors["outstanding"] = _("A balance below zero would mean more repaid than the principal.")
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan.pk)
        last = _last_balance(loan)
        _check_balance_date(errors, loan, last, on)
        if "outstanding" not in errors and outstanding > loan.principal:
            errors["outstanding"] = _("The balance cannot be more than the principal of %(principal)s VND.") % {
                "principal": _vnd(loan.principal)}
        _raise(errors)
        owed = last.outstanding if last else loan.principal
        balance = LoanBalance.objects.create(loan=loan, on=on, outstanding=outstanding,
                                             repaid=max(owed - outstanding, 0), recorded_by=actor)
        record_write(balance, LOAN_BALANCE_FIELDS, None, actor=actor, source=source, household_id=household.pk)
        return balance


def _check_balance_date(errors: dict, loan: Loan, last: LoanBalance | None, on: date | None) -> None:
    if on is None:
        errors["on"] = _("Enter the date.")
    elif on < loan.disbursed_on:
        errors["on"] = _("The date is before the loan was lent.")
    elif on > timezone.localdate():
        errors["on"] = _("The date is in the future.")
    elif last is not None and on < last.on:
        errors["on"] = _("A balance is already recorded on %(date)s; record balances in date order.") % {
            "date": f"{last.on:%d/%m/%Y}"}


# --- group activities -------------------------------------------------------------------------------


def _text(errors: dict, name: str, value: str, message: str) -> str:
    value = nfc(value or "")
    if not value:
        errors[name] = message
    return value


def create_course(*, actor, commune: AdminUnit, program: Program | None, trade: str, starts_on: date | None,
                  ends_on: date | None, cost: int | None, funding_source: str, note: str = "",
                  source: str = FORM) -> TrainingCourse:
    check_can_record(actor, commune)
    errors: dict = {}
    trade = _text(errors, "trade", trade, _("Enter the trade taught."))
    if starts_on is None:
        errors["starts_on"] = _("Enter the first day.")
    if ends_on is None:
        errors["ends_on"] = _("Enter the last day.")
    elif starts_on is not None and ends_on < starts_on:
        errors["ends_on"] = _("The course ends before it starts.")
    check_program(errors, program, commune, starts_on, date_field="starts_on")
    _money(errors, "cost", cost)
    _choice(errors, "funding_source", funding_source, FundingSource.values, _("Choose the funding source."))
    _raise(errors)
    with transaction.atomic():
        course = TrainingCourse.objects.create(commune=commune, program=program, trade=trade, starts_on=starts_on,
                                               ends_on=ends_on, cost=cost, funding_source=funding_source,
                                               note=nfc(note), created_by=actor)
        record_write(course, COURSE_FIELDS, None, actor=actor, source=source)
    return course


def enrol_learners(*, actor, course: TrainingCourse, members: Iterable[Member], source: str = FORM) -> int:
    """Add learners; each gets a training place on their household's record (its cost stays on the course)."""
    check_can_record(actor, course.commune)
    members = list(members)
    wrong = [m for m in members if m.household.commune_id != course.commune_id or m.is_archived]
    if wrong:
        raise ValidationError({"learners": _("%(name)s is not a current member of a household of this commune.")
                               % {"name": wrong[0].full_name}})
    if course.is_archived:
        raise ValidationError({"course": _("This course is archived.")})
    with transaction.atomic():
        already = set(CourseLearner.objects.filter(course=course).values_list("member_id", flat=True))
        new = [m for m in members if m.pk not in already]
        CourseLearner.objects.bulk_create([CourseLearner(course=course, member=m) for m in new])
        places = Intervention.objects.bulk_create([Intervention(
            household_id=m.household_id, member=m, program=course.program, given_on=course.starts_on,
            kind=Intervention.Kind.TRAINING, amount=0, funding_source=course.funding_source,
            status=Intervention.Status.DELIVERED, course=course, note=course.trade, created_by=actor,
            updated_by=actor) for m in new])
        record_many([Change(p, AuditEvent.Action.CREATE, diff({}, snapshot(p, INTERVENTION_FIELDS)), p.household_id)
                     for p in places], actor=actor, source=source)
    return len(new)


def record_course_outcome(*, actor, course: TrainingCourse, found_work: Iterable[int], source: str = FORM) -> int:
    """Mark which learners (member pks) found work after the course; the others did not."""
    check_can_record(actor, course.commune)
    found = set(found_work)
    learners = set(CourseLearner.objects.filter(course=course).values_list("member_id", flat=True))
    if found - learners:
        raise ValidationError({"found_work": _("Only the course's learners can be marked as having found work.")})
    if found and course.ends_on > timezone.localdate():
        raise ValidationError({"found_work": _("The course has not ended yet.")})
    with transaction.atomic():
        learners = list(CourseLearner.objects.select_for_update().filter(course=course).select_related("member"))
        changes = [Change(learner, AuditEvent.Action.UPDATE,
                          {"found_work": [learner.found_work, not learner.found_work]}, learner.member.household_id)
                   for learner in learners if learner.found_work != (learner.member_id in found)]
        CourseLearner.objects.filter(course=course).update(found_work=False)
        marked = CourseLearner.objects.filter(course=course, member_id__in=found).update(found_work=True)
        record_many(changes, actor=actor, source=source)
        return marked


def record_job_fair(*, actor, commune: AdminUnit, name: str, held_on: date | None, participants: int | None,
                    placements: int = 0, program: Program | None = None, note: str = "",
                    source: str = FORM) -> JobFair:
    check_can_record(actor, commune)
    errors: dict = {}
    name = _text(errors, "name", name, _("Enter the job fair's name."))
    if held_on is None:
        errors["held_on"] = _("Enter the date.")
    elif held_on > timezone.localdate():
        errors["held_on"] = _("The date is in the future.")
    if program is not None:
        check_program(errors, program, commune, held_on, date_field="held_on")
    if not isinstance(participants, int) or participants < 0:
        errors["participants"] = _("Enter how many took part.")
    if not isinstance(placements, int) or placements < 0:
        errors["placements"] = _("Enter how many found work (0 or more).")
    elif "participants" not in errors and placements > participants:
        errors["placements"] = _("More placed than took part.")
    _raise(errors)
    with transaction.atomic():
        fair = JobFair.objects.create(commune=commune, program=program, name=name, held_on=held_on,
                                      participants=participants, placements=placements, note=nfc(note),
                                      created_by=actor)
        record_write(fair, JOB_FAIR_FIELDS, None, actor=actor, source=source)
    return fair


def create_project(*, actor, commune: AdminUnit, program: Program | None, name: str, group_name: str, year: int,
                   budget: int | None, funding_source: str, note: str = "", source: str = FORM) -> ProductionProject:
    check_can_record(actor, commune)
    errors: dict = {}
    name = _text(errors, "name", name, _("Enter the project's name."))
    group_name = _text(errors, "group_name", group_name, _("Enter the group or cooperative."))
    check_program(errors, program, commune, date(year, 12, 31) if isinstance(year, int) else None,
                  date_field="year")
    _money(errors, "budget", budget)
    _choice(errors, "funding_source", funding_source, FundingSource.values, _("Choose the funding source."))
    _raise(errors)
    with transaction.atomic():
        project = ProductionProject.objects.create(commune=commune, program=program, name=name, group_name=group_name,
                                                   year=year, budget=budget, funding_source=funding_source,
                                                   note=nfc(note), created_by=actor)
        record_write(project, PROJECT_FIELDS, None, actor=actor, source=source)
    return project


def add_beneficiaries(*, actor, project: ProductionProject, households: Iterable[Household], given_on: date,
                      source: str = FORM) -> int:
    """Add households to a project; each gets the project's support on its record (the money stays on the project)."""
    check_can_record(actor, project.commune)
    households = list(households)
    wrong = [h for h in households if h.commune_id != project.commune_id or h.is_archived]
    if wrong:
        raise ValidationError({"beneficiaries": _("Household %(code)s is not a current household of this commune.")
                               % {"code": wrong[0].code}})
    errors: dict = {}
    check_program(errors, project.program, project.commune, given_on, date_field="given_on")
    _raise(errors)
    with transaction.atomic():
        already = set(project.beneficiaries.values_list("pk", flat=True))
        new = [h for h in households if h.pk not in already]
        project.beneficiaries.add(*new)
        shares = Intervention.objects.bulk_create([Intervention(
            household=h, program=project.program, given_on=given_on, kind=Intervention.Kind.IN_KIND, amount=0,
            funding_source=project.funding_source, status=Intervention.Status.DELIVERED, project=project,
            note=project.name, created_by=actor, updated_by=actor) for h in new])
        record_many([Change(s, AuditEvent.Action.CREATE, diff({}, snapshot(s, INTERVENTION_FIELDS)), s.household_id)
                     for s in shares], actor=actor, source=source)
    return len(new)


def record_work(*, actor, commune: AdminUnit, name: str, category: str, year: int | None,
                estimated_cost: int | None, funding_source: str, status: str = InfrastructureWork.Status.PLANNED,
                program: Program | None = None, actual_cost: int | None = None, note: str = "",
                source: str = FORM) -> InfrastructureWork:
    check_can_record(actor, commune)
    errors = _work_errors(name=name, category=category, year=year, estimated_cost=estimated_cost,
                          funding_source=funding_source, status=status, actual_cost=actual_cost)
    if program is not None and isinstance(year, int):
        check_program(errors, program, commune, date(year, 12, 31), date_field="year")
    _raise(errors)
    with transaction.atomic():
        work = InfrastructureWork.objects.create(
            commune=commune, program=program, name=nfc(name), category=category, status=status, year=year,
            estimated_cost=estimated_cost, actual_cost=actual_cost, funding_source=funding_source, note=nfc(note),
            updated_by=actor)
        record_write(work, WORK_FIELDS, None, actor=actor, source=source)
    return work


def _work_errors(*, name, category, year, estimated_cost, funding_source, status, actual_cost) -> dict:
    errors: dict = {}
    _text(errors, "name", name, _("Enter the work's name."))
    _choice(errors, "category", category, InfrastructureWork.Category.values, _("Choose the category."))
    _choice(errors, "status", status, InfrastructureWork.Status.values, _("Choose the status."))
    _choice(errors, "funding_source", funding_source, FundingSource.values, _("Choose the funding source."))
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        errors["year"] = _("Enter the year.")
    _money(errors, "estimated_cost", estimated_cost)
    if actual_cost is not None:
        _money(errors, "actual_cost", actual_cost)
    return errors


def update_work(*, actor, work: InfrastructureWork, status: str | None = None, actual_cost: int | None = None,
                estimated_cost: int | None = None, source: str = FORM) -> InfrastructureWork:
    """Move a work along (planned → prepared → under construction → done) and record its costs."""
    check_can_record(actor, work.commune)
    with transaction.atomic():
        work = InfrastructureWork.objects.select_for_update().get(pk=work.pk)
        before = snapshot(work, WORK_FIELDS)
        status = status or work.status
        errors = _work_errors(name=work.name, category=work.category, year=work.year,
                              estimated_cost=work.estimated_cost if estimated_cost is None else estimated_cost,
                              funding_source=work.funding_source, status=status,
                              actual_cost=work.actual_cost if actual_cost is None else actual_cost)
        _raise(errors)
        work.status = status
        if actual_cost is not None:
            work.actual_cost = actual_cost
        if estimated_cost is not None:
            work.estimated_cost = estimated_cost
        work.updated_by = actor
        work.save(update_fields=["status", "actual_cost", "estimated_cost", "updated_by", "updated_at"])
        record_write(work, WORK_FIELDS, before, actor=actor, source=source)
    return work


ARCHIVABLE = (TrainingCourse, JobFair, ProductionProject, InfrastructureWork, Helper)


def archive_record(*, actor, record_: TrainingCourse | JobFair | ProductionProject | InfrastructureWork | Helper,
                   reason: str, source: str = FORM):
    """Archive an activity or a helper with the reason (what it gave households stays on their record)."""
    if not isinstance(record_, ARCHIVABLE):
        raise TypeError(type(record_).__name__)
    check_can_record(actor, record_.commune)
    reason = nfc(reason)
    if not reason:
        raise ValidationError({"archived_reason": _("Give the reason for archiving.")})
    with transaction.atomic():
        obj = type(record_).objects.select_for_update().get(pk=record_.pk)
        if obj.is_archived:
            raise ValidationError({"is_archived": _("This record is already archived.")})
        if isinstance(obj, Helper):
            today = timezone.localdate()
            HelperAssignment.objects.filter(helper=obj, ended_on__isnull=True).update(
                ended_on=today, end_reason=reason)
        obj.is_archived, obj.archived_reason, obj.archived_at, obj.archived_by = True, reason, timezone.now(), actor
        obj.save(update_fields=["is_archived", "archived_reason", "archived_at", "archived_by"])
        record(Change(obj, AuditEvent.Action.ARCHIVE, reason=reason), actor=actor, source=source)
    return obj


# --- budgets ----------------------------------------------------------------------------------------


def allocate_budget(*, actor, commune: AdminUnit, program: Program | None, year: int | None, funding_source: str,
                    allocated: int | None, source: str = FORM) -> BudgetAllocation:
    """Set a commune's allocation for a program, year and source (a new figure replaces the old one).

    An allocation never falls below what is already disbursed.
    """
    check_can_allocate(actor, commune)
    errors: dict = {}
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        errors["year"] = _("Enter the year.")
    else:
        check_program(errors, program, commune, date(year, 12, 31), date_field="year")
    _choice(errors, "funding_source", funding_source, FundingSource.values, _("Choose the funding source."))
    _money(errors, "allocated", allocated)
    _raise(errors)
    with transaction.atomic():
        allocation, created = BudgetAllocation.objects.select_for_update().get_or_create(
            commune=commune, program=program, year=year, funding_source=funding_source,
            defaults={"allocated": allocated, "updated_by": actor})
        before = None if created else snapshot(allocation, BUDGET_FIELDS)
        if not created:
            if allocated < allocation.disbursed:
                raise ValidationError({"allocated": _("%(disbursed)s VND is already disbursed; the allocation "
                                                      "cannot be less.") % {"disbursed": _vnd(allocation.disbursed)}})
            allocation.allocated, allocation.updated_by = allocated, actor
            allocation.save(update_fields=["allocated", "updated_by", "updated_at"])
        record_write(allocation, BUDGET_FIELDS, before, actor=actor, source=source)
    return allocation


def record_disbursement(*, actor, allocation: BudgetAllocation, amount: int | None,
                        source: str = FORM) -> BudgetAllocation:
    """The commune disburses (giải ngân) part of an allocation.

    Never beyond the allocation: spending more needs a larger allocation first,
    so the rate stays at most 100% and every overspend is a decision made above.
    """
    check_can_record(actor, allocation.commune)
    errors: dict = {}
    _money(errors, "amount", amount, positive=True)
    _raise(errors)
    with transaction.atomic():
        allocation = BudgetAllocation.objects.select_for_update().get(pk=allocation.pk)
        if allocation.disbursed + amount > allocation.allocated:
            raise ValidationError({"amount": _("Disbursed would be %(total)s VND, more than the %(allocated)s VND "
                                               "allocated.") % {"total": _vnd(allocation.disbursed + amount),
                                                                "allocated": _vnd(allocation.allocated)}})
        before = snapshot(allocation, BUDGET_FIELDS)
        allocation.disbursed += amount
        allocation.updated_by = actor
        allocation.save(update_fields=["disbursed", "updated_by", "updated_at"])
        record_write(allocation, BUDGET_FIELDS, before, actor=actor, source=source)
    return allocation


# --- members' support profile ------------------------------------------------------------------------


def set_member_profile(*, actor, member: Member, has_disability: bool,
                       low_income_applied_on: date | None = None, source: str = FORM) -> MemberProfile:
    """Record a person's disability and low-income worker application (Decree 30/2025/NĐ-CP)."""
    check_can_record(actor, member.household.commune_id, field="household")
    if low_income_applied_on is not None and low_income_applied_on > timezone.localdate():
        raise ValidationError({"low_income_applied_on": _("The date is in the future.")})
    fields = ("has_disability", "low_income_applied_on")
    with transaction.atomic():
        profile, created = MemberProfile.objects.select_for_update().get_or_create(member=member)
        before = {} if created else snapshot(profile, fields)
        profile.has_disability, profile.low_income_applied_on = bool(has_disability), low_income_applied_on
        profile.updated_by = actor
        profile.save()
        record(Change(profile, AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE,
                      diff(before, snapshot(profile, fields)), member.household_id), actor=actor, source=source)
    return profile


# --- helpers and visits ------------------------------------------------------------------------------


def create_helper(*, actor, commune: AdminUnit, full_name: str, position: str, organisation: str = "",
                  phone: str = "", user=None, source: str = FORM) -> Helper:
    check_can_record(actor, commune)
    errors: dict = {}
    full_name = _text(errors, "full_name", full_name, _("Enter the helper's name."))
    _choice(errors, "position", position, Helper.Position.values, _("Choose the helper's position."))
    _raise(errors)
    with transaction.atomic():
        helper = Helper.objects.create(commune=commune, full_name=full_name, position=position,
                                       organisation=nfc(organisation), phone=nfc(phone), user=user)
        record_write(helper, HELPER_FIELDS, None, actor=actor, source=source)
    return helper


def assign_helper(*, actor, helper: Helper, household: Household, started_on: date | None,
                  source: str = FORM) -> HelperAssignment:
    """A helper starts following a household; a current helper of that household is replaced from that day."""
    check_can_record(actor, household.commune_id, field="household")
    errors: dict = {}
    if helper.commune_id != household.commune_id:
        errors["helper"] = _("The helper works in another commune.")
    elif helper.is_archived:
        errors["helper"] = _("This helper is archived.")
    if household.is_archived:
        errors["household"] = _("This household is archived.")
    if started_on is None:
        errors["started_on"] = _("Enter the first day.")
    with transaction.atomic():
        current = HelperAssignment.objects.select_for_update().filter(household=household,
                                                                     ended_on__isnull=True).first()
        if current is not None and started_on is not None and started_on < current.started_on:
            errors["started_on"] = _("The current helper started on %(date)s; a new one starts later.") % {
                "date": f"{current.started_on:%d/%m/%Y}"}
        if current is not None and current.helper_id == helper.pk:
            errors["helper"] = _("This helper already follows the household.")
        _raise(errors)
        if current is not None:
            before = snapshot(current, ASSIGNMENT_FIELDS)
            current.ended_on, current.end_reason = started_on, _("Replaced by %(name)s.") % {"name": helper.full_name}
            current.save(update_fields=["ended_on", "end_reason"])
            record_write(current, ASSIGNMENT_FIELDS, before, actor=actor, source=source, household_id=household.pk)
        assignment = HelperAssignment.objects.create(helper=helper, household=household, started_on=started_on,
                                                     created_by=actor)
        record_write(assignment, ASSIGNMENT_FIELDS, None, actor=actor, source=source, household_id=household.pk)
        return assignment


def end_assignment(*, actor, assignment: HelperAssignment, ended_on: date | None, reason: str = "",
                   source: str = FORM) -> HelperAssignment:
    check_can_record(actor, assignment.household.commune_id, field="household")
    with transaction.atomic():
        assignment = HelperAssignment.objects.select_for_update().get(pk=assignment.pk)
        if assignment.ended_on is not None:
            raise ValidationError({"ended_on": _("This assignment has already ended.")})
        if ended_on is None:
            raise ValidationError({"ended_on": _("Enter the last day.")})
        if ended_on < assignment.started_on:
            raise ValidationError({"ended_on": _("The assignment ends before it started.")})
        before = snapshot(assignment, ASSIGNMENT_FIELDS)
        assignment.ended_on, assignment.end_reason = ended_on, nfc(reason)
        assignment.save(update_fields=["ended_on", "end_reason"])
        record_write(assignment, ASSIGNMENT_FIELDS, before, actor=actor, source=source,
                     household_id=assignment.household_id)
    return assignment


def record_visit(*, actor, household: Household, visited_on: date | None, findings: str, follow_up: str = "",
                 follow_up_due: date | None = None, helper: Helper | None = None, source: str = FORM) -> Visit:
    check_can_record(actor, household.commune_id, field="household")
    errors: dict = {}
    findings = _text(errors, "findings", findings, _("Write what was found."))
    follow_up = nfc(follow_up)
    if visited_on is None:
        errors["visited_on"] = _("Enter the date of the visit.")
    elif visited_on > timezone.localdate():
        errors["visited_on"] = _("The visit date is in the future.")
    if follow_up_due is not None:
        if not follow_up:
            errors["follow_up"] = _("Write what must follow by that date.")
        elif visited_on is not None and follow_up_due < visited_on:
            errors["follow_up_due"] = _("The follow-up is due before the visit.")
    if helper is not None and helper.commune_id != household.commune_id:
        errors["helper"] = _("The helper works in another commune.")
    _raise(errors)
    with transaction.atomic():
        visit = Visit.objects.create(household=household, helper=helper, visited_on=visited_on, findings=findings,
                                     follow_up=follow_up, follow_up_due=follow_up_due, recorded_by=actor)
        record_write(visit, VISIT_FIELDS, None, actor=actor, source=source, household_id=household.pk)
    return visit


def close_follow_up(*, actor, visit: Visit, done_on: date | None = None, source: str = FORM) -> Visit:
    check_can_record(actor, visit.household.commune_id, field="household")
    with transaction.atomic():
        visit = Visit.objects.select_for_update().get(pk=visit.pk)
        if not visit.follow_up:
            raise ValidationError({"follow_up": _("This visit has no follow-up.")})
        if visit.follow_up_done_on is not None:
            raise ValidationError({"follow_up_done_on": _("This follow-up is already done.")})
        done_on = done_on or timezone.localdate()
        if done_on < visit.visited_on:
            raise ValidationError({"follow_up_done_on": _("The follow-up is done before the visit.")})
        before = snapshot(visit, VISIT_FIELDS)
        visit.follow_up_done_on = done_on
        visit.save(update_fields=["follow_up_done_on"])
        record_write(visit, VISIT_FIELDS, before, actor=actor, source=source, household_id=visit.household_id)
    return visit


# --- escape-from-poverty registrations -----------------------------------------------------------------


REGISTRATION_FIELDS = ("household", "registered_on", "target_year", "category_at_registration", "indicators_to_fix",
                       "target_income", "support_asked", "helper")


def register_escape(*, actor, household: Household, target_year: int | None, registered_on: date | None = None,
                    indicators_to_fix: Sequence[str] = (), target_income: int | None = None,
                    support_asked: str = "", programs: Iterable[Program] = (), helper: Helper | None = None,
                    source: str = FORM) -> EscapeRegistration:
    """A poor or near-poor household registers to leave poverty by a year, with its plan."""
    from reviews.services import standard_for

    check_can_record(actor, household.commune_id, field="household")
    registered_on = registered_on or timezone.localdate()
    errors: dict = {}
    if household.is_archived:
        errors["household"] = _("This household is archived.")
    elif household.classification not in ON_LISTS:
        errors["household"] = _("Only a poor or near-poor household registers to leave poverty.")
    if registered_on > timezone.localdate():
        errors["registered_on"] = _("The date is in the future.")
    if not isinstance(target_year, int) or target_year < registered_on.year:
        errors["target_year"] = _("The year to leave poverty is this year or later.")
    elif target_year > registered_on.year + 5:
        errors["target_year"] = _("Choose a year at most five years ahead.")
    else:
        try:
            known = set(standard_for(target_year, household.commune).indicators.values_list("code", flat=True))
        except ValidationError:
            errors["target_year"] = _("No poverty standard covers the year %(year)d.") % {"year": target_year}
        else:
            unknown = [code for code in indicators_to_fix if code not in known]
            if unknown:
                errors["indicators_to_fix"] = _("Not an indicator of that year's standard: %(codes)s.") % {
                    "codes": ", ".join(unknown)}
    if target_income is not None:
        _money(errors, "target_income", target_income)
    if helper is not None and helper.commune_id != household.commune_id:
        errors["helper"] = _("The helper works in another commune.")
    programs = list(programs)
    if any(p.province_id not in (None, household.commune.province_id) for p in programs):
        errors["programs_asked"] = _("This is another province's program.")
    if "target_year" not in errors and EscapeRegistration.objects.filter(
            household=household, target_year=target_year, is_archived=False).exists():
        errors["target_year"] = _("This household has already registered for %(year)d.") % {"year": target_year}
    _raise(errors)
    with transaction.atomic():
        registration = EscapeRegistration.objects.create(
            household=household, registered_on=registered_on, target_year=target_year,
            category_at_registration=household.classification, indicators_to_fix=list(dict.fromkeys(
                indicators_to_fix)), target_income=target_income, support_asked=nfc(support_asked), helper=helper,
            created_by=actor)
        registration.programs_asked.set(programs)
        record(Change(registration, AuditEvent.Action.CREATE,
                      diff({}, snapshot(registration, REGISTRATION_FIELDS)), household.pk), actor=actor, source=source)
    return registration


def withdraw_registration(*, actor, registration: EscapeRegistration, reason: str,
                          source: str = FORM) -> EscapeRegistration:
    check_can_record(actor, registration.household.commune_id, field="household")
    reason = nfc(reason)
    if not reason:
        raise ValidationError({"archived_reason": _("Give the reason for withdrawing.")})
    with transaction.atomic():
        registration = EscapeRegistration.objects.select_for_update().get(pk=registration.pk)
        if registration.is_archived:
            raise ValidationError({"is_archived": _("This registration is already withdrawn.")})
        registration.is_archived, registration.archived_reason = True, reason
        registration.archived_at, registration.archived_by = timezone.now(), actor
        registration.save(update_fields=["is_archived", "archived_reason", "archived_at", "archived_by"])
        record(Change(registration, AuditEvent.Action.ARCHIVE, {}, registration.household_id, reason=reason),
               actor=actor, source=source)
    return registration


@dataclass
class Outcome:
    """What became of a registration: read from the target year's official status, never stored."""

    PENDING, ESCAPED, NOT_ESCAPED = "pending", "escaped", "not_escaped"

    state: str
    status: HouseholdStatus | None = None
    before: Survey | None = None  # the last survey of a decided round before the target year
    after: Survey | None = None  # the survey behind the target year's status
    closed: list[str] = field(default_factory=list)  # planned deprivations no longer deprived
    still_deprived: list[str] = field(default_factory=list)  # planned deprivations still deprived
    income_reached: bool | None = None

    @property
    def is_resolved(self) -> bool:
        return self.state != self.PENDING


def registration_outcome(registration: EscapeRegistration) -> Outcome:
    return registration_outcomes([registration])[registration.pk]


def registration_outcomes(registrations: Iterable[EscapeRegistration]) -> dict[int, Outcome]:
    """{registration pk: Outcome}, in a fixed number of queries however many registrations.

    A poor household has left poverty when the target year's official status is
    no longer poor; a near-poor one when it is on neither list (Decision
    24/2021/QĐ-TTg: the commune's decision makes the year official). The
    deprivations compared are the last decided survey before the target year and
    the survey behind the target year's status.
    """
    registrations = list(registrations)
    hids = {r.household_id for r in registrations}
    years = {r.target_year for r in registrations}
    statuses: dict[tuple[int, int], HouseholdStatus] = {}
    for status in HouseholdStatus.objects.filter(household_id__in=hids, year__in=years).select_related(
            "survey").order_by("decided_on", "pk"):
        statuses[(status.household_id, status.year)] = status  # the latest decision of the year wins
    surveys: dict[int, list[Survey]] = {}
    for survey in Survey.objects.filter(household_id__in=hids, status=Survey.Status.SURVEYED,
                                        round__status=ReviewRound.Status.DECIDED).select_related("round").order_by(
            "round__year", "round__decision_date", "pk"):
        surveys.setdefault(survey.household_id, []).append(survey)
    outcomes = {}
    for registration in registrations:
        status = statuses.get((registration.household_id, registration.target_year))
        if status is None:
            outcomes[registration.pk] = Outcome(Outcome.PENDING)
            continue
        if registration.category_at_registration == Category.POOR:
            escaped = status.category != Category.POOR
        else:
            escaped = status.category not in ON_LISTS
        history = surveys.get(registration.household_id, [])
        before = next((s for s in reversed(history) if s.round.year < registration.target_year), None)
        after = status.survey
        if after is None:
            after = next((s for s in reversed(history) if s.round.year == registration.target_year), None)
        planned = registration.indicators_to_fix
        closed, still = [], []
        if after is not None:
            for code in planned:
                if code in after.deprived:
                    still.append(code)
                elif before is None or code in before.deprived:
                    closed.append(code)
        income_reached = None
        if registration.target_income is not None and after is not None and after.income is not None:
            income_reached = after.income >= registration.target_income
        outcomes[registration.pk] = Outcome(Outcome.ESCAPED if escaped else Outcome.NOT_ESCAPED, status, before,
                                            after, closed, still, income_reached)
    return outcomes

