"""The path for large files: stream, park, then check and write in household order.

A province's list (hundreds of thousands of households, millions of people)
cannot be held in memory, and its member rows need not follow the household
rows. So the file is streamed once into `StagedRow` (COPY on PostgreSQL,
batched inserts elsewhere), keyed by "commune code|household code". The
ordinary checks and writes (`importer.plan_import` / `importer.apply_plan`)
then run on a few thousand households at a time, walking that key in order,
so every household arrives with all its members wherever they stood in the file.
The only check that spans households, a personal ID used twice in the file, is
made beforehand with one grouped query.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from . import importer
from .columns import HOUSEHOLDS, MEMBERS, SHEETS
from .models import ImportBatch, StagedRow
from .reader import Row

LARGE_FILE_BYTES = 4 * 1024 * 1024  # past this, files take this path
HOUSEHOLDS_PER_CHUNK = 2_000
STAGE_BATCH_ROWS = 5_000


class Rejected(Exception):
    """Raised inside the write transaction to undo it when rows are rejected."""

    def __init__(self, issues: list[importer.Issue], counts: dict[str, int], rows: int):
        super().__init__("rows rejected")
        self.issues, self.counts, self.rows = issues, counts, rows


def is_large(batch: ImportBatch) -> bool:
    return batch.size > LARGE_FILE_BYTES


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return value


def _sort_key(values: dict[str, Any]) -> str:
    try:
        commune = importer._commune_code(values.get("ma_xa", ""))
    except ValidationError:
        commune = "~"  # rows with a bad commune code sort together at the end
    return f"{commune}|{importer._text(values.get('ma_ho', ''))}"[:40]


def _copy(rows: list[tuple]) -> None:
    """Write parked rows: COPY on PostgreSQL, multi-row INSERTs elsewhere."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = StagedRow._meta.db_table
            with cursor.cursor.copy(
                f"COPY {table} (batch_id, kind, row, sort_key, personal_id, values) FROM STDIN"  # noqa: S608
            ) as copy:
                for row in rows:
                    copy.write_row(row)
        return
    StagedRow.objects.bulk_create(
        [StagedRow(batch_id=b, kind=k, row=r, sort_key=s, personal_id=p, values=json.loads(v))
         for b, k, r, s, p, v in rows]
    )


def stage(batch: ImportBatch, tables: Iterable, progress: importer.Progress | None = None) -> int:
    """Stream every households and members row of the file into StagedRow."""
    StagedRow.objects.filter(batch=batch).delete()
    staged = 0
    pending: list[tuple] = []
    for table in tables:
        if table.kind not in ("households", "members") or table.missing_required:
            continue  # a sheet without its required columns is refused as a whole (see check)
        for row in table.rows():
            values = {key: _jsonable(value) for key, value in row.values.items() if value not in ("", None)}
            personal_id = str(values.get("so_dinh_danh", ""))[:40] if table.kind == "members" else ""
            pending.append((batch.pk, table.kind, row.number, _sort_key(values), personal_id,
                            json.dumps(values, ensure_ascii=False)))
            if len(pending) >= STAGE_BATCH_ROWS:
                _copy(pending)
                staged += len(pending)
                pending.clear()
                if progress:
                    progress(staged, 0)
    if pending:
        _copy(pending)
        staged += len(pending)
    return staged


@dataclass
class _Chunk:
    """A slice of parked rows that looks like the reader's tables to the importer."""

    kind: str
    name: str
    staged: list[Row]

    def rows(self) -> Iterator[Row]:
        return iter(self.staged)


def _chunks(batch: ImportBatch) -> Iterator[list[_Chunk]]:
    last = ""
    while True:
        keys = list(
            StagedRow.objects.filter(batch=batch, sort_key__gt=last).order_by("sort_key")
            .values_list("sort_key", flat=True).distinct()[:HOUSEHOLDS_PER_CHUNK]
        )
        if not keys:
            return
        upper = keys[-1]
        households, members = [], []
        for kind, number, values in (
            StagedRow.objects.filter(batch=batch, sort_key__gt=last, sort_key__lte=upper)
            .order_by("row").values_list("kind", "row", "values")
        ):
            (households if kind == "households" else members).append(Row(number=number, values=values))
        yield [_Chunk("households", HOUSEHOLDS.title, households), _Chunk("members", MEMBERS.title, members)]
        last = upper


def _ids_used_twice(batch: ImportBatch) -> list[importer.Issue]:
    """Member rows whose personal ID also stands in another household of the file."""
    members = StagedRow.objects.filter(batch=batch, kind="members").exclude(personal_id="")
    repeated = set(
        members.values("personal_id").annotate(households=Count("sort_key", distinct=True))
        .filter(households__gt=1).values_list("personal_id", flat=True)
    )
    if not repeated:
        return []
    issues = []
    for number, value in members.filter(personal_id__in=repeated).order_by("row").values_list("row", "personal_id"):
        issues.append(importer.Issue(
            MEMBERS.title, number, MEMBERS.column("so_dinh_danh").header, value,
            _("The personal ID %(pid)s stands in more than one household of this file.") % {"pid": value},
        ))
    return issues


def _walk(batch: ImportBatch, *, write: bool, progress: importer.Progress | None):
    total = StagedRow.objects.filter(batch=batch).count()
    issues = _ids_used_twice(batch)
    blocked = {(i.sheet, i.row) for i in issues}
    counts: Counter[str] = Counter()
    done = 0
    for tables in _chunks(batch):
        for table in tables:
            table.staged = [row for row in table.staged if (SHEETS[table.kind].title, row.number) not in blocked]
        plan = importer.plan_import(tables, batch.created_by)
        if write and (batch.valid_rows_only or not (plan.issues or issues)):
            importer.apply_plan(plan, batch.created_by, batch=batch.reference)
        counts.update(plan.counts())
        issues.extend(plan.issues)
        done += plan.rows
        if progress:
            progress(done, total)
    counts["rejected"] = len({(i.sheet, i.row) for i in issues})
    return issues, dict(counts), total


def check(batch: ImportBatch, tables: Iterable, progress: importer.Progress | None = None):
    """Park the file and check all of it; write nothing to the register."""
    tables = list(tables)
    stage(batch, tables, progress)
    refused = importer.plan_import([t for t in tables if t.missing_required], batch.created_by)
    issues, counts, total = _walk(batch, write=False, progress=progress)
    counts["rejected"] += len(refused.rejected_rows)
    return refused.issues + issues, counts, total


def run(batch: ImportBatch, progress: importer.Progress | None = None):
    """Check again and write, all in one transaction: any rejected row (unless the
    user chose the valid rows only) undoes everything."""
    if not StagedRow.objects.filter(batch=batch).exists():
        raise ValidationError(_("The checked rows of this file are no longer available; upload it again."))
    with transaction.atomic():
        issues, counts, total = _walk(batch, write=True, progress=progress)
        if issues and not batch.valid_rows_only:
            raise Rejected(issues, counts, total)
    StagedRow.objects.filter(batch=batch).delete()
    return issues, counts, total


def discard(batch: ImportBatch) -> None:
    StagedRow.objects.filter(batch=batch).delete()
