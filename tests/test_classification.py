"""The classification function: boundaries of both shipped standards, score mode, bad facts, and properties.

It is pure (no database): the rules are built here the way `Rules.from_standard`
builds them, with the figures of Decree 07/2021 and Decree 351/2025.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviews.classification import MIDDLE, NEAR_POOR, NONE, POOR, InvalidSurvey, Rules, classify

CODES = ("employment", "dependants", "nutrition", "health_insurance", "adult_education", "child_schooling",
         "housing_quality", "housing_area", "drinking_water", "latrine", "telecom", "information_assets")
S2022 = Rules(code="2022-2025", income_line_rural=1_500_000, income_line_urban=2_000_000,
              middle_line_rural=2_250_000, middle_line_urban=3_000_000, deprivation_cutoff=3,
              score_line_rural=140, score_line_urban=175, points_per_deprivation=10, indicators=CODES,
              first_year=2022, last_year=2026)
S2027 = Rules(code="2027-2030", income_line_rural=2_200_000, income_line_urban=2_800_000,
              middle_line_rural=3_300_000, middle_line_urban=4_200_000, deprivation_cutoff=3,
              score_line_rural=140, score_line_urban=175, points_per_deprivation=10, indicators=CODES,
              first_year=2027, last_year=2030, is_provisional=True)


def deprived(n):
    return {code: i < n for i, code in enumerate(CODES)}


@pytest.mark.parametrize(("rules", "area", "line"), [
    (S2022, "rural", 1_500_000), (S2022, "urban", 2_000_000),
    (S2027, "rural", 2_200_000), (S2027, "urban", 2_800_000),
])
@pytest.mark.parametrize(("income_offset", "n", "expected"), [
    (0, 3, POOR),          # at the line, at the cut-off: at or below counts
    (0, 2, NEAR_POOR),     # 2 deprivations are not enough
    (-1, 12, POOR),
    (-1, 0, NEAR_POOR),
    (1, 12, NONE),         # one dong above the line: neither, however deprived
    (1, 0, NONE),
])
def test_income_boundaries_of_both_standards(rules, area, line, income_offset, n, expected):
    result = classify(rules, area=area, income=line + income_offset, deprivations=deprived(n))
    assert result.category == expected
    assert result.deprivation_count == n
    assert result.income_gap == -income_offset
    assert result.standard_code == rules.code


@pytest.mark.parametrize(("area", "income", "is_farm", "expected"), [
    ("rural", 1_500_001, True, MIDDLE),
    ("rural", 2_250_000, True, MIDDLE),     # at the middle-living line
    ("rural", 2_250_001, True, NONE),       # one dong above it
    ("rural", 2_000_000, False, NONE),      # not a farm household
    ("urban", 2_000_001, True, MIDDLE),
    ("urban", 3_000_000, True, MIDDLE),
    ("urban", 3_000_001, True, NONE),
    ("rural", 1_500_000, True, NEAR_POOR),  # at the line a farm household is near-poor, not middle
])
def test_middle_living_only_for_farm_households_in_the_band(area, income, is_farm, expected):
    assert classify(S2022, area=area, income=income, is_farm=is_farm, deprivations=deprived(1)).category == expected


@pytest.mark.parametrize(("area", "score", "n", "expected"), [
    ("rural", 140, 3, POOR), ("rural", 140, 2, NEAR_POOR), ("rural", 141, 5, NONE),
    ("urban", 175, 3, POOR), ("urban", 175, 2, NEAR_POOR), ("urban", 176, 12, NONE),
    ("rural", 0, 0, NEAR_POOR),
])
def test_score_mode_uses_score_a_and_ten_points_per_deprivation(area, score, n, expected):
    result = classify(S2022, area=area, score_a=score, deprivations=deprived(n))
    assert result.category == expected
    assert result.income_gap is None
    assert result.score_gap == (140 if area == "rural" else 175) - score


def test_explanation_cites_the_numbers_and_the_rule_in_vietnamese():
    from django.utils import translation

    with translation.override("vi"):
        result = classify(S2022, area="rural", income=1_200_000, deprivations=deprived(4))
    assert result.category == POOR
    assert result.explanation == (
        "Thu nhập 1.200.000 ≤ 1.500.000 (chuẩn nông thôn) và thiếu hụt 4/12 chỉ số (≥ 3) → hộ nghèo.")


def test_explanation_in_english_names_numbers_and_category():
    result = classify(S2022, area="urban", income=2_100_000, deprivations=deprived(7))
    assert result.explanation.startswith("Income 2,100,000 > 2,000,000 (urban line)")
    assert "neither poor nor near-poor" in result.explanation


@pytest.mark.parametrize(("facts", "field"), [
    ({"income": -1}, "income"),
    ({"income": None}, "income"),                      # neither income nor score
    ({"income": 1_000_000, "score_a": 100}, "income"),  # both
    ({"income": 1.5}, "income"),
    ({"score_a": -3}, "score_a"),
    ({"income": 1_000_000, "area": "suburb"}, "area"),
    ({"income": 1_000_000, "year": 2027}, "year"),      # outside 2022–2026
])
def test_impossible_facts_name_the_field(facts, field):
    facts = {"area": "rural", **facts}
    income = facts.pop("income", None)
    with pytest.raises(InvalidSurvey) as info:
        classify(S2022, deprivations=deprived(3), income=income, **facts)
    assert info.value.field == field


def test_a_missing_or_unknown_deprivation_flag_is_named():
    flags = deprived(3)
    del flags["latrine"]
    with pytest.raises(InvalidSurvey) as info:
        classify(S2022, area="rural", income=1, deprivations=flags)
    assert info.value.field == "latrine"
    with pytest.raises(InvalidSurvey) as info:
        classify(S2022, area="rural", income=1, deprivations={**deprived(3), "waste": True})
    assert info.value.field == "waste"
    with pytest.raises(InvalidSurvey) as info:
        classify(S2022, area="rural", income=1, deprivations={**deprived(3), "latrine": "yes"})
    assert info.value.field == "latrine"


flag_sets = st.fixed_dictionaries({code: st.booleans() for code in CODES})


@given(rules=st.sampled_from([S2022, S2027]), area=st.sampled_from(["rural", "urban"]),
       income=st.integers(min_value=0, max_value=50_000_000), flags=flag_sets, is_farm=st.booleans())
def test_no_household_above_the_line_is_ever_poor_or_near_poor(rules, area, income, flags, is_farm):
    result = classify(rules, area=area, income=income, deprivations=flags, is_farm=is_farm)
    above = income > rules.income_line(area)
    assert (result.category in (POOR, NEAR_POOR)) == (not above)
    assert result.deprivation_count == sum(flags.values())
    assert result.deprived == tuple(code for code in CODES if flags[code])
    if result.category == POOR:
        assert result.deprivation_count >= 3
    if result.category == MIDDLE:
        assert is_farm and rules.income_line(area) < income <= rules.middle_line(area)
    assert result.explanation


@given(area=st.sampled_from(["rural", "urban"]), score=st.integers(min_value=0, max_value=1000), flags=flag_sets)
def test_score_mode_never_poor_above_the_score_line(area, score, flags):
    result = classify(S2022, area=area, score_a=score, deprivations=flags)
    assert (result.category in (POOR, NEAR_POOR)) == (score <= S2022.score_line(area))
    assert result.category != MIDDLE


@given(rules=st.sampled_from([S2022, S2027]), area=st.sampled_from(["rural", "urban"]),
       income=st.one_of(st.none(), st.integers(min_value=-1, max_value=6_000_000)),
       score_a=st.one_of(st.none(), st.integers(min_value=-1, max_value=400)),
       is_farm=st.booleans(), deprived_on=st.sets(st.sampled_from([*S2027.indicators, "X9"])))
def test_the_rollups_banded_classification_agrees_with_classify(rules, area, income, score_a, is_farm, deprived_on):
    """reports.compute classifies one representative per band of facts; it must agree with classify itself."""
    from reports.compute import _classify_next

    answers = {code: code in deprived_on for code in rules.indicators}
    try:
        expected = classify(rules, area=area, deprivations=answers, income=income, score_a=score_a,
                            is_farm=is_farm).category
    except InvalidSurvey:
        expected = None
    memo: dict = {}
    facts = (area, "surveyed", income, score_a, is_farm, frozenset(deprived_on))
    assert _classify_next(rules, facts, memo) == expected
    assert _classify_next(rules, facts, memo) == expected  # and again from the memo
