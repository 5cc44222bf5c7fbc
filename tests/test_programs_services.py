"""Support services: bad input refused on its field with nothing saved; loans, budgets, case work,
and an escape registration resolved by the commune's decision."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from core.models import AuditEvent
from programs import services
from programs.catalog import load_programs
from programs.models import BudgetAllocation, Intervention, LoanBalance, Program, Visit
from reviews import services as review_services
from reviews.models import HouseholdStatus

from .review_world import POOR_FLAGS, decided_year, flags

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


@pytest.fixture
def programs(world):
    load_programs(Program)
    return {p.code: p for p in Program.objects.all()}


def give(world, programs, **overrides):
    values = {"actor": world.officer, "household": world.household, "program": programs["DA5"],
              "given_on": date(2025, 5, 1), "kind": "cash", "amount": 40_000_000, "funding_source": "central",
              "house_work": "new", "status": "delivered"}
    values.update(overrides)
    return services.record_intervention(**values)


def refused(field, call):
    """The call is refused with a message on `field`, and no support, loan balance or audit event is saved."""
    counts = (Intervention.objects.count(), LoanBalance.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as exc:
        call()
    assert field in exc.value.message_dict, exc.value.message_dict
    assert (Intervention.objects.count(), LoanBalance.objects.count(), AuditEvent.objects.count()) == counts
    return exc.value.message_dict[field][0]


def test_support_recorded_with_an_audit_event(world, programs):
    support = give(world, programs)
    assert support.amount == 40_000_000 and support.status == "delivered"
    event = AuditEvent.objects.get(object_id=support.pk, action="create", content_type__model="intervention")
    assert event.household_id == world.household.pk and event.changes["amount"] == [None, 40_000_000]


def test_household_outside_the_area_is_refused_on_the_household(world, programs):
    message = refused("household", lambda: give(world, programs, household=world.household_lapantan))
    assert "outside your area" in message


def test_negative_amount_is_refused(world, programs):
    assert "negative" in refused("amount", lambda: give(world, programs, amount=-1))


def test_amount_above_the_housing_cap_is_refused(world, programs):
    assert "40.000.000" in refused("amount", lambda: give(world, programs, amount=40_000_001))
    assert "20.000.000" in refused("amount", lambda: give(world, programs, amount=25_000_000, house_work="repair"))
    refused("house_work", lambda: give(world, programs, house_work=""))


def test_training_place_above_the_course_cap_is_refused(world, programs):
    refused("amount", lambda: give(world, programs, program=programs["DA4.1"], kind="training",
                                   amount=2_500_001, house_work=""))
    assert give(world, programs, program=programs["DA4.1"], kind="training", amount=2_500_000, house_work="")


def test_date_before_the_program_existed_is_refused(world, programs):
    assert "2021" in refused("given_on", lambda: give(world, programs, given_on=date(2020, 12, 31)))


def test_member_of_another_household_is_refused(world, programs):
    other = world.household_lapantan.members.first()
    refused("member", lambda: give(world, programs, member=other))


def test_delivered_support_in_the_future_is_refused_but_planned_is_accepted(world, programs):
    later = TODAY + timedelta(days=30)
    cards = {"program": programs["BHYT-HN"], "kind": "service", "house_work": "", "amount": 1_263_600}
    refused("given_on", lambda: give(world, programs, given_on=later, **cards))
    assert give(world, programs, given_on=later, status="planned", **cards).status == "planned"


def test_date_after_the_program_ended_is_refused(world, programs):
    assert "2025" in refused("given_on", lambda: give(world, programs, given_on=date(2026, 1, 2)))


def test_reviewer_may_not_record_support(world, programs):
    with pytest.raises(PermissionDenied):
        give(world, programs, actor=world.reviewer)


def test_cancel_needs_a_reason_and_keeps_the_record(world, programs):
    support = give(world, programs)
    refused("cancel_reason", lambda: services.cancel_intervention(actor=world.officer, intervention=support,
                                                                  reason=""))
    services.cancel_intervention(actor=world.officer, intervention=support, reason="Trùng với hỗ trợ khác")
    support.refresh_from_db()
    assert support.status == "cancelled" and Intervention.objects.filter(pk=support.pk).exists()


def test_deliver_a_planned_support(world, programs):
    support = give(world, programs, status="planned")
    services.deliver_intervention(actor=world.officer, intervention=support, delivered_on=date(2025, 6, 1))
    support.refresh_from_db()
    assert (support.status, support.given_on) == ("delivered", date(2025, 6, 1))


# --- loans ---------------------------------------------------------------------------------


def lend(world, programs, principal=50_000_000):
    return services.record_loan(actor=world.officer, household=world.household, program=programs["NHCS-HN"],
                                principal=principal, disbursed_on=date(2024, 3, 1), term_months=60,
                                purpose="Mua bò sinh sản")


def test_loan_repayments_lower_the_balance(world, programs):
    loan = lend(world, programs)
    assert loan.intervention.kind == "loan" and loan.intervention.funding_source == "credit"
    services.record_repayment(actor=world.officer, loan=loan, on=date(2025, 3, 1), amount=10_000_000)
    balance = services.record_repayment(actor=world.officer, loan=loan, on=date(2025, 9, 1), amount=15_000_000)
    assert balance.outstanding == 25_000_000


def test_repaying_more_than_the_principal_is_refused(world, programs):
    loan = lend(world, programs)
    services.record_repayment(actor=world.officer, loan=loan, on=date(2025, 3, 1), amount=45_000_000)
    message = refused("amount", lambda: services.record_repayment(actor=world.officer, loan=loan,
                                                                  on=date(2025, 4, 1), amount=6_000_000))
    assert "51.000.000" in message and "50.000.000" in message
    refused("outstanding", lambda: services.record_loan_balance(actor=world.officer, loan=loan, on=date(2025, 5, 1),
                                                                outstanding=60_000_000))
    refused("outstanding", lambda: services.record_loan_balance(actor=world.officer, loan=loan, on=date(2025, 5, 1),
                                                                outstanding=-1))


def test_balances_are_recorded_in_date_order(world, programs):
    loan = lend(world, programs)
    services.record_repayment(actor=world.officer, loan=loan, on=date(2025, 3, 1), amount=1_000_000)
    refused("on", lambda: services.record_repayment(actor=world.officer, loan=loan, on=date(2025, 2, 1),
                                                    amount=1_000_000))
    refused("on", lambda: services.record_repayment(actor=world.officer, loan=loan, on=date(2024, 1, 1),
                                                    amount=1_000_000))


def test_a_loan_is_not_cancelled(world, programs):
    loan = lend(world, programs)
    refused("status", lambda: services.cancel_intervention(actor=world.officer, intervention=loan.intervention,
                                                           reason="Nhầm"))


def test_zero_principal_is_refused(world, programs):
    refused("principal", lambda: lend(world, programs, principal=0))


# --- budgets -------------------------------------------------------------------------------


def test_budget_allocated_above_and_disbursed_by_the_commune(world, programs):
    with pytest.raises(PermissionDenied):
        services.allocate_budget(actor=world.officer, commune=world.tathang, program=programs["DA5"], year=2025,
                                 funding_source="central", allocated=100_000_000)
    allocation = services.allocate_budget(actor=world.reviewer, commune=world.tathang, program=programs["DA5"],
                                          year=2025, funding_source="central", allocated=100_000_000)
    services.record_disbursement(actor=world.officer, allocation=allocation, amount=60_000_000)
    with pytest.raises(ValidationError) as exc:
        services.record_disbursement(actor=world.officer, allocation=allocation, amount=40_000_001)
    assert "amount" in exc.value.message_dict
    allocation.refresh_from_db()
    assert allocation.disbursed == 60_000_000 and allocation.rate == 0.6
    with pytest.raises(ValidationError) as exc:
        services.allocate_budget(actor=world.reviewer, commune=world.tathang, program=programs["DA5"], year=2025,
                                 funding_source="central", allocated=50_000_000)
    assert "allocated" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.allocate_budget(actor=world.reviewer, commune=world.yty, program=programs["DA5"], year=2025,
                                 funding_source="central", allocated=1)
    assert "commune" in exc.value.message_dict
    assert BudgetAllocation.objects.count() == 1


# --- case work -----------------------------------------------------------------------------


def test_a_new_helper_replaces_the_current_one(world):
    first = services.create_helper(actor=world.officer, commune=world.tathang, full_name="Vàng Seo Sử",
                                   position="party_member")
    second = services.create_helper(actor=world.officer, commune=world.tathang, full_name="Lù Thị Hoa",
                                    position="official")
    services.assign_helper(actor=world.officer, helper=first, household=world.household, started_on=date(2025, 1, 1))
    services.assign_helper(actor=world.officer, helper=second, household=world.household,
                           started_on=date(2025, 6, 1))
    current = world.household.helper_assignments.get(ended_on__isnull=True)
    assert current.helper == second
    assert world.household.helper_assignments.get(helper=first).ended_on == date(2025, 6, 1)
    with pytest.raises(ValidationError) as exc:
        services.assign_helper(actor=world.officer, helper=first, household=world.household_lapantan,
                               started_on=date(2025, 6, 1))
    assert "household" in exc.value.message_dict


def test_visit_follow_up_due_needs_a_follow_up_and_is_closed_once(world):
    with pytest.raises(ValidationError) as exc:
        services.record_visit(actor=world.officer, household=world.household, visited_on=TODAY - timedelta(days=3),
                              findings="Nhà dột", follow_up_due=TODAY)
    assert "follow_up" in exc.value.message_dict
    visit = services.record_visit(actor=world.officer, household=world.household,
                                  visited_on=TODAY - timedelta(days=3), findings="Nhà dột",
                                  follow_up="Đề xuất hỗ trợ sửa nhà", follow_up_due=TODAY + timedelta(days=2))
    services.close_follow_up(actor=world.officer, visit=visit)
    with pytest.raises(ValidationError):
        services.close_follow_up(actor=world.officer, visit=visit)
    assert Visit.objects.get(pk=visit.pk).follow_up_done_on == TODAY


# --- escape registrations ---------------------------------------------------------------------


def decide(world, year, *, income, deprived):
    """A periodic round of Tả Thàng for `year`, every household surveyed with these facts, decided today."""
    actor, household = world.officer, world.household
    round_ = review_services.open_round(actor=actor, commune=household.commune, year=year)
    for survey in round_.surveys.all():
        review_services.record_survey(actor=actor, survey=survey, income=income,
                                      deprivations=flags(round_.standard, *deprived))
    votes = {s.pk: 20 for s in round_.surveys.all()}
    review_services.record_meeting(actor=actor, round_=round_, village=household.village,
                                   held_on=date(year, 10, 1), attendance=25, chaired_by="Vàng Seo Sử", votes=votes)
    review_services.record_posting(actor=actor, round_=round_, start=date(year, 10, 5), days=3)
    review_services.submit_round(actor=actor, round_=round_)
    review_services.approve_round(actor=world.reviewer, round_=round_)
    review_services.record_decision(actor=actor, round_=round_, number=f"{year}/QĐ", decided_on=TODAY,
                                    signer="Chủ tịch UBND xã")
    return round_


def register(world, **overrides):
    values = {"actor": world.officer, "household": world.household, "target_year": TODAY.year,
              "indicators_to_fix": ["latrine", "housing_quality"], "target_income": 1_600_000,
              "support_asked": "Vay vốn mua bò; hỗ trợ làm nhà tiêu"}
    values.update(overrides)
    return services.register_escape(**values)


def test_registration_resolved_by_the_decided_review(world, programs):
    decided_year(world.officer, world.reviewer, world.household, TODAY.year - 1)  # poor, POOR_FLAGS
    registration = register(world, programs=[programs["NHCS-HN"]])
    assert services.registration_outcome(registration).state == "pending"
    decide(world, TODAY.year, income=1_700_000, deprived=["employment"])
    status = HouseholdStatus.objects.get(household=world.household, year=TODAY.year)
    assert status.category == "none"
    outcome = services.registration_outcome(registration)
    assert outcome.state == "escaped" and outcome.status == status
    assert outcome.closed == ["latrine", "housing_quality"] and outcome.still_deprived == []
    assert outcome.income_reached is True
    assert set(outcome.before.deprived) == set(POOR_FLAGS)


def test_registration_not_escaped_names_what_is_still_deprived(world):
    decided_year(world.officer, world.reviewer, world.household, TODAY.year - 1)
    registration = register(world)
    decide(world, TODAY.year, income=1_200_000, deprived=["employment", "latrine", "telecom"])
    outcome = services.registration_outcome(registration)
    assert outcome.state == "not_escaped"
    assert outcome.closed == ["housing_quality"] and outcome.still_deprived == ["latrine"]
    assert outcome.income_reached is False


def test_registration_refusals_name_the_field(world):
    with pytest.raises(ValidationError) as exc:
        register(world, target_year=TODAY.year - 1)
    assert "target_year" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        register(world, indicators_to_fix=["no_such_indicator"])
    assert "indicators_to_fix" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        register(world, household=world.household_lapantan)
    assert "household" in exc.value.message_dict
    register(world)
    with pytest.raises(ValidationError) as exc:
        register(world)
    assert "target_year" in exc.value.message_dict


def test_a_withdrawn_registration_frees_the_year(world):
    registration = register(world)
    services.withdraw_registration(actor=world.officer, registration=registration, reason="Gia đình xin rút")
    assert register(world).pk != registration.pk
