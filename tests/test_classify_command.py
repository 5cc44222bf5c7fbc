"""`manage.py classify` (a Phiếu B sheet → classifications) and `manage.py load_score_table`."""

import csv
import io

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from exchange.columns import INDICATOR_KEYS
from reviews.models import PovertyStandard, ScoreItem
from reviews.phieu_b import deprivations_for, read_row

HEADERS = ["Mã xã", "Mã hộ", "Năm rà soát", "Thu nhập bình quân", "Điểm thu nhập",
           *(header for _key, header in INDICATOR_KEYS), "Hộ làm nông, lâm, ngư, diêm nghiệp"]


def survey_row(commune, code, year, income="", *, deprived=0, score="", farm="", flags=None, yes="x", no="Không"):
    """A Phiếu B row deprived on the first `deprived` indicators (or on explicit `flags`)."""
    flags = flags if flags is not None else [yes if i < deprived else no for i in range(12)]
    return [commune, code, year, income, score, *flags, farm]


def write_csv(path, rows, headers=HEADERS):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")
    return path


def run(source, tmp_path, *extra):
    out = tmp_path / "ket_qua.csv"
    error = None
    try:
        call_command("classify", str(source), "--out", str(out), *extra, stdout=io.StringIO())
    except CommandError as exc:
        error = exc
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    return rows, error


def test_classifies_under_the_year_standard_with_urban_and_rural_lines(world, tmp_path):
    source = write_csv(tmp_path / "phieu_b.csv", [
        survey_row("02794", "0001", 2025, "1.000.000", deprived=3),          # rural, ≤ 1.5 M, 3 → poor
        survey_row("02794", "0002", 2025, "1500000", deprived=2),            # at the line, 2 → near-poor
        survey_row("02794", "0003", 2025, "2000000", deprived=5, farm="Có"),  # farm, ≤ 2.25 M → middle
        survey_row("02794", "0004", 2025, "2000000", deprived=5),            # not a farm → none
        survey_row("02761", "0009", 2024, "1800000", deprived=3),            # urban town (2021 map) → poor
        survey_row("02794", "0005", 2027, "2000000", deprived=4),            # 2027 provisional line 2.2 M → poor
    ])
    rows, error = run(source, tmp_path)
    assert error is None
    assert list(rows[0]) == ["Mã xã", "Mã hộ", "Năm rà soát", "Phân loại", "Số chỉ số thiếu hụt",
                             "Chênh lệch thu nhập", "Giải thích"]
    got = [(r["Mã hộ"], r["Phân loại"], r["Số chỉ số thiếu hụt"], r["Chênh lệch thu nhập"]) for r in rows]
    assert got == [
        ("0001", "Hộ nghèo", "3", "500000"),
        ("0002", "Hộ cận nghèo", "2", "0"),
        ("0003", "Hộ có mức sống trung bình", "5", "-500000"),
        ("0004", "Không", "5", "-500000"),
        ("0009", "Hộ nghèo", "3", "200000"),
        ("0005", "Hộ nghèo", "4", "200000"),
    ]
    # The explanation is in Vietnamese and cites the numbers and the line.
    assert "1.000.000" in rows[0]["Giải thích"] and "1.500.000" in rows[0]["Giải thích"]
    assert "2.000.000" in rows[4]["Giải thích"]  # the urban line
    assert "2.200.000" in rows[5]["Giải thích"]  # the 2027–2030 rural line


def test_the_standard_switch_and_a_province_standard(world, tmp_path):
    national = PovertyStandard.objects.get(code="2022-2025")
    # A higher local standard of Lào Cai (test data): it takes precedence in the province.
    local = PovertyStandard.objects.create(
        code="LC-TEST", name="Chuẩn thử của tỉnh", legal_basis="Dữ liệu thử", first_year=2022, last_year=2026,
        province=world.province, income_line_rural=2_000_000, income_line_urban=2_500_000,
        middle_line_rural=2_600_000, middle_line_urban=3_200_000)
    for indicator in national.indicators.all():
        local.indicators.create(number=indicator.number, code=indicator.code, dimension=indicator.dimension,
                                name=indicator.name)
    source = write_csv(tmp_path / "phieu_b.csv", [survey_row("02794", "0001", 2025, "1800000", deprived=3)])
    rows, error = run(source, tmp_path)
    assert error is None and rows[0]["Phân loại"] == "Hộ nghèo"
    rows, error = run(source, tmp_path, "--standard", "2022-2025")
    assert error is None and rows[0]["Phân loại"] == "Không"
    # Under a standard whose years the row is outside of: refused, naming the year.
    rows, error = run(source, tmp_path, "--standard", "2027-2030")
    assert error is not None
    assert rows[0]["Phân loại"] == "" and rows[0]["Giải thích"].startswith("Năm rà soát:")
    assert "2027" in rows[0]["Giải thích"]
    with pytest.raises(CommandError, match="NO-SUCH"):
        call_command("classify", str(source), "--out", str(tmp_path / "x.csv"), "--standard", "NO-SUCH")


def test_reads_an_excel_workbook_with_a_title_and_lost_leading_zeros(world, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Phiếu B"
    sheet.append(["UBND XÃ TẢ THÀNG"])
    sheet.append(["KẾT QUẢ RÀ SOÁT NĂM 2025"])
    sheet.append([])
    sheet.append(HEADERS)
    # Excel made the code a number; flags as 1/0 numbers.
    sheet.append(survey_row(2794, "0001", 2025, 1000000, deprived=4, yes=1, no=0))
    sheet.append(survey_row(2794, "0002", 2025, score=150, deprived=4, yes=1, no=0))  # above the rural line
    sheet.append(survey_row(2794, "0003", 2025, score=120, deprived=2, yes=1, no=0))
    path = tmp_path / "phieu_b.xlsx"
    book.save(path)
    rows, error = run(path, tmp_path)
    assert error is None, error
    assert [(r["Mã xã"], r["Mã hộ"], r["Năm rà soát"], r["Phân loại"]) for r in rows] == [
        ("02794", "0001", "2025", "Hộ nghèo"),
        ("02794", "0002", "2025", "Không"),
        ("02794", "0003", "2025", "Hộ cận nghèo"),
    ]
    assert rows[1]["Chênh lệch thu nhập"] == ""  # the scoring method has no income gap
    assert "150" in rows[1]["Giải thích"]


def test_bad_rows_are_explained_and_the_command_fails(world, tmp_path):
    unanswered = ["x"] * 12
    unanswered[8] = ""  # a required answer left empty: not a "no"
    source = write_csv(tmp_path / "phieu_b.csv", [
        survey_row("02794", "0001", 2025, "1000000", deprived=3),
        survey_row("02794", "0002", 2025, "-500000", deprived=3),
        survey_row("02794", "0003", 2025, "1000000", flags=unanswered),
        survey_row("02794", "0004", 2019, "1000000", deprived=3),
        survey_row("99999", "0005", 2025, "1000000", deprived=3),
        survey_row("02794", "0006", 2025, "", deprived=3),
        survey_row("02794", "0007", 2025, "1000000", deprived=3, farm="có lẽ"),
    ])
    rows, error = run(source, tmp_path)
    assert error is not None and "6 rows could not be classified" in str(error)
    assert len(rows) == 7
    explained = {r["Mã hộ"]: r["Giải thích"] for r in rows}
    assert rows[0]["Phân loại"] == "Hộ nghèo"
    assert explained["0002"].startswith("Thu nhập bình quân:") and "-500000" in explained["0002"]
    assert explained["0003"].startswith("Thiếu nguồn nước sinh hoạt:")
    assert explained["0004"].startswith("Năm rà soát:") and "2019" in explained["0004"]
    assert explained["0005"].startswith("Mã xã:") and "99999" in explained["0005"]
    assert explained["0006"].startswith("Thu nhập bình quân:")
    assert explained["0007"].startswith("Hộ làm nông, lâm, ngư, diêm nghiệp:")
    assert all(r["Phân loại"] == "" for r in rows[1:])


def test_an_indicator_without_a_column_is_named(world):
    facts = read_row({"ma_xa": "2794", "ma_ho": "1", "nam": "2025", "thu_nhap": "1000000",
                      **{key: "x" for key, _header in INDICATOR_KEYS if key != "thieu_nuoc"}})
    assert facts.problems == [] and facts.commune_code == "02794"
    codes = tuple(PovertyStandard.objects.get(code="2022-2025").indicators.values_list("code", flat=True))
    _answers, problems = deprivations_for(facts, codes)
    assert [str(p) for p in problems] == ["Thiếu nguồn nước sinh hoạt: the sheet has no such column."]


def test_a_file_without_the_sheet_or_a_column_is_refused(world, tmp_path):
    source = write_csv(tmp_path / "ho.csv", [["02794", "0001", "Thôn Tả Thàng", "Giàng A Páo"]],
                       headers=["Mã xã", "Mã hộ", "Thôn", "Họ tên chủ hộ"])
    with pytest.raises(CommandError, match="Phiếu B"):
        call_command("classify", str(source), "--out", str(tmp_path / "x.csv"))
    headers = [h for h in HEADERS if h != "Thiếu BHYT"]
    source = write_csv(tmp_path / "b.csv", [survey_row("02794", "1", 2025, "1")[:-1]], headers=headers)
    with pytest.raises(CommandError, match="Thiếu BHYT"):
        call_command("classify", str(source), "--out", str(tmp_path / "x.csv"))


# --- load_score_table -------------------------------------------------------------------------------

# TEST DATA ONLY: a made-up two-question table, not the official point table of Circular 07/2021.
TEST_TABLE = """question,question_text,answer,answer_text,area,points
T1,Câu hỏi thử 1 (dữ liệu thử),1,Có,,10
T1,Câu hỏi thử 1 (dữ liệu thử),2,Không,,0
T2,Câu hỏi thử 2 (dữ liệu thử),1,Có,rural,5
T2,Câu hỏi thử 2 (dữ liệu thử),1,Có,Thành thị,7
"""


def load(path, *extra):
    out = io.StringIO()
    call_command("load_score_table", str(path), "--standard", "2022-2025", *extra, stdout=out,
                 stderr=io.StringIO())
    return out.getvalue()


def test_load_score_table_is_idempotent(world, tmp_path):
    path = tmp_path / "diem_thu.csv"
    path.write_text(TEST_TABLE, encoding="utf-8-sig")
    assert "4 created, 0 updated, 0 unchanged" in load(path)
    assert "0 created, 0 updated, 4 unchanged" in load(path)
    items = ScoreItem.objects.filter(standard__code="2022-2025", province=None)
    assert items.count() == 4
    assert set(items.filter(question="T2").values_list("area", "points")) == {("rural", 5), ("urban", 7)}
    path.write_text(TEST_TABLE.replace("Có,rural,5", "Có,rural,6"), encoding="utf-8")
    assert "0 created, 1 updated, 3 unchanged" in load(path)
    # A province's own table stands beside the national one.
    assert "4 created" in load(path, "--province", "10", "--edition", "2021")
    assert ScoreItem.objects.filter(province=world.province).count() == 4


def test_load_score_table_refuses_bad_rows_and_writes_nothing(world, tmp_path):
    path = tmp_path / "diem_thu.csv"
    path.write_text(TEST_TABLE + "T3,,1,Có,,x\nT4,Câu 4,1,Có,miền núi,3\nT1,Câu hỏi thử 1,1,Có,,4\n",
                    encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="Nothing was loaded"):
        call_command("load_score_table", str(path), "--standard", "2022-2025", stdout=io.StringIO(), stderr=err)
    report = err.getvalue()
    assert "Row 6: question_text is empty; points “x” is not a whole number." in report
    assert "Row 7: area “miền núi” is not rural, urban or empty." in report
    assert "Row 8: the same question, answer and area as row 2." in report
    assert not ScoreItem.objects.exists()
    path.write_text("question,answer,points\nT1,1,3\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Nothing was loaded"):
        load(path)
    with pytest.raises(CommandError, match="NO-SUCH"):
        call_command("load_score_table", str(path), "--standard", "NO-SUCH")
    with pytest.raises(CommandError, match="both editions"):
        call_command("load_score_table", str(path), "--standard", "2022-2025", "--province", "15")
