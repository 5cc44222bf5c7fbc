from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.scoping import communes_for
from geo.models import AdminUnit

from .validators import mask_personal_id


class ArchiveInsteadOfDelete(Exception):
    """Raised on any attempt to hard-delete registry records: they are archived."""


class NoDeleteQuerySet(models.QuerySet):
    def delete(self):
        raise ArchiveInsteadOfDelete(f"{self.model.__name__} records are archived, never deleted.")

    def active(self):
        return self.filter(is_archived=False)


class ArchivableModel(models.Model):
    """A record that is archived with a reason, never deleted, so its history stays whole."""

    is_archived = models.BooleanField(_("archived"), default=False)
    archived_reason = models.TextField(_("reason for archiving"), blank=True)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("archived by"),
    )

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(is_archived=False) | ~Q(archived_reason=""),
                name="%(app_label)s_%(class)s_archive_has_reason",
            ),
        ]

    def delete(self, *args, **kwargs):
        raise ArchiveInsteadOfDelete(f"{type(self).__name__} records are archived, never deleted.")


class Ethnicity(models.Model):
    """One of Vietnam's 54 ethnic groups.

    Two code lists exist and order the groups differently: the statistics
    office's current list (`code`) and the 1979 list of Decision
    121-TCTK/PPCĐ (`code_1979`). We store both, and the name.
    """

    name = models.CharField(_("name"), max_length=60, unique=True)
    code = models.CharField(_("code (statistics office list)"), max_length=2, unique=True)
    code_1979 = models.CharField(_("code (1979 list)"), max_length=2, blank=True)
    # Other spellings accepted on input, folded ("hmong, h'mong, meo").
    aliases = models.TextField(_("other spellings"), blank=True)
    is_minority = models.BooleanField(_("ethnic minority"), default=True)

    class Meta:
        verbose_name = _("ethnic group")
        verbose_name_plural = _("ethnic groups")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class VillageQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(commune__in=communes_for(user))


class Village(models.Model):
    """A village or residential group (thôn, bản, tổ dân phố). No national code."""

    commune = models.ForeignKey(
        AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="villages",
        limit_choices_to={"level": AdminUnit.Level.COMMUNE},
    )
    name = models.CharField(_("name"), max_length=120)
    search_name = models.CharField(max_length=120, editable=False, db_index=True)
    is_archived = models.BooleanField(_("archived"), default=False)

    objects = VillageQuerySet.as_manager()

    class Meta:
        verbose_name = _("village")
        verbose_name_plural = _("villages")
        ordering = ["commune", "name"]
        constraints = [
            # Two villages of one commune may not share a name once accents are ignored
            # ("Tả Thàng" and "Ta Thang" are the same village typed twice).
            models.UniqueConstraint(fields=["commune", "search_name"], name="village_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class HouseholdQuerySet(NoDeleteQuerySet):
    def for_user(self, user):
        """Households inside the user's area: the one scoping path."""
        return self.filter(commune__in=communes_for(user))


class Household(ArchivableModel):
    class Area(models.TextChoices):
        RURAL = "rural", _("Rural")
        URBAN = "urban", _("Urban")

    class Classification(models.TextChoices):
        POOR = "poor", _("Poor household")
        NEAR_POOR = "near_poor", _("Near-poor household")
        MIDDLE = "middle", _("Middle living standard")
        NONE = "none", _("Not classified")

    # No index of its own: the list, classification and unique-code indexes all begin with the commune.
    commune = models.ForeignKey(
        AdminUnit, verbose_name=_("commune"), on_delete=models.PROTECT, related_name="households",
        limit_choices_to={"level": AdminUnit.Level.COMMUNE}, db_index=False,
    )
    village = models.ForeignKey(
        Village, verbose_name=_("village"), on_delete=models.PROTECT, related_name="households"
    )
    code = models.CharField(
        _("household code"), max_length=20, help_text=_("Unique within the commune.")
    )
    head_name = models.CharField(_("household head"), max_length=120)
    area = models.CharField(_("area"), max_length=5, choices=Area.choices)
    is_farm = models.BooleanField(_("works in agriculture, forestry, fishery or salt-making"), default=False)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    has_meritorious_member = models.BooleanField(_("meritorious-service family"), default=False)
    is_social_protection = models.BooleanField(_("social-protection beneficiary"), default=False)
    classification = models.CharField(
        _("classification"), max_length=10, choices=Classification.choices,
        default=Classification.NONE,
    )
    classification_year = models.PositiveSmallIntegerField(_("year classified"), null=True, blank=True)
    # Kept by the services from the members, for filters and reports.
    is_ethnic_minority = models.BooleanField(_("ethnic-minority household"), default=False, editable=False)
    member_count = models.PositiveSmallIntegerField(_("members"), default=0, editable=False)
    # Folded code, head's and members' names and phone, for accent-insensitive search.
    search_text = models.TextField(editable=False, default="")

    # Optimistic locking: a save that started from an older version is refused.
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("created by"),
    )
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("changed by"),
    )

    objects = HouseholdQuerySet.as_manager()

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["commune", "code"]
        constraints = [
            *ArchivableModel.Meta.constraints,
            # The natural key of the exchange format: (Mã xã, Mã hộ).
            models.UniqueConstraint(fields=["commune", "code"], name="household_unique_code"),
            models.CheckConstraint(
                condition=Q(classification="none") | Q(classification_year__isnull=False),
                name="household_classification_has_year",
            ),
        ]
        indexes = [
            # The household list: one commune (or a few), active first, by code.
            models.Index(fields=["commune", "is_archived", "code"], name="household_list"),
            # The list filtered by classification within an area.
            models.Index(fields=["commune", "classification"], name="household_classification"),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.head_name}"

    def get_absolute_url(self) -> str:
        return reverse("households:detail", args=[self.pk])


class MemberQuerySet(NoDeleteQuerySet):
    def for_user(self, user):
        return self.filter(household__commune__in=communes_for(user))


class Member(ArchivableModel):
    class Sex(models.TextChoices):
        MALE = "male", _("Male")
        FEMALE = "female", _("Female")

    class Relation(models.TextChoices):
        HEAD = "head", _("Head of household")
        SPOUSE = "spouse", _("Wife/Husband")
        CHILD = "child", _("Child")
        PARENT = "parent", _("Father/Mother")
        GRANDPARENT = "grandparent", _("Grandparent")
        GRANDCHILD = "grandchild", _("Grandchild")
        SIBLING = "sibling", _("Sibling")
        OTHER = "other", _("Other")

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="members"
    )
    full_name = models.CharField(_("full name"), max_length=120)
    # Searched by its parts (trigram index, migration 0002), never by equality or prefix:
    # no B-tree index, which every new member would pay for.
    search_name = models.CharField(max_length=120, editable=False)
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("year of birth"))
    personal_id = models.CharField(
        _("personal ID"), max_length=12, blank=True,
        help_text=_("12-digit personal identification number; an old 9-digit ID is accepted."),
    )
    personal_id_is_legacy = models.BooleanField(_("old 9-digit ID"), default=False, editable=False)
    ethnicity = models.ForeignKey(
        Ethnicity, verbose_name=_("ethnic group"), on_delete=models.PROTECT, related_name="+"
    )
    relation = models.CharField(_("relation to head"), max_length=12, choices=Relation.choices)
    has_health_insurance = models.BooleanField(_("has a health-insurance card"), default=False)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["household", "is_archived", "birth_year", "id"]
        constraints = [
            *ArchivableModel.Meta.constraints,
            # At most one current head per household; the services require exactly one.
            models.UniqueConstraint(
                fields=["household"], condition=Q(relation="head", is_archived=False),
                name="member_one_head",
            ),
            # A person is a current member of one household only.
            models.UniqueConstraint(
                fields=["personal_id"], condition=~Q(personal_id="") & Q(is_archived=False),
                name="member_unique_personal_id",
            ),
            models.CheckConstraint(
                condition=Q(birth_year__gte=1900) & Q(birth_year__lte=2100), name="member_birth_year_range"
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    def get_absolute_url(self) -> str:
        return f"{self.household.get_absolute_url()}#member-{self.pk}"

    @property
    def masked_personal_id(self) -> str:
        return mask_personal_id(self.personal_id)


class CommuneSummary(models.Model):
    """Headline counts of one commune, recomputed by a task after every change.

    Pages read these few rows instead of counting households on every request.
    """

    commune = models.OneToOneField(
        AdminUnit, on_delete=models.CASCADE, related_name="summary", verbose_name=_("commune"),
        limit_choices_to={"level": AdminUnit.Level.COMMUNE},
    )
    households = models.PositiveIntegerField(_("households"), default=0)
    members = models.PositiveIntegerField(_("persons"), default=0)
    poor = models.PositiveIntegerField(_("poor households"), default=0)
    near_poor = models.PositiveIntegerField(_("near-poor households"), default=0)
    middle = models.PositiveIntegerField(_("middle-living households"), default=0)
    ethnic_minority = models.PositiveIntegerField(_("ethnic-minority households"), default=0)
    archived = models.PositiveIntegerField(_("archived households"), default=0)
    computed_at = models.DateTimeField(_("as of"), auto_now=True)

    class Meta:
        verbose_name = _("commune summary")
        verbose_name_plural = _("commune summaries")

    def __str__(self) -> str:
        return str(self.commune)
