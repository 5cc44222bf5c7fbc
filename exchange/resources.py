"""django-import-export resources for the exchange format.

A resource is one sheet of `columns.py` (households, members, Phiếu B; support
records are added the same way when their models exist): one field per
column, named by the column's key, whose `column_name` is the Vietnamese header
and whose widget is the codec of `values.py` (it writes what the importer reads
back, and reads every spelling the format accepts).

Writing: `resource.export()` gives the rows of our exporter's row sources,
value for value: what the user may see (`Model.objects.for_user(user)`),
current records only, in the same order, not yet escaped. The formats
`ExchangeXLSX` and `ExchangeCSV` write a resource's dataset through the
exporter's own writers, so a file from the admin is the file of the
application's export page: codes as Text cells, a UTF-8 byte-order mark on
CSV, text that a spreadsheet would run as a formula made plain text.

Reading: `resource.import_data(dataset, dry_run=True)` takes headers or ASCII
keys, in any letter case, with or without diacritics, in any order, and checks
every row with `importer.plan_import`, the same check an uploaded file gets;
the result says per row what an import would do. So the admin follows the
importer's rules: a column the dataset does not have, or an empty cell, keeps
the stored value, and a classification that differs from the register's
rejects the row. Nothing is ever written
through the household and member resources: import-export's row-by-row save
would bypass the registry services (audit, NFC, one head per household,
scoping). Those files are written by an import batch (`exchange.services`),
which the admin's import pages use.

Phiếu B is the exception (`SurveyResource`): its rows fill in surveys of
existing review rounds, one service call each (`reviews.services.record_survey`,
which classifies, stamps the standard's code and records the round's event),
so its `import_data` writes, after the same check as its preview, all rows or
none. Support given (`InterventionResource`, sheet "Hỗ trợ", defined here
rather than in `columns.py` since the file importer does not take it) works the
same way through `programs.services.record_intervention`.

To add a sheet (Phiếu B): a resource with `sheet = SURVEYS`, `Meta.model` the
survey model, a field per column with the widgets below (`YesNoWidget` for the
twelve indicators, `MoneyWidget`, `YearWidget`), `scope()` for its scoping and
ordering; then `ExchangeAdminMixin` on its admin.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import tablib
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils.translation import gettext as _
from import_export import resources, widgets
from import_export.fields import Field
from import_export.formats.base_formats import CSV, XLSX
from import_export.results import Result, RowResult

from core.models import AuditEvent
from core.scoping import communes_for
from core.text import fold, nfc
from geo.models import AdminUnit
from households.models import Household, Member
from households.validators import mask_personal_id
from programs import services as program_services
from programs.models import FundingSource, Intervention, Program
from reviews import phieu_b
from reviews import services as review_services
from reviews.classification import InvalidSurvey
from reviews.models import ReviewRound, Survey

from . import exporter, importer
from . import values as codec
from .columns import HEADER_INDEX, HOUSEHOLDS, MEMBERS, SHEETS, SURVEYS, Column, Sheet, header_key
from .reader import Row

# -- widgets: the cell values of the format -----------------------------------------


class ExchangeWidget(widgets.Widget):
    """A cell read by a parser of `values.py` and written by its formatter.

    An empty cell reads as None (the importer decides what empty means for each
    column); a bad one raises the parser's ValidationError, whose message names
    the value and says what to write instead.
    """

    def __init__(self, parse: Callable[[Any], Any], format: Callable[[Any], Any]):  # noqa: A002
        super().__init__(coerce_to_string=False)
        self.parse = parse
        self.format = format

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str):
            value = unescape(value)
        if value in ("", None):
            return None
        return self.parse(value)

    def render(self, value, obj=None, **kwargs):
        return self.format(value)


def unescape(text: str) -> str:
    """A text cell as the importer reads it: NFC, and without the apostrophe our
    exports put before text that a spreadsheet would run as a formula."""
    text = nfc(text)
    if text.startswith(exporter.ESCAPE) and text[1:].startswith(exporter.FORMULA_TRIGGERS):
        return text[1:]
    return text


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


class TextWidget(ExchangeWidget):
    """Names, codes and phone numbers: text as written, never a number."""

    def __init__(self):
        super().__init__(_text, lambda value: value)


class YesNoWidget(ExchangeWidget):
    """`Có`/`Không`, `x`/empty, `1`/`0`; written `Có`/`Không`. Empty reads as no here; an
    import of households or members decides what an empty cell means (`importer.YES_NO_COLUMNS`)."""

    def __init__(self):
        super().__init__(codec.parse_yes_no, codec.format_yes_no)

    def clean(self, value, row=None, **kwargs):
        return bool(super().clean(value, row, **kwargs))


class CommuneCodeWidget(ExchangeWidget):
    """The 5-digit commune code; `2794` (Excel dropped the zero) reads as `02794`."""

    def __init__(self):
        super().__init__(codec.parse_commune_code, lambda value: value)


class YearWidget(ExchangeWidget):
    """A four-digit year, written as a number."""

    def __init__(self):
        super().__init__(codec.parse_year, lambda value: value)


class MoneyWidget(ExchangeWidget):
    """Whole VND, `1.500.000` or `1500000`; written as plain digits."""

    def __init__(self):
        super().__init__(codec.parse_money, codec.format_money)


class DateOrYearWidget(ExchangeWidget):
    """`dd/mm/yyyy` or a bare year; the value is the pair (date or None, year)."""

    def __init__(self):
        super().__init__(codec.parse_date_or_year, lambda pair: codec.format_date(*pair))


class PersonalIdWidget(ExchangeWidget):
    """The 12-digit personal ID (a 9-digit old one is accepted); an ID that Excel
    turned into a number is refused, never repaired. Written whole or masked
    depending on who exports (see `MemberResource`)."""

    def __init__(self):
        super().__init__(lambda value: codec.parse_personal_id(value).value, lambda value: value)


def choice_widget(parse: Callable[[Any], str], format: Callable[[str | None], str]) -> ExchangeWidget:  # noqa: A002
    """Sex, relation, area, classification: the Vietnamese label of a choice."""
    return ExchangeWidget(parse, format)


def column(sheet: Sheet, key: str, attribute: str | None, widget: widgets.Widget) -> Field:
    """The field of one column: named by its key, headed by its Vietnamese header."""
    return Field(attribute=attribute, column_name=sheet.column(key).header, widget=widget, readonly=True)


# -- resources ----------------------------------------------------------------------------


class ExchangeResource(resources.ModelResource):
    """A sheet of the exchange format over the records one user may see."""

    sheet: Sheet

    def __init__(self, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user

    # Writing ---------------------------------------------------------------------------

    def scope(self, queryset: QuerySet) -> QuerySet:
        """The rows of an export: what the subclass's exporter row source gives."""
        raise NotImplementedError

    def get_queryset(self) -> QuerySet:
        return self._meta.model.objects.all()

    def filter_export(self, queryset, **kwargs):
        # The scoping path, whoever built the queryset: without a user, nothing.
        return self.scope(queryset.for_user(self.user))

    def after_export(self, queryset, dataset, **kwargs):
        # The formats below find the sheet's layout by this title.
        dataset.title = self.sheet.title

    # Reading ---------------------------------------------------------------------------

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, **kwargs):
        """What importing `dataset` would do, row by row; writes nothing.

        `dry_run=False` is refused: a file is written through an import batch
        (`exchange.services.create_batch` and the steps after it).
        """
        if not dry_run:
            raise ImproperlyConfigured(
                "Exchange resources only preview; write files through exchange.services (an import batch)."
            )
        user = kwargs.get("user", self.user)
        table = DatasetTable.from_dataset(self.sheet, dataset)
        plan = importer.plan_import([table], user)
        return plan_result(plan, [table])

    @classmethod
    def get_display_name(cls):
        return cls.sheet.title


class HouseholdResource(ExchangeResource):
    """Sheet "Hộ gia đình"."""

    sheet = HOUSEHOLDS

    ma_xa = column(HOUSEHOLDS, "ma_xa", "commune__code", CommuneCodeWidget())
    ma_ho = column(HOUSEHOLDS, "ma_ho", "code", TextWidget())
    thon = column(HOUSEHOLDS, "thon", "village__name", TextWidget())
    chu_ho = column(HOUSEHOLDS, "chu_ho", "head_name", TextWidget())
    khu_vuc = column(HOUSEHOLDS, "khu_vuc", "area", choice_widget(codec.parse_area, codec.format_area))
    nong_nghiep = column(HOUSEHOLDS, "nong_nghiep", "is_farm", YesNoWidget())
    dien_thoai = column(HOUSEHOLDS, "dien_thoai", "phone", TextWidget())
    phan_loai = column(HOUSEHOLDS, "phan_loai", "classification",
                       choice_widget(codec.parse_classification, codec.format_classification))
    nam_phan_loai = column(HOUSEHOLDS, "nam_phan_loai", "classification_year", YearWidget())
    nguoi_co_cong = column(HOUSEHOLDS, "nguoi_co_cong", "has_meritorious_member", YesNoWidget())
    bao_tro_xa_hoi = column(HOUSEHOLDS, "bao_tro_xa_hoi", "is_social_protection", YesNoWidget())

    class Meta:
        model = Household
        fields = HOUSEHOLDS.keys
        export_order = HOUSEHOLDS.keys
        import_id_fields = ("ma_xa", "ma_ho")

    def scope(self, queryset):
        # As exchange.exporter.household_rows: current households, by commune and code.
        # The commune's id after its code keeps apart communes of the 2021 and 2025
        # maps that share a code.
        return (queryset.filter(is_archived=False).select_related("commune", "village")
                .order_by("commune__code", "commune_id", "code"))


class MemberResource(ExchangeResource):
    """Sheet "Thành viên". Personal IDs are whole only for the people who see
    them whole on the pages; others get the masked form."""

    sheet = MEMBERS

    ma_xa = column(MEMBERS, "ma_xa", "household__commune__code", CommuneCodeWidget())
    ma_ho = column(MEMBERS, "ma_ho", "household__code", TextWidget())
    ho_ten = column(MEMBERS, "ho_ten", "full_name", TextWidget())
    gioi_tinh = column(MEMBERS, "gioi_tinh", "sex", choice_widget(codec.parse_sex, codec.format_sex))
    ngay_sinh = column(MEMBERS, "ngay_sinh", None, DateOrYearWidget())
    so_dinh_danh = column(MEMBERS, "so_dinh_danh", None, PersonalIdWidget())
    dan_toc = column(MEMBERS, "dan_toc", "ethnicity__name", TextWidget())
    quan_he = column(MEMBERS, "quan_he", "relation", choice_widget(codec.parse_relation, codec.format_relation))
    bhyt = column(MEMBERS, "bhyt", "has_health_insurance", YesNoWidget())

    class Meta:
        model = Member
        fields = MEMBERS.keys
        export_order = MEMBERS.keys

    def scope(self, queryset):
        # As exchange.exporter.member_rows: a current member of an archived
        # household is left out too (the households export does not carry its
        # household, so the importer could not place the row); head first.
        head_first = Case(When(relation=Member.Relation.HEAD, then=Value(0)), default=Value(1),
                          output_field=IntegerField())
        return (queryset.filter(is_archived=False, household__is_archived=False)
                .select_related("household__commune", "ethnicity")
                .order_by("household__commune__code", "household__commune_id", "household__code", head_first,
                          "birth_year", "pk"))

    def dehydrate_ngay_sinh(self, member: Member):
        return self.fields["ngay_sinh"].widget.render((member.birth_date, member.birth_year))

    def dehydrate_so_dinh_danh(self, member: Member):
        if getattr(self.user, "sees_full_personal_ids", False):
            return member.personal_id
        return mask_personal_id(member.personal_id)


SURVEY_EXPORT = exporter.SURVEY_EXPORT


def _indicator_column(key: str) -> Field:
    """A "Thiếu …" column: the survey's answer for the indicator code of that column
    (as `reviews.phieu_b` maps them); empty when the round's standard has no such code."""
    code = phieu_b.INDICATOR_OF_COLUMN[key]

    def dehydrate(survey: Survey) -> str | None:
        answers = survey.deprivations or {}
        return codec.format_yes_no(answers[code]) if code in answers else None

    return Field(attribute=None, column_name=SURVEY_EXPORT.column(key).header, widget=YesNoWidget(),
                 readonly=True, dehydrate_method=dehydrate)


class SurveyResource(ExchangeResource):
    """Sheet "Phiếu B": exported with the result after it, imported into the
    surveys of the periodic review of each row's year (see `import_data`)."""

    sheet = SURVEYS

    ma_xa = column(SURVEY_EXPORT, "ma_xa", "household__commune__code", CommuneCodeWidget())
    ma_ho = column(SURVEY_EXPORT, "ma_ho", "household__code", TextWidget())
    nam = column(SURVEY_EXPORT, "nam", "round__year", YearWidget())
    thu_nhap = column(SURVEY_EXPORT, "thu_nhap", "income", ExchangeWidget(codec.parse_money, lambda value: value))
    diem_a = column(SURVEY_EXPORT, "diem_a", "score_a", ExchangeWidget(phieu_b._parse_score, lambda value: value))
    thieu_viec_lam = _indicator_column("thieu_viec_lam")
    thieu_phu_thuoc = _indicator_column("thieu_phu_thuoc")
    thieu_dinh_duong = _indicator_column("thieu_dinh_duong")
    thieu_bhyt = _indicator_column("thieu_bhyt")
    thieu_giao_duc = _indicator_column("thieu_giao_duc")
    thieu_di_hoc = _indicator_column("thieu_di_hoc")
    thieu_chat_luong_nha = _indicator_column("thieu_chat_luong_nha")
    thieu_dien_tich_nha = _indicator_column("thieu_dien_tich_nha")
    thieu_nuoc = _indicator_column("thieu_nuoc")
    thieu_nha_tieu = _indicator_column("thieu_nha_tieu")
    thieu_vien_thong = _indicator_column("thieu_vien_thong")
    thieu_thong_tin = _indicator_column("thieu_thong_tin")
    nong_nghiep = column(SURVEY_EXPORT, "nong_nghiep", "is_farm", YesNoWidget())
    nguyen_nhan = column(SURVEY_EXPORT, "nguyen_nhan", "causes",
                         ExchangeWidget(phieu_b.parse_causes, phieu_b.format_causes))
    phan_loai = column(SURVEY_EXPORT, "phan_loai", "category",
                       choice_widget(codec.parse_classification, codec.format_classification))
    so_chi_so_thieu = column(SURVEY_EXPORT, "so_chi_so_thieu", "deprivation_count",
                             ExchangeWidget(int, lambda value: value))
    giai_thich = column(SURVEY_EXPORT, "giai_thich", "explanation", TextWidget())

    class Meta:
        model = Survey
        fields = SURVEY_EXPORT.keys
        export_order = SURVEY_EXPORT.keys

    def scope(self, queryset):
        # As exchange.exporter.survey_rows.
        return (queryset.filter(status=Survey.Status.SURVEYED, round__kind=ReviewRound.Kind.PERIODIC,
                                household__is_archived=False)
                .select_related("household__commune", "round")
                .order_by("household__commune__code", "household__commune_id", "household__code", "round__year"))

    # Reading and writing ------------------------------------------------------------------

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, **kwargs):
        """Check every row; unless `dry_run`, and only when no row is rejected,
        record the changed surveys through `record_survey`, all in one transaction."""
        user = kwargs.get("user", self.user)
        table = DatasetTable.from_dataset(SURVEYS, dataset)
        rows = [plan_survey_row(row, user) for row in table.rows()]
        if not dry_run and not any(row.problems for row in rows):
            with transaction.atomic():
                for row in rows:
                    if row.action == UPDATE:
                        _write_survey(row, user)
                if any(row.problems for row in rows):
                    transaction.set_rollback(True)
        return survey_result(rows, table.unknown_columns)


@dataclass
class SurveyRow:
    """One Phiếu B row: what it says, the survey it fills in, and what importing it does."""

    number: int
    values: dict[str, Any]
    problems: list[phieu_b.Problem] = field(default_factory=list)
    survey: Survey | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    causes: list[str] | None = None  # None: the row leaves the survey's causes as they are
    action: str = "update"  # or "unchanged", "rejected"


def plan_survey_row(row: Row, user) -> SurveyRow:
    """Read one row and find its survey: the household's, in the periodic review
    of the row's year, inside the user's area and still open to changes."""
    Problem = phieu_b.Problem
    facts = phieu_b.read_row(row.values)
    plan = SurveyRow(row.number, row.values, list(facts.problems))
    if plan.problems:
        plan.action = REJECTED
        return plan
    communes = communes_for(user).filter(level=AdminUnit.Level.COMMUNE, code=facts.commune_code)
    household = (Household.objects.for_user(user).filter(commune__in=communes, code=facts.household_code,
                                                         is_archived=False)
                 .select_related("commune").first())
    if household is None:
        if not communes.exists():
            known = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE, code=facts.commune_code).exists()
            code = {"code": facts.commune_code}
            plan.problems.append(Problem("ma_xa", (
                _("The commune %(code)s is outside your area; this row is not imported.") if known
                else _("There is no commune with code %(code)s.")) % code))
        else:
            plan.problems.append(Problem("ma_ho", _("there is no household with this code in the commune.")))
    else:
        round_ = (ReviewRound.objects.filter(commune=household.commune, year=facts.year,
                                             kind=ReviewRound.Kind.PERIODIC)
                  .select_related("commune", "standard").first())
        survey = None if round_ is None else Survey.objects.filter(round=round_, household=household).first()
        if round_ is None:
            plan.problems.append(Problem("nam", _("the commune has no review of this year.")))
        elif not round_.is_editable:
            plan.problems.append(Problem("nam", _("The list can no longer be changed: it is “%(status)s”.")
                                         % {"status": round_.get_status_display()}))
        elif survey is None:
            plan.problems.append(Problem("ma_ho", _("the household is not on the list of this review.")))
        elif survey.status == Survey.Status.SCREENED_OUT:
            plan.problems.append(Problem("ma_ho", _("This household stopped at Phiếu A; change its Phiếu A "
                                                    "answers first.")))
        else:
            try:
                review_services.check_commune_step(user, round_)
            except PermissionDenied as exc:
                plan.problems.append(Problem("ma_xa", str(exc)))
        if not plan.problems:
            codes = tuple(round_.standard.indicators.order_by("number").values_list("code", flat=True))
            deprivations, missing = phieu_b.deprivations_for(facts, codes)
            plan.problems.extend(missing)
            plan.survey = survey
            plan.facts = {"deprivations": deprivations, "income": facts.income, "score_a": facts.score_a,
                          "is_farm": household.is_farm if facts.is_farm is None else facts.is_farm}
            if not plan.problems:
                try:
                    category = review_services.preview(round_, household, **plan.facts).category
                except InvalidSurvey as exc:
                    plan.problems.append(Problem(phieu_b.COLUMN_OF_FIELD.get(exc.field, ""), exc.message))
                else:
                    # The causes the survey would keep: those of a household on the lists only.
                    given = plan.survey.causes if facts.causes is None else facts.causes
                    plan.causes = review_services.clean_causes(given, category)
    if plan.problems:
        plan.action = REJECTED
    elif _same_facts(plan.survey, plan.facts) and plan.survey.causes == plan.causes:
        plan.action = UNCHANGED
    return plan


def _same_facts(survey: Survey, facts: dict[str, Any]) -> bool:
    return (survey.status == Survey.Status.SURVEYED and survey.income == facts["income"]
            and survey.score_a == facts["score_a"] and survey.is_farm == facts["is_farm"]
            and survey.deprivations == {code: bool(flag) for code, flag in facts["deprivations"].items()})


def _write_survey(row: SurveyRow, user) -> None:
    try:
        row.survey = review_services.record_survey(
            actor=user, survey=row.survey, expected_version=row.survey.version,
            demographic_change=row.survey.demographic_change, causes=row.causes, source=AuditEvent.Source.IMPORT,
            **row.facts)
    except (ValidationError, PermissionDenied) as exc:
        fields = getattr(exc, "error_dict", None) or {"": getattr(exc, "messages", [str(exc)])}
        for name, errors in fields.items():
            messages = ValidationError(errors).messages if name else list(errors)
            for message in messages:
                row.problems.append(phieu_b.Problem(phieu_b.COLUMN_OF_FIELD.get(name, ""), message))
        row.action = REJECTED


def survey_result(rows: list[SurveyRow], unknown_columns: list[str]) -> Result:
    """The rows as import-export's Result, the problems of a rejected row keyed by column header."""
    result = Result()
    result.diff_headers = [column.header for column in SURVEYS.columns]
    # Columns that are not Phiếu B's (the result columns of an export): ignored.
    result.unknown_columns = list(unknown_columns)
    for row in rows:
        result.total_rows += 1
        by_header = {SURVEYS.column(key).header: value for key, value in row.values.items()}
        row_result = RowResult()
        row_result.import_type = _IMPORT_TYPES[row.action]
        row_result.row_values = by_header
        row_result.diff = [by_header.get(header, "") for header in result.diff_headers]
        row_result.object_repr = f"{SURVEYS.title} {row.number}"
        if row.survey is not None:
            row_result.instance, row_result.object_id = row.survey, row.survey.pk
        if row.action == REJECTED:
            problems: dict[str, list[str]] = {}
            for problem in row.problems:
                name = phieu_b.header(problem.column) if problem.column else "__all__"
                problems.setdefault(name, []).append(problem.message)
            error = ValidationError(problems)
            row_result.validation_error = error
            result.append_invalid_row(row.number, by_header, error)
        result.increment_row_result_total(row_result)
        result.append_row_result(row_result)
    return result


# -- support given (sheet "Hỗ trợ") -------------------------------------------------------


INTERVENTIONS = Sheet("interventions", "Hỗ trợ", (
    Column("ma_xa", "Mã xã", required=True),
    Column("ma_ho", "Mã hộ", required=True),
    Column("ma_chuong_trinh", "Mã chương trình", required=True),
    Column("ngay", "Ngày", required=True),
    Column("hinh_thuc", "Hình thức", required=True),
    Column("so_luong", "Số lượng"),
    Column("so_tien", "Số tiền", required=True),
    Column("nguon_kinh_phi", "Nguồn kinh phí", required=True),
    Column("trang_thai", "Trạng thái"),
    Column("so_dinh_danh", "Số định danh thành viên"),
    Column("nha_o", "Nhà ở"),
    Column("ghi_chu", "Ghi chú"),
))

INTERVENTION_INDEX: dict[str, str] = {
    **{header_key(column.header): column.key for column in INTERVENTIONS.columns},
    **{header_key(column.key): column.key for column in INTERVENTIONS.columns},
}

# The service's field → the column at fault.
COLUMN_OF_INTERVENTION_FIELD = {
    "household": "ma_ho", "program": "ma_chuong_trinh", "given_on": "ngay", "kind": "hinh_thuc",
    "quantity": "so_luong", "amount": "so_tien", "funding_source": "nguon_kinh_phi", "status": "trang_thai",
    "member": "so_dinh_danh", "house_work": "nha_o", "note": "ghi_chu",
}


def _vietnamese(label) -> str:
    from django.utils import translation

    with translation.override("vi"):
        return str(label)


def _choice_codec(choices) -> tuple[Callable[[Any], str], Callable[[str | None], str]]:
    """A choice written as its Vietnamese label, read as that label, the English one or the code."""

    def table() -> dict[str, str]:
        found: dict[str, str] = {}
        for value, label in choices.choices:
            for spelling in (value, str(label), _vietnamese(label)):
                found[header_key(spelling)] = value
        return found

    def parse(value: Any) -> str:
        found = table().get(header_key(_text(value))) if value not in (None, "") else None
        if found is None:
            raise ValidationError(_("“%(value)s” is not one of: %(choices)s.") % {
                "value": _text(value), "choices": ", ".join(_vietnamese(label) for _v, label in choices.choices)})
        return found

    def format(value: str | None) -> str:  # noqa: A002
        if not value:
            return ""
        return _vietnamese(dict(choices.choices).get(value, value))

    return parse, format


parse_kind, format_kind = _choice_codec(Intervention.Kind)
parse_funding_source, format_funding_source = _choice_codec(FundingSource)
parse_status, format_status = _choice_codec(Intervention.Status)
parse_house_work, format_house_work = _choice_codec(Intervention.HouseWork)


def parse_date(value: Any) -> date:
    """A day, `dd/mm/yyyy` (or a date cell); a year alone is not enough for a support."""
    day, _year = codec.parse_date_or_year(value)
    if day is None:
        raise ValidationError(_("Write the whole date, as dd/mm/yyyy."))
    return day


def parse_quantity(value: Any) -> int:
    text = _text(value)
    if not text.isdigit() or int(text) < 1:
        raise ValidationError(_("“%(value)s” is not a whole number of at least 1.") % {"value": text})
    return int(text)


class InterventionResource(ExchangeResource):
    """Sheet "Hỗ trợ": the support given to households, exported in the user's
    area and imported through `programs.services.record_intervention` (see `import_data`)."""

    sheet = INTERVENTIONS

    ma_xa = column(INTERVENTIONS, "ma_xa", "household__commune__code", CommuneCodeWidget())
    ma_ho = column(INTERVENTIONS, "ma_ho", "household__code", TextWidget())
    ma_chuong_trinh = column(INTERVENTIONS, "ma_chuong_trinh", "program__code", TextWidget())
    ngay = column(INTERVENTIONS, "ngay", "given_on", ExchangeWidget(parse_date, codec.format_date))
    hinh_thuc = column(INTERVENTIONS, "hinh_thuc", "kind", choice_widget(parse_kind, format_kind))
    so_luong = column(INTERVENTIONS, "so_luong", "quantity", ExchangeWidget(parse_quantity, lambda value: value))
    so_tien = column(INTERVENTIONS, "so_tien", "amount", MoneyWidget())
    nguon_kinh_phi = column(INTERVENTIONS, "nguon_kinh_phi", "funding_source",
                            choice_widget(parse_funding_source, format_funding_source))
    trang_thai = column(INTERVENTIONS, "trang_thai", "status", choice_widget(parse_status, format_status))
    so_dinh_danh = column(INTERVENTIONS, "so_dinh_danh", None, PersonalIdWidget())
    nha_o = column(INTERVENTIONS, "nha_o", "house_work", choice_widget(parse_house_work, format_house_work))
    ghi_chu = column(INTERVENTIONS, "ghi_chu", "note", TextWidget())

    class Meta:
        model = Intervention
        fields = INTERVENTIONS.keys
        export_order = INTERVENTIONS.keys

    def scope(self, queryset):
        return (queryset.filter(household__is_archived=False)
                .select_related("household__commune", "program", "member")
                .order_by("household__commune__code", "household__commune_id", "household__code", "given_on",
                          "pk"))

    def dehydrate_so_dinh_danh(self, intervention: Intervention):
        member = intervention.member
        if member is None:
            return ""
        if getattr(self.user, "sees_full_personal_ids", False):
            return member.personal_id
        return mask_personal_id(member.personal_id)

    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, **kwargs):
        """Check every row; a new one is recorded through `record_intervention`. The
        recording is tried for the preview too and rolled back; unless `dry_run`, and
        only when no row is rejected, it is kept: all rows or none."""
        user = kwargs.get("user", self.user)
        table = _intervention_table(dataset)
        rows = [plan_intervention_row(row, user) for row in table.rows()]
        if not any(row.problems for row in rows):
            with transaction.atomic():
                for row in rows:
                    if row.action == CREATE:
                        _write_intervention(row, user)
                if dry_run or any(row.problems for row in rows):
                    transaction.set_rollback(True)
            if dry_run:
                for row in rows:
                    if row.action == CREATE:
                        row.intervention = None
        return intervention_result(rows, table.unknown_columns)


def _intervention_table(dataset) -> DatasetTable:
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for position, header in enumerate(dataset.headers or ()):
        key = INTERVENTION_INDEX.get(header_key(header or ""))
        if key is None or key in columns:
            if header not in (None, ""):
                unknown.append(str(header))
            continue
        columns[key] = position
    return DatasetTable(INTERVENTIONS.kind, INTERVENTIONS.title, columns, unknown, list(dataset))


@dataclass
class InterventionRow:
    """One "Hỗ trợ" row: what it says, the support it records, and what importing it does."""

    number: int
    values: dict[str, Any]
    problems: list[phieu_b.Problem] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    intervention: Intervention | None = None
    action: str = "create"  # or "unchanged", "rejected"


_INTERVENTION_PARSERS: dict[str, Callable[[Any], Any]] = {
    "ma_xa": codec.parse_commune_code, "ma_ho": _text, "ma_chuong_trinh": _text, "ngay": parse_date,
    "hinh_thuc": parse_kind, "so_luong": parse_quantity, "so_tien": codec.parse_money,
    "nguon_kinh_phi": parse_funding_source, "trang_thai": parse_status, "so_dinh_danh": _text,
    "nha_o": parse_house_work, "ghi_chu": _text,
}


def _read_intervention_cells(row: Row, problems: list[phieu_b.Problem]) -> dict[str, Any]:
    Problem = phieu_b.Problem
    cells: dict[str, Any] = {}
    for column_ in INTERVENTIONS.columns:
        raw = row.values.get(column_.key, "")
        if isinstance(raw, str):
            raw = unescape(raw).strip()
        if raw in ("", None):
            if column_.required:
                problems.append(Problem(column_.key, _("This column is required.")))
            cells[column_.key] = None
            continue
        if column_.key == "so_tien" and _text(raw).startswith("-"):
            problems.append(Problem("so_tien", _("The amount cannot be negative.")))
            continue
        try:
            cells[column_.key] = _INTERVENTION_PARSERS[column_.key](raw)
        except ValidationError as exc:
            problems.extend(Problem(column_.key, message) for message in exc.messages)
    return cells


def plan_intervention_row(row: Row, user) -> InterventionRow:
    """Read one row and find its household, program and member in the user's area."""
    Problem = phieu_b.Problem
    plan = InterventionRow(row.number, row.values)
    cells = _read_intervention_cells(row, plan.problems)
    household = program = member = None
    commune_code, household_code = cells.get("ma_xa"), cells.get("ma_ho")
    if commune_code and household_code:
        communes = communes_for(user).filter(level=AdminUnit.Level.COMMUNE, code=commune_code)
        household = (Household.objects.for_user(user)
                     .filter(commune__in=communes, code=household_code, is_archived=False)
                     .select_related("commune").first())
        if household is None:
            if not communes.exists():
                known = AdminUnit.objects.filter(level=AdminUnit.Level.COMMUNE, code=commune_code).exists()
                plan.problems.append(Problem("ma_xa", (
                    _("The commune %(code)s is outside your area; this row is not imported.") if known
                    else _("There is no commune with code %(code)s.")) % {"code": commune_code}))
            else:
                plan.problems.append(Problem("ma_ho", _("there is no household with this code in the commune.")))
    code = cells.get("ma_chuong_trinh")
    if code:
        programs = Program.objects.filter(code__iexact=code)
        if household is not None:
            province = household.commune.province_id
            programs = programs.filter(Q(province__isnull=True) | Q(province_id=province))
        program = programs.order_by("is_archived", "pk").first()
        if program is None:
            plan.problems.append(Problem("ma_chuong_trinh", _("There is no program with code %(code)s.")
                                         % {"code": code}))
    personal_id = cells.get("so_dinh_danh")
    if personal_id and household is not None:
        members = list(Member.objects.filter(household=household, is_archived=False))
        member = next((m for m in members if m.personal_id == personal_id), None)
        if member is None:
            masked = [m for m in members if m.personal_id and mask_personal_id(m.personal_id) == personal_id]
            member = masked[0] if len(masked) == 1 else None
        if member is None:
            plan.problems.append(Problem("so_dinh_danh", _("No current member of this household has this "
                                                           "personal ID.")))
    if plan.problems:
        plan.action = REJECTED
        return plan
    plan.facts = {
        "household": household, "program": program, "given_on": cells["ngay"], "kind": cells["hinh_thuc"],
        "quantity": cells.get("so_luong") or 1, "amount": cells["so_tien"],
        "funding_source": cells["nguon_kinh_phi"], "status": cells.get("trang_thai") or Intervention.Status.PLANNED,
        "member": member, "house_work": cells.get("nha_o") or "", "note": cells.get("ghi_chu") or "",
    }
    plan.intervention = _same_intervention(plan.facts)
    if plan.intervention is not None:
        plan.action = UNCHANGED
    return plan


def _same_intervention(facts: dict[str, Any]) -> Intervention | None:
    """The support already recorded with the same household, program, date, kind, amount and member."""
    return Intervention.objects.filter(
        household=facts["household"], program=facts["program"], given_on=facts["given_on"], kind=facts["kind"],
        amount=facts["amount"], member=facts["member"]).first()


def _write_intervention(row: InterventionRow, user) -> None:
    # A row repeated in the file is the support its first copy recorded.
    same = _same_intervention(row.facts)
    if same is not None:
        row.intervention, row.action = same, UNCHANGED
        return
    try:
        row.intervention = program_services.record_intervention(
            actor=user, source=AuditEvent.Source.IMPORT, **row.facts)
    except PermissionDenied as exc:
        row.problems.append(phieu_b.Problem("ma_xa", str(exc)))
    except ValidationError as exc:
        fields = getattr(exc, "error_dict", None) or {"": exc.messages}
        for name, errors in fields.items():
            messages = ValidationError(errors).messages if name else list(errors)
            for message in messages:
                row.problems.append(phieu_b.Problem(COLUMN_OF_INTERVENTION_FIELD.get(name, ""), message))
    if row.problems:
        row.action = REJECTED


def intervention_result(rows: list[InterventionRow], unknown_columns: list[str]) -> Result:
    """The rows as import-export's Result, the problems of a rejected row keyed by column header."""
    result = Result()
    result.diff_headers = [column.header for column in INTERVENTIONS.columns]
    result.unknown_columns = list(unknown_columns)
    for row in rows:
        result.total_rows += 1
        by_header = {INTERVENTIONS.column(key).header: value for key, value in row.values.items()}
        row_result = RowResult()
        row_result.import_type = _IMPORT_TYPES[row.action]
        row_result.row_values = by_header
        row_result.diff = [by_header.get(header, "") for header in result.diff_headers]
        row_result.object_repr = f"{INTERVENTIONS.title} {row.number}"
        if row.intervention is not None:
            row_result.instance, row_result.object_id = row.intervention, row.intervention.pk
        if row.action == REJECTED:
            problems: dict[str, list[str]] = {}
            for problem in row.problems:
                name = INTERVENTIONS.column(problem.column).header if problem.column else "__all__"
                problems.setdefault(name, []).append(problem.message)
            error = ValidationError(problems)
            row_result.validation_error = error
            result.append_invalid_row(row.number, by_header, error)
        result.increment_row_result_total(row_result)
        result.append_row_result(row_result)
    return result


RESOURCES: dict[str, type[ExchangeResource]] = {
    resource.sheet.kind: resource for resource in (HouseholdResource, MemberResource, SurveyResource)
}


# -- formats: the exporter's own writers -------------------------------------------------


def _sheet_rows(dataset) -> tuple[Sheet, Iterator[dict[str, Any]]] | None:
    """The sheet a dataset from an exchange resource lays out, and its rows by key."""
    # The exporter's layouts: the sheets of columns.py, Phiếu B with its result columns.
    sheet = next((source.sheet for source in exporter.SOURCES.values() if source.sheet.title == dataset.title),
                 None)
    if sheet is None or list(dataset.headers or ()) != [c.header for c in sheet.columns]:
        return None
    return sheet, (dict(zip(sheet.keys, row, strict=True)) for row in dataset)


def _escaped(dataset):
    """Another dataset, its text made safe to open: what the exporter's writers do."""
    escaped = tablib.Dataset(headers=dataset.headers, title=dataset.title)
    for row in dataset:
        escaped.append([exporter.escape_formula(value) for value in row])
    return escaped


class ExchangeXLSX(XLSX):
    """Excel, as the application's export writes it: code, ID and phone columns
    in Excel's Text format so their leading zeros survive an edit, a bold frozen
    header, and a new sheet past Excel's row limit."""

    def export_data(self, dataset, **kwargs):
        found = _sheet_rows(dataset)
        if found is None:
            return super().export_data(_escaped(dataset), **kwargs)
        sheet, rows = found
        out = io.BytesIO()
        exporter._write_xlsx(sheet, rows, out, exporter.EXCEL_MAX_ROWS)
        return out.getvalue()


class ExchangeCSV(CSV):
    """CSV in UTF-8 with a byte-order mark (Excel on Vietnamese Windows reads it
    right), comma-separated, as the application's export writes it."""

    CONTENT_TYPE = exporter.CONTENT_TYPES["csv"]

    def is_binary(self):
        return True  # the bytes, BOM included, are made here

    def export_data(self, dataset, **kwargs):
        found = _sheet_rows(dataset)
        if found is None:
            return super().export_data(_escaped(dataset), **kwargs).encode("utf-8-sig")
        sheet, rows = found
        return b"".join(exporter._csv_pieces(sheet, rows))


FORMATS = (ExchangeXLSX, ExchangeCSV)


def export_file_name(sheet: Sheet, extension: str, day: date | None = None) -> str:
    """"ho-gia-dinh-20251122.xlsx", as the application's export names it."""
    stem = "-".join(fold(sheet.title).split())
    return f"{stem}-{(day or date.today()):%Y%m%d}.{extension}"


# -- reading: a dataset as the importer's table, a plan as import-export's result -------


@dataclass
class DatasetTable:
    """A tablib dataset in the shape of `reader.Table`, for `importer.plan_import`.

    Headers are matched like the reader matches them (header or key, any case,
    with or without diacritics); unknown columns are kept aside. Row numbers
    are the spreadsheet's: the header is row 1.
    """

    kind: str
    name: str
    columns: dict[str, int]
    unknown_columns: list[str]
    data: list[tuple] = field(repr=False)

    @classmethod
    def from_dataset(cls, sheet: Sheet, dataset) -> DatasetTable:
        index = HEADER_INDEX[sheet.kind]
        columns: dict[str, int] = {}
        unknown: list[str] = []
        for position, header in enumerate(dataset.headers or ()):
            key = index.get(header_key(header or ""))
            if key is None or key in columns:
                if header not in (None, ""):
                    unknown.append(str(header))
                continue
            columns[key] = position
        return cls(sheet.kind, sheet.title, columns, unknown, list(dataset))

    @property
    def sheet(self) -> Sheet:
        return SHEETS[self.kind]

    def rows(self) -> Iterator[Row]:
        for number, cells in enumerate(self.data, 2):
            values = {key: _cell(cells[position]) for key, position in self.columns.items()}
            if any(value != "" for value in values.values()):
                yield Row(number=number, values=values)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else value


# What a row would do, in the words of the importer's plan.
CREATE, UPDATE, UNCHANGED, REJECTED = "create", "update", "unchanged", "rejected"


def planned_actions(plan: importer.Plan) -> dict[tuple[str, int], str]:
    """(sheet title, row number) → create, update, unchanged or rejected."""
    actions: dict[tuple[str, int], str] = {}
    for hh_plan in plan.households.values():
        if hh_plan.row is not None:
            actions[(HOUSEHOLDS.title, hh_plan.row)] = REJECTED if hh_plan.rejected else hh_plan.action
        for member_plan in hh_plan.members:
            actions[(MEMBERS.title, member_plan.row)] = REJECTED if hh_plan.rejected else member_plan.action
    for key in plan.rejected_rows:
        actions[key] = REJECTED
    return actions


_IMPORT_TYPES = {CREATE: RowResult.IMPORT_TYPE_NEW, UPDATE: RowResult.IMPORT_TYPE_UPDATE,
                 UNCHANGED: RowResult.IMPORT_TYPE_SKIP, REJECTED: RowResult.IMPORT_TYPE_INVALID}


def plan_result(plan: importer.Plan, tables: list[DatasetTable]) -> Result:
    """The plan as import-export's Result: one RowResult per row, the problems of
    a rejected row as its validation errors keyed by column header."""
    actions = planned_actions(plan)
    problems: dict[tuple[str, int], dict[str, list[str]]] = {}
    for issue in plan.issues:
        problems.setdefault((issue.sheet, issue.row), {}).setdefault(issue.column or "__all__", []).append(
            issue.message)
    result = Result()
    for table in tables:
        sheet = table.sheet
        result.diff_headers = [column.header for column in sheet.columns]
        for row in table.rows():
            result.total_rows += 1
            by_header = {sheet.column(key).header: value for key, value in row.values.items()}
            action = actions.get((sheet.title, row.number))
            if action is None:
                # A sheet the importer does not take yet (Phiếu B until surveys exist).
                action = REJECTED
                problems[(sheet.title, row.number)] = {"__all__": [_("This sheet cannot be imported yet.")]}
            row_result = RowResult()
            row_result.import_type = _IMPORT_TYPES[action]
            row_result.row_values = by_header
            row_result.object_repr = f"{sheet.title} {row.number}"
            if action == REJECTED:
                error = ValidationError(problems.get((sheet.title, row.number))
                                        or {"__all__": [_("This row is rejected.")]})
                row_result.validation_error = error
                result.append_invalid_row(row.number, by_header, error)
            result.increment_row_result_total(row_result)
            result.append_row_result(row_result)
    return result
