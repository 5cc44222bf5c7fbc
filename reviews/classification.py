"""Classifying a household against a poverty standard: a pure function, no database.

Decree 07/2021/NĐ-CP, Art. 3 (2022–2025; also 2026), and the same rule shape in
Decree 351/2025/NĐ-CP (2027–2030):

- poor: income at or below the line and deprived on at least the cut-off (3) indicators;
- near-poor: income at or below the line and deprived on fewer;
- middle living standard: a farm household (agriculture, forestry, fishery, salt-making)
  whose income is above the line and at or below the middle-living line;
- otherwise neither.

With the scoring method of Circular 07/2021/TT-BLĐTBXH (Phiếu B), score A stands
for income (140 points rural, 175 urban correspond to the lines) and score B is
`points_per_deprivation` per deprived indicator: poor ⇔ A ≤ line and B ≥ cut-off ×
points; near-poor ⇔ A ≤ line and B below that. Middle living has no score line,
so a score above the line classifies as "neither".

`classify()` explains its answer in one sentence that cites the numbers and the
rule, in the active language (the services store it in Vietnamese).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import get_language
from django.utils.translation import gettext as _

POOR, NEAR_POOR, MIDDLE, NONE = "poor", "near_poor", "middle", "none"
RURAL, URBAN = "rural", "urban"


class InvalidSurvey(ValueError):
    """Facts that cannot be classified; `field` names the input at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Rules:
    """What `classify` needs of a standard, detached from the database."""

    code: str
    income_line_rural: int
    income_line_urban: int
    middle_line_rural: int
    middle_line_urban: int
    deprivation_cutoff: int
    score_line_rural: int
    score_line_urban: int
    points_per_deprivation: int
    indicators: tuple[str, ...]  # indicator codes, in the standard's order
    first_year: int = 0
    last_year: int = 9999
    is_provisional: bool = False

    @classmethod
    def from_standard(cls, standard) -> Rules:
        return cls(
            code=standard.code,
            income_line_rural=standard.income_line_rural,
            income_line_urban=standard.income_line_urban,
            middle_line_rural=standard.middle_line_rural,
            middle_line_urban=standard.middle_line_urban,
            deprivation_cutoff=standard.deprivation_cutoff,
            score_line_rural=standard.score_line_rural,
            score_line_urban=standard.score_line_urban,
            points_per_deprivation=standard.points_per_deprivation,
            indicators=tuple(standard.indicators.order_by("number").values_list("code", flat=True)),
            first_year=standard.first_year,
            last_year=standard.last_year,
            is_provisional=standard.is_provisional,
        )

    def income_line(self, area: str) -> int:
        return self.income_line_urban if area == URBAN else self.income_line_rural

    def middle_line(self, area: str) -> int:
        return self.middle_line_urban if area == URBAN else self.middle_line_rural

    def score_line(self, area: str) -> int:
        return self.score_line_urban if area == URBAN else self.score_line_rural


@dataclass(frozen=True)
class Result:
    category: str
    deprived: tuple[str, ...]  # codes of the indicators the household is deprived on
    income_gap: int | None  # line minus income, VND: positive below the line (None in score mode)
    score_gap: int | None  # line minus score A (None in income mode)
    explanation: str
    standard_code: str

    @property
    def deprivation_count(self) -> int:
        return len(self.deprived)


def money(amount: int) -> str:
    """1500000 -> "1.500.000" in Vietnamese, "1,500,000" in English (VND has no decimals)."""
    text = f"{amount:,}"
    return text.replace(",", ".") if (get_language() or "vi").startswith("vi") else text


def _area_label(area: str) -> str:
    return _("urban line") if area == URBAN else _("rural line")


def _check(rules: Rules, area: str, income, score_a, deprivations: Mapping[str, bool], year: int | None) -> None:
    if area not in (RURAL, URBAN):
        raise InvalidSurvey("area", _("The area must be rural or urban."))
    if (income is None) == (score_a is None):
        raise InvalidSurvey("income", _("Enter either the income per person or score A, not both."))
    if income is not None and (isinstance(income, bool) or not isinstance(income, int) or income < 0):
        raise InvalidSurvey("income", _("The income per person must be a whole number of dong, zero or more."))
    if score_a is not None and (isinstance(score_a, bool) or not isinstance(score_a, int) or score_a < 0):
        raise InvalidSurvey("score_a", _("Score A must be a whole number of points, zero or more."))
    for code in rules.indicators:
        if not isinstance(deprivations.get(code), bool):
            raise InvalidSurvey(code, _("Answer whether the household is deprived on indicator “%(code)s”.")
                                % {"code": code})
    unknown = sorted(set(deprivations) - set(rules.indicators))
    if unknown:
        raise InvalidSurvey(unknown[0], _("“%(code)s” is not an indicator of standard %(standard)s.")
                            % {"code": unknown[0], "standard": rules.code})
    if year is not None and not rules.first_year <= year <= rules.last_year:
        raise InvalidSurvey("year", _("Standard %(standard)s applies to %(first)d–%(last)d, not to %(year)d.") % {
            "standard": rules.code, "first": rules.first_year, "last": rules.last_year, "year": year})


def classify(
    rules: Rules,
    *,
    area: str,
    deprivations: Mapping[str, bool],
    income: int | None = None,
    score_a: int | None = None,
    is_farm: bool = False,
    year: int | None = None,
) -> Result:
    """Classify one household; raise InvalidSurvey naming the field when the facts are incomplete."""
    _check(rules, area, income, score_a, deprivations, year)
    deprived = tuple(code for code in rules.indicators if deprivations[code])
    count, total, cutoff = len(deprived), len(rules.indicators), rules.deprivation_cutoff
    facts = {"count": count, "total": total, "cutoff": cutoff, "area": _area_label(area)}

    if income is not None:
        line = rules.income_line(area)
        gap = line - income
        facts |= {"income": money(income), "line": money(line)}
        if income <= line and count >= cutoff:
            category = POOR
            text = _("Income %(income)s ≤ %(line)s (%(area)s) and %(count)d of %(total)d indicators deprived "
                     "(≥ %(cutoff)d) → poor household.") % facts
        elif income <= line:
            category = NEAR_POOR
            text = _("Income %(income)s ≤ %(line)s (%(area)s) and %(count)d of %(total)d indicators deprived "
                     "(< %(cutoff)d) → near-poor household.") % facts
        else:
            middle = rules.middle_line(area)
            facts["middle"] = money(middle)
            if is_farm and income <= middle:
                category = MIDDLE
                text = _("Income %(income)s > %(line)s (%(area)s) and ≤ %(middle)s, a farm household → "
                         "middle living standard.") % facts
            elif is_farm:
                category = NONE
                text = _("Income %(income)s > %(middle)s, the middle-living line → neither poor, near-poor "
                         "nor middle living standard.") % facts
            else:
                category = NONE
                text = _("Income %(income)s > %(line)s (%(area)s) → neither poor nor near-poor, "
                         "whatever the deprivations (%(count)d of %(total)d).") % facts
        return Result(category, deprived, gap, None, text, rules.code)

    line = rules.score_line(area)
    score_b = count * rules.points_per_deprivation
    facts |= {"score": score_a, "line": line, "score_b": score_b, "score_b_cut": cutoff * rules.points_per_deprivation,
              "points": rules.points_per_deprivation}
    if score_a <= line and count >= cutoff:
        category = POOR
        text = _("Score A %(score)d ≤ %(line)d (%(area)s) and score B %(score_b)d (%(count)d indicators × "
                 "%(points)d) ≥ %(score_b_cut)d → poor household.") % facts
    elif score_a <= line:
        category = NEAR_POOR
        text = _("Score A %(score)d ≤ %(line)d (%(area)s) and score B %(score_b)d (%(count)d indicators × "
                 "%(points)d) < %(score_b_cut)d → near-poor household.") % facts
    else:
        category = NONE
        text = _("Score A %(score)d > %(line)d (%(area)s) → neither poor nor near-poor.") % facts
    return Result(category, deprived, None, line - score_a, text, rules.code)
