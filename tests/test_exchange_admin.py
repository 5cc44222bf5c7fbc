"""The exchange format in the admin: import-export resources and export, and the
import pages that go through our batches (check, preview, confirm), scoped."""

import csv
import io

import pytest
import tablib
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from core.models import AuditEvent
from exchange import exporter
from exchange.columns import HOUSEHOLDS, MEMBERS
from exchange.models import ImportBatch
from exchange.resources import (
    CommuneCodeWidget,
    DateOrYearWidget,
    ExchangeCSV,
    ExchangeXLSX,
    HouseholdResource,
    MemberResource,
    YesNoWidget,
)
from households.models import Household, Member

from .world import make_household, member

HOUSEHOLD_HEADERS = [c.header for c in HOUSEHOLDS.columns]
MEMBER_HEADERS = [c.header for c in MEMBERS.columns]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def household_row(code="0100", commune="02794", head="Thào A Dê", **extra):
    row = {"Mã xã": commune, "Mã hộ": code, "Thôn": "Thôn Sín Chải", "Họ tên chủ hộ": head,
           "Khu vực": "Nông thôn", "Hộ làm nông, lâm, ngư, diêm nghiệp": "Có", "Phân loại": "",
           "Năm phân loại": "", "Hộ có người có công": "Không", "Hộ bảo trợ xã hội": "Không"}
    return {**row, **extra}


def member_row(name, relation="Chủ hộ", sex="Nam", born="1980", code="0100", commune="02794", **extra):
    row = {"Mã xã": commune, "Mã hộ": code, "Họ và tên": name, "Giới tính": sex, "Ngày sinh": born,
           "Dân tộc": "Mông", "Quan hệ với chủ hộ": relation, "Có thẻ BHYT": "Có"}
    return {**row, **extra}


GOOD_MEMBERS = [
    member_row("Thào A Dê"),
    member_row("Giàng Thị Sua", "Vợ/Chồng", "Nữ", "12/03/1983"),
    member_row("Thào A Sáng", "Con", "Nam", "2010"),
]


def workbook(households, members) -> SimpleUploadedFile:
    book = Workbook()
    sheet = book.active
    sheet.title = "Hộ gia đình"
    sheet.append(HOUSEHOLD_HEADERS)
    for row in households:
        sheet.append([row.get(h, "") for h in HOUSEHOLD_HEADERS])
    sheet = book.create_sheet("Thành viên")
    sheet.append(MEMBER_HEADERS)
    for row in members:
        sheet.append([row.get(h, "") for h in MEMBER_HEADERS])
    out = io.BytesIO()
    book.save(out)
    return SimpleUploadedFile("ds.xlsx", out.getvalue())


def upload(client, data, model="household", captured=None):
    with captured(execute=True):
        response = client.post(reverse(f"admin:households_{model}_import"), {"file": data})
    assert response.status_code == 302, response.content[:2000]
    batch = ImportBatch.objects.latest("pk")
    assert response["Location"] == reverse(f"admin:households_{model}_import_preview", args=[batch.pk])
    return batch


def export_rows(client, model, fmt):
    """Download the admin's export and read it back as (headers, rows of text)."""
    index = {"xlsx": "0", "csv": "1"}[fmt]
    response = client.post(reverse(f"admin:households_{model}_export"), {"format": index, "resource": "0"})
    assert response.status_code == 200, response.content[:2000]
    if fmt == "csv":
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    else:
        book = load_workbook(io.BytesIO(response.content), read_only=True)
        rows = [["" if v is None else str(v) for v in row] for row in book.worksheets[0].iter_rows(values_only=True)]
    return response, rows[0], rows[1:]


# -- export ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_officer_exports_only_their_communes_households_in_the_exchange_headers(world, client, fmt):
    client.force_login(world.officer)
    response, headers, rows = export_rows(client, "household", fmt)
    assert headers == HOUSEHOLD_HEADERS
    assert {(row[0], row[1]) for row in rows} == {("02794", "0001")}
    assert rows[0][2:5] == ["Thôn Tả Thàng", "Giàng A Páo", "Nông thôn"]
    assert response["Content-Disposition"].startswith('attachment; filename="ho-gia-dinh-')


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_officer_exports_only_their_communes_members(world, client, fmt):
    client.force_login(world.officer)
    _response, headers, rows = export_rows(client, "member", fmt)
    assert headers == MEMBER_HEADERS
    assert [(row[0], row[2], row[7]) for row in rows] == [("02794", "Giàng A Páo", "Chủ hộ"),
                                                          ("02794", "Vàng Thị Mỷ", "Vợ/Chồng")]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_reviewer_exports_only_their_district(world, client, fmt):
    client.force_login(world.reviewer)
    _response, _headers, rows = export_rows(client, "household", fmt)
    # Mường Khương district: Tả Thàng and La Pan Tẩn; not Y Tý (other district) nor other provinces.
    assert sorted(row[0] for row in rows) == ["02791", "02794"]


def test_export_follows_the_changelists_search_inside_the_area(world, client):
    make_household(world.officer, world.tathang, world.village, "Lò Văn Sử", code="0002")
    client.force_login(world.officer)
    response = client.post(reverse("admin:households_household_export") + "?q=lo van", {"format": "1"})
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row[1] for row in rows[1:]] == ["0002"]


@pytest.mark.parametrize("kind", ["households", "members"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_admin_export_is_the_application_export(world, client, kind, fmt):
    household = make_household(
        world.officer, world.tathang, world.village, "Hờ Seo Dìn", code="0002", phone="+84912345678",
        others=[member("Hờ Thị Mai", "child", "female", 2012, birth_date=None, personal_id="")],
    )
    assert household.pk
    client.force_login(world.officer)
    response = client.post(reverse(f"admin:households_{kind[:-1]}_export"), {"format": {"xlsx": "0", "csv": "1"}[fmt]})
    ours = io.BytesIO()
    exporter.export(kind, world.officer, fmt, ours)
    if fmt == "csv":
        assert response.content == ours.getvalue()
    else:
        def cells(data):
            book = load_workbook(io.BytesIO(data))
            sheet = book.worksheets[0]
            return sheet.title, [[(c.value, c.number_format) for c in row] for row in sheet.iter_rows()]

        assert cells(response.content) == cells(ours.getvalue())


@pytest.mark.parametrize("role", ["officer", "reviewer", "province_admin", "superuser"])
def test_resource_rows_are_the_exporters_row_sources_value_for_value(world, role):
    Member.objects.filter(pk=world.household.members.get(relation="head").pk).update(personal_id="010080001234")
    user = getattr(world, role)
    for resource, kind in ((HouseholdResource, "households"), (MemberResource, "members")):
        sheet = exporter.SOURCES[kind].sheet
        expected = [tuple(row[key] for key in sheet.keys) for row in exporter.SOURCES[kind].rows(user, False)]
        assert expected and list(resource(user=user).export()) == expected


def test_members_personal_ids_are_masked_for_a_reviewer(world, client):
    head = world.household.members.get(relation="head")
    Member.objects.filter(pk=head.pk).update(personal_id="010080001234")
    client.force_login(world.reviewer)
    _response, _headers, rows = export_rows(client, "member", "csv")
    assert "010080001234" not in {row[5] for row in rows}
    assert "010•••••••34" in {row[5] for row in rows}
    client.force_login(world.officer)
    _response, _headers, rows = export_rows(client, "member", "csv")
    assert "010080001234" in {row[5] for row in rows}


def test_the_export_reads_the_rows_in_one_query(world, client, django_assert_max_num_queries):
    for number in range(2, 12):
        make_household(world.officer, world.tathang, world.village, f"Chủ hộ {number}", code=f"{number:04d}")
    client.force_login(world.officer)
    # Session, user, then the export: its rows with their communes and villages in one query;
    # and the access log's one insert, whatever the number of rows.
    with django_assert_max_num_queries(7):
        client.post(reverse("admin:households_household_export"), {"format": "1"})


def test_a_resource_without_a_user_exports_nothing(world):
    assert len(HouseholdResource().export()) == 0
    assert len(MemberResource(user=world.superuser).export()) == Member.objects.filter(is_archived=False).count()


# -- the resources read the format -----------------------------------------------------------


def test_resource_fields_are_the_columns_of_the_sheet():
    for resource, sheet in ((HouseholdResource, HOUSEHOLDS), (MemberResource, MEMBERS)):
        assert tuple(resource.fields) == sheet.keys
        assert resource(user=None).get_export_headers() == [c.header for c in sheet.columns]


def test_widgets_read_the_spellings_of_the_format():
    assert CommuneCodeWidget().clean("2794") == "02794"
    assert CommuneCodeWidget().clean(2794.0) == "02794"
    yes_no = YesNoWidget()
    assert [yes_no.clean(v) for v in ("Có", "co", "x", "1", 1, "Không", "", None, "0")] == [
        True, True, True, True, True, False, False, False, False]
    assert yes_no.render(True) == "Có" and yes_no.render(False) == "Không"
    born = DateOrYearWidget()
    assert born.clean("05/03/1987")[1] == 1987 and born.clean("1987") == (None, 1987)
    assert born.render(born.clean("5/3/1987")) == "05/03/1987"
    with pytest.raises(ValidationError):
        yes_no.clean("maybe")


def test_a_resource_previews_aliases_any_column_order_and_lost_zeros_and_never_writes(world):
    dataset = tablib.Dataset(headers=["HO_TEN", "ma_ho", "Ma Xa", "quan he voi chu ho", "gioi tinh", "ngay sinh",
                                      "dan toc", "BHYT", "Ghi chú"])
    dataset.append(["Giàng A Páo", "0001", 2794, "Chủ hộ", "Nam", "1980", "Mông", "x", "…"])
    dataset.append(["Vàng Thị Mỷ", "0001", "2794", "Vợ/Chồng", "Nữ", "1983", "Hmong", "Có", ""])
    dataset.append(["Sùng A Sử", "0001", "02791", "Con", "Nam", "2010", "Mông", "Có", ""])
    before = (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count())
    result = MemberResource(user=world.officer).import_data(dataset, dry_run=True)
    assert [row.import_type for row in result.rows] == ["skip", "skip", "invalid"]
    (invalid,) = result.invalid_rows
    assert invalid.number == 4 and "outside your area" in " ".join(invalid.error_dict["Mã xã"])
    with pytest.raises(ImproperlyConfigured):
        MemberResource(user=world.officer).import_data(dataset, dry_run=False)
    assert (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count()) == before


def test_exchange_formats_fall_back_to_plain_tablib_for_other_datasets_with_formulas_escaped():
    dataset = tablib.Dataset(["1", "=cmd|' /C calc'!A0"], headers=["a", "b"])
    assert ExchangeCSV().export_data(dataset).decode("utf-8-sig").splitlines() == ["a,b", "1,'=cmd|' /C calc'!A0"]
    book = load_workbook(io.BytesIO(ExchangeXLSX().export_data(dataset)))
    assert book.worksheets[0]["B2"].value == "'=cmd|' /C calc'!A0"


# -- import through the admin ----------------------------------------------------------------


def test_officer_sees_import_and_export_buttons(world, client):
    client.force_login(world.officer)
    page = client.get(reverse("admin:households_household_changelist")).content.decode()
    assert reverse("admin:households_household_import") in page
    assert reverse("admin:households_household_export") in page


def test_reviewer_sees_export_but_no_import_and_gets_403_on_the_import_pages(world, client):
    client.force_login(world.reviewer)
    page = client.get(reverse("admin:households_member_changelist")).content.decode()
    assert reverse("admin:households_member_export") in page
    assert reverse("admin:households_member_import") not in page
    assert client.get(reverse("admin:households_household_import")).status_code == 403
    assert client.post(reverse("admin:households_household_import"), {"file": workbook([], [])}).status_code == 403
    batch = ImportBatch.objects.create(created_by=world.officer, file_name="x.csv", sha256="0" * 64,
                                       status=ImportBatch.Status.VALIDATED)
    url = reverse("admin:households_household_import_preview", args=[batch.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"_confirm": "1"}).status_code == 403
    assert not ImportBatch.objects.filter(status=ImportBatch.Status.QUEUED).exists()


def test_a_bad_file_is_previewed_with_its_problems_and_nothing_is_written(
        world, client, django_capture_on_commit_callbacks):
    members = [*GOOD_MEMBERS[:2], member_row("Thào A Sáng", "Con", "Nam", "31/02/2010")]
    before = (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count())
    client.force_login(world.officer)
    batch = upload(client, workbook([household_row(**{"Phân loại": "Giàu"})], members),
                   captured=django_capture_on_commit_callbacks)
    page = client.get(reverse("admin:households_household_import_preview", args=[batch.pk]))
    assert page.status_code == 200 and page.context["can_confirm"]
    batch.refresh_from_db()
    # The household row, and its members with it (their household is not imported).
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected == 4
    problems = {(i.sheet, i.row, i.column, i.value) for i in page.context["issues"]}
    assert ("Hộ gia đình", 2, "Phân loại", "Giàu") in problems
    assert ("Thành viên", 4, "Ngày sinh", "31/02/2010") in problems
    html = page.content.decode()
    assert "Giàu" in html and "31/02/2010" in html and 'name="_confirm_valid"' in html
    assert 'name="_confirm"' not in html  # a file with problems is imported whole only after a fix
    actions = {(row.sheet, row.number): row.action for row in page.context["rows"]}
    assert actions[("Hộ gia đình", 2)] == "rejected" and actions[("Thành viên", 4)] == "rejected"
    # Confirming the whole file is refused; nothing is written either way.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:households_household_import_preview", args=[batch.pk]), {"_confirm": "1"})
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.VALIDATED
    assert (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count()) == before


def test_confirming_a_good_file_imports_it_with_audit_events_of_source_import(
        world, client, django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    batch = upload(client, workbook([household_row()], GOOD_MEMBERS), captured=django_capture_on_commit_callbacks)
    url = reverse("admin:households_household_import_preview", args=[batch.pk])
    page = client.get(url)
    assert [row.action for row in page.context["rows"]] == ["create"] * 4
    assert 'name="_confirm"' in page.content.decode()
    assert not Household.objects.filter(code="0100").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"_confirm": "1"})
    assert response.status_code == 302 and response["Location"] == url
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE, (batch.error, list(batch.issues.values_list("message")))
    assert (batch.created, batch.updated, batch.unchanged, batch.rejected) == (4, 0, 0, 0)
    household = Household.objects.get(commune=world.tathang, code="0100")
    assert household.head_name == "Thào A Dê" and household.member_count == 3
    events = AuditEvent.objects.filter(household=household)
    assert events.count() == 4
    assert set(events.values_list("source", "batch", "actor")) == {("import", batch.reference, world.officer.pk)}
    result = client.get(url)
    assert result.context["batch"].status == ImportBatch.Status.DONE
    assert reverse("exchange:batch", args=[batch.pk]) in result.content.decode()


def test_a_row_outside_the_area_is_rejected_through_the_admin(world, client, django_capture_on_commit_callbacks):
    rows = [household_row(), household_row(code="0200", commune="2791", head="Sùng A Pao")]
    members = [*GOOD_MEMBERS, member_row("Sùng A Pao", code="0200", commune="02791")]
    client.force_login(world.officer)
    batch = upload(client, workbook(rows, members), model="member", captured=django_capture_on_commit_callbacks)
    url = reverse("admin:households_member_import_preview", args=[batch.pk])
    page = client.get(url)
    issues = [(i.sheet, i.row, i.column, i.message) for i in page.context["issues"]]
    # Only the two rows of La Pan Tẩn, on their commune code (the page is in Vietnamese).
    assert [i[:3] for i in issues] == [("Hộ gia đình", 3, "Mã xã"), ("Thành viên", 5, "Mã xã")]
    assert all("02791" in i[3] for i in issues)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"_confirm_valid": "1"})
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE and (batch.created, batch.rejected) == (4, 2)
    assert Household.objects.filter(commune=world.tathang, code="0100").exists()
    assert not Household.objects.filter(commune=world.lapantan, code="0200").exists()


def test_a_csv_file_per_sheet_is_imported_together_through_the_admin(
        world, client, django_capture_on_commit_callbacks):
    def csv_file(name, headers, rows):
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=headers, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        return SimpleUploadedFile(name, out.getvalue().encode("utf-8-sig"))

    client.force_login(world.officer)
    files = [csv_file("ho.csv", HOUSEHOLD_HEADERS, [household_row()]),
             csv_file("tv.csv", MEMBER_HEADERS, GOOD_MEMBERS)]
    batch = upload(client, files, captured=django_capture_on_commit_callbacks)
    url = reverse("admin:households_household_import_preview", args=[batch.pk])
    assert [row.action for row in client.get(url).context["rows"]] == ["create"] * 4
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"_confirm": "1"})
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE and batch.created == 4


def test_another_users_batch_is_not_found_in_the_admin(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    batch = upload(client, workbook([household_row()], GOOD_MEMBERS), captured=django_capture_on_commit_callbacks)
    client.force_login(world.officer2)
    url = reverse("admin:households_household_import_preview", args=[batch.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"_confirm": "1"}).status_code == 404
    assert client.get(reverse("admin:exchange_importbatch_change", args=[batch.pk])).status_code == 404
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.VALIDATED


def test_cancelling_from_the_preview_writes_nothing(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    batch = upload(client, workbook([household_row()], GOOD_MEMBERS), captured=django_capture_on_commit_callbacks)
    client.post(reverse("admin:households_household_import_preview", args=[batch.pk]), {"_cancel": "1"})
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.CANCELLED
    assert not Household.objects.filter(code="0100").exists()


def test_the_import_batch_admin_is_read_only_and_shows_the_problems(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    batch = upload(client, workbook([household_row(**{"Phân loại": "Giàu"})], GOOD_MEMBERS),
                   captured=django_capture_on_commit_callbacks)
    page = client.get(reverse("admin:exchange_importbatch_change", args=[batch.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Giàu" in html and batch.get_absolute_url() in html
    assert "/media/" not in html  # the stored file is not offered around the scoping
    assert 'type="submit"' not in html or 'name="_save"' not in html
