"""The official report tables of a unit and year, built from the stored rollups.

One `Report` feeds both the printable page and the Excel file, so the two always
say the same. Forms of Circular 07/2021 (Appendix VII, amended by Circular 02/2022):
7.2 (changes in the poor list), 7.3 (the near-poor list), 7.9 (by ethnic group),
with the share deprived on each indicator and the target groups provinces also
report, 7.10 (by cause of poverty, from the causes given with Phiếu B), and the
year's support when the support records hold it.

Every figure is read through `reports.selectors` (scoped to the user's area);
nothing here counts households.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from geo.models import AdminUnit
from reviews.models import HouseholdStatus, PovertyCause

from . import selectors
from .models import Rollup, percent

OFFICIAL = Rollup.Stage.OFFICIAL
Value = int | Decimal | str | None


@dataclass
class HeaderCell:
    label: str
    colspan: int = 1
    rowspan: int = 1


@dataclass
class Row:
    label: str
    values: list[Value]
    kind: str = "row"  # "row", "subtotal" or "total" (bold)
    unit: AdminUnit | None = None  # a child unit: the page links its row to the unit's own report


@dataclass
class Section:
    title: str
    header: list[list[HeaderCell]]  # header rows; the first cell of the first row heads the label column
    rows: list[Row]
    percent_columns: frozenset[int] = frozenset()  # value indexes holding a percent (one decimal)

    @property
    def width(self) -> int:
        return sum(cell.colspan for cell in self.header[0])


@dataclass
class Report:
    key: str
    number: str  # "7.2", or "" for the tables that are not numbered forms
    title: str
    unit: AdminUnit
    year: int
    stage: str
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def stage_label(self) -> str:
        return str(Rollup.Stage(self.stage).label)


@dataclass(frozen=True)
class Form:
    key: str
    number: str
    title: object  # lazy text
    build: Callable
    official_only: bool = False


def _households_persons() -> list[HeaderCell]:
    return [HeaderCell(_("Households")), HeaderCell(_("Persons"))]


# --- forms 7.2 and 7.3 ------------------------------------------------------------------------

# The causes each list always shows (Circular 07/2021 form 7.2/7.3); any other cause present is added.
MAIN_CAUSES = {
    "poor": {"decrease": ["escaped_near", "escaped_above"], "increase": ["newly_poor", "re_poor", "near_to_poor"]},
    "near_poor": {"decrease": ["escaped_np", "near_to_poor"], "increase": ["newly_near", "escaped_near"]},
}
MOVEMENT_ORDER = [value for value, _label in HouseholdStatus.Movement.choices]


def _cell_values(cell: dict, area: str) -> tuple[int, int]:
    households, persons = cell.get("households", 0), cell.get("persons", 0)
    urban = cell.get("urban_households", 0), cell.get("urban_persons", 0)
    if area == "urban":
        return urban
    if area == "rural":
        return households - urban[0], persons - urban[1]
    return households, persons


def _list_rate(rollup: Rollup | None, key: str, area: str) -> Decimal | None:
    """The share of households on the list (poor or near-poor) in an area of a unit."""
    if rollup is None:
        return None
    on_list = getattr(rollup, f"{key}_households")
    urban_on_list = getattr(rollup, f"urban_{key}_households")
    if area == "urban":
        return percent(urban_on_list, rollup.urban_households)
    if area == "rural":
        return percent(on_list - urban_on_list, rollup.rural_households)
    return percent(on_list, rollup.households)


def _movement_row(label: str, rollup: Rollup, previous: Rollup | None, key: str, causes: dict, area: str,
                  kind: str = "row", unit: AdminUnit | None = None) -> Row:
    data = rollup.movements.get(key, {})
    values: list[Value] = [*_cell_values(data.get("start", {}), area), _list_rate(previous, key, area)]
    for side in ("decrease", "increase"):
        cells = data.get(side, {})
        per_cause = [_cell_values(cells.get(cause, {}), area) for cause in causes[side]]
        values += [sum(h for h, _p in per_cause), sum(p for _h, p in per_cause)]
        for households, persons in per_cause:
            values += [households, persons]
    values += [*_cell_values(data.get("end", {}), area), _list_rate(rollup, key, area)]
    return Row(label, values, kind, unit)


def _causes(key: str, rollups: list[Rollup]) -> dict[str, list[str]]:
    causes = {}
    for side in ("decrease", "increase"):
        present = {cause for r in rollups for cause in r.movements.get(key, {}).get(side, {})}
        chosen = set(MAIN_CAUSES[key][side]) | present
        causes[side] = sorted(chosen, key=lambda c: MOVEMENT_ORDER.index(c) if c in MOVEMENT_ORDER else 99)
    return causes


def _movements_report(user, unit: AdminUnit, year: int, stage: str, key: str, form: Form) -> Report:
    report = Report(form.key, form.number, str(form.title), unit, year, stage)
    rollup = selectors.rollup_for(user, unit, year, stage)
    if rollup is None:
        return report
    # The start of the year and its rate are last year's official list, whatever the stage.
    previous = selectors.rollup_for(user, unit, year - 1, OFFICIAL)
    children = sorted(selectors.child_rollups(user, unit, year, stage), key=lambda c: c.unit.code)
    causes = _causes(key, [rollup, *(c.rollup for c in children)])
    header = [
        [HeaderCell(_("Unit"), rowspan=3), HeaderCell(_("Start of the year"), colspan=3),
         HeaderCell(_("Decrease in the year"), colspan=2 + 2 * len(causes["decrease"])),
         HeaderCell(_("Increase in the year"), colspan=2 + 2 * len(causes["increase"])),
         HeaderCell(_("End of the year"), colspan=3)],
        [HeaderCell(_("Households"), rowspan=2), HeaderCell(_("Persons"), rowspan=2),
         HeaderCell(_("Rate (%)"), rowspan=2)],
        [],
    ]
    for side in ("decrease", "increase"):
        header[1].append(HeaderCell(_("Total"), colspan=2))
        header[2] += _households_persons()
        for cause in causes[side]:
            header[1].append(HeaderCell(selectors.movement_label(cause), colspan=2))
            header[2] += _households_persons()
    header[1] += [HeaderCell(_("Households"), rowspan=2), HeaderCell(_("Persons"), rowspan=2),
                  HeaderCell(_("Rate (%)"), rowspan=2)]
    rows = [_movement_row(c.unit.name, c.rollup, c.previous, key, causes, "total", unit=c.unit) for c in children]
    rows += [
        _movement_row(_("Urban"), rollup, previous, key, causes, "urban", "subtotal"),
        _movement_row(_("Rural"), rollup, previous, key, causes, "rural", "subtotal"),
        _movement_row(_("Total"), rollup, previous, key, causes, "total", "total"),
    ]
    width = 3 + (2 + 2 * len(causes["decrease"])) + (2 + 2 * len(causes["increase"])) + 3
    report.sections.append(Section(
        _("Households and persons; the start of the year is last year's official list"), header, rows,
        frozenset({2, width - 1})))
    if stage == OFFICIAL:
        report.notes.append(_("Figures of the decided lists (official). Persons are the households' current "
                              "members."))
    else:
        report.notes.append(_("Preliminary figures: the changes decided by regular reviews, and each household "
                              "surveyed in this year's review counted as its survey found it, before the "
                              "decision. Persons are the households' current members."))
    return report


def poor_movements(user, unit, year, stage, form):
    return _movements_report(user, unit, year, stage, "poor", form)


def near_poor_movements(user, unit, year, stage, form):
    return _movements_report(user, unit, year, stage, "near_poor", form)


# --- form 7.9: by ethnic group -------------------------------------------------------------------


def by_ethnicity(user, unit, year, stage, form) -> Report:
    report = Report(form.key, form.number, str(form.title), unit, year, stage)
    rollup = selectors.rollup_for(user, unit, year, stage)
    if rollup is None:
        return report
    header = [
        [HeaderCell(_("Ethnic group"), rowspan=2), HeaderCell(_("All households"), colspan=2),
         HeaderCell(_("Poor"), colspan=3), HeaderCell(_("Near-poor"), colspan=3)],
        [*_households_persons(), *_households_persons(), HeaderCell(_("Rate (%)")),
         *_households_persons(), HeaderCell(_("Rate (%)"))],
    ]

    def values(h, p, ph, pp, nh, np_) -> list[Value]:
        return [h, p, ph, pp, percent(ph, h), nh, np_, percent(nh, h)]

    rows = [
        Row(_("Total"), values(rollup.households, rollup.persons, rollup.poor_households, rollup.poor_persons,
                               rollup.near_poor_households, rollup.near_poor_persons), "total"),
        Row(_("Ethnic minorities"), values(
            rollup.minority_households, rollup.minority_persons, rollup.minority_poor_households,
            rollup.minority_poor_persons, rollup.minority_near_poor_households, rollup.minority_near_poor_persons),
            "subtotal"),
    ]
    for ethnicity, counts in selectors.ethnic_groups(user, unit, year, stage):
        rows.append(Row(ethnicity.name, values(*(counts.get(name, 0) for name in (
            "households", "persons", "poor_households", "poor_persons", "near_poor_households",
            "near_poor_persons")))))
    report.sections.append(Section(_("Households and persons by ethnic group"), header, rows,
                                   frozenset({4, 7})))
    report.notes.append(_("A group's households are counted by the ethnic group of their head, its persons by "
                          "each member's own group; the ethnic-minority total counts ethnic-minority households."))
    return report


# --- form 7.10: by cause of poverty -----------------------------------------------------------------


def _cause_row(label: str, figures: Rollup, key: str, kind: str, unit: AdminUnit | None = None) -> Row:
    given = figures.causes.get(key, {})
    counted = getattr(figures, f"{key}_households")
    answered = figures.causes.get("answered", {}).get(key, {}).get("households", 0)
    return Row(label, [counted, counted - answered,
                       *(given.get(cause.value, {}).get("households", 0) for cause in PovertyCause)], kind, unit)


def by_cause(user, unit, year, stage, form) -> Report:
    report = Report(form.key, form.number, str(form.title), unit, year, stage)
    rollup = selectors.rollup_for(user, unit, year, stage)
    if rollup is None:
        return report
    children = sorted(selectors.child_rollups(user, unit, year, stage), key=lambda c: c.unit.code)
    causes = list(PovertyCause)
    for key, title, on_list in (("poor", _("Poor households by cause of poverty"), _("Poor households")),
                                ("near_poor", _("Near-poor households by cause of poverty"),
                                 _("Near-poor households"))):
        header = [
            [HeaderCell(_("Unit"), rowspan=2), HeaderCell(on_list, rowspan=2),
             HeaderCell(_("Households without a cause given"), rowspan=2),
             HeaderCell(_("Households giving each cause"), colspan=len(causes))],
            [HeaderCell(str(cause.label)) for cause in causes],
        ]
        rows = [_cause_row(c.unit.name, c.rollup, key, "row", c.unit) for c in children]
        rows.append(_cause_row(_("Total"), rollup, key, "total"))
        report.sections.append(Section(title, header, rows))
    report.notes.append(_("From the causes given with the survey behind each household's category; a household "
                          "giving several causes is counted under each."))
    return report


# --- the share deprived on each indicator ------------------------------------------------------------


def deprivation(user, unit, year, stage, form) -> Report:
    report = Report(form.key, form.number, str(form.title), unit, year, stage)
    rollup = selectors.rollup_for(user, unit, year, stage)
    if rollup is None:
        return report
    header = [[HeaderCell(_("Indicator")), HeaderCell(_("Poor households deprived")),
               HeaderCell(_("Share of poor households (%)")), HeaderCell(_("Near-poor households deprived")),
               HeaderCell(_("Share of near-poor households (%)"))]]
    rows = [Row(row.name, [row.poor, row.poor_share, row.near_poor, row.near_poor_share])
            for row in selectors.deprivation_profile(user, unit, year, stage)]
    rows.append(Row(_("Households on the list"), [rollup.poor_households, None, rollup.near_poor_households, None],
                    "total"))
    report.sections.append(Section(_("Deprivation of basic social services"), header, rows, frozenset({1, 3})))
    report.notes.append(_("From the surveys behind each household's category; a household is counted on every "
                          "indicator it is deprived on."))
    return report


# --- target groups -------------------------------------------------------------------------------------

TARGET_GROUPS = (
    ("ethnic_minority", gettext_lazy("Ethnic-minority households")),
    ("meritorious", gettext_lazy("Families of people with meritorious service")),
    ("social_protection", gettext_lazy("Social-protection beneficiaries")),
)


def target_groups(user, unit, year, stage, form) -> Report:
    report = Report(form.key, form.number, str(form.title), unit, year, stage)
    rollup = selectors.rollup_for(user, unit, year, stage)
    if rollup is None:
        return report
    header = [
        [HeaderCell(_("Group"), rowspan=2), HeaderCell(_("Poor"), colspan=3), HeaderCell(_("Near-poor"), colspan=3)],
        [*_households_persons(), HeaderCell(_("Share of the list (%)")), *_households_persons(),
         HeaderCell(_("Share of the list (%)"))],
    ]
    rows = [Row(_("All households on the list"), [
        rollup.poor_households, rollup.poor_persons, percent(rollup.poor_households, rollup.poor_households),
        rollup.near_poor_households, rollup.near_poor_persons,
        percent(rollup.near_poor_households, rollup.near_poor_households)], "total")]
    for key, label in TARGET_GROUPS:
        counts = rollup.target_groups.get(key, {})
        poor, near = counts.get("poor_households", 0), counts.get("near_poor_households", 0)
        rows.append(Row(str(label), [poor, counts.get("poor_persons", 0), percent(poor, rollup.poor_households),
                                     near, counts.get("near_poor_persons", 0),
                                     percent(near, rollup.near_poor_households)]))
    report.sections.append(Section(_("Poor and near-poor households in the target groups"), header, rows,
                                   frozenset({2, 5})))
    report.notes.append(_("A household may belong to several groups. Households without labour capacity are not "
                          "shown: the registry keeps no labour-capacity fact."))
    return report


# --- support ------------------------------------------------------------------------------------------------


def support(user, unit, year, stage, form) -> Report:
    """The year's support from the support records (programs.selectors.support_report)."""
    from programs.selectors import support_report

    report = Report(form.key, form.number, str(form.title), unit, year, OFFICIAL)
    data = support_report(unit, year)  # the view has checked the unit is in the user's area
    given = [[HeaderCell(_("Program")), HeaderCell(_("Funding source")), HeaderCell(_("Households")),
              HeaderCell(_("Supports")), HeaderCell(_("Amount (VND)"))]]
    sources = {row["funding_source"]: row["label"] for row in data.by_source}
    rows = [Row(f"{row['program'].code} – {row['program'].name}",
                [str(sources.get(row["funding_source"], row["funding_source"])), row["households"],
                 row["supports"], row["amount"] or 0]) for row in data.by_program]
    rows.append(Row(_("Total"), ["", data.households_reached, sum(r["supports"] for r in data.by_program),
                                 data.amount], "total"))
    report.sections.append(Section(_("Support given"), given, rows))
    loans = data.loans
    items = [
        (_("Houses built"), data.houses.get("new", 0)), (_("Houses repaired"), data.houses.get("repair", 0)),
        (_("Spent on houses (VND)"), data.houses.get("amount", 0)),
        (_("Training courses"), data.training.get("courses", 0)), (_("Learners"), data.training.get("learners", 0)),
        (_("Learners who found work"), data.training.get("found_work", 0)),
        (_("Job fairs"), data.job_fairs.get("fairs", 0)), (_("Workers placed"), data.job_fairs.get("placements", 0)),
        (_("Loans outstanding (VND)"), loans.get("outstanding", 0)),
        (_("Growth of loans outstanding (VND)"), loans.get("growth", 0)),
        (_("Households registered to escape poverty"), data.registrations.get("registered", 0)),
        (_("of which escaped"), data.registrations.get("escaped", 0)),
    ]
    report.sections.append(Section(_("Other support"), [[HeaderCell(_("Item")), HeaderCell(_("Value"))]],
                                   [Row(str(label), [value]) for label, value in items]))
    works = [[HeaderCell(_("Status")), HeaderCell(_("Works")), HeaderCell(_("Estimated cost (VND)")),
              HeaderCell(_("Actual cost (VND)"))]]
    report.sections.append(Section(_("Infrastructure works"), works, [
        Row(str(w["label"]), [w["works"], w["estimated"], w["actual"]]) for w in data.works]))
    budgets = [[HeaderCell(_("Program")), HeaderCell(_("Allocated (VND)")), HeaderCell(_("Disbursed (VND)")),
                HeaderCell(_("Disbursed (%)"))]]

    def rate(value) -> Decimal | None:
        return None if value is None else (Decimal(str(value)) * 100).quantize(Decimal("0.1"))

    budget_rows = [Row(f"{b['program'].code} – {b['program'].name}", [b["allocated"], b["disbursed"], rate(b["rate"])])
                   for b in data.budgets]
    total = data.budget_total
    budget_rows.append(Row(_("Total"), [total.get("allocated", 0), total.get("disbursed", 0),
                                        rate(total.get("rate"))], "total"))
    report.sections.append(Section(_("Budgets"), budgets, budget_rows, frozenset({2})))
    report.notes.append(_("Counted from the support records of the year, not from the rollups."))
    return report


FORMS = {form.key: form for form in (
    Form("7.2", "7.2", gettext_lazy("Changes in the list of poor households"), poor_movements),
    Form("7.3", "7.3", gettext_lazy("Changes in the list of near-poor households"), near_poor_movements),
    Form("7.9", "7.9", gettext_lazy("Poor and near-poor households by ethnic group"), by_ethnicity),
    Form("7.10", "7.10", gettext_lazy("Poor and near-poor households by cause of poverty"), by_cause),
    Form("deprivation", "", gettext_lazy("Share of poor and near-poor households deprived on each indicator"),
         deprivation),
    Form("target-groups", "", gettext_lazy("Poor and near-poor households in the target groups"), target_groups),
    Form("support", "", gettext_lazy("Support of the year"), support, official_only=True),
)}


def build(form_key: str, user, unit: AdminUnit, year: int, stage: str = OFFICIAL) -> Report:
    form = FORMS[form_key]
    return form.build(user, unit, year, OFFICIAL if form.official_only else stage, form)
