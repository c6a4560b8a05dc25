"""Benchmark: Microsoft Graph calls and time for a 50-unit company on the local Graph stand-in (HTTPS,
real msal and requests), in the service-account mode and in app-only mode.

Prints, per mode: HTTP calls to Graph (a $batch counts once; sign-in not counted), Graph requests (each
request inside a $batch counted, as Graph's throttling counts them) and wall time, for a first sync, the
sync after it (which re-reads the workbooks the first one wrote: their cTags moved), a no-op sync, and a
sync after 5 check-ins. Run:  python benchmarks/microsoft_calls.py
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

from builders import kr, o, unit, write_xlsx  # noqa: E402
from conftest_microsoft import MicrosoftApi  # noqa: E402
from graph_standin import GraphStandIn, StandInServer, make_certificates  # noqa: E402

from sheets_sync.engine import sync  # noqa: E402
from sheets_sync.workspace import Workspace  # noqa: E402

UNITS = 50
AS_OF = dt.date(2026, 11, 15)
CURRENT = 12  # column L of the builders' OKRs sheet


def company(standin: GraphStandIn, tmp: Path) -> list[str]:
    """A company unit and 49 teams in one SharePoint folder, each with 2 objectives of 3 KRs."""
    folder = standin.add_folder("OKRs")
    urls = []
    for i in range(UNITS):
        code = "CO" if i == 0 else f"T{i:02d}"
        rows: list[dict[str, Any]] = []
        for n in (1, 2):
            rows.append(o(f"O{n}", f"Objective {n}", aligns_to=None if i == 0 else "CO/O1"))
            for k in (1, 2, 3):
                rows.append(kr(f"KR{n}.{k}", f"Key result {n}.{k}", start=0, target=100,
                               current=(i * 7 + n * 13 + k * 29) % 120))
        path = write_xlsx(tmp / f"{code.lower()}.xlsx",
                          unit(code, "company" if i == 0 else "team", rows, parent=None if i == 0 else "CO"))
        urls.append(standin.add_workbook(folder, path.name, path.read_bytes()))
    return [folder, *urls]


def measure(standin: GraphStandIn, config: Path, label: str) -> None:
    standin.reset_counts()
    started = time.perf_counter()
    report = sync(Workspace.from_path(config), AS_OF)
    elapsed = time.perf_counter() - started
    c = standin.calls
    assert not report.failed_units, [u.error for u in report.failed_units]
    print(f"  {label:<34} {standin.http:>4} HTTP calls ({standin.graph_calls():>4} Graph requests)  {elapsed:6.2f} s  "
          f"downloads {c['download']:>3}  $batch {c['$batch']:>3}  sessions {c['workbook.createSession']:>3}  "
          f"range writes {c['range.patch']:>3}  uploads {c['content.put'] + c['uploadSession.create']:>3}  "
          f"sign-in {c['login.token']}  written {sum(u.written for u in report.units):>2}/{len(report.units)}")


def run(mode: str, certs: tuple[Path, Path, Path], tmp: Path) -> None:
    ca, cert, key = certs
    standin = GraphStandIn()
    with StandInServer(standin, cert, key) as server:
        os.environ.update(OKR_SYNC_GRAPH_URL=server.url, OKR_SYNC_MS_LOGIN_URL=server.url,
                          REQUESTS_CA_BUNDLE=str(ca))
        if mode == "app-only":
            os.environ["OKR_SYNC_MS_CLIENT_SECRET"] = standin.client_secret
        else:
            os.environ.pop("OKR_SYNC_MS_CLIENT_SECRET", None)
        folder, *urls = company(standin, tmp)
        api = MicrosoftApi(standin, server.url)
        config = api.config(tmp / "ws", [folder], folder + "/okr-rollup.xlsx", mode=mode)
        if mode == "delegated":
            api.login(config)
        print(f"{mode} ({'workbook sessions' if mode == 'delegated' else 'download-patch-upload'}), "
              f"{UNITS} units:")
        measure(standin, config, "first sync")
        measure(standin, config, "second sync (re-reads own writes)")
        measure(standin, config, "no-op sync")
        for url in urls[1:6]:
            standin.edit(url, lambda wb: wb["OKRs"].cell(3, CURRENT, 99))
        measure(standin, config, "sync after 5 check-ins")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        certs = make_certificates(Path(tmp) / "ca")
        for mode in ("delegated", "app-only"):
            (Path(tmp) / mode).mkdir()
            run(mode, certs, Path(tmp) / mode)


if __name__ == "__main__":
    main()
