"""Support selectors on the demo data: the path out, households closest to leaving poverty,
case-work lists and the support report, each checked against a direct count.

The demo is built once for the module inside a transaction rolled back at the end (as in test_demo).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation

from core.models import User
from geo.models import AdminUnit
from households.models import Household
from programs import selectors
from programs.models import (
    BudgetAllocation,
    CourseLearner,
    EscapeRegistration,
    HelperAssignment,
    InfrastructureWork,
    Intervention,
    JobFair,
    Loan,
    Visit,
)
from reviews.models import HouseholdStatus

YEAR = timezone.localdate().year - 1  # the demo's year of support


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), translation.override("en"), transaction.atomic():
        call_command("seed_demo", stdout=StringIO())
        yield
        transaction.set_rollback(True)


@pytest.fixture
def officer(seeded, db):
    return User.objects.get(username="xa_tathang")


def district():
    return AdminUnit.objects.get(edition=2021, level=AdminUnit.Level.DISTRICT, code="083")


def test_path_out_lists_every_poor_and_near_poor_household_with_its_deprivations(
        officer, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        paths = selectors.path_out_list(officer)
    expected = set(Household.objects.filter(commune=officer.unit, is_archived=False,
                                            classification__in=["poor", "near_poor"]).values_list("pk", flat=True))
    assert {p.household.pk for p in paths} == expected
    received = defaultdict(set)
    for hid, program in Intervention.objects.filter(household__commune=officer.unit, status="delivered") \
            .values_list("household_id", "program_id"):
        received[hid].add(program)
    checked = 0
    for path in paths:
        assert path.survey is not None
        assert [s.code for s in path.steps] == path.survey.deprived
        assert path.income_gap == path.survey.income_gap and path.income_gap >= 0
        if path.category == "poor":
            assert path.to_close == max(len(path.survey.deprived) - 2, 0)
        for step in path.steps:
            for offer in step.offers:
                assert step.code in offer.program.indicators
                assert offer.received == (offer.program.pk in received[path.household.pk])
                checked += 1
    assert checked > 0


def test_a_received_program_is_marked_received_on_the_path(officer):
    path = next(p for p in selectors.path_out_list(officer) if p.steps and p.steps[0].offers)
    offer = path.steps[0].offers[0]
    assert not offer.received
    Intervention.objects.create(household=path.household, program=offer.program, given_on=date(YEAR, 6, 1),
                                kind="service", amount=0, funding_source="central", status="delivered")
    again = selectors.path_out(path.household, on=timezone.localdate())
    assert next(o for o in again.steps[0].offers if o.program == offer.program).received


def test_closest_to_leaving_are_poor_households_by_gap_then_deprivations(officer):
    closest = selectors.closest_to_leaving(officer)
    assert closest and all(p.category == "poor" for p in closest)
    keys = [(p.income_gap, p.to_close) for p in closest]
    assert keys == sorted(keys)
    assert len(selectors.closest_to_leaving(officer, limit=5)) == 5


def test_poor_households_without_a_helper(officer):
    listed = set(selectors.households_without_helper(officer).values_list("pk", flat=True))
    followed = set(HelperAssignment.objects.filter(ended_on__isnull=True).values_list("household_id", flat=True))
    poor = set(Household.objects.filter(commune=officer.unit, classification="poor", is_archived=False)
               .values_list("pk", flat=True))
    assert listed and listed == poor - followed


def test_due_follow_ups_are_open_and_within_the_week(officer):
    today = timezone.localdate()
    due = selectors.due_follow_ups(officer, today=today)
    direct = Visit.objects.filter(household__commune=officer.unit, follow_up_done_on__isnull=True,
                                  follow_up_due__lte=today + timedelta(days=7))
    assert {v.pk for v in due} == set(direct.values_list("pk", flat=True))
    assert all(v.is_late == (v.follow_up_due < today) for v in due)


def test_last_years_registrations_are_resolved_by_the_decision(officer):
    rows = selectors.registrations_for(officer, year=YEAR)
    assert rows
    for registration, outcome in rows:
        status = HouseholdStatus.objects.filter(household=registration.household, year=YEAR).latest("decided_on")
        assert outcome.state == ("escaped" if status.category != "poor" else "not_escaped")


def test_support_report_equals_direct_counts(seeded, db, django_assert_max_num_queries):
    unit = district()
    communes = AdminUnit.objects.filter(parent=unit)
    with django_assert_max_num_queries(30):
        report = selectors.support_report(unit, YEAR)
    given = Intervention.objects.filter(household__commune__in=communes, status="delivered", given_on__year=YEAR)
    assert report.households_reached == len(set(given.values_list("household_id", flat=True))) > 0
    assert report.amount == sum(given.values_list("amount", flat=True))
    assert sum(r["amount"] for r in report.by_program) == report.amount
    assert sum(r["amount"] for r in report.by_source) == report.amount
    assert report.houses["new"] == given.filter(house_work="new").count()
    courses = list(CourseLearner.objects.filter(course__commune__in=communes, course__starts_on__year=YEAR))
    assert report.training["learners"] == len(courses)
    assert report.training["found_work"] == sum(c.found_work for c in courses)
    fairs = JobFair.objects.filter(commune__in=communes, held_on__year=YEAR)
    assert report.job_fairs["placements"] == sum(f.placements for f in fairs)
    # Loans: the last balance of each loan on 31 December, computed the long way.
    for on, key in ((date(YEAR, 12, 31), "outstanding"), (date(YEAR - 1, 12, 31), "outstanding_before")):
        total = 0
        for loan in Loan.objects.filter(intervention__household__commune__in=communes, disbursed_on__lte=on):
            total += [b for b in loan.balances.order_by("on", "id") if b.on <= on][-1].outstanding
        assert report.loans[key] == total
    assert report.loans["growth"] == report.loans["outstanding"] - report.loans["outstanding_before"]
    works = InfrastructureWork.objects.filter(commune__in=communes, year=YEAR)
    for row in report.works:
        assert row["works"] == works.filter(status=row["status"]).count()
        assert row["estimated"] == (works.filter(status=row["status"]).aggregate(s=Sum("estimated_cost"))["s"] or 0)
    allocations = BudgetAllocation.objects.filter(commune__in=communes, year=YEAR)
    assert report.budget_total["allocated"] == sum(a.allocated for a in allocations)
    assert report.budget_total["disbursed"] == sum(a.disbursed for a in allocations)
    assert report.registrations["registered"] == EscapeRegistration.objects.filter(
        household__commune__in=communes, target_year=YEAR, is_archived=False).count()
    assert report.registrations["pending"] == 0


def test_a_commune_report_is_part_of_its_districts(officer):
    commune = officer.unit
    whole, part = selectors.support_report(district(), YEAR), selectors.support_report(commune, YEAR)
    assert 0 < part.amount < whole.amount
    assert 0 < part.training["courses"] < whole.training["courses"]
