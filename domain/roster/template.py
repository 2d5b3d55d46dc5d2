"""The roster template (.xlsx): the headers, two example rows, and a sheet explaining each column.
"""

from __future__ import annotations

import io

from flask_babel import gettext

from domain.roster.columns import COLUMNS

__all__ = ["EXAMPLE_ROWS", "template_workbook"]

EXAMPLE_ROWS = (
    ("第一网格", "1号楼", "1单元", "101", "张秀英", "13800138000", "单元长", 3),
    ("第一网格", "1号楼", "1单元", "102", "李建国", "13800138001", "居民", 2),
)


def template_workbook() -> io.BytesIO:
    """An .xlsx with the headers and two example rows, and a second sheet explaining the columns."""
    from openpyxl import Workbook  # here, not at the top: only the template needs it (~7 MB a worker)
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "花名册"
    sheet.append([c.header for c in COLUMNS])
    for row in EXAMPLE_ROWS:
        sheet.append(list(row))
    for index, column in enumerate(COLUMNS, start=1):
        sheet.cell(row=1, column=index).font = Font(bold=True)
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = 14
        if column.key in ("phone", "household", "building", "unit"):
            # Text, or Excel shows a phone as 1.38E+10 and drops the leading zero of door "0101".
            sheet.column_dimensions[letter].number_format = "@"
            for cell in sheet[letter]:
                cell.number_format = "@"
    sheet.freeze_panes = "A2"
    notes = book.create_sheet(gettext("Instructions")[:31])
    notes.append([gettext("Column"), gettext("Also accepted"), gettext("Required"), gettext("Meaning")])
    for column in COLUMNS:
        notes.append([column.header, ", ".join(column.aliases), gettext("yes") if column.required else "",
                      str(column.description)])
    notes.append([])
    notes.append([gettext("One row per person and role; the first row holds the column names. A file with "
                          "any bad row is refused as a whole, with the list of rows to correct.")])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    notes.column_dimensions["B"].width = 30
    notes.column_dimensions["D"].width = 80
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out
