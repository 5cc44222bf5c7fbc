"""The rejected rows of an import, written back as a workbook a person can fix and upload again."""

import tempfile
from collections import defaultdict

from openpyxl import Workbook

from .columns import SHEETS
from .models import ImportBatch
from .services import batch_tables

MESSAGE_HEADER = "Lỗi"
ROW_HEADER = "Dòng trong tệp gốc"


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
                    cells = ["" if row.values.get(key) is None else row.values.get(key) for key in spec.keys]
                    sheet.append([*cells, row.number, " | ".join(found)])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, which closes it
    workbook.save(handle)
    handle.seek(0)
    return handle
