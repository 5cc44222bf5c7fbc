"""Reading uploaded exchange files into tables of rows.

`read_tables(source, file_name)` takes the bytes or a binary file object of an
upload and returns one `Table` per sheet (XLSX) or one for the file (CSV and
"Unicode text"). It writes nothing and touches no database.

What it guarantees:

* A file it cannot read raises `ReadError` with a message for the person who
  uploaded it; no other exception escapes, neither from `read_tables` nor
  from iterating `Table.rows()`.
* The whole text of a CSV file is decoded before any table is returned, so a
  file with a bad byte on its millionth line is refused, not half-read. An
  XLSX file is checked for zip and XML bombs before it is parsed; its rows are
  parsed as they are iterated, so a damaged sheet raises `ReadError` from
  `rows()` (the importer reads every row before it writes anything).
* Memory stays bounded: rows are produced lazily, and `rows()` may be called
  again to read the rows a second time.

Files as staff make them: title rows above the header, an STT column, two-row
or merged headers, blank spacer rows and a signature block below the data.
The header row is found by matching cells against the known headers (see
`columns.HEADER_INDEX`); data ends at a signature or total line, or at text
without any value in a known column after blank rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import IO, Any

from django.utils.translation import gettext as _

from core.text import fold, nfc

from .columns import HEADER_INDEX, SHEETS, Sheet, header_key

# -- limits ------------------------------------------------------------------------

# XLSX. A full Excel sheet of members (1,048,576 rows) is about 450 MB of
# sheet XML, so the total allows one such sheet; a zip bomb is refused on its
# declared sizes before anything is decompressed. Python's zipfile never
# inflates a member beyond its declared size (it stops there and fails the
# CRC check), so the declared sizes bound the work.
MAX_XLSX_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
MAX_XLSX_PART_BYTES = 512 * 1024 * 1024
# openpyxl keeps every shared string in memory (about 3–4 times the XML size);
# 128 MB of XML is some 3 million distinct texts.
MAX_SHARED_STRINGS_BYTES = 128 * 1024 * 1024
# Sheet XML compresses 10–30 times; zeros and bombs a thousand times.
MAX_XLSX_RATIO = 100
# Parts smaller than this cannot do harm whatever their ratio.
RATIO_CHECK_FLOOR = 1024 * 1024
MAX_XLSX_ENTRIES = 5_000
MAX_CENTRAL_DIRECTORY_BYTES = 8 * 1024 * 1024
# The prolog of an XML part (declaration, comments) before its root element.
MAX_XML_PROLOG_BYTES = 16 * 1024

# Text files.
TEXT_CHUNK_BYTES = 1024 * 1024
MAX_LINE_CHARS = 1024 * 1024
DELIMITERS = (",", ";", "\t")

# Layout.
HEADER_SCAN_ROWS = 30
# A sheet is recognised when its header row has all the required columns of a
# kind, or at least this many of its columns (the rest are then reported missing).
MIN_HEADER_MATCHES = 3
# A non-seekable upload is copied to a temporary file that stays in memory up to this size.
SPOOL_MEMORY_BYTES = 32 * 1024 * 1024

UNRECOGNISED = ""

# -- results -----------------------------------------------------------------------


class ReadError(Exception):
    """The file cannot be read as an exchange file; the message says why, for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.messages = [message]

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Row:
    number: int  # the row number Excel shows (for CSV: the record number, header included)
    values: dict[str, Any]  # key -> cell, for every column the table has; "" when empty


RowSource = Callable[[], Iterator[tuple[int, Sequence[Any]]]]


@dataclass
class Table:
    kind: str  # "households", "members", "surveys", or UNRECOGNISED ("")
    name: str  # the sheet name; for a text file, the file name
    header_row: int = 0  # first row of the header (1-based); 0 if unrecognised
    header_rows: int = 0  # 1, or 2 for a header written over two rows
    columns: dict[str, int] = field(default_factory=dict)  # key -> 0-based column index
    headers: dict[str, str] = field(default_factory=dict)  # key -> header text as written
    unknown_columns: list[str] = field(default_factory=list)  # header texts that match no column
    duplicate_columns: list[str] = field(default_factory=list)  # a second column for a key; ignored
    missing_required: list[str] = field(default_factory=list)  # required keys without a column
    missing_one_of: list[tuple[str, ...]] = field(default_factory=list)  # groups with no column at all
    _source: RowSource | None = field(default=None, repr=False, compare=False)

    @property
    def recognised(self) -> bool:
        return self.kind != UNRECOGNISED

    @property
    def sheet(self) -> Sheet | None:
        return SHEETS.get(self.kind)

    def rows(self) -> Iterator[Row]:
        """The data rows, read lazily from the file; may be called more than once."""
        if not self.recognised or self._source is None:
            return iter(())
        return _data_rows(self, self._source)


# -- entry point ----------------------------------------------------------------------

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_XLSX_NAMES = (".xlsx", ".xlsm", ".xltx", ".xltm")


def read_tables(source: bytes | bytearray | memoryview | IO[bytes], file_name: str = "") -> list[Table]:
    """The tables of an uploaded file: every sheet of a workbook, or the one table of a text file.

    Sheets whose headers match no kind come back with kind UNRECOGNISED (and
    no rows); blank sheets are left out. Raises ReadError when nothing can be
    read or no table is recognised.
    """
    try:
        handle = _seekable(source)
        head = handle.read(8)
        handle.seek(0)
    except ReadError:
        raise
    except Exception as exc:
        raise ReadError(_("The file could not be opened: %(reason)s") % {"reason": _reason(exc)}) from exc
    name = str(file_name or "")
    if not head:
        raise ReadError(_("The file is empty."))
    lower_name = name.lower()
    try:
        if head.startswith(_ZIP_MAGICS):
            return _read_xlsx(handle, name)
        if head.startswith(_OLE2):
            raise ReadError(_("This is an Excel 97–2003 workbook (.xls) or a workbook protected by a password. "
                              "Open it in Excel and save it as “Excel Workbook (.xlsx)” without a password."))
        if head.startswith(b"%PDF"):
            raise ReadError(_("This is a PDF document, not a spreadsheet. Upload the Excel (.xlsx) or CSV file."))
        if lower_name.endswith(_XLSX_NAMES):
            raise ReadError(_("The file is named like an Excel workbook but is not one (it may be damaged). "
                              "Open it in Excel and save it again as .xlsx."))
        return _read_text(handle, name)
    except ReadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        # Parsers of damaged files fail in many ways (zipfile, XML, openpyxl,
        # csv); the user needs one clear refusal, and nothing half-read.
        raise ReadError(_("The file is not a spreadsheet or CSV file we can read: %(reason)s")
                        % {"reason": _reason(exc)}) from exc


def _reason(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
    return text if len(text) <= 200 else text[:197] + "…"


def _seekable(source: bytes | bytearray | memoryview | IO[bytes]) -> IO[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    try:
        seekable = bool(source.seekable())
    except (AttributeError, OSError, ValueError):
        seekable = False
    # A member of a zip archive (a part of an uploaded bundle) can seek, but
    # seeking back re-reads it from its start: copied, like a stream that cannot seek.
    if seekable and not isinstance(source, zipfile.ZipExtFile):
        source.seek(0)
        return source
    # zipfile and the second reading of rows need to seek.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 - lives with the tables
    shutil.copyfileobj(source, spool, TEXT_CHUNK_BYTES)
    spool.seek(0)
    return spool


# -- layout: header detection and data rows ---------------------------------------------

# "STT", "TT", "Số TT", "Số thứ tự": the row number column every list has.
_ROW_NUMBER_HEADERS = {"stt", "tt", "sott", "sothutu", "thutu"}
_PARENTHESES = re.compile(r"\([^)]*\)|\[[^\]]*\]|\*")


@dataclass
class _Layout:
    kind: str
    header_index: int  # index in the scanned rows
    header_rows: int
    columns: dict[str, int]
    headers: dict[str, str]
    unknown: list[str]
    duplicates: list[str]
    rank: tuple = ()


def _header_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return nfc(str(value))


def _lookup(text: str, index: dict[str, str]) -> str | None:
    """The key a header stands for; notes in brackets ("Ngày sinh (dd/mm/yyyy)") and "*" may follow."""
    if not text:
        return None
    key = index.get(header_key(text))
    if key is None and ("(" in text or "[" in text or "*" in text):
        key = index.get(header_key(_PARENTHESES.sub(" ", text)))
    return key


def _match(kind: str, options: list[tuple[str, list[str]]]) -> _Layout:
    """Map columns to keys; `options` per column: (text to show, texts to try in order)."""
    index = HEADER_INDEX[kind]
    layout = _Layout(kind, 0, 1, {}, {}, [], [])
    for column, (shown, texts) in enumerate(options):
        key = next((k for k in (_lookup(t, index) for t in texts) if k), None)
        if key is None:
            if shown and header_key(shown) not in _ROW_NUMBER_HEADERS:
                layout.unknown.append(shown)
        elif key in layout.columns:
            layout.duplicates.append(shown)
        else:
            layout.columns[key] = column
            layout.headers[key] = shown
    return layout


def _detect(scanned: list[Sequence[Any]]) -> _Layout | None:
    """The best header among the first rows: the most known columns, all required ones first."""
    texts = [[_header_text(cell) for cell in row] for row in scanned]
    best: _Layout | None = None
    for i in range(min(len(texts), HEADER_SCAN_ROWS)):
        if not any(texts[i]):
            continue
        shapes: list[tuple[int, list[tuple[str, list[str]]]]] = [(1, [(t, [t]) for t in texts[i]])]
        if i + 1 < len(texts) and any(texts[i + 1]):
            top, bottom = texts[i], texts[i + 1]
            width = max(len(top), len(bottom))
            top = top + [""] * (width - len(top))
            bottom = bottom + [""] * (width - len(bottom))
            # Over two rows: a group title above real headers, a header cell
            # merged down over both rows, or a header split in two halves.
            shapes.append((2, [
                (" ".join(t for t in (a, b) if t), [b, f"{a} {b}".strip(), a])
                for a, b in zip(top, bottom, strict=True)
            ]))
        for height, options in shapes:
            for kind, sheet in SHEETS.items():
                layout = _match(kind, options)
                found = len(layout.columns)
                required_ok = all(key in layout.columns for key in sheet.required_keys)
                if not (required_ok or found >= MIN_HEADER_MATCHES):
                    continue
                missing = sum(key not in layout.columns for key in sheet.required_keys)
                layout.header_index, layout.header_rows = i, height
                layout.rank = (required_ok, found, -missing, -height, -i)
                if best is None or layout.rank > best.rank:
                    best = layout
    return best


def _table(layout: _Layout | None, name: str, scanned_numbers: list[int], source: RowSource) -> Table:
    if layout is None:
        return Table(UNRECOGNISED, name)
    sheet = SHEETS[layout.kind]
    groups: dict[str, list[str]] = {}
    for column in sheet.columns:
        if column.one_of:
            groups.setdefault(column.one_of, []).append(column.key)
    return Table(
        kind=layout.kind, name=name,
        header_row=scanned_numbers[layout.header_index], header_rows=layout.header_rows,
        columns=layout.columns, headers=layout.headers,
        unknown_columns=layout.unknown, duplicate_columns=layout.duplicates,
        missing_required=[key for key in sheet.required_keys if key not in layout.columns],
        missing_one_of=[tuple(keys) for keys in groups.values() if not any(k in layout.columns for k in keys)],
        _source=source,
    )


def _scan(source: RowSource) -> tuple[list[int], list[Sequence[Any]]]:
    """The first rows of a source (one more than the scan, for two-row headers)."""
    numbers: list[int] = []
    rows: list[Sequence[Any]] = []
    iterator = source()
    try:
        for number, cells in iterator:
            numbers.append(number)
            rows.append(cells)
            if len(rows) > HEADER_SCAN_ROWS:
                break
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()
    return numbers, rows


# Lines below the data: signatures, dates, totals, notes. Matched on folded text.
_FOOTER_START = re.compile(
    r"^(?:nguoi (?:lap|ky|duyet|kiem tra|tong hop)"
    r"|(?:t/?m|k/?t|q|tl|tuq)\.? ?(?:ubnd|uy ban|chu tich|ban |truong)"
    r"|(?:pho )?chu tich\b"
    r"|xac nhan\b"
    r"|can bo (?:lao dong|chinh sach|phu trach|thong ke|lap|dieu tra|ra soat)"
    r"|(?:truong|pho) (?:thon|ban|ap|khu|to|bon|lang|xom)\b"
    r"|(?:ke toan|thu truong|giam doc|dieu tra vien|ra soat vien)\b"
    r"|\(?ky(?:,| ten| va| ghi| dong dau)"
    r"|tong (?:cong|so)\b"
    r"|cong\s*[:.]?\s*$"
    r"|ghi chu\s*:)"
)
_FOOTER_DATE = re.compile(r"ngay\W*[\d.…_]*\W*thang\W*[\d.…_]*\W*nam\b")
_NUMBERING = re.compile(r"^\(?(?:\d{1,2}|[a-z])\)?$")
_COMMUNE_LIKE = re.compile(r"^\d{1,6}$")


def _filled(value: Any) -> bool:
    return value is not None and value != "" and not (isinstance(value, str) and not value.strip())


def _is_footer(cells: Sequence[Any]) -> bool:
    for cell in cells:
        if isinstance(cell, str) and cell.strip():
            folded = fold(cell)
            if _FOOTER_START.match(folded) or _FOOTER_DATE.search(folded):
                return True
    return False


def _is_numbering(cells: Sequence[Any]) -> bool:
    """The "(1) (2) (3)…" or "A B 1 2…" line some forms put under the header."""
    filled = [fold(_header_text(c)) for c in cells if _filled(c)]
    return len(filled) >= MIN_HEADER_MATCHES and all(_NUMBERING.match(text) for text in filled)


def _is_repeated_header(table: Table, values: dict[str, Any]) -> bool:
    index = HEADER_INDEX[table.kind]
    same = sum(1 for key, value in values.items() if isinstance(value, str) and _lookup(value, index) == key)
    return same >= max(1, min(2, len(values)))


# Text cells repeat all over a list (sex, relation, ethnic group, village, yes/no):
# each spelling is normalised once. Bounded: cleared when full.
_TEXT_MEMO: dict[str, str] = {}
_TEXT_MEMO_LIMIT = 50_000


def _clean(value: Any) -> Any:
    """A cell as the importer gets it: NFC text, int for whole numbers, date for dates, "" for empty."""
    if type(value) is str:
        # Fast path for the bulk of the cells (codes, numbers, dates): ASCII text
        # whose only white space is single spaces needs just a strip to equal nfc().
        if value.isascii():
            stripped = value.strip()
            if stripped.isprintable() and "  " not in stripped:
                return stripped
            return nfc(value)
        found = _TEXT_MEMO.get(value)
        if found is None:
            if len(_TEXT_MEMO) >= _TEXT_MEMO_LIMIT:
                _TEXT_MEMO.clear()
            found = _TEXT_MEMO[value] = nfc(value)
        return found
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, time | timedelta):
        return str(value)
    return nfc(str(value))


def _identified(values: dict[str, Any]) -> bool:
    """Whether a row names a household: a commune code and a household code. Such a
    row is data whatever its other cells say, and is not examined further (which
    also keeps two million rows fast)."""
    household = values.get("ma_ho", "")
    if household == "" or household is None:
        return False
    code = values.get("ma_xa", "")
    if type(code) is int:
        return True
    return type(code) is str and _COMMUNE_LIKE.match(code) is not None


def _data_rows(table: Table, source: RowSource) -> Iterator[Row]:
    last_header = table.header_row + table.header_rows - 1
    columns = list(table.columns.items())
    blank_run = 0
    number = last_header
    iterator = source()
    try:
        for number, cells in iterator:
            if number <= last_header:
                continue
            width = len(cells)
            values = {key: _clean(cells[i]) if i < width else "" for key, i in columns}
            has_values = any(v != "" for v in values.values())
            if not has_values and not any(_filled(c) for c in cells):
                blank_run += 1
                continue
            if number <= last_header + 2 and _is_numbering(cells):
                continue
            if not _identified(values):
                if _is_footer(cells):
                    return
                if not has_values:
                    if blank_run:
                        return  # a note below the table, after blank rows
                    continue  # a section title, or a numbered row left empty
                if _is_repeated_header(table, values):
                    continue
            blank_run = 0
            yield Row(number, values)
    except ReadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise ReadError(_("The sheet “%(sheet)s” could not be read to the end (after row %(row)d): %(reason)s")
                        % {"sheet": table.name, "row": number, "reason": _reason(exc)}) from exc
    finally:
        close = getattr(iterator, "close", None)
        if close:
            close()


def _no_table_error(names: list[str]) -> ReadError:
    examples = "“Mã xã”, “Mã hộ”, “Họ và tên”"
    return ReadError(
        _("No header row of the exchange format was found in the first %(rows)d rows of: %(names)s. "
          "The header row names the columns, for example %(examples)s.")
        % {"rows": HEADER_SCAN_ROWS, "names": ", ".join(f"“{n}”" for n in names) or "-", "examples": examples}
    )


# -- XLSX ----------------------------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def _not_xlsx(reason: str) -> ReadError:
    return ReadError(_("The file is not an Excel workbook we can read safely: %(reason)s") % {"reason": reason})


def _check_central_directory(handle: IO[bytes]) -> None:
    """Refuse archives with too many entries before zipfile builds one object per entry."""
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    tail_size = min(size, _EOCD.size + 65535)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        raise _not_xlsx(_("the zip archive is incomplete."))
    _sig, _disk, _cd_disk, _disk_entries, entries, cd_size, _cd_offset, _comment = _EOCD.unpack_from(tail, at)
    locator_at = at - _ZIP64_LOCATOR.size
    if locator_at >= 0 and tail[locator_at:locator_at + 4] == b"PK\x06\x07":
        # A ZIP64 archive: zipfile reads the counts from the record just before the locator.
        record_at = size - tail_size + locator_at - _ZIP64_EOCD.size
        if record_at < 0:
            raise _not_xlsx(_("the zip archive is incomplete."))
        handle.seek(record_at)
        record = handle.read(_ZIP64_EOCD.size)
        if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
            raise _not_xlsx(_("the zip archive is incomplete."))
        fields = _ZIP64_EOCD.unpack(record)
        entries, cd_size = fields[7], fields[8]
    if entries > MAX_XLSX_ENTRIES or cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise _not_xlsx(_("it has %(count)d parts; a workbook has far fewer.") % {"count": entries})
    handle.seek(0)


def _xml_head(data: bytes) -> str:
    """The start of an XML part as text, whatever its byte encoding."""
    if data.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\x00\x00\x00<", b"<\x00\x00\x00")):
        return "\x00"  # UTF-32: no XML parser here reads it; refused as suspicious
    if data.startswith(b"\xff\xfe") or data.startswith(b"<\x00"):
        return data[: len(data) // 2 * 2].decode("utf-16-le", "replace").lstrip("\ufeff")
    if data.startswith(b"\xfe\xff") or data.startswith(b"\x00<"):
        return data[: len(data) // 2 * 2].decode("utf-16-be", "replace").lstrip("\ufeff")
    # Markup characters are ASCII in every encoding an XML parser accepts without a BOM.
    return data.decode("latin-1").removeprefix("\xef\xbb\xbf")


_PROLOG_ITEM = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)


def _prolog_verdict(text: str, complete: bool) -> str | None:
    """"ok" when the root element starts after a harmless prolog, "bad" for a DTD or
    anything else, None when more bytes are needed to decide."""
    position = 0
    while position < len(text):
        match = _PROLOG_ITEM.match(text, position)
        if match:
            position = match.end()
            continue
        rest = text[position:]
        if rest.startswith("<!"):
            if "<!--".startswith(rest[:4]) and not complete:
                return None  # a comment cut off by the chunk
            return "bad"  # <!DOCTYPE, <!ENTITY, or a declaration of any kind
        if rest.startswith("<?") and not complete:
            return None
        if rest.startswith("<"):
            if len(rest) == 1 and not complete:
                return None
            return "ok" if (rest[1].isalpha() or rest[1] in "_:") else "bad"
        return "ok"  # not XML at all (an image): no parser reads it as XML
    return "ok" if complete else None


def _check_xml_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    data = b""
    with archive.open(info) as part:
        while True:
            chunk = part.read(1024)
            data += chunk
            verdict = _prolog_verdict(_xml_head(data), complete=not chunk or len(data) >= MAX_XML_PROLOG_BYTES)
            if verdict == "ok":
                return
            if verdict == "bad" or not chunk or len(data) >= MAX_XML_PROLOG_BYTES:
                raise _not_xlsx(_("its part “%(part)s” declares a document type or entities, which a workbook "
                                  "never does (this is how “XML bombs” work).") % {"part": info.filename[:100]})


def _shared_strings_parts(archive: zipfile.ZipFile) -> set[str]:
    try:
        info = archive.getinfo("[Content_Types].xml")
    except KeyError:
        return set()
    if info.file_size > RATIO_CHECK_FLOOR:
        raise _not_xlsx(_("its list of parts is too large."))
    text = archive.read(info).decode("utf-8", "replace")
    parts = set()
    for tag in re.findall(r"<Override\b[^>]*>", text):
        if _SHARED_STRINGS_TYPE in tag:
            name = re.search(r"""PartName\s*=\s*["']/?([^"']+)["']""", tag)
            if name:
                parts.add(name.group(1))
    return parts


def _check_xlsx(handle: IO[bytes]) -> None:
    """Zip and XML bomb checks, on declared sizes and the first bytes of each part only."""
    _check_central_directory(handle)
    handle.seek(0, io.SEEK_END)
    archive_size = handle.tell()
    handle.seek(0)
    with zipfile.ZipFile(handle) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_XLSX_ENTRIES:
            raise _not_xlsx(_("it has %(count)d parts; a workbook has far fewer.") % {"count": len(infos)})
        total = 0
        for info in infos:
            if info.flag_bits & 0x1:
                raise _not_xlsx(_("it is encrypted."))
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _not_xlsx(_("it uses a compression method Excel does not use."))
            total += info.file_size
            if info.file_size > RATIO_CHECK_FLOOR and info.file_size > MAX_XLSX_RATIO * max(info.compress_size, 1):
                raise _not_xlsx(_("its part “%(part)s” would unpack to %(size)d MB, more than %(ratio)d times its "
                                  "compressed size: this is a “zip bomb”, not a workbook.")
                                % {"part": info.filename[:100], "size": info.file_size // 2**20,
                                   "ratio": MAX_XLSX_RATIO})
            if info.file_size > MAX_XLSX_PART_BYTES or total > MAX_XLSX_UNCOMPRESSED_BYTES:
                raise _not_xlsx(_("it would unpack to more than the limit of %(limit)d MB.")
                                % {"limit": (MAX_XLSX_PART_BYTES if info.file_size > MAX_XLSX_PART_BYTES
                                             else MAX_XLSX_UNCOMPRESSED_BYTES) // 2**20})
            if info.compress_size > archive_size:
                raise _not_xlsx(_("the zip archive is incomplete."))
        for info in infos:
            if not info.is_dir() and info.file_size:
                _check_xml_part(archive, info)
        for name in _shared_strings_parts(archive):
            try:
                size = archive.getinfo(name).file_size
            except KeyError:
                continue
            if size > MAX_SHARED_STRINGS_BYTES:
                raise _not_xlsx(_("its table of texts is larger than %(limit)d MB.")
                                % {"limit": MAX_SHARED_STRINGS_BYTES // 2**20})
    handle.seek(0)


def _read_xlsx(handle: IO[bytes], file_name: str) -> list[Table]:
    try:
        _check_xlsx(handle)
    except zipfile.BadZipFile as exc:
        raise _not_xlsx(_reason(exc)) from exc
    from openpyxl import load_workbook  # imported here: text files do not need it

    try:
        workbook = load_workbook(handle, read_only=True, data_only=True, keep_links=False)
    except KeyError as exc:
        raise _not_xlsx(_("a part is missing (%(reason)s); it may be another kind of zip file.")
                        % {"reason": _reason(exc)}) from exc
    tables: list[Table] = []
    names: list[str] = []
    for worksheet in workbook.worksheets:
        worksheet.reset_dimensions()  # a wrong <dimension> would cut rows off
        names.append(worksheet.title)

        def source(ws=worksheet) -> Iterator[tuple[int, Sequence[Any]]]:
            # Rows come one per Excel row, gaps filled with empty rows, so the count is the row number.
            rows = ws.iter_rows(values_only=True)
            try:
                yield from enumerate(rows, start=1)
            finally:
                rows.close()  # releases the sheet's zip stream when a reader stops early

        numbers, scanned = _scan(source)
        if not any(_filled(cell) for row in scanned for cell in row):
            continue  # a blank sheet ("Sheet2") is not worth a mention
        tables.append(_table(_detect(scanned), worksheet.title, numbers, source))
    if not any(table.recognised for table in tables):
        raise _no_table_error(names)
    return tables


# -- text files ------------------------------------------------------------------------------

# Control characters never found in text; NUL above all is the sign of a binary file.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NEWLINE = re.compile(r"\r\n|\r|\n")
_MARKUP = re.compile(r"^\s*<(?:\?xml|!doctype|html|table|workbook)", re.IGNORECASE)


def _encoding(handle: IO[bytes]) -> tuple[str, int]:
    """The text encoding of a file and where its text starts (after a BOM).

    BOMs first; then strict UTF-8 over the whole file; else Windows-1258.
    """
    handle.seek(0)
    head = handle.read(4)
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise ReadError(_("The file is in UTF-32, which we do not read; save it as “CSV UTF-8”."))
    if head.startswith(b"\xef\xbb\xbf"):
        candidates, start = ["utf-8"], 3
    elif head.startswith(b"\xff\xfe"):
        candidates, start = ["utf-16-le"], 2
    elif head.startswith(b"\xfe\xff"):
        candidates, start = ["utf-16-be"], 2
    else:
        candidates, start = ["utf-8", "cp1258"], 0
    for encoding in candidates:
        try:
            _check_text(handle, encoding, start)
        except UnicodeDecodeError:
            continue
        return encoding, start
    if start:
        raise ReadError(_("The file starts as %(encoding)s text but contains bytes that are not; it may be "
                          "damaged.") % {"encoding": candidates[0].upper()})
    raise ReadError(_("The file is neither UTF-8 nor Windows-1258 text; save it from Excel as “CSV UTF-8” or as "
                      "an Excel workbook (.xlsx)."))


def _chunks(handle: IO[bytes], encoding: str, start: int) -> Iterator[tuple[str, bool]]:
    """Decoded text of a file in chunks, strictly; seeks before each read so that two
    readers of the same file do not disturb each other."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    position = start
    while True:
        handle.seek(position)
        data = handle.read(TEXT_CHUNK_BYTES)
        position += len(data)
        final = not data
        yield decoder.decode(data, final=final), final
        if final:
            return


def _check_text(handle: IO[bytes], encoding: str, start: int) -> None:
    """Decode the whole file once: a bad byte anywhere refuses it before any row is used."""
    for number, (text, _final) in enumerate(_chunks(handle, encoding, start)):
        if number == 0 and _MARKUP.match(text):
            raise ReadError(_("This is a web page or XML file saved with a spreadsheet name. Open it in Excel and "
                              "save it as “Excel Workbook (.xlsx)”."))
        if _CONTROL.search(text):
            raise ReadError(_("The file contains binary data; it is not a CSV or text file."))


def _lines(handle: IO[bytes], encoding: str, start: int) -> Iterator[str]:
    """Lines with their line ends (\\r\\n, \\n or a lone \\r), as the csv module wants them."""
    carry = ""
    for text, final in _chunks(handle, encoding, start):
        buffer = carry + text
        begin = 0
        for match in _NEWLINE.finditer(buffer):
            if not final and match.end() == len(buffer) and match.group() == "\r":
                break  # "\r" at the end of a chunk may be the first half of "\r\n"
            yield buffer[begin:match.end()]
            begin = match.end()
        carry = buffer[begin:]
        if len(carry) > MAX_LINE_CHARS:
            raise ReadError(_("A line of the file is longer than %(count)d characters; it is not a CSV file.")
                            % {"count": MAX_LINE_CHARS})
        if final and carry:
            yield carry


def _read_text(handle: IO[bytes], file_name: str) -> list[Table]:
    encoding, start = _encoding(handle)
    best: tuple[_Layout, list[int], RowSource] | None = None
    for delimiter in DELIMITERS:

        def source(delimiter: str = delimiter) -> Iterator[tuple[int, Sequence[Any]]]:
            records = csv.reader(_lines(handle, encoding, start), delimiter=delimiter)
            return enumerate(records, start=1)

        try:
            numbers, scanned = _scan(source)
        except csv.Error:
            continue  # this delimiter does not split the file sensibly
        layout = _detect(scanned)
        if layout is not None and (best is None or layout.rank > best[0].rank):
            best = (layout, numbers, source)
    if best is None:
        raise _no_table_error([file_name or _("the file")])
    layout, numbers, source = best
    return [_table(layout, file_name or _("the file"), numbers, source)]
