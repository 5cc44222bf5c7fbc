"""Import batches: upload, check, confirm, import, in that order.

A batch records who uploaded which file (name, size, SHA-256), what the check
found, and what the import did. Live progress goes to the cache (the import
itself runs in one transaction, whose own writes other connections cannot see
until it commits); the counts are saved on the batch when each step ends.
"""

import hashlib
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import BinaryIO

from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.permissions import Action, can, require

from . import bulk, importer
from .models import ImportBatch, ImportIssue
from .reader import ReadError, read_tables

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
STORED_ISSUES = 20_000  # enough to fix a file; the count is always exact


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
        "finished": batch.status in (ImportBatch.Status.VALIDATED, ImportBatch.Status.DONE,
                                     ImportBatch.Status.REJECTED, ImportBatch.Status.FAILED,
                                     ImportBatch.Status.CANCELLED),
    }


def _reporter(batch: ImportBatch, phase: str):
    def report(done: int, total: int) -> None:
        cache.set(_progress_key(batch.pk), {"done": done, "total": total, "phase": phase}, timeout=6 * 3600)

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
                        valid_rows_only=valid_rows_only, is_bundle=len(files) > 1)
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


@contextmanager
def batch_tables(batch: ImportBatch) -> Iterator[list]:
    """The tables of a batch's file or files, readable until the block ends."""
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


def check_batch(batch_id: int) -> ImportBatch:
    """Read and check every row; store the problems and what the import would do."""
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.status != ImportBatch.Status.VALIDATING:
        return batch  # already checked: running twice changes nothing
    batch.started_at = timezone.now()
    report = _reporter(batch, "check")
    try:
        with batch_tables(batch) as tables:
            _describe(batch, tables)
            if bulk.is_large(batch):
                issues, counts, rows = bulk.check(batch, tables, report)
            else:
                plan = importer.plan_import(tables, batch.created_by, progress=report)
                issues, counts, rows = plan.issues, plan.counts(), plan.rows
    except ReadError as exc:
        batch.status, batch.error = ImportBatch.Status.REJECTED, str(exc)
        batch.finished_at = timezone.now()
        batch.save()
        return batch
    _record(batch, issues, counts, rows)
    batch.status = ImportBatch.Status.VALIDATED
    batch.save()
    return batch


def confirm_batch(*, user, batch: ImportBatch, valid_rows_only: bool) -> ImportBatch:
    """The user's go-ahead after reading the check's report; queues the import."""
    from .tasks import run_import

    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.created_by_id != user.pk and not user.is_superuser:
            raise PermissionDenied(_("Only the person who uploaded a file confirms its import."))
        if batch.status != ImportBatch.Status.VALIDATED:
            raise ValidationError(_("This file is not waiting for confirmation (it is: %(status)s).")
                                  % {"status": batch.get_status_display()})
        if batch.rejected and not valid_rows_only:
            raise ValidationError(_("The file has rows with problems. Fix them and upload it again, or choose "
                                    "to import the valid rows only."))
        batch.valid_rows_only = valid_rows_only
        batch.status = ImportBatch.Status.QUEUED
        batch.save(update_fields=["valid_rows_only", "status"])
        transaction.on_commit(lambda: run_import.delay(batch.pk))
    return batch


def cancel_batch(*, user, batch: ImportBatch) -> ImportBatch:
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.created_by_id != user.pk and not user.is_superuser:
            raise PermissionDenied(_("Only the person who uploaded a file can cancel it."))
        if batch.status not in (ImportBatch.Status.VALIDATED, ImportBatch.Status.VALIDATING):
            raise ValidationError(_("This import can no longer be cancelled."))
        batch.status = ImportBatch.Status.CANCELLED
        batch.save(update_fields=["status"])
    bulk.discard(batch)
    return batch


def import_batch(batch_id: int) -> ImportBatch:
    """Check the file again against the database as it is now, then write it.

    The check is repeated because the register may have changed since the user
    read the report; if rows are now rejected and the user did not choose
    "valid rows only", nothing is written.
    """
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != ImportBatch.Status.QUEUED:
            return batch  # a second delivery of the same task does nothing
        batch.status = ImportBatch.Status.RUNNING
        batch.started_at = timezone.now()
        batch.save(update_fields=["status", "started_at"])
    try:
        if bulk.is_large(batch):
            issues, counts, rows = bulk.run(batch, _reporter(batch, "write"))
        else:
            with batch_tables(batch) as tables:
                plan = importer.plan_import(_describe(batch, tables), batch.created_by)
            issues, counts, rows = plan.issues, plan.counts(), plan.rows
            if issues and not batch.valid_rows_only:
                raise bulk.Rejected(issues, counts, rows)
            counts = importer.apply_plan(plan, batch.created_by, batch=batch.reference,
                                         progress=_reporter(batch, "write"))
        _record(batch, issues, counts, rows)
        batch.status = ImportBatch.Status.DONE
    except bulk.Rejected as rejected:
        _record(batch, rejected.issues, rejected.counts, rejected.rows)
        batch.status = ImportBatch.Status.REJECTED
        batch.error = _("The file has rows with problems; nothing was written.")
    except (ReadError, ValidationError, PermissionDenied, IntegrityError) as exc:
        batch.status = ImportBatch.Status.FAILED
        batch.error = " ".join(getattr(exc, "messages", [str(exc)]))
    batch.finished_at = timezone.now()
    batch.save()
    cache.delete(_progress_key(batch.pk))
    return batch
