"""Eligibility: each rule as a pure function, then the same facts read from the database."""

from datetime import date

import pytest

from programs import eligibility
from programs.catalog import load_programs
from programs.eligibility import HouseholdFacts, MemberFact, StatusFact, codes_for
from programs.models import Eligibility, MemberProfile, Program
from programs.selectors import eligible_households
from reviews.models import HouseholdStatus

E = Eligibility
LEFT_ON = date(2022, 12, 10)


def status(pk, year, category, previous, decided_on):
    return StatusFact(pk, year, category, previous, decided_on)


A_MAN = (MemberFact(1, "male"),)


def facts(*statuses, members=A_MAN, **extra):
    return HouseholdFacts(statuses=list(statuses), members=list(members), **extra)


ESCAPED = facts(status(1, 2021, "poor", "poor", date(2021, 12, 10)),
                status(2, 2022, "none", "poor", LEFT_ON))


def test_poor_household_is_poor_and_not_near_poor():
    codes = codes_for(facts(status(1, 2024, "poor", "poor", date(2024, 12, 5))), date(2025, 1, 1))
    assert E.POOR in codes and E.NEAR_POOR not in codes and E.NEWLY_ESCAPED not in codes


def test_status_decided_after_the_date_does_not_count_yet():
    household = facts(status(1, 2023, "near_poor", "none", date(2023, 12, 5)),
                      status(2, 2024, "poor", "near_poor", date(2024, 12, 5)))
    assert E.NEAR_POOR in codes_for(household, date(2024, 12, 4))
    assert E.POOR in codes_for(household, date(2024, 12, 5))


def test_no_official_status_gives_no_list_code():
    assert codes_for(facts(), date(2025, 1, 1)) == frozenset()


def test_newly_escaped_three_years_minus_a_day():
    assert E.NEWLY_ESCAPED in codes_for(ESCAPED, date(2025, 12, 9))


def test_newly_escaped_on_the_third_anniversary():
    assert E.NEWLY_ESCAPED in codes_for(ESCAPED, date(2025, 12, 10))


def test_not_newly_escaped_three_years_plus_a_day():
    assert E.NEWLY_ESCAPED not in codes_for(ESCAPED, date(2025, 12, 11))


def test_back_on_the_list_is_not_newly_escaped():
    household = facts(status(1, 2022, "none", "poor", LEFT_ON), status(2, 2023, "poor", "none", date(2023, 12, 1)))
    assert E.NEWLY_ESCAPED not in codes_for(household, date(2024, 1, 1))


def test_middle_living_farm_household():
    household = facts(status(1, 2024, "middle", "near_poor", date(2024, 12, 1)))
    codes = codes_for(household, date(2025, 1, 1))
    assert E.MIDDLE_FARM in codes and E.NEWLY_ESCAPED in codes  # it also left near-poverty that day


def test_ethnic_minority_and_meritorious_flags():
    codes = codes_for(facts(is_ethnic_minority=True, has_meritorious_member=True), date(2025, 1, 1))
    assert {E.ETHNIC_MINORITY, E.MERITORIOUS} <= codes
    assert not {E.ETHNIC_MINORITY, E.MERITORIOUS} & codes_for(facts(), date(2025, 1, 1))


def test_disability_of_any_current_member():
    household = facts(members=[MemberFact(1, "male"), MemberFact(2, "female", has_disability=True)])
    assert E.DISABILITY in codes_for(household, date(2025, 1, 1))


def test_woman_in_poor_household_needs_a_woman_and_a_poor_status():
    poor = status(1, 2024, "poor", "poor", date(2024, 12, 5))
    with_woman = facts(poor, members=[MemberFact(1, "male"), MemberFact(2, "female")])
    assert E.WOMAN_IN_POOR in codes_for(with_woman, date(2025, 1, 1))
    assert E.WOMAN_IN_POOR not in codes_for(facts(poor), date(2025, 1, 1))
    near = facts(status(1, 2024, "near_poor", "poor", date(2024, 12, 5)), members=[MemberFact(2, "female")])
    assert E.WOMAN_IN_POOR not in codes_for(near, date(2025, 1, 1))


@pytest.mark.parametrize(("area", "income", "expected"), [
    ("rural", 2_250_000, True), ("rural", 2_260_000, False), ("urban", 3_000_000, True),
    ("urban", 3_010_000, False), ("rural", None, True),
])
def test_low_income_worker_line_by_area(area, income, expected):
    member = MemberFact(1, "male", low_income_applied_on=date(2025, 3, 1))
    household = facts(members=[member], area=area, latest_income=income)
    assert (E.LOW_INCOME_WORKER in codes_for(household, date(2025, 6, 1))) is expected


def test_low_income_worker_needs_an_application_before_the_date():
    member = MemberFact(1, "male", low_income_applied_on=date(2025, 3, 1))
    assert E.LOW_INCOME_WORKER not in codes_for(facts(members=[member], latest_income=1_900_000), date(2025, 2, 1))
    assert E.LOW_INCOME_WORKER not in codes_for(facts(latest_income=1_900_000), date(2025, 6, 1))


def test_low_income_worker_excludes_poor_and_near_poor():
    member = MemberFact(1, "male", low_income_applied_on=date(2025, 3, 1))
    near = facts(status(1, 2024, "near_poor", "none", date(2024, 12, 1)), members=[member], latest_income=1_400_000)
    assert E.LOW_INCOME_WORKER not in codes_for(near, date(2025, 6, 1))


def test_a_program_without_target_groups_matches_nobody():
    assert not eligibility.matches([], {E.POOR})
    assert eligibility.matches([E.POOR, E.NEAR_POOR], {E.NEAR_POOR})


# --- from the database ---------------------------------------------------------------------


@pytest.fixture
def programs(world):
    load_programs(Program)  # a transactional test's flush may have removed the migration's rows
    return {p.code: p for p in Program.objects.all()}


def official(household, round_, year, category, previous, decided_on):
    return HouseholdStatus.objects.create(household=household, year=year, category=category,
                                          previous_category=previous, movement="unchanged", round=round_,
                                          standard_code="2022-2025", decided_on=decided_on)


def a_round(commune, year):
    from reviews.models import PovertyStandard, ReviewRound

    return ReviewRound.objects.create(commune=commune, year=year, standard=PovertyStandard.objects.get(
        code="2022-2025"), status="decided", decision_number="1/QĐ", decision_date=date(year, 12, 1))


@pytest.mark.django_db
def test_facts_from_the_database_match_the_rules(world, programs):
    household = world.household
    official(household, a_round(world.tathang, 2024), 2024, "poor", "poor", date(2024, 12, 1))
    spouse = household.members.get(relation="spouse")
    MemberProfile.objects.create(member=spouse, has_disability=True)
    codes = eligibility.household_codes(household, date(2025, 1, 1))
    assert {E.POOR, E.WOMAN_IN_POOR, E.DISABILITY, E.ETHNIC_MINORITY} <= codes


@pytest.mark.django_db
def test_eligible_list_leaves_out_households_that_received_the_program(world, programs, django_assert_max_num_queries):
    from households.models import Household
    from tests.world import make_household

    year_round = a_round(world.tathang, 2024)
    households = [world.household] + [
        make_household(world.officer, world.tathang, world.village, f"Chủ hộ {n}", code=f"01{n:02d}")
        for n in range(6)]
    for household in households:
        official(household, year_round, 2024, "poor", "poor", date(2024, 12, 1))
    done = households[1]
    from programs.models import Intervention

    Intervention.objects.create(household=done, program=programs["DA4.1"], given_on=date(2025, 2, 1),
                                kind="training", amount=0, funding_source="central", status="delivered")
    planned = households[2]
    Intervention.objects.create(household=planned, program=programs["DA4"], given_on=date(2025, 2, 1),
                                kind="training", amount=0, funding_source="central", status="planned")
    with django_assert_max_num_queries(8):
        rows = eligible_households(world.officer, programs["DA4"], on=date(2025, 6, 1))
    listed = {r.household.pk for r in rows}
    # Receiving a project under DA4 is receiving DA4; a planned support is not yet received.
    assert done.pk not in listed and planned.pk in listed
    assert listed == {h.pk for h in households} - {done.pk}
    assert all(r.matched == ["poor"] for r in rows)
    # Outside the officer's commune nothing is listed, whatever its status.
    assert not Household.objects.filter(pk__in=listed).exclude(commune=world.tathang).exists()


@pytest.mark.django_db
def test_eligible_list_of_a_program_without_targets_is_empty(world, programs):
    assert eligible_households(world.superuser, programs["DA1"]) == []
