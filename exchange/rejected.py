"""The rejected rows of an import, written back as a workbook a person can fix and upload again."""

import tempfile
from collections import defaultdict

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .columns import SHEETS
from .exporter import escape_formula
from .models import ImportBatch
from .services import batch_tables

MESSAGE_HEADER = "Lỗi"
ROW_HEADER = "Dòng trong tệp gốc"


def _cell(value):
    """A cell as every export writes it: text a spreadsheet would run as a formula
    (=HYPERLINK(…), +…, @…) made plain text with a leading apostrophe, which the
    importer removes again when the fixed file comes back."""
    if value is None:
        return ""
    if isinstance(value, str):
        # Control characters XML cannot hold go first, so "\x01=…" cannot become a formula.
        return escape_formula(ILLEGAL_CHARACTERS_RE.sub("", value))
    return value


def rejected_rows_workbook(batch: ImportBatch):
    """A temporary file holding, per sheet, the rejected rows with their messages."""
    messages: dict[tuple[str, int], list[str]] = defaultdict(list)
    for sheet, row, column, message in batch.issues.values_list("sheet", "row", "column", "message"):
        messages[(sheet, row)].append(f"{column}: {message}" if column else message)
    workbook = Workbook(write_only=True)
    with batch_tables(batch) as tables:
        for table in tables:
            spec = SHEETS.get(table.kind)
            if spec is None:
                continue
            sheet = workbook.create_sheet(spec.title[:31])
            sheet.append([column.header for column in spec.columns] + [ROW_HEADER, MESSAGE_HEADER])
            for row in table.rows():
                found = messages.get((spec.title, row.number))
                if found:
                    cells = [_cell(row.values.get(key)) for key in spec.keys]
                    sheet.append([*cells, row.number, _cell(" | ".join(found))])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, which closes it
    workbook.save(handle)
    handle.seek(0)
    return handle
