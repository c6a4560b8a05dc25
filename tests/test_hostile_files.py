"""Hostile and unlucky files: each costs one clear line about itself, memory and time stay bounded."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import kr, o, unit, write_xlsx
from python_calamine import CalamineWorkbook
from xlsx_fixtures import zip_parts

from sheets_sync.backends.xlsx import XlsxBackend
from sheets_sync.core.model import CellUpdate, WorkbookChanges
from sheets_sync.errors import WorkbookError

AS_OF = ["--as-of", "2026-11-15"]
GB = 1024**3
# Keep a broken reader from taking the shared machine with it: past this the child fails, the test too.
ADDRESS_SPACE = 6 * GB
# Without the file-permission capabilities even root meets a folder's mode bits, as a service account does.
NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
SCORE, CHECK, CURRENT, PROGRESS = 18, 20, 12, 17  # columns R, T, L, Q of builders' header


@dataclass
class Run:
    rc: int
    out: str
    peak_mb: float
    seconds: float


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def okr_sync(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None,
             timeout: float = 60) -> Run:
    """Run the okr-sync command in its own process: exit code, output, peak memory (ru_maxrss), time."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen([*(prefix or []), sys.executable, "-m", "sheets_sync", *args], stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, preexec_fn=_limit)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise AssertionError(f"okr-sync {' '.join(args)} still running after {timeout}s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    run = Run(proc.returncode, text, usage.ru_maxrss / 1024, time.perf_counter() - start)
    print(f"okr-sync {args[0]}: exit {run.rc}, peak {run.peak_mb:.0f} MB, {run.seconds:.1f} s")  # shown by -rA
    return run


def good_unit(path: Path, code: str = "CO", **kr_fields: object) -> Path:
    """A company unit with one objective and two key results, no mistakes."""
    return write_xlsx(path, unit(code, "company", [
        o("O1", "Grow"),
        kr("KR1.1", "Revenue", metric="number", start=0, target=100, current=50, **kr_fields),
        kr("KR1.2", "Signups", metric="number", start=0, target=10, current=5),
    ]))


def okrs(path: Path, sheet: str = "OKRs", rows: int = 20) -> list[list[object]]:
    """The top left of a sheet (read in streaming mode: a cell at XFD1048576 costs nothing here)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [list(r) for r in wb[sheet].iter_rows(min_row=1, max_row=rows, max_col=24, values_only=True)]
    finally:
        wb.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rezip(path: Path, parts: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def okrs_part(parts: dict[str, bytes]) -> str:
    """The OKRs sheet's part: builders write Settings first, then OKRs."""
    assert "xl/worksheets/sheet2.xml" in parts
    return "xl/worksheets/sheet2.xml"


def with_shared_strings(parts: dict[str, bytes], strings: bytes = b"") -> dict[str, bytes]:
    """Give a package a sharedStrings part (openpyxl writes inline strings): its rel and content type."""
    ns = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    parts["xl/sharedStrings.xml"] = b'<sst xmlns="' + ns + b'">' + strings + b"</sst>"
    rel = (b'<Relationship Id="rIdSst" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
           b'relationships/sharedStrings" Target="sharedStrings.xml"/>')
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", rel + b"</Relationships>")
    ct = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
          b'officedocument.spreadsheetml.sharedStrings+xml"/>')
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(b"</Types>", ct + b"</Types>")
    return parts


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short path (a Unix socket's path must fit in 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="okrh-"))
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_one_value_in_xfd1048576_of_a_units_okrs_sheet(tmp_path: Path) -> None:
    for n, (kind, value) in enumerate([("s", ""), ("inlineStr", ""), ("inlineStr", "x")]):
        folder = tmp_path / f"v{n}"
        folder.mkdir()
        path = good_unit(folder / "co.xlsx")
        parts = zip_parts(path)
        if kind == "s":  # an empty shared string, as Excel stores ="" pasted as a value
            with_shared_strings(parts, b"<si><t>Revenue</t></si><si><t></t></si>")
            content = "<v>1</v>"
        else:
            content = f"<is><t>{value}</t></is>"
        cell = f'<row r="1048576"><c r="XFD1048576" t="{kind}">{content}</c></row>'
        parts[okrs_part(parts)] = parts[okrs_part(parts)].replace(b"</sheetData>", cell.encode() + b"</sheetData>")
        rezip(path, parts)
        run = okr_sync("sync", str(folder), *AS_OF)
        assert run.rc == 0, run.out
        assert run.peak_mb < 1024, run.peak_mb
        assert okrs(path)[2][SCORE - 1] == 0.5  # the unit synced
        with zipfile.ZipFile(path) as z:  # the far cell is still there, untouched
            assert b'r="XFD1048576"' in z.read(okrs_part(parts))


def _bomb_part(z: zipfile.ZipFile, name: str, head: bytes, unit_xml: bytes, mb: int, tail: bytes) -> None:
    """A part that inflates to `mb` MB from a few hundred KB (a deflate stream of repeated XML)."""
    chunk = unit_xml * (1024 * 1024 // len(unit_xml))
    with z.open(zipfile.ZipInfo(name), "w", force_zip64=mb >= 4096) as f:
        f._compressor = zlib.compressobj(1, zlib.DEFLATED, -15)  # fast: the data repeats anyway
        f.write(head)
        for _ in range(mb):
            f.write(chunk)
        f.write(tail)


def test_a_small_file_whose_parts_inflate_to_gigabytes(tmp_path: Path) -> None:
    good_unit(tmp_path / "co.xlsx")
    bomb = good_unit(tmp_path / "bomb.xlsx", code="BOMB")
    parts = with_shared_strings(zip_parts(bomb))
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            if name == "xl/sharedStrings.xml":  # 1.5 GB of shared strings
                _bomb_part(z, name, data[:-6], b"<si><t>aaaaaaaa</t></si>", 1536, b"</sst>")
            else:
                z.writestr(name, data)
    assert bomb.stat().st_size < 10 * 1024 * 1024
    before = digest(bomb)
    run = okr_sync("sync", str(tmp_path), *AS_OF)
    assert run.rc != 0
    assert "bomb.xlsx" in run.out and "200 MB" in run.out and "OKR_SYNC_MAX_PART_MB" in run.out, run.out
    assert run.peak_mb < 1024, run.peak_mb
    assert digest(bomb) == before
    assert okrs(tmp_path / "co.xlsx")[2][SCORE - 1] == 0.5  # the other unit synced

    # A sheet part that lies about its size, under a lower limit set in the environment.
    liar = good_unit(tmp_path / "bomb.xlsx", code="BOMB")
    parts = zip_parts(liar)
    sheet = parts[okrs_part(parts)]
    with zipfile.ZipFile(liar, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            if name == okrs_part(parts):
                body = b'<row r="9"><c r="A9" t="inlineStr"><is><t>x</t></is></c></row>'
                _bomb_part(z, name, sheet.split(b"</sheetData>")[0], body, 64, b"</sheetData></worksheet>")
            else:
                z.writestr(name, data)
    before = digest(liar)
    run = okr_sync("sync", str(tmp_path), *AS_OF, env={"OKR_SYNC_MAX_PART_MB": "16"})
    assert run.rc != 0 and "bomb.xlsx" in run.out and "16 MB" in run.out, run.out
    assert run.peak_mb < 1024 and digest(liar) == before

    # The same part, its headers claiming 1,000 bytes: the real size is never unpacked past the claim.
    honest = liar.read_bytes()
    blob = bytearray(honest)
    name = okrs_part(parts).encode()
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = blob.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if blob[name_at:name_at + len(name)] == name:
                blob[at + offset:at + offset + 4] = (1000).to_bytes(4, "little")
            at = blob.find(signature, at + 4)
    liar.write_bytes(bytes(blob))
    before = digest(liar)
    run = okr_sync("sync", str(tmp_path), *AS_OF)
    assert run.rc != 0 and any("bomb.xlsx" in line and "FAILED" in line for line in run.out.splitlines()), run.out
    assert run.peak_mb < 1024 and digest(liar) == before

    # The same limit set in okr-sync.toml.
    liar.write_bytes(honest)
    before = digest(liar)
    config = tmp_path / "okr-sync.toml"
    config.write_text('[limits]\nmax_part_mb = 32\n[[sources]]\npath = "."\n')
    run = okr_sync("sync", str(config), *AS_OF)
    assert run.rc != 0 and "bomb.xlsx" in run.out and "32 MB" in run.out, run.out
    assert digest(liar) == before


def test_a_fifo_a_device_a_socket_or_a_link_to_dev_zero_named_xlsx(short_dir: Path) -> None:
    good_unit(short_dir / "co.xlsx")
    os.mkfifo(short_dir / "fifo.xlsx")
    (short_dir / "zero.xlsx").symlink_to("/dev/zero")
    (short_dir / "null.xlsx").symlink_to("/dev/null")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(short_dir / "sock.xlsx"))
    try:
        run = okr_sync("sync", str(short_dir), *AS_OF, timeout=30)
    finally:
        sock.close()
    assert run.rc != 0
    for name, kind in [("fifo.xlsx", "FIFO"), ("zero.xlsx", "character device"), ("null.xlsx", "character device"),
                       ("sock.xlsx", "socket")]:
        assert any(name in line and kind in line for line in run.out.splitlines()), (name, run.out)
    assert "Traceback" not in run.out and "MemoryError" not in run.out
    assert run.peak_mb < 1024 and run.seconds < 30
    assert okrs(short_dir / "co.xlsx")[2][SCORE - 1] == 0.5


def test_a_unit_workbook_that_is_a_symlink(tmp_path: Path) -> None:
    real = good_unit((tmp_path / "real").mkdir() or tmp_path / "real" / "co.xlsx")
    units = tmp_path / "units"
    units.mkdir()
    (units / "co.xlsx").symlink_to(real)
    run = okr_sync("sync", str(units), *AS_OF)
    assert run.rc == 0, run.out
    assert (units / "co.xlsx").is_symlink() and os.readlink(units / "co.xlsx") == str(real)
    assert okrs(real)[2][SCORE - 1] == 0.5  # written through to the target
    assert not [p for p in real.parent.iterdir() if p.name != "co.xlsx"]  # no temp file left


@pytest.mark.parametrize("how", ["saved in place", "saved by rename"])
def test_a_persons_save_landing_just_before_our_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       how: str) -> None:
    path = good_unit(tmp_path / "co.xlsx")
    theirs = good_unit(tmp_path / "theirs.bin", code="THEIRS").read_bytes()

    def person_saves(target: Path) -> None:  # lands after our last check, before the swap
        if how == "saved in place":
            with open(target, "r+b") as f:
                f.truncate(0)
                f.write(theirs)
        else:
            (tmp_path / "~excel.tmp").write_bytes(theirs)
            os.replace(tmp_path / "~excel.tmp", target)

    from sheets_sync import atomic

    monkeypatch.setattr(atomic, "before_swap", person_saves)
    update = CellUpdate("OKRs", 3, SCORE, None, 0.5, "KR1.1")
    with pytest.raises(WorkbookError, match="changed while it was being synced.*their version was kept"):
        XlsxBackend(tmp_path).apply(str(path), WorkbookChanges(updates=[update], id_col=2, okrs_sheet="OKRs"))
    assert path.read_bytes() == theirs  # their edit is never lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["co.xlsx", "theirs.bin"]


def test_a_non_utf8_file_name_in_the_folder(tmp_path: Path) -> None:
    good_unit(tmp_path / "co.xlsx")
    odd = os.fsencode(tmp_path) + b"/caf\xe9.xlsx"
    with open(odd, "wb") as f:
        f.write(b"not a workbook")
    unit_named_oddly = os.fsencode(tmp_path) + b"/na\xefve.xlsx"
    os.rename(good_unit(tmp_path / "naive.xlsx", code="NAIVE"), unit_named_oddly)
    before = hashlib.sha256(open(unit_named_oddly, "rb").read()).hexdigest()
    run = okr_sync("sync", str(tmp_path), *AS_OF)
    assert "caf\\xe9.xlsx" in run.out and "not an Excel workbook" in run.out, run.out
    assert any("na\\xefve.xlsx" in line and "rename the file" in line for line in run.out.splitlines()), run.out
    assert hashlib.sha256(open(unit_named_oddly, "rb").read()).hexdigest() == before
    assert "UnicodeEncodeError" not in run.out and "something went wrong" not in run.out
    assert run.rc == 2
    again = okr_sync("sync", str(tmp_path), *AS_OF, "--json")
    report = json.loads(again.out)
    assert "caf\\xe9.xlsx" in {u["source"] for u in report["failed_units"]}
    shown = okr_sync("log", str(tmp_path))
    assert shown.rc == 0 and "caf\\xe9.xlsx" in shown.out and "something went wrong" not in shown.out, shown.out
    with sqlite3.connect(tmp_path / ".okr-sync" / "state.db") as db:  # a run log that finished
        assert db.execute("select count(*) from runs where status = 'running'").fetchone()[0] == 0


def test_a_cell_inside_an_array_formula_or_spill_range(tmp_path: Path) -> None:
    path = good_unit(tmp_path / "co.xlsx")
    parts = zip_parts(path)
    xml = parts[okrs_part(parts)].decode()
    rows = xml.split("</row>")
    # Row 3 (KR1.1): Progress Q3 anchors an array formula over Q3:Q4 (classic Ctrl+Shift+Enter).
    rows[2] += '<c r="Q3"><f t="array" ref="Q3:Q4">L3:L4/K3:K4</f><v>0.25</v></c>'
    rows[3] += '<c r="Q4"><v>0.25</v></c>'
    # Score: an Excel 365 dynamic array in R3 spills over R3:R4.
    rows[2] += '<c r="R3" cm="1"><f t="array" ref="R3:R4" aca="false">L3:L4/200</f><v>0.25</v></c>'
    rows[3] += '<c r="R4"><v>0.025</v></c>'
    parts[okrs_part(parts)] = "</row>".join(rows).encode()
    parts["xl/metadata.xml"] = (
        b'<metadata xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'xmlns:xda="http://schemas.microsoft.com/office/spreadsheetml/2017/dynamicarray">'
        b'<metadataTypes count="1"><metadataType name="XLDAPR" minSupportedVersion="120000"/></metadataTypes>'
        b'<futureMetadata name="XLDAPR" count="1"><bk><extLst><ext uri="{bdbb8cdc-fa1e-496e-a857-3c3f30c029c3}">'
        b'<xda:dynamicArrayProperties fDynamic="1" fCollapsed="0"/></ext></extLst></bk></futureMetadata>'
        b'<cellMetadata count="1"><bk><rc t="1" v="0"/></bk></cellMetadata></metadata>'
    )
    rezip(path, parts)
    run = okr_sync("sync", str(tmp_path), *AS_OF)
    assert run.rc == 0, run.out
    after = zip_parts(path)[okrs_part(parts)].decode()
    assert '<f t="array" ref="Q3:Q4">L3:L4/K3:K4</f>' in after and '<c r="Q4"><v>0.25</v></c>' in after
    assert 'ref="R3:R4"' in after
    grid = okrs(path)
    assert grid[2][PROGRESS - 1] == 0.25 and grid[3][PROGRESS - 1] == 0.25  # never written into
    assert grid[2][SCORE - 1] == 0.25 and grid[3][SCORE - 1] == 0.025
    for row in (2, 3):
        check = grid[row][CHECK - 1]
        assert "array formula at Q3" in check and "array formula at R3" in check, check
    assert grid[1][SCORE - 1] == 0.5  # cells outside the ranges are written as ever


def test_valid_workbooks_whose_main_part_is_elsewhere_or_utf16(tmp_path: Path) -> None:
    moved = good_unit(tmp_path / "moved.xlsx", code="MOVED")
    parts = zip_parts(moved)
    renamed: dict[str, bytes] = {}
    for name, data in parts.items():
        data = data.replace(b"/xl/workbook.xml", b"/xl/book.xml").replace(b"xl/workbook.xml", b"xl/book.xml")
        renamed[{"xl/workbook.xml": "xl/book.xml",
                 "xl/_rels/workbook.xml.rels": "xl/_rels/book.xml.rels"}.get(name, name)] = data
    rezip(moved, renamed)
    wide = good_unit(tmp_path / "wide.xlsx", code="WIDE")
    parts = zip_parts(wide)
    for name, data in parts.items():
        if name.endswith((".xml", ".rels")):
            text = data.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
            if not text.startswith("<?xml"):
                text = '<?xml version="1.0" encoding="UTF-16"?>' + text
            parts[name] = text.encode("utf-16")
    rezip(wide, parts)
    run = okr_sync("sync", str(tmp_path), *AS_OF, "--json")
    report = json.loads(run.out)
    assert report["failed_units"] == [], run.out
    for path in (moved, wide):
        backend = XlsxBackend(tmp_path)
        assert backend.read(str(path)).sheets["OKRs"][2][SCORE - 1] == 0.5
    assert "xl/book.xml" in zip_parts(moved) and "xl/workbook.xml" not in zip_parts(moved)


def test_an_unreadable_subfolder_and_other_spreadsheet_formats(tmp_path: Path) -> None:
    good_unit(tmp_path / "co.xlsx")
    (tmp_path / "eng").mkdir()
    good_unit(tmp_path / "eng" / "eng.xlsx", code="ENG")
    for name in ("mkt.ods", "sales.csv", "ops.xlsb", "hr.numbers"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 other format")
    (tmp_path / "eng").chmod(0)
    try:
        run = okr_sync("sync", str(tmp_path), *AS_OF, prefix=NO_DAC)
    finally:
        (tmp_path / "eng").chmod(0o755)
    assert run.rc != 0, run.out
    assert any("eng" in line and "cannot be opened" in line for line in run.out.splitlines()), run.out
    for name in ("mkt.ods", "sales.csv", "ops.xlsb", "hr.numbers"):
        assert any(name in line and "save it as .xlsx" in line for line in run.out.splitlines()), (name, run.out)
    assert okrs(tmp_path / "co.xlsx")[2][SCORE - 1] == 0.5


def test_a_kr_source_outside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "hr").mkdir()
    write_xlsx(tmp_path / "hr" / "salaries.xlsx", {"Pay": [["Name", "Pay"], ["Ann", 987654]]})
    units = tmp_path / "units"
    units.mkdir()
    write_xlsx(units / "data.xlsx", {"Data": [["Month", "Revenue"], ["Nov", 40]]})
    good_unit(units / "co.xlsx", source="../hr/salaries.xlsx › Pay › B2")
    write_xlsx(units / "eng.xlsx", unit("ENG", "department", [
        o("O1", "Ship", aligns_to="CO/O1"),
        kr("KR1.1", "Absolute", metric="number", start=0, target=100, current=1,
           source=f"{tmp_path / 'hr' / 'salaries.xlsx'} › Pay › B2"),
        kr("KR1.2", "Inside", metric="number", start=0, target=100, current=1, source="data.xlsx › Data › B2"),
    ], parent="CO"))
    run = okr_sync("sync", str(units), *AS_OF, "--json")
    assert "987654" not in run.out
    findings = [f for f in json.loads(run.out)["findings"] if f["rule"] == "source-unreadable"]
    assert len(findings) == 2, findings
    assert all("outside the workspace" in f["message"] and "allow_sources" in f["message"] for f in findings)
    assert b"987654" not in (units / ".okr-sync" / "state.db").read_bytes()
    for path in (units / "co.xlsx", units / "eng.xlsx", units / "okr-rollup.xlsx"):
        book = CalamineWorkbook.from_path(str(path))
        assert "987654" not in str([book.get_sheet_by_name(n).to_python() for n in book.sheet_names])
    assert okrs(units / "eng.xlsx")[3][CURRENT - 1] == 40  # a Source inside the workspace still works
    # The operator may allow a file outside the unit folders in okr-sync.toml.
    (tmp_path / "okr-sync.toml").write_text('allow_sources = ["hr/salaries.xlsx"]\n[[sources]]\npath = "units"\n')
    run = okr_sync("sync", str(tmp_path / "okr-sync.toml"), *AS_OF, "--json")
    assert okrs(units / "co.xlsx")[2][CURRENT - 1] == 987654, run.out
    # Google links are held to the same rule: a spreadsheet that is not a unit or allowed is never fetched.
    from sheets_sync.sources import SourceReader

    reader = SourceReader(units, roots=[units], allow=[])
    link = "https://docs.google.com/spreadsheets/d/abc123XYZ/edit#gid=0 › Pay › B2"
    (value,) = reader.read_many([(str(units / "co.xlsx"), link)])
    assert isinstance(value, Exception) and "outside the workspace" in str(value)


def test_a_history_sheet_at_1048576_rows(tmp_path: Path) -> None:
    sheets = unit("CO", "company", [
        o("O1", "Grow"), kr("KR1.1", "Revenue", metric="number", start=0, target=100, current=50)])
    sheets["History"] = [["Time", "ID", "Current", "Confidence", "Progress", "Score", "Status"],
                         ["2026-11-01 10:00:00", "KR1.1", 10, None, 0.1, 0.1, "Behind"]]
    path = write_xlsx(tmp_path / "co.xlsx", sheets)
    parts = zip_parts(path)
    history = "xl/worksheets/sheet3.xml"
    last = ('<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>2026-11-02 10:00:00</t></is></c>'
            '<c r="B1048576" t="inlineStr"><is><t>KR1.1</t></is></c><c r="C1048576"><v>20</v></c></row>')
    parts[history] = parts[history].replace(b"</sheetData>", last.encode() + b"</sheetData>")
    rezip(path, parts)
    run = okr_sync("sync", str(tmp_path), *AS_OF)
    assert run.rc == 0, run.out
    assert "[history-full] co.xlsx › History" in run.out and "'History 2'" in run.out, run.out
    book = CalamineWorkbook.from_path(str(path))
    assert "History 2" in book.sheet_names
    rows = book.get_sheet_by_name("History 2").to_python()
    by_id = {row[1]: row for row in rows[1:]}
    assert rows[0][1] == "ID" and by_id["KR1.1"][2] == 50, rows
    assert okrs(path)[2][SCORE - 1] == 0.5  # the unit keeps syncing
    again = okr_sync("sync", str(tmp_path), *AS_OF)
    assert "0 cell(s) written" in again.out, again.out
    assert len(CalamineWorkbook.from_path(str(path)).get_sheet_by_name("History 2").to_python()) == len(rows)
    assert run.peak_mb < 1024


def test_a_read_only_folder(tmp_path: Path) -> None:
    good_unit(tmp_path / "co.xlsx")
    tmp_path.chmod(0o555)
    try:
        run = okr_sync("sync", str(tmp_path), *AS_OF, prefix=NO_DAC)
    finally:
        tmp_path.chmod(0o755)
    assert run.rc != 0
    assert "Traceback" not in run.out and "something went wrong" not in run.out, run.out
    lines = [line for line in run.out.splitlines() if line.strip()]
    assert len(lines) == 1 and ("read-only" in lines[0] or "writable for this user" in lines[0]), run.out
