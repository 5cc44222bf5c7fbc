"""Which target groups a household belongs to on a date.

`codes_for(facts, on)` is a pure function of a household's facts: its official
statuses (reviews.HouseholdStatus, made by the commune's decisions), its members
and the flags kept for support. `load_facts(households)` gathers those facts for
many households in a fixed number of queries, so a commune's list costs the same
whether it has fifty households or five thousand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db.models import QuerySet

from reviews.models import Category, HouseholdStatus, Survey
from reviews.services import is_newly_escaped

from .models import Eligibility, MemberProfile

# Decree 30/2025/NĐ-CP: a low-income worker's household income is at most these
# amounts per person per month (the middle-living lines of Decree 07/2021).
LOW_INCOME_LINE = {"rural": 2_250_000, "urban": 3_000_000}


@dataclass(frozen=True)
class StatusFact:
    """The parts of an official status that eligibility reads (duck-typed like HouseholdStatus)."""

    pk: int
    year: int
    category: str
    previous_category: str
    decided_on: date


@dataclass(frozen=True)
class MemberFact:
    pk: int
    sex: str
    has_disability: bool = False
    low_income_applied_on: date | None = None


@dataclass
class HouseholdFacts:
    area: str = "rural"
    is_ethnic_minority: bool = False
    has_meritorious_member: bool = False
    statuses: list[StatusFact] = field(default_factory=list)
    members: list[MemberFact] = field(default_factory=list)  # current members only
    latest_income: int | None = None  # income per person per month of the latest Phiếu B


def official_category(statuses: Iterable[StatusFact], on: date) -> str | None:
    """The category of the last official status decided on or before `on` (None before any decision)."""
    known = [s for s in statuses if s.decided_on <= on]
    if not known:
        return None
    return max(known, key=lambda s: (s.decided_on, s.pk)).category


def codes_for(facts: HouseholdFacts, on: date) -> frozenset[str]:
    """The Eligibility codes of a household on a date."""
    codes = set()
    category = official_category(facts.statuses, on)
    if category == Category.POOR:
        codes.add(Eligibility.POOR)
        # The support for women in poor households (Decision 90/QĐ-TTg/2022) follows the household's status.
        if any(m.sex == "female" for m in facts.members):
            codes.add(Eligibility.WOMAN_IN_POOR)
    elif category == Category.NEAR_POOR:
        codes.add(Eligibility.NEAR_POOR)
    elif category == Category.MIDDLE:
        # Decree 07/2021 Art. 3: only farm households are classified middle-living.
        codes.add(Eligibility.MIDDLE_FARM)
    # Left the lists at most three years ago, to the day (reviews.services.is_newly_escaped).
    if is_newly_escaped(facts.statuses, on):
        codes.add(Eligibility.NEWLY_ESCAPED)
    if facts.is_ethnic_minority:
        codes.add(Eligibility.ETHNIC_MINORITY)
    if any(m.has_disability for m in facts.members):
        codes.add(Eligibility.DISABILITY)
    if facts.has_meritorious_member:
        codes.add(Eligibility.MERITORIOUS)
    if category not in (Category.POOR, Category.NEAR_POOR) and is_low_income(facts, on):
        codes.add(Eligibility.LOW_INCOME_WORKER)
    return frozenset(codes)


def is_low_income(facts: HouseholdFacts, on: date) -> bool:
    """Decree 30/2025/NĐ-CP: a member applied, and the household's latest income is within the line.

    The application itself is the identification; when a Phiếu B exists, its
    income must not be above the line of the household's area.
    """
    applied = any(m.low_income_applied_on is not None and m.low_income_applied_on <= on for m in facts.members)
    if not applied:
        return False
    line = LOW_INCOME_LINE.get(facts.area, LOW_INCOME_LINE["rural"])
    return facts.latest_income is None or facts.latest_income <= line


def matches(target_groups: Iterable[str], codes: Iterable[str]) -> bool:
    """A program with no target group is not given to households one by one (DA1, DA6.1, DA7)."""
    return bool(set(target_groups) & set(codes))


# --- facts from the database, in bulk ------------------------------------------------


def load_facts(households: QuerySet | Iterable) -> dict[int, HouseholdFacts]:
    """{household pk: facts} for the households given (a queryset or model instances); 4 queries."""
    households = list(households)
    facts = {h.pk: HouseholdFacts(area=h.area, is_ethnic_minority=h.is_ethnic_minority,
                                  has_meritorious_member=h.has_meritorious_member) for h in households}
    if not facts:
        return facts
    pks = list(facts)
    for pk, hid, year, category, previous, decided_on in HouseholdStatus.objects.filter(
            household_id__in=pks).values_list("pk", "household_id", "year", "category", "previous_category",
                                              "decided_on"):
        facts[hid].statuses.append(StatusFact(pk, year, category, previous, decided_on))
    profiles = {
        member_id: (disability, applied)
        for member_id, disability, applied in MemberProfile.objects.filter(
            member__household_id__in=pks).values_list("member_id", "has_disability", "low_income_applied_on")
    }
    from households.models import Member

    for pk, hid, sex in Member.objects.filter(household_id__in=pks, is_archived=False).values_list(
            "pk", "household_id", "sex"):
        disability, applied = profiles.get(pk, (False, None))
        facts[hid].members.append(MemberFact(pk, sex, disability, applied))
    # The latest Phiếu B with an income, per household (rounds in year order; later wins).
    for hid, income in Survey.objects.filter(
            household_id__in=pks, status=Survey.Status.SURVEYED, income__isnull=False).order_by(
            "round__year", "round__month", "surveyed_at", "pk").values_list("household_id", "income"):
        facts[hid].latest_income = income
    return facts


def household_codes(household, on: date) -> frozenset[str]:
    """The eligibility codes of one household (for its page)."""
    return codes_for(load_facts([household])[household.pk], on)
