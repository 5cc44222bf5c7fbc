from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class AdminUnitQuerySet(models.QuerySet):
    def communes(self):
        return self.filter(level=AdminUnit.Level.COMMUNE)

    def edition(self, edition: int):
        return self.filter(edition=edition)


class AdminUnit(models.Model):
    """A province, district or commune of one edition of the administrative map.

    Two editions coexist: 2021 (63 provinces, 696 districts, 10,051 communes,
    QĐ 124/2004/QĐ-TTg codes) and 2025 (34 provinces, 3,321 communes, no
    districts, QĐ 19/2025/QĐ-TTg codes). A commune's `parent` is the unit that
    reviews its lists: the district in 2021, the province in 2025.
    """

    class Level(models.TextChoices):
        PROVINCE = "province", _("Province")
        DISTRICT = "district", _("District")
        COMMUNE = "commune", _("Commune")

    class Edition(models.IntegerChoices):
        E2021 = 2021, _("2021 map (63 provinces, with districts)")
        E2025 = 2025, _("2025 map (34 provinces, no districts)")

    edition = models.PositiveSmallIntegerField(_("edition"), choices=Edition.choices)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    code = models.CharField(_("official code"), max_length=5)
    name = models.CharField(_("name"), max_length=120)
    # The kind as written in the name: "Xã", "Phường", "Thị trấn", "Huyện", "Quận", "Tỉnh"…
    kind = models.CharField(_("kind"), max_length=40, blank=True)
    is_urban = models.BooleanField(
        _("urban"), default=False, help_text=_("Phường and thị trấn are urban; xã are rural.")
    )
    parent = models.ForeignKey(
        "self", verbose_name=_("parent unit"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="children",
    )
    # Denormalised so that scoping a province is one indexed filter, not a join chain.
    province = models.ForeignKey(
        "self", verbose_name=_("province"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )

    objects = AdminUnitQuerySet.as_manager()

    class Meta:
        verbose_name = _("administrative unit")
        verbose_name_plural = _("administrative units")
        ordering = ["edition", "level", "code"]
        constraints = [
            models.UniqueConstraint(fields=["edition", "level", "code"], name="adminunit_unique_code"),
        ]
        indexes = [
            # Scoping: the communes under a reviewer's unit or a province.
            models.Index(fields=["parent", "level"], name="adminunit_parent_level"),
            models.Index(fields=["province", "level"], name="adminunit_province_level"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        """A commune's household list; the figures of a unit above."""
        if self.level == self.Level.COMMUNE:
            return reverse("households:list") + f"?commune={self.pk}"
        from django.utils import timezone

        return reverse("reports:dashboard", kwargs={"unit": self.pk, "year": timezone.localdate().year})

    @property
    def label(self) -> str:
        """The name with its parent, for pickers where names repeat."""
        if self.parent_id and self.level != self.Level.PROVINCE:
            return f"{self.name}, {self.parent.name}"
        return self.name


class CommuneSuccessor(models.Model):
    """A 2021-map commune and one 2025-map commune that took over (part of) its area.

    A commune merged whole has one successor; a divided commune has several, one
    of them the default (where its households go unless someone says otherwise).
    Derived data (geo/data/commune_successors.csv), loaded with the units.
    """

    old = models.ForeignKey(
        AdminUnit, verbose_name=_("2021 commune"), on_delete=models.PROTECT, related_name="successor_links",
        limit_choices_to={"edition": AdminUnit.Edition.E2021, "level": AdminUnit.Level.COMMUNE},
    )
    new = models.ForeignKey(
        AdminUnit, verbose_name=_("2025 commune"), on_delete=models.PROTECT, related_name="predecessor_links",
        limit_choices_to={"edition": AdminUnit.Edition.E2025, "level": AdminUnit.Level.COMMUNE},
    )
    is_default = models.BooleanField(
        _("default successor"), default=False,
        help_text=_("Where the commune's households go unless someone places them elsewhere."),
    )

    class Meta:
        verbose_name = _("commune successor")
        verbose_name_plural = _("commune successors")
        ordering = ["old__code", "-is_default", "new__code"]
        constraints = [
            models.UniqueConstraint(fields=["old", "new"], name="communesuccessor_unique_pair"),
            models.UniqueConstraint(
                fields=["old"], condition=models.Q(is_default=True), name="communesuccessor_one_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.old} → {self.new}"
