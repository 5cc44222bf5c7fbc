"""The annual review: standards as data, rounds, requests, surveys, meetings, posting, decisions.

The procedure is Decision 24/2021/QĐ-TTg; the standard of 2022–2025 is Decree
07/2021/NĐ-CP and its forms (Phiếu A, Phiếu B) are Circular 07/2021/TT-BLĐTBXH.
State changes happen only in `reviews.services`; these models hold the data
and its invariants.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.scoping import communes_for
from geo.models import AdminUnit
from households.models import Household, Village


class Category(models.TextChoices):
    """The result of classifying a household against a standard."""

    POOR = "poor", _("Poor household")
    NEAR_POOR = "near_poor", _("Near-poor household")
    MIDDLE = "middle", _("Middle living standard")
    NONE = "none", _("Neither poor nor near-poor")


class PovertyCause(models.TextChoices):
    """Why a household is poor or near-poor, as asked with Phiếu B and counted by form 7.10."""

    NO_LAND = "no_land", _("No land for production")
    NO_CAPITAL = "no_capital", _("No capital for production")
    NO_LABOUR = "no_labour", _("No labour")
    NO_TOOLS = "no_tools", _("No tools or means of production")
    NO_KNOW_HOW = "no_know_how", _("Does not know how to make a living")
    NO_SKILLS = "no_skills", _("No vocational skills")
    ILLNESS = "illness", _("Illness, serious disease or accident")
    OTHER = "other", _("Other cause")


class PovertyStandard(models.Model):
    """A multidimensional poverty standard for a span of years, national or a province's own.

    Lines are VND per person per month. A province may adopt a higher local
    standard (Decree 07/2021 Art. 4), which then takes precedence in that province.
    """

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=200)
    legal_basis = models.CharField(_("legal basis"), max_length=200)
    first_year = models.PositiveSmallIntegerField(_("first year"))
    last_year = models.PositiveSmallIntegerField(_("last year"))
    province = models.ForeignKey(
        AdminUnit, verbose_name=_("province"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="poverty_standards", limit_choices_to={"level": AdminUnit.Level.PROVINCE},
        help_text=_("Empty for the national standard; a province's own (higher) standard names it."),
    )
    income_line_rural = models.PositiveIntegerField(_("income line, rural (VND)"))
    income_line_urban = models.PositiveIntegerField(_("income line, urban (VND)"))
    middle_line_rural = models.PositiveIntegerField(_("middle-living upper line, rural (VND)"))
    middle_line_urban = models.PositiveIntegerField(_("middle-living upper line, urban (VND)"))
    deprivation_cutoff = models.PositiveSmallIntegerField(
        _("deprivations that make a household poor"), default=3,
    )
    score_line_rural = models.PositiveSmallIntegerField(_("score A line, rural"), default=140)
    score_line_urban = models.PositiveSmallIntegerField(_("score A line, urban"), default=175)
    points_per_deprivation = models.PositiveSmallIntegerField(_("points per deprivation (score B)"), default=10)
    is_provisional = models.BooleanField(
        _("provisional"), default=False,
        help_text=_("Not yet final in law: figures may change and are shown with a warning."),
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("poverty standard")
        verbose_name_plural = _("poverty standards")
        ordering = ["first_year", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(last_year__gte=models.F("first_year")), name="standard_years_order"),
            models.CheckConstraint(
                condition=Q(middle_line_rural__gt=models.F("income_line_rural"))
                & Q(middle_line_urban__gt=models.F("income_line_urban")),
                name="standard_middle_above_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"

    def covers(self, year: int) -> bool:
        return self.first_year <= year <= self.last_year


class Indicator(models.Model):
    """One deprivation indicator of a standard (12 for Decree 07/2021)."""

    class Dimension(models.TextChoices):
        EMPLOYMENT = "employment", _("Employment")
        HEALTH = "health", _("Health")
        EDUCATION = "education", _("Education")
        HOUSING = "housing", _("Housing")
        WATER = "water", _("Water and sanitation")
        INFORMATION = "information", _("Information")
        OTHER = "other", _("Other")

    standard = models.ForeignKey(
        PovertyStandard, verbose_name=_("standard"), on_delete=models.CASCADE, related_name="indicators"
    )
    number = models.PositiveSmallIntegerField(_("number"))
    code = models.SlugField(_("code"), max_length=40)
    dimension = models.CharField(_("dimension"), max_length=12, choices=Dimension.choices)
    name = models.CharField(_("official name"), max_length=200)
    help_text = models.TextField(_("when a household is deprived"), blank=True)

    class Meta:
        verbose_name = _("deprivation indicator")
        verbose_name_plural = _("deprivation indicators")
        ordering = ["standard", "number"]
        constraints = [
            models.UniqueConstraint(fields=["standard", "code"], name="indicator_unique_code"),
            models.UniqueConstraint(fields=["standard", "number"], name="indicator_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.number}. {self.name}"


class ScoreItem(models.Model):
    """One line of the Phiếu B point table: an answer and the points it adds to score A.

    The official table is loaded from a file (`load_score_table`), per standard
    and optionally per province; none is invented here.
    """

    standard = models.ForeignKey(
        PovertyStandard, verbose_name=_("standard"), on_delete=models.CASCADE, related_name="score_items"
    )
    province = models.ForeignKey(
        AdminUnit, verbose_name=_("province"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        limit_choices_to={"level": AdminUnit.Level.PROVINCE},
    )
    question = models.CharField(_("question code"), max_length=20)
    question_text = models.CharField(_("question"), max_length=300)
    answer = models.CharField(_("answer code"), max_length=20)
    answer_text = models.CharField(_("answer"), max_length=300)
    area = models.CharField(_("area"), max_length=5, choices=Household.Area.choices, blank=True,
                            help_text=_("Empty when the points are the same in rural and urban areas."))
    points = models.SmallIntegerField(_("points"))

    class Meta:
        verbose_name = _("score table item")
        verbose_name_plural = _("score table items")
        ordering = ["standard", "question", "answer"]
        constraints = [
            # One line per answer: in the national table, and in each province's own.
            models.UniqueConstraint(
                fields=["standard", "question", "answer", "area"], condition=Q(province__isnull=True),
                name="score_item_unique_national",
            ),
            models.UniqueConstraint(
                fields=["standard", "province", "question", "answer", "area"], condition=Q(province__isnull=False),
                name="score_item_unique_province",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question}.{self.answer}: {self.points}"


class ScreeningRule(models.Model):
    """One question of Phiếu A (rapid screening of a household that asked to be added).

    Circular 07/2021 leaves the exact stop rules to configuration: a "yes" to a
    rule marked `stops` ends the screening (the household is not surveyed further).
    """

    standard = models.ForeignKey(
        PovertyStandard, verbose_name=_("standard"), on_delete=models.CASCADE, related_name="screening_rules"
    )
    number = models.PositiveSmallIntegerField(_("number"))
    question = models.CharField(_("question"), max_length=300)
    stops = models.BooleanField(_("a “yes” stops the screening"), default=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("screening rule (Phiếu A)")
        verbose_name_plural = _("screening rules (Phiếu A)")
        ordering = ["standard", "number"]
        constraints = [models.UniqueConstraint(fields=["standard", "number"], name="screening_rule_unique")]

    def __str__(self) -> str:
        return f"{self.number}. {self.question}"


class ReviewRoundQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(commune__in=communes_for(user))


class ReviewRound(models.Model):
    """One commune's review: the periodic review of a year, or a regular (monthly) batch."""

    class Kind(models.TextChoices):
        PERIODIC = "periodic", _("Periodic review")
        REGULAR = "regular", _("Regular review")

    class Status(models.TextChoices):
        OPEN = "open", _("In progress at the commune")
        SUBMITTED = "submitted", _("Submitted for review")
        RETURNED = "returned", _("Returned to the commune")
        APPROVED = "approved", _("Approved above the commune")
        DECIDED = "decided", _("Recognised by decision")

    commune = models.ForeignKey(
        AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="review_rounds",
        limit_choices_to={"level": AdminUnit.Level.COMMUNE},
    )
    year = models.PositiveSmallIntegerField(_("year"))
    kind = models.CharField(_("kind of review"), max_length=10, choices=Kind.choices, default=Kind.PERIODIC)
    # 0 for the periodic review; 1–12 for a regular batch (from the 15th of that month).
    month = models.PositiveSmallIntegerField(_("month"), default=0)
    standard = models.ForeignKey(
        PovertyStandard, verbose_name=_("standard"), on_delete=models.PROTECT, related_name="rounds"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)

    posting_start = models.DateField(_("posting started"), null=True, blank=True)
    posting_days = models.PositiveSmallIntegerField(_("posting period (working days)"), default=3)

    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("opened by")
    )
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("submitted by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("reviewed by"),
    )
    review_comment = models.TextField(_("reviewer's comment"), blank=True)
    decision_number = models.CharField(_("decision number"), max_length=50, blank=True)
    decision_date = models.DateField(_("decision date"), null=True, blank=True)
    decision_signer = models.CharField(_("signed by"), max_length=120, blank=True)
    decided_at = models.DateTimeField(_("decision recorded"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("decision recorded by"),
    )

    objects = ReviewRoundQuerySet.as_manager()

    class Meta:
        verbose_name = _("review round")
        verbose_name_plural = _("review rounds")
        ordering = ["-year", "-month", "commune"]
        constraints = [
            models.UniqueConstraint(fields=["commune", "year", "kind", "month"], name="round_unique"),
            models.CheckConstraint(
                condition=(Q(kind="periodic") & Q(month=0)) | (Q(kind="regular") & Q(month__gte=1) & Q(month__lte=12)),
                name="round_month_matches_kind",
            ),
            models.CheckConstraint(
                condition=~Q(status="decided") | (~Q(decision_number="") & Q(decision_date__isnull=False)),
                name="round_decided_has_decision",
            ),
        ]
        indexes = [
            # The reviewer's queue: submitted rounds of the communes under one unit.
            models.Index(fields=["status", "commune"], name="round_queue"),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.REGULAR:
            return _("%(commune)s – regular review %(month)02d/%(year)d") % {
                "commune": self.commune.name, "month": self.month, "year": self.year}
        return _("%(commune)s – periodic review %(year)d") % {"commune": self.commune.name, "year": self.year}

    def get_absolute_url(self) -> str:
        return reverse("reviews:round", args=[self.pk])

    @property
    def is_editable(self) -> bool:
        """The commune may change its list and surveys until it submits (and again when returned)."""
        return self.status in (self.Status.OPEN, self.Status.RETURNED)

    @property
    def posting_end(self):
        """The last day of the public posting, counting working days (Monday to Friday)."""
        if self.posting_start is None:
            return None
        day, counted = self.posting_start, 0
        while True:
            if day.weekday() < 5:
                counted += 1
                if counted >= self.posting_days:
                    return day
            day += timedelta(days=1)


class ReviewEvent(models.Model):
    """A step of a round: who did it, when, and why (comments of a return, a decision's number)."""

    class Action(models.TextChoices):
        OPENED = "opened", _("Round opened")
        LISTED = "listed", _("Households added to the list")
        SURVEYED = "surveyed", _("Survey recorded")
        MEETING = "meeting", _("Village meeting recorded")
        POSTED = "posted", _("Public posting recorded")
        COMPLAINT = "complaint", _("Complaint received")
        COMPLAINT_RESOLVED = "complaint_resolved", _("Complaint resolved")
        SUBMITTED = "submitted", _("Submitted for review")
        RETURNED = "returned", _("Returned with comments")
        APPROVED = "approved", _("Approved")
        DECIDED = "decided", _("Decision recorded")

    round = models.ForeignKey(ReviewRound, on_delete=models.CASCADE, related_name="events", verbose_name=_("round"))
    at = models.DateTimeField(_("time"), auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("by"),
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("round event")
        verbose_name_plural = _("round events")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.at:%d/%m/%Y})"


class RequestQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(household__commune__in=communes_for(user))


class Request(models.Model):
    """A household's written request: Mẫu 01 (to be reviewed or added) or Mẫu 04 (to leave the list)."""

    class Kind(models.TextChoices):
        ADD = "add", _("Mẫu 01 – request to be reviewed or added")
        EXIT = "exit", _("Mẫu 04 – request to leave the list")

    class Channel(models.TextChoices):
        IN_PERSON = "in_person", _("In person at the commune")
        VILLAGE_HEAD = "village_head", _("Through the village head")
        POST = "post", _("By post")
        ONLINE = "online", _("Online")

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting")
        IN_ROUND = "in_round", _("In a review round")
        DECIDED = "decided", _("Decided")
        REFUSED = "refused", _("Refused with reasons")

    # A regular-review request ends in a decision or a reasoned refusal within
    # 15 days (Decision 24/2021/QĐ-TTg, Art. 5).
    ANSWER_DAYS = 15

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="review_requests"
    )
    kind = models.CharField(_("request form"), max_length=4, choices=Kind.choices)
    received_on = models.DateField(_("received on"))
    channel = models.CharField(_("received through"), max_length=12, choices=Channel.choices)
    reason = models.TextField(_("reason given"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    round = models.ForeignKey(
        ReviewRound, verbose_name=_("round"), null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    answered_on = models.DateField(_("answered on"), null=True, blank=True)
    answer = models.TextField(_("answer"), blank=True)
    # Who refused it; a request answered by a decision names the decision's round instead.
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("answered by"),
    )
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )

    objects = RequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("request")
        verbose_name_plural = _("requests")
        ordering = ["received_on", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(status="refused") | ~Q(answer=""), name="request_refusal_has_reason"),
        ]
        indexes = [
            # "What is due and what is late": open requests by date received.
            models.Index(fields=["status", "received_on"], name="request_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} – {self.household}"

    @property
    def due_on(self):
        return self.received_on + timedelta(days=self.ANSWER_DAYS)

    @property
    def is_closed(self) -> bool:
        return self.status in (self.Status.DECIDED, self.Status.REFUSED)


class VillageMeeting(models.Model):
    """The village meeting (họp dân) that agrees the survey results of one village."""

    round = models.ForeignKey(ReviewRound, on_delete=models.PROTECT, related_name="meetings", verbose_name=_("round"))
    village = models.ForeignKey(Village, on_delete=models.PROTECT, related_name="+", verbose_name=_("village"))
    held_on = models.DateField(_("held on"))
    attendance = models.PositiveSmallIntegerField(_("attendance"))
    chaired_by = models.CharField(_("chaired by"), max_length=120)
    secretary = models.CharField(_("secretary"), max_length=120, blank=True)
    note = models.TextField(_("note"), blank=True)
    recorded_at = models.DateTimeField(_("recorded"), auto_now=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )

    class Meta:
        verbose_name = _("village meeting")
        verbose_name_plural = _("village meetings")
        ordering = ["round", "village__name"]
        constraints = [
            models.UniqueConstraint(fields=["round", "village"], name="meeting_unique_village"),
            models.CheckConstraint(condition=Q(attendance__gte=1), name="meeting_has_attendance"),
        ]

    def __str__(self) -> str:
        return f"{self.village} – {self.held_on:%d/%m/%Y}"


class SurveyQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(household__commune__in=communes_for(user))


class Survey(models.Model):
    """A household on a round's list, with its Phiếu A, Phiếu B and result.

    One per household per round. The result is stored with the standard's code,
    so a later change of standard never rewrites what was decided.
    """

    class Origin(models.TextChoices):
        CURRENT_LIST = "current", _("On the current poor or near-poor list")
        REQUEST = "request", _("Asked by a request")
        MANUAL = "manual", _("Added by the commune")

    class Status(models.TextChoices):
        PENDING = "pending", _("To survey")
        SCREENED_OUT = "screened_out", _("Stopped at Phiếu A")
        SURVEYED = "surveyed", _("Surveyed")
        RESURVEY = "resurvey", _("To survey again (meeting disagreed)")

    class Demographic(models.TextChoices):
        MOVED_IN = "moved_in", _("Moved in")
        MOVED_OUT = "moved_out", _("Moved out")
        SPLIT = "split", _("Split")
        MERGED = "merged", _("Merged")
        DIED = "died", _("Died (single-person household)")

    round = models.ForeignKey(ReviewRound, on_delete=models.PROTECT, related_name="surveys", verbose_name=_("round"))
    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="surveys",
                                  verbose_name=_("household"))
    origin = models.CharField(_("on the list because"), max_length=8, choices=Origin.choices)
    request = models.ForeignKey(Request, null=True, blank=True, on_delete=models.PROTECT, related_name="surveys",
                                verbose_name=_("request"))
    previous_category = models.CharField(_("classification before"), max_length=10, choices=Category.choices,
                                         default=Category.NONE)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)

    # Phiếu A: {rule number: answer}.
    screening = models.JSONField(_("Phiếu A answers"), default=dict, blank=True)
    # Phiếu B.
    income = models.PositiveIntegerField(_("income per person per month (VND)"), null=True, blank=True)
    score_a = models.PositiveSmallIntegerField(_("score A"), null=True, blank=True)
    is_farm = models.BooleanField(_("works in agriculture, forestry, fishery or salt-making"), default=False)
    deprivations = models.JSONField(_("deprivation answers"), default=dict, blank=True)  # {indicator code: bool}
    demographic_change = models.CharField(_("demographic change"), max_length=10, choices=Demographic.choices,
                                          blank=True)

    # The result, as classified when surveyed.
    category = models.CharField(_("classification"), max_length=10, choices=Category.choices, blank=True)
    deprivation_count = models.PositiveSmallIntegerField(_("deprivations"), null=True, blank=True)
    deprived = models.JSONField(_("deprived on"), default=list, blank=True)  # indicator codes
    # PovertyCause values, asked of a household found poor or near-poor (form 7.10).
    causes = models.JSONField(_("causes of poverty"), default=list, blank=True)
    income_gap = models.IntegerField(_("gap to the income line (VND)"), null=True, blank=True)
    explanation = models.TextField(_("explanation"), blank=True)
    standard_code = models.CharField(_("standard"), max_length=30, blank=True)
    surveyed_at = models.DateTimeField(_("surveyed"), null=True, blank=True)
    surveyed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("surveyed by"),
    )

    # The village meeting.
    meeting = models.ForeignKey(VillageMeeting, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="surveys", verbose_name=_("village meeting"))
    votes_agree = models.PositiveSmallIntegerField(_("attendees agreeing"), null=True, blank=True)

    reviewer_comment = models.TextField(_("reviewer's comment"), blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = SurveyQuerySet.as_manager()

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["round", "household__code"]
        constraints = [
            models.UniqueConstraint(fields=["round", "household"], name="survey_one_per_round"),
            models.CheckConstraint(
                condition=~Q(status="surveyed") | (~Q(category="") & ~Q(standard_code="")),
                name="survey_result_has_standard",
            ),
        ]
        indexes = [
            # A household's survey history (its page, "change from last year").
            models.Index(fields=["household", "round"], name="survey_household"),
        ]

    def __str__(self) -> str:
        return f"{self.household} – {self.round.year}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:survey", args=[self.round_id, self.pk])

    @property
    def has_result(self) -> bool:
        return self.status in (self.Status.SURVEYED, self.Status.SCREENED_OUT)


class Complaint(models.Model):
    """A complaint (khiếu nại) during the public posting, and its re-check (phúc tra)."""

    class Outcome(models.TextChoices):
        UPHELD = "upheld", _("Upheld: the result was changed")
        DISMISSED = "dismissed", _("Dismissed: the result stands")

    round = models.ForeignKey(ReviewRound, on_delete=models.PROTECT, related_name="complaints",
                              verbose_name=_("round"))
    household = models.ForeignKey(Household, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("household concerned"))
    complainant = models.CharField(_("complainant"), max_length=120)
    received_on = models.DateField(_("received on"))
    content = models.TextField(_("content"))
    recheck_on = models.DateField(_("re-checked on"), null=True, blank=True)
    recheck_findings = models.TextField(_("re-check findings"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("resolved by"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        ordering = ["round", "received_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="") | (Q(recheck_on__isnull=False) & ~Q(recheck_findings="")),
                name="complaint_outcome_after_recheck",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.complainant} – {self.received_on:%d/%m/%Y}"

    @property
    def is_open(self) -> bool:
        return not self.outcome


class HouseholdStatusQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(household__commune__in=communes_for(user))


class HouseholdStatus(models.Model):
    """A household's official classification for a year, made by a commune decision (Mẫu 02)."""

    class Movement(models.TextChoices):
        """Form 7.2 of Circular 07/2021 (Appendix VII): each household's one change over the year."""

        UNCHANGED = "unchanged", _("Unchanged")
        ESCAPED_TO_NEAR_POOR = "escaped_near", _("Escaped poverty, now near-poor")
        ESCAPED_ABOVE = "escaped_above", _("Escaped poverty, above near-poor")
        NEAR_POOR_TO_POOR = "near_to_poor", _("Near-poor, now poor")
        RE_POOR = "re_poor", _("Poor again (re-poor)")
        NEWLY_POOR = "newly_poor", _("Newly poor")
        NEWLY_NEAR_POOR = "newly_near", _("Newly near-poor")
        ESCAPED_NEAR_POVERTY = "escaped_np", _("Escaped near-poverty")
        MOVED_IN = "moved_in", _("Moved in")
        MOVED_OUT = "moved_out", _("Moved out")
        SPLIT = "split", _("Split")
        MERGED = "merged", _("Merged")
        DIED = "died", _("Died")

    household = models.ForeignKey(Household, on_delete=models.PROTECT, related_name="statuses",
                                  verbose_name=_("household"))
    year = models.PositiveSmallIntegerField(_("year"))
    category = models.CharField(_("classification"), max_length=10, choices=Category.choices)
    previous_category = models.CharField(_("classification the year before"), max_length=10,
                                         choices=Category.choices)
    movement = models.CharField(_("movement"), max_length=14, choices=Movement.choices)
    round = models.ForeignKey(ReviewRound, on_delete=models.PROTECT, related_name="statuses", verbose_name=_("round"))
    survey = models.ForeignKey(Survey, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("survey"))
    standard_code = models.CharField(_("standard"), max_length=30)
    decided_on = models.DateField(_("decided on"))

    objects = HouseholdStatusQuerySet.as_manager()

    class Meta:
        verbose_name = _("official status")
        verbose_name_plural = _("official statuses")
        ordering = ["household", "-year", "-decided_on", "-id"]
        constraints = [models.UniqueConstraint(fields=["household", "round"], name="status_one_per_round")]
        indexes = [
            # A household's history, newest first (movements, "newly escaped").
            models.Index(fields=["household", "-decided_on"], name="status_household"),
            # Counts per year and category (reports, rollups).
            models.Index(fields=["year", "category"], name="status_year_category"),
        ]

    def __str__(self) -> str:
        return f"{self.household} – {self.year}: {self.get_category_display()}"
