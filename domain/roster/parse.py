"""Reading a roster file (`parse_roster`): an .xlsx or .csv into rows of column key → cleaned text, within the caps on
rows, columns and what a workbook may unpack to. Refuses a file that cannot be read, with a message a community
worker can act on.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from domain import xlsx_read
from domain.errors import Invalid
from domain.roster.columns import COLUMN_BY_KEY, COLUMNS, HEADER_KEYS, _header_key

__all__ = [
    "HEADER_SEARCH", "MAX_COLUMNS", "MAX_ROWS", "XLSX_CAPS", "RosterFile", "RosterRow", "collector_paused",
    "parse_roster",
]

MAX_ROWS = 50_000
#: Columns read per row: a real roster has a dozen; the cap keeps a malformed sheet from costing much.
MAX_COLUMNS = 50
#: Rows searched for the header, so a title row above it ("银融社区花名册") does no harm.
HEADER_SEARCH = 10
#: What an .xlsx may hold (xlsx_read.Caps): a roster of MAX_ROWS rows as openpyxl writes it unpacks to 21 MB and
#: holds a few different texts a row (name, door, phone); blank rows Excel keeps for their formatting are allowed
#: twice over. A workbook one string over the cap, without a declared count, is refused after ~2.3 s of CPU.
XLSX_CAPS = xlsx_read.Caps(bytes=100 * 2**20, strings=500_000, rows=2 * MAX_ROWS + HEADER_SEARCH)

#: Chinese rosters pad two-character names to line up with three-character ones: "王  芳" is 王芳.
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")


@contextlib.contextmanager
def collector_paused():
    """Python's cycle collector paused for the block (and restored after, unless it was off already).

    An import holds a file's rows, their checks and their database rows alive at once: hundreds of thousands of
    objects, none in a reference cycle, that the collector would otherwise walk again and again as they are made,
    a fifth of an import's time. What is freed meanwhile is still freed at once by reference counting. The pause
    is the whole process's (the collector has no per-thread switch): harmless with sync workers, about a second
    without cycle collection for other threads of a threaded server.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(slots=True)
class RosterRow:
    #: The row number the spreadsheet shows, the header being row 1 (or lower when titles sit above it).
    number: int
    cells: dict[str, str]


@dataclass
class RosterFile:
    filename: str
    #: column key → the header as written in the file, so reports name the columns the user sees.
    headers: dict[str, str]
    rows: list[RosterRow]

    def column(self, key: str) -> str:
        return self.headers.get(key) or COLUMN_BY_KEY[key].header


def _clean(value) -> str:
    """A cell as text: numbers without '.0' (Excel stores 13800138000 as a float), width and spaces folded."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if " " in text or not text.isprintable():
            text = _CJK_GAP.sub("", text)
    # str.split() splits where the regex \s matches: runs of spaces folded without a regex, at half the cost.
    return " ".join(text.split())


def _cleaner() -> Callable[[object], str]:
    """`_clean` remembering its answers for one file: grids, buildings, roles and doors repeat on every row."""
    seen: dict[str, str] = {}

    def clean(value) -> str:
        if type(value) is not str:  # True == 1: only text may share an entry
            return _clean(value)
        text = seen.get(value)
        if text is None:
            text = seen[value] = _clean(value)
        return text
    return clean


def _file_kind(filename: str) -> str:
    kind = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if kind not in ("xlsx", "csv"):
        raise Invalid("roster_file_type", _l("Upload an .xlsx or .csv file."),
                      {"file": [_l("Upload an .xlsx or .csv file.")]})
    return kind


def _not_xlsx() -> Invalid:
    return Invalid("roster_unreadable", _l("This file is not a real .xlsx workbook, or it is damaged: open it in "
                                           "Excel or WPS and save it again as .xlsx."))


def _xlsx_table(data: bytes) -> Iterator[tuple[int, list]]:
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise Invalid("roster_xls", _l("This is an old Excel .xls file: open it in Excel or WPS and save it "
                                       "as .xlsx."))
    if not data.startswith(b"PK"):
        raise _not_xlsx()
    try:
        # The first worksheet, not the active one: a user who saved while looking at a notes sheet still
        # imports the roster. Read as it goes, so damage may show only half-way through.
        yield from xlsx_read.sheet_rows(data, MAX_COLUMNS, XLSX_CAPS)
    except xlsx_read.TooLarge as error:
        raise _too_large(error) from None
    except Exception as error:  # a damaged file fails in a dozen ways (zip, XML, key, index, value)
        raise _not_xlsx() from error


def _too_large(error: xlsx_read.TooLarge) -> Invalid:
    if error.limit == "rows":
        return _too_long()
    if error.limit == "strings":
        return Invalid("roster_too_many_texts", _l("This workbook holds more than %(max)d different texts: a "
                                                   "roster of %(rows)d rows never needs so many. Copy the roster "
                                                   "alone into a new workbook and upload that.",
                                                   max=error.cap, rows=MAX_ROWS))
    return Invalid("roster_too_large", _l("This workbook unpacks to more than %(mb)d MB: a roster of %(rows)d rows "
                                          "never needs so much. Copy the roster alone into a new workbook and "
                                          "upload that.", mb=error.cap // 2**20, rows=MAX_ROWS))


def _too_long() -> Invalid:
    return Invalid("roster_too_long", _l("The file has more than %(max)d rows: split it into several files.",
                                         max=MAX_ROWS))


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")  # Excel's "Unicode text" export, often renamed .csv
    if b"\x00" in data or data.startswith(b"PK"):
        raise Invalid("roster_not_csv", _l("This file is not a text .csv file: save it from Excel or WPS as "
                                           "“CSV UTF-8”."))
    # Excel writes a BOM before UTF-8; Chinese Excel and WPS save plain "CSV" in GBK (gb18030 is its superset).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Invalid("roster_encoding", _l("The text of this .csv file could not be read: save it as “CSV UTF-8”."))


def _csv_table(data: bytes) -> Iterator[tuple[int, list]]:
    text = _decode(data)
    first_line = text.split("\n", 1)[0]
    # Excel uses ';' where ',' is the decimal mark and tabs in its "Unicode text" export.
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for number, values in enumerate(reader, start=1):
            yield number, values[:MAX_COLUMNS]
    except csv.Error as error:
        raise Invalid("roster_csv_broken", _l("This .csv file cannot be read after row %(row)d: check its "
                                              "quotation marks.", row=number)) from error


def _find_header(table: Iterator[tuple[int, list]]) -> tuple[int, dict[int, str], dict[str, str]]:
    """The first row naming a known column: (row number, cell index → key, key → header as written)."""
    for number, values in table:
        if number > HEADER_SEARCH:
            break
        indices: dict[int, str] = {}
        headers: dict[str, str] = {}
        for index, text in enumerate(map(_clean, values)):
            key = HEADER_KEYS.get(_header_key(text)) if text else None
            if key is None:
                continue
            if key in headers:
                raise Invalid("roster_column_twice", _l("The column %(column)s appears twice.", column=text))
            indices[index] = key
            headers[key] = text
        if indices:
            return number, indices, headers
    return 0, {}, {}


def parse_roster(filename: str, data: bytes) -> RosterFile:
    """Read an .xlsx or .csv roster into rows of column key → cleaned text. Blank rows are skipped.

    Raises Invalid: roster_file_type, roster_empty, roster_unreadable, roster_xls, roster_not_csv,
    roster_encoding, roster_csv_broken, roster_columns, roster_column_twice, roster_too_long, and for an .xlsx
    over XLSX_CAPS roster_too_large or roster_too_many_texts.
    """
    kind = _file_kind(filename or "")
    if not data.strip():
        raise Invalid("roster_empty", _l("The file is empty."))
    table = _xlsx_table(data) if kind == "xlsx" else _csv_table(data)
    _, indices, headers = _find_header(table)
    missing = [c.header for c in COLUMNS if c.required and c.key not in headers]
    if missing:
        raise Invalid("roster_columns",
                      _l("Required columns are missing: %(columns)s. The first row must hold the column names "
                         "of the template.", columns=", ".join(missing)), {"columns": missing})
    rows: list[RosterRow] = []
    clean = _cleaner()
    for number, values in table:
        # Only the columns the roster reads are cleaned: a sheet may carry notes or formulas beside them.
        cells = {key: clean(values[i]) if i < len(values) else "" for i, key in indices.items()}
        if not any(cells.values()):
            continue
        if len(rows) == MAX_ROWS:
            raise _too_long()
        rows.append(RosterRow(number, cells))
    if not rows:
        raise Invalid("roster_empty", _l("The file has column names but no rows."))
    return RosterFile(filename, headers, rows)
