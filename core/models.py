from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from geo.models import AdminUnit


class User(AbstractUser):
    """A person who signs in. Every non-superuser has one role bound to one unit."""

    class Role(models.TextChoices):
        COMMUNE_OFFICER = "commune_officer", _("Commune officer")
        REVIEWER = "reviewer", _("Reviewer (unit above the commune)")
        PROVINCE_ADMIN = "province_admin", _("Province administrator")

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    unit = models.ForeignKey(
        AdminUnit, verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="users",
        help_text=_("Commune for a commune officer; the unit above the commune for a reviewer; "
                    "the province for a province administrator."),
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def clean(self) -> None:
        super().clean()
        if self.is_superuser:
            return
        if self.role and not self.unit_id:
            raise ValidationError({"unit": _("A user with a role must be bound to a unit.")})
        if not self.role or not self.unit_id:
            return
        unit = self.unit
        if self.role == self.Role.COMMUNE_OFFICER and unit.level != AdminUnit.Level.COMMUNE:
            raise ValidationError({"unit": _("A commune officer must be bound to a commune.")})
        if self.role == self.Role.PROVINCE_ADMIN and unit.level != AdminUnit.Level.PROVINCE:
            raise ValidationError({"unit": _("A province administrator must be bound to a province.")})
        if self.role == self.Role.REVIEWER and not unit.children.filter(
            level=AdminUnit.Level.COMMUNE
        ).exists():
            raise ValidationError(
                {"unit": _("A reviewer must be bound to the unit directly above communes "
                           "(a district in the 2021 map, a province in the 2025 map).")}
            )

    def get_full_name(self) -> str:
        # Vietnamese order: family and middle names, then the given name ("Nguyễn Thị Lan").
        return f"{self.last_name} {self.first_name}".strip()

    # Templates ask these; the answer comes from core.permissions.
    @property
    def can_edit_households(self) -> bool:
        from .permissions import Action, can

        return can(self, Action.EDIT_HOUSEHOLDS)

    @property
    def sees_full_personal_ids(self) -> bool:
        """Only the people who keep the register need whole personal IDs."""
        from .permissions import Action, can

        return can(self, Action.SEE_FULL_PERSONAL_IDS)


class AuditEvent(models.Model):
    """One attributable change to a record: who, when, through what, before and after."""

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        ARCHIVE = "archive", _("Archived")
        RESTORE = "restore", _("Restored")

    class Source(models.TextChoices):
        FORM = "form", _("Form")
        ADMIN = "admin", _("Admin")
        IMPORT = "import", _("Import")
        BULK = "bulk", _("Bulk operation")
        COMMAND = "command", _("Command")
        DEMO = "demo", _("Demo data")
        REVIEW = "review", _("Review decision")

    # The trail refers to users, content types and households without database
    # constraints: it is written only by this code, after the records it describes,
    # and nothing is ever deleted (PROTECT still stops a deletion through the ORM).
    # A constraint would cost every event three checks at commit: a third of a
    # province-sized import's commit.
    at = models.DateTimeField(_("time"), auto_now_add=True)
    actor = models.ForeignKey(
        User, verbose_name=_("by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        db_constraint=False,
    )
    source = models.CharField(_("through"), max_length=10, choices=Source.choices)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    object_id = models.BigIntegerField()
    object_repr = models.CharField(_("record"), max_length=200)
    # The household a change belongs to, so its page can show one history for
    # the household and its members.
    household = models.ForeignKey(
        "households.Household", null=True, blank=True, on_delete=models.PROTECT,
        related_name="audit_events", db_constraint=False,
    )
    changes = models.JSONField(_("changes"), default=dict, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    batch = models.CharField(_("batch"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [
            # The history panel on a household page.
            models.Index(fields=["household", "-at"], name="audit_household_at"),
            # The history of one record (admin history, member history).
            models.Index(fields=["content_type", "object_id"], name="audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.object_repr}"


class PersonalDataAccessQuerySet(models.QuerySet):
    def for_user(self, user):
        """The log entries a user may read: a superuser all; a province administrator the reads
        of data in their province; a reviewer those in their unit and its communes; a commune
        officer their own reads only."""
        from .scoping import units_for

        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        role = getattr(user, "role", "")
        if role == User.Role.COMMUNE_OFFICER:
            return self.filter(user=user)
        if role in (User.Role.REVIEWER, User.Role.PROVINCE_ADMIN):
            return self.filter(unit__in=units_for(user))
        return self.none()


class PersonalDataAccess(models.Model):
    """One read of personal data: who, when, what and how many.

    Decree 13/2023/NĐ-CP on the protection of personal data asks a controller to
    be able to show who processed personal data; ethnicity and health are
    sensitive data there. One row per request (never per person read), written
    by `core.access_log.record` from the pages that show whole personal IDs and
    from every export and download.
    """

    class Kind(models.TextChoices):
        HOUSEHOLD_PAGE = "household_page", _("Household page with whole personal IDs")
        HOUSEHOLD_FORM = "household_form", _("Household form with whole personal IDs")
        ADMIN_HOUSEHOLD = "admin_household", _("Household in the admin with whole personal IDs")
        ADMIN_MEMBERS = "admin_members", _("Members in the admin with whole personal IDs")
        ADMIN_AUDIT = "admin_audit", _("Audit event with whole personal IDs")
        ID_SEARCH = "id_search", _("Search by personal ID in the admin")
        EXPORT_HOUSEHOLDS = "export_households", _("Export of households")
        EXPORT_MEMBERS = "export_members", _("Export of members")
        EXPORT_SURVEYS = "export_surveys", _("Export of surveys")
        EXPORT_LISTS = "export_lists", _("Export of the official lists")
        ADMIN_EXPORT = "admin_export", _("Export from the admin")
        IMPORT_FILE = "import_file", _("Download of an uploaded import file")
        REJECTED_ROWS = "rejected_rows", _("Download of an import's rejected rows")
        REPORT_TABLE = "report_table", _("Download of a report table")
        REPORT_PACK = "report_pack", _("Download of a report pack")
        ELIGIBLE_LIST = "eligible_list", _("Export of a program's eligible households")
        SUPPORT_REPORT = "support_report", _("Download of a support report")

    at = models.DateTimeField(_("time"), auto_now_add=True)
    # No database constraints, as on the audit trail: written after the records it
    # names, never deleted; PROTECT still refuses a deletion through the ORM.
    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.PROTECT, related_name="+",
                             db_constraint=False)
    kind = models.CharField(_("what"), max_length=20, choices=Kind.choices)
    # The unit whose data was read: the household's commune, the commune or unit an
    # export covered, or else the reader's own unit (their whole area).
    unit = models.ForeignKey(AdminUnit, verbose_name=_("unit"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="+", db_constraint=False)
    household = models.ForeignKey(
        "households.Household", verbose_name=_("household"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_constraint=False,
    )
    count = models.PositiveIntegerField(_("persons or rows"), null=True, blank=True)
    whole_ids = models.BooleanField(_("whole personal IDs"), default=False)
    detail = models.CharField(_("detail"), max_length=200, blank=True)
    path = models.CharField(_("address"), max_length=500, blank=True)

    objects = PersonalDataAccessQuerySet.as_manager()

    class Meta:
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data accesses")
        ordering = ["-at", "-id"]
        indexes = [
            # The scoped log in the admin: a reviewer's or a province's units, newest first.
            models.Index(fields=["unit", "-at"], name="pdaccess_unit_at"),
            # One user's reads (an officer's own log; "who read what" for a user).
            models.Index(fields=["user", "-at"], name="pdaccess_user_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.user}"
class SubmissionKey(models.Model):
    """A form's one-time key, kept once the post it came with created its record.

    A form carries a fresh key each time it is shown; a second post of the same
    page (a double click, the browser's "resend") finds the key used and is sent
    to the record the first post made instead of making another (core.submissions).
    """

    key = models.UUIDField(_("key"))
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    object_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("form submission")
        verbose_name_plural = _("form submissions")
        constraints = [
            # The race of a double click: the second insert of a key waits for the first and fails.
            models.UniqueConstraint(fields=["user", "key"], name="submission_key_once_per_user"),
        ]

    def __str__(self) -> str:
        return str(self.key)

    @property
    def record(self) -> models.Model | None:
        if self.content_type_id is None or self.object_id is None:
            return None
        return self.content_type.model_class()._default_manager.filter(pk=self.object_id).first()
