"""Import batches: upload, check, confirm, import, in that order.

A batch records who uploaded which file (name, size, SHA-256), what the check
found, and what the import did. Live progress goes to the cache (the import
itself runs in one transaction, whose own writes other connections cannot see
until it commits); the counts are saved on the batch when each step ends.
"""

import hashlib
import logging
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.db.models import Q, Value
from django.db.models.functions import Left, StrIndex
from django.utils import timezone
from django.utils.translation import gettext as _

from core.permissions import Action, can, require
from core.scoping import communes_for

from . import bulk, importer
from .models import ImportBatch, ImportIssue, StagedRow
from .reader import ReadError, read_tables

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
STORED_ISSUES = 20_000  # enough to fix a file; the count is always exact


ACTIVE = (ImportBatch.Status.VALIDATING, ImportBatch.Status.QUEUED, ImportBatch.Status.RUNNING)


def can_import(user) -> bool:
    """Households and members come in by file only from those who keep the register (core.permissions)."""
    return can(user, Action.IMPORT_HOUSEHOLDS)


def _progress_key(batch_id: int) -> str:
    return f"import-progress:{batch_id}"


def progress(batch: ImportBatch) -> dict:
    """What a page shows while a batch runs."""
    live = cache.get(_progress_key(batch.pk)) or {}
    return {
        "status": batch.status,
        "status_label": batch.get_status_display(),
        "done": live.get("done", batch.processed_rows),
        "total": live.get("total", batch.total_rows),
        "phase": live.get("phase", ""),
        "finished": batch.status not in ACTIVE,
    }


def _reporter(batch: ImportBatch, phase: str):
    def report(done: int, total: int) -> None:
        # The import writes in one transaction, so its sign of life goes to the cache, which
        # other processes see at once; `at` is what the stale-run reclaim reads.
        cache.set(_progress_key(batch.pk), {"done": done, "total": total, "phase": phase,
                                            "at": timezone.now().timestamp()}, timeout=6 * 3600)

    return report


def _hash_and_size(upload: BinaryIO, digest) -> int:
    size = 0
    upload.seek(0)
    for chunk in iter(lambda: upload.read(1024 * 1024), b""):
        digest.update(chunk)
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            raise ValidationError({"file": _("The file is larger than %(mb)d MB.") % {"mb": MAX_UPLOAD_BYTES // 2**20}})
    upload.seek(0)
    return size


def create_batch(*, user, upload: BinaryIO, file_name: str, valid_rows_only: bool = False) -> ImportBatch:
    """Store an uploaded file as a new batch, ready to be checked."""
    return create_bundle(user=user, files=[(file_name, upload)], valid_rows_only=valid_rows_only)


def create_bundle(*, user, files: list[tuple[str, BinaryIO]], valid_rows_only: bool = False) -> ImportBatch:
    """Store one or several uploaded files (say, a CSV per sheet) as one batch."""
    require(user, Action.IMPORT_HOUSEHOLDS)
    if not files:
        raise ValidationError({"file": _("Choose a file.")})
    digest = hashlib.sha256()
    size = sum(_hash_and_size(handle, digest) for _name, handle in files)
    if size == 0:
        raise ValidationError({"file": _("The file is empty.")})
    if size > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": _("The files are larger than %(mb)d MB.") % {"mb": MAX_UPLOAD_BYTES // 2**20}})
    names = [name for name, _handle in files]
    batch = ImportBatch(created_by=user, file_name=" + ".join(names)[:255], sha256=digest.hexdigest(), size=size,
                        valid_rows_only=valid_rows_only, is_bundle=len(files) > 1, heartbeat_at=timezone.now())
    if batch.is_bundle:
        with tempfile.TemporaryFile() as bundle:
            # Stored, not compressed: the parts are read back at once and are already counted in size.
            with zipfile.ZipFile(bundle, "w", zipfile.ZIP_STORED) as archive:
                for index, (name, handle) in enumerate(files):
                    with archive.open(f"{index:02d}-{name}", "w") as part:
                        for chunk in iter(lambda handle=handle: handle.read(1024 * 1024), b""):
                            part.write(chunk)
            bundle.seek(0)
            batch.file.save("files.zip", File(bundle, name="files.zip"), save=False)
    else:
        name, handle = files[0]
        batch.file.save(name, File(handle, name=name), save=False)
    batch.save()
    return batch


class FileRemoved(ReadError):
    """The batch's file was removed after the retention period."""


def removed_message() -> str:
    return _("The file of this import is no longer kept (files are removed %(days)d days after upload); "
             "upload it again.") % {"days": settings.UPLOAD_RETENTION_DAYS}


@contextmanager
def batch_tables(batch: ImportBatch) -> Iterator[list]:
    """The tables of a batch's file or files, readable until the block ends."""
    if not batch.file_kept:
        raise FileRemoved(removed_message())
    with ExitStack() as stack:
        handle = stack.enter_context(batch.file.open("rb"))
        if not batch.is_bundle:
            yield read_tables(handle, batch.file_name)
            return
        archive = stack.enter_context(zipfile.ZipFile(handle))
        tables = []
        for info in archive.infolist():
            part = stack.enter_context(archive.open(info))
            tables.extend(read_tables(part, info.filename.split("-", 1)[-1]))
        yield tables


def _save_issues(batch: ImportBatch, issues: list[importer.Issue]) -> None:
    batch.issues.all().delete()
    ImportIssue.objects.bulk_create(
        [ImportIssue(batch=batch, sheet=i.sheet, row=i.row, column=i.column, value=i.value, message=i.message)
         for i in issues[:STORED_ISSUES]],
        batch_size=2000,
    )


def _describe(batch: ImportBatch, tables: list) -> list:
    batch.sheets = [{"name": t.name, "kind": t.kind, "unknown_columns": list(t.unknown_columns)} for t in tables]
    return tables


def _record(batch: ImportBatch, issues: list[importer.Issue], counts: dict[str, int], rows: int) -> None:
    _save_issues(batch, issues)
    batch.total_rows = batch.processed_rows = rows
    batch.created, batch.updated = counts.get("created", 0), counts.get("updated", 0)
    batch.unchanged, batch.rejected = counts.get("unchanged", 0), counts.get("rejected", 0)


def _stale_before(now=None):
    return (now or timezone.now()) - timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def _last_sign_of_life(batch: ImportBatch):
    last = batch.heartbeat_at or batch.started_at or batch.created_at
    seen = (cache.get(_progress_key(batch.pk)) or {}).get("at")
    if seen:
        last = max(last, datetime.fromtimestamp(seen, tz=UTC))
    return last


def is_stale(batch: ImportBatch, now=None) -> bool:
    """A check or an import waiting or running with no sign of life for IMPORT_STALE_SECONDS."""
    return batch.status in ACTIVE and _last_sign_of_life(batch) < _stale_before(now)


def _stale_reason(status: str) -> str:
    if status == ImportBatch.Status.VALIDATING:
        return _("The check stopped before it finished (the background worker ended); nothing was written. "
                 "Check the file again.")
    if status == ImportBatch.Status.QUEUED:
        return _("The import waited too long for the background worker and was stopped; nothing was written. "
                 "Run it again.")
    return _("The import stopped before it finished (the background worker ended); nothing was written. "
             "Run it again.")


def _fail(batch: ImportBatch, reason: str) -> None:
    """Mark a locked batch failed with its reason (the caller holds the row lock)."""
    batch.status, batch.error, batch.finished_at = ImportBatch.Status.FAILED, reason, timezone.now()
    batch.save(update_fields=["status", "error", "finished_at"])
    cache.delete(_progress_key(batch.pk))


def reclaim_stale(batch_id: int) -> bool:
    """Mark a stale check or import failed; True when it was. Safe to run at any time, twice, or at once."""
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or not is_stale(batch):
            return False
        left = batch.status
        _fail(batch, _stale_reason(left))
    logger.warning("Import %s was left %s with no sign of life; marked failed", batch_id, left)
    return True


def reclaim_stale_batches() -> int:
    """Every stale check or import marked failed (the beat task); returns how many."""
    cutoff = _stale_before()
    candidates = ImportBatch.objects.filter(status__in=ACTIVE).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
    return sum(reclaim_stale(pk) for pk in candidates.values_list("pk", flat=True))


def refreshed(batch: ImportBatch) -> ImportBatch:
    """The batch as a page should show it: a stale run is marked failed first."""
    if is_stale(batch) and reclaim_stale(batch.pk):
        batch.refresh_from_db()
    return batch


def _send(task, batch_id: int) -> None:
    """Hand a batch to its task; a broker that cannot be reached fails the batch with a message, never a 500."""
    try:
        task.delay(batch_id)
    except Exception:
        logger.exception("Could not queue %s for import %s", task.name, batch_id)
        with transaction.atomic():
            batch = ImportBatch.objects.select_for_update().filter(pk=batch_id, status__in=ACTIVE).first()
            if batch is not None:
                _fail(batch, _("The background worker could not be reached; nothing was written. "
                               "Try again in a moment."))


def queue_check(batch: ImportBatch) -> None:
    """Check the batch in the background once the current transaction commits."""
    from .tasks import check_import

    transaction.on_commit(lambda: _send(check_import, batch.pk))


def _touched_communes(batch: ImportBatch, tables: list) -> list[int]:
    """The communes of the user's area (when checked) whose codes the file's rows name."""
    if bulk.is_large(batch):
        # Parked rows sort by "<commune code>|<household code>"; "~" stands for a bad code.
        prefixes = (StagedRow.objects.filter(batch=batch)
                    .annotate(commune_code=Left("sort_key", StrIndex("sort_key", Value("|")) - 1))
                    .values_list("commune_code", flat=True).distinct())
        codes = {code for code in prefixes if code and code != "~"}
    else:
        codes = set()
        for table in tables:
            for row in table.rows():
                raw = row.values.get("ma_xa")
                if raw in (None, ""):
                    continue
                try:
                    codes.add(importer._commune_code(raw))
                except ValidationError:
                    continue
    found: dict[str, int] = {}
    # A code can stand in both editions of the map: the importer takes the newer one, so do we.
    in_area = communes_for(batch.created_by).filter(code__in=codes).order_by("-edition")
    for pk, code in in_area.values_list("pk", "code"):
        found.setdefault(code, pk)
    return sorted(found.values())


def _claim_check(batch_id: int) -> tuple[ImportBatch | None, ImportBatch | None]:
    """(the batch claimed for this check, or None; the batch as it is).

    The row lock makes the check exclusive: two deliveries of the task (or a
    worker's and a second request's) used to park the file's rows twice, and
    every row then looked like its own duplicate. A check already under way is
    left alone unless it is stale.
    """
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().filter(pk=batch_id).first()
        if batch is None or batch.status != ImportBatch.Status.VALIDATING:
            return None, batch
        if batch.started_at is not None and not is_stale(batch):
            return None, batch
        now = timezone.now()
        batch.started_at, batch.heartbeat_at, batch.error, batch.finished_at = now, now, "", None
        batch.save(update_fields=["started_at", "heartbeat_at", "error", "finished_at"])
    return batch, batch


def check_batch(batch_id: int) -> ImportBatch:
    """Read and check every row; store the problems and what the import would do.

    Exclusive and idempotent: only one check of a batch runs at a time, a batch
    past this step is left as it is, and each check starts from a clean slate
    (its parked rows and problems replace the previous ones).
    """
    claimed, batch = _claim_check(batch_id)
    if claimed is None:
        return batch
    report = _reporter(claimed, "check")
    outcome, error, communes = ImportBatch.Status.VALIDATED, "", []
    issues, counts, rows = [], {}, 0
    try:
        with batch_tables(claimed) as tables:
            _describe(claimed, tables)
            if bulk.is_large(claimed):
                issues, counts, rows = bulk.check(claimed, tables, report)
            else:
                plan = importer.plan_import(tables, claimed.created_by, progress=report)
                issues, counts, rows = plan.issues, plan.counts(), plan.rows
                claimed.changes = plan.changes(importer.LISTED_CHANGES)
            communes = _touched_communes(claimed, tables)
    except ReadError as exc:
        outcome, error = ImportBatch.Status.REJECTED, str(exc)
    except Exception:
        logger.exception("The check of import %s failed", batch_id)
        outcome = ImportBatch.Status.FAILED
        error = _("The check stopped on an unexpected error; nothing was written. Check the file again; "
                  "if it fails again, tell your administrator.")
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != ImportBatch.Status.VALIDATING or batch.started_at != claimed.started_at:
            # Cancelled (or taken over) meanwhile: this run's findings are not wanted.
            if batch.status == ImportBatch.Status.CANCELLED:
                bulk.discard(batch)
            return batch
        batch.sheets, batch.status, batch.error = claimed.sheets, outcome, error
        batch.register_fingerprint = claimed.register_fingerprint
        batch.changes = claimed.changes
        now = timezone.now()
        batch.heartbeat_at = now
        if outcome == ImportBatch.Status.VALIDATED:
            _record(batch, issues, counts, rows)
            batch.communes.set(communes)
            batch.checked_at = now
        else:
            batch.finished_at = now
        batch.save()
    cache.delete(_progress_key(batch.pk))
    return batch


def can_confirm(user, batch: ImportBatch) -> bool:
    """Whether the page offers the uploader the import: after the check, or again after a failed import."""
    return batch.created_by_id == user.pk and (
        batch.status == ImportBatch.Status.VALIDATED
        or (batch.status == ImportBatch.Status.FAILED and batch.checked_at is not None))


def confirm_batch(*, user, batch: ImportBatch, valid_rows_only: bool) -> ImportBatch:
    """The user's go-ahead after reading the check's report; queues the import.

    A checked batch whose import failed can be confirmed again: the import checks
    the file again against the register as it is then.
    """
    from .tasks import run_import

    # The uploader's role is read again: one who may no longer import (moved to a reviewer's post
    # since the upload) cannot set the import going.
    if not can_import(user):
        raise PermissionDenied(_("Your role may not import files."))
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.created_by_id != user.pk and not user.is_superuser:
            raise PermissionDenied(_("Only the person who uploaded a file confirms its import."))
        if is_stale(batch):
            _fail(batch, _stale_reason(batch.status))
        again = batch.status == ImportBatch.Status.FAILED and batch.checked_at is not None
        if batch.status != ImportBatch.Status.VALIDATED and not again:
            raise ValidationError(_("This file is not waiting for confirmation (it is: %(status)s).")
                                  % {"status": batch.get_status_display()})
        if batch.rejected and not valid_rows_only:
            raise ValidationError(_("The file has rows with problems. Fix them and upload it again, or choose "
                                    "to import the valid rows only."))
        batch.valid_rows_only = valid_rows_only
        batch.status, batch.error, batch.finished_at = ImportBatch.Status.QUEUED, "", None
        batch.heartbeat_at = timezone.now()
        batch.save(update_fields=["valid_rows_only", "status", "error", "finished_at", "heartbeat_at"])
        transaction.on_commit(lambda: _send(run_import, batch.pk))
    return batch


def recheck_batch(*, user, batch: ImportBatch) -> ImportBatch:
    """Check a checked or failed file again, from a clean slate (say, after the register changed)."""
    if not can_import(user):
        raise PermissionDenied(_("Your role may not import files."))
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.created_by_id != user.pk and not user.is_superuser:
            raise PermissionDenied(_("Only the person who uploaded a file can check it again."))
        if is_stale(batch):
            _fail(batch, _stale_reason(batch.status))
        if batch.status not in (ImportBatch.Status.VALIDATED, ImportBatch.Status.FAILED):
            raise ValidationError(_("This file cannot be checked again now (it is: %(status)s).")
                                  % {"status": batch.get_status_display()})
        batch.status, batch.error, batch.started_at, batch.finished_at = ImportBatch.Status.VALIDATING, "", None, None
        batch.heartbeat_at = timezone.now()
        batch.save(update_fields=["status", "error", "started_at", "finished_at", "heartbeat_at"])
        queue_check(batch)
    return batch


def cancel_batch(*, user, batch: ImportBatch) -> ImportBatch:
    """Cancel a batch that has not started writing (a failed one too); nothing is written."""
    if not can_import(user):
        raise PermissionDenied(_("Your role may not import files."))
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.created_by_id != user.pk and not user.is_superuser:
            raise PermissionDenied(_("Only the person who uploaded a file can cancel it."))
        if is_stale(batch):
            _fail(batch, _stale_reason(batch.status))
        if batch.status not in (ImportBatch.Status.VALIDATED, ImportBatch.Status.VALIDATING,
                                ImportBatch.Status.QUEUED, ImportBatch.Status.FAILED):
            raise ValidationError(_("This import can no longer be cancelled."))
        batch.status = ImportBatch.Status.CANCELLED
        batch.save(update_fields=["status"])
    bulk.discard(batch)
    return batch


def _failure_reason(exc: Exception) -> str:
    """What the user reads when the import stopped on an error of the database or of the code."""
    if isinstance(exc, DataError):
        return _("A value of the file does not fit the register (too long, or out of range); nothing was written. "
                 "Fix the file and upload it again.")
    if isinstance(exc, IntegrityError):
        return _("The file conflicts with records saved while it was imported; nothing was written. "
                 "Run it again.")
    if isinstance(exc, DatabaseError):
        return _("The database refused the import; nothing was written. Run it again; if it fails again, "
                 "tell your administrator.")
    return _("The import stopped on an unexpected error; nothing was written. Run it again; if it fails again, "
             "tell your administrator.")


def import_batch(batch_id: int) -> ImportBatch:
    """Check the file again against the database as it is now, then write it.

    The check is repeated because the register may have changed since the user
    read the report; if rows are now rejected and the user did not choose
    "valid rows only", nothing is written. Everything is written in one
    transaction: whatever fails, nothing is half-written, and the batch is
    marked failed with a reason the user can read (never left running).
    """
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if is_stale(batch) and batch.status == ImportBatch.Status.RUNNING:
            # A redelivery after the worker running it ended: its transaction was undone.
            _fail(batch, _stale_reason(batch.status))
            return batch
        if batch.status != ImportBatch.Status.QUEUED:
            return batch  # a second delivery of the same task does nothing
        batch.status = ImportBatch.Status.RUNNING
        batch.started_at = batch.heartbeat_at = timezone.now()
        batch.save(update_fields=["status", "started_at", "heartbeat_at"])
    started_at = batch.started_at
    issues, counts, rows = [], {}, 0
    try:
        if bulk.is_large(batch):
            with transaction.atomic():
                issues, counts, rows = bulk.run(batch, _reporter(batch, "write"))
        else:
            # Planning only reads; the write is one transaction, so a failure at any row
            # (or after the last) leaves nothing of the file in the register.
            with batch_tables(batch) as tables:
                plan = importer.plan_import(_describe(batch, tables), batch.created_by)
            issues, counts, rows = plan.issues, plan.counts(), plan.rows
            batch.changes = plan.changes(importer.LISTED_CHANGES)
            if issues and not batch.valid_rows_only:
                raise bulk.Rejected(issues, counts, rows)
            with transaction.atomic():
                counts = importer.apply_plan(plan, batch.created_by, batch=batch.reference,
                                             progress=_reporter(batch, "write"))
        outcome, error = ImportBatch.Status.DONE, ""
    except bulk.Rejected as rejected:
        issues, counts, rows = rejected.issues, rejected.counts, rejected.rows
        outcome, error = ImportBatch.Status.REJECTED, _("The file has rows with problems; nothing was written.")
    except (ReadError, ValidationError, PermissionDenied) as exc:
        outcome, error = ImportBatch.Status.FAILED, " ".join(getattr(exc, "messages", [str(exc)]))
    except Exception as exc:
        logger.exception("Import %s failed", batch_id)
        outcome, error = ImportBatch.Status.FAILED, _failure_reason(exc)
    with transaction.atomic():
        current = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if current.status != ImportBatch.Status.RUNNING or current.started_at != started_at:
            return current  # marked failed as stale meanwhile: that record stands
        if outcome != ImportBatch.Status.FAILED:
            _record(batch, issues, counts, rows)
        batch.status, batch.error, batch.finished_at = outcome, error, timezone.now()
        batch.save()
    cache.delete(_progress_key(batch.pk))
    return batch


# -- stored files --------------------------------------------------------------------------------


def remove_expired_files(now=None) -> int:
    """Remove the stored files of imports older than UPLOAD_RETENTION_DAYS; returns how many.

    The batch, its counts and its problems stay, marked with when the file went;
    its parked rows go with the file. Idempotent: a removed file is not looked at again.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.UPLOAD_RETENTION_DAYS)
    expired = (ImportBatch.objects.filter(created_at__lt=cutoff, file_removed_at__isnull=True)
               .exclude(status__in=ACTIVE).exclude(file=""))
    removed = 0
    for batch in expired.iterator():
        batch.file.storage.delete(batch.file.name)  # a file already gone is no error
        bulk.discard(batch)
        ImportBatch.objects.filter(pk=batch.pk).update(file_removed_at=now)
        removed += 1
    return removed
