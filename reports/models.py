"""Figures per unit and year, computed by `reports.compute` from the source rows.

Pages read these rows instead of counting a million households on every request.
Each row says when it was computed ("as of"); a change to a commune's data marks
the commune dirty (`DirtyCommune`) and a task recomputes it and the units above.

Definitions (also in `reports.compute`):

* The population of year Y: households not archived by the end of Y, created by
  then or carrying an official status of a year up to Y.
* Official category in year Y: the category of the household's latest
  `HouseholdStatus` with year ≤ Y (by year, decision date, id); none if it has none.
* Preliminary category in year Y: the result of its survey in the commune's
  periodic round of Y when that survey has a result (surveyed or stopped at
  Phiếu A); otherwise its official category before that round's decision.
* Persons are the household's current members (`member_count`): the registry
  keeps no history of members, so persons of past years are today's members.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.scoping import units_for
from geo.models import AdminUnit

# The integer figures of a rollup; parents sum them over their communes.
FIGURES = (
    "households", "persons",
    "poor_households", "poor_persons", "near_poor_households", "near_poor_persons",
    "middle_households", "middle_persons",
    "urban_households", "urban_persons", "urban_poor_households", "urban_poor_persons",
    "urban_near_poor_households", "urban_near_poor_persons",
    "minority_households", "minority_persons", "minority_poor_households", "minority_poor_persons",
    "minority_near_poor_households", "minority_near_poor_persons",
    "newly_escaped_households", "newly_escaped_persons",
)
# The JSON figures: nested dicts of integers, summed key by key.
BREAKDOWNS = ("ethnic_groups", "deprivation", "movements", "target_groups", "causes")


def percent(part: int, whole: int) -> Decimal | None:
    """A share in percent with one decimal, as reports print it (12,3%)."""
    if not whole:
        return None
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


class RollupQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(unit__in=units_for(user))


class Rollup(models.Model):
    """One unit's figures for one year, preliminary (the year's surveys) or official (decided)."""

    class Stage(models.TextChoices):
        PRELIMINARY = "preliminary", _("Preliminary (surveys of the year)")
        OFFICIAL = "official", _("Official (decided)")

    unit = models.ForeignKey(AdminUnit, on_delete=models.CASCADE, related_name="rollups", verbose_name=_("unit"))
    year = models.PositiveSmallIntegerField(_("year"))
    stage = models.CharField(_("stage"), max_length=12, choices=Stage.choices)

    households = models.PositiveIntegerField(_("households"), default=0)
    persons = models.PositiveIntegerField(_("persons"), default=0)
    poor_households = models.PositiveIntegerField(_("poor households"), default=0)
    poor_persons = models.PositiveIntegerField(_("persons in poor households"), default=0)
    near_poor_households = models.PositiveIntegerField(_("near-poor households"), default=0)
    near_poor_persons = models.PositiveIntegerField(_("persons in near-poor households"), default=0)
    middle_households = models.PositiveIntegerField(_("middle-living households"), default=0)
    middle_persons = models.PositiveIntegerField(_("persons in middle-living households"), default=0)
    urban_households = models.PositiveIntegerField(_("urban households"), default=0)
    urban_persons = models.PositiveIntegerField(_("urban persons"), default=0)
    urban_poor_households = models.PositiveIntegerField(_("urban poor households"), default=0)
    urban_poor_persons = models.PositiveIntegerField(_("persons in urban poor households"), default=0)
    urban_near_poor_households = models.PositiveIntegerField(_("urban near-poor households"), default=0)
    urban_near_poor_persons = models.PositiveIntegerField(_("persons in urban near-poor households"), default=0)
    minority_households = models.PositiveIntegerField(_("ethnic-minority households"), default=0)
    minority_persons = models.PositiveIntegerField(_("persons in ethnic-minority households"), default=0)
    minority_poor_households = models.PositiveIntegerField(_("ethnic-minority poor households"), default=0)
    minority_poor_persons = models.PositiveIntegerField(_("persons in ethnic-minority poor households"), default=0)
    minority_near_poor_households = models.PositiveIntegerField(_("ethnic-minority near-poor households"), default=0)
    minority_near_poor_persons = models.PositiveIntegerField(
        _("persons in ethnic-minority near-poor households"), default=0)
    newly_escaped_households = models.PositiveIntegerField(_("newly escaped households"), default=0)
    newly_escaped_persons = models.PositiveIntegerField(_("persons in newly escaped households"), default=0)

    # {ethnicity code: {"households", "persons", "poor_households", "poor_persons",
    #  "near_poor_households", "near_poor_persons"}}; households by the head's group,
    # persons by each member's own group (form 7.9).
    ethnic_groups = models.JSONField(_("by ethnic group"), default=dict, blank=True)
    # {"poor": {indicator code: households}, "near_poor": {…}}: deprived on each indicator.
    deprivation = models.JSONField(_("deprivation by indicator"), default=dict, blank=True)
    # Form 7.2 (poor) and 7.3 (near-poor): {"poor": {"start": cell, "decrease": {movement: cell},
    # "increase": {movement: cell}, "end": cell}, "near_poor": {…}}; a cell is
    # {"households", "persons", "urban_households", "urban_persons"}.
    movements = models.JSONField(_("movements of the year"), default=dict, blank=True)
    # {"ethnic_minority" | "meritorious" | "social_protection": {"poor_households", "poor_persons",
    #  "near_poor_households", "near_poor_persons"}}. "No labour capacity" is not
    # kept by the registry (members carry no labour-capacity fact), so it is not counted.
    target_groups = models.JSONField(_("target groups"), default=dict, blank=True)
    # Form 7.10: {"poor": {cause: {"households", "persons"}}, "near_poor": {…}}, from the survey
    # behind each household's category; a household counts under each cause it gave.
    causes = models.JSONField(_("causes of poverty"), default=dict, blank=True)

    computed_at = models.DateTimeField(_("as of"))

    objects = RollupQuerySet.as_manager()

    class Meta:
        verbose_name = _("rollup")
        verbose_name_plural = _("rollups")
        ordering = ["unit", "-year", "stage"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "year", "stage"], name="rollup_unique"),
        ]
        indexes = [
            # Child units of one parent for a year (ranking communes by poverty rate).
            models.Index(fields=["year", "stage", "unit"], name="rollup_year_stage"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} – {self.year} ({self.get_stage_display()})"

    @property
    def rural_households(self) -> int:
        return self.households - self.urban_households

    @property
    def rural_persons(self) -> int:
        return self.persons - self.urban_persons

    @property
    def rural_poor_households(self) -> int:
        return self.poor_households - self.urban_poor_households

    @property
    def rural_near_poor_households(self) -> int:
        return self.near_poor_households - self.urban_near_poor_households

    @property
    def poor_rate(self) -> Decimal | None:
        return percent(self.poor_households, self.households)

    @property
    def near_poor_rate(self) -> Decimal | None:
        return percent(self.near_poor_households, self.households)

    @property
    def poor_and_near_poor_rate(self) -> Decimal | None:
        return percent(self.poor_households + self.near_poor_households, self.households)

    @property
    def middle_rate(self) -> Decimal | None:
        return percent(self.middle_households, self.households)

    @property
    def poor_persons_rate(self) -> Decimal | None:
        return percent(self.poor_persons, self.persons)

    @property
    def near_poor_persons_rate(self) -> Decimal | None:
        return percent(self.near_poor_persons, self.persons)

    @property
    def minority_poor_rate(self) -> Decimal | None:
        return percent(self.minority_poor_households, self.minority_households)

    @property
    def urban_poor_rate(self) -> Decimal | None:
        return percent(self.urban_poor_households, self.urban_households)

    @property
    def rural_poor_rate(self) -> Decimal | None:
        return percent(self.rural_poor_households, self.rural_households)


class StandardEffect(models.Model):
    """How many households of a unit would be poor or near-poor under the next standard.

    Each active household's latest survey facts (income or score A, farm flag,
    deprivations) classified with the next standard's rules; households never
    surveyed are counted apart. Computed with the rollups, read by the pages.
    """

    unit = models.ForeignKey(AdminUnit, on_delete=models.CASCADE, related_name="standard_effects",
                             verbose_name=_("unit"))
    standard_code = models.CharField(_("standard"), max_length=30)
    households = models.PositiveIntegerField(_("households"), default=0)
    persons = models.PositiveIntegerField(_("persons"), default=0)
    surveyed_households = models.PositiveIntegerField(_("households with survey facts"), default=0)
    poor_households = models.PositiveIntegerField(_("poor households"), default=0)
    poor_persons = models.PositiveIntegerField(_("persons in poor households"), default=0)
    near_poor_households = models.PositiveIntegerField(_("near-poor households"), default=0)
    near_poor_persons = models.PositiveIntegerField(_("persons in near-poor households"), default=0)
    computed_at = models.DateTimeField(_("as of"))

    class Meta:
        verbose_name = _("next standard's effect")
        verbose_name_plural = _("next standard's effects")
        constraints = [
            models.UniqueConstraint(fields=["unit", "standard_code"], name="standard_effect_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} – {self.standard_code}"

    @property
    def unsurveyed_households(self) -> int:
        return self.households - self.surveyed_households

    @property
    def poor_rate(self) -> Decimal | None:
        return percent(self.poor_households, self.households)

    @property
    def near_poor_rate(self) -> Decimal | None:
        return percent(self.near_poor_households, self.households)


class DirtyCommune(models.Model):
    """A commune whose figures of a year must be recomputed: the queue the task drains.

    Marked after the commit of any change that matters (a survey, a decision, an
    import, an archive); a row is removed only by the run that recomputed it after
    it was marked, so a change made during a run is never lost.
    """

    commune = models.ForeignKey(AdminUnit, on_delete=models.CASCADE, related_name="+", verbose_name=_("commune"),
                                limit_choices_to={"level": AdminUnit.Level.COMMUNE})
    year = models.PositiveSmallIntegerField(_("year"))
    marked_at = models.DateTimeField(_("marked at"))

    class Meta:
        verbose_name = _("commune to recompute")
        verbose_name_plural = _("communes to recompute")
        constraints = [
            models.UniqueConstraint(fields=["commune", "year"], name="dirtycommune_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.commune} – {self.year}"


class TargetQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(unit__in=units_for(user))


class Target(models.Model):
    """A unit's annual target, set by the province or the unit above it."""

    class Kind(models.TextChoices):
        RATE = "rate", _("Poverty rate at the end of the year (%)")
        REDUCTION = "reduction", _("Reduction of the poverty rate (percentage points)")
        ESCAPES = "escapes", _("Households to escape poverty")

    unit = models.ForeignKey(AdminUnit, on_delete=models.CASCADE, related_name="targets", verbose_name=_("unit"))
    year = models.PositiveSmallIntegerField(_("year"))
    kind = models.CharField(_("kind of target"), max_length=10, choices=Kind.choices)
    # Percent or points with two decimals (1.50 points), or a number of households.
    value = models.DecimalField(_("value"), max_digits=9, decimal_places=2)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+", verbose_name=_("set by"))
    set_at = models.DateTimeField(_("set at"), auto_now=True)

    objects = TargetQuerySet.as_manager()

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["unit", "-year", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "year", "kind"], name="target_unique"),
            models.CheckConstraint(condition=Q(value__gte=0), name="target_value_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} – {self.year}: {self.get_kind_display()} {self.value}"


def achievement(target: Target, rollup_before: Rollup | None, rollup_now: Rollup | None) -> Decimal | None:
    """The share of the target achieved, in percent ("đạt 130,1% kế hoạch"); None when unknown.

    * rate: the target is the poverty rate to reach; achieved = the reduction made
      over the reduction planned (from last year's rate to the target rate).
    * reduction: achieved = points of reduction made over the points planned.
    * escapes: achieved = households that escaped poverty over the number planned.
    """
    if rollup_now is None or rollup_before is None:
        return None
    before, now = rollup_before.poor_rate, rollup_now.poor_rate
    if target.kind == Target.Kind.ESCAPES:
        escaped = _escaped(rollup_now)
        planned = Decimal(target.value)
        made = Decimal(escaped)
    else:
        if before is None or now is None:
            return None
        made = before - now
        planned = (before - Decimal(target.value)) if target.kind == Target.Kind.RATE else Decimal(target.value)
    if planned <= 0:
        return None
    return (100 * made / planned).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _escaped(rollup: Rollup) -> int:
    """Households that left the poor list over the year by escaping (not by moving away)."""
    decrease = rollup.movements.get("poor", {}).get("decrease", {})
    return sum(decrease.get(cause, {}).get("households", 0) for cause in ("escaped_near", "escaped_above"))



class ReportPackQuerySet(models.QuerySet):
    def for_user(self, user):
        """A user sees the packs they asked for, of units still in their area; a superuser sees all."""
        if user is None or not user.is_authenticated:
            return self.none()
        packs = self.filter(unit__in=units_for(user))
        return packs if user.is_superuser else packs.filter(created_by=user)


class ReportPack(models.Model):
    """Every official table of a unit and of each unit below it, for a year, as one Excel workbook.

    Prepared by a task (`reports.tasks.prepare_report_pack`, see `reports.pack`), which
    records how many units it has done so the page can show a progress bar. The
    figures are read as the user who asked for it would read them (their area).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Preparing")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("requested by"))
    unit = models.ForeignKey(AdminUnit, on_delete=models.CASCADE, related_name="+", verbose_name=_("unit"))
    year = models.PositiveSmallIntegerField(_("year"))
    stage = models.CharField(_("stage"), max_length=12, choices=Rollup.Stage.choices, default=Rollup.Stage.OFFICIAL)
    # The language of the page it was asked from: the workbook and any error are written in it.
    language = models.CharField(_("language"), max_length=10, default=settings.LANGUAGE_CODE)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    units_total = models.PositiveIntegerField(_("units in all"), default=0)
    units_done = models.PositiveIntegerField(_("units done"), default=0)
    file = models.FileField(_("file"), upload_to="report-packs/%Y/%m/", blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # The workbook was removed after the retention period (settings.UPLOAD_RETENTION_DAYS); the record stays.
    file_removed_at = models.DateTimeField(_("file removed"), null=True, blank=True)

    objects = ReportPackQuerySet.as_manager()

    class Meta:
        verbose_name = _("report pack")
        verbose_name_plural = _("report packs")
        ordering = ["-created_at", "-id"]
        indexes = [
            # A user's recent packs (the report list page).
            models.Index(fields=["created_by", "created_at"], name="reportpack_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} – {self.year} ({self.get_stage_display()})"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("reports:pack", args=[self.pk])

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def progress_percent(self) -> int:
        return int(100 * self.units_done / self.units_total) if self.units_total else 0
