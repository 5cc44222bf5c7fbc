"""Support for poor and near-poor households: programs, interventions, group activities,
budgets, escape-from-poverty registrations and case work.

The National Target Program for Sustainable Poverty Reduction 2021–2025 is
Decision 90/QĐ-TTg/2022 (projects DA1–DA7); the standing supports (health
insurance, policy credit, electricity, tuition) follow their own acts. Programs
are data (programs/data/programs.json, loaded by a migration, edited in the
admin). Every write goes through `programs.services`; nothing here is deleted:
records are cancelled or archived with a reason.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.scoping import communes_for
from geo.models import AdminUnit
from households.models import ArchivableModel, Household, Member, NoDeleteQuerySet


class FundingSource(models.TextChoices):
    CENTRAL = "central", _("Central budget")
    LOCAL = "local", _("Local budget")
    POLICY_CREDIT = "credit", _("Policy credit (VBSP)")
    CONTRIBUTIONS = "contributions", _("Contributions and other sources")


class Eligibility(models.TextChoices):
    """The groups a program targets; `programs.eligibility` says which a household is in."""

    POOR = "poor", _("Poor household")
    NEAR_POOR = "near_poor", _("Near-poor household")
    NEWLY_ESCAPED = "newly_escaped", _("Newly escaped poverty (3 years or less)")
    MIDDLE_FARM = "middle_farm", _("Middle-living farm household")
    ETHNIC_MINORITY = "ethnic_minority", _("Ethnic-minority household")
    DISABILITY = "disability", _("Household with a person with disability")
    WOMAN_IN_POOR = "woman_in_poor", _("Woman in a poor household")
    MERITORIOUS = "meritorious", _("Meritorious-service family")
    LOW_INCOME_WORKER = "low_income_worker", _("Low-income worker")


class ProgramQuerySet(NoDeleteQuerySet):
    def for_user(self, user):
        """National programs, and the local programs of the provinces the user's communes are in."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        provinces = communes_for(user).values("province_id")
        return self.filter(Q(province__isnull=True) | Q(province__in=provinces))


class Program(ArchivableModel):
    """A support program or a project of one, national or a province's own."""

    class Kind(models.TextChoices):
        NATIONAL_TARGET = "ntp", _("National Target Program project")
        POLICY_CREDIT = "credit", _("Policy credit line")
        HEALTH_INSURANCE = "health_insurance", _("Health insurance")
        HOUSING = "housing", _("Housing support")
        EDUCATION = "education", _("Education support")
        ELECTRICITY = "electricity", _("Electricity allowance")
        PRODUCTION = "production", _("Production support")
        LOCAL = "local", _("Local program")
        OTHER = "other", _("Other support")

    code = models.CharField(_("code"), max_length=30)
    parent = models.ForeignKey(
        "self", verbose_name=_("part of"), null=True, blank=True, on_delete=models.PROTECT, related_name="children",
    )
    name = models.CharField(_("name"), max_length=300)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    legal_basis = models.CharField(_("legal basis"), max_length=300, blank=True)
    start_year = models.PositiveSmallIntegerField(_("first year"))
    end_year = models.PositiveSmallIntegerField(_("last year"), null=True, blank=True)
    province = models.ForeignKey(
        AdminUnit, verbose_name=_("province"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        limit_choices_to={"level": AdminUnit.Level.PROVINCE},
        help_text=_("Empty for a national program; a province's own program names it."),
    )
    funding_sources = models.JSONField(_("funding sources"), default=list, blank=True)  # FundingSource values
    target_groups = models.JSONField(_("target groups"), default=list, blank=True)  # Eligibility values
    indicators = models.JSONField(_("deprivation indicators addressed"), default=list, blank=True)  # codes
    addresses_income = models.BooleanField(_("raises income"), default=False)
    # Unit amounts where the law sets them (VND); empty where it does not.
    cap_new_house = models.PositiveBigIntegerField(_("at most, new house (VND)"), null=True, blank=True)
    cap_house_repair = models.PositiveBigIntegerField(_("at most, house repair (VND)"), null=True, blank=True)
    cap_per_course = models.PositiveBigIntegerField(_("at most, per learner and course (VND)"), null=True,
                                                    blank=True)
    cap_per_intervention = models.PositiveBigIntegerField(_("at most, per support (VND)"), null=True, blank=True)
    support_rule = models.CharField(_("what the support is"), max_length=300, blank=True)
    note = models.TextField(_("note"), blank=True)

    objects = ProgramQuerySet.as_manager()

    class Meta:
        verbose_name = _("support program")
        verbose_name_plural = _("support programs")
        ordering = ["code"]
        constraints = [
            *ArchivableModel.Meta.constraints,
            # A national code once; a province may reuse a code for its own program.
            models.UniqueConstraint(fields=["code"], condition=Q(province__isnull=True),
                                    name="program_unique_national_code"),
            models.UniqueConstraint(fields=["province", "code"], name="program_unique_local_code"),
            models.CheckConstraint(condition=Q(end_year__isnull=True) | Q(end_year__gte=models.F("start_year")),
                                   name="program_years_order"),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    def runs_in(self, year: int) -> bool:
        return self.start_year <= year and (self.end_year is None or year <= self.end_year)


class MemberProfileQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(member__household__commune__in=communes_for(user))


class MemberProfile(models.Model):
    """What support needs to know about a person and the registry does not keep.

    Kept here, one row per member who has something to record, so the
    household registry's form and exchange format stay as they are.
    """

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="support_profile",
                                  verbose_name=_("member"))
    has_disability = models.BooleanField(_("person with disability"), default=False)
    # Decree 30/2025/NĐ-CP: a low-income worker is identified on their own application.
    low_income_applied_on = models.DateField(_("applied as a low-income worker on"), null=True, blank=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("changed by"))

    objects = MemberProfileQuerySet.as_manager()

    class Meta:
        verbose_name = _("member's support profile")
        verbose_name_plural = _("members' support profiles")

    def __str__(self) -> str:
        return str(self.member)


class HouseholdScopedQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(household__commune__in=communes_for(user))


class CommuneScopedQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(commune__in=communes_for(user))


class CommuneScopedNoDeleteQuerySet(NoDeleteQuerySet):
    def for_user(self, user):
        return self.filter(commune__in=communes_for(user))


class TrainingCourse(ArchivableModel):
    """A vocational training course (DA4 of Decision 90/QĐ-TTg/2022) held for a commune's workers."""

    commune = models.ForeignKey(AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="+",
                                limit_choices_to={"level": AdminUnit.Level.COMMUNE})
    program = models.ForeignKey(Program, verbose_name=_("program"), on_delete=models.PROTECT, related_name="courses")
    trade = models.CharField(_("trade"), max_length=200)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    cost = models.PositiveBigIntegerField(_("cost (VND)"), default=0)
    funding_source = models.CharField(_("funding source"), max_length=15, choices=FundingSource.choices)
    learners = models.ManyToManyField(Member, through="CourseLearner", related_name="courses",
                                      verbose_name=_("learners"))
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("created by"))

    objects = CommuneScopedNoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = _("training course")
        verbose_name_plural = _("training courses")
        ordering = ["-starts_on", "trade"]
        constraints = [
            *ArchivableModel.Meta.constraints,
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="course_dates_order"),
        ]

    def __str__(self) -> str:
        return f"{self.trade} ({self.starts_on:%d/%m/%Y})"


class CourseLearner(models.Model):
    course = models.ForeignKey(TrainingCourse, on_delete=models.PROTECT, related_name="enrolments",
                               verbose_name=_("course"))
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", verbose_name=_("learner"))
    found_work = models.BooleanField(_("found work after the course"), default=False)

    class Meta:
        verbose_name = _("learner")
        verbose_name_plural = _("learners")
        constraints = [models.UniqueConstraint(fields=["course", "member"], name="learner_once_per_course")]

    def __str__(self) -> str:
        return str(self.member)


class JobFair(ArchivableModel):
    """A job fair (phiên giao dịch việc làm) and how many workers it placed."""

    commune = models.ForeignKey(AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="+",
                                limit_choices_to={"level": AdminUnit.Level.COMMUNE})
    program = models.ForeignKey(Program, verbose_name=_("program"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="job_fairs")
    name = models.CharField(_("name"), max_length=200)
    held_on = models.DateField(_("held on"))
    participants = models.PositiveIntegerField(_("participants"))
    placements = models.PositiveIntegerField(_("workers placed"), default=0)
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("created by"))

    objects = CommuneScopedNoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = _("job fair")
        verbose_name_plural = _("job fairs")
        ordering = ["-held_on"]
        constraints = [
            *ArchivableModel.Meta.constraints,
            models.CheckConstraint(condition=Q(placements__lte=models.F("participants")),
                                   name="job_fair_placements_le_participants"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.held_on:%d/%m/%Y})"


class ProductionProject(ArchivableModel):
    """A production-support project (DA2, DA3 of Decision 90/QĐ-TTg/2022): a group or cooperative and its households."""

    commune = models.ForeignKey(AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="+",
                                limit_choices_to={"level": AdminUnit.Level.COMMUNE})
    program = models.ForeignKey(Program, verbose_name=_("program"), on_delete=models.PROTECT,
                                related_name="projects")
    name = models.CharField(_("name"), max_length=200)
    group_name = models.CharField(_("group or cooperative"), max_length=200)
    year = models.PositiveSmallIntegerField(_("year"))
    budget = models.PositiveBigIntegerField(_("budget (VND)"), default=0)
    funding_source = models.CharField(_("funding source"), max_length=15, choices=FundingSource.choices)
    beneficiaries = models.ManyToManyField(Household, related_name="production_projects", blank=True,
                                           verbose_name=_("beneficiary households"))
    note = models.TextField(_("note"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("created by"))

    objects = CommuneScopedNoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = _("production-support project")
        verbose_name_plural = _("production-support projects")
        ordering = ["-year", "name"]
        constraints = [*ArchivableModel.Meta.constraints]

    def __str__(self) -> str:
        return f"{self.name} ({self.year})"


class InfrastructureWork(ArchivableModel):
    """A commune infrastructure work (DA1 of Decision 90/QĐ-TTg/2022)."""

    class Category(models.TextChoices):
        ROADS = "roads", _("Roads")
        IRRIGATION = "irrigation", _("Irrigation")
        ELECTRICITY = "electricity", _("Electricity")
        SCHOOLS = "schools", _("Schools")
        CULTURE = "culture", _("Culture")
        HEALTH = "health", _("Health")
        RESETTLEMENT = "resettlement", _("Resettlement")
        OTHER = "other", _("Other")

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        PREPARED = "prepared", _("Prepared for investment")
        UNDER_CONSTRUCTION = "building", _("Under construction")
        DONE = "done", _("Done")

    commune = models.ForeignKey(AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="+",
                                limit_choices_to={"level": AdminUnit.Level.COMMUNE})
    program = models.ForeignKey(Program, verbose_name=_("program"), null=True, blank=True, on_delete=models.PROTECT,
                                related_name="works")
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=15, choices=Category.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PLANNED)
    year = models.PositiveSmallIntegerField(_("year"))
    estimated_cost = models.PositiveBigIntegerField(_("estimated cost (VND)"), default=0)
    actual_cost = models.PositiveBigIntegerField(_("actual cost (VND)"), null=True, blank=True)
    funding_source = models.CharField(_("funding source"), max_length=15, choices=FundingSource.choices)
    note = models.TextField(_("note"), blank=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("changed by"))

    objects = CommuneScopedNoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = _("infrastructure work")
        verbose_name_plural = _("infrastructure works")
        ordering = ["-year", "name"]
        constraints = [*ArchivableModel.Meta.constraints]
        indexes = [
            # The support report: a unit's works of a year by status.
            models.Index(fields=["year", "status"], name="work_year_status"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.year})"


class InterventionQuerySet(HouseholdScopedQuerySet, NoDeleteQuerySet):
    def delivered(self):
        return self.filter(status=Intervention.Status.DELIVERED)


class Intervention(models.Model):
    """One support given (or planned) to a household or one of its members."""

    class Kind(models.TextChoices):
        CASH = "cash", _("Cash")
        IN_KIND = "in_kind", _("In kind")
        LOAN = "loan", _("Loan")
        SERVICE = "service", _("Service")
        TRAINING = "training", _("Training place")

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        DELIVERED = "delivered", _("Delivered")
        CANCELLED = "cancelled", _("Cancelled")

    class HouseWork(models.TextChoices):
        NEW = "new", _("New house")
        REPAIR = "repair", _("Repair")

    household = models.ForeignKey(Household, verbose_name=_("household"), on_delete=models.PROTECT,
                                  related_name="interventions")
    member = models.ForeignKey(Member, verbose_name=_("member"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="interventions")
    program = models.ForeignKey(Program, verbose_name=_("program"), on_delete=models.PROTECT,
                                related_name="interventions")
    given_on = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    amount = models.BigIntegerField(_("amount (VND)"), default=0)
    funding_source = models.CharField(_("funding source"), max_length=15, choices=FundingSource.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PLANNED)
    house_work = models.CharField(_("house work"), max_length=6, choices=HouseWork.choices, blank=True)
    note = models.TextField(_("note"), blank=True)
    # Set when the support is a place in a course or a share of a project.
    course = models.ForeignKey(TrainingCourse, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="interventions", verbose_name=_("course"))
    project = models.ForeignKey(ProductionProject, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="interventions", verbose_name=_("project"))

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("created by"))
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", verbose_name=_("changed by"))
    cancel_reason = models.TextField(_("reason for cancelling"), blank=True)

    objects = InterventionQuerySet.as_manager()

    class Meta:
        verbose_name = _("support given")
        verbose_name_plural = _("support given")
        ordering = ["-given_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="intervention_amount_not_negative"),
            models.CheckConstraint(condition=~Q(status="cancelled") | ~Q(cancel_reason=""),
                                   name="intervention_cancel_has_reason"),
        ]
        indexes = [
            # "Eligible and not yet received": delivered supports of one program, by household.
            models.Index(fields=["program", "status", "household"], name="intervention_received"),
            # A household's supports, newest first (its page, the path out).
            models.Index(fields=["household", "-given_on"], name="intervention_household"),
            # The support report: a year's supports.
            models.Index(fields=["given_on", "status"], name="intervention_date"),
        ]

    def __str__(self) -> str:
        return f"{self.program.code} – {self.household} ({self.given_on:%d/%m/%Y})"

    def delete(self, *args, **kwargs):
        from households.models import ArchiveInsteadOfDelete

        raise ArchiveInsteadOfDelete("Support records are cancelled, never deleted.")


class LoanQuerySet(NoDeleteQuerySet):
    def for_user(self, user):
        return self.filter(intervention__household__commune__in=communes_for(user))


class Loan(models.Model):
    """A policy-credit loan (VBSP): the intervention that lent it, and its terms."""

    intervention = models.OneToOneField(Intervention, on_delete=models.PROTECT, related_name="loan",
                                        verbose_name=_("support given"))
    principal = models.PositiveBigIntegerField(_("principal (VND)"))
    disbursed_on = models.DateField(_("disbursed on"))
    term_months = models.PositiveSmallIntegerField(_("term (months)"))
    purpose = models.CharField(_("purpose"), max_length=200)

    objects = LoanQuerySet.as_manager()

    class Meta:
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        ordering = ["-disbursed_on", "-id"]
        constraints = [models.CheckConstraint(condition=Q(term_months__gte=1), name="loan_term_positive")]

    def __str__(self) -> str:
        return f"{self.intervention.household} – {self.principal:,} ({self.disbursed_on:%d/%m/%Y})"

    def delete(self, *args, **kwargs):
        from households.models import ArchiveInsteadOfDelete

        raise ArchiveInsteadOfDelete("Loans are kept, never deleted.")


class LoanBalance(models.Model):
    """The outstanding balance of a loan on a date, after a repayment (or as reported by the bank)."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="balances", verbose_name=_("loan"))
    on = models.DateField(_("on"))
    repaid = models.PositiveBigIntegerField(_("repaid (VND)"), default=0)
    outstanding = models.PositiveBigIntegerField(_("outstanding (VND)"))
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+", verbose_name=_("recorded by"))

    class Meta:
        verbose_name = _("loan balance")
        verbose_name_plural = _("loan balances")
        ordering = ["loan", "on", "id"]
        indexes = [
            # Outstanding at a date: the last balance of each loan on or before it.
            models.Index(fields=["loan", "on"], name="loan_balance_on"),
        ]

    def __str__(self) -> str:
        return f"{self.on:%d/%m/%Y}: {self.outstanding:,}"


class BudgetAllocation(models.Model):
    """Money allocated to a commune for a program and year from one source, and how much is disbursed."""

    commune = models.ForeignKey(AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="+",
                                limit_choices_to={"level": AdminUnit.Level.COMMUNE})
    program = models.ForeignKey(Program, verbose_name=_("program"), on_delete=models.PROTECT,
                                related_name="allocations")
    year = models.PositiveSmallIntegerField(_("year"))
    funding_source = models.CharField(_("funding source"), max_length=15, choices=FundingSource.choices)
    allocated = models.PositiveBigIntegerField(_("allocated (VND)"))
    disbursed = models.PositiveBigIntegerField(_("disbursed (VND)"), default=0)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("changed by"))

    objects = CommuneScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("budget allocation")
        verbose_name_plural = _("budget allocations")
        ordering = ["-year", "commune", "program"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "program", "year", "funding_source"], name="allocation_unique"),
            # Disbursement never runs ahead of the allocation: a larger allocation is recorded first.
            models.CheckConstraint(condition=Q(disbursed__lte=models.F("allocated")),
                                   name="allocation_disbursed_le_allocated"),
        ]

    def __str__(self) -> str:
        return f"{self.program.code} {self.year} – {self.commune}"

    @property
    def rate(self) -> float | None:
        return self.disbursed / self.allocated if self.allocated else None

    def delete(self, *args, **kwargs):
        from households.models import ArchiveInsteadOfDelete

        raise ArchiveInsteadOfDelete("Allocations are kept, never deleted.")


class Helper(ArchivableModel):
    """A person who follows poor households of a commune (cán bộ, đảng viên giúp đỡ hộ nghèo)."""

    class Position(models.TextChoices):
        OFFICIAL = "official", _("Commune official")
        PARTY_MEMBER = "party_member", _("Party member")
        UNION_MEMBER = "union_member", _("Mass organisation member")
        VILLAGE_HEAD = "village_head", _("Village head")
        OTHER = "other", _("Other")

    commune = models.ForeignKey(AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="+",
                                limit_choices_to={"level": AdminUnit.Level.COMMUNE})
    full_name = models.CharField(_("full name"), max_length=120)
    position = models.CharField(_("position"), max_length=15, choices=Position.choices)
    organisation = models.CharField(_("organisation"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="+", verbose_name=_("user account"))

    objects = CommuneScopedNoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = _("helper")
        verbose_name_plural = _("helpers")
        ordering = ["commune", "full_name"]
        constraints = [*ArchivableModel.Meta.constraints]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.get_position_display()})"


class HelperAssignment(models.Model):
    """A helper following a household from one date to another (open while it lasts)."""

    helper = models.ForeignKey(Helper, on_delete=models.PROTECT, related_name="assignments",
                               verbose_name=_("helper"))
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="helper_assignments",
                                  verbose_name=_("household"))
    started_on = models.DateField(_("from"))
    ended_on = models.DateField(_("until"), null=True, blank=True)
    end_reason = models.TextField(_("why it ended"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("assigned by"))

    objects = HouseholdScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("helper assignment")
        verbose_name_plural = _("helper assignments")
        ordering = ["household", "-started_on"]
        constraints = [
            # A household has one current helper at a time.
            models.UniqueConstraint(fields=["household"], condition=Q(ended_on__isnull=True),
                                    name="assignment_one_current"),
            models.CheckConstraint(condition=Q(ended_on__isnull=True) | Q(ended_on__gte=models.F("started_on")),
                                   name="assignment_dates_order"),
        ]

    def __str__(self) -> str:
        return f"{self.helper.full_name} → {self.household}"


class Visit(models.Model):
    """A visit to a household: what was found, and what must follow by when."""

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="support_visits",
                                  verbose_name=_("household"))
    helper = models.ForeignKey(Helper, null=True, blank=True, on_delete=models.PROTECT, related_name="visits",
                               verbose_name=_("helper"))
    visited_on = models.DateField(_("visited on"))
    findings = models.TextField(_("what was found"))
    follow_up = models.TextField(_("follow-up"), blank=True)
    follow_up_due = models.DateField(_("follow-up due"), null=True, blank=True)
    follow_up_done_on = models.DateField(_("follow-up done on"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("recorded by"))

    objects = HouseholdScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["household", "-visited_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(follow_up_due__isnull=True) | ~Q(follow_up=""),
                                   name="visit_due_has_follow_up"),
        ]
        indexes = [
            # Follow-ups that are due: open ones by due date.
            models.Index(fields=["follow_up_done_on", "follow_up_due"], name="visit_follow_up_due"),
        ]

    def __str__(self) -> str:
        return f"{self.household} – {self.visited_on:%d/%m/%Y}"

    @property
    def is_follow_up_open(self) -> bool:
        return bool(self.follow_up) and self.follow_up_done_on is None


class RegistrationQuerySet(HouseholdScopedQuerySet, NoDeleteQuerySet):
    pass


class EscapeRegistration(ArchivableModel):
    """A household's registration to leave poverty by a year (đăng ký thoát nghèo), with its plan.

    Whether it left, and which planned deprivations closed, is read from that
    year's official status when it exists (`services.registration_outcome`), never stored.
    """

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="escape_registrations",
                                  verbose_name=_("household"))
    registered_on = models.DateField(_("registered on"))
    target_year = models.PositiveSmallIntegerField(_("to leave poverty by the year"))
    category_at_registration = models.CharField(_("classification when registering"), max_length=10)
    indicators_to_fix = models.JSONField(_("deprivations to close"), default=list, blank=True)  # indicator codes
    target_income = models.PositiveIntegerField(_("income aimed for (VND per person per month)"), null=True,
                                                blank=True)
    support_asked = models.TextField(_("support asked for"), blank=True)
    programs_asked = models.ManyToManyField(Program, blank=True, related_name="+",
                                            verbose_name=_("programs asked for"))
    helper = models.ForeignKey(Helper, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="registrations", verbose_name=_("helper"))
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("recorded by"))

    objects = RegistrationQuerySet.as_manager()

    class Meta:
        verbose_name = _("escape-from-poverty registration")
        verbose_name_plural = _("escape-from-poverty registrations")
        ordering = ["-target_year", "household"]
        constraints = [
            *ArchivableModel.Meta.constraints,
            # One live registration per household and year; a withdrawn one is archived.
            models.UniqueConstraint(fields=["household", "target_year"], condition=Q(is_archived=False),
                                    name="registration_one_per_year"),
        ]

    def __str__(self) -> str:
        return f"{self.household} → {self.target_year}"
