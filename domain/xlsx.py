"""Streamed .xlsx writing: every register, chart table and personal export goes through `write`.

openpyxl's write-only mode builds a cell object, and an XML element or three, for every value, which makes a large
register slow (bench/README.md has the figures). Here openpyxl still writes the workbook (its parts, styles, sheet
names and the frame of each sheet), and the rows in between are written as text straight into the zip entry, a chunk
at a time, in the markup openpyxl itself writes (inline strings, numbers, booleans). Nothing is held but the current
chunk, and the sheet is compressed as it is written, so no uncompressed copy touches the disk either
(bench/registers.py measures it).
"""

from __future__ import annotations

import io
import math
import re
import tempfile
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from typing import IO

#: Characters a worksheet cannot hold (control characters other than tab and line breaks).
ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")
#: The longest text a cell holds.
MAX_TEXT = 32_767
#: Characters escaped in cell text, as lxml escapes them for openpyxl.
ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
#: Where an empty sheet's rows go in the sheet openpyxl writes (with lxml, and without).
SHEET_DATA = re.compile(rb"<sheetData></sheetData>|<sheetData\s*/>")
#: Characters of rows gathered before they are handed to the compressor.
CHUNK = 64 * 1024


def write(sheets: Iterable[tuple[str, Iterable[Iterable]]]) -> IO[bytes]:
    """A workbook of (sheet name, rows) as an .xlsx temporary file, open at its start.

    Rows are consumed one at a time, so they may come from a generator of any length. Values may be text,
    numbers (int, float, Decimal), booleans or None (an empty cell); text is written as text (never a formula),
    without the control characters a worksheet refuses, and cut at 32,767 characters. Sheet names are cleaned
    of the characters Excel refuses and cut at 31; they must differ. Raises TypeError for any other value."""
    from openpyxl import Workbook  # here, not at the top: only exports need it, and it costs a worker ~7 MB

    sheets = list(sheets)
    book = Workbook(write_only=True)
    for name, _rows in sheets:
        book.create_sheet(sheet_name(name))
    frame = io.BytesIO()
    book.save(frame)
    paths = [f"xl/worksheets/sheet{n}.xml" for n in range(1, len(sheets) + 1)]
    out = tempfile.TemporaryFile()
    try:
        with zipfile.ZipFile(frame) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for entry in source.infolist():
                if entry.filename not in paths:
                    target.writestr(entry, source.read(entry))
                    continue
                head, tail = SHEET_DATA.split(source.read(entry), maxsplit=1)
                with target.open(entry.filename, "w") as sheet:
                    sheet.write(head + b"<sheetData>")
                    _write_rows(sheet, sheets[paths.index(entry.filename)][1])
                    sheet.write(b"</sheetData>" + tail)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def sheet_name(title: str) -> str:
    """A sheet name Excel accepts made from a title."""
    for bad in "[]:*?/\\":
        title = title.replace(bad, " ")
    return title[:31]


def _write_rows(out: IO[bytes], rows: Iterable[Iterable]) -> None:
    from openpyxl.utils import get_column_letter  # lazily, as in `write`

    columns: list[str] = []
    chunk: list[str] = []
    size = 0
    for number, row in enumerate(rows, 1):
        cells = []
        for index, value in enumerate(row):
            if index == len(columns):
                columns.append(get_column_letter(index + 1))
            if value is None:
                continue
            ref = f"{columns[index]}{number}"
            if value.__class__ is str and value.isprintable() and 0 < len(value) <= MAX_TEXT and value[0] != " " \
                    and value[-1] != " ":
                # The common case, inline (a call per cell costs a third of the time): plain text on one line.
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{value.translate(ESCAPES)}</t></is></c>')
            else:
                cells.append(_cell(ref, value))
        line = f'<row r="{number}">{"".join(cells)}</row>'
        chunk.append(line)
        size += len(line)
        if size >= CHUNK:
            out.write("".join(chunk).encode())
            chunk, size = [], 0
    out.write("".join(chunk).encode())


def _cell(ref: str, value) -> str:
    if isinstance(value, str):
        value = ILLEGAL.sub("", value)[:MAX_TEXT]
        if not value:
            return f'<c r="{ref}" t="inlineStr"></c>'
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f'<c r="{ref}" t="inlineStr"><is><t{space}>{value.translate(ESCAPES)}</t></is></c>'
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float | Decimal):
        if not math.isfinite(value):
            return f'<c r="{ref}" t="n"></c>'
        if isinstance(value, Decimal):
            value = float(value)
        return f'<c r="{ref}" t="n"><v>{value:.16g}</v></c>'
    raise TypeError(f"a register cell takes text, a number or None, not {type(value).__name__}: {value!r}")
