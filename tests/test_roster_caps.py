"""Roster .xlsx uploads bounded (issue 17): a workbook over the caps on its uncompressed size, on a part read whole,
on shared strings or on rows is refused early with a message naming the limit, before it costs the server much.

The files are crafted with zipfile (bench/uploads.py): small on disk, each a highly compressible part.
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from bench.uploads import write_xlsx
from domain import roster, xlsx_read
from domain.errors import Invalid
from domain.roster import parse as roster_parse
from tests.test_roster import post_roster, sign_in, table_counts


def crafted(**shape) -> bytes:
    out = io.BytesIO()
    write_xlsx(out, **shape)
    return out.getvalue()


def refusal(data: bytes) -> Invalid:
    with pytest.raises(Invalid) as refused:
        roster.parse_roster("roster.xlsx", data)
    return refused.value


def test_a_crafted_workbook_within_the_caps_is_read(dbs):
    assert [row.cells["grid"] for row in roster.parse_roster("roster.xlsx", crafted()).rows] == ["a"]


def test_a_workbook_declaring_more_than_the_uncompressed_cap_is_refused_unread(dbs, monkeypatch):
    monkeypatch.setattr(roster_parse, "XLSX_CAPS", xlsx_read.Caps(bytes=2**20, strings=1000, rows=100))
    data = crafted(shared_strings=70_000)  # 1.2 MB of strings in a few KB
    assert len(data) < 20_000
    refused = refusal(data)
    assert refused.code == "roster_too_large" and "1 MB" in str(refused.message)


def _understated(data: bytes, member: str, size: int) -> bytes:
    """The zip with `member`'s uncompressed size understated in its local header and central directory."""
    archive = zipfile.ZipFile(io.BytesIO(data))
    info = archive.getinfo(member)
    raw = bytearray(data)
    struct.pack_into("<I", raw, info.header_offset + 22, size)  # local file header
    central = raw.index(b"PK\x01\x02")
    while True:  # the central directory record of this member
        name_length = struct.unpack_from("<H", raw, central + 28)[0]
        if raw[central + 46:central + 46 + name_length] == member.encode():
            break
        central = raw.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", raw, central + 24, size)
    return bytes(raw)


def test_declared_sizes_that_lie_do_not_let_more_in(dbs, monkeypatch):
    """A zip's sizes are the sender's word: one understating its shared strings is not read past what it says (it
    is then damaged), and what inflates is counted against the cap whatever was declared."""
    monkeypatch.setattr(roster_parse, "XLSX_CAPS", xlsx_read.Caps(bytes=2**20, strings=10**6, rows=100))
    data = crafted(shared_strings=70_000)
    lying = _understated(data, "xl/sharedStrings.xml", 1000)
    assert zipfile.ZipFile(io.BytesIO(lying)).getinfo("xl/sharedStrings.xml").file_size == 1000
    assert refusal(lying).code in ("roster_unreadable", "roster_too_large")
    # The count while inflating, on its own: a budget smaller than what the parts hold stops the read.
    archive = xlsx_read._Inflated(zipfile.ZipFile(io.BytesIO(data)), 2**22)
    archive.left = 1000
    with pytest.raises(xlsx_read.TooLarge), archive.open("xl/sharedStrings.xml") as stream:
        while stream.read(16384):
            pass


def test_a_workbook_xml_inflating_past_the_part_cap_is_refused(dbs):
    """Issue 17: a workbook.xml inflating to 300 MB took a worker to ~1 GB. One part read whole is capped."""
    data = crafted(workbook_padding=xlsx_read.PART_CAP + 1)
    assert len(data) < 50_000
    refused = refusal(data)
    assert refused.code == "roster_too_large" and "4 MB" in str(refused.message)


def test_more_shared_strings_than_the_cap_are_refused(dbs):
    """Issue 17: 50 M shared strings in 2 MB ran an import past the worker time-out. Refused at the cap, from the
    count Excel declares before any string is read, or by counting when the count is missing."""
    cap = roster.XLSX_CAPS.strings
    refused = refusal(crafted(shared_strings=1, unique_count=cap + 1))
    assert refused.code == "roster_too_many_texts" and f"{cap}" in str(refused.message)
    assert refusal(crafted(shared_strings=cap + 1)).code == "roster_too_many_texts"
    assert len(roster.parse_roster("roster.xlsx", crafted(shared_strings=1000)).rows) == 1


def test_more_rows_than_the_cap_are_refused_even_when_blank(dbs, monkeypatch):
    monkeypatch.setattr(roster_parse, "XLSX_CAPS", xlsx_read.Caps(bytes=2**20, strings=1000, rows=50))
    refused = refusal(crafted(blank_rows=60))
    assert refused.code == "roster_too_long" and f"{roster.MAX_ROWS}" in str(refused.message)
    assert len(roster.parse_roster("roster.xlsx", crafted(blank_rows=40)).rows) == 1


def test_the_page_refuses_a_workbook_bomb_with_a_clear_message(app, client, tree):
    sign_in(client, tree.staff_a)
    before = table_counts(app)
    response = post_roster(client, tree.a.community, crafted(workbook_padding=xlsx_read.PART_CAP + 1),
                           "roster.xlsx")
    assert response.status_code == 400
    assert "unpacks to more than 4 MB" in response.text
    assert table_counts(app) == before
