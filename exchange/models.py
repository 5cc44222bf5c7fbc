from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.permissions import Action, can
from core.scoping import communes_for


class ImportBatchQuerySet(models.QuerySet):
    def for_user(self, user):
        """A user sees an import they made while it stays inside their area; a superuser sees all.

        The file and its problems hold the households of the communes it touched
        (recorded by the check), so an officer moved to another commune, or whose
        role changed, loses them: every commune of the batch must still be in the
        user's area, and a batch that touched none is seen only while the user may
        still import.
        """
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        outside = ImportBatch.communes.through.objects.filter(importbatch_id=OuterRef("pk")).exclude(
            adminunit_id__in=communes_for(user).values("pk"))
        mine = self.filter(created_by=user).exclude(Exists(outside))
        if not can(user, Action.IMPORT_HOUSEHOLDS):
            mine = mine.filter(Exists(ImportBatch.communes.through.objects.filter(importbatch_id=OuterRef("pk"))))
        return mine


class ImportBatch(models.Model):
    """One uploaded file: who, when, which file, what it would do and what it did."""

    class Status(models.TextChoices):
        VALIDATING = "validating", _("Checking")
        VALIDATED = "validated", _("Checked, waiting for confirmation")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Imported")
        REJECTED = "rejected", _("Rejected, nothing written")
        FAILED = "failed", _("Failed, nothing written")
        CANCELLED = "cancelled", _("Cancelled")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("by"))
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    file_name = models.CharField(_("file name"), max_length=255)
    # Several files uploaded together (a CSV per sheet) are kept in one zip.
    is_bundle = models.BooleanField(_("several files"), default=False)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.VALIDATING)
    valid_rows_only = models.BooleanField(_("import the valid rows only"), default=False)
    sheets = models.JSONField(_("sheets found"), default=list, blank=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    error = models.TextField(_("error"), blank=True)
    # Large files: a digest of what the register told the checks across rows (see
    # exchange.bulk); the import repeats those checks only when it has changed.
    register_fingerprint = models.CharField(max_length=32, blank=True, editable=False)
    # What the import changes in records already in the register: per updated row,
    # {"sheet", "row", "code", "name", "changes": [[column, before, after], ...]}.
    changes = models.JSONField(_("changes"), default=list, blank=True, editable=False)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # When the check last finished: a batch that failed after it can be confirmed again.
    checked_at = models.DateTimeField(_("checked"), null=True, blank=True)
    # The last sign of life of a check or an import (each step and each progress report
    # moves it): a batch waiting or running without one for too long was left by a
    # worker that died, and is marked failed (services.reclaim_stale).
    heartbeat_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    # The communes whose rows the file holds (inside the uploader's area when checked):
    # the batch, its problems and its files are seen only while they all stay in the area.
    communes = models.ManyToManyField("geo.AdminUnit", blank=True, related_name="+", verbose_name=_("communes"))
    # The stored file was removed after the retention period (settings.UPLOAD_RETENTION_DAYS);
    # the record and its problems stay.
    file_removed_at = models.DateTimeField(_("file removed"), null=True, blank=True)

    objects = ImportBatchQuerySet.as_manager()

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%d/%m/%Y %H:%M})"

    def get_absolute_url(self) -> str:
        return reverse("exchange:batch", args=[self.pk])

    @property
    def reference(self) -> str:
        """How audit events point at this batch."""
        return f"import:{self.pk}"

    @property
    def progress_percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0

    @property
    def file_kept(self) -> bool:
        return bool(self.file) and self.file_removed_at is None


class ImportIssue(models.Model):
    """One problem found in one cell (or row) of an uploaded file."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="issues")
    sheet = models.CharField(_("sheet"), max_length=100)
    row = models.PositiveIntegerField(_("row"))
    column = models.CharField(_("column"), max_length=100, blank=True)
    value = models.CharField(_("value"), max_length=255, blank=True)
    message = models.TextField(_("message"))

    class Meta:
        verbose_name = _("import problem")
        verbose_name_plural = _("import problems")
        ordering = ["batch", "sheet", "row", "id"]

    def __str__(self) -> str:
        return f"{self.sheet} {self.row}: {self.message}"


class StagedRow(models.Model):
    """A row of a large file, checked on its own and parked in the database.

    Large files are streamed into this table once (COPY on PostgreSQL): every
    row is parsed and checked on its own as it passes, and stored with its
    parsed values and its problems. The checks that span rows (a household
    twice, members without their household, heads, personal IDs) then run as a
    few set-wise queries over the batch, and the write loads new households in
    bulk, a few thousand at a time in household order, so memory stays bounded
    whatever the file's size and order of rows.
    """

    # No index of its own: the walk index below begins with the batch.
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=12)
    # Which table of the file (0, 1, …): a yes/no column is read per table (see importer.YES_NO_COLUMNS).
    part = models.PositiveSmallIntegerField(default=0)
    row = models.PositiveIntegerField()
    # "<commune code>|<household code>": rows of one household sort together.
    sort_key = models.CharField(max_length=40)
    # A member's personal ID as written, for the one check that spans households.
    personal_id = models.CharField(max_length=40, blank=True)
    # Problems of the row's own cells, as JSON [[column, value, message], ...]; "" when none.
    issues = models.TextField(blank=True, default="")
    # The problem a check spanning rows found (at most one a row); "" when none.
    problem = models.TextField(blank=True, default="")
    problem_column = models.CharField(max_length=100, blank=True, default="")
    problem_value = models.CharField(max_length=255, blank=True, default="")
    # The household is in the register already: its rows go through the ordinary planner.
    existing = models.BooleanField(default=False)
    # Parsed values (set when `issues` is empty).
    commune_id = models.IntegerField(null=True)
    code = models.TextField(blank=True, default="")
    name = models.TextField(blank=True, default="")  # the head's name, or the member's
    name_key = models.TextField(blank=True, default="")  # folded
    # A household's folded code and phone: the start of its search text.
    search_key = models.TextField(blank=True, default="")
    village = models.TextField(blank=True, default="")
    village_key = models.TextField(blank=True, default="")
    area = models.CharField(max_length=5, blank=True, default="")
    is_farm = models.BooleanField(null=True)
    # NULL: the row states nothing (no column, an empty cell); "": the row clears it.
    phone = models.CharField(max_length=40, null=True, blank=True, default="")
    merit = models.BooleanField(null=True)
    social = models.BooleanField(null=True)
    classification = models.CharField(max_length=10, blank=True, default="")
    classification_year = models.SmallIntegerField(null=True)
    sex = models.CharField(max_length=6, blank=True, default="")
    birth_date = models.DateField(null=True)
    birth_year = models.SmallIntegerField(null=True)
    pid = models.CharField(max_length=12, null=True, blank=True, default="")  # NULL, "" as the phone
    pid_legacy = models.BooleanField(null=True)
    masked_id = models.CharField(max_length=40, blank=True, default="")
    ethnicity_id = models.IntegerField(null=True)
    relation = models.CharField(max_length=12, blank=True, default="")
    insured = models.BooleanField(null=True)

    class Meta:
        indexes = [
            # Walking a batch household by household.
            models.Index(fields=["batch", "sort_key"], name="stagedrow_walk"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.row}"
