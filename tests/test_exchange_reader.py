"""Reading exchange files as they really arrive: every encoding and layout staff
produce, and every kind of file that must be refused (with ReadError, fast,
in little memory, and never any other exception)."""

import collections
import io
import itertools
import struct
import time
import tracemalloc
import unicodedata
import zipfile
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from exchange import reader
from exchange.columns import HOUSEHOLDS, INDICATOR_KEYS, MEMBERS, SURVEYS
from exchange.reader import ReadError, read_tables

MEMBER_HEADERS = [c.header for c in MEMBERS.columns]
HOUSEHOLD_HEADERS = [c.header for c in HOUSEHOLDS.columns]
NAMES = ["Nguyễn Thị Hường", "Đặng Văn Ất", "Giàng A Páo", "Lò Thị Ửng", "Hờ Seo Dình"]
TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


# -- building files --------------------------------------------------------------------

def xlsx(*sheets: tuple[str, list[list]], merges: dict[str, list[str]] | None = None) -> bytes:
    """A workbook with the given sheets (title, rows); `merges` by sheet title."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets:
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        for cells in (merges or {}).get(title, []):
            sheet.merge_cells(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_text(rows: list[list[str]], delimiter: str = ",", newline: str = "\r\n") -> str:
    def cell(value: str) -> str:
        value = str(value)
        if any(ch in value for ch in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(delimiter.join(cell(v) for v in row) + newline for row in rows)


def windows_1258(text: str) -> bytes:
    """Text as Excel writes it on Vietnamese Windows: vowels with their shape marks
    precomposed (â, ơ, ư, ă, đ…), tone marks as separate combining characters.
    (Plain NFD cannot be encoded: cp1258 has no combining circumflex or horn.)"""
    out = []
    for char in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS))
        out.append(base + "".join(c for c in parts if c in TONE_MARKS))
    return "".join(out).encode("cp1258")


def without_marks(text: str) -> str:
    """Vietnamese typed without diacritics, letter case kept: "Số định danh" -> "So dinh danh"."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in text if not unicodedata.combining(c))


def member_row(name: str, code="02794", household="H01", relation="Chủ hộ") -> list:
    return [code, household, name, "Nữ", "05/03/1980", "", "Kinh", relation, "Có"]


def only(tables):
    recognised = [t for t in tables if t.recognised]
    assert len(recognised) == 1, tables
    return recognised[0]


def values(table, key):
    return [row.values[key] for row in table.rows()]


# -- the file shapes -------------------------------------------------------------------

def test_windows_1258_helper_round_trips():
    for name in NAMES:
        encoded = windows_1258(name)
        decoded = encoded.decode("cp1258")
        assert decoded != name  # really decomposed
        assert unicodedata.normalize("NFC", decoded) == name


@pytest.mark.parametrize("encode", [
    pytest.param(lambda text: text.encode("utf-8"), id="utf-8"),
    pytest.param(lambda text: text.encode("utf-8-sig"), id="utf-8-bom"),
    pytest.param(lambda text: unicodedata.normalize("NFD", text).encode("utf-8"), id="utf-8-decomposed"),
    pytest.param(windows_1258, id="windows-1258"),
])
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_in_each_encoding_and_delimiter(encode, delimiter):
    rows = [MEMBER_HEADERS] + [member_row(name, household=f"H{i}") for i, name in enumerate(NAMES)]
    table = only(read_tables(encode(csv_text(rows, delimiter)), "danh sach.csv"))
    assert table.kind == "members" and table.name == "danh sach.csv"
    assert table.header_row == 1 and table.unknown_columns == [] and table.missing_required == []
    names = values(table, "ho_ten")
    assert names == NAMES
    assert all(unicodedata.is_normalized("NFC", n) for n in names)
    assert [row.number for row in table.rows()] == [2, 3, 4, 5, 6]
    assert values(table, "ma_xa")[0] == "02794"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_unicode_text_with_tabs(codec):
    text = csv_text([MEMBER_HEADERS] + [member_row(n) for n in NAMES], "\t")
    data = text.encode(codec)
    if codec == "utf-16-le":
        data = b"\xff\xfe" + data
    elif codec == "utf-16-be":
        data = b"\xfe\xff" + data
    table = only(read_tables(data, "danh sach.txt"))
    assert values(table, "ho_ten") == NAMES


def test_csv_quoted_cells_line_ends_and_record_numbers():
    rows = [MEMBER_HEADERS, member_row('Lò "Thị" Hoa, con'), member_row("Hà Văn\nTư"), member_row("Vi Văn Ba")]
    for newline in ("\r\n", "\n", "\r"):
        table = only(read_tables(csv_text(rows, ",", newline).encode(), "a.csv"))
        assert values(table, "ho_ten") == ['Lò "Thị" Hoa, con', "Hà Văn Tư", "Vi Văn Ba"]
        # A record spread over two lines is one row, as Excel shows it.
        assert [r.number for r in table.rows()] == [2, 3, 4]


def test_csv_chunk_boundary_inside_crlf(monkeypatch):
    monkeypatch.setattr(reader, "TEXT_CHUNK_BYTES", 7)
    rows = [MEMBER_HEADERS] + [member_row(n) for n in NAMES]
    table = only(read_tables(csv_text(rows).encode("utf-8"), "a.csv"))
    assert values(table, "ho_ten") == NAMES


def test_xlsx_as_staff_make_it():
    """Title rows, a merged group header over the real headers, an STT column,
    blank spacer rows, an unknown column, a signature block."""
    rows = [
        ["UBND XÃ TÂN LẬP"],
        ["DANH SÁCH THÀNH VIÊN HỘ NGHÈO NĂM 2025"],
        [],
        ["STT", "Thông tin hộ", None, "Thành viên"],
        [None, *MEMBER_HEADERS, "Ghi chú"],
        [1, 2794, "H01", unicodedata.normalize("NFD", "Nguyễn Thị Hường"), "Nữ", datetime(1980, 3, 5),
         "001180012345", "Kinh", "Chủ hộ", "x", "chuyển đến"],
        [2, 2794, "H01", "Đặng Văn Ất", "Nam", 1978, None, "Kinh", "Chồng", None],
        [],
        [3, "02794", "H02", "  Giàng   A Páo ", "Nam", "1990", None, "Mông", "Chủ hộ", 1],
        [],
        [],
        [None, "Người lập biểu", None, None, None, None, "CHỦ TỊCH"],
        [None, "(Ký, ghi rõ họ tên)", None, None, None, None, "(Ký tên, đóng dấu)"],
        [],
        [None, "Trần Văn Bình", None, None, None, None, "Lê Văn Cường"],
    ]
    data = xlsx(("Thành viên", rows), merges={"Thành viên": ["B4:C4", "D4:J4", "A4:A5"]})
    table = only(read_tables(data, "ds.xlsx"))
    assert (table.kind, table.name, table.header_row, table.header_rows) == ("members", "Thành viên", 5, 1)
    assert table.unknown_columns == ["Ghi chú"]
    rows = list(table.rows())
    assert [r.number for r in rows] == [6, 7, 9]
    first, second, third = (r.values for r in rows)
    assert first["ho_ten"] == "Nguyễn Thị Hường" and unicodedata.is_normalized("NFC", first["ho_ten"])
    assert first["ma_xa"] == 2794 and first["ngay_sinh"] == date(1980, 3, 5) and first["bhyt"] == "x"
    assert second["ngay_sinh"] == 1978 and second["so_dinh_danh"] == "" and second["bhyt"] == ""
    assert third["ho_ten"] == "Giàng A Páo" and third["ma_xa"] == "02794" and third["bhyt"] == 1
    assert set(first) == set(MEMBERS.keys)


def test_header_split_over_two_rows():
    top = ["STT", "Mã", "Mã", "Thôn", "Họ tên", "Khu", "Hộ làm nông, lâm,"]
    bottom = [None, "xã", "hộ", None, "chủ hộ", "vực", "ngư, diêm nghiệp"]
    data = xlsx(("DS", [["DANH SÁCH HỘ"], top, bottom, [1, 2794, "H01", "Thôn 1", "Lò Văn A", "Nông thôn", "Có"]]),
                merges={"DS": ["D2:D3", "A2:A3"]})
    table = only(read_tables(data, "ds.xlsx"))
    assert (table.kind, table.header_row, table.header_rows) == ("households", 2, 2)
    assert set(table.columns) == {"ma_xa", "ma_ho", "thon", "chu_ho", "khu_vuc", "nong_nghiep"}
    assert table.unknown_columns == []
    [row] = table.rows()
    assert row.number == 4 and row.values["chu_ho"] == "Lò Văn A" and row.values["nong_nghiep"] == "Có"


def test_group_header_over_indicators_with_cells_merged_down():
    indicators = [header for _, header in INDICATOR_KEYS]
    top = ["Mã xã", "Mã hộ", "Năm rà soát", "Thu nhập bình quân (đồng/người/tháng)", "Chỉ số thiếu hụt"]
    top += [None] * (len(indicators) - 1)
    bottom = [None, None, None, None, *indicators]
    first = [2794, "H01", 2025, "1.500.000", *(["x", None] * 6)]
    data = xlsx(("Phiếu B", [["KẾT QUẢ RÀ SOÁT"], [], top, bottom, ["(1)", "(2)", "(3)", "(4)", "(5)"], first]),
                merges={"Phiếu B": ["A3:A4", "B3:B4", "C3:C4", "D3:D4", "E3:P3"]})
    table = only(read_tables(data, "b.xlsx"))
    assert (table.kind, table.header_row, table.header_rows) == ("surveys", 3, 2)
    assert table.missing_required == [] and table.missing_one_of == [] and table.unknown_columns == []
    [row] = table.rows()  # the "(1) (2) (3)" numbering line is not data
    assert row.number == 6
    assert row.values["thu_nhap"] == "1.500.000" and row.values["thieu_viec_lam"] == "x"
    assert row.values["thieu_phu_thuoc"] == ""


@pytest.mark.parametrize("headers", [
    [h.upper() for h in MEMBER_HEADERS],
    [without_marks(h) for h in MEMBER_HEADERS],
    ["ma xa", "MA HO", "ho va ten", "Gioi Tinh", "ngay sinh", "so dinh danh", "dan toc", "quan he voi chu ho",
     "co the bhyt"],
    [c.key for c in MEMBERS.columns],
    [f"  {c.key.upper()}  " for c in MEMBERS.columns],
    [" Mã  xã ", "Mã hộ (*)", "Họ và tên *", "Giới tính (Nam/Nữ)", "Ngày sinh (dd/mm/yyyy)", "Số định danh",
     "Dân tộc", "Quan hệ với chủ hộ", "Có thẻ BHYT"],
])
def test_headers_match_with_or_without_diacritics_any_case_ascii_keys(headers):
    order = [4, 0, 8, 2, 1, 6, 3, 7, 5]  # any column order
    rows = [[headers[i] for i in order], [member_row("Lò Thị Hoa")[i] for i in order]]
    table = only(read_tables(csv_text(rows).encode(), "a.csv"))
    assert table.kind == "members" and table.missing_required == [] and table.unknown_columns == []
    [row] = table.rows()
    assert row.values["ho_ten"] == "Lò Thị Hoa" and row.values["quan_he"] == "Chủ hộ"
    assert table.columns["ma_xa"] == order.index(0)


def test_unknown_duplicate_and_missing_columns_are_reported():
    headers = ["STT", "Mã xã", "Mã hộ", "Họ và tên", "Nghề nghiệp", "Mã xã", "Giới tính", "Ghi chú"]
    table = only(read_tables(csv_text([headers, ["1", "2794", "H1", "A", "Làm ruộng", "9", "Nam", ""]]).encode(),
                             "a.csv"))
    assert table.kind == "members"
    assert table.unknown_columns == ["Nghề nghiệp", "Ghi chú"]  # STT is expected, not unknown
    assert table.duplicate_columns == ["Mã xã"]
    assert table.missing_required == ["ngay_sinh", "dan_toc", "quan_he"]
    [row] = table.rows()
    assert row.values == {"ma_xa": "2794", "ma_ho": "H1", "ho_ten": "A", "gioi_tinh": "Nam"}


def test_surveys_without_any_income_column_report_the_group():
    headers = ["Mã xã", "Mã hộ", "Năm rà soát", *[h for _, h in INDICATOR_KEYS]]
    table = only(read_tables(csv_text([headers]).encode(), "b.csv"))
    assert table.kind == "surveys" and table.missing_required == []
    assert table.missing_one_of == [("thu_nhap", "diem_a")]
    assert list(table.rows()) == []


def test_workbook_with_every_sheet_kind_an_unrecognised_sheet_and_a_blank_one():
    data = xlsx(
        ("Hướng dẫn", [["Hướng dẫn nhập liệu"], ["Điền mỗi hộ một dòng"]]),
        ("Hộ gia đình", [HOUSEHOLD_HEADERS, [2794, "H01", "Thôn 1", "Lò Văn A"]]),
        ("Thành viên", [MEMBER_HEADERS, member_row("Lò Văn A", relation="Chủ hộ")]),
        ("Phiếu B", [[c.header for c in SURVEYS.columns]]),
        ("Sheet2", []),
    )
    tables = read_tables(data, "tong hop.xlsx")
    assert [(t.name, t.kind) for t in tables] == [
        ("Hướng dẫn", ""), ("Hộ gia đình", "households"), ("Thành viên", "members"), ("Phiếu B", "surveys")]
    assert list(tables[0].rows()) == [] and not tables[0].recognised
    assert values(tables[1], "chu_ho") == ["Lò Văn A"]


def test_workbook_without_any_recognised_sheet_is_refused():
    with pytest.raises(ReadError, match="No header row"):
        read_tables(xlsx(("Sheet1", [["Họ tên", "Tuổi"], ["A", 3]])), "x.xlsx")


def test_cell_types_from_xlsx():
    row = [2794.0, "H01", "Lò Văn A", "Nam", datetime(1990, 1, 2, 0, 0), 1.5, "Kinh", "Chủ hộ", True]
    table = only(read_tables(xlsx(("TV", [MEMBER_HEADERS, row])), "x.xlsx"))
    [found] = table.rows()
    assert found.values["ma_xa"] == 2794 and isinstance(found.values["ma_xa"], int)
    assert found.values["ngay_sinh"] == date(1990, 1, 2) and type(found.values["ngay_sinh"]) is date
    assert found.values["so_dinh_danh"] == 1.5 and found.values["bhyt"] is True


# -- where the data ends ----------------------------------------------------------------

@pytest.mark.parametrize("footer", [
    ["", "Người lập biểu", "", "", "", "", "", "CHỦ TỊCH"],
    ["", "", "", "", "", "", "Tân Lập, ngày 15 tháng 10 năm 2025"],
    ["", "", "", "", "", "", "Ngày … tháng … năm 2025"],
    ["", "Tổng cộng", "", "3 người"],
    ["", "TM. UBND XÃ"],
    ["Ghi chú: danh sách gồm 2 hộ"],
    ["", "NGƯỜI LẬP BIỂU"],
])
def test_data_ends_at_the_signature_block(footer):
    rows = [["UBND XÃ TÂN LẬP"], ["STT", *MEMBER_HEADERS], ["1", *member_row("Lò Văn A")], [],
            ["2", *member_row("Lò Thị B", relation="Vợ")], [], footer, [], ["", "Trần Văn C", "", "Nguyễn Văn D"]]
    table = only(read_tables(csv_text(rows).encode(), "a.csv"))
    assert values(table, "ho_ten") == ["Lò Văn A", "Lò Thị B"]


def test_section_titles_empty_numbered_rows_and_repeated_headers_are_not_data():
    rows = [["STT", *MEMBER_HEADERS], ["I. Thôn Nà Pục"], ["1", *member_row("Lò Văn A")],
            ["STT", *MEMBER_HEADERS], ["II. Thôn Bản Phố"], ["2", *member_row("Lò Văn B", household="H02")],
            ["3"], ["4"], [], [], ["Danh sách này được lập theo Thông tư 07"], ["", "Lò Văn Z"]]
    table = only(read_tables(csv_text(rows).encode(), "a.csv"))
    assert [(r.number, r.values["ho_ten"]) for r in table.rows()] == [(3, "Lò Văn A"), (6, "Lò Văn B")]


def test_a_row_naming_a_household_is_data_whatever_else_it_says():
    row = member_row("Chủ tịch Văn A")
    table = only(read_tables(csv_text([MEMBER_HEADERS, row, member_row("Lò Văn B")]).encode(), "a.csv"))
    assert values(table, "ho_ten") == ["Chủ tịch Văn A", "Lò Văn B"]


def test_rows_can_be_read_again_and_interleaved():
    rows = [MEMBER_HEADERS] + [member_row(n) for n in NAMES]
    for data, name in ((csv_text(rows).encode(), "a.csv"), (xlsx(("TV", rows)), "a.xlsx")):
        table = only(read_tables(io.BytesIO(data), name))
        first, second = table.rows(), table.rows()
        pairs = [(a.values["ho_ten"], b.values["ho_ten"]) for a, b in zip(first, second, strict=True)]
        assert pairs == [(n, n) for n in NAMES]
        assert values(table, "ho_ten") == NAMES


class _Stream(io.RawIOBase):
    """An upload that cannot seek."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_stream_that_cannot_seek_is_read():
    rows = [MEMBER_HEADERS] + [member_row(n) for n in NAMES]
    assert values(only(read_tables(_Stream(xlsx(("TV", rows))), "a.xlsx")), "ho_ten") == NAMES
    assert values(only(read_tables(_Stream(csv_text(rows).encode()), "a.csv")), "ho_ten") == NAMES


def test_parts_of_an_uploaded_bundle_are_read():
    rows = [MEMBER_HEADERS] + [member_row(n) for n in NAMES]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("00-a.xlsx", xlsx(("TV", rows)))
        bundle.writestr("01-a.csv", csv_text(rows).encode())
    with zipfile.ZipFile(buffer) as bundle:
        for info in bundle.infolist():
            with bundle.open(info) as part:
                assert values(only(read_tables(part, info.filename)), "ho_ten") == NAMES


def test_two_million_rows_stream_in_little_memory():
    header = ",".join(MEMBER_HEADERS) + "\n"
    body = "".join(f"02794,H{i},Nguyễn Văn An {i},Nam,05/03/1980,,Kinh,Con,Có\n" for i in range(2_000_000))
    data = io.BytesIO((header + body).encode("utf-8"))
    del body
    tracemalloc.start()
    try:
        table = only(read_tables(data, "lon.csv"))  # decodes the whole file once, chunk by chunk
        [last] = collections.deque(itertools.islice(table.rows(), 20_000), maxlen=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert last.number == 20_001 and last.values["ho_ten"] == "Nguyễn Văn An 19999"
    assert peak < 16 * 2**20, peak  # the file is 130 MB


def test_xlsx_rows_stream_in_little_memory():
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("TV")
    sheet.append(MEMBER_HEADERS)
    for i in range(4_000):
        sheet.append([2794, f"H{i}", f"Nguyễn Văn An {i}", "Nam", "05/03/1980", None, "Kinh", "Con", "Có"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = only(read_tables(buffer, "lon.xlsx"))
    tracemalloc.start()
    try:
        count = sum(1 for _ in table.rows())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 4_000
    assert peak < 3 * 2**20, peak  # keeping the rows would take twice that


# -- files that are refused ----------------------------------------------------------------

@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", "a.csv", "empty"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "a.xls", "97"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a.pdf", "PDF"),
    (b"Ma xa,Ma ho\n\x00\x01\x02\x03binary", "a.csv", "binary"),
    (b"Ma xa,Ma ho\n02794,H\x81\xc3\x28", "a.csv", "neither UTF-8 nor Windows-1258"),
    (b"\xff\xfe\x00\x00M\x00\x00\x00", "a.txt", "UTF-32"),
    (b'<html><body><table><tr><td>M\xc3\xa3 x\xc3\xa3</td></tr></table></body></html>', "a.xls", "web page"),
    (b"Ma xa,Ma ho,Thon,Chu ho\n", "a.xlsx", "named like an Excel workbook"),
    (b"PK\x03\x04" + bytes(100), "a.xlsx", "Excel workbook"),
    ("Họ tên,Tuổi\nA,3\n".encode(), "a.csv", "No header row"),
    pytest.param(b"a" * (reader.MAX_LINE_CHARS + 10), "a.csv", "longer than", id="long-line"),
], ids=lambda value: repr(value[:24]) if isinstance(value, bytes) else None)
def test_unreadable_files_are_refused_with_a_clear_message(data, name, message):
    with pytest.raises(ReadError, match=message):
        read_tables(data, name)


def test_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(ReadError):
        read_tables(buffer.getvalue(), "a.ods")


def test_truncated_workbook_is_refused():
    data = xlsx(("TV", [MEMBER_HEADERS, member_row("Lò Văn A")]))
    for cut in (len(data) // 3, len(data) // 2, len(data) - 30):
        with pytest.raises(ReadError):
            read_tables(data[:cut], "a.xlsx")


def test_a_bad_byte_far_down_refuses_the_whole_file():
    """Never half-read: the whole text is decoded before any table is returned."""
    rows = [MEMBER_HEADERS] + [member_row(f"Người số {i}") for i in range(50_000)]
    data = csv_text(rows).encode("utf-8") + b"02794,H1,\x00\n"
    with pytest.raises(ReadError, match="binary"):
        read_tables(data, "a.csv")


# -- bombs ---------------------------------------------------------------------------------

SHEET_PATH = "xl/worksheets/sheet1.xml"
SHEET_START = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')


def replace_parts(data: bytes, parts: dict[str, bytes]) -> bytes:
    """The workbook `data` with some parts' content replaced (or added)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, parts.get(info.filename, source.read(info)))
        for name, content in parts.items():
            if name not in source.namelist():
                archive.writestr(name, content)
    return buffer.getvalue()


def streamed_member_workbook(size: int) -> bytes:
    """A real workbook whose sheet XML is `size` bytes of white space, written in chunks."""
    base = xlsx(("TV", [MEMBER_HEADERS, member_row("Lò Văn A")]))
    source = zipfile.ZipFile(io.BytesIO(base))
    buffer = io.BytesIO()
    chunk = b" " * 2**20
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != SHEET_PATH:
                archive.writestr(info.filename, source.read(info))
                continue
            member = zipfile.ZipInfo(SHEET_PATH)
            member.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(member, "w") as sheet:
                sheet.write(SHEET_START)
                for _ in range(size // len(chunk)):
                    sheet.write(chunk)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    return streamed_member_workbook(256 * 2**20)


def refused_quickly(data: bytes, name: str = "ds.xlsx") -> tuple[ReadError, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ReadError) as caught:
            read_tables(io.BytesIO(data), name)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 5, elapsed
    assert peak < 50 * 2**20, peak
    return caught.value, elapsed, peak


def test_zip_bomb_dressed_as_xlsx_is_refused_fast_in_little_memory(zip_bomb):
    assert len(zip_bomb) < 2 * 2**20  # 256 MB of sheet XML in under 2 MB
    error, _elapsed, _peak = refused_quickly(zip_bomb)
    assert "zip bomb" in str(error)


def test_zip_bomb_with_lying_sizes_is_refused_fast_in_little_memory():
    """Declared sizes small, real content huge: zipfile stops at the declared size."""
    data = bytearray(streamed_member_workbook(64 * 2**20))
    at = 0
    while (at := data.find(b"PK\x01\x02", at + 1)) >= 0:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46: at + 46 + name_length] == SHEET_PATH.encode():
            struct.pack_into("<L", data, at + 24, 50_000)  # uncompressed size
    refused_quickly(bytes(data))


def test_workbook_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr(reader, "MAX_XLSX_UNCOMPRESSED_BYTES", 100_000)
    data = xlsx(("TV", [MEMBER_HEADERS] + [member_row(f"Người {i}") for i in range(1_000)]))
    with pytest.raises(ReadError, match="limit"):
        read_tables(data, "a.xlsx")


def test_oversized_shared_strings_are_refused(small_workbook, monkeypatch):
    monkeypatch.setattr(reader, "MAX_SHARED_STRINGS_BYTES", 1_000)
    types = zipfile.ZipFile(io.BytesIO(small_workbook)).read("[Content_Types].xml").replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                     b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
    strings = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + b"<si><t>a</t></si>" * 200
    data = replace_parts(small_workbook, {"[Content_Types].xml": types, "xl/sharedStrings.xml": strings + b"</sst>"})
    with pytest.raises(ReadError, match="table of texts"):
        read_tables(data, "a.xlsx")


def test_compression_methods_excel_does_not_use_are_refused(small_workbook):
    buffer = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(small_workbook))
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_BZIP2) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, source.read(info))
    with pytest.raises(ReadError, match="compression method"):
        read_tables(buffer.getvalue(), "a.xlsx")


def test_too_many_parts_are_refused_before_zipfile_lists_them(monkeypatch):
    monkeypatch.setattr(reader, "MAX_XLSX_ENTRIES", 10)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(11):
            archive.writestr(f"x{i}.xml", "<a/>")
    with pytest.raises(ReadError, match="parts"):
        read_tables(buffer.getvalue(), "a.xlsx")


def _billion_laughs() -> str:
    entities = [' <!ENTITY lol "lol">']
    for i in range(1, 10):
        previous = f"lol{i - 1}" if i > 1 else "lol"
        entities.append(f' <!ENTITY lol{i} "{("&" + previous + ";") * 10}">')
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(entities) + "\n]>\n"
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
    )


LAUGHS = _billion_laughs()
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
    '<c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row></sheetData></worksheet>'
)


@pytest.fixture(scope="module")
def small_workbook() -> bytes:
    return xlsx(("TV", [MEMBER_HEADERS, member_row("Lò Văn A")]))


@pytest.mark.parametrize(("part", "content"), [
    (SHEET_PATH, LAUGHS.encode()),
    (SHEET_PATH, EXTERNAL.encode()),
    (SHEET_PATH, LAUGHS.replace('"1.0"?>', '"1.0" encoding="UTF-16"?>').encode("utf-16")),
    (SHEET_PATH, ("<!-- " + "x" * 5000 + " -->\n" + LAUGHS.split("\n", 1)[1]).encode()),
    ("xl/sharedStrings.xml", LAUGHS.replace("worksheet", "sst").encode()),
    ("xl/workbook.xml", LAUGHS.replace("worksheet", "workbook").encode()),
    ("[Content_Types].xml", LAUGHS.replace("worksheet", "Types").encode()),
])
def test_xml_bomb_dressed_as_xlsx_is_refused_fast_in_little_memory(small_workbook, part, content):
    error, _elapsed, _peak = refused_quickly(replace_parts(small_workbook, {part: content}))
    assert "XML bomb" in str(error)


def test_xml_bomb_is_also_stopped_by_the_parser_behind_our_check(small_workbook, monkeypatch):
    monkeypatch.setattr(reader, "_check_xml_part", lambda archive, info: None)
    refused_quickly(replace_parts(small_workbook, {SHEET_PATH: LAUGHS.encode()}))


# -- nothing but ReadError -----------------------------------------------------------------

def _read_everything(data: bytes, name: str) -> None:
    try:
        tables = read_tables(data, name)
    except ReadError as error:
        assert str(error)
        return
    assert tables and any(t.recognised for t in tables)
    for table in tables:
        try:
            for row in table.rows():
                assert isinstance(row.values, dict)
        except ReadError:
            pass


FILE_NAMES = st.one_of(st.sampled_from(["a.csv", "a.xlsx", "a.xls", "a.txt", "", "DS HỘ NGHÈO.XLSX"]), st.text())
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.binary(max_size=3000), name=FILE_NAMES)
def test_any_bytes_give_tables_or_read_error(data, name):
    _read_everything(data, name)


@FUZZ
@given(prefix=st.sampled_from([b"PK\x03\x04", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"Ma xa,Ma ho,Thon,Chu ho\n"]),
       data=st.binary(max_size=2000), name=FILE_NAMES)
def test_any_bytes_behind_a_plausible_start_give_tables_or_read_error(prefix, data, name):
    _read_everything(prefix + data, name)


@FUZZ
@given(text=st.text(max_size=400), delimiter=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_any_text_under_a_header_gives_tables_or_read_error(text, delimiter, encoding):
    _read_everything((delimiter.join(MEMBER_HEADERS) + "\n" + text).encode(encoding, "surrogatepass"), "a.csv")


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
                      min_size=1, max_size=8))
def test_damaged_workbooks_give_tables_or_read_error(small_workbook, flips):
    data = bytearray(small_workbook)
    for position, value in flips:
        data[position % len(data)] = value
    _read_everything(bytes(data), "a.xlsx")
