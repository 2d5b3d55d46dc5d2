"""Reading the rows of an .xlsx workbook's first worksheet, fast: what the roster import reads uploads with.

openpyxl's read-only mode builds a cell object, and a rich-text object for every string, for each value, and
reads a sheet that has no <dimension> element (openpyxl's own write-only files) once more only to size it: more
than the import's checks and writes together (bench/README.md has the figures). Here the standard library's C parser
streams the sheet out of the zip and each row becomes a list of plain values, each row's elements cleared once read.

An upload is bounded before it costs much: the uncompressed size of all the parts (declared by the zip, and
counted as they inflate, since a zip's declared sizes can lie), the size of a part read whole, the number of
shared strings and of rows (`Caps`, `TooLarge`). A 2 MB file holding 50 M shared strings ran an import past the
worker time-out; one whose workbook.xml inflates to 300 MB took a worker to ~1 GB.

Values are those openpyxl gives with data_only=True (the cached result of a formula, not the formula): text,
int or float, bool, the error text ("#N/A"). One difference: number formats are not read, so a number
formatted as a date comes as its serial number rather than a datetime; no roster column holds a date.
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import pyexpat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

if pyexpat.version_info < (2, 4, 1):
    raise ImportError("expat 2.4.1 or later is needed: older ones let an upload expand entities without end")

_RELATIONSHIPS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_DOCUMENT_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
#: The end of a relationship's Type, whatever the (transitional or strict) namespace before it.
_WORKBOOK, _WORKSHEET, _SHARED_STRINGS = "/officeDocument", "/worksheet", "/sharedStrings"
_DIGITS = "0123456789"


def _tree(data: bytes):
    # Safe on uploads: ElementTree never fetches external entities, and expat (2.4.1 and later, checked above)
    # stops entity expansion bombs; openpyxl parses with the same standard library.
    return ElementTree.fromstring(data)  # noqa: S314


def _ends(stream, events=("end",)):
    """The elements of an XML stream as each ends (and starts, if asked; see `_tree` on safety)."""
    return ElementTree.iterparse(stream, events)  # noqa: S314


class NotAWorkbook(ValueError):
    """The zip holds no workbook with a worksheet."""


#: The largest part read whole rather than streamed: workbook.xml and the relationships (a few KB in real files;
#: one inflating to 300 MB took a worker to ~1 GB).
PART_CAP = 4 * 2**20


class TooLarge(ValueError):
    """The workbook is over one of the caps: `limit` says which ("bytes", "part", "strings" or "rows"), `cap` its
    value. Raised as soon as it shows, before the rest is read."""

    def __init__(self, limit: str, cap: int):
        super().__init__(f"more than {cap} {limit}")
        self.limit, self.cap = limit, cap


@dataclass
class Caps:
    #: Uncompressed bytes of all the parts read together: a 2 MB zip may inflate a thousandfold.
    bytes: int
    #: Shared strings (each costs a Python string for the whole import).
    strings: int
    #: Row elements of the worksheet, blank ones included.
    rows: int


class _Inflated:
    """The parts of the zip as they inflate, counted against one budget of bytes. A zip's declared sizes are
    checked up front too, but they are the sender's word: this counts what actually comes out."""

    def __init__(self, archive: zipfile.ZipFile, cap: int):
        self.archive, self.cap, self.left = archive, cap, cap
        if sum(info.file_size for info in archive.infolist()) > cap:
            raise TooLarge("bytes", cap)

    def _count(self, data: bytes) -> bytes:
        self.left -= len(data)
        if self.left < 0:
            raise TooLarge("bytes", self.cap)
        return data

    @contextlib.contextmanager
    def open(self, name: str):
        with self.archive.open(name) as stream:
            yield _Counted(stream, self)

    def read(self, name: str) -> bytes:
        """A part read whole (the workbook and its relationships: a few KB in any real file), at most PART_CAP."""
        with self.open(name) as stream:
            data = stream.read(PART_CAP + 1)
        if len(data) > PART_CAP:
            raise TooLarge("part", PART_CAP)
        return data


class _Counted:
    """A part's stream whose every read counts against the budget (what iterparse reads with)."""

    def __init__(self, stream, budget: _Inflated):
        self.stream, self.budget = stream, budget

    def read(self, size: int = -1) -> bytes:
        # A whole read stops one byte past what is left, so a bomb is never inflated whole to be counted.
        return self.budget._count(self.stream.read(size if size >= 0 else self.budget.left + 1))


def _column_letters(count: int) -> dict[str, int]:
    """Column letters → index from 0, for the first `count` columns: A, B, … Z, AA, AB, …"""
    letters = {}
    for index in range(count):
        name, number = "", index + 1
        while number:
            number, rest = divmod(number - 1, 26)
            name = chr(65 + rest) + name
        letters[name] = index
    return letters


def _number(text: str) -> int | float:
    """As openpyxl casts a number cell."""
    return float(text) if "." in text or "E" in text or "e" in text else int(text)


class _Tags:
    """The qualified names of the sheet elements read, in the workbook's own namespace."""

    def __init__(self, namespace: str):
        self.sheet, self.sst, self.si, self.row, self.c, self.v, self.inline, self.t, self.r = (
            f"{namespace}{name}" for name in ("sheet", "sst", "si", "row", "c", "v", "is", "t", "r"))

    def text(self, node) -> str:
        """A string item's text: its plain text and the text of its formatted runs, never the phonetic
        guide (rPh) that Chinese and Japanese Excel adds to names."""
        if len(node) == 1 and node[0].tag == self.t:
            return node[0].text or ""
        parts = [child.text or "" for child in node if child.tag == self.t]
        parts += [run.findtext(self.t) or "" for run in node if run.tag == self.r]
        return "".join(parts)


class _Workbook:
    """The parts of the zip: where the first worksheet and the shared strings are."""

    def __init__(self, archive: _Inflated):
        self.archive = archive
        book = next((part for kind, part in self._relations("", "_rels/.rels").values()
                     if kind.endswith(_WORKBOOK)), None)
        if book is None:
            raise NotAWorkbook("no workbook part")
        root = _tree(archive.read(book))
        self.tags = _Tags(root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else "")
        folder, name = posixpath.split(book)
        relations = self._relations(folder, posixpath.join(folder, "_rels", f"{name}.rels"))
        sheets = [relations[sheet.get(_DOCUMENT_ID)] for sheet in root.iter(self.tags.sheet)]
        #: The first sheet that is a worksheet (openpyxl's `worksheets[0]`: chart sheets are not among them).
        self.sheet = next((part for kind, part in sheets if kind.endswith(_WORKSHEET)), None)
        if self.sheet is None:
            raise NotAWorkbook("no worksheet")
        self.shared = next((part for kind, part in relations.values() if kind.endswith(_SHARED_STRINGS)), None)

    def _relations(self, folder: str, rels: str) -> dict[str, tuple[str, str]]:
        """Relationship id → (type, part name)."""
        relations = {}
        for relation in _tree(self.archive.read(rels)).iter(_RELATIONSHIPS):
            target = relation.get("Target", "")
            part = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            relations[relation.get("Id")] = (relation.get("Type", ""), part)
        return relations

    def shared_strings(self, cap: int) -> list[str]:
        if self.shared is None or self.shared not in self.archive.archive.NameToInfo:
            return []
        strings = []
        si, text = self.tags.si, self.tags.text
        with self.archive.open(self.shared) as stream:
            for event, node in _ends(stream, ("start", "end")):
                if event == "start":
                    # The count Excel writes up front: refused before a string is read when it says too many.
                    if node.tag == self.tags.sst and int(node.get("uniqueCount") or 0) > cap:
                        raise TooLarge("strings", cap)
                    continue
                if node.tag == si:
                    if len(strings) == cap:
                        raise TooLarge("strings", cap)
                    strings.append(text(node).replace("x005F_", ""))  # as openpyxl's read_string_table
                    node.clear()
        return strings


def _cell_value(cell, kind: str | None, tags: _Tags, shared: list[str]):
    if kind == "inlineStr":
        inline = cell.find(tags.inline)
        return tags.text(inline) if inline is not None else None
    text = cell.findtext(tags.v) or None
    if text is None:
        return None
    if kind is None or kind == "n":
        return _number(text)
    if kind == "s":
        return shared[int(text)]
    if kind == "b":
        return bool(int(text))
    return text  # "str" (a formula's text), "e" (an error such as #N/A), "d" (an ISO date)


def sheet_rows(data: bytes, max_columns: int, caps: Caps) -> Iterator[tuple[int, list]]:
    """(row number as the sheet shows it, values of its first `max_columns` columns) of each row the first
    worksheet holds, in order (Excel leaves empty rows out). An empty cell is None; a row ends at its last cell.

    Raises TooLarge as soon as the workbook shows it is over one of `caps`. Raises NotAWorkbook,
    zipfile.BadZipFile, KeyError (a part missing), ElementTree.ParseError and the like for a damaged file: the
    caller tells the user once, whatever the kind.
    """
    archive = _Inflated(zipfile.ZipFile(io.BytesIO(data)), caps.bytes)
    book = _Workbook(archive)
    tags, shared = book.tags, book.shared_strings(caps.strings)
    letters = _column_letters(max_columns)
    number = read = 0
    row_tag, cell_tag = tags.row, tags.c
    with archive.open(book.sheet) as stream:
        for _event, row in _ends(stream):
            if row.tag != row_tag:
                continue
            read += 1
            if read > caps.rows:
                raise TooLarge("rows", caps.rows)
            number = int(row.get("r") or number + 1)
            values: list = []
            for cell in row:
                reference = cell.get("r")
                # A cell without a reference follows the one before it; Excel leaves empty cells out.
                index = len(values) if reference is None else letters.get(reference.rstrip(_DIGITS), max_columns)
                if index >= max_columns or cell.tag != cell_tag:
                    continue
                while len(values) < index:
                    values.append(None)
                value = _cell_value(cell, cell.get("t"), tags, shared)
                if index == len(values):
                    values.append(value)
                else:  # a cell out of order, as no spreadsheet program writes
                    values[index] = value
            row.clear()
            yield number, values
