"""Support given in the exchange format: the "Hỗ trợ" sheet, exported and imported
through the Intervention admin (django-import-export), written by
programs.services.record_intervention."""

import csv
import io
from datetime import date

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.models import AuditEvent
from exchange.resources import FORMATS, INTERVENTIONS, InterventionResource
from households.models import Member
from programs import services
from programs.catalog import load_programs
from programs.models import Intervention, Program

HEADERS = [column.header for column in INTERVENTIONS.columns]


@pytest.fixture
def programs(world):
    load_programs(Program)
    return {p.code: p for p in Program.objects.all()}


def dataset(*rows: dict) -> tablib.Dataset:
    headers = list(rows[0])
    data = tablib.Dataset(headers=headers)
    for row in rows:
        data.append([row[h] for h in headers])
    return data


def support_row(commune="02794", code="0001", program="BHYT-HN", day="01/05/2025", kind="service",
                amount="1.263.600", funding="central", **extra):
    row = {"Mã xã": commune, "Mã hộ": code, "Mã chương trình": program, "Ngày": day, "Hình thức": kind,
           "Số lượng": "1", "Số tiền": amount, "Nguồn kinh phí": funding, "Trạng thái": "delivered",
           "Số định danh thành viên": "", "Nhà ở": "", "Ghi chú": "Thẻ BHYT"}
    return {**row, **extra}


def give(world, programs, **overrides):
    values = {"actor": world.officer, "household": world.household, "program": programs["DA5"],
              "given_on": date(2025, 5, 1), "kind": "cash", "amount": 40_000_000, "funding_source": "central",
              "house_work": "new", "status": "delivered", "note": "=SUM(A1)"}
    values.update(overrides)
    return services.record_intervention(**values)


def errors_by_header(result) -> dict[int, dict[str, list[str]]]:
    return {row.number: row.error_dict for row in result.invalid_rows}


def import_rows(user, *rows, dry_run=False):
    return InterventionResource(user=user).import_data(dataset(*rows), dry_run=dry_run, user=user)


def csv_export(user) -> str:
    resource = InterventionResource(user=user)
    data = resource.export(Intervention.objects.all())
    fmt = next(f for f in FORMATS if f().get_extension() == "csv")()
    return fmt.export_data(data).decode("utf-8-sig")


# -- export -----------------------------------------------------------------------------------

def test_export_is_scoped_and_escapes_formulas(world, programs):
    give(world, programs)
    give(world, programs, actor=world.superuser, household=world.household_yty)
    rows = list(csv.reader(io.StringIO(csv_export(world.officer), newline="")))
    assert rows[0] == HEADERS
    assert len(rows) == 2
    row = dict(zip(HEADERS, rows[1], strict=True))
    assert (row["Mã xã"], row["Mã hộ"], row["Mã chương trình"], row["Ngày"], row["Số tiền"]) == (
        "02794", "0001", "DA5", "01/05/2025", "40000000")
    assert row["Ghi chú"] == "'=SUM(A1)"  # never run by a spreadsheet
    assert [r[:2] for r in csv.reader(io.StringIO(csv_export(world.officer2)))][1:] == [["02701", "0001"]]


def test_export_then_import_changes_nothing(world, programs):
    spouse = Member.objects.get(household=world.household, full_name="Vàng Thị Mỷ")
    Member.objects.filter(pk=spouse.pk).update(personal_id="010183000123")
    give(world, programs)
    give(world, programs, program=programs["BHYT-HN"], kind="service", amount=1_263_600, house_work="",
         member=Member.objects.get(pk=spouse.pk), note="")
    counts = (Intervention.objects.count(), AuditEvent.objects.count())
    data = tablib.Dataset().load(csv_export(world.officer), format="csv")
    result = InterventionResource(user=world.officer).import_data(data, dry_run=False, user=world.officer)
    assert not result.has_validation_errors(), errors_by_header(result)
    assert [row.import_type for row in result.rows] == ["skip", "skip"]
    assert (Intervention.objects.count(), AuditEvent.objects.count()) == counts


# -- import -----------------------------------------------------------------------------------

def test_import_records_supports_with_audit(world, programs):
    spouse = Member.objects.get(household=world.household, full_name="Vàng Thị Mỷ")
    Member.objects.filter(pk=spouse.pk).update(personal_id="010183000123")
    rows = [support_row(), support_row(program="DA5", kind="Tiền mặt", amount="20.000.000", **{
        "Nhà ở": "repair", "Số định danh thành viên": "010183000123", "Trạng thái": ""})]
    preview = import_rows(world.officer, *rows, dry_run=True)
    assert not preview.has_validation_errors(), errors_by_header(preview)
    assert [row.import_type for row in preview.rows] == ["new", "new"]
    assert not Intervention.objects.exists()  # a preview writes nothing
    assert not AuditEvent.objects.filter(source=AuditEvent.Source.IMPORT).exists()

    result = import_rows(world.officer, *rows)
    assert not result.has_validation_errors(), errors_by_header(result)
    cards, house = Intervention.objects.order_by("amount")
    assert (cards.program.code, cards.kind, cards.amount, cards.status, cards.given_on, cards.created_by) == (
        "BHYT-HN", "service", 1_263_600, "delivered", date(2025, 5, 1), world.officer)
    assert (house.kind, house.house_work, house.status, house.member_id) == ("cash", "repair", "planned", spouse.pk)
    events = AuditEvent.objects.filter(source=AuditEvent.Source.IMPORT, action=AuditEvent.Action.CREATE)
    assert events.count() == 2 and {e.actor for e in events} == {world.officer}
    # The same file again: unchanged, nothing written twice.
    again = import_rows(world.officer, *rows)
    assert [row.import_type for row in again.rows] == ["skip", "skip"]
    assert Intervention.objects.count() == 2


@pytest.mark.parametrize("row, header", [
    (support_row(commune="99999"), "Mã xã"),
    (support_row(code="9999"), "Mã hộ"),
    (support_row(program="XYZ"), "Mã chương trình"),
    (support_row(amount="-500000"), "Số tiền"),
    (support_row(program="DA5", kind="cash", amount="45.000.000", **{"Nhà ở": "new"}), "Số tiền"),  # cap
    (support_row(day="01/05/2020"), "Ngày"),  # before the program began
    (support_row(day="2025"), "Ngày"),
    (support_row(**{"Số định danh thành viên": "010199999999"}), "Số định danh thành viên"),
    (support_row(kind="gift"), "Hình thức"),
    (support_row(funding="abc"), "Nguồn kinh phí"),
    (support_row(kind="loan"), "Hình thức"),
], ids=["unknown-commune", "unknown-household", "unknown-program", "negative-amount", "above-cap",
        "outside-years", "no-day", "unknown-member", "bad-kind", "bad-funding", "loan"])
def test_bad_rows_are_rejected_naming_the_column_and_nothing_is_written(world, programs, row, header):
    counts = (Intervention.objects.count(), AuditEvent.objects.count())
    result = import_rows(world.officer, support_row(), row)
    assert result.has_validation_errors()
    errors = errors_by_header(result)
    assert list(errors) == [3]
    assert header in errors[3], errors[3]
    assert (Intervention.objects.count(), AuditEvent.objects.count()) == counts  # nor the good row


def test_out_of_area_row_is_rejected(world, programs):
    result = import_rows(world.officer, support_row(), support_row(commune="02791"))  # La Pan Tẩn
    assert "outside your area" in " ".join(errors_by_header(result)[3]["Mã xã"])
    assert not Intervention.objects.exists()


def test_reviewer_rows_are_refused(world, programs):
    result = import_rows(world.reviewer, support_row(), dry_run=True)
    assert "Mã xã" in errors_by_header(result)[2]
    assert not Intervention.objects.exists()


# -- the admin --------------------------------------------------------------------------------

def upload(rows) -> SimpleUploadedFile:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return SimpleUploadedFile("ho-tro.csv", text.getvalue().encode("utf-8-sig"), content_type="text/csv")


def csv_format_index():
    return next(i for i, fmt in enumerate(FORMATS) if fmt().get_extension() == "csv")


def test_admin_import_preview_then_confirm(world, programs, client):
    client.force_login(world.officer)
    url = reverse("admin:programs_intervention_import")
    assert client.get(url).status_code == 200
    response = client.post(url, {"import_file": upload([support_row()]), "format": csv_format_index(),
                                 "resource": 0})
    assert response.status_code == 200
    confirm = response.context["confirm_form"]
    assert not Intervention.objects.exists()
    response = client.post(reverse("admin:programs_intervention_process_import"),
                           {name: confirm.initial[name] for name in confirm.initial})
    assert response.status_code == 302
    assert Intervention.objects.get().program.code == "BHYT-HN"


def test_admin_import_shows_rejected_rows_without_confirmation(world, programs, client):
    client.force_login(world.officer)
    response = client.post(reverse("admin:programs_intervention_import"), {
        "import_file": upload([support_row(amount="-1")]), "format": csv_format_index(), "resource": 0})
    assert response.status_code == 200
    assert "confirm_form" not in response.context
    assert "Số tiền" in response.content.decode()


def test_admin_import_only_for_officers_and_superusers(world, client):
    url = reverse("admin:programs_intervention_import")
    for user in (world.reviewer, world.province_admin):
        client.force_login(user)
        assert client.get(url).status_code == 403
    client.force_login(world.reviewer)
    assert client.get(reverse("admin:programs_intervention_export")).status_code == 200
    client.force_login(world.superuser)
    assert client.get(url).status_code == 200
