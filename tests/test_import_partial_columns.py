"""What an import changes: only what its file states.

A column the file does not have changes nothing; an empty cell of a present
column changes nothing, except in a yes/no column ticked with "x" (empty is no
there); "-" clears a phone or a personal ID. The classification is the commune
decision's alone: a file that says otherwise is refused. Text longer than its
field is refused at the check. The check report and the admin preview list each
field an update changes, before and after. The same on the small-file path, the
large-file path and in the admin.
"""

import csv
import io

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from core.models import AuditEvent
from exchange import services
from exchange.columns import HOUSEHOLDS, MEMBERS
from exchange.exporter import export
from exchange.models import ImportBatch
from exchange.resources import HouseholdResource
from households.models import Household, Member

from .test_exchange_admin import upload
from .test_exchange_import import run
from .world import make_household, member

REQUIRED_HOUSEHOLD = ["Mã xã", "Mã hộ", "Thôn", "Họ tên chủ hộ"]
MEMBER_HEADERS = [c.header for c in MEMBERS.columns]
HOUSEHOLD_HEADERS = [c.header for c in HOUSEHOLDS.columns]
HEAD_ID, SPOUSE_ID = "010080001234", "010183004321"

HOUSEHOLD_FIELDS = ("village_id", "code", "head_name", "area", "is_farm", "phone", "has_meritorious_member",
                    "is_social_protection", "classification", "classification_year", "member_count",
                    "is_ethnic_minority", "search_text", "version", "is_archived")
MEMBER_FIELDS = ("household_id", "full_name", "sex", "birth_date", "birth_year", "personal_id",
                 "personal_id_is_legacy", "ethnicity_id", "relation", "has_health_insurance", "is_archived")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def poor(world):
    """A poor household with a phone, every flag set, members with IDs and insurance cards."""
    household = make_household(
        world.officer, world.tathang, world.village, "Thào Văn Lử", code="0200", classification="poor",
        classification_year=2024, phone="0912345678", is_farm=True, has_meritorious_member=True,
        is_social_protection=True, others=[member("Lù Thị Mai", "spouse", "female", 1983, personal_id=SPOUSE_ID)])
    # make_household gives its head no ID.
    Member.objects.filter(household=household, relation="head").update(personal_id=HEAD_ID)
    return household


def snapshot():
    households = {h["pk"]: h for h in Household.objects.values("pk", *HOUSEHOLD_FIELDS)}
    members = {m["pk"]: m for m in Member.objects.values("pk", *MEMBER_FIELDS)}
    return households, members, AuditEvent.objects.count()


def sheet_bytes(headers, rows, title) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append(headers)
    for row in rows:
        sheet.append([row.get(h, "") for h in headers])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def book_bytes(households: tuple[list, list] | None, members: tuple[list, list] | None) -> bytes:
    """A workbook with a households sheet and/or a members sheet: (headers, rows) each."""
    book = Workbook()
    book.remove(book.active)
    for title, content in (("Hộ gia đình", households), ("Thành viên", members)):
        if content is None:
            continue
        headers, rows = content
        sheet = book.create_sheet(title)
        sheet.append(headers)
        for row in rows:
            sheet.append([row.get(h, "") for h in headers])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def household_cells(**extra):
    return {"Mã xã": "02794", "Mã hộ": "0200", "Thôn": "Thôn Tả Thàng", "Họ tên chủ hộ": "Thào Văn Lử", **extra}


def member_cells(name="Thào Văn Lử", relation="Chủ hộ", sex="Nam", born="1980", **extra):
    return {"Mã xã": "02794", "Mã hộ": "0200", "Họ và tên": name, "Giới tính": sex, "Ngày sinh": born,
            "Dân tộc": "Mông", "Quan hệ với chủ hộ": relation, **extra}


def done(batch):
    assert batch.status == ImportBatch.Status.DONE, (batch.status, batch.error,
                                                     list(batch.issues.values_list("column", "message")))
    return batch


def messages(batch):
    return [(i.column, i.message) for i in batch.issues.all()]


# -- columns the file does not have ---------------------------------------------------------


def test_a_households_file_with_only_the_required_columns_changes_nothing(world, poor, both_paths):
    before = snapshot()
    batch = done(run(world.officer, book_bytes((REQUIRED_HOUSEHOLD, [household_cells()]), None)))
    assert (batch.created, batch.updated, batch.unchanged) == (0, 0, 1)
    assert snapshot() == before
    poor.refresh_from_db()
    assert (poor.classification, poor.classification_year, poor.phone) == ("poor", 2024, "0912345678")
    assert poor.is_farm and poor.has_meritorious_member and poor.is_social_protection


def test_a_members_file_without_personal_ids_keeps_the_stored_ids(world, poor, both_paths):
    headers = [h for h in MEMBER_HEADERS if h != "Số định danh"]
    rows = [member_cells(**{"Có thẻ BHYT": "Có"}),
            member_cells("Lù Thị Mai", "Vợ/Chồng", "Nữ", "1983", **{"Có thẻ BHYT": "Có"})]
    before = snapshot()
    batch = done(run(world.officer, book_bytes(None, (headers, rows))))
    assert (batch.updated, batch.unchanged) == (0, 2)
    assert snapshot() == before
    assert set(poor.members.values_list("personal_id", flat=True)) == {HEAD_ID, SPOUSE_ID}


def test_a_members_file_without_the_insurance_column_keeps_insurance(world, poor, both_paths):
    headers = [h for h in MEMBER_HEADERS if h != "Có thẻ BHYT"]
    rows = [member_cells(**{"Số định danh": HEAD_ID}),
            member_cells("Lù Thị Mai", "Vợ/Chồng", "Nữ", "1983", **{"Số định danh": SPOUSE_ID})]
    before = snapshot()
    batch = done(run(world.officer, book_bytes(None, (headers, rows))))
    assert (batch.updated, batch.unchanged) == (0, 2)
    assert snapshot() == before
    assert all(poor.members.values_list("has_health_insurance", flat=True))


# -- empty cells and the clear spelling ---------------------------------------------------------


def test_an_empty_cell_keeps_the_value_and_a_dash_clears_it(world, poor, both_paths):
    headers = [*REQUIRED_HOUSEHOLD, "Số điện thoại"]
    member_headers = [h for h in MEMBER_HEADERS if h != "Có thẻ BHYT"]
    spouse = {"Họ và tên": "Lù Thị Mai", "Quan hệ với chủ hộ": "Vợ/Chồng", "Giới tính": "Nữ", "Ngày sinh": "1983"}
    before = snapshot()
    empty = book_bytes((headers, [household_cells(**{"Số điện thoại": ""})]),
                       (member_headers, [member_cells(**{"Số định danh": ""}),
                                         member_cells(**spouse, **{"Số định danh": ""})]))
    batch = done(run(world.officer, empty))
    assert batch.unchanged == 3 and snapshot() == before

    cleared = book_bytes((headers, [household_cells(**{"Số điện thoại": "-"})]),
                         (member_headers, [member_cells(**{"Số định danh": ""}),
                                           member_cells(**spouse, **{"Số định danh": "-"})]))
    batch = done(run(world.officer, cleared))
    assert (batch.updated, batch.unchanged) == (2, 1)
    poor.refresh_from_db()
    assert poor.phone == "" and poor.classification == "poor"
    assert dict(poor.members.values_list("full_name", "personal_id")) == {"Thào Văn Lử": HEAD_ID, "Lù Thị Mai": ""}


def test_a_yes_no_column_ticked_with_x_reads_empty_cells_as_no_and_others_keep(world, poor, both_paths):
    other = make_household(world.officer, world.tathang, world.village, "Giàng A Chứ", code="0300")
    headers = [*REQUIRED_HOUSEHOLD, "Hộ có người có công", "Hộ bảo trợ xã hội"]
    rows = [household_cells(**{"Hộ có người có công": "", "Hộ bảo trợ xã hội": ""}),
            household_cells(**{"Mã hộ": "0300", "Họ tên chủ hộ": "Giàng A Chứ", "Hộ có người có công": "x",
                               "Hộ bảo trợ xã hội": "Không"})]
    batch = done(run(world.officer, book_bytes((headers, rows), None)))
    assert batch.updated == 2
    poor.refresh_from_db()
    other.refresh_from_db()
    # "Hộ có người có công" is ticked with x: its empty cell is "no". "Hộ bảo trợ xã hội" is
    # spelled Có/Không: its empty cell states nothing.
    assert not poor.has_meritorious_member and poor.is_social_protection
    assert other.has_meritorious_member and not other.is_social_protection


# -- what the report shows ----------------------------------------------------------------


def test_the_check_report_lists_each_changed_field_before_and_after(world, poor, client, both_paths):
    farm = "Hộ làm nông, lâm, ngư, diêm nghiệp"
    data = book_bytes(([*REQUIRED_HOUSEHOLD, "Số điện thoại", farm],
                       [household_cells(**{"Số điện thoại": "0987654321", farm: "Có"})]),
                      ([h for h in MEMBER_HEADERS if h != "Số định danh"],
                       [member_cells(**{"Có thẻ BHYT": "Không"})]))
    batch = services.create_batch(user=world.officer, upload=io.BytesIO(data), file_name="ds.xlsx")
    batch = services.check_batch(batch.pk)
    assert batch.status == ImportBatch.Status.VALIDATED and batch.updated == 2
    assert batch.changes == [
        {"sheet": "Hộ gia đình", "row": 2, "code": "0200", "name": "Thào Văn Lử",
         "changes": [["Số điện thoại", "0912345678", "0987654321"]]},
        {"sheet": "Thành viên", "row": 2, "code": "0200", "name": "Thào Văn Lử",
         "changes": [["Có thẻ BHYT", "Có", "Không"]]},
    ]
    client.force_login(world.officer)
    html = client.get(reverse("exchange:batch", args=[batch.pk])).content.decode()
    assert 'data-testid="changes"' in html
    assert "<del>0912345678</del> → <ins>0987654321</ins>" in html
    assert "<del>Có</del> → <ins>Không</ins>" in html


def test_the_import_command_dry_run_lists_each_changed_field(world, poor, tmp_path, capsys):
    path = tmp_path / "ds.xlsx"
    path.write_bytes(book_bytes(([*REQUIRED_HOUSEHOLD, "Số điện thoại"], [household_cells(**{"Số điện thoại": "-"})]),
                                None))
    call_command("import_file", str(path), "--user", "officer", "--dry-run")
    assert "Hộ gia đình · row 2 · 0200 Thào Văn Lử: Số điện thoại: 0912345678 → –" in capsys.readouterr().out
    poor.refresh_from_db()
    assert poor.phone == "0912345678"


def test_the_admin_preview_lists_each_changed_field_before_and_after(world, poor, client,
                                                                     django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    data = sheet_bytes([*REQUIRED_HOUSEHOLD, "Số điện thoại"], [household_cells(**{"Số điện thoại": "-"})],
                       "Hộ gia đình")
    batch = upload(client, SimpleUploadedFile("ds.xlsx", data), captured=django_capture_on_commit_callbacks)
    page = client.get(reverse("admin:households_household_import_preview", args=[batch.pk]))
    html = page.content.decode()
    assert 'data-testid="changes"' in html
    assert 'data-column="Số điện thoại">Số điện thoại: <del>0912345678</del> → <ins>–</ins>' in html


# -- the admin import: the same semantics -----------------------------------------------------


def test_the_admin_import_of_a_partial_file_changes_nothing(world, poor, client, django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    before = snapshot()
    data = book_bytes((REQUIRED_HOUSEHOLD, [household_cells()]),
                      ([h for h in MEMBER_HEADERS if h not in ("Số định danh", "Có thẻ BHYT")],
                       [member_cells(), member_cells("Lù Thị Mai", "Vợ/Chồng", "Nữ", "1983")]))
    batch = upload(client, SimpleUploadedFile("ds.xlsx", data), captured=django_capture_on_commit_callbacks)
    assert batch.status == ImportBatch.Status.VALIDATED and (batch.updated, batch.unchanged) == (0, 3)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:households_household_import_preview", args=[batch.pk]), {"_confirm": "1"})
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE
    assert snapshot() == before


def test_the_admin_resource_preview_keeps_absent_columns(world, poor):
    dataset = tablib.Dataset(["02794", "0200", "Thôn Tả Thàng", "Thào Văn Lử"], headers=REQUIRED_HOUSEHOLD)
    result = HouseholdResource(user=world.officer).import_data(dataset, dry_run=True)
    assert [row.import_type for row in result.rows] == ["skip"]


# -- the classification is the commune decision's ------------------------------------------------


def test_a_file_cannot_change_a_stored_classification(world, poor, both_paths):
    before = snapshot()
    headers = [*REQUIRED_HOUSEHOLD, "Phân loại", "Năm phân loại"]
    same = run(world.officer, book_bytes((headers, [household_cells(**{"Phân loại": "Hộ nghèo",
                                                                          "Năm phân loại": "2024"})]), None))
    assert done(same).unchanged == 1
    for said, year in (("Hộ cận nghèo", "2024"), ("Không", ""), ("Hộ nghèo", "2025")):
        batch = run(world.officer, book_bytes((headers, [household_cells(**{"Phân loại": said,
                                                                               "Năm phân loại": year})]), None))
        assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected == 1
        [(column, message)] = messages(batch)
        assert column == "Phân loại" and "Mẫu 02" in message and "commune decision" in message
    assert snapshot() == before


def test_a_new_household_gets_no_classification_from_a_file(world, both_paths):
    headers = [*REQUIRED_HOUSEHOLD, "Phân loại", "Năm phân loại"]
    members = (MEMBER_HEADERS, [member_cells(**{"Mã hộ": "0400", "Họ và tên": "Sùng A Dình"})])
    poor_row = household_cells(**{"Mã hộ": "0400", "Họ tên chủ hộ": "Sùng A Dình", "Phân loại": "Hộ nghèo",
                                  "Năm phân loại": "2025"})
    batch = run(world.officer, book_bytes((headers, [poor_row]), members))
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected == 2
    assert any(column == "Phân loại" and "Mẫu 02" in message for column, message in messages(batch))
    assert not Household.objects.filter(code="0400").exists()

    batch = done(run(world.officer, book_bytes((headers, [{**poor_row, "Phân loại": "Không",
                                                            "Năm phân loại": ""}]), members)))
    assert Household.objects.get(code="0400").classification == "none"


def test_the_admin_import_refuses_a_changed_classification(world, poor, client, django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    data = sheet_bytes([*REQUIRED_HOUSEHOLD, "Phân loại"], [household_cells(**{"Phân loại": "Hộ cận nghèo"})],
                       "Hộ gia đình")
    batch = upload(client, SimpleUploadedFile("ds.xlsx", data), captured=django_capture_on_commit_callbacks)
    assert batch.rejected == 1
    html = client.get(reverse("admin:households_household_import_preview", args=[batch.pk])).content.decode()
    assert "Mẫu 02" in html
    dataset = tablib.Dataset(["02794", "0200", "Thôn Tả Thàng", "Thào Văn Lử", "Hộ cận nghèo"],
                             headers=[*REQUIRED_HOUSEHOLD, "Phân loại"])
    result = HouseholdResource(user=world.officer).import_data(dataset, dry_run=True)
    assert [row.import_type for row in result.rows] == ["invalid"]
    poor.refresh_from_db()
    assert poor.classification == "poor"


# -- lengths -------------------------------------------------------------------------------------


def test_a_300_character_name_is_a_rejected_row_not_a_failed_import(world, both_paths):
    long_name = "Thào " + "A" * 295
    data = book_bytes((REQUIRED_HOUSEHOLD, [household_cells(**{"Mã hộ": "0500", "Họ tên chủ hộ": long_name})]),
                      (MEMBER_HEADERS, [member_cells(long_name, **{"Mã hộ": "0500"})]))
    batch = services.create_batch(user=world.officer, upload=io.BytesIO(data), file_name="ds.xlsx")
    batch = services.check_batch(batch.pk)
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected == 2
    found = messages(batch)
    assert ("Họ tên chủ hộ", "“Họ tên chủ hộ” holds at most 120 characters; this cell has 300.") in found
    assert ("Họ và tên", "“Họ và tên” holds at most 120 characters; this cell has 300.") in found
    services.confirm_batch(user=world.officer, batch=batch, valid_rows_only=True)
    batch = services.import_batch(batch.pk)
    assert batch.status == ImportBatch.Status.DONE
    assert not Household.objects.filter(code="0500").exists()


# -- the round trip, whatever columns are left out ---------------------------------------------------

OPTIONAL_HOUSEHOLD = [c.header for c in HOUSEHOLDS.columns if not c.required]
OPTIONAL_MEMBER = [c.header for c in MEMBERS.columns if not c.required]
# Cells an export fills that a person may empty (yes/no cells are spelled Có/Không by the export).
BLANKABLE = {"Khu vực", "Số điện thoại", "Phân loại", "Năm phân loại", "Số định danh"}


def _exported(kind, user):
    out = io.BytesIO()
    export(kind, user, "csv", out)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dropped_households=st.sets(st.sampled_from(OPTIONAL_HOUSEHOLD)),
       dropped_members=st.sets(st.sampled_from(OPTIONAL_MEMBER)),
       blanked=st.sets(st.tuples(st.sampled_from(sorted(BLANKABLE)), st.integers(0, 3))))
def test_an_export_imported_back_without_any_optional_columns_changes_nothing(world, poor, both_paths,
                                                                              dropped_households, dropped_members,
                                                                              blanked):
    households_headers, households = _exported("households", world.officer)
    member_headers, members = _exported("members", world.officer)
    before = snapshot()
    for column, index in blanked:
        for rows in (households, members):
            if index < len(rows) and column in rows[index]:
                rows[index][column] = ""
    data = book_bytes(([h for h in households_headers if h not in dropped_households], households),
                      ([h for h in member_headers if h not in dropped_members], members))
    batch = done(run(world.officer, data))
    assert (batch.created, batch.updated, batch.rejected) == (0, 0, 0)
    assert snapshot() == before
