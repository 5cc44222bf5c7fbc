"""Every write of the review and of support leaves an audit event: who, through what, and each value
before and after, linked to the household where there is one."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from core.models import AuditEvent
from programs import services as support
from programs.catalog import load_programs
from programs.models import Program
from reviews import services as review
from reviews.models import Request

from .review_world import POOR_FLAGS, flags

TODAY = timezone.localdate()


def last_event(instance) -> AuditEvent:
    return AuditEvent.objects.filter(content_type__model=instance._meta.model_name,
                                     object_id=instance.pk).order_by("-id").first()


def assert_attributed(instance, actor, action, household=None, source="form") -> dict:
    event = last_event(instance)
    assert event is not None, f"no audit event for {instance!r}"
    assert (event.actor, event.action, event.source) == (actor, action, source)
    assert event.household_id == (household.pk if household else None)
    assert event.changes
    return event.changes


@pytest.fixture
def programs(world):
    load_programs(Program)
    return {p.code: p for p in Program.objects.all()}


@pytest.fixture
def round_(world):
    return review.open_round(actor=world.officer, commune=world.tathang, year=TODAY.year)


# --- the review -------------------------------------------------------------------------------------

def test_survey_answers_are_audited_with_before_and_after(world, round_):
    survey = round_.surveys.get(household=world.household)
    survey = review.record_survey(actor=world.officer, survey=survey, income=1_000_000,
                                  deprivations=flags(round_.standard, *POOR_FLAGS))
    changes = assert_attributed(survey, world.officer, "update", world.household)
    assert changes["income"] == [None, 1_000_000]
    assert changes["status"] == ["pending", "surveyed"] and changes["category"] == ["", "poor"]


def test_surveys_recorded_together_are_audited_one_by_one(world, round_):
    survey = round_.surveys.get(household=world.household)
    review.record_surveys(actor=world.officer, round_=round_, entries=[
        (survey, {"income": 1_200_000, "deprivations": flags(round_.standard, *POOR_FLAGS)})])
    assert assert_attributed(survey, world.officer, "update", world.household)["income"] == [None, 1_200_000]


def test_village_meeting_and_its_votes_are_audited(world, round_):
    survey = round_.surveys.get(household=world.household)
    review.record_survey(actor=world.officer, survey=survey, income=1_000_000,
                         deprivations=flags(round_.standard, *POOR_FLAGS))
    meeting = review.record_meeting(actor=world.officer, round_=round_, village=world.village,
                                    held_on=TODAY - timedelta(days=1), attendance=30, chaired_by="Vàng Seo Sử",
                                    votes={survey.pk: 10})
    changes = assert_attributed(meeting, world.officer, "create")
    assert changes["attendance"] == [None, 30] and changes["chaired_by"] == [None, "Vàng Seo Sử"]
    votes = assert_attributed(survey, world.officer, "update", world.household)
    assert votes["votes_agree"] == [None, 10] and votes["status"] == ["surveyed", "resurvey"]
    review.record_meeting(actor=world.officer, round_=round_, village=world.village,
                          held_on=TODAY - timedelta(days=1), attendance=40, chaired_by="Vàng Seo Sử", votes={})
    assert assert_attributed(meeting, world.officer, "update") == {"attendance": [30, 40]}


def test_posting_is_audited(world, round_):
    review.record_posting(actor=world.officer, round_=round_, start=TODAY - timedelta(days=1), days=5)
    changes = assert_attributed(round_, world.officer, "update")
    assert changes["posting_start"] == [None, (TODAY - timedelta(days=1)).isoformat()]
    assert changes["posting_days"][1] == 5


def test_complaint_and_its_resolution_are_audited(world, round_):
    complaint = review.record_complaint(actor=world.officer, round_=round_, complainant="Lý Thị Dung",
                                        received_on=TODAY - timedelta(days=2), content="Hộ này có xe máy mới.",
                                        household=world.household)
    assert assert_attributed(complaint, world.officer, "create", world.household)["complainant"] == [
        None, "Lý Thị Dung"]
    review.resolve_complaint(actor=world.officer, complaint=complaint, recheck_on=TODAY, findings="Xe đi mượn.",
                             outcome="dismissed")
    changes = assert_attributed(complaint, world.officer, "update", world.household)
    assert changes["recheck_findings"] == ["", "Xe đi mượn."]


def test_request_refusal_records_its_actor_and_is_audited(world):
    request = review.create_request(actor=world.officer, household=world.household, kind=Request.Kind.EXIT,
                                    received_on=TODAY - timedelta(days=3), channel=Request.Channel.IN_PERSON)
    assert assert_attributed(request, world.officer, "create", world.household)["kind"] == [None, "exit"]
    review.refuse_request(actor=world.officer, request=request, answer="Hộ chưa đủ điều kiện thoát nghèo.")
    request.refresh_from_db()
    assert request.answered_by == world.officer
    changes = assert_attributed(request, world.officer, "update", world.household)
    assert changes["status"] == ["open", "refused"]
    assert changes["answered_by"] == [None, str(world.officer)]


# --- support ------------------------------------------------------------------------------------------

def test_budget_allocation_and_disbursement_are_audited(world, programs):
    allocation = support.allocate_budget(actor=world.reviewer, commune=world.tathang, program=programs["DA5"],
                                         year=2025, funding_source="central", allocated=100_000_000)
    assert assert_attributed(allocation, world.reviewer, "create")["allocated"] == [None, 100_000_000]
    support.allocate_budget(actor=world.province_admin, commune=world.tathang, program=programs["DA5"],
                            year=2025, funding_source="central", allocated=120_000_000)
    assert assert_attributed(allocation, world.province_admin, "update") == {"allocated": [100_000_000, 120_000_000]}
    support.record_disbursement(actor=world.officer, allocation=allocation, amount=20_000_000)
    assert assert_attributed(allocation, world.officer, "update") == {"disbursed": [0, 20_000_000]}


def test_visits_and_their_follow_up_are_audited(world):
    visit = support.record_visit(actor=world.officer, household=world.household,
                                 visited_on=TODAY - timedelta(days=3), findings="Nhà dột",
                                 follow_up="Báo xã hỗ trợ sửa mái", follow_up_due=TODAY + timedelta(days=10))
    assert assert_attributed(visit, world.officer, "create", world.household)["findings"] == [None, "Nhà dột"]
    support.close_follow_up(actor=world.officer, visit=visit, done_on=TODAY)
    assert assert_attributed(visit, world.officer, "update", world.household) == {
        "follow_up_done_on": [None, TODAY.isoformat()]}


def test_loan_repayments_are_audited_on_the_household(world, programs):
    loan = support.record_loan(actor=world.officer, household=world.household, program=programs["NHCS-HN"],
                               principal=50_000_000, disbursed_on=date(2024, 3, 1), term_months=60,
                               purpose="Mua bò sinh sản")
    balance = support.record_repayment(actor=world.officer, loan=loan, on=date(2025, 3, 1), amount=10_000_000)
    changes = assert_attributed(balance, world.officer, "create", world.household)
    assert changes["outstanding"] == [None, 40_000_000] and changes["repaid"] == [None, 10_000_000]


def test_helpers_and_assignments_are_audited(world):
    helper = support.create_helper(actor=world.officer, commune=world.tathang, full_name="Vàng Seo Sử",
                                   position="party_member")
    assert assert_attributed(helper, world.officer, "create")["full_name"] == [None, "Vàng Seo Sử"]
    assignment = support.assign_helper(actor=world.officer, helper=helper, household=world.household,
                                       started_on=date(2025, 1, 1))
    assert assert_attributed(assignment, world.officer, "create", world.household)["started_on"] == [
        None, "2025-01-01"]
    support.end_assignment(actor=world.officer, assignment=assignment, ended_on=date(2025, 6, 1), reason="Chuyển")
    assert assert_attributed(assignment, world.officer, "update", world.household)["ended_on"] == [
        None, "2025-06-01"]


def test_group_activities_are_audited(world, programs):
    course = support.create_course(actor=world.officer, commune=world.tathang, program=programs["DA4.1"],
                                   trade="Trồng chè", starts_on=date(2025, 3, 1), ends_on=date(2025, 4, 1),
                                   cost=30_000_000, funding_source="central")
    assert assert_attributed(course, world.officer, "create")["trade"] == [None, "Trồng chè"]
    work = support.record_work(actor=world.officer, commune=world.tathang, name="Đường bê tông thôn", year=2025,
                               category="roads", estimated_cost=500_000_000,
                               funding_source="central")
    assert assert_attributed(work, world.officer, "create")["estimated_cost"] == [None, 500_000_000]
    support.update_work(actor=world.officer, work=work, status="done", actual_cost=480_000_000)
    assert assert_attributed(work, world.officer, "update")["actual_cost"] == [None, 480_000_000]
    support.archive_record(actor=world.officer, record_=course, reason="Nhập nhầm")
    event = last_event(course)
    assert (event.actor, event.action, event.reason) == (world.officer, "archive", "Nhập nhầm")
