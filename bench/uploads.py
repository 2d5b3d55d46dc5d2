"""The worst uploads, timed: time and peak memory of handling each hostile photo and spreadsheet.

Makes the files of issue 17 in a temporary folder (small on disk: they are highly compressible), then handles each
in a fresh process of its own, so one's memory does not hide another's, and prints the wall time, the CPU time and
the peak resident memory of that process (VmHWM; in brackets, less what it held before handling the file):

- a 117 KB PNG that decodes to 7,999 × 5,000 (just under the 40 MP cap);
- a 40 MP JPEG (8,000 × 5,000);
- an .xlsx of a few MB holding 50 M shared strings;
- an .xlsx whose workbook.xml inflates to 300 MB;
- an .xlsx one shared string over the cap, declaring no count (the worst the caps still read).

    .venv/bin/python bench/uploads.py              # all four
    .venv/bin/python bench/uploads.py --timeout 60  # give up on one file after 60 s (reported as such)

Photos go through domain.photos.save, spreadsheets through domain.roster.parse_roster (what the import runs before
it touches the database).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Handles one file in a process of its own; prints the outcome and the memory held before handling it.
HANDLE = """
import sys, time
sys.path.insert(0, {root!r})
kind, path, folder = sys.argv[1:4]
from flask import Flask
from flask_babel import Babel
from domain import photos, roster
from domain.errors import DomainError
import PIL.Image, openpyxl  # imported before the baseline is taken
app = Flask("bench", instance_path=folder)
app.config["UPLOAD_FOLDER"] = folder
Babel(app)
data = open(path, "rb").read()
def peak():
    # This process's own high-water mark: ru_maxrss would also count its parent's memory, kept across fork and exec.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
before = peak()
started, cpu = time.perf_counter(), time.process_time()
with app.test_request_context():
    try:
        if kind == "photo":
            with open(path, "rb") as stream:
                outcome = "stored " + photos.save(stream)
        else:
            outcome = "read %d rows" % len(roster.parse_roster(path, data).rows)
    except DomainError as error:
        outcome = "refused %s: %s" % (error.code, error.message)
print("BASE", before)
print("PEAK", peak())
print("OUTCOME", outcome, "in %.2f s (cpu %.2f s)" % (time.perf_counter() - started, time.process_time() - cpu))
"""


def png_7999x5000(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (7999, 5000), (90, 140, 200)).save(path, "PNG", optimize=True)


def jpeg_40mp(path: Path) -> None:
    from PIL import Image

    # A gradient, not one colour: a JPEG of one colour would be decoded as cheaply as any, but a gradient keeps the
    # file a plausible size for a camera's 40 MP picture without being noise.
    Image.linear_gradient("L").resize((8000, 5000)).convert("RGB").save(path, "JPEG", quality=90)


RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns='
        '"http://schemas.openxmlformats.org/package/2006/relationships">{}</Relationships>')
REL = ('<Relationship Id="{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/{}" '
       'Target="{}"/>')
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WORKBOOK = (f'<workbook xmlns="{MAIN}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>{}</workbook>')
SHEET = (f'<worksheet xmlns="{MAIN}"><sheetData>'
         '<row r="1"><c r="A1" t="inlineStr"><is><t>网格</t></is></c><c r="B1" t="inlineStr"><is><t>姓名</t></is></c>'
         '<c r="C1" t="inlineStr"><is><t>手机</t></is></c><c r="D1" t="inlineStr"><is><t>身份</t></is></c></row>'
         '<row r="2"><c r="A2" t="s"><v>0</v></c></row>{}</sheetData></worksheet>')


def write_xlsx(target, *, shared_strings: int = 0, workbook_padding: int = 0, blank_rows: int = 0,
               unique_count: int | None = None) -> None:
    """A minimal workbook (a header row and one row, to a path or a file object), its big part written in pieces
    so that making it costs little memory: `shared_strings` string items, `workbook_padding` spaces in
    workbook.xml, `blank_rows` empty rows after the first two, `unique_count` the count the strings declare."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("_rels/.rels", RELS.format(REL.format("rId1", "officeDocument", "xl/workbook.xml")))
        archive.writestr("xl/_rels/workbook.xml.rels", RELS.format(
            REL.format("rId1", "worksheet", "worksheets/sheet1.xml")
            + REL.format("rId2", "sharedStrings", "sharedStrings.xml")))
        head, tail = WORKBOOK.split("{}")
        with archive.open("xl/workbook.xml", "w", force_zip64=True) as part:
            part.write(head.encode())
            _repeat(part, b" ", workbook_padding)
            part.write(tail.encode())
        head, tail = SHEET.split("{}")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(head.encode())
            for number in range(3, 3 + blank_rows):
                part.write(f'<row r="{number}"/>'.encode())
            part.write(tail.encode())
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            declared = f' uniqueCount="{unique_count}"' if unique_count is not None else ""
            part.write(f'<sst xmlns="{MAIN}"{declared}>'.encode())
            _repeat(part, b"<si><t>a</t></si>", max(1, shared_strings))
            part.write(b"</sst>")


def _repeat(part, piece: bytes, count: int) -> None:
    block = piece * 65536
    for _ in range(count // 65536):
        part.write(block)
    part.write(piece * (count % 65536))


def handle(kind: str, path: Path, folder: str, timeout: float) -> str:
    """One file handled in a fresh interpreter; its own rusage read with wait4, killed after `timeout` s."""
    script = HANDLE.format(root=str(ROOT))
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", script, kind, str(path), folder],  # noqa: S603
                                   stdout=out, stderr=subprocess.STDOUT, text=True)
        killed = False
        while True:
            pid, _status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                process.send_signal(signal.SIGKILL)
                killed = True
                _pid, _status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        process.returncode = 0  # reaped above
        elapsed = time.perf_counter() - started
        out.seek(0)
        lines = out.read().splitlines()
    base = next((int(line.split()[1]) for line in lines if line.startswith("BASE")), 0)
    # Killed: the kernel's figure (which counts this small process's memory at the fork, too).
    peak = next((int(line.split()[1]) for line in lines if line.startswith("PEAK")), usage.ru_maxrss)
    outcome = next((line[8:] for line in lines if line.startswith("OUTCOME")), None)
    if killed:
        outcome = f"killed after {timeout:.0f} s"
    elif outcome is None:
        outcome = "failed: " + (lines or ["?"])[-1]
    cpu = usage.ru_utime + usage.ru_stime
    return (f"{path.name:<26} {path.stat().st_size / 1024:>6.0f} KB  wall {elapsed:6.2f} s  cpu {cpu:6.2f} s  "
            f"peak {peak / 1024:6.0f} MB (+{max(0, peak - base) / 1024:.0f} MB)  {outcome}")


def make(here: Path, only: str | None) -> None:
    if only != "xlsx":
        from PIL import Image

        # What any upload costs the process (imports, the request): the figures below it are the file's own.
        Image.new("RGB", (64, 48), (1, 2, 3)).save(here / "baseline-64x48.png")
        png_7999x5000(here / "bomb-7999x5000.png")
        jpeg_40mp(here / "camera-40mp.jpg")
    if only != "photos":
        write_xlsx(here / "shared-strings-50m.xlsx", shared_strings=50_000_000)
        write_xlsx(here / "workbook-300mb.xlsx", workbook_padding=300 * 2**20)
        # The worst the caps still read: one string over the cap, with no count declared up front.
        sys.path.insert(0, str(ROOT))
        from domain.roster import XLSX_CAPS

        write_xlsx(here / "shared-strings-counted.xlsx", shared_strings=XLSX_CAPS.strings + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=120, help="seconds before one file's handling is killed")
    parser.add_argument("--only", choices=("photos", "xlsx"), help="only the photos or only the spreadsheets")
    parser.add_argument("--make", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make(Path(args.make), args.only)
        return
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        # Made by another process: Linux keeps a process's peak memory across fork and exec, so the files' makings
        # (160 MB for the PNG) would show in the peak of every process this one starts.
        subprocess.run([sys.executable, __file__, "--make", folder, *(["--only", args.only] if args.only else [])],  # noqa: S603
                       check=True)
        uploads = here / "uploads"
        uploads.mkdir()
        for path in sorted(here.iterdir(), key=lambda p: (p.suffix == ".xlsx", p.name)):
            if path.is_file():
                print(handle("xlsx" if path.suffix == ".xlsx" else "photo", path, str(uploads), args.timeout),
                      flush=True)


if __name__ == "__main__":
    main()
