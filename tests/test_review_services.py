"""The review round's steps as services: rights, states, meeting rule, posting, complaints, decision, movements."""

import threading
from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import close_old_connections, connection
from django.utils import timezone

from core.models import AuditEvent
from households.models import Household
from reviews import services
from reviews.models import Category, HouseholdStatus, PovertyStandard, Request, ReviewEvent, ReviewRound, Survey

from .review_world import POOR_FLAGS, decided_year, flags, review_commune
from .world import build_world, make_household, member

TODAY = timezone.localdate()


def test_shipped_standards_and_the_year_picks_its_standard(world):
    s2022 = PovertyStandard.objects.get(code="2022-2025")
    s2027 = PovertyStandard.objects.get(code="2027-2030")
    assert (s2022.income_line_rural, s2022.income_line_urban) == (1_500_000, 2_000_000)
    assert (s2027.income_line_rural, s2027.income_line_urban, s2027.is_provisional) == (2_200_000, 2_800_000, True)
    assert s2022.indicators.count() == 12 and s2027.indicators.count() == 12
    assert services.standard_for(2026, world.tathang) == s2022
    assert services.standard_for(2027, world.tathang) == s2027
    own = PovertyStandard.objects.create(
        code="LC-2027", name="Lào Cai", legal_basis="NQ HĐND", first_year=2027, last_year=2030,
        province=world.province, income_line_rural=2_500_000, income_line_urban=3_000_000,
        middle_line_rural=3_500_000, middle_line_urban=4_500_000)
    assert services.standard_for(2027, world.tathang) == own
    assert services.standard_for(2027, world.other_commune) == s2027
    with pytest.raises(ValidationError):
        services.standard_for(2019, world.tathang)


def test_periodic_round_lists_current_poor_and_near_poor_plus_open_requests(world):
    near = make_household(world.officer, world.tathang, world.village, "Lý Seo Dình", code="0002",
                          classification="near_poor", classification_year=2025)
    other = make_household(world.officer, world.tathang, world.village, "Thào A Lử", code="0003")
    make_household(world.officer, world.tathang, world.village, "Ma Văn Tủa", code="0004")
    request = services.create_request(actor=world.officer, household=other, kind=Request.Kind.ADD,
                                      received_on=TODAY, channel=Request.Channel.VILLAGE_HEAD)
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=2026)
    listed = {s.household_id: s for s in round_.surveys.all()}
    assert set(listed) == {world.household.pk, near.pk, other.pk}
    assert listed[other.pk].origin == Survey.Origin.REQUEST and listed[other.pk].request == request
    assert listed[near.pk].previous_category == Category.NEAR_POOR
    request.refresh_from_db()
    assert request.status == Request.Status.IN_ROUND and request.round == round_
    with pytest.raises(ValidationError):
        services.open_round(actor=world.officer, commune=world.tathang, year=2026)


def test_only_the_commune_officer_opens_and_surveys(world):
    with pytest.raises(PermissionDenied):
        services.open_round(actor=world.reviewer, commune=world.tathang, year=2026)
    with pytest.raises(PermissionDenied):
        services.open_round(actor=world.officer, commune=world.lapantan, year=2026)
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=2026)
    survey = round_.surveys.get()
    with pytest.raises(PermissionDenied):
        services.record_survey(actor=world.province_admin, survey=survey, income=1,
                               deprivations=flags(round_.standard))


def test_causes_of_poverty_are_kept_for_a_household_on_the_lists_only(world):
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=2026)
    poor = flags(round_.standard, *POOR_FLAGS)
    survey = services.record_survey(actor=world.officer, survey=round_.surveys.get(), income=1_200_000,
                                    deprivations=poor, causes=["illness", "no_capital", "illness"])
    assert survey.category == "poor"
    assert survey.causes == ["no_capital", "illness"]  # each once, in the list's order
    # A later save without causes (a file without the column) keeps them.
    survey = services.record_survey(actor=world.officer, survey=survey, income=1_100_000, deprivations=poor)
    assert survey.causes == ["no_capital", "illness"]
    with pytest.raises(ValidationError) as refused:
        services.record_survey(actor=world.officer, survey=survey, income=1_100_000, deprivations=poor,
                               causes=["bad_luck"])
    assert "bad_luck" in str(refused.value.message_dict["causes"])
    assert Survey.objects.get(pk=survey.pk).causes == ["no_capital", "illness"]
    # A household above the lines is not asked: its causes are dropped with its new result.
    survey = services.record_survey(actor=world.officer, survey=survey, income=5_000_000,
                                    deprivations=flags(round_.standard), causes=["no_land"])
    assert survey.category not in ("poor", "near_poor") and survey.causes == []


def test_survey_stores_result_with_the_standard_code_and_explains_it_in_vietnamese(world):
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=2026)
    survey = services.record_survey(actor=world.officer, survey=round_.surveys.get(), income=1_200_000,
                                    deprivations=flags(round_.standard, *POOR_FLAGS))
    assert survey.status == Survey.Status.SURVEYED
    assert (survey.category, survey.deprivation_count, survey.income_gap) == ("poor", 4, 300_000)
    assert survey.standard_code == "2022-2025"
    assert survey.explanation.startswith("Thu nhập 1.200.000")
    assert set(survey.deprived) == set(POOR_FLAGS)
    # A later change of the standard never rewrites the stored result.
    PovertyStandard.objects.filter(code="2022-2025").update(income_line_rural=1_000_000)
    survey.refresh_from_db()
    assert survey.category == "poor" and survey.income_gap == 300_000


@pytest.mark.parametrize(("facts", "field"), [
    ({"income": -5}, "income"),
    ({"income": None}, "income"),
    ({"income": 1_000_000, "drop": "latrine"}, "latrine"),
])
def test_impossible_survey_is_refused_naming_the_field_and_nothing_is_saved(world, facts, field):
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=2026)
    survey = round_.surveys.get()
    answers = flags(round_.standard, "latrine")
    if "drop" in facts:
        del answers[facts.pop("drop")]
    with pytest.raises(ValidationError) as info:
        services.record_survey(actor=world.officer, survey=survey, deprivations=answers, **facts)
    assert field in info.value.message_dict
    survey.refresh_from_db()
    assert survey.status == Survey.Status.PENDING and survey.category == "" and survey.income is None


def test_year_outside_the_standard_is_refused(world):
    standard = PovertyStandard.objects.get(code="2022-2025")
    round_ = ReviewRound.objects.create(commune=world.tathang, year=2027, standard=standard, opened_by=world.officer)
    survey = Survey.objects.create(round=round_, household=world.household, origin=Survey.Origin.MANUAL)
    with pytest.raises(ValidationError) as info:
        services.record_survey(actor=world.officer, survey=survey, income=1, deprivations=flags(standard))
    assert "year" in info.value.message_dict


def test_meeting_below_half_sends_the_household_back_to_survey(world):
    second = make_household(world.officer, world.tathang, world.village, "Lý Seo Dình", code="0002",
                            classification="poor", classification_year=2025)
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=2026)
    for survey in round_.surveys.all():
        services.record_survey(actor=world.officer, survey=survey, income=1_000_000,
                               deprivations=flags(round_.standard, *POOR_FLAGS))
    first = round_.surveys.get(household=world.household)
    other = round_.surveys.get(household=second)
    services.record_meeting(actor=world.officer, round_=round_, village=world.village, held_on=TODAY,
                            attendance=40, chaired_by="Vàng Seo Sử", votes={first.pk: 20, other.pk: 19})
    first.refresh_from_db()
    other.refresh_from_db()
    assert first.status == Survey.Status.SURVEYED and first.votes_agree == 20  # exactly half agrees: stands
    assert other.status == Survey.Status.RESURVEY
    assert any("survey again" in p for p in services.submission_problems(round_))
    # Surveyed again, it goes back to the meeting.
    other = services.record_survey(actor=world.officer, survey=other, income=1_000_000,
                                   deprivations=flags(round_.standard, "latrine"))
    assert other.status == Survey.Status.SURVEYED and other.votes_agree is None and other.category == "near_poor"
    with pytest.raises(ValidationError):
        services.record_meeting(actor=world.officer, round_=round_, village=world.village, held_on=TODAY,
                                attendance=10, chaired_by="Vàng Seo Sử", votes={other.pk: 11})


def _ready_round(world, *, open_complaint=True):
    review = review_commune(world.officer, world.household, year=2026)
    if not open_complaint:
        services.resolve_complaint(actor=world.officer, complaint=review.complaint, recheck_on=TODAY,
                                   findings="Xe máy là của người thân.", outcome="dismissed")
    return review


def test_a_list_cannot_be_submitted_while_a_complaint_is_open_or_the_posting_runs(world):
    review = _ready_round(world)
    with pytest.raises(ValidationError) as info:
        services.submit_round(actor=world.officer, round_=review.round)
    assert "complaint" in str(info.value)
    services.resolve_complaint(actor=world.officer, complaint=review.complaint, recheck_on=TODAY,
                               findings="Xe máy là của người thân.", outcome="dismissed")
    services.record_posting(actor=world.officer, round_=review.round, start=TODAY, days=3)
    with pytest.raises(ValidationError) as info:
        services.submit_round(actor=world.officer, round_=review.round)
    assert "posting runs until" in str(info.value)
    services.record_posting(actor=world.officer, round_=review.round, start=TODAY - timedelta(days=7), days=3)
    assert services.submit_round(actor=world.officer, round_=review.round).status == ReviewRound.Status.SUBMITTED


def test_posting_counts_working_days():
    round_ = ReviewRound(posting_start=date(2026, 11, 27), posting_days=3)  # a Friday
    assert round_.posting_end == date(2026, 12, 1)  # Friday, Monday, Tuesday


def test_the_whole_round_with_a_return_and_illegal_steps_refused(world):
    review = _ready_round(world, open_complaint=False)
    round_ = services.submit_round(actor=world.officer, round_=review.round)
    with pytest.raises(ValidationError):  # edited after submission
        services.record_survey(actor=world.officer, survey=review.survey, income=1, deprivations=flags(
            round_.standard))
    with pytest.raises(PermissionDenied):
        services.approve_round(actor=world.officer, round_=round_)
    with pytest.raises(PermissionDenied):  # another district's reviewer: outside the area
        services.approve_round(actor=world.reviewer2025, round_=round_)
    with pytest.raises(ValidationError):  # decided before approval
        services.record_decision(actor=world.officer, round_=round_, number="1/QĐ", decided_on=TODAY, signer="A")
    with pytest.raises(ValidationError):  # returned without a reason
        services.return_round(actor=world.reviewer, round_=round_, comment=" ")
    round_ = services.return_round(actor=world.reviewer, round_=round_, comment="Kiểm tra lại thu nhập.",
                                   household_comments={review.survey.pk: "Thu nhập có vẻ thấp."})
    assert round_.status == ReviewRound.Status.RETURNED
    survey = services.record_survey(actor=world.officer, survey=Survey.objects.get(pk=review.survey.pk),
                                    income=1_400_000, deprivations=flags(round_.standard, *POOR_FLAGS))
    assert survey.reviewer_comment == "Thu nhập có vẻ thấp."
    round_ = services.submit_round(actor=world.officer, round_=round_)
    round_ = services.approve_round(actor=world.reviewer, round_=round_)
    with pytest.raises(ValidationError):  # approved twice
        services.approve_round(actor=world.reviewer, round_=round_)
    round_ = services.record_decision(actor=world.officer, round_=round_, number="125/QĐ-UBND", decided_on=TODAY,
                                      signer="Chủ tịch UBND xã Tả Thàng")
    assert round_.status == ReviewRound.Status.DECIDED
    status = HouseholdStatus.objects.get(household=world.household, round=round_)
    assert (status.category, status.previous_category, status.movement) == ("poor", "poor", "unchanged")
    actions = list(round_.events.order_by("at", "id").values_list("action", flat=True))
    assert actions[0] == ReviewEvent.Action.OPENED and actions[-1] == ReviewEvent.Action.DECIDED
    assert ReviewEvent.Action.RETURNED in actions and actions.count(ReviewEvent.Action.SUBMITTED) == 2
    review.request.refresh_from_db()
    assert review.request.status == Request.Status.DECIDED
    with pytest.raises(ValidationError):  # decided twice
        services.record_decision(actor=world.officer, round_=round_, number="2", decided_on=TODAY, signer="A")


def test_decision_makes_statuses_official_with_one_movement_each_and_audits_the_register(world):
    w = world
    escaping = make_household(w.officer, w.tathang, w.village, "Lý Seo Dình", code="0002",
                              classification="poor", classification_year=2025)
    near = make_household(w.officer, w.tathang, w.village, "Thào A Lử", code="0003",
                          classification="near_poor", classification_year=2025)
    newcomer = make_household(w.officer, w.tathang, w.village, "Ma Văn Tủa", code="0004")
    untouched = make_household(w.officer, w.tathang, w.village, "Hầu A Dế", code="0005",
                               others=[member("Hầu Thị Mai", "spouse", "female", 1990)])
    services.create_request(actor=w.officer, household=newcomer, kind=Request.Kind.ADD, received_on=TODAY,
                            channel=Request.Channel.IN_PERSON)
    round_ = services.open_round(actor=w.officer, commune=w.tathang, year=2026)
    facts = {w.household.pk: (1_000_000, POOR_FLAGS), escaping.pk: (1_000_000, ("latrine",)),
             near.pk: (1_000_000, POOR_FLAGS), newcomer.pk: (900_000, POOR_FLAGS)}
    for survey in round_.surveys.all():
        income, deprived = facts[survey.household_id]
        services.record_survey(actor=w.officer, survey=survey, income=income,
                               deprivations=flags(round_.standard, *deprived))
    services.record_meeting(actor=w.officer, round_=round_, village=w.village, held_on=TODAY - timedelta(days=9),
                            attendance=20, chaired_by="Vàng Seo Sử",
                            votes={s.pk: 15 for s in round_.surveys.all()})
    services.record_posting(actor=w.officer, round_=round_, start=TODAY - timedelta(days=8), days=3)
    services.submit_round(actor=w.officer, round_=round_)
    services.approve_round(actor=w.reviewer, round_=round_)
    services.record_decision(actor=w.officer, round_=round_, number="9/QĐ", decided_on=TODAY, signer="Chủ tịch")
    statuses = {s.household_id: s for s in HouseholdStatus.objects.filter(round=round_)}
    assert {pk: s.movement for pk, s in statuses.items()} == {
        w.household.pk: "unchanged", escaping.pk: "escaped_near", near.pk: "near_to_poor",
        newcomer.pk: "newly_poor", untouched.pk: "unchanged"}
    assert statuses[untouched.pk].survey is None and statuses[untouched.pk].category == "none"
    registered = dict(Household.objects.filter(commune=w.tathang).values_list("pk", "classification"))
    assert registered == {w.household.pk: "poor", escaping.pk: "near_poor", near.pk: "poor",
                          newcomer.pk: "poor", untouched.pk: "none"}
    event = AuditEvent.objects.get(household=escaping, source=AuditEvent.Source.REVIEW)
    assert event.changes["classification"] == ["poor", "near_poor"] and event.actor == w.officer
    assert Household.objects.get(pk=escaping.pk).classification_year == 2026


@pytest.mark.parametrize(("previous", "new", "before", "expected"), [
    ("poor", "poor", True, "unchanged"),
    ("poor", "near_poor", True, "escaped_near"),
    ("poor", "none", True, "escaped_above"),
    ("poor", "middle", True, "escaped_above"),
    ("near_poor", "poor", False, "near_to_poor"),
    ("near_poor", "none", False, "escaped_np"),
    ("none", "poor", True, "re_poor"),
    ("middle", "poor", False, "newly_poor"),
    ("none", "near_poor", False, "newly_near"),
    ("none", "middle", False, "unchanged"),
])
def test_movement_is_exactly_one_of_form_7_2(previous, new, before, expected):
    assert services.movement(previous, new, was_poor_before=before) == expected
    assert services.movement(previous, new, was_poor_before=before, demographic="moved_out") == "moved_out"


def _status(decided_on, previous, category, pk):
    return HouseholdStatus(pk=pk, decided_on=decided_on, previous_category=previous, category=category)


def test_newly_escaped_is_three_years_to_the_day():
    left = date(2023, 12, 10)
    statuses = [_status(date(2022, 12, 10), "none", "poor", 1), _status(left, "poor", "none", 2)]
    assert services.is_newly_escaped(statuses, date(2026, 12, 10))          # exactly 3 years
    assert services.is_newly_escaped(statuses, date(2026, 12, 9))           # 3 years minus a day
    assert not services.is_newly_escaped(statuses, date(2026, 12, 11))      # 3 years plus a day
    assert not services.is_newly_escaped(statuses, date(2023, 12, 9))       # not yet left
    back = [*statuses, _status(date(2024, 12, 10), "none", "near_poor", 3)]
    assert not services.is_newly_escaped(back, date(2025, 1, 1))            # back on a list
    assert not services.is_newly_escaped([_status(left, "none", "none", 4)], date(2024, 1, 1))


def test_earlier_years_make_re_poor_distinguishable_from_newly_poor(world):
    decided_year(world.officer, world.reviewer, world.household, 2024)
    assert HouseholdStatus.objects.get(household=world.household, year=2024).category == "poor"


def test_requests_due_in_fifteen_days_and_refusal_needs_reasons(world):
    late = services.create_request(actor=world.officer, household=world.household, kind=Request.Kind.EXIT,
                                   received_on=TODAY - timedelta(days=20), channel=Request.Channel.POST)
    rows = services.due_requests(world.officer)
    assert [r.pk for r in rows] == [late.pk] and rows[0].is_late and rows[0].due_on == late.received_on + timedelta(15)
    assert services.due_requests(world.officer2) == []
    with pytest.raises(ValidationError):
        services.refuse_request(actor=world.officer, request=late, answer="  ")
    services.refuse_request(actor=world.officer, request=late, answer="Hộ vẫn thiếu hụt 4 chỉ số.")
    assert services.due_requests(world.officer) == []
    with pytest.raises(ValidationError):
        services.create_request(actor=world.officer, household=world.household, kind=Request.Kind.ADD,
                                received_on=TODAY + timedelta(days=1), channel=Request.Channel.POST)


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_approving_the_same_list_at_once_exactly_one_succeeds():
    if connection.vendor != "postgresql":
        pytest.skip("row locks between connections are exercised on PostgreSQL")
    world = build_world()
    from core.models import User

    second = User.objects.create_user("reviewer_b", password="x", role="reviewer", unit=world.district, is_staff=True)
    review = _ready_round(world, open_complaint=False)
    services.submit_round(actor=world.officer, round_=review.round)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def approve(user):
        try:
            barrier.wait(timeout=10)
            services.approve_round(actor=user, round_=ReviewRound.objects.get(pk=review.round.pk))
            outcomes[user.username] = "approved"
        except ValidationError:
            outcomes[user.username] = "refused"
        finally:
            close_old_connections()

    threads = [threading.Thread(target=approve, args=(user,)) for user in (world.reviewer, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["approved", "refused"]
    round_ = ReviewRound.objects.get(pk=review.round.pk)
    assert round_.status == ReviewRound.Status.APPROVED
    assert round_.events.filter(action=ReviewEvent.Action.APPROVED).count() == 1


def test_many_surveys_at_once_are_all_or_nothing(world):
    second = make_household(world.officer, world.tathang, world.village, "Lý Seo Dình", code="0002",
                            classification="near_poor", classification_year=2025)
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=2026)
    first, other = round_.surveys.get(household=world.household), round_.surveys.get(household=second)
    bad = flags(round_.standard)
    del bad["telecom"]
    with pytest.raises(ValidationError) as info:
        services.record_surveys(actor=world.officer, round_=round_, entries=[
            (first, {"income": 1_000_000, "deprivations": flags(round_.standard, *POOR_FLAGS)}),
            (other, {"income": 1_000_000, "deprivations": bad})])
    assert "0002" in str(info.value.message_dict["telecom"])
    assert not round_.surveys.exclude(status=Survey.Status.PENDING).exists()
    with pytest.raises(PermissionDenied):
        services.record_surveys(actor=world.reviewer, round_=round_, entries=[])
    count = services.record_surveys(actor=world.officer, round_=round_, entries=[
        (first, {"income": 1_000_000, "deprivations": flags(round_.standard, *POOR_FLAGS)}),
        (other, {"income": 1_600_000, "deprivations": flags(round_.standard), "is_farm": True})])
    assert count == 2
    first.refresh_from_db()
    other.refresh_from_db()
    assert (first.category, first.deprivation_count, first.version) == ("poor", 4, 2)
    assert (other.category, other.income_gap, other.standard_code) == ("middle", -100_000, "2022-2025")
    assert round_.events.filter(action=ReviewEvent.Action.SURVEYED).count() == 2
