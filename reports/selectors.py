"""Scoped reads of the rollups for the dashboards and report pages.

Every function takes the user and answers only inside their area
(`core.scoping.units_for`): a unit outside it gives None or an empty list, never
another unit's figures. Each reads a handful of stored rows; none counts households.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.scoping import units_for
from geo.models import AdminUnit
from households.models import Ethnicity
from reviews.models import HouseholdStatus, Indicator

from .compute import NEXT_STANDARD_YEAR
from .models import Rollup, StandardEffect, Target, achievement

OFFICIAL, PRELIMINARY = Rollup.Stage.OFFICIAL, Rollup.Stage.PRELIMINARY


def _visible(user, unit: AdminUnit | int) -> bool:
    unit_id = unit.pk if isinstance(unit, AdminUnit) else unit
    return units_for(user).filter(pk=unit_id).exists()


def rollup_for(user, unit: AdminUnit, year: int, stage: str = OFFICIAL) -> Rollup | None:
    """The unit's figures of a year and stage, or None (outside the area, or not computed yet)."""
    return (Rollup.objects.filter(unit__in=units_for(user), unit=unit, year=year, stage=stage)
            .select_related("unit").first())


@dataclass
class ChildRow:
    rollup: Rollup
    previous: Rollup | None  # the same unit's figures a year before

    @property
    def unit(self) -> AdminUnit:
        return self.rollup.unit

    @property
    def poor_rate_change(self) -> Decimal | None:
        """Change of the poverty rate from last year, in points (negative: fewer poor)."""
        if self.previous is None or self.rollup.poor_rate is None or self.previous.poor_rate is None:
            return None
        return self.rollup.poor_rate - self.previous.poor_rate

    @property
    def poor_households_change(self) -> int | None:
        return None if self.previous is None else self.rollup.poor_households - self.previous.poor_households


def child_units(unit: AdminUnit):
    """The units directly below: a province's districts (2021 map) or communes (2025 map); a district's communes."""
    return AdminUnit.objects.filter(parent=unit)


def child_rollups(user, unit: AdminUnit, year: int, stage: str = OFFICIAL) -> list[ChildRow]:
    """The units below `unit` in the user's area, poorest (highest poverty rate) first, with last year's change."""
    if not _visible(user, unit):
        return []
    children = child_units(unit).filter(pk__in=units_for(user)).values("pk")
    rows = list(Rollup.objects.filter(unit__in=children, year__in=[year, year - 1], stage=stage)
                .select_related("unit"))
    previous = {r.unit_id: r for r in rows if r.year == year - 1}
    current = [ChildRow(r, previous.get(r.unit_id)) for r in rows if r.year == year]
    current.sort(key=lambda row: (-(row.rollup.poor_rate or 0), row.rollup.unit.code))
    return current


@dataclass
class RatePoint:
    year: int
    official: Rollup | None
    preliminary: Rollup | None

    @property
    def poor_rate(self) -> Decimal | None:
        rollup = self.official or self.preliminary
        return rollup.poor_rate if rollup else None

    @property
    def near_poor_rate(self) -> Decimal | None:
        rollup = self.official or self.preliminary
        return rollup.near_poor_rate if rollup else None


def rate_series(user, unit: AdminUnit, years) -> list[RatePoint]:
    """The unit's rates year by year (official, and preliminary beside it), for a chart."""
    years = sorted(years)
    if not _visible(user, unit):
        return []
    rows = Rollup.objects.filter(unit=unit, year__in=years)
    by_key = {(r.year, r.stage): r for r in rows}
    return [RatePoint(y, by_key.get((y, OFFICIAL)), by_key.get((y, PRELIMINARY))) for y in years]


@dataclass
class DeprivationRow:
    code: str
    name: str
    poor: int
    near_poor: int
    poor_share: Decimal | None  # percent of the poor households deprived on it
    near_poor_share: Decimal | None


def deprivation_profile(user, unit: AdminUnit, year: int, stage: str = OFFICIAL) -> list[DeprivationRow]:
    """How many poor and near-poor households are deprived on each indicator, in the standard's order."""
    from .models import percent

    rollup = rollup_for(user, unit, year, stage)
    if rollup is None:
        return []
    counts = rollup.deprivation or {}
    codes = set(counts.get("poor", {})) | set(counts.get("near_poor", {}))
    names: dict[str, tuple[int, str]] = {}
    for number, code, name in Indicator.objects.filter(code__in=codes).order_by("standard__first_year").values_list(
            "number", "code", "name"):
        names[code] = (number, name)
    rows = [DeprivationRow(code, names.get(code, (99, code))[1], counts.get("poor", {}).get(code, 0),
                           counts.get("near_poor", {}).get(code, 0),
                           percent(counts.get("poor", {}).get(code, 0), rollup.poor_households),
                           percent(counts.get("near_poor", {}).get(code, 0), rollup.near_poor_households))
            for code in codes]
    rows.sort(key=lambda row: (names.get(row.code, (99, ""))[0], row.code))
    return rows


def movement_label(code: str) -> str:
    return str(dict(HouseholdStatus.Movement.choices).get(code, code))


def movements(user, unit: AdminUnit, year: int, stage: str = OFFICIAL) -> dict | None:
    """Form 7.2 (poor) and 7.3 (near-poor) of a year: start, decreases and increases by cause, end.

    {"poor": {"start": cell, "decrease": [(cause, label, cell)], "increase": […], "end": cell},
     "near_poor": {…}}; a cell has households, persons, urban_households, urban_persons. The
    preliminary stage counts the year's surveys as if they were decided.
    """
    rollup = rollup_for(user, unit, year, stage)
    if rollup is None:
        return None
    out = {}
    for key in ("poor", "near_poor"):
        data = rollup.movements.get(key, {})
        out[key] = {"start": data.get("start", {}), "end": data.get("end", {})}
        for side in ("decrease", "increase"):
            out[key][side] = [(cause, movement_label(cause), cell)
                              for cause, cell in sorted(data.get(side, {}).items())]
    return out


def ethnic_groups(user, unit: AdminUnit, year: int, stage: str = OFFICIAL) -> list[tuple[Ethnicity, dict]]:
    """Form 7.9: the counts of each ethnic group, the largest first."""
    rollup = rollup_for(user, unit, year, stage)
    if rollup is None:
        return []
    groups = {e.code: e for e in Ethnicity.objects.filter(code__in=list(rollup.ethnic_groups))}
    rows = [(groups[code], counts) for code, counts in rollup.ethnic_groups.items() if code in groups]
    rows.sort(key=lambda row: -row[1].get("households", 0))
    return rows


@dataclass
class TargetRow:
    target: Target
    before: Rollup | None
    now: Rollup | None
    achieved: Decimal | None  # percent of the plan ("đạt 130,1% kế hoạch")


def targets_with_achievement(user, unit: AdminUnit, year: int) -> list[TargetRow]:
    """The unit's targets of a year with the share achieved, from last year's and this year's official rollups."""
    if not _visible(user, unit):
        return []
    targets = list(Target.objects.filter(unit=unit, year=year).order_by("kind"))
    if not targets:
        return []
    rollups = {r.year: r for r in Rollup.objects.filter(unit=unit, year__in=[year - 1, year], stage=OFFICIAL)}
    before, now = rollups.get(year - 1), rollups.get(year)
    return [TargetRow(t, before, now, achievement(t, before, now)) for t in targets]


@dataclass
class StandardComparison:
    today: Rollup | None  # the latest official figures of the unit
    next: StandardEffect  # the same households under the next standard


def next_standard_effect(user, unit: AdminUnit) -> StandardComparison | None:
    """How many households would be poor and near-poor under the next standard (2027–2030), beside today's.

    Read from the figures the rollup task stores; never classified per request.
    """
    if not _visible(user, unit):
        return None
    effect = StandardEffect.objects.filter(unit=unit).order_by("-computed_at").first()
    if effect is None:
        return None
    today = (Rollup.objects.filter(unit=unit, stage=OFFICIAL, year__lt=NEXT_STANDARD_YEAR, households__gt=0)
             .order_by("-year").first())
    return StandardComparison(today=today, next=effect)
