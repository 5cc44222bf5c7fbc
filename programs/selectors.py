"""Scoped reads of support: every one starts from `.for_user(user)` or a unit the caller checked.

List selectors gather what they need in a fixed number of queries (no query per
household), so a commune's or a district's list costs the same few queries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from core.scoping import communes_for, units_for
from geo.models import AdminUnit
from households.models import CommuneSummary, Household
from reviews.models import Category, HouseholdStatus, Indicator, PovertyStandard, Survey

from . import eligibility
from .models import (
    BudgetAllocation,
    CourseLearner,
    EscapeRegistration,
    FundingSource,
    HelperAssignment,
    InfrastructureWork,
    Intervention,
    JobFair,
    Loan,
    LoanBalance,
    Program,
    TrainingCourse,
    Visit,
)
from .services import Outcome, registration_outcomes

ON_LISTS = (Category.POOR, Category.NEAR_POOR)


# --- programs ----------------------------------------------------------------------------


def programs_for(user, *, year: int | None = None, include_archived: bool = False) -> QuerySet[Program]:
    programs = Program.objects.for_user(user).select_related("parent", "province")
    if not include_archived:
        programs = programs.filter(is_archived=False)
    if year is not None:
        programs = programs.filter(Q(start_year__lte=year), Q(end_year__isnull=True) | Q(end_year__gte=year))
    return programs.order_by("code")


def family_of(program: Program, programs: list[Program] | None = None) -> set[int]:
    """The program and every project under it (receiving DA4.1 is receiving DA4)."""
    programs = programs if programs is not None else list(Program.objects.only("pk", "parent_id"))
    children = defaultdict(list)
    for p in programs:
        children[p.parent_id].append(p.pk)
    found, todo = set(), [program.pk]
    while todo:
        pk = todo.pop()
        if pk not in found:
            found.add(pk)
            todo.extend(children.get(pk, []))
    return found


def household_support(user, household: Household) -> QuerySet[Intervention]:
    """A household's supports, newest first (its page)."""
    return (Intervention.objects.for_user(user).filter(household=household)
            .select_related("program", "member", "loan", "course", "project").order_by("-given_on", "-id"))


# --- eligibility ---------------------------------------------------------------------------


@dataclass
class EligibleHousehold:
    household: Household
    codes: frozenset[str]  # every eligibility code of the household
    matched: list[str]  # the codes by which the program targets it


# Lists worked out household by household (eligibility, the path out) are shown one commune at a
# time in an area with more active households than this.
LARGE_AREA = 20_000


def area_households(user) -> int:
    """The active households of the user's area, from the commune summaries (a few rows, not a count)."""
    return CommuneSummary.objects.filter(commune__in=communes_for(user)).aggregate(
        total=Sum("households"))["total"] or 0


def eligible_households(user, program: Program, *, on: date | None = None,
                        commune: AdminUnit | None = None) -> list[EligibleHousehold]:
    """Households in the user's area that the program targets on `on` and that have not yet received it.

    "Received" is a delivered support of the program or of a project under it.
    A program with no target group (infrastructure, communication) lists nobody.
    """
    on = on or timezone.localdate()
    if not program.target_groups:
        return []
    received = Intervention.objects.filter(household=OuterRef("pk"), status=Intervention.Status.DELIVERED,
                                           program__in=family_of(program))
    households = (Household.objects.for_user(user).filter(is_archived=False)
                  .exclude(Exists(received)).select_related("commune", "village"))
    if program.province_id is not None:
        households = households.filter(commune__province_id=program.province_id)
    if commune is not None:
        households = households.filter(commune=commune)
    households = list(households.order_by("commune__code", "village__name", "code"))
    facts = eligibility.load_facts(households)
    targets = set(program.target_groups)
    rows = []
    for household in households:
        codes = eligibility.codes_for(facts[household.pk], on)
        matched = sorted(targets & codes)
        if matched:
            rows.append(EligibleHousehold(household, codes, matched))
    return rows


# --- the path out ------------------------------------------------------------------------------


@dataclass
class Offer:
    program: Program
    received: bool
    eligible: bool


@dataclass
class Step:
    """One deprivation of the household and the programs that address it."""

    code: str
    name: str
    offers: list[Offer] = field(default_factory=list)


@dataclass
class PathOut:
    household: Household
    category: str
    survey: Survey | None
    income: int | None = None
    line: int | None = None
    income_gap: int | None = None  # line minus income: positive below the line
    deprivation_count: int = 0
    cutoff: int = 3
    to_close: int = 0  # deprivations to close to fall below the cut-off (poor households)
    steps: list[Step] = field(default_factory=list)
    income_offers: list[Offer] = field(default_factory=list)  # programs that raise income
    codes: frozenset[str] = frozenset()
    helper_name: str = ""

    @property
    def not_yet_received(self) -> int:
        return sum(1 for s in self.steps for o in s.offers if o.eligible and not o.received)


def _paths(households: list[Household], on: date) -> list[PathOut]:
    if not households:
        return []
    pks = [h.pk for h in households]
    # The survey behind each household's latest official status; else its latest survey with a result.
    official: dict[int, Survey] = {}
    for status in HouseholdStatus.objects.filter(household_id__in=pks, survey__isnull=False,
                                                 decided_on__lte=on).select_related("survey").order_by(
            "decided_on", "pk"):
        official[status.household_id] = status.survey
    latest: dict[int, Survey] = {}
    for survey in Survey.objects.filter(household_id__in=pks, status=Survey.Status.SURVEYED).order_by(
            "round__year", "round__month", "surveyed_at", "pk"):
        latest[survey.household_id] = survey
    standards = {s.code: s for s in PovertyStandard.objects.all()}
    names = {(code, ind_code): name for code, ind_code, name in
             Indicator.objects.values_list("standard__code", "code", "name")}
    programs = [p for p in Program.objects.filter(is_archived=False).select_related("parent")
                if p.runs_in(on.year)]
    parents = {p.parent_id for p in programs if p.parent_id}
    leaves = [p for p in programs if p.pk not in parents]
    received: dict[int, set[int]] = defaultdict(set)
    for hid, program_id in Intervention.objects.filter(household_id__in=pks, status=Intervention.Status.DELIVERED
                                                       ).values_list("household_id", "program_id").distinct():
        received[hid].add(program_id)
    parent_of = {p.pk: p.parent_id for p in Program.objects.only("pk", "parent_id")}
    facts = eligibility.load_facts(households)
    helpers = dict(HelperAssignment.objects.filter(household_id__in=pks, ended_on__isnull=True)
                   .values_list("household_id", "helper__full_name"))

    def got(hid: int, program: Program) -> bool:
        for pk in received.get(hid, ()):
            while pk is not None:
                if pk == program.pk:
                    return True
                pk = parent_of.get(pk)
        return False

    paths = []
    for household in households:
        hid = household.pk
        survey = official.get(hid) or latest.get(hid)
        codes = eligibility.codes_for(facts[hid], on)
        mine = [p for p in leaves if p.province_id in (None, household.commune.province_id)]

        def offer(program: Program, hid=hid, codes=codes) -> Offer:
            return Offer(program, got(hid, program), eligibility.matches(program.target_groups, codes))

        path = PathOut(household, household.classification, survey, codes=codes, helper_name=helpers.get(hid, ""))
        path.income_offers = [offer(p) for p in mine if p.addresses_income]
        if survey is not None:
            standard = standards.get(survey.standard_code)
            if standard is not None:
                urban = household.area == Household.Area.URBAN
                path.line = standard.income_line_urban if urban else standard.income_line_rural
                path.cutoff = standard.deprivation_cutoff
            path.income, path.income_gap = survey.income, survey.income_gap
            path.deprivation_count = len(survey.deprived)
            if household.classification == Category.POOR:
                path.to_close = max(path.deprivation_count - path.cutoff + 1, 0)
            for code in survey.deprived:
                path.steps.append(Step(code, names.get((survey.standard_code, code), code),
                                       [offer(p) for p in mine if code in p.indicators]))
        paths.append(path)
    return paths


def path_out(household: Household, *, on: date | None = None) -> PathOut:
    """One household's path out (the caller fetched it through `for_user`)."""
    return _paths([household], on or timezone.localdate())[0]


def path_out_list(user, *, commune: AdminUnit | None = None, on: date | None = None) -> list[PathOut]:
    """The path out of every poor and near-poor household in the user's area (or one commune of it)."""
    households = Household.objects.for_user(user).filter(is_archived=False, classification__in=ON_LISTS)
    if commune is not None:
        households = households.filter(commune=commune)
    households = list(households.select_related("commune", "village").order_by("commune__code", "code"))
    return _paths(households, on or timezone.localdate())


def closest_to_leaving(user, *, commune: AdminUnit | None = None, on: date | None = None,
                       limit: int | None = None) -> list[PathOut]:
    """Poor households nearest the line: smallest income gap, then fewest deprivations above the cut-off.

    For the commune to plan who may register to leave poverty next.
    """
    paths = [p for p in path_out_list(user, commune=commune, on=on)
             if p.category == Category.POOR and p.income_gap is not None]
    paths.sort(key=lambda p: (max(p.income_gap, 0), p.to_close, p.household.code))
    return paths[:limit] if limit else paths


# --- case work --------------------------------------------------------------------------------


def households_without_helper(user, *, commune: AdminUnit | None = None) -> QuerySet[Household]:
    """Poor households that no helper follows today."""
    current = HelperAssignment.objects.filter(household=OuterRef("pk"), ended_on__isnull=True)
    households = Household.objects.for_user(user).filter(is_archived=False, classification=Category.POOR).exclude(
        Exists(current))
    if commune is not None:
        households = households.filter(commune=commune)
    return households.select_related("commune", "village").order_by("commune__code", "code")


def current_helpers(user) -> QuerySet[HelperAssignment]:
    return (HelperAssignment.objects.for_user(user).filter(ended_on__isnull=True)
            .select_related("helper", "household__commune").order_by("household__commune__code", "household__code"))


def due_follow_ups(user, *, today: date | None = None, within_days: int = 7) -> list[Visit]:
    """Open follow-ups due within `within_days` (or late), the late first; each with `is_late` and `days_left`."""
    today = today or timezone.localdate()
    visits = list(Visit.objects.for_user(user).filter(
        follow_up_done_on__isnull=True, follow_up_due__isnull=False,
        follow_up_due__lte=today + timedelta(days=within_days)).select_related(
        "household__commune", "helper").order_by("follow_up_due", "pk"))
    for visit in visits:
        visit.days_left = (visit.follow_up_due - today).days
        visit.is_late = visit.days_left < 0
    return visits


def registrations_for(user, *, year: int | None = None, commune: AdminUnit | None = None,
                      include_withdrawn: bool = False) -> list[tuple[EscapeRegistration, Outcome]]:
    registrations = EscapeRegistration.objects.for_user(user).select_related("household__commune", "helper")
    if not include_withdrawn:
        registrations = registrations.filter(is_archived=False)
    if year is not None:
        registrations = registrations.filter(target_year=year)
    if commune is not None:
        registrations = registrations.filter(household__commune=commune)
    registrations = list(registrations.order_by("-target_year", "household__commune__code", "household__code"))
    outcomes = registration_outcomes(registrations)
    return [(r, outcomes[r.pk]) for r in registrations]


# --- the support report ------------------------------------------------------------------------


def communes_of(unit: AdminUnit) -> QuerySet[AdminUnit]:
    """The communes a unit covers: itself, those under a district, or a province's."""
    communes = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE)
    if unit.level == AdminUnit.Level.COMMUNE:
        return communes.filter(pk=unit.pk)
    if unit.level == AdminUnit.Level.PROVINCE:
        return communes.filter(province_id=unit.pk)
    return communes.filter(parent_id=unit.pk)


def loans_outstanding(communes, on: date) -> tuple[int, int]:
    """(total outstanding, loans with something outstanding) on a date: each loan's last balance by then."""
    last = LoanBalance.objects.filter(loan=OuterRef("pk"), on__lte=on).order_by("-on", "-id").values("outstanding")[:1]
    rows = Loan.objects.filter(intervention__household__commune__in=communes, disbursed_on__lte=on).annotate(
        owed=Subquery(last)).values_list("owed", "principal")
    total = count = 0
    for owed, principal in rows:
        owed = principal if owed is None else owed
        total += owed
        count += owed > 0
    return total, count


@dataclass
class SupportReport:
    unit: AdminUnit
    year: int
    households_reached: int = 0
    amount: int = 0
    by_program: list[dict] = field(default_factory=list)  # program, funding_source, households, supports, amount
    by_source: list[dict] = field(default_factory=list)  # funding_source, label, households, amount
    houses: dict = field(default_factory=dict)  # new, repair, amount
    training: dict = field(default_factory=dict)  # courses, learners, found_work, cost
    job_fairs: dict = field(default_factory=dict)  # fairs, participants, placements
    loans: dict = field(default_factory=dict)  # outstanding, outstanding_before, growth, growth_rate, ...
    works: list[dict] = field(default_factory=list)  # status, label, works, estimated, actual
    budgets: list[dict] = field(default_factory=list)  # program, allocated, disbursed, rate
    budget_total: dict = field(default_factory=dict)
    registrations: dict = field(default_factory=dict)  # registered, escaped, not_escaped, pending


def support_report(unit: AdminUnit, year: int) -> SupportReport:
    """The year's support in a unit, computed from the records (the caller checks the unit is in the user's area)."""
    communes = communes_of(unit)
    report = SupportReport(unit, year)
    given = Intervention.objects.filter(household__commune__in=communes, status=Intervention.Status.DELIVERED,
                                        given_on__year=year)
    totals = given.aggregate(households=Count("household", distinct=True), amount=Sum("amount"))
    report.households_reached, report.amount = totals["households"], totals["amount"] or 0
    programs = {p.pk: p for p in Program.objects.all()}
    for row in given.values("program", "funding_source").annotate(
            households=Count("household", distinct=True), supports=Count("pk"), amount=Sum("amount")).order_by():
        report.by_program.append({**row, "program": programs[row["program"]]})
    report.by_program.sort(key=lambda r: (r["program"].code, r["funding_source"]))
    labels = dict(FundingSource.choices)
    for row in given.values("funding_source").annotate(households=Count("household", distinct=True),
                                                       amount=Sum("amount")).order_by("funding_source"):
        report.by_source.append({**row, "label": labels.get(row["funding_source"], row["funding_source"])})
    report.houses = given.exclude(house_work="").aggregate(
        new=Count("pk", filter=Q(house_work=Intervention.HouseWork.NEW)),
        repair=Count("pk", filter=Q(house_work=Intervention.HouseWork.REPAIR)), amount=Sum("amount"))
    report.houses["amount"] = report.houses["amount"] or 0

    courses = TrainingCourse.objects.filter(commune__in=communes, is_archived=False, starts_on__year=year)
    learners = CourseLearner.objects.filter(course__in=courses)
    report.training = {
        "courses": courses.count(), "cost": courses.aggregate(total=Sum("cost"))["total"] or 0,
        "learners": learners.count(), "found_work": learners.filter(found_work=True).count(),
    }
    fairs = JobFair.objects.filter(commune__in=communes, is_archived=False, held_on__year=year).aggregate(
        fairs=Count("pk"), participants=Sum("participants"), placements=Sum("placements"))
    report.job_fairs = {k: v or 0 for k, v in fairs.items()}

    end = min(date(year, 12, 31), timezone.localdate())
    outstanding, count = loans_outstanding(communes, end)
    before, _count_before = loans_outstanding(communes, date(year - 1, 12, 31))
    new = Loan.objects.filter(intervention__household__commune__in=communes, disbursed_on__year=year).aggregate(
        loans=Count("pk"), principal=Sum("principal"))
    report.loans = {
        "on": end, "outstanding": outstanding, "loans_outstanding": count, "outstanding_before": before,
        "growth": outstanding - before, "growth_rate": (outstanding - before) / before if before else None,
        "new_loans": new["loans"], "new_principal": new["principal"] or 0,
    }

    status_labels = dict(InfrastructureWork.Status.choices)
    works = {row["status"]: row for row in InfrastructureWork.objects.filter(
        commune__in=communes, is_archived=False, year=year).values("status").annotate(
        works=Count("pk"), estimated=Sum("estimated_cost"), actual=Sum("actual_cost")).order_by()}
    for status in InfrastructureWork.Status.values:
        row = works.get(status, {"works": 0, "estimated": 0, "actual": 0})
        report.works.append({"status": status, "label": status_labels[status], "works": row["works"],
                             "estimated": row["estimated"] or 0, "actual": row["actual"] or 0})

    for row in BudgetAllocation.objects.filter(commune__in=communes, year=year).values("program").annotate(
            allocated=Sum("allocated"), disbursed=Sum("disbursed")).order_by():
        rate = row["disbursed"] / row["allocated"] if row["allocated"] else None
        report.budgets.append({"program": programs[row["program"]], "allocated": row["allocated"],
                               "disbursed": row["disbursed"], "rate": rate})
    report.budgets.sort(key=lambda r: r["program"].code)
    allocated = sum(r["allocated"] for r in report.budgets)
    disbursed = sum(r["disbursed"] for r in report.budgets)
    report.budget_total = {"allocated": allocated, "disbursed": disbursed,
                           "rate": disbursed / allocated if allocated else None}

    registrations = list(EscapeRegistration.objects.filter(household__commune__in=communes, is_archived=False,
                                                           target_year=year))
    outcomes = registration_outcomes(registrations).values()
    report.registrations = {
        "registered": len(registrations),
        "escaped": sum(o.state == Outcome.ESCAPED for o in outcomes),
        "not_escaped": sum(o.state == Outcome.NOT_ESCAPED for o in outcomes),
        "pending": sum(o.state == Outcome.PENDING for o in outcomes),
    }
    return report



def report_units(user) -> QuerySet[AdminUnit]:
    """The units whose support report a user may read: their own unit and every unit below it."""
    return units_for(user)
