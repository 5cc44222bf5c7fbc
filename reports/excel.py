"""A report table as an Excel file: the same title, figures and signature block as its printed page.

Numbers are written as numbers (percentages with one decimal), every text through
`exchange.exporter.escape_formula` so that a unit or group name can never run as a
formula. The files are small (a row per child unit, group or indicator), so they are
built in memory and sent at once.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from io import BytesIO

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from exchange.exporter import escape_formula
from geo.models import AdminUnit

from .tables import Report, Section

BOLD = Font(bold=True)
TITLE = Font(bold=True, size=13)
ITALIC = Font(italic=True)
THIN = Side(style="thin")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTRED = Alignment(horizontal="center", vertical="center", wrap_text=True)
PERCENT_FORMAT = "0.0"
NUMBER_FORMAT = "#,##0"


def unit_title(unit: AdminUnit) -> str:
    """"Huyện Mường Khương"; a unit whose name leaves its kind out ("Lào Cai", Tỉnh) gets it in front."""
    if unit.kind and not unit.name.lower().startswith(unit.kind.lower()):
        return f"{unit.kind} {unit.name}"
    return unit.name


def place_and_date(unit: AdminUnit, day: date) -> str:
    return f"{unit_title(unit)}, " + _("day %(d)s month %(m)s year %(y)s") % {
        "d": f"{day:%d}", "m": f"{day:%m}", "y": f"{day:%Y}"}


def report_subtitle(report: Report) -> str:
    return _("%(unit)s – year %(year)s – %(stage)s") % {
        "unit": unit_title(report.unit), "year": report.year, "stage": report.stage_label}


def form_heading(report: Report) -> str:
    title = report.title.upper()
    return _("FORM %(number)s: %(title)s") % {"number": report.number, "title": title} if report.number else title


def _text(value):
    if isinstance(value, str):
        return escape_formula(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


class _Sheet:
    def __init__(self, worksheet, width: int) -> None:
        self.ws, self.width, self.row = worksheet, width, 1

    def put(self, column: int, value, *, font=None, align=None, number_format=None, border=None):
        cell = self.ws.cell(row=self.row, column=column, value=_text(value))
        if font:
            cell.font = font
        if align:
            cell.alignment = align
        if number_format:
            cell.number_format = number_format
        if border:
            cell.border = border
        return cell

    def line(self, value, *, font=None, merge: bool = True) -> None:
        """A line of text across the table's width."""
        self.put(1, value, font=font, align=Alignment(horizontal="center", wrap_text=True))
        if merge and self.width > 1:
            self.ws.merge_cells(start_row=self.row, start_column=1, end_row=self.row, end_column=self.width)
        self.row += 1

    def section(self, section: Section) -> None:
        self.line(section.title, font=BOLD)
        # Header rows with their merged cells: a cell spanning rows keeps its columns taken below.
        taken: set[tuple[int, int]] = set()
        first = self.row
        for offset, header_row in enumerate(section.header):
            column = 1
            for cell in header_row:
                while (first + offset, column) in taken:
                    column += 1
                self.row = first + offset
                self.put(column, str(cell.label), font=BOLD, align=CENTRED, border=BOX)
                for r in range(cell.rowspan):
                    for c in range(cell.colspan):
                        taken.add((first + offset + r, column + c))
                        self.ws.cell(row=first + offset + r, column=column + c).border = BOX
                if cell.colspan > 1 or cell.rowspan > 1:
                    self.ws.merge_cells(start_row=first + offset, start_column=column,
                                        end_row=first + offset + cell.rowspan - 1, end_column=column + cell.colspan - 1)
                column += cell.colspan
        self.row = first + len(section.header)
        for row in section.rows:
            font = BOLD if row.kind in ("total", "subtotal") else None
            self.put(1, row.label, font=font, border=BOX)
            for index, value in enumerate(row.values):
                is_percent = index in section.percent_columns or isinstance(value, Decimal)
                self.put(2 + index, value, font=font, border=BOX,
                         number_format=PERCENT_FORMAT if is_percent else (
                             NUMBER_FORMAT if isinstance(value, int) else None))
            self.row += 1
        self.row += 1


def workbook_bytes(report: Report, *, today: date | None = None) -> bytes:
    today = today or timezone.localdate()
    workbook = Workbook()
    worksheet = workbook.active
    worksheet.title = (_("Form %(number)s") % {"number": report.number} if report.number else report.key)[:31]
    width = max((section.width for section in report.sections), default=6)
    width = max(width, 6)
    sheet = _Sheet(worksheet, width)
    right = max(width - 3, 3)
    # The issuing unit on the left, the national motto on the right (as on the printed page).
    sheet.put(1, unit_title(report.unit).upper(), font=BOLD)
    sheet.put(right, _("SOCIALIST REPUBLIC OF VIETNAM"), font=BOLD)
    sheet.row += 1
    sheet.put(right, _("Independence – Freedom – Happiness"), font=BOLD)
    sheet.row += 2
    sheet.line(form_heading(report), font=TITLE)
    sheet.line(report_subtitle(report), font=ITALIC)
    sheet.row += 1
    if not report.sections:
        sheet.line(_("No figures have been computed for this unit and year yet."))
    for section in report.sections:
        sheet.section(section)
    for note in report.notes:
        sheet.put(1, note, font=ITALIC)
        sheet.row += 1
    sheet.row += 1
    sheet.put(right, place_and_date(report.unit, today), font=ITALIC)
    sheet.row += 1
    sheet.put(1, _("Prepared by"), font=BOLD)
    sheet.put(right, _("HEAD OF THE UNIT"), font=BOLD)
    sheet.row += 1
    sheet.put(1, _("(signature, full name)"), font=ITALIC)
    sheet.put(right, _("(signature, full name, seal)"), font=ITALIC)
    worksheet.column_dimensions["A"].width = 34
    for column in range(2, width + 2):
        worksheet.column_dimensions[get_column_letter(column)].width = 12
    worksheet.page_setup.paperSize = worksheet.PAPERSIZE_A4
    worksheet.page_setup.orientation = "landscape" if width > 8 else "portrait"
    worksheet.page_setup.fitToWidth = 1
    worksheet.sheet_properties.pageSetUpPr.fitToPage = True
    worksheet.page_setup.fitToHeight = 0
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


def file_name(report: Report) -> str:
    stem = f"bieu-{report.number}" if report.number else report.key
    return f"{stem}-{report.unit.code}-{report.year}.xlsx"
