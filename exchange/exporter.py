"""Exports in the exchange format: the sheets of `columns.py`, as CSV or XLSX.

An export is what the importer reads back: the same headers in the same
order, the same Vietnamese labels, codes and IDs as text. Exporting a file and
importing it again changes nothing (for users who see personal IDs whole;
everyone else gets them masked, as on the pages).

Every export is scoped by `Household.objects.for_user(user)` or
`Member.objects.for_user(user)`: the one scoping path. Rows are streamed:
one query per export whatever the number of rows (the related names come from
joins, never from a query per row), read in chunks, and written as they come,
so a province of a million people never sits in memory.

A kind of export is a *row source* registered with `@row_source(SHEET)`: a
function of (user, include_archived) yielding one dict per row keyed by the
sheet's column keys. A source may lay out more columns than its sheet (the
survey export adds the result after the Phiếu B columns); the importer reports
such columns as unknown and ignores them.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

from django.db.models import Case, IntegerField, Value, When
from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from core.text import fold
from households.models import Household, Member
from households.validators import mask_personal_id

from .columns import HOUSEHOLDS, MEMBERS, SURVEYS, Column, Sheet
from .values import (
    format_area,
    format_classification,
    format_date,
    format_relation,
    format_sex,
    format_yes_no,
)

# Rows per worksheet in Excel 2007 and later, the header row included.
EXCEL_MAX_ROWS = 1_048_576
# Rows fetched from the database at a time.
CHUNK_SIZE = 2000
# CSV text is encoded and handed on in pieces of about this many characters:
# small enough to start the download at once, large enough not to send a
# network packet per row.
CSV_PIECE = 64 * 1024
# A byte-order mark: without it Excel on Windows reads UTF-8 as the local code
# page and turns "Giàng" into "GiÃ ng".
UTF8_BOM = "\ufeff"

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# A text cell starting with one of these is taken by Excel (and LibreOffice,
# Google Sheets) as a formula, which could run commands or leak data when the
# file is opened. Such text is written with a leading apostrophe; the
# importer removes it again.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"

# Excel's "Text" number format: a cell in it keeps "02794" as typed when a
# person edits it, instead of turning it into the number 2794.
TEXT_FORMAT = "@"
_BOLD = Font(bold=True)

CellValue = str | int | None
RowSource = Callable[[Any, bool], Iterable[Mapping[str, CellValue]]]


class ExportError(ValueError):
    """An export that cannot be made as asked (unknown kind or format, bad limit)."""


@dataclass(frozen=True)
class Source:
    sheet: Sheet
    rows: RowSource


SOURCES: dict[str, Source] = {}


def row_source(sheet: Sheet) -> Callable[[RowSource], RowSource]:
    """Register `rows(user, include_archived)` as the source of `sheet`'s export
    (`sheet` is the export's layout: a sheet of `columns.py`, or one extending it)."""

    def register(rows: RowSource) -> RowSource:
        SOURCES[sheet.kind] = Source(sheet, rows)
        return rows

    return register


def kinds() -> tuple[str, ...]:
    """The kinds that can be exported now."""
    return tuple(SOURCES)


def _source(kind: str) -> Source:
    try:
        return SOURCES[kind]
    except KeyError:
        raise ExportError(
            _("Unknown kind of export “%(kind)s”; choose one of: %(kinds)s.")
            % {"kind": kind, "kinds": ", ".join(kinds())}
        ) from None


# -- row sources --------------------------------------------------------------------

@row_source(HOUSEHOLDS)
def household_rows(user, include_archived: bool) -> Iterator[dict[str, CellValue]]:
    households = Household.objects.for_user(user)
    if not include_archived:
        households = households.filter(is_archived=False)
    # values_list, not model instances: the joins bring the commune code and the
    # village name in the same query, and a tuple per row costs a fraction of a
    # model instance. The commune's id after its code keeps apart the communes
    # of the 2021 and 2025 maps that share a code.
    rows = households.order_by("commune__code", "commune_id", "code").values_list(
        "commune__code", "code", "village__name", "head_name", "area", "is_farm", "phone",
        "classification", "classification_year", "has_meritorious_member", "is_social_protection",
    )
    for (commune, code, village, head, area, farm, phone, classification, year, merit,
         social) in rows.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "ma_xa": commune,
            "ma_ho": code,
            "thon": village,
            "chu_ho": head,
            "khu_vuc": format_area(area),
            "nong_nghiep": format_yes_no(farm),
            "dien_thoai": phone,
            "phan_loai": format_classification(classification),
            "nam_phan_loai": year,
            "nguoi_co_cong": format_yes_no(merit),
            "bao_tro_xa_hoi": format_yes_no(social),
        }


@row_source(MEMBERS)
def member_rows(user, include_archived: bool) -> Iterator[dict[str, CellValue]]:
    members = Member.objects.for_user(user)
    if not include_archived:
        # A current member of an archived household is not current either: its
        # household is missing from the households export, and the importer
        # could not place the row.
        members = members.filter(is_archived=False, household__is_archived=False)
    # Whole personal IDs only for the people who see them whole on the pages.
    full_ids = bool(getattr(user, "sees_full_personal_ids", False))
    head_first = Case(When(relation=Member.Relation.HEAD, then=Value(0)), default=Value(1),
                      output_field=IntegerField())
    rows = members.order_by(
        "household__commune__code", "household__commune_id", "household__code", head_first, "birth_year", "pk",
    ).values_list(
        "household__commune__code", "household__code", "full_name", "sex", "birth_date", "birth_year",
        "personal_id", "ethnicity__name", "relation", "has_health_insurance",
    )
    for (commune, code, name, sex, birth_date, birth_year, personal_id, ethnicity, relation,
         insured) in rows.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "ma_xa": commune,
            "ma_ho": code,
            "ho_ten": name,
            "gioi_tinh": format_sex(sex),
            "ngay_sinh": format_date(birth_date, birth_year),
            "so_dinh_danh": personal_id if full_ids else mask_personal_id(personal_id),
            "dan_toc": ethnicity,
            "quan_he": format_relation(relation),
            "bhyt": format_yes_no(insured),
        }


# The Phiếu B sheet and, after it, the result the application computed: for
# reading, not for importing (the importer ignores these columns; the
# classification is always the application's own).
SURVEY_EXPORT = Sheet(SURVEYS.kind, SURVEYS.title, (
    *SURVEYS.columns,
    Column("phan_loai", "Phân loại"),
    Column("so_chi_so_thieu", "Số chỉ số thiếu hụt"),
    Column("giai_thich", "Giải thích"),
))


@row_source(SURVEY_EXPORT)
def survey_rows(user, include_archived: bool) -> Iterator[dict[str, CellValue]]:
    """One row per surveyed household of a periodic review (the rounds a "Năm rà
    soát" names), by commune, household and year."""
    from reviews.models import ReviewRound, Survey
    from reviews.phieu_b import INDICATOR_OF_COLUMN, format_causes

    surveys = Survey.objects.for_user(user).filter(status=Survey.Status.SURVEYED,
                                                   round__kind=ReviewRound.Kind.PERIODIC)
    if not include_archived:
        surveys = surveys.filter(household__is_archived=False)
    rows = surveys.order_by(
        "household__commune__code", "household__commune_id", "household__code", "round__year",
    ).values_list(
        "household__commune__code", "household__code", "round__year", "income", "score_a", "deprivations",
        "is_farm", "causes", "category", "deprivation_count", "explanation",
    )
    for (commune, code, year, income, score_a, deprivations, farm, causes, category, count,
         explanation) in rows.iterator(chunk_size=CHUNK_SIZE):
        deprivations = deprivations or {}
        row: dict[str, CellValue] = {
            "ma_xa": commune,
            "ma_ho": code,
            "nam": year,
            "thu_nhap": income,
            "diem_a": score_a,
        }
        # The columns hold the standard's answers by indicator code; a code the
        # round's standard does not have is left empty.
        for key, indicator in INDICATOR_OF_COLUMN.items():
            row[key] = format_yes_no(deprivations[indicator]) if indicator in deprivations else None
        row.update({
            "nong_nghiep": format_yes_no(farm),
            "nguyen_nhan": format_causes(causes),
            "phan_loai": format_classification(category),
            "so_chi_so_thieu": count,
            "giai_thich": explanation,
        })
        yield row


# -- cells ------------------------------------------------------------------------------

def escape_formula(value: CellValue) -> CellValue:
    """Text that a spreadsheet would run as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return ESCAPE + value
    return value


def _values(sheet: Sheet, row: Mapping[str, CellValue]) -> list[CellValue]:
    # row[key], not row.get(key): a column added to columns.py without a value
    # in its row source fails loudly in the tests instead of exporting blanks.
    # Not yet escaped: each format escapes the text as it will finally be written.
    return [row[key] for key in sheet.keys]


def _headers(sheet: Sheet) -> list[str]:
    return [column.header for column in sheet.columns]


# -- CSV -------------------------------------------------------------------------------

def _csv_pieces(sheet: Sheet, rows: Iterable[Mapping[str, CellValue]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    # The csv module's default dialect: comma, double quotes where needed, CRLF.
    writer = csv.writer(buffer)
    writer.writerow(_headers(sheet))
    for row in rows:
        writer.writerow(["" if value is None else escape_formula(value) for value in _values(sheet, row)])
        if buffer.tell() >= CSV_PIECE:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def stream_csv(kind: str, user, *, include_archived: bool = False,
               on_done: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The export as CSV bytes (UTF-8 with BOM), piece by piece, for StreamingHttpResponse.

    The kind is checked now; the query runs when the first piece is asked for.
    `on_done` is given the number of rows sent once the stream ends (or is cut).
    """
    source = _source(kind)
    rows = source.rows(user, include_archived)
    return _csv_pieces(source.sheet, rows if on_done is None else _counted(rows, on_done))


def _counted(rows: Iterable[Mapping[str, CellValue]], on_done: Callable[[int], None]):
    sent = 0
    try:
        for row in rows:
            sent += 1
            yield row
    finally:
        on_done(sent)


# -- XLSX -------------------------------------------------------------------------------

# Wider columns for names, so a person opening the file can read them.
_WIDTHS = {"thon": 24, "chu_ho": 28, "ho_ten": 28, "nong_nghiep": 34, "phan_loai": 26, "quan_he": 18,
           "giai_thich": 60}

# Codes, IDs and phone numbers: written as text cells (never numbers, so the
# leading zeros are in the file) in Excel's Text format, cells and whole
# columns, so that they stay text when someone edits them or adds rows below.
# Other text is written as plain text cells: formatting every cell made an
# export of 50,000 members about a quarter slower, for no gain.
TEXT_COLUMNS = frozenset({"ma_xa", "ma_ho", "so_dinh_danh", "dien_thoai"})


class _XlsxWriter:
    """Rows into a write-only workbook, on as many sheets as Excel's row limit needs."""

    def __init__(self, sheet: Sheet, sheet_row_limit: int) -> None:
        if sheet_row_limit < 2:
            raise ExportError(_("A sheet must hold at least a header row and one data row."))
        self.sheet = sheet
        self.limit = min(sheet_row_limit, EXCEL_MAX_ROWS)
        self.text_columns = tuple(column.key in TEXT_COLUMNS for column in sheet.columns)
        self.workbook = Workbook(write_only=True)
        self.worksheet: WriteOnlyWorksheet | None = None
        self.used = 0  # rows on the current worksheet, its header included
        self.count = 0  # worksheets so far

    def _new_worksheet(self) -> WriteOnlyWorksheet:
        self.count += 1
        # "Thành viên", then "Thành viên (2)", "Thành viên (3)"…; Excel allows 31 characters.
        suffix = f" ({self.count})" if self.count > 1 else ""
        worksheet = self.workbook.create_sheet(self.sheet.title[: 31 - len(suffix)] + suffix)
        # Column settings must come before the first row of a write-only sheet.
        for index, column in enumerate(self.sheet.columns, 1):
            dimension = worksheet.column_dimensions[get_column_letter(index)]
            dimension.width = _WIDTHS.get(column.key, max(12, len(column.header) + 2))
            if column.key in TEXT_COLUMNS:
                dimension.number_format = TEXT_FORMAT
        worksheet.freeze_panes = "A2"
        header = []
        for title in _headers(self.sheet):
            cell = WriteOnlyCell(worksheet, title)
            cell.font = _BOLD
            header.append(cell)
        worksheet.append(header)
        self.used = 1
        return worksheet

    def append(self, values: list[CellValue]) -> None:
        """One row of raw values (not escaped yet), in the sheet's column order."""
        if self.worksheet is None or self.used >= self.limit:
            self.worksheet = self._new_worksheet()
        worksheet = self.worksheet
        cells: list[CellValue | WriteOnlyCell] = []
        for value, as_text in zip(values, self.text_columns, strict=True):
            if isinstance(value, str):
                # XML cannot hold most control characters (openpyxl refuses
                # them); they are dropped before the escape, so that "\x01=…"
                # cannot turn into a formula once its first character is gone.
                value = escape_formula(ILLEGAL_CHARACTERS_RE.sub("", value))
                if as_text:
                    cell = WriteOnlyCell(worksheet, value)
                    cell.number_format = TEXT_FORMAT
                    cells.append(cell)
                    continue
            cells.append(value)  # other text as text, years as numbers, None as nothing
        worksheet.append(cells)
        self.used += 1

    def save(self, out: IO[bytes] | str | os.PathLike[str]) -> None:
        if self.worksheet is None:  # no rows: still a sheet with its header
            self.worksheet = self._new_worksheet()
        self.workbook.save(out)


def _write_xlsx(sheet: Sheet, rows: Iterable[Mapping[str, CellValue]], out, sheet_row_limit: int) -> int:
    writer = _XlsxWriter(sheet, sheet_row_limit)
    written = 0
    for row in rows:
        writer.append(_values(sheet, row))
        written += 1
    writer.save(out)
    return written


def _write_csv(sheet: Sheet, rows: Iterable[Mapping[str, CellValue]], out: IO[bytes]) -> int:
    written = 0

    def counted() -> Iterator[Mapping[str, CellValue]]:
        nonlocal written
        for row in rows:
            written += 1
            yield row

    for piece in _csv_pieces(sheet, counted()):
        out.write(piece)
    return written


# -- entry points -----------------------------------------------------------------------

def export(kind: str, user, fmt: str, out: IO[bytes] | str | os.PathLike[str], *,
           include_archived: bool = False, sheet_row_limit: int = EXCEL_MAX_ROWS) -> int:
    """Write the `kind` export of what `user` may see to `out` (a binary file or a path).

    Returns the number of data rows written (headers not counted). XLSX data
    past `sheet_row_limit` rows per sheet (header included) continue on a new
    sheet "<title> (2)", each with its own header row; CSV is one table.
    """
    source = _source(kind)
    if fmt not in FORMATS:
        raise ExportError(_("Unknown format “%(format)s”; choose csv or xlsx.") % {"format": fmt})
    rows = source.rows(user, include_archived)
    if fmt == "xlsx":
        return _write_xlsx(source.sheet, rows, out, sheet_row_limit)
    if isinstance(out, str | os.PathLike):
        with Path(out).open("wb") as handle:
            return _write_csv(source.sheet, rows, handle)
    return _write_csv(source.sheet, rows, out)


def file_name(kind: str, fmt: str, day: date | None = None) -> str:
    """"ho-gia-dinh-20251122.xlsx": the sheet's title without diacritics, and the date."""
    stem = "-".join(fold(_source(kind).sheet.title).split())
    return f"{stem}-{(day or timezone.localdate()):%Y%m%d}.{fmt}"


def export_response(user, kind: str, fmt: str, *, include_archived: bool = False,
                    on_done: Callable[[int], None] | None = None) -> HttpResponseBase:
    """A download of the export: CSV streamed as it is read, XLSX from a temporary file.

    An XLSX file is a zip whose directory is written last, so it cannot be sent
    before it is finished; the temporary file keeps it out of memory meanwhile.
    `on_done` is given the number of rows written (the access log's count).
    """
    name = file_name(kind, fmt)
    if fmt == "csv":
        response = StreamingHttpResponse(stream_csv(kind, user, include_archived=include_archived, on_done=on_done),
                                         content_type=CONTENT_TYPES["csv"])
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response
    try:
        written = export(kind, user, fmt, handle, include_archived=include_archived)
    except BaseException:
        handle.close()
        raise
    if on_done is not None:
        on_done(written)
    handle.seek(0)
    return FileResponse(handle, as_attachment=True, filename=name, content_type=CONTENT_TYPES[fmt])


# -- the official lists of a decision (Mẫu 02) ----------------------------------------------
#
# The commune chairman's decision recognises four lists: poor households,
# near-poor households, households that escaped poverty and households that
# escaped near-poverty (Decision 24/2021/QĐ-TTg). Each list is exported as
# staff file it: title rows ("UBND XÃ …", "DANH SÁCH HỘ NGHÈO NĂM …", the
# decision), an STT column, the household columns of the exchange format plus
# the members, ethnic minority and movement, and a signature block. The
# reader skips the title rows, the STT column and everything from the total
# line down, so the household columns of a list read back as a households
# sheet; the three extra columns are reported as unknown and ignored.
#
# Like the rest of the format, the text of the file is the fixed Vietnamese of
# the official forms, whatever the language of the page it was asked from.

LISTS = "lists"


@dataclass(frozen=True)
class OfficialList:
    key: str  # as in reviews.selectors.decision_lists
    sheet_title: str  # the worksheet's name (at most 31 characters with " (2)")
    title: str  # the list's title, with %(year)s
    file_stem: str  # the CSV file's name in the zip, with %(year)s


OFFICIAL_LISTS = (
    OfficialList("poor", "DS hộ nghèo", "DANH SÁCH HỘ NGHÈO NĂM %(year)s", "ds-ho-ngheo-%(year)s"),
    OfficialList("near_poor", "DS hộ cận nghèo", "DANH SÁCH HỘ CẬN NGHÈO NĂM %(year)s",
                 "ds-ho-can-ngheo-%(year)s"),
    OfficialList("escaped_poor", "DS hộ thoát nghèo", "DANH SÁCH HỘ THOÁT NGHÈO NĂM %(year)s",
                 "ds-ho-thoat-ngheo-%(year)s"),
    OfficialList("escaped_near_poor", "DS hộ thoát cận nghèo", "DANH SÁCH HỘ THOÁT CẬN NGHÈO NĂM %(year)s",
                 "ds-ho-thoat-can-ngheo-%(year)s"),
)

# The household columns of the exchange format, then what the printed lists add.
LIST_SHEET = Sheet(LISTS, "Danh sách", (
    *(HOUSEHOLDS.column(key) for key in ("ma_xa", "ma_ho", "thon", "chu_ho", "khu_vuc", "phan_loai",
                                         "nam_phan_loai")),
    Column("so_nhan_khau", "Số nhân khẩu"),
    Column("dan_toc_thieu_so", "Hộ dân tộc thiểu số"),
    Column("bien_dong", "Biến động"),
))
ROW_NUMBER_HEADER = "STT"

# Form 7.2 of Circular 07/2021, in the words of the official forms.
MOVEMENT_LABELS: dict[str, str] = {
    "unchanged": "Không thay đổi",
    "escaped_near": "Thoát nghèo, trở thành hộ cận nghèo",
    "escaped_above": "Thoát nghèo, vượt chuẩn cận nghèo",
    "near_to_poor": "Từ hộ cận nghèo thành hộ nghèo",
    "re_poor": "Tái nghèo",
    "newly_poor": "Nghèo phát sinh",
    "newly_near": "Cận nghèo phát sinh",
    "escaped_np": "Thoát cận nghèo",
    "moved_in": "Chuyển đến",
    "moved_out": "Chuyển đi",
    "split": "Tách hộ",
    "merged": "Nhập hộ",
    "died": "Qua đời",
}
# Decisions named one by one in a list's title; more are counted.
MAX_DECISIONS_NAMED = 3


@dataclass(frozen=True)
class ListScope:
    """Which official lists: one decided round's, or a year's across the user's area
    (optionally one commune code)."""

    year: int
    round_id: int | None = None
    commune_code: str = ""


@dataclass(frozen=True)
class _Heading:
    """What the title rows and the signature block say."""

    unit: str  # "UBND XÃ TẢ THÀNG", or "" when the lists span units with no common one
    decision: str  # "(Kèm theo Quyết định số … ngày … của Chủ tịch UBND …)"
    place_date: str  # "Xã Tả Thàng, ngày 14 tháng 12 năm 2025"
    signer: str


def _unit_name(name: str, kind: str) -> str:
    """"Xã Tả Thàng"; a unit whose name leaves its kind out ("Lào Cai", Tỉnh) gets it in front."""
    if kind and not fold(name).startswith(fold(kind)):
        return f"{kind} {name}"
    return name


def _date_words(day: date) -> str:
    return f"ngày {day:%d} tháng {day:%m} năm {day:%Y}"


def _decided_rounds(user, scope: ListScope):
    from reviews.models import ReviewRound

    rounds = ReviewRound.objects.for_user(user).filter(status=ReviewRound.Status.DECIDED)
    if scope.round_id is not None:
        return rounds.filter(pk=scope.round_id)
    rounds = rounds.filter(year=scope.year)
    if scope.commune_code:
        rounds = rounds.filter(commune__code=scope.commune_code)
    return rounds


def _heading(user, scope: ListScope) -> _Heading:
    """Two small queries: the communes and the first decisions of the scope."""
    rounds = _decided_rounds(user, scope)
    communes = rounds.values("commune_id").distinct().count()
    decisions = list(rounds.order_by("decision_date", "pk").values_list(
        "commune__name", "commune__kind", "decision_number", "decision_date", "decision_signer",
    )[: MAX_DECISIONS_NAMED + 1])
    today = timezone.localdate()
    if communes == 1:
        name = _unit_name(decisions[0][0], decisions[0][1])
        # "Chủ tịch UBND xã Tả Thàng": the kind in lower case inside a sentence.
        kind = decisions[0][1]
        in_sentence = kind.lower() + name[len(kind):] if kind and name.startswith(kind) else name
        named = [f"số {number} ngày {day:%d/%m/%Y}" for _name, _kind, number, day, _signer in decisions]
        if len(decisions) <= MAX_DECISIONS_NAMED:
            word = "Quyết định" if len(decisions) == 1 else "các Quyết định"
            decision = f"(Kèm theo {word} {'; '.join(named)} của Chủ tịch UBND {in_sentence})"
        else:
            count = rounds.count()
            decision = f"(Kèm theo {count} quyết định năm {scope.year} của Chủ tịch UBND {in_sentence})"
        last = decisions[-1] if len(decisions) <= MAX_DECISIONS_NAMED else None
        day = last[3] if last else today
        signer = last[4] if last else ""
        return _Heading(f"UBND {name.upper()}", decision, f"{name}, {_date_words(day)}", signer)
    unit = getattr(user, "unit", None) if getattr(user, "unit_id", None) else None
    unit_name = _unit_name(unit.name, unit.kind) if unit is not None else ""
    decision = (f"(Tổng hợp theo quyết định công nhận của Chủ tịch UBND {communes} xã, phường, thị trấn)"
                if communes else f"(Chưa có quyết định công nhận năm {scope.year})")
    place = f"{unit_name}, {_date_words(today)}" if unit_name else _date_words(today).capitalize()
    return _Heading(f"UBND {unit_name.upper()}" if unit_name else "", decision, place, "")


def official_list_rows(user, scope: ListScope, key: str) -> Iterator[dict[str, CellValue]]:
    """The households of one official list, streamed: from the official statuses
    (HouseholdStatus) of decided rounds the user may see.

    A round's lists are its decision's. A year's lists take each household's
    last decided status of that year (a regular review after the periodic one
    may have moved it again), so a household is on the lists as the year's
    decisions left it.
    """
    from django.db.models import Exists, OuterRef, Q

    from reviews.models import Category, HouseholdStatus, ReviewRound

    movement = HouseholdStatus.Movement
    decided = ReviewRound.Status.DECIDED
    statuses = HouseholdStatus.objects.for_user(user).filter(round__status=decided)
    if scope.round_id is not None:
        statuses = statuses.filter(round_id=scope.round_id)
    else:
        statuses = statuses.filter(year=scope.year)
        if scope.commune_code:
            statuses = statuses.filter(household__commune__code=scope.commune_code)
        later = HouseholdStatus.objects.filter(
            household_id=OuterRef("household_id"), year=scope.year, round__status=decided,
        ).filter(Q(decided_on__gt=OuterRef("decided_on")) | Q(decided_on=OuterRef("decided_on"),
                                                               pk__gt=OuterRef("pk")))
        statuses = statuses.exclude(Exists(later))
    statuses = statuses.filter({
        "poor": Q(category=Category.POOR),
        "near_poor": Q(category=Category.NEAR_POOR),
        "escaped_poor": Q(movement__in=[movement.ESCAPED_TO_NEAR_POOR, movement.ESCAPED_ABOVE]),
        "escaped_near_poor": Q(movement=movement.ESCAPED_NEAR_POVERTY),
    }[key])
    rows = statuses.order_by(
        "household__commune__code", "household__commune_id", "household__village__name", "household__code", "pk",
    ).values_list(
        "household__commune__code", "household__code", "household__village__name", "household__head_name",
        "household__area", "category", "year", "household__member_count", "household__is_ethnic_minority",
        "movement",
    )
    for (commune, code, village, head, area, category, year, members, minority,
         change) in rows.iterator(chunk_size=CHUNK_SIZE):
        yield {
            "ma_xa": commune,
            "ma_ho": code,
            "thon": village,
            "chu_ho": head,
            "khu_vuc": format_area(area),
            "phan_loai": format_classification(category),
            "nam_phan_loai": year,
            "so_nhan_khau": members,
            "dan_toc_thieu_so": format_yes_no(minority),
            "bien_dong": MOVEMENT_LABELS.get(change, change),
        }


def _preamble(official: OfficialList, heading: _Heading, year: int, width: int) -> list[list[CellValue]]:
    """The rows above the header: the issuing unit and the national motto, the title, the decision."""
    right = width - 4  # the motto stands over the right-hand columns
    first: list[CellValue] = [heading.unit or None] + [None] * (width - 1)
    first[right] = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    second: list[CellValue] = [None] * width
    second[right] = "Độc lập – Tự do – Hạnh phúc"
    return [first, second, [], [official.title % {"year": year}], [heading.decision], []]


def _footer(heading: _Heading, count: int, width: int) -> list[list[CellValue]]:
    """The total and the signature block, below a blank row. The reader stops at the total line."""
    right = width - 4

    def row(left: CellValue = None, at_right: CellValue = None) -> list[CellValue]:
        cells: list[CellValue] = [None] * width
        cells[1], cells[right] = left, at_right
        return cells

    return [
        [],
        row(f"Tổng số: {count} hộ"),
        row(None, heading.place_date),
        row("Người lập biểu", "TM. ỦY BAN NHÂN DÂN"),
        row("(Ký, ghi rõ họ tên)", "CHỦ TỊCH"),
        row(None, "(Ký, ghi rõ họ tên, đóng dấu)"),
        [], [], [],
        row(None, heading.signer or None),
    ]


def _list_headers() -> list[str]:
    return [ROW_NUMBER_HEADER, *_headers(LIST_SHEET)]


_BIG_BOLD = Font(bold=True, size=13)
_LIST_WIDTHS = {"thon": 22, "chu_ho": 26, "khu_vuc": 12, "phan_loai": 22, "dan_toc_thieu_so": 12, "bien_dong": 34}


class _ListSheets:
    """One official list into a write-only workbook: title rows, numbered rows over
    as many sheets as the row limit needs (each with its header), the signature block."""

    def __init__(self, workbook: Workbook, official: OfficialList, heading: _Heading, year: int,
                 limit: int) -> None:
        self.workbook, self.official, self.heading, self.year, self.limit = workbook, official, heading, year, limit
        self.width = len(LIST_SHEET.columns) + 1
        self.text_columns = (False, *(column.key in TEXT_COLUMNS for column in LIST_SHEET.columns))
        self.worksheet: WriteOnlyWorksheet | None = None
        self.used = 0
        self.count = 0
        self.numbered = 0

    def _cell(self, value: CellValue, *, as_text: bool = False, font: Font | None = None):
        worksheet = self.worksheet
        if isinstance(value, str):
            value = escape_formula(ILLEGAL_CHARACTERS_RE.sub("", value))
        if not (as_text or font) or value is None:
            return value
        cell = WriteOnlyCell(worksheet, value)
        if as_text:
            cell.number_format = TEXT_FORMAT
        if font:
            cell.font = font
        return cell

    def _append(self, values: list[CellValue], *, font: Font | None = None) -> None:
        self.worksheet.append([self._cell(value, font=font) for value in values])
        self.used += 1

    def _new_worksheet(self) -> None:
        self.count += 1
        suffix = f" ({self.count})" if self.count > 1 else ""
        worksheet = self.workbook.create_sheet(self.official.sheet_title[: 31 - len(suffix)] + suffix)
        self.worksheet = worksheet
        worksheet.column_dimensions["A"].width = 6
        for index, column in enumerate(LIST_SHEET.columns, 2):
            dimension = worksheet.column_dimensions[get_column_letter(index)]
            dimension.width = _LIST_WIDTHS.get(column.key, max(10, len(column.header) + 2))
            if column.key in TEXT_COLUMNS:
                dimension.number_format = TEXT_FORMAT
        preamble = _preamble(self.official, self.heading, self.year, self.width) if self.count == 1 else []
        # Sheet settings come before the first row of a write-only sheet.
        worksheet.freeze_panes = f"A{len(preamble) + 2}"
        self.used = 0
        for index, row in enumerate(preamble):
            self._append(row, font=_BIG_BOLD if index == 3 else _BOLD if index < 2 else None)
        self._append(_list_headers(), font=_BOLD)

    def start(self) -> None:
        self._new_worksheet()

    def append(self, row: Mapping[str, CellValue]) -> None:
        if self.used >= self.limit:
            self._new_worksheet()
        self.numbered += 1
        values = [self.numbered, *_values(LIST_SHEET, row)]
        self.worksheet.append([self._cell(value, as_text=as_text)
                               for value, as_text in zip(values, self.text_columns, strict=True)])
        self.used += 1

    def finish(self) -> None:
        footer = _footer(self.heading, self.numbered, self.width)
        if self.used + len(footer) > self.limit:
            self._new_worksheet()  # the signature block is never split from its header
        for index, row in enumerate(footer):
            self._append(row, font=_BOLD if index in (1, 3, 4) else None)


def _check_list_limit(sheet_row_limit: int) -> int:
    limit = min(sheet_row_limit, EXCEL_MAX_ROWS)
    # Room on the first sheet for the title rows, the header and a row; on a
    # continuation for the header and the signature block.
    needed = max(len(_preamble(OFFICIAL_LISTS[0], _Heading("", "", "", ""), 0, 12)) + 2,
                 len(_footer(_Heading("", "", "", ""), 0, 12)) + 1)
    if limit < needed:
        raise ExportError(_("A sheet of the official lists must hold at least %(count)d rows.")
                          % {"count": needed})
    return limit


def _write_lists_xlsx(user, scope: ListScope, out, sheet_row_limit: int) -> dict[str, int]:
    limit = _check_list_limit(sheet_row_limit)
    heading = _heading(user, scope)
    workbook = Workbook(write_only=True)
    counts = {}
    for official in OFFICIAL_LISTS:
        sheets = _ListSheets(workbook, official, heading, scope.year, limit)
        sheets.start()
        for row in official_list_rows(user, scope, official.key):
            sheets.append(row)
        sheets.finish()
        counts[official.key] = sheets.numbered
    workbook.save(out)
    return counts


def _list_csv_pieces(user, scope: ListScope, official: OfficialList, heading: _Heading,
                     counts: dict[str, int]) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write(UTF8_BOM)
    writer = csv.writer(buffer)
    width = len(LIST_SHEET.columns) + 1

    def write(values: Iterable[CellValue]) -> None:
        writer.writerow(["" if value is None else escape_formula(value) for value in values])

    for row in _preamble(official, heading, scope.year, width):
        write(row)
    write(_list_headers())
    count = 0
    for row in official_list_rows(user, scope, official.key):
        count += 1
        write([count, *_values(LIST_SHEET, row)])
        if buffer.tell() >= CSV_PIECE:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    for row in _footer(heading, count, width):
        write(row)
    counts[official.key] = count
    yield buffer.getvalue().encode("utf-8")


def _write_lists_zip(user, scope: ListScope, out) -> dict[str, int]:
    """The four lists as four CSV files in a zip, each written as its rows are read."""
    import zipfile

    heading = _heading(user, scope)
    counts: dict[str, int] = {}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for official in OFFICIAL_LISTS:
            name = official.file_stem % {"year": scope.year} + ".csv"
            with archive.open(name, "w") as entry:
                for piece in _list_csv_pieces(user, scope, official, heading, counts):
                    entry.write(piece)
    return counts


def export_lists(user, scope: ListScope, fmt: str, out: IO[bytes] | str | os.PathLike[str], *,
                 sheet_row_limit: int = EXCEL_MAX_ROWS) -> dict[str, int]:
    """Write the four official lists of `scope` that `user` may see to `out`: a workbook
    of four lists (fmt "xlsx"), or a zip of four CSV files (fmt "csv").

    Returns the number of households on each list, by list key.
    """
    if fmt not in FORMATS:
        raise ExportError(_("Unknown format “%(format)s”; choose csv or xlsx.") % {"format": fmt})
    if fmt == "xlsx":
        return _write_lists_xlsx(user, scope, out, sheet_row_limit)
    return _write_lists_zip(user, scope, out)


def lists_file_name(scope: ListScope, fmt: str, *, commune_code: str = "") -> str:
    """"danh-sach-2025-02794.xlsx"; a zip of CSV files for the CSV format."""
    code = commune_code or scope.commune_code
    stem = f"danh-sach-{scope.year}" + (f"-{code}" if code else "")
    return f"{stem}.{'xlsx' if fmt == 'xlsx' else 'zip'}"


def lists_response(user, scope: ListScope, fmt: str, *, commune_code: str = "",
                   on_done: Callable[[int], None] | None = None) -> FileResponse:
    """A download of the official lists, built in a temporary file (a zip, like a
    workbook, is finished by its directory at the end). `on_done` is given the
    number of households on the four lists."""
    if fmt not in FORMATS:
        raise ExportError(_("Unknown format “%(format)s”; choose csv or xlsx.") % {"format": fmt})
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the response
    try:
        counts = export_lists(user, scope, fmt, handle)
    except BaseException:
        handle.close()
        raise
    if on_done is not None:
        on_done(sum(counts.values()))
    handle.seek(0)
    content_type = CONTENT_TYPES["xlsx"] if fmt == "xlsx" else "application/zip"
    return FileResponse(handle, as_attachment=True, filename=lists_file_name(scope, fmt, commune_code=commune_code),
                        content_type=content_type)
