"""Benchmark: API calls and time for a 50-unit company on the Google emulator.

Compares okr-sync (batched, ID-bound writes) with a plain gspread script that reads each OKRs
sheet and updates the computed cells one by one, and prints the most reads and writes any one
spreadsheet cost. Run:  python benchmarks/google_calls.py
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from builders import kr, o, unit  # noqa: E402
from google_emulator import EmulatorServer, GoogleEmulator, Quota, service_account_key  # noqa: E402
from google_emulator_model import READ_METHODS  # noqa: E402

from sheets_sync.core import schema  # noqa: E402
from sheets_sync.engine import sync  # noqa: E402
from sheets_sync.workspace import Workspace  # noqa: E402

UNITS = 50
AS_OF = dt.date(2026, 11, 15)


def company(emu: GoogleEmulator) -> list[str]:
    """A company unit and 49 teams, each with 2 objectives and 3 KRs per objective."""
    keys = []
    for i in range(UNITS):
        code = "CO" if i == 0 else f"T{i:02d}"
        rows: list[dict[str, Any]] = []
        for n in (1, 2):
            rows.append(o(f"O{n}", f"Objective {n}", aligns_to=None if i == 0 else "CO/O1"))
            for k in (1, 2, 3):
                rows.append(
                    kr(
                        f"KR{n}.{k}",
                        f"Key result {n}.{k}",
                        start=0,
                        target=100,
                        current=(i * 7 + n * 13 + k * 29) % 120,
                    )
                )
        level = "company" if i == 0 else "team"
        keys.append(emu.add_spreadsheet(code, unit(code, level, rows, parent=None if i == 0 else "CO")))
    return keys


def calls(emu: GoogleEmulator) -> tuple[int, int]:
    reads = writes = 0
    for method, count in emu.calls.items():
        if method.startswith(("oauth", "drive")):
            continue
        if method in (
            "spreadsheets.get",
            "values.get",
            "values.batchGet",
            "values.batchGetByDataFilter",
            "developerMetadata.search",
        ):
            reads += count
        else:
            writes += count
    return reads, writes


def per_spreadsheet(emu: GoogleEmulator, keys: list[str]) -> tuple[int, int]:
    """The most reads and the most writes any one spreadsheet cost."""
    reads = writes = 0
    for key in keys:
        log = [m for m, k, _ in emu.call_log if k == key]
        reads = max(reads, sum(1 for m in log if m in READ_METHODS))
        writes = max(writes, emu.write_calls(key))
    return reads, writes


def at_quota(reads: int, writes: int) -> str:
    """Shortest wall time Google's per-user quotas (60 reads, 60 writes a minute) allow."""
    minutes = max(reads, writes) / 60
    return f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"


def ours(emu: GoogleEmulator, keys: list[str], tmp: Path) -> list[tuple[str, int, int, float, tuple[int, int]]]:
    config = tmp / "okr-sync.toml"
    config.write_text(
        "".join(f'[[sources]]\ngoogle = "{k}"\n' for k in keys) + '[rollup]\npath = "rollup.xlsx"\n', encoding="utf-8"
    )
    out = []
    for label in ("first sync", "nothing new", "one KR changed"):
        if label == "one KR changed":
            emu.set_cell(keys[3], "OKRs", "L3", 99)
        emu.reset_counts()
        started = time.perf_counter()
        report = sync(Workspace.from_path(config), AS_OF)
        elapsed = time.perf_counter() - started
        assert not report.failed_units, [u.error for u in report.failed_units]
        out.append((label, *calls(emu), elapsed, per_spreadsheet(emu, keys)))
    return out


def plain_gspread(emu: GoogleEmulator, keys: list[str], key_path: Path, base: str) -> tuple[int, int, float]:
    """What people write by hand: open each sheet, compute, update_acell per computed cell."""
    import gspread
    from google.auth.transport.requests import AuthorizedSession
    from google.oauth2.service_account import Credentials

    creds = Credentials.from_service_account_file(
        str(key_path), scopes=["https://www.googleapis.com/auth/spreadsheets"]
    )

    class Session(AuthorizedSession):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            url = url.replace("https://sheets.googleapis.com", base)
            return super().request(method, url, *args, **kwargs)

    gc = gspread.Client(creds, session=Session(creds))
    emu.reset_counts()
    started = time.perf_counter()
    for key in keys:
        ws = gc.open_by_key(key).worksheet("OKRs")
        grid = ws.get_all_values(value_render_option="UNFORMATTED_VALUE")
        header = grid[0]
        col = {schema.HEADER_LOOKUP.get(schema.normalize(h)): i + 1 for i, h in enumerate(header)}
        for r, row in enumerate(grid[1:], start=2):
            if row[col["type"] - 1] != "KR":
                continue
            start, target, current = (float(row[col[k] - 1] or 0) for k in ("start", "target", "current"))
            progress = round(max(0.0, (current - start) / (target - start)), 2)
            ws.update_acell(f"{gspread.utils.rowcol_to_a1(r, col['progress'])}", progress)
            ws.update_acell(f"{gspread.utils.rowcol_to_a1(r, col['score'])}", min(progress, 1))
            status = "done" if progress >= 1 else "on track"
            ws.update_acell(f"{gspread.utils.rowcol_to_a1(r, col['status'])}", status)
    elapsed = time.perf_counter() - started
    return (*calls(emu), elapsed)


def main() -> None:
    emu = GoogleEmulator(Quota(reads=10**9, writes=10**9))
    with EmulatorServer(emu) as server, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key = service_account_key(tmp, server.url + "/token")
        os.environ["OKR_SYNC_GOOGLE_API_URL"] = server.url
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(key)
        # Measure the work itself; the last column shows what Google's quotas would allow.
        os.environ["OKR_SYNC_GOOGLE_READS_PER_MINUTE"] = str(10**9)
        os.environ["OKR_SYNC_GOOGLE_WRITES_PER_MINUTE"] = str(10**9)
        keys = company(emu)
        rows = ours(emu, keys, tmp)
        emu2 = GoogleEmulator(Quota(reads=10**9, writes=10**9))
        with EmulatorServer(emu2) as server2:
            key2 = service_account_key(tmp, server2.url + "/token")
            keys2 = company(emu2)
            baseline = plain_gspread(emu2, keys2, key2, server2.url)
    print(f"{UNITS} units, 6 KRs and 2 objectives each, Google Sheets API emulator on 127.0.0.1\n")
    print(f"{'run':<34}{'reads':>7}{'writes':>8}{'per sheet':>11}{'time':>9}   at Google's 60/min quotas")
    for label, reads, writes, elapsed, (most_r, most_w) in rows:
        sheet = f"{most_r} r, {most_w} w"
        print(f"{'okr-sync, ' + label:<34}{reads:>7}{writes:>8}{sheet:>11}{elapsed:>8.2f}s   {at_quota(reads, writes)}")
    reads, writes, elapsed = baseline
    sheet = f"{reads // UNITS} r, {writes // UNITS} w"
    print(
        f"{'plain gspread, cell by cell':<34}{reads:>7}{writes:>8}{sheet:>11}{elapsed:>8.2f}s   "
        f"{at_quota(reads, writes)}"
    )


if __name__ == "__main__":
    main()
