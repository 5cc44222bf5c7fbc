"""Importing households and members: the check, the write, idempotence, the round
trip through an export, scoping, and every kind of bad row."""

import csv
import io
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from core.models import AuditEvent
from exchange import services
from exchange.columns import HOUSEHOLDS, MEMBERS
from exchange.exporter import export
from exchange.models import ImportBatch
from households.models import Household, Member

HOUSEHOLD_HEADERS = [c.header for c in HOUSEHOLDS.columns]
MEMBER_HEADERS = [c.header for c in MEMBERS.columns]


def household_row(code="0100", commune="02794", village="Thôn Sín Chải", head="Thào A Dê", **extra):
    row = {"Mã xã": commune, "Mã hộ": code, "Thôn": village, "Họ tên chủ hộ": head, "Khu vực": "Nông thôn",
           "Hộ làm nông, lâm, ngư, diêm nghiệp": "Có", "Số điện thoại": "", "Phân loại": "",
           "Năm phân loại": "", "Hộ có người có công": "Không", "Hộ bảo trợ xã hội": "Không"}
    row.update(extra)
    return row


def member_row(name, relation="Chủ hộ", sex="Nam", born="1980", code="0100", commune="02794", pid="",
               ethnicity="Mông", insured="Có"):
    return {"Mã xã": commune, "Mã hộ": code, "Họ và tên": name, "Giới tính": sex, "Ngày sinh": born,
            "Số định danh": pid, "Dân tộc": ethnicity, "Quan hệ với chủ hộ": relation, "Có thẻ BHYT": insured}


def workbook_bytes(households, members) -> bytes:
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
    return out.getvalue()


def csv_bytes(headers, rows, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=headers)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def run(user, data: bytes, name="ds.xlsx", *, valid_rows_only=False) -> ImportBatch:
    """Upload, check, confirm and import as the page does (tasks run eagerly)."""
    batch = services.create_batch(user=user, upload=io.BytesIO(data), file_name=name)
    batch = services.check_batch(batch.pk)
    if batch.status == ImportBatch.Status.VALIDATED and (not batch.rejected or valid_rows_only):
        services.confirm_batch(user=user, batch=batch, valid_rows_only=valid_rows_only)
        batch = services.import_batch(batch.pk)
    return batch


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


GOOD_MEMBERS = [
    member_row("Thào A Dê", pid="010080001234"),
    member_row("Giàng Thị Sua", "Vợ/Chồng", "Nữ", "12/03/1983"),
    member_row("Thào A Sáng", "Con", "Nam", "2010"),
]


def test_a_new_household_with_members_is_created_with_an_audit_trail_linked_to_the_batch(world, both_paths):
    batch = run(world.officer, workbook_bytes([household_row()], GOOD_MEMBERS))
    assert batch.status == ImportBatch.Status.DONE, (batch.error, list(batch.issues.values_list("message")))
    assert (batch.created, batch.updated, batch.unchanged, batch.rejected) == (4, 0, 0, 0)
    household = Household.objects.get(commune=world.tathang, code="0100")
    assert household.head_name == "Thào A Dê" and household.member_count == 3
    assert household.village.name == "Thôn Sín Chải" and household.classification == "none"
    assert "thao a de" in household.search_text and household.is_ethnic_minority
    spouse = household.members.get(relation="spouse")
    assert spouse.birth_date.isoformat() == "1983-03-12" and spouse.birth_year == 1983
    events = AuditEvent.objects.filter(household=household)
    assert events.count() == 4
    assert set(events.values_list("source", "batch", "actor")) == {("import", batch.reference, world.officer.pk)}


def test_importing_the_same_file_twice_changes_nothing(world, both_paths):
    data = workbook_bytes([household_row()], GOOD_MEMBERS)
    run(world.officer, data)
    before = (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count())
    again = run(world.officer, data)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 0)
    assert (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count()) == before


def test_a_changed_value_updates_only_that_record(world):
    run(world.officer, workbook_bytes([household_row()], GOOD_MEMBERS))
    changed = [dict(GOOD_MEMBERS[0]), dict(GOOD_MEMBERS[1], **{"Có thẻ BHYT": "Không"}), dict(GOOD_MEMBERS[2])]
    batch = run(world.officer, workbook_bytes([household_row(**{"Số điện thoại": "0912345678"})], changed))
    assert (batch.created, batch.updated, batch.unchanged) == (0, 2, 2)
    household = Household.objects.get(commune=world.tathang, code="0100")
    assert household.phone == "0912345678" and household.version == 2
    assert not household.members.get(relation="spouse").has_health_insurance


def test_export_then_import_changes_nothing(world, both_paths, tmp_path):
    households_file, members_file = tmp_path / "hh.xlsx", tmp_path / "tv.xlsx"
    export("households", world.officer, "xlsx", households_file)
    export("members", world.officer, "xlsx", members_file)
    counts = (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count())
    for path in (households_file, members_file):
        batch = run(world.officer, Path(path).read_bytes(), path.name)
        assert batch.status == ImportBatch.Status.DONE, list(batch.issues.values_list("row", "column", "message"))
        assert batch.created == batch.updated == batch.rejected == 0 and batch.unchanged > 0
    assert (Household.objects.count(), Member.objects.count(), AuditEvent.objects.count()) == counts


def test_rows_outside_the_users_area_are_rejected_and_nothing_is_written(world, both_paths):
    rows = [household_row(), household_row(code="0200", commune="02791", head="Sùng A Pao")]
    members = [*GOOD_MEMBERS, member_row("Sùng A Pao", code="0200", commune="02791")]
    batch = run(world.officer, workbook_bytes(rows, members))
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected == 2
    messages = list(batch.issues.values_list("sheet", "row", "column", "message"))
    assert ("Hộ gia đình", 3, "Mã xã") in [m[:3] for m in messages]
    assert any("outside your area" in m[3] for m in messages)
    assert not Household.objects.filter(code__in=["0100", "0200"]).exists()


def test_valid_rows_only_is_an_explicit_choice(world, both_paths):
    rows = [household_row(), household_row(code="0200", commune="02791", head="Sùng A Pao")]
    members = [*GOOD_MEMBERS, member_row("Sùng A Pao", code="0200", commune="02791")]
    batch = run(world.officer, workbook_bytes(rows, members), valid_rows_only=True)
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.created, batch.rejected) == (4, 2)
    assert Household.objects.filter(commune=world.tathang, code="0100").exists()
    assert not Household.objects.filter(code="0200").exists()


def test_every_kind_of_error_is_reported_against_its_row_and_column(world, both_paths):
    members = [
        member_row("Thào A Dê", pid="01008000123"),  # row 2: an 11-digit ID
        member_row("Giàng Thị Sua", "Vợ/Chồng", "Nữ", "31/02/1983"),  # row 3: no 31 February
        member_row("Thào A Sáng", "Con", "Nam", "2010", ethnicity="Martian"),  # row 4: unknown group
        member_row("Thào A Lử", "Chủ hộ", "Nam", "1990", code="0300"),  # rows 5-6: two heads
        member_row("Thào A Chư", "Chủ hộ", "Nam", "1992", code="0300"),
        member_row("Lý A Sì", code="9999"),  # row 7: no such household
        member_row("", "Con", "Nam", "2012"),  # row 8: name missing
        member_row("=HYPERLINK(\"http://x\")", "Con", "Nam", "2013"),  # row 9: a formula
    ]
    households = [household_row(), household_row(code="0300", head="Thào A Lử")]
    batch = run(world.officer, workbook_bytes(households, members))
    issues = {(i.sheet, i.row, i.column) for i in batch.issues.all()}
    expected = {
        ("Thành viên", 2, "Số định danh"), ("Thành viên", 3, "Ngày sinh"), ("Thành viên", 4, "Dân tộc"),
        ("Thành viên", 5, "Mã hộ"), ("Thành viên", 6, "Mã hộ"), ("Hộ gia đình", 3, "Mã hộ"),
        ("Thành viên", 7, "Mã hộ"), ("Thành viên", 8, "Họ và tên"), ("Thành viên", 9, "Họ và tên"),
    }
    assert expected <= issues, sorted(issues)
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected >= 8
    assert not Household.objects.filter(code__in=["0100", "0300"]).exists()
    assert not Member.objects.filter(full_name__startswith="Thào A").exists()


TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def windows_1258(text: str) -> bytes:
    """Text as Vietnamese Windows writes it: vowel letters precomposed (â, ơ, ư…),
    tone marks as separate combining characters after them."""
    import unicodedata

    out = []
    for char in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", char)
        tones = "".join(p for p in parts if p in TONE_MARKS)
        out.append(unicodedata.normalize("NFC", "".join(p for p in parts if p not in TONE_MARKS)) + tones)
    return "".join(out).encode("cp1258")


def test_decomposed_windows_1258_csv_is_read_and_stored_in_nfc(world):
    import unicodedata

    run(world.officer, workbook_bytes([household_row()], GOOD_MEMBERS))
    rows = [member_row("Thào Thị Mỷ", "Con", "Nữ", "2015")]
    data = windows_1258(csv_bytes(MEMBER_HEADERS, rows, encoding="utf-8").decode())
    assert not unicodedata.is_normalized("NFC", data.decode("cp1258"))
    batch = run(world.officer, data, "thanh_vien.csv")
    assert batch.status == ImportBatch.Status.DONE, list(batch.issues.values_list("message", flat=True))
    member = Member.objects.get(search_name="thao thi my")
    assert member.full_name == "Thào Thị Mỷ" and unicodedata.is_normalized("NFC", member.full_name)


def test_the_page_uploads_reports_and_imports(world, client, django_capture_on_commit_callbacks):
    client.force_login(world.officer)
    upload = SimpleUploadedFile("ds.xlsx", workbook_bytes([household_row()], GOOD_MEMBERS))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("exchange:imports"), {"file": upload})
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == batch.get_absolute_url()
    page = client.get(batch.get_absolute_url())
    assert page.status_code == 200 and page.context["can_confirm"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("exchange:confirm", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.DONE and batch.created == 4
    progress = client.get(reverse("exchange:progress", args=[batch.pk])).json()
    assert progress["finished"] is True


def test_the_rejected_rows_download_carries_a_message_column(world, client):
    members = [*GOOD_MEMBERS[:2], member_row("Thào A Sáng", "Con", "Nam", "2010", ethnicity="Martian")]
    batch = run(world.officer, workbook_bytes([household_row()], members))
    client.force_login(world.officer)
    response = client.get(reverse("exchange:rejected", args=[batch.pk]))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(book["Thành viên"].iter_rows(values_only=True))
    assert rows[0][-1] == "Lỗi"
    assert any("Martian" in (row[-1] or "") for row in rows[1:])


def test_another_users_batch_is_not_found(world, client):
    batch = services.create_batch(user=world.officer, upload=io.BytesIO(b"a,b\n1,2\n"), file_name="x.csv")
    client.force_login(world.officer2)
    assert client.get(batch.get_absolute_url()).status_code == 404


def test_reviewers_cannot_import(world, client):
    client.force_login(world.reviewer)
    assert client.get(reverse("exchange:imports")).status_code == 403


def test_import_file_command_reports_and_exits_non_zero_on_rejections(world, tmp_path, capsys):
    good = tmp_path / "good.xlsx"
    good.write_bytes(workbook_bytes([household_row()], GOOD_MEMBERS))
    call_command("import_file", str(good), "--user", "officer", "--dry-run")
    assert "created 4" in capsys.readouterr().out
    assert not Household.objects.filter(code="0100").exists()  # a dry run writes nothing
    call_command("import_file", str(good), "--user", "officer")
    assert Household.objects.filter(code="0100").exists()
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(workbook_bytes([household_row(code="0101")], [member_row("Giàng A Lử", code="0101",
                                                                             ethnicity="Martian")]))
    with pytest.raises(CommandError):
        call_command("import_file", str(bad), "--user", "officer")
    assert not Household.objects.filter(code="0101").exists()


def test_query_count_hardly_grows_with_the_number_of_rows(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def rows(n, start):
        households = [household_row(code=f"{start + i:05d}", head=f"Thào A Dê {i}") for i in range(n)]
        members = [member_row(f"Thào A Dê {i}", code=f"{start + i:05d}") for i in range(n)]
        return workbook_bytes(households, members)

    counts = []
    for n, start in ((100, 10000), (1000, 20000)):
        data = rows(n, start)
        with CaptureQueriesContext(connection) as queries:
            batch = run(world.officer, data)
        assert batch.status == ImportBatch.Status.DONE and batch.created == 2 * n
        counts.append(len(queries))
    if connection.vendor == "postgresql":
        assert counts[1] - counts[0] <= 5, counts
    else:
        # SQLite caps a statement at 999 parameters, so bulk statements are split
        # into chunks; the count still grows far slower than the rows.
        assert counts[1] < counts[0] * 3, counts


def test_an_unreadable_file_is_rejected_with_a_message_and_its_rejected_rows_page_does_not_fail(world, client):
    batch = run(world.officer, b"\x00\x01 not a spreadsheet \xff" * 10, "ds.xlsx")
    assert batch.status == ImportBatch.Status.REJECTED and batch.error
    ImportBatch.objects.filter(pk=batch.pk).update(rejected=1)
    client.force_login(world.officer)
    response = client.get(reverse("exchange:rejected", args=[batch.pk]))
    assert response.status_code == 302


def test_large_file_path_finds_each_households_members_wherever_they_stand(world, monkeypatch):
    from exchange import bulk

    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_CHUNK", 3)
    households = [household_row(code=f"05{i:02d}", head=f"Lò Văn Tám {i}") for i in range(10)]
    members = [member_row(f"Lò Văn Tám {i}", code=f"05{i:02d}") for i in reversed(range(10))]
    members += [member_row(f"Lò Thị Hoa {i}", "Vợ/Chồng", "Nữ", "1985", code=f"05{i:02d}") for i in range(10)]
    batch = run(world.officer, workbook_bytes(households, members))
    assert batch.status == ImportBatch.Status.DONE, list(batch.issues.values_list("message", flat=True))
    assert batch.created == 30
    assert all(h.member_count == 2 for h in Household.objects.filter(code__startswith="05", commune=world.tathang))
    from exchange.models import StagedRow

    assert not StagedRow.objects.exists()  # parked rows are removed once written


def test_large_file_path_rejects_a_personal_id_used_in_two_households_of_the_file(world, monkeypatch):
    from exchange import bulk

    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    monkeypatch.setattr(bulk, "HOUSEHOLDS_PER_CHUNK", 1)
    households = [household_row(code="0601", head="Lò Văn Một"), household_row(code="0602", head="Lò Văn Hai")]
    members = [member_row("Lò Văn Một", code="0601", pid="010080001111"),
               member_row("Lò Văn Hai", code="0602", pid="010080001111")]
    batch = run(world.officer, workbook_bytes(households, members))
    assert batch.status == ImportBatch.Status.VALIDATED
    assert {(i.sheet, i.row, i.column) for i in batch.issues.all()} >= {
        ("Thành viên", 2, "Số định danh"), ("Thành viên", 3, "Số định danh")}
    assert not Household.objects.filter(code__in=["0601", "0602"]).exists()


def test_a_province_administrator_cannot_import_households(world):
    households = [household_row(code="0700", head="Thào A Dê"),
                  household_row(code="0701", commune="02701", village="Thôn Choản Thèn", head="Phàn Láo Lở")]
    members = [member_row("Thào A Dê", code="0700"), member_row("Phàn Láo Lở", code="0701", commune="02701",
                                                                 ethnicity="Dao")]
    with pytest.raises(PermissionDenied, match="Only commune officers import households and members"):
        run(world.province_admin, workbook_bytes(households, members))
    assert not ImportBatch.objects.exists()
    assert not Household.objects.filter(code__in=["0700", "0701"]).exists()


def test_a_province_administrators_batch_checked_before_is_refused_when_imported(world):
    """A batch uploaded while province administrators still imported writes nothing now."""
    data = workbook_bytes([household_row(code="0702")], [member_row("Thào A Dê", code="0702")])
    batch = services.create_batch(user=world.officer, upload=io.BytesIO(data), file_name="ds.xlsx")
    ImportBatch.objects.filter(pk=batch.pk).update(created_by=world.province_admin)
    assert services.check_batch(batch.pk).status == ImportBatch.Status.VALIDATED
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.QUEUED)
    batch = services.import_batch(batch.pk)
    assert batch.status == ImportBatch.Status.FAILED
    assert "Only commune officers import households and members" in batch.error
    assert not Household.objects.filter(code="0702").exists()


def test_a_csv_file_per_sheet_uploaded_together_imports_new_households(world, client, both_paths,
                                                                        django_capture_on_commit_callbacks):
    households = csv_bytes(HOUSEHOLD_HEADERS, [household_row()])
    members = "\n".join("\t".join(line.split(",")) for line in
                        csv_bytes(MEMBER_HEADERS, GOOD_MEMBERS, encoding="utf-8").decode().splitlines())
    client.force_login(world.officer)
    files = [SimpleUploadedFile("ho.csv", households), SimpleUploadedFile("thanh_vien.txt", members.encode("utf-16"))]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("exchange:imports"), {"file": files})
    batch = ImportBatch.objects.get()
    assert batch.is_bundle and batch.file_name == "ho.csv + thanh_vien.txt"
    assert batch.status == ImportBatch.Status.VALIDATED, (batch.error, list(batch.issues.values_list("message")))
    assert (batch.created, batch.rejected) == (4, 0)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("exchange:confirm", args=[batch.pk]))
    assert Household.objects.get(commune=world.tathang, code="0100").member_count == 3


def test_import_file_command_takes_a_csv_per_sheet(world, tmp_path):
    (tmp_path / "ho.csv").write_bytes(csv_bytes(HOUSEHOLD_HEADERS, [household_row()]))
    (tmp_path / "tv.csv").write_bytes(csv_bytes(MEMBER_HEADERS, GOOD_MEMBERS))
    call_command("import_file", str(tmp_path / "ho.csv"), str(tmp_path / "tv.csv"), "--user", "officer")
    assert Household.objects.get(commune=world.tathang, code="0100").member_count == 3


def test_a_province_administrators_export_with_hidden_ids_imports_back_unchanged(world, tmp_path):
    run(world.officer, workbook_bytes([household_row()], GOOD_MEMBERS))
    members_file = tmp_path / "tv.xlsx"
    export("members", world.province_admin, "xlsx", members_file)
    assert "010•••••••34" in [c.value for row in load_workbook(members_file).active.iter_rows() for c in row]
    counts = (Member.objects.count(), AuditEvent.objects.count())
    # Province administrators do not import; the file comes back through a superuser.
    batch = run(world.superuser, members_file.read_bytes(), "tv.xlsx")
    assert batch.status == ImportBatch.Status.DONE, list(batch.issues.values_list("row", "message"))
    assert batch.created == batch.updated == 0
    assert (Member.objects.count(), AuditEvent.objects.count()) == counts
    assert Member.objects.get(full_name="Thào A Dê").personal_id == "010080001234"


def test_a_hidden_id_that_does_not_match_the_register_is_rejected(world):
    run(world.officer, workbook_bytes([household_row()], GOOD_MEMBERS))
    members = [member_row("Thào A Dê", pid="010•••••••99"), *GOOD_MEMBERS[1:]]
    batch = run(world.officer, workbook_bytes([], members))
    assert ("Thành viên", 2, "Số định danh") in {(i.sheet, i.row, i.column) for i in batch.issues.all()}


def test_the_household_history_names_the_import_a_change_came_from(world, client):
    batch = run(world.officer, workbook_bytes([household_row()], GOOD_MEMBERS))
    household = Household.objects.get(commune=world.tathang, code="0100")
    client.force_login(world.officer)
    page = client.get(household.get_absolute_url()).content.decode()
    assert batch.reference in page


def test_a_sheet_missing_a_required_column_is_refused_once(world, both_paths):
    headers = [h for h in MEMBER_HEADERS if h != "Dân tộc"]
    rows = [{k: v for k, v in row.items() if k != "Dân tộc"} for row in GOOD_MEMBERS]
    batch = run(world.officer, csv_bytes(headers, rows), "tv.csv")
    assert batch.status == ImportBatch.Status.VALIDATED and batch.rejected == 1
    issue = batch.issues.get()
    assert "Dân tộc" in issue.message and issue.row == 1
    assert not Member.objects.filter(full_name="Thào A Dê").exists()


def test_both_paths_leave_the_same_records_and_audit_trail(world, monkeypatch):
    """The bulk load of new households writes what the ordinary writer writes:
    the same derived columns and the same audit events, value for value."""
    from exchange import bulk

    def written(code):
        import json

        household = Household.objects.get(commune=world.tathang, code=code)
        columns = ("head_name", "member_count", "is_ethnic_minority", "search_text", "area", "classification",
                   "classification_year", "is_farm", "phone", "version", "village_id")
        members = sorted(household.members.values_list("full_name", "search_name", "sex", "birth_date",
                                                       "birth_year", "personal_id", "ethnicity__name", "relation",
                                                       "has_health_insurance"))
        events = sorted((e.action, e.source, e.object_repr, json.dumps(e.changes, sort_keys=True))
                        for e in AuditEvent.objects.filter(household=household))
        return json.dumps([[getattr(household, c) for c in columns], members, events], default=str).replace(code, "~")

    def file(code):
        return workbook_bytes([household_row(code=code, **{"Số điện thoại": "0912345678"})], [
            {**m, "Mã hộ": code, "Số định danh": ""} for m in GOOD_MEMBERS])

    small = run(world.officer, file("0801"))
    monkeypatch.setattr(bulk, "LARGE_FILE_BYTES", 0)
    large = run(world.officer, file("0802"))
    assert small.status == large.status == ImportBatch.Status.DONE
    assert written("0801") == written("0802")
    assert AuditEvent.objects.filter(batch=large.reference).count() == 4


def test_problems_across_rows_are_reported_alike_on_both_paths(world, both_paths):
    households = [household_row(code="0901", head="Lò Văn Chín"), household_row(code="0901", head="Lò Văn Chín"),
                  household_row(code="0902", head="Lò Văn Mười"), household_row(code="0903", head="Lò Văn Ba")]
    members = [member_row("Lò Văn Chín", code="0901"),
               member_row("Lò Văn Khác", code="0902"),  # the head is someone else than on the households sheet
               member_row("Lò Văn Ba", code="0903", pid="010•••••••12"),  # a hidden ID in a new household
               member_row("Lò Văn Bốn", code="0904")]  # no such household
    batch = run(world.officer, workbook_bytes(households, members))
    assert batch.status == ImportBatch.Status.VALIDATED
    issues = {(i.sheet, i.row, i.column) for i in batch.issues.all()}
    assert issues == {("Hộ gia đình", 3, "Mã hộ"), ("Hộ gia đình", 4, "Mã hộ"), ("Thành viên", 3, "Mã hộ"),
                      ("Hộ gia đình", 5, "Mã hộ"), ("Thành viên", 4, "Số định danh"),
                      ("Thành viên", 5, "Mã hộ")}, sorted(issues)
    assert (batch.created, batch.rejected) == (2, 6)
    assert not Household.objects.filter(code__startswith="090").exists()
