"""The path for large files: stream, check, park; then check across rows and load in bulk.

A province's list (hundreds of thousands of households, millions of people)
cannot be held in memory, and its member rows need not follow the household
rows. So:

1. `stage()` streams the file once. Every row is parsed and checked on its own
   by the importer's own row checks (`importer.check_household_row` /
   `check_member_row`) and parked in `StagedRow` with its parsed values or its
   problems (COPY on PostgreSQL, batched inserts elsewhere).
2. The checks that span rows run as a few set-wise queries over the parked
   batch (`_cross_checks`): a personal ID in two households of the file, a
   household twice on its sheet, members whose household is nowhere, personal
   IDs that belong to someone in the register, hidden IDs, and each new
   household as it would be (members, one head, the head's name, an ID twice).
3. Households already in the register (an update, or the same file again) are
   few in a first load and need their stored members: their rows go, a few
   thousand households at a time, through the ordinary planner and writer
   (`importer.plan_import` / `apply_plan`), so updates keep exactly the
   semantics of a small file.
4. New households are written in bulk, a few thousand at a time in household
   order: villages first, then households with their derived columns, members
   and one audit event per created record, linked to the batch (COPY on
   PostgreSQL, batched inserts elsewhere). Memory stays bounded by the chunk.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import islice
from types import SimpleNamespace
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.models import AuditEvent
from core.scoping import communes_for
from core.text import fold
from geo.models import AdminUnit
from households import services
from households.models import Ethnicity, Household, Member, Village

from . import importer
from . import values as codec
from .columns import HOUSEHOLDS, MEMBERS, SHEETS
from .models import ImportBatch, StagedRow
from .reader import Row

LARGE_FILE_BYTES = 4 * 1024 * 1024  # past this, files take this path
HOUSEHOLDS_PER_CHUNK = 5_000
STAGE_BATCH_ROWS = 10_000
# Problems listed in a report (the count of rejected rows is always exact).
MAX_LISTED_ISSUES = 20_000

_SHEET_OF = {"households": HOUSEHOLDS, "members": MEMBERS}
_ACCEPTED = "issues = '' AND problem = ''"


class Rejected(Exception):
    """Raised inside the write transaction to undo it when rows are rejected."""

    def __init__(self, issues: list[importer.Issue], counts: dict[str, int], rows: int):
        super().__init__("rows rejected")
        self.issues, self.counts, self.rows = issues, counts, rows


def is_large(batch: ImportBatch) -> bool:
    return batch.size > LARGE_FILE_BYTES


@lru_cache(maxsize=65_536)
def _fold(text: str) -> str:
    # Names, villages and spellings repeat all over a province's list.
    return fold(text)


def _raw_sort_key(values: dict[str, Any]) -> str:
    try:
        commune = importer._commune_code(values.get("ma_xa", ""))
    except ValidationError:
        commune = "~"  # rows with a bad commune code sort together at the end
    return f"{commune}|{importer._text(values.get('ma_ho', ''))}"[:40]


# -- database helpers ------------------------------------------------------------------


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name).column


def _execute(sql: str, params: Iterable[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.rowcount


def _fetch(sql: str, params: Iterable[Any] = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()


def _insert(model: type[models.Model], columns: list[str], rows: list[tuple]) -> None:
    """Write rows: COPY on PostgreSQL, batched INSERTs elsewhere."""
    if not rows:
        return
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {_table(model)} ({names}) FROM STDIN") as copy:  # noqa: S608
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(columns))
        rows = [tuple(v.isoformat() if type(v) is date else v for v in row) for row in rows]
        cursor.executemany(f"INSERT INTO {_table(model)} ({names}) VALUES ({marks})", rows)  # noqa: S608


class _Layout:
    """The columns of a bulk write: the ones given, then every other column of the
    model with its default, so a column added to the model later is still filled."""

    def __init__(self, model: type[models.Model], given: tuple[str, ...]):
        self.model = model
        fields = {f.attname: f for f in model._meta.concrete_fields}
        rest = [f for name, f in fields.items() if name not in given and not f.primary_key]
        self.columns = [fields[name].column for name in given] + [f.column for f in rest]
        self.defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in rest)

    def write(self, rows: list[tuple]) -> None:
        defaults = self.defaults
        _insert(self.model, self.columns, [row + defaults for row in rows] if defaults else rows)

    def stream(self, rows: Iterable[tuple]) -> int:
        """Write rows as they come (one COPY on PostgreSQL); returns how many."""
        defaults = self.defaults
        if connection.vendor != "postgresql":
            batch = [row + defaults for row in rows]
            _insert(self.model, self.columns, batch)
            return len(batch)
        count = 0
        names = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        with connection.cursor() as cursor, cursor.cursor.copy(
                f"COPY {_table(self.model)} ({names}) FROM STDIN") as copy:  # noqa: S608
            write = copy.write_row
            for row in rows:
                write(row + defaults)
                count += 1
        return count


def _new_ids(model: type[models.Model], count: int, taken: dict[str, int]) -> list[int]:
    """Primary keys for `count` new rows, reserved before they are written."""
    if count == 0:
        return []
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        rows = _fetch("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                      [connection.ops.quote_name(table), model._meta.pk.column, count])
        return [row[0] for row in rows]
    # SQLite: the transaction already holds the write lock (it updated the parked
    # rows first), so nobody else takes these numbers meanwhile.
    highest = _fetch(f"SELECT MAX({model._meta.pk.column}) FROM {_table(model)}")[0][0] or 0  # noqa: S608
    sequence = _fetch("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
    start = max(highest, sequence[0][0] if sequence else 0, taken.get(table, 0)) + 1
    taken[table] = start + count - 1
    return list(range(start, start + count))


def _timestamp(value):
    return value if connection.vendor == "postgresql" else connection.ops.adapt_datetimefield_value(value)


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# -- 1. stage ---------------------------------------------------------------------------

_STAGED_COLUMNS = (
    "batch_id", "kind", "part", "row", "sort_key", "personal_id", "issues", "commune_id", "code", "name", "name_key",
    "village", "village_key", "area", "is_farm", "phone", "merit", "social", "classification",
    "classification_year", "sex", "birth_date", "birth_year", "pid", "pid_legacy", "masked_id", "ethnicity_id",
    "relation", "insured", "search_key",
)
_NO_HOUSEHOLD = ("", None, "", None, None, "", None)
_NO_MEMBER = ("", None, None, "", None, "", None, "", None)


def _staged_row(batch_id: int, kind: str, part: int, row: Row, plan: importer.Plan, context) -> tuple:
    """A row as parked: a value the row does not state (no column, an empty cell) is
    NULL, so that a stored household keeps its own (see `_cells`)."""
    values = row.values
    if kind == "households":
        checked = importer.check_household_row(plan, context, row)
        personal_id = ""
    else:
        checked = importer.check_member_row(plan, context, row)
        raw_id = values.get("so_dinh_danh", "")
        personal_id = "" if raw_id in ("", None) or importer.is_clear(raw_id) else str(raw_id)[:40]
    if checked is None:
        issues = json.dumps([[i.column, i.value, i.message] for i in plan.issues], ensure_ascii=False)
        plan.issues.clear()
        plan.rejected_rows.clear()
        return (batch_id, kind, part, row.number, _raw_sort_key(values), personal_id, issues, None, "", "", "",
                "", "", *_NO_HOUSEHOLD, *_NO_MEMBER, "")
    if kind == "households":
        commune, code, village, head, v = checked
        phone = v.get("phone")
        return (batch_id, kind, part, row.number, f"{commune.code}|{code}"[:40], personal_id, "", commune.pk, code,
                head, _fold(head), village, _fold(village), v["area"], v.get("is_farm"), phone,
                v.get("has_meritorious_member"), v.get("is_social_protection"), v.get("classification", ""),
                v.get("classification_year"), *_NO_MEMBER, fold(f"{code} {phone or ''}"))
    commune, code, v, masked_id = checked
    return (batch_id, kind, part, row.number, f"{commune.code}|{code}"[:40], personal_id, "", commune.pk, code,
            v["full_name"], _fold(v["full_name"]), "", "", *_NO_HOUSEHOLD, v["sex"], v["birth_date"],
            v["birth_year"], v.get("personal_id"), v.get("personal_id_is_legacy"), masked_id, v["ethnicity"].pk,
            v["relation"], v.get("has_health_insurance"), "")


# The parked column of each yes/no column.
_YES_NO_STAGED = {"nong_nghiep": "is_farm", "nguoi_co_cong": "merit", "bao_tro_xa_hoi": "social", "bhyt": "insured"}


def _read_ticked_empty_as_no(batch: ImportBatch, ticked: dict[int, tuple[str, set[str]]]) -> None:
    """In a table whose yes/no column is ticked with "x", its empty cells read as no:
    parked as NULL while the table streamed by, they become FALSE once it is known."""
    for part, (kind, keys) in ticked.items():
        if not keys:
            continue
        columns = [_YES_NO_STAGED[key] for key in sorted(keys)]
        assignments = ", ".join(f"{c} = COALESCE({c}, FALSE)" for c in columns)
        _execute(f"UPDATE {_table(StagedRow)} SET {assignments} WHERE batch_id = %s AND kind = %s "  # noqa: S608
                 f"AND part = %s AND issues = '' AND ({' OR '.join(f'{c} IS NULL' for c in columns)})",
                 [batch.pk, kind, part])


def stage(batch: ImportBatch, tables: Iterable, progress: importer.Progress | None = None) -> int:
    """Stream every households and members row of the file, checked on its own, into StagedRow."""
    StagedRow.objects.filter(batch=batch).delete()
    importer.reset_memo()
    context = importer._Context(batch.created_by, None, None)
    plan = importer.Plan()
    out = _Layout(StagedRow, _STAGED_COLUMNS)

    ticked: dict[int, tuple[str, set[str]]] = {}

    def produce() -> Iterator[tuple]:
        for part, table in enumerate(tables):
            if table.kind not in ("households", "members") or table.missing_required:
                continue  # a sheet without its required columns is refused as a whole (see check)
            yes_no = [key for key in importer.YES_NO_COLUMNS[table.kind] if key in table.columns]
            ticks: set[str] = set()
            ticked[part] = (table.kind, ticks)
            is_tick = importer.is_tick
            for row in table.rows():
                for key in yes_no:
                    if key not in ticks and is_tick(row.values.get(key)):
                        ticks.add(key)
                yield _staged_row(batch.pk, table.kind, part, row, plan, context)

    rows = produce()
    staged = 0
    while True:
        # Each row goes to the server as soon as it is checked (on PostgreSQL the
        # server parks one row while Python reads the next); between segments, the
        # progress is reported.
        written = out.stream(islice(rows, STAGE_BATCH_ROWS))
        staged += written
        if written < STAGE_BATCH_ROWS:
            _read_ticked_empty_as_no(batch, ticked)
            return staged
        if progress:
            progress(staged, 0)


# -- 2. checks across rows ------------------------------------------------------------------


def _mark(problems: list[tuple[int, str, str, Any, str]]) -> None:
    """Record problems found across rows: (staged row id, kind, column key, value, message)."""
    if not problems:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {_table(StagedRow)} SET problem = %s, problem_column = %s, problem_value = %s "  # noqa: S608
            "WHERE id = %s",
            [(message, _SHEET_OF[kind].column(column).header, importer._short(value)[:255], pk)
             for pk, kind, column, value, message in problems],
        )


def _cross_checks(batch: ImportBatch, *, analyze: bool = True) -> None:
    staged, b = _table(StagedRow), batch.pk
    if analyze and connection.vendor == "postgresql":
        # Fresh statistics: the batch's rows arrived in one COPY a moment ago, and the
        # planner must know they are many to join them by hashing.
        _execute(f"ANALYZE {staged}")
    households, members, units = _table(Household), _table(Member), _table(AdminUnit)
    _execute(f"UPDATE {staged} SET problem = '', problem_column = '', problem_value = '', existing = FALSE "  # noqa: S608
             "WHERE batch_id = %s AND (problem <> '' OR existing)", [b])
    # Households in the register already: their rows go through the ordinary planner.
    _execute(f"UPDATE {staged} SET existing = TRUE WHERE batch_id = %s AND issues = '' AND EXISTS "  # noqa: S608
             f"(SELECT 1 FROM {households} h WHERE h.commune_id = {staged}.commune_id "
             f"AND h.code = {staged}.code)", [b])

    # A personal ID as written in more than one household of the file.
    repeated = [row[0] for row in _fetch(
        f"SELECT personal_id FROM {staged} WHERE batch_id = %s AND kind = 'members' AND personal_id <> '' "  # noqa: S608
        "GROUP BY personal_id HAVING MIN(sort_key) <> MAX(sort_key)", [b])]
    for start in range(0, len(repeated), 500):
        part = repeated[start:start + 500]
        rows = _fetch(
            f"SELECT id, personal_id FROM {staged} WHERE batch_id = %s AND kind = 'members' "  # noqa: S608
            f"AND personal_id IN ({', '.join(['%s'] * len(part))})", [b, *part])
        _mark([(pk, "members", "so_dinh_danh", value,
                _("The personal ID %(pid)s stands in more than one household of this file.") % {"pid": value})
               for pk, value in rows])

    # A household twice on its sheet: the first row stands, the others are refused.
    rows = _fetch(
        f"SELECT s.id, s.code, d.first_row FROM {staged} s JOIN (SELECT commune_id, code, MIN(row) AS first_row "  # noqa: S608
        f"FROM {staged} WHERE batch_id = %s AND kind = 'households' AND {_ACCEPTED} "
        "GROUP BY commune_id, code HAVING COUNT(*) > 1) d ON d.commune_id = s.commune_id AND d.code = s.code "
        f"WHERE s.batch_id = %s AND s.kind = 'households' AND s.{_ACCEPTED.replace(' AND ', ' AND s.')} "
        "AND s.row > d.first_row", [b, b])
    _mark([(pk, "households", "ma_ho", code, importer.twice_on_sheet_message(code, first))
           for pk, code, first in rows])

    # A new household starts without a classification: only a commune decision gives one.
    rows = _fetch(
        f"SELECT id, classification, classification_year FROM {staged} WHERE batch_id = %s "  # noqa: S608
        f"AND kind = 'households' AND {_ACCEPTED} AND NOT existing AND classification NOT IN ('', %s)",
        [b, Household.Classification.NONE])
    _mark([(pk, "households", "phan_loai", codec.format_classification(classification),
            importer.classification_message(importer.classification_text(classification, year), None))
           for pk, classification, year in rows])

    member_ok = "s.batch_id = %s AND s.kind = 'members' AND s.issues = '' AND s.problem = '' AND NOT s.existing"
    # Members whose household is neither in the register nor on the households sheet.
    rows = _fetch(
        f"SELECT s.id, s.code, c.code FROM {staged} s JOIN {units} c ON c.id = s.commune_id "  # noqa: S608
        f"WHERE {member_ok} AND NOT EXISTS (SELECT 1 FROM {staged} h WHERE h.batch_id = %s "
        "AND h.kind = 'households' AND h.issues = '' AND h.problem = '' AND h.commune_id = s.commune_id "
        "AND h.code = s.code)", [b, b])
    _mark([(pk, "members", "ma_ho", code, importer.no_household_message(code, commune_code))
           for pk, code, commune_code in rows])

    # Personal IDs that belong to a current member of another household of the register.
    rows = _fetch(
        f"SELECT s.id, s.pid, h.code, c.id, c.code FROM {staged} s JOIN {members} m ON m.personal_id = s.pid "  # noqa: S608
        f"JOIN {households} h ON h.id = m.household_id JOIN {units} c ON c.id = h.commune_id "
        f"WHERE {member_ok} AND s.pid <> '' AND m.personal_id <> '' AND NOT m.is_archived", [b])
    in_area = set(communes_for(batch.created_by).filter(pk__in={row[3] for row in rows})
                  .values_list("pk", flat=True)) if rows else set()
    _mark([(pk, "members", "so_dinh_danh", pid,
            importer.id_taken_message(pid, code, commune_code, commune_id in in_area))
           for pk, pid, code, commune_id, commune_code in rows])

    # A hidden ID can only stand for the ID of a stored member; a new household has none.
    rows = _fetch(f"SELECT s.id, s.masked_id FROM {staged} s WHERE {member_ok} AND s.masked_id <> ''", [b])  # noqa: S608
    _mark([(pk, "members", "so_dinh_danh", masked, importer.hidden_id_message()) for pk, masked in rows])

    # Each new household as it would be: members, exactly one head, the head's name, no ID twice.
    rows = _fetch(
        f"SELECT h.id, h.sort_key, h.code, h.name, m.members, m.heads, m.head_name, m.pids, m.distinct_pids "  # noqa: S608
        f"FROM {staged} h LEFT JOIN (SELECT s.commune_id, s.code, COUNT(*) AS members, "
        "SUM(CASE WHEN s.relation = 'head' THEN 1 ELSE 0 END) AS heads, "
        "MAX(CASE WHEN s.relation = 'head' THEN s.name END) AS head_name, "
        "MAX(CASE WHEN s.relation = 'head' THEN s.name_key END) AS head_key, "
        "COUNT(NULLIF(s.pid, '')) AS pids, COUNT(DISTINCT NULLIF(s.pid, '')) AS distinct_pids "
        f"FROM {staged} s WHERE {member_ok} GROUP BY s.commune_id, s.code) m "
        "ON m.commune_id = h.commune_id AND m.code = h.code "
        "WHERE h.batch_id = %s AND h.kind = 'households' AND h.issues = '' AND h.problem = '' AND NOT h.existing "
        "AND (m.members IS NULL OR m.heads <> 1 OR m.head_key <> h.name_key OR m.pids <> m.distinct_pids)",
        [b, b])
    problems, households_at_fault = [], []
    for pk, sort_key, code, head, count, heads, head_name, pids, distinct in rows:
        message = importer.household_problem(
            code, is_new=True, members=count or 0, heads=heads or 0, sheet_head=head,
            member_head=head_name or "", id_twice=(pids or 0) != (distinct or 0))
        problems.append((pk, "households", "ma_ho", code, message))
        households_at_fault.append((message, MEMBERS.column("ma_ho").header, importer._short(code)[:255],
                                    b, sort_key))
    _mark(problems)
    if households_at_fault:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {staged} SET problem = %s, problem_column = %s, problem_value = %s "  # noqa: S608
                "WHERE batch_id = %s AND sort_key = %s AND kind = 'members' AND issues = '' AND problem = '' "
                "AND NOT existing", households_at_fault)


def _register_fingerprint(batch: ImportBatch) -> str:
    """A digest of all the register tells the checks across rows about this batch.

    Those checks read the parked rows and, of the register, only which households
    of the file it holds already and whose current member carries each personal
    ID of the file (and in which household). When the digest is the same at the
    import as at the check, so are all their findings, which the parked rows
    still hold.
    """
    staged, b = _table(StagedRow), batch.pk
    items = (
        f"SELECT 'h' || s.id AS item FROM {staged} s WHERE s.batch_id = %s AND s.issues = '' AND EXISTS "  # noqa: S608
        f"(SELECT 1 FROM {_table(Household)} h WHERE h.commune_id = s.commune_id AND h.code = s.code) "
        "UNION ALL "
        f"SELECT 'p' || s.id || ':' || m.household_id FROM {staged} s JOIN {_table(Member)} m "
        "ON m.personal_id = s.pid WHERE s.batch_id = %s AND s.kind = 'members' AND s.issues = '' "
        "AND s.pid <> '' AND m.personal_id <> '' AND NOT m.is_archived")
    if connection.vendor == "postgresql":
        return _fetch("SELECT md5(COALESCE(string_agg(item, ',' ORDER BY item COLLATE \"C\"), '')) "  # noqa: S608
                      f"FROM ({items}) register", [b, b])[0][0]
    digest = hashlib.md5(usedforsecurity=False)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT item FROM ({items}) register ORDER BY item", [b, b])  # noqa: S608
        first = True
        while rows := cursor.fetchmany(10_000):
            for (item,) in rows:
                digest.update(item.encode() if first else f",{item}".encode())
                first = False
    return digest.hexdigest()


def _staged_issues(batch: ImportBatch, limit: int) -> list[importer.Issue]:
    issues: list[importer.Issue] = []
    for kind, number, cell_issues, column, value, message in _fetch(
        f"SELECT kind, row, issues, problem_column, problem_value, problem FROM {_table(StagedRow)} "  # noqa: S608
        "WHERE batch_id = %s AND (issues <> '' OR problem <> '') ORDER BY kind, row LIMIT %s", [batch.pk, limit]
    ):
        title = SHEETS[kind].title
        if cell_issues:
            issues += [importer.Issue(title, number, c, v, m) for c, v, m in json.loads(cell_issues)]
        if message:
            issues.append(importer.Issue(title, number, column, value, message))
    return issues


# -- 3. households already in the register: the ordinary planner --------------------------------


@dataclass
class _Chunk:
    """A slice of parked rows that looks like the reader's tables to the importer."""

    kind: str
    name: str
    staged: list[Row]

    def rows(self) -> Iterator[Row]:
        return iter(self.staged)


_OLD_COLUMNS = ("kind", "row", "commune_id", "code", "name", "village", "area", "is_farm", "phone", "merit",
                "social", "classification", "classification_year", "sex", "birth_date", "birth_year", "pid",
                "masked_id", "ethnicity_id", "relation", "insured")


def _cells(record: tuple, communes: dict[int, str], ethnicities: dict[int, str]) -> dict[str, Any]:
    """A parked row's parsed values as cells the importer reads back to the same values."""
    (kind, _number, commune_id, code, name, village, area, is_farm, phone, merit, social, classification,
     classification_year, sex, birth_date, birth_year, pid, masked_id, ethnicity_id, relation, insured) = record
    if kind == "households":
        cells = {"ma_xa": communes[commune_id], "ma_ho": code, "thon": village, "chu_ho": name, "khu_vuc": area,
                 "nong_nghiep": is_farm, "dien_thoai": importer.CLEAR if phone == "" else phone,
                 "phan_loai": codec.format_classification(classification), "nam_phan_loai": classification_year,
                 "nguoi_co_cong": merit, "bao_tro_xa_hoi": social}
    else:
        cells = {"ma_xa": communes[commune_id], "ma_ho": code, "ho_ten": name, "gioi_tinh": sex,
                 "ngay_sinh": _as_date(birth_date) or birth_year,
                 "so_dinh_danh": masked_id or (importer.CLEAR if pid == "" else pid),
                 "dan_toc": ethnicities[ethnicity_id], "quan_he": relation, "bhyt": insured}
    # What the row did not state is left out, as a column the file does not have.
    return {key: value for key, value in cells.items() if value not in (None, "")}


def _key_chunks(batch: ImportBatch, *, existing: bool, columns: tuple[str, ...], order: str) -> Iterator[list]:
    """The accepted parked rows of new (or of stored) households, a few thousand households at a time."""
    staged = _table(StagedRow)
    flag = "existing" if existing else "NOT existing"
    names = ", ".join(columns)
    last = ""
    while True:
        keys = _fetch(
            f"SELECT DISTINCT sort_key FROM {staged} WHERE batch_id = %s AND {flag} AND {_ACCEPTED} "  # noqa: S608
            "AND sort_key > %s ORDER BY sort_key LIMIT %s", [batch.pk, last, HOUSEHOLDS_PER_CHUNK])
        if not keys:
            return
        upper = keys[-1][0]
        yield _fetch(
            f"SELECT {names} FROM {staged} WHERE batch_id = %s AND {flag} AND {_ACCEPTED} "  # noqa: S608
            f"AND sort_key > %s AND sort_key <= %s ORDER BY {order}", [batch.pk, last, upper])
        last = upper


def _plan_stored(batch: ImportBatch, *, write: bool, progress) -> tuple[list[importer.Issue], Counter, int]:
    """Rows of households in the register, through the ordinary planner (and writer).
    What they change is listed on the batch (`ImportBatch.changes`)."""
    batch.changes = []
    issues: list[importer.Issue] = []
    counts: Counter[str] = Counter()
    rows = 0
    communes: dict[int, str] = {}
    ethnicities = dict(Ethnicity.objects.values_list("pk", "name"))
    for records in _key_chunks(batch, existing=True, columns=_OLD_COLUMNS, order="row"):
        missing = {r[2] for r in records} - communes.keys()
        communes.update(AdminUnit.objects.filter(pk__in=missing).values_list("pk", "code"))
        households, people = [], []
        for record in records:
            (households if record[0] == "households" else people).append(
                Row(number=record[1], values=_cells(record, communes, ethnicities)))
        plan = importer.plan_import(
            [_Chunk("households", HOUSEHOLDS.title, households), _Chunk("members", MEMBERS.title, people)],
            batch.created_by)
        if write and (batch.valid_rows_only or not (plan.issues or issues)):
            importer.apply_plan(plan, batch.created_by, batch=batch.reference)
        counts.update(plan.counts())
        issues.extend(plan.issues)
        if len(batch.changes) < importer.LISTED_CHANGES:
            batch.changes.extend(plan.changes(importer.LISTED_CHANGES - len(batch.changes)))
        rows += plan.rows
        if progress:
            progress(rows, 0)
    return issues, counts, rows


# -- 4. new households: bulk load ----------------------------------------------------------------

_NEW_COLUMNS = ("kind", "row", "commune_id", "code", "name", "village_key", "area", "is_farm", "phone", "merit",
                "social", "classification", "classification_year", "sex", "birth_date", "birth_year", "pid",
                "pid_legacy", "ethnicity_id", "relation", "insured", "sort_key")
_HOUSEHOLD_GIVEN = (
    "id", "commune_id", "village_id", "code", "head_name", "area", "is_farm", "phone", "has_meritorious_member",
    "is_social_protection", "classification", "classification_year", "is_ethnic_minority", "member_count",
    "search_text", "version", "created_at", "created_by_id", "updated_at", "updated_by_id", "is_archived",
    "archived_reason",
)
_MEMBER_GIVEN = (
    "id", "household_id", "full_name", "search_name", "sex", "birth_date", "birth_year", "personal_id",
    "personal_id_is_legacy", "ethnicity_id", "relation", "has_health_insurance", "created_at", "updated_at",
    "is_archived", "archived_reason",
)
_EVENT_GIVEN = ("at", "actor_id", "source", "action", "content_type_id", "object_id", "object_repr",
                "household_id", "changes", "reason", "batch")


def _villages(batch: ImportBatch, commune_ids: list[int]) -> dict[tuple[int, str], tuple[int, str]]:
    """Every village the new households name, created in one statement where new."""
    known = {(c, key): (pk, name) for pk, c, key, name in
             Village.objects.filter(commune_id__in=commune_ids).values_list("pk", "commune_id", "search_name", "name")}
    wanted = _fetch(
        f"SELECT commune_id, village_key, MIN(village) FROM {_table(StagedRow)} WHERE batch_id = %s "  # noqa: S608
        f"AND kind = 'households' AND NOT existing AND {_ACCEPTED} GROUP BY commune_id, village_key", [batch.pk])
    new = [Village(commune_id=c, name=name, search_name=key) for c, key, name in wanted if (c, key) not in known]
    if new:
        Village.objects.bulk_create(new, batch_size=1000)
        known = {(c, key): (pk, name) for pk, c, key, name in
                 Village.objects.filter(commune_id__in=commune_ids)
                 .values_list("pk", "commune_id", "search_name", "name")}
    return known


def _write_new(batch: ImportBatch, progress, done: int, tally: _Tally) -> int:
    """Load the accepted rows of new households; returns the rows written."""
    user = batch.created_by
    commune_ids = sorted(tally.new_communes)
    if not commune_ids:
        return 0
    communes = AdminUnit.objects.in_bulk(commune_ids)
    for commune in communes.values():
        services.check_can_edit(user, commune, importing=True)
    villages = _villages(batch, commune_ids)
    if connection.vendor == "postgresql":
        written = _write_new_in_sql(batch, communes, progress, done, tally)
        for commune_id in commune_ids:
            services.queue_summary_refresh(commune_id)
        return written
    groups = {pk: SimpleNamespace(name=name, is_minority=minority)
              for pk, name, minority in Ethnicity.objects.values_list("pk", "name", "is_minority")}
    household_type = ContentType.objects.get_for_model(Household).pk
    member_type = ContentType.objects.get_for_model(Member).pk
    now = timezone.now()
    stamp = _timestamp(now)
    actor = user.pk if getattr(user, "pk", None) else None
    source, create, reference = AuditEvent.Source.IMPORT, AuditEvent.Action.CREATE, batch.reference
    households_out, members_out, events_out = (_Layout(Household, _HOUSEHOLD_GIVEN),
                                               _Layout(Member, _MEMBER_GIVEN), _Layout(AuditEvent, _EVENT_GIVEN))
    urban, rural = Household.Area.URBAN, Household.Area.RURAL
    unclassified = str(Household.Classification.NONE)
    dumps = json.dumps
    taken: dict[str, int] = {}
    written = 0
    for records in _key_chunks(batch, existing=False, columns=_NEW_COLUMNS, order="sort_key, kind, row"):
        # Records come household by household, the households row first.
        groups_of_rows: list[tuple[tuple, list[tuple]]] = []
        for record in records:
            if record[0] == "households":
                groups_of_rows.append((record, []))
            else:
                groups_of_rows[-1][1].append(record)
        household_ids = iter(_new_ids(Household, len(groups_of_rows), taken))
        member_ids = iter(_new_ids(Member, len(records) - len(groups_of_rows), taken))
        household_rows, member_rows, events = [], [], []
        for household, people in groups_of_rows:
            (_kind, _number, commune_id, code, head, village_key, area, is_farm, phone, merit, social,
             classification, classification_year) = household[:13]
            commune = communes[commune_id]
            village_id, village_name = villages[(commune_id, village_key)]
            area = area or (urban if commune.is_urban else rural)
            is_farm, merit, social, phone = bool(is_farm), bool(merit), bool(social), phone or ""
            # A new household starts unclassified (the checks refused any other classification).
            classification, classification_year = unclassified, None
            household_id = next(household_ids)
            derived = services.derived_values(
                SimpleNamespace(code=code, phone=phone, head_name=head),
                [SimpleNamespace(relation=p[19], full_name=p[4], ethnicity=groups[p[18]]) for p in people])
            head_name = derived["head_name"]
            household_rows.append((
                household_id, commune_id, village_id, code, head_name, area, is_farm, phone, merit, social,
                classification, classification_year, derived["is_ethnic_minority"], derived["member_count"],
                derived["search_text"], 1, stamp, actor, stamp, actor, False, ""))
            changes = {"commune": [None, str(commune)], "village": [None, village_name], "code": [None, code],
                       "head_name": [None, head_name], "area": [None, area], "is_farm": [None, is_farm],
                       "phone": [None, phone], "has_meritorious_member": [None, merit],
                       "is_social_protection": [None, social], "classification": [None, classification]}
            if classification_year is not None:
                changes["classification_year"] = [None, classification_year]
            events.append((stamp, actor, source, create, household_type, household_id,
                           f"{code} – {head_name}"[:200], household_id, dumps(changes), "", reference))
            for person in people:
                (_k, _n, _c, _code, name, _vk, _a, _f, _p, _m, _s, _cl, _cy, sex, birth_date, birth_year, pid,
                 legacy, ethnicity_id, relation, insured) = person[:21]
                member_id = next(member_ids)
                birth_date = _as_date(birth_date)
                insured, pid = bool(insured), pid or ""
                member_rows.append((
                    member_id, household_id, name, _fold(name), sex, birth_date, birth_year, pid, bool(legacy),
                    ethnicity_id, relation, insured, stamp, stamp, False, ""))
                changes = {"full_name": [None, name], "sex": [None, sex]}
                if birth_date is not None:
                    changes["birth_date"] = [None, birth_date.isoformat()]
                changes.update({"birth_year": [None, birth_year], "personal_id": [None, pid],
                                "ethnicity": [None, groups[ethnicity_id].name], "relation": [None, relation],
                                "has_health_insurance": [None, insured]})
                events.append((stamp, actor, source, create, member_type, member_id, name[:200], household_id,
                               dumps(changes), "", reference))
        households_out.write(household_rows)
        members_out.write(member_rows)
        events_out.write(events)
        written += len(records)
        if progress:
            progress(done + written, 0)
    for commune_id in commune_ids:
        services.queue_summary_refresh(commune_id)
    return written


# On PostgreSQL, new households are loaded by the server itself from the parked rows:
# one statement per slice of households inserts the households (their derived
# columns computed from their members' rows), their members, and one audit event
# per created record, in the order the Python writer above uses. Nothing goes
# through Python row by row. Each statement reads the batch's parked rows whole, so
# few large statements: at 100,000 households one statement took 16 s where five
# took 21.5 s.
HOUSEHOLDS_PER_STATEMENT = 100_000


def _slices(batch: ImportBatch, new_households: int) -> Iterator[tuple[str, str | None]]:
    """(lower, upper] bounds of sort keys, HOUSEHOLDS_PER_STATEMENT new households each."""
    last = ""
    if new_households <= HOUSEHOLDS_PER_STATEMENT:
        yield last, None
        return
    while True:
        row = _fetch(
            f"SELECT sort_key FROM {_table(StagedRow)} WHERE batch_id = %s AND kind = 'households' "  # noqa: S608
            f"AND NOT existing AND {_ACCEPTED} AND sort_key > %s ORDER BY sort_key OFFSET %s LIMIT 1",
            [batch.pk, last, HOUSEHOLDS_PER_STATEMENT - 1])
        upper = row[0][0] if row else None
        yield last, upper
        if upper is None:
            return
        last = upper


def _rest(layout: _Layout, given: tuple[str, ...]) -> tuple[str, list[Any]]:
    """The SELECT list's tail for the columns not given: one parameter per default."""
    extra = layout.columns[len(given):]
    return "".join(", %s" for _column in extra), list(layout.defaults)


# The "changes" of the audit events the bulk load writes, as the row writer builds
# them: (key, SQL expression, its JSON type). Built as JSON text and cast once, which
# the server does in about two thirds of the time of jsonb_build_object.
HOUSEHOLD_CHANGES = (
    ("commune", "h.label", str), ("village", "h.village_name", str), ("code", "h.code", str),
    ("head_name", "hins.head_name", str), ("area", "h.area", str), ("is_farm", "h.is_farm", bool),
    ("phone", "h.phone", str), ("has_meritorious_member", "h.merit", bool),
    ("is_social_protection", "h.social", bool), ("classification", "h.classification", str),
)
MEMBER_CHANGES = (
    ("full_name", "mins.full_name", str), ("sex", "mins.sex", str), ("birth_year", "mins.birth_year", int),
    ("personal_id", "mins.personal_id", str), ("ethnicity", "e.name", str),
    ("relation", "mins.relation", str), ("has_health_insurance", "mins.has_health_insurance", bool),
)


def _json_value(expression: str, kind: type) -> str:
    """SQL for the JSON text of a value that is never NULL."""
    return f"to_json({expression})::text" if kind is str else f"({expression})::text"


def _changes(fields, *, optional: tuple[str, str, type]) -> str:
    """SQL building {"key": [null, value], ...}::jsonb, with `optional` only when not NULL."""
    parts = " || ', ' || ".join(f"'\"{key}\": [null, ' || {_json_value(expression, kind)} || ']'"
                                for key, expression, kind in fields)
    key, expression, kind = optional
    extra = (f"CASE WHEN {expression} IS NULL THEN '' "
             f"ELSE ', \"{key}\": [null, ' || {_json_value(expression, kind)} || ']' END")
    return f"('{{' || {parts} || {extra} || '}}')::jsonb"


def _write_new_in_sql(batch: ImportBatch, communes: dict[int, AdminUnit], progress, done: int,
                      tally: _Tally) -> int:
    user = batch.created_by
    staged, q = _table(StagedRow), connection.ops.quote_name
    household_given = tuple(c for c in _HOUSEHOLD_GIVEN if c != "id")
    member_given = tuple(c for c in _MEMBER_GIVEN if c != "id")
    households_out, members_out, events_out = (_Layout(Household, household_given), _Layout(Member, member_given),
                                               _Layout(AuditEvent, _EVENT_GIVEN))
    household_rest, household_defaults = _rest(households_out, household_given)
    member_rest, member_defaults = _rest(members_out, member_given)
    event_rest, event_defaults = _rest(events_out, _EVENT_GIVEN)
    names = {name: ", ".join(q(c) for c in out.columns)
             for name, out in (("h", households_out), ("m", members_out), ("e", events_out))}
    household_type = ContentType.objects.get_for_model(Household).pk
    member_type = ContentType.objects.get_for_model(Member).pk
    now = timezone.now()
    actor = user.pk if getattr(user, "pk", None) else None
    ids = sorted(communes)
    accepted = "s.batch_id = %s AND NOT s.existing AND s.issues = '' AND s.problem = ''"
    # A new household starts unclassified (the checks refused any other classification).
    unclassified = Household.Classification.NONE.value
    expected = tally.created
    written = 0
    # The slices' sorts and hashes in memory rather than in temporary files (this transaction only).
    _execute("SET LOCAL work_mem = '64MB'")
    for lower, upper in _slices(batch, tally.new_households):
        within = "s.sort_key > %s" + ("" if upper is None else " AND s.sort_key <= %s")
        bounds = [lower] if upper is None else [lower, upper]
        sql = f"""
WITH c (id, label, urban) AS (SELECT * FROM unnest(%s::bigint[], %s::text[], %s::boolean[])),
m AS (
    SELECT s.commune_id, s.code, COUNT(*) AS members,
           MIN(s.name) FILTER (WHERE s.relation = 'head') AS head,
           bool_or(e.is_minority) FILTER (WHERE s.relation = 'head') AS minority,
           string_agg(NULLIF(s.name_key, ''), ' ' ORDER BY s.name COLLATE "C") AS names
    FROM {staged} s JOIN {_table(Ethnicity)} e ON e.id = s.ethnicity_id
    WHERE {accepted} AND s.kind = 'members' AND {within}
    GROUP BY s.commune_id, s.code
),
h AS (
    SELECT s.sort_key, s.commune_id, v.id AS village_id, v.name AS village_name, s.code, m.head,
           CASE WHEN s.area <> '' THEN s.area WHEN c.urban THEN 'urban' ELSE 'rural' END AS area,
           COALESCE(s.is_farm, FALSE) AS is_farm, COALESCE(s.phone, '') AS phone, COALESCE(s.merit, FALSE) AS merit,
           COALESCE(s.social, FALSE) AS social, '{unclassified}'::text AS classification,
           NULL::smallint AS classification_year,
           COALESCE(m.minority, FALSE) AS minority, m.members,
           concat_ws(' ', NULLIF(s.search_key, ''), m.names) AS search_text, c.label
    FROM {staged} s
    JOIN m ON m.commune_id = s.commune_id AND m.code = s.code
    JOIN c ON c.id = s.commune_id
    JOIN {_table(Village)} v ON v.commune_id = s.commune_id AND v.search_name = s.village_key
    WHERE {accepted} AND s.kind = 'households' AND {within}
),
hins AS (
    INSERT INTO {_table(Household)} ({names["h"]})
    SELECT commune_id, village_id, code, head, area, is_farm, phone, merit, social, classification,
           classification_year, minority, members, search_text, 1, %s, %s, %s, %s, FALSE, ''{household_rest}
    FROM h ORDER BY sort_key
    RETURNING id, commune_id, code, head_name
),
mins AS (
    INSERT INTO {_table(Member)} ({names["m"]})
    SELECT hins.id, s.name, s.name_key, s.sex, s.birth_date, s.birth_year, COALESCE(s.pid, ''),
           COALESCE(s.pid_legacy, FALSE),
           s.ethnicity_id, s.relation, COALESCE(s.insured, FALSE), %s, %s, FALSE, ''{member_rest}
    FROM {staged} s JOIN hins ON hins.commune_id = s.commune_id AND hins.code = s.code
    WHERE {accepted} AND s.kind = 'members' AND {within}
    ORDER BY s.sort_key, s.row
    RETURNING id, household_id, full_name, sex, birth_date, birth_year, personal_id, ethnicity_id, relation,
              has_health_insurance
)
INSERT INTO {_table(AuditEvent)} ({names["e"]})
SELECT %s, %s, %s, %s, content_type, object_id, object_repr, household_id, changes, '', %s{event_rest}
FROM (
    SELECT hins.id AS household_id, 0 AS kind, hins.id AS object_id, %s AS content_type,
           left(hins.code || ' – ' || hins.head_name, 200) AS object_repr,
           {_changes(HOUSEHOLD_CHANGES, optional=("classification_year", "h.classification_year", int))} AS changes
    FROM hins JOIN h ON h.commune_id = hins.commune_id AND h.code = hins.code
    UNION ALL
    SELECT mins.household_id, 1, mins.id, %s, left(mins.full_name, 200),
           {_changes(MEMBER_CHANGES, optional=("birth_date", "to_char(mins.birth_date, 'YYYY-MM-DD')", str))}
    FROM mins JOIN {_table(Ethnicity)} e ON e.id = mins.ethnicity_id
) events
ORDER BY household_id, kind, object_id
"""  # noqa: S608
        params = [
            ids, [str(communes[pk]) for pk in ids], [communes[pk].is_urban for pk in ids],
            batch.pk, *bounds,
            batch.pk, *bounds,
            now, actor, now, actor, *household_defaults,
            now, now, *member_defaults,
            batch.pk, *bounds,
            now, actor, AuditEvent.Source.IMPORT, AuditEvent.Action.CREATE, batch.reference, *event_defaults,
            household_type, member_type,
        ]
        written += _execute(sql, params)
        if progress:
            progress(done + written, 0)
    if written != expected:
        # A parked row that found no village, household or ethnic group: never write part of a file.
        raise RuntimeError(f"the bulk load wrote {written} of {expected} rows")
    return written


# -- the steps ---------------------------------------------------------------------------------


@dataclass
class _Tally:
    """The parked rows of a batch counted once, after the checks across rows."""

    rows: int
    rejected: int
    created: int  # accepted rows of new households
    stored: int  # accepted rows of households in the register
    new_households: int
    new_communes: list[int]

    @classmethod
    def of(cls, batch: ImportBatch) -> _Tally:
        accepted = _ACCEPTED
        tally = cls(0, 0, 0, 0, 0, [])
        for commune_id, rows, rejected, created, stored, households in _fetch(
            f"SELECT commune_id, COUNT(*), "  # noqa: S608
            f"SUM(CASE WHEN {accepted} THEN 0 ELSE 1 END), "
            f"SUM(CASE WHEN {accepted} AND NOT existing THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {accepted} AND existing THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN {accepted} AND NOT existing AND kind = 'households' THEN 1 ELSE 0 END) "
            f"FROM {_table(StagedRow)} WHERE batch_id = %s GROUP BY commune_id", [batch.pk]
        ):
            tally.rows += rows
            tally.rejected += rejected
            tally.created += created
            tally.stored += stored
            tally.new_households += households
            if created:
                tally.new_communes.append(commune_id)
        return tally


def _assess(batch: ImportBatch, *, write: bool, progress: importer.Progress | None):
    """Check across rows, plan the stored households, and (when writing and
    allowed) write everything. Returns (issues, counts, rows)."""
    fingerprint = _register_fingerprint(batch)
    if not write or fingerprint != batch.register_fingerprint:
        # The import job finds the statistics the check left (the parked rows are the same).
        _cross_checks(batch, analyze=not write)
    batch.register_fingerprint = fingerprint
    tally = _Tally.of(batch)
    total = tally.rows
    may_write = write and (batch.valid_rows_only or not tally.rejected)
    if tally.stored:
        stored_issues, counts, _rows = _plan_stored(batch, write=may_write, progress=progress)
    else:
        stored_issues, counts = [], Counter()
        batch.changes = []
    counts["created"] += tally.created
    if may_write and (batch.valid_rows_only or not stored_issues):
        _write_new(batch, progress, 0, tally)
    counts["rejected"] += tally.rejected
    issues = _staged_issues(batch, MAX_LISTED_ISSUES) + stored_issues
    if progress:
        progress(total, total)
    return issues, dict(counts), total


def check(batch: ImportBatch, tables: Iterable, progress: importer.Progress | None = None):
    """Park the file and check all of it; write nothing to the register."""
    tables = list(tables)
    stage(batch, tables, progress)
    refused = importer.plan_import([t for t in tables if t.missing_required], batch.created_by)
    issues, counts, total = _assess(batch, write=False, progress=progress)
    counts["rejected"] = counts.get("rejected", 0) + len(refused.rejected_rows)
    return refused.issues + issues, counts, total


def run(batch: ImportBatch, progress: importer.Progress | None = None):
    """Check again and write, all in one transaction: any rejected row (unless the
    user chose the valid rows only) undoes everything."""
    if not StagedRow.objects.filter(batch=batch).exists():
        raise ValidationError(_("The checked rows of this file are no longer available; upload it again."))
    with transaction.atomic():
        issues, counts, total = _assess(batch, write=True, progress=progress)
        if issues and not batch.valid_rows_only:
            raise Rejected(issues, counts, total)
    StagedRow.objects.filter(batch=batch).delete()
    return issues, counts, total


def discard(batch: ImportBatch) -> None:
    StagedRow.objects.filter(batch=batch).delete()
