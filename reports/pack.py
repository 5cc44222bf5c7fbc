"""The report pack ("Bộ báo cáo"): every official table of a unit and of each unit below it, in one workbook.

A user asks for the pack of a unit and year on the report list page; a task
(`reports.tasks.prepare_report_pack`) builds it with `run`, unit by unit,
recording how many units are done, and stores the file as imports store theirs.

The workbook opens on a contents sheet (the units, each linking to its tables),
then has one sheet per form of `tables.FORMS`, in its order, holding one block per
unit: the unit asked for first, then (for a province) each district and (for a
province or a district) each commune, district by district. Each block is the
single-report workbook of that unit (`excel.workbook_bytes`) copied cell for cell,
so its title, unit, year, figures, date and signature block are exactly those of
the table downloaded on its own; a page break before each block prints every
unit on its own pages.

Figures are read through `tables.build` as the user who asked would read them
(their area), from the stored rollups: the cost grows with the units, not with
the households.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from copy import copy
from datetime import date, timedelta
from io import BytesIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import MergedCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.pagebreak import Break

from core.scoping import units_for
from geo.models import AdminUnit

from . import excel, tables
from .models import ReportPack, Rollup

logger = logging.getLogger(__name__)

LEVEL_ORDER = {AdminUnit.Level.PROVINCE: 0, AdminUnit.Level.DISTRICT: 1, AdminUnit.Level.COMMUNE: 2}
# A pack still "running" this long after it started was left by a worker that died
# (the task's hard time limit has passed): a new delivery of the task takes it over.
STALE_AFTER = timedelta(seconds=getattr(settings, "CELERY_TASK_TIME_LIMIT", 3600) + 5 * 60)
SHEET_NAME_LIMIT = 31  # Excel's limit on a sheet's name
RECENT = 5  # packs listed on the report list page


# --- which units ----------------------------------------------------------------------------------------


def units_of(user, unit: AdminUnit) -> list[AdminUnit]:
    """The unit, then the units below it the user may see: districts by code, then communes by district and code."""
    if unit.level == AdminUnit.Level.PROVINCE:
        below = AdminUnit.objects.filter(province=unit).exclude(pk=unit.pk)
    elif unit.level == AdminUnit.Level.DISTRICT:
        below = AdminUnit.objects.filter(parent=unit)
    else:
        below = AdminUnit.objects.none()
    below = list(below.filter(pk__in=units_for(user).values("pk")).select_related("parent"))

    def order(item: AdminUnit):
        parent_code = item.parent.code if item.parent_id and item.level == AdminUnit.Level.COMMUNE else ""
        return LEVEL_ORDER.get(item.level, 9), parent_code, item.code

    return [unit, *sorted(below, key=order)]


# --- asking for a pack, following it ----------------------------------------------------------------------


def request_pack(*, user, unit: AdminUnit, year: int, stage: str, language: str) -> tuple[ReportPack, bool]:
    """A new pack to prepare, or the user's own pack of the same unit, year and stage still waiting or under way.

    The caller has checked that the unit is in the user's area and queues the task
    after the commit when the pack is new.
    """
    with transaction.atomic():
        pending = (ReportPack.objects.select_for_update()
                   .filter(created_by=user, unit=unit, year=year, stage=stage,
                           status__in=[ReportPack.Status.QUEUED, ReportPack.Status.RUNNING])
                   .order_by("-created_at").first())
        if pending is not None:
            return pending, False
        return ReportPack.objects.create(created_by=user, unit=unit, year=year, stage=stage,
                                         language=language or settings.LANGUAGE_CODE), True


def recent_packs(user, limit: int = RECENT) -> list[ReportPack]:
    """The user's latest packs (a superuser's own too), for the report list page."""
    return list(ReportPack.objects.for_user(user).filter(created_by=user).select_related("unit")[:limit])


def progress(pack: ReportPack) -> dict:
    """What the pack's page shows while it is prepared (the same keys as an import's progress)."""
    return {
        "status": pack.status,
        "status_label": pack.get_status_display(),
        "done": pack.units_done,
        "total": pack.units_total,
        "finished": pack.finished,
    }


def remove_expired_files(now=None) -> int:
    """Remove the workbooks of packs older than UPLOAD_RETENTION_DAYS; returns how many.

    The pack's record stays, marked with when its file went (its page then says so
    and offers to prepare it again). Idempotent: a removed file is not looked at again.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.UPLOAD_RETENTION_DAYS)
    expired = (ReportPack.objects.filter(created_at__lt=cutoff, file_removed_at__isnull=True)
               .exclude(status__in=[ReportPack.Status.QUEUED, ReportPack.Status.RUNNING]).exclude(file=""))
    removed = 0
    for found in expired.iterator():
        found.file.storage.delete(found.file.name)  # a file already gone is no error
        ReportPack.objects.filter(pk=found.pk).update(file_removed_at=now)
        removed += 1
    return removed


def removed_message() -> str:
    return _("The file of this report pack is no longer kept (files are removed %(days)d days after they are "
             "made); prepare it again.") % {"days": settings.UPLOAD_RETENTION_DAYS}


def download_name(pack: ReportPack) -> str:
    suffix = "-so-bo" if pack.stage == Rollup.Stage.PRELIMINARY else ""
    return f"bo-bao-cao-{pack.unit.code}-{pack.year}{suffix}.xlsx"


# --- preparing it ---------------------------------------------------------------------------------------------


def _claim(pack_id: int) -> ReportPack | None:
    """Mark a queued pack running and return it; None when it is done, failed or under way elsewhere."""
    with transaction.atomic():
        pack = ReportPack.objects.select_for_update().filter(pk=pack_id).first()
        if pack is None:
            return None
        now = timezone.now()
        stale = (pack.status == ReportPack.Status.RUNNING and pack.started_at is not None
                 and pack.started_at < now - STALE_AFTER)
        if pack.status != ReportPack.Status.QUEUED and not stale:
            return None
        pack.status, pack.started_at, pack.units_done, pack.error = ReportPack.Status.RUNNING, now, 0, ""
        pack.save(update_fields=["status", "started_at", "units_done", "error"])
    return pack


class OutsideArea(Exception):
    """The unit left the area of the user who asked (their role or unit changed since)."""


def run(pack_id: int) -> ReportPack | None:
    """Prepare a pack. Idempotent: a pack that is done, failed or being prepared is left as it is.

    Any failure marks the pack failed with a message in the language it was asked
    in (the cause goes to the log); it is never raised to the caller.
    """
    pack = _claim(pack_id)
    if pack is None:
        return ReportPack.objects.filter(pk=pack_id).first()
    with translation.override(pack.language):
        failed_at = {}
        try:
            if not units_for(pack.created_by).filter(pk=pack.unit_id).exists():
                raise OutsideArea
            units = units_of(pack.created_by, pack.unit)
            ReportPack.objects.filter(pk=pack.pk).update(units_total=len(units))
            pack.units_total = len(units)

            def unit_done(done: int) -> None:
                ReportPack.objects.filter(pk=pack.pk).update(units_done=done)
                pack.units_done = done

            content = build_workbook(pack.created_by, units, pack.year, pack.stage, today=timezone.localdate(),
                                     on_unit=unit_done, where=failed_at)
            pack.file.save(f"bo-bao-cao-{pack.unit.code}-{pack.year}-{pack.pk}.xlsx", ContentFile(content),
                           save=False)
            pack.status, pack.error = ReportPack.Status.DONE, ""
        except OutsideArea:
            pack.status = ReportPack.Status.FAILED
            pack.error = _("This unit is no longer in your area; the report pack was not prepared.")
        except Exception:
            logger.exception("Report pack %s failed", pack.pk)
            pack.status = ReportPack.Status.FAILED
            pack.error = _failure_message(failed_at)
        pack.finished_at = timezone.now()
        pack.save(update_fields=["status", "error", "file", "finished_at", "units_total", "units_done"])
    return pack


def _failure_message(where: dict) -> str:
    if "unit" in where and "form" in where:
        return _("The report pack could not be prepared: table %(form)s of %(unit)s failed. "
                 "Try again later; if it fails again, tell your administrator.") % {
            "form": where["form"], "unit": where["unit"]}
    return _("The report pack could not be prepared. Try again later; if it fails again, tell your administrator.")


# --- the workbook ---------------------------------------------------------------------------------------------


def _sheet_title(wanted: str, taken: set[str]) -> str:
    """A sheet name Excel accepts: at most 31 characters, unique in the workbook."""
    title = wanted[:SHEET_NAME_LIMIT]
    number = 2
    while title.lower() in taken:
        suffix = f" ({number})"
        title = wanted[:SHEET_NAME_LIMIT - len(suffix)] + suffix
        number += 1
    taken.add(title.lower())
    return title


def _copy_block(source, target, offset: int) -> None:
    """Copy a worksheet's cells (values, styles, merged cells) into another, `offset` rows down."""
    for row in source.iter_rows():
        for cell in row:
            if cell.value is None and not cell.has_style:
                continue
            if isinstance(cell, MergedCell):
                continue
            copied = target.cell(row=cell.row + offset, column=cell.column, value=cell.value)
            if cell.has_style:
                copied.font, copied.border = copy(cell.font), copy(cell.border)
                copied.alignment, copied.fill = copy(cell.alignment), copy(cell.fill)
                copied.number_format = cell.number_format
    for merged in source.merged_cells.ranges:
        target.merge_cells(start_row=merged.min_row + offset, start_column=merged.min_col,
                           end_row=merged.max_row + offset, end_column=merged.max_col)


class _FormSheet:
    """One form's sheet of the pack: its units' blocks one under the other."""

    def __init__(self, worksheet) -> None:
        self.ws, self.next_row, self.widths, self.landscape = worksheet, 1, {}, False

    def append(self, single) -> int:
        """Add a single-report worksheet as the next block; return the row it starts on."""
        start = self.next_row
        if start > 1:
            self.ws.row_breaks.append(Break(id=start - 1))
        _copy_block(single, self.ws, start - 1)
        self.next_row = start + single.max_row + 2
        for letter, dimension in single.column_dimensions.items():
            if dimension.width:
                self.widths[letter] = max(self.widths.get(letter, 0), dimension.width)
        self.landscape = self.landscape or single.page_setup.orientation == "landscape"
        return start

    def finish(self) -> None:
        for letter, width in self.widths.items():
            self.ws.column_dimensions[letter].width = width
        setup = self.ws.page_setup
        setup.paperSize = self.ws.PAPERSIZE_A4
        setup.orientation = "landscape" if self.landscape else "portrait"
        setup.fitToWidth, setup.fitToHeight = 1, 0
        self.ws.sheet_properties.pageSetUpPr.fitToPage = True


def build_workbook(user, units: list[AdminUnit], year: int, stage: str, *, today: date,
                   on_unit: Callable[[int], None] | None = None, where: dict | None = None) -> bytes:
    """The pack's workbook: a contents sheet, then one sheet per form with a block per unit.

    `on_unit(n)` is called after the n-th unit's tables are done; `where` is filled
    with the form and unit being built, so a failure can say which.
    """
    where = {} if where is None else where
    workbook = Workbook()
    contents = workbook.active
    taken: set[str] = set()
    contents.title = _sheet_title(_("Contents"), taken)
    sheets: dict[str, _FormSheet] = {}
    starts: dict[tuple[int, str], int] = {}
    headings: dict[str, tables.Report] = {}  # each form's first report, for its heading on the contents sheet
    for done, unit in enumerate(units, start=1):
        for key, form in tables.FORMS.items():
            where.update(form=form.number or str(form.title), unit=excel.unit_title(unit))
            report = tables.build(key, user, unit, year, stage)
            single = load_workbook(BytesIO(excel.workbook_bytes(report, today=today))).active
            if key not in sheets:
                sheets[key] = _FormSheet(workbook.create_sheet(_sheet_title(single.title, taken)))
                headings[key] = report
            starts[(unit.pk, key)] = sheets[key].append(single)
        where.clear()
        if on_unit is not None:
            on_unit(done)
    for sheet in sheets.values():
        sheet.finish()
    _write_contents(contents, units, year, stage, today, sheets, starts, headings)
    out = BytesIO()
    workbook.save(out)
    return out.getvalue()


def _write_contents(ws, units, year, stage, today, sheets: dict[str, _FormSheet], starts, headings) -> None:
    """The first sheet: what the pack is, and a row per unit linking to each of its tables."""
    bold, link_font = Font(bold=True), Font(color="0563C1", underline="single")
    top = units[0]
    heading = tables.Report("pack", "", "", top, year, stage)
    ws.cell(row=1, column=1, value=excel.unit_title(top).upper()).font = bold
    ws.cell(row=3, column=1, value=_("REPORT PACK: THE OFFICIAL REPORT TABLES")).font = Font(bold=True, size=13)
    ws.cell(row=4, column=1, value=excel.report_subtitle(heading)).font = Font(italic=True)
    ws.cell(row=5, column=1, value=excel.place_and_date(top, today)).font = Font(italic=True)
    ws.cell(row=7, column=1, value=_("Each table of each unit is a block on the form's sheet; "
                                     "the links below open it."))
    row = 9
    ws.cell(row=row, column=1, value=_("Sheet")).font = bold
    ws.cell(row=row, column=2, value=_("Table")).font = bold
    for key, sheet in sheets.items():
        row += 1
        ws.cell(row=row, column=1, value=sheet.ws.title)
        ws.cell(row=row, column=2, value=excel._text(excel.form_heading(headings[key])))
    header = row + 2
    ws.cell(row=header, column=1, value=_("Unit")).font = bold
    ws.cell(row=header, column=2, value=_("Level")).font = bold
    for column, (_key, sheet) in enumerate(sheets.items(), start=3):
        ws.cell(row=header, column=column, value=sheet.ws.title).font = bold
    for index, unit in enumerate(units, start=header + 1):
        ws.cell(row=index, column=1, value=excel._text(excel.unit_title(unit)))
        ws.cell(row=index, column=2, value=unit.get_level_display())
        for column, (key, sheet) in enumerate(sheets.items(), start=3):
            cell = ws.cell(row=index, column=column, value=sheet.ws.title)
            cell.hyperlink = Hyperlink(ref=cell.coordinate,
                                       location=f"{quote_sheetname(sheet.ws.title)}!A{starts[(unit.pk, key)]}")
            cell.font = link_font
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 14
    for column in range(3, len(sheets) + 3):
        ws.column_dimensions[get_column_letter(column)].width = 16
    ws.freeze_panes = ws.cell(row=header + 1, column=1)
