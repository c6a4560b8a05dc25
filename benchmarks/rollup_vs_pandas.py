"""Benchmark, run by hand: okr-sync's rollup against a plain pandas consolidation of the same workbooks.

    python benchmarks/rollup_vs_pandas.py               # 200 department workbooks + the company
    python benchmarks/rollup_vs_pandas.py --units 50 --repeat 3 --keep /tmp/okr-bench

Generates realistic standard workbooks (the shipped template: banner rows, Settings and OKRs
sheets, 4 objectives x 4 key results each, a quarter of them in Chinese) in a temporary folder,
then times, in one run and on the same files:

  (a) okr-sync in process: engine.sync(Workspace.from_path(folder, rollup=out), write_back=False),
      which reads, validates, aligns and scores every unit and writes the styled rollup workbook;
  (a') the CLI as a user runs it: `okr-sync rollup FOLDER -o OUT` (interpreter start included);
  (b) a plain pandas script: pd.read_excel (openpyxl engine) of each OKRs and Settings sheet,
      header-row detection, concat, to_excel of one combined workbook. No validation, no scores.

The goal is (a) at least 4x faster than (b). Never part of the test suite: timings vary by machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from sheets_sync.backends.xlsx_rollup import XlsxRollupTarget
from sheets_sync.core import schema
from sheets_sync.engine import sync
from sheets_sync.templates import build_template, save_workbook
from sheets_sync.workspace import Workspace

CYCLE = "2026-Q4"
AS_OF = dt.date(2026, 11, 20)
CYCLE_START = dt.date(2026, 10, 1)
FIXED_TIME = dt.datetime(2026, 1, 1)
# The installed console script, as a user runs it; else the same entry point through this interpreter.
_SCRIPT = shutil.which("okr-sync")
CLI = [_SCRIPT] if _SCRIPT else [sys.executable, "-c", "from sheets_sync.cli import main; main()"]

EN_OBJECTIVES = [
    "Make onboarding effortless for new customers",
    "Grow revenue in the mid-market segment",
    "Ship a faster, more reliable product",
    "Build a team people want to join",
    "Turn support into a reason customers stay",
    "Open two new regional markets",
]
ZH_OBJECTIVES = [
    "让新客户上手毫不费力",
    "提升中型客户市场收入",
    "交付更快更稳定的产品",
    "打造人人想加入的团队",
    "让客服成为客户留下的理由",
]
EN_KRS = [
    ("Weekly active teams from {a} to {b}", "number"),
    ("Trial-to-paid conversion from {p}% to {q}%", "percent"),
    ("New annual recurring revenue from 0 to {m}", "currency"),
    ("Launch the partner portal", "yes-no"),
    ("Data-centre migration milestone", "milestone"),
    ("Gross margin stays above {p}%", "stay above"),
]
ZH_KRS = [
    ("周活跃团队从 {a} 增长到 {b}", "number"),
    ("试用转付费率从 {p}% 提升到 {q}%", "percent"),
    ("新增年度经常性收入从 0 到 {m}", "currency"),
    ("上线合作伙伴门户", "yes-no"),
    ("数据中心迁移里程碑", "milestone"),
]
EN_OWNERS = ["Ann Lee", "Bo Chen", "Priya Shah", "Tom Berg", "Sara Diaz", "Omar Haddad"]
ZH_OWNERS = ["王伟", "李娜", "张敏", "刘洋", "陈静"]


def _kr_cells(rng: random.Random, text: str, metric: str, lang: schema.Lang) -> dict[str, Any]:
    a = rng.randrange(100, 5000)
    p = rng.randrange(10, 60)
    values: dict[str, Any] = {
        "text": text.format(a=a, b=a * 2, p=p, q=p + 15, m=f"{rng.randrange(2, 40) * 50_000:,}"),
        "metric": schema.label(schema.METRICS, metric, lang),
        "confidence": rng.randrange(3, 10),
        "due": CYCLE_START + dt.timedelta(days=rng.randrange(30, 91)),
    }
    if metric == "number":
        values.update(start=a, target=a * 2, current=a + rng.randrange(0, a + 1))
    elif metric == "percent":
        values.update(start=p / 100, target=(p + 15) / 100, current=(p + rng.randrange(0, 18)) / 100)
    elif metric == "currency":
        target = rng.randrange(2, 40) * 50_000
        values.update(start=0, target=target, current=rng.randrange(0, target))
    elif metric == "yes-no":
        done = rng.random() < 0.4
        values["current"] = ("是" if done else "否") if lang == "zh" else ("yes" if done else "no")
    elif metric == "milestone":
        values["current"] = rng.choice([0.25, 0.5, 0.75, 1])
    else:
        values.update(target=p / 100, current=(p + rng.randrange(-5, 10)) / 100)
    if rng.random() < 0.1:
        values.pop("current", None)  # a KR nobody updated yet: no data
    return values


def unit_rows(code: str, lang: schema.Lang, rng: random.Random, aligns: list[str], peers: list[str]) -> list[dict]:
    """4 objectives x 4 KRs of one unit, as build_template row dicts."""
    objectives = ZH_OBJECTIVES if lang == "zh" else EN_OBJECTIVES
    krs = ZH_KRS if lang == "zh" else EN_KRS
    owners = ZH_OWNERS if lang == "zh" else EN_OWNERS
    rows: list[dict[str, Any]] = []
    for o in range(1, 5):
        objective: dict[str, Any] = {
            "type": schema.label(schema.TYPES, "O", lang),
            "id": f"O{o}",
            "text": f"{rng.choice(objectives)} ({code})",
            "owner": rng.choice(owners),
            "commitment": schema.label(schema.COMMITMENTS, rng.choice(["committed", "aspirational"]), lang),
        }
        if aligns:
            objective["aligns_to"] = rng.choice(aligns)
        rows.append(objective)
        for k in range(1, 5):
            text, metric = rng.choice(krs)
            kr = {
                "type": schema.label(schema.TYPES, "KR", lang),
                "id": f"KR{o}.{k}",
                "owner": rng.choice(owners),
                **_kr_cells(rng, text, metric, lang),
            }
            if peers and rng.random() < 0.05:
                kr["depends_on"] = rng.choice(peers)
            if rng.random() < 0.2:
                kr["notes"] = "Blocked on vendor contract" if lang == "en" else "等待供应商合同"
            rows.append(kr)
    return rows


def _write_unit(args: tuple[int, int, str, Path]) -> Path:
    index, units, code, folder = args
    rng = random.Random(index)
    if code == "CO":
        wb = build_template(level="company", code="CO", name="Tidewater Software", lang="en", cycle=CYCLE,
                            okrs=unit_rows("CO", "en", rng, [], []))  # fmt: skip
        return save_workbook(wb, folder / "co.xlsx", overwrite=True, fixed_time=FIXED_TIME)
    lang: schema.Lang = "zh" if index % 4 == 0 else "en"
    company_targets = [f"CO/O{o}" for o in range(1, 5)] + [f"CO/KR{o}.{k}" for o in range(1, 5) for k in (1, 2)]
    peers = [f"D{(index + d - 1) % units + 1:03d}/KR1.1" for d in (1, 2) if units > d]
    wb = build_template(
        level="department",
        code=code,
        parent="CO",
        name=f"Department {index}" if lang == "en" else f"第{index}部",
        owner=rng.choice(ZH_OWNERS if lang == "zh" else EN_OWNERS),
        lang=lang,
        cycle=CYCLE,
        okrs=unit_rows(code, lang, rng, company_targets, peers),
    )
    return save_workbook(wb, folder / f"{code.lower()}.xlsx", overwrite=True, fixed_time=FIXED_TIME)


def generate(folder: Path, units: int) -> list[Path]:
    """The company workbook and `units` department workbooks, written in parallel."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(0, units, "CO", folder)] + [(i, units, f"D{i:03d}", folder) for i in range(1, units + 1)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(_write_unit, jobs, chunksize=8))


# --- (b) the plain pandas script --------------------------------------------------------------

KNOWN_HEADERS = set(schema.HEADER_LOOKUP)


def pandas_rollup(folder: Path, out: Path) -> int:
    """What a person would script with pandas: read each OKRs sheet, find the header, concat, save."""
    frames = []
    for path in sorted(folder.glob("*.xlsx")):
        if path.name.startswith((".", "~")) or path.resolve() == out.resolve():
            continue
        book = pd.read_excel(path, sheet_name=None, header=None, engine="openpyxl")
        settings = book[next(n for n in book if schema.normalize(n) in ("settings", "设置"))]
        keys = [schema.normalize(k) for k in settings[0]]
        unit = str(settings[1][keys.index("unitcode") if "unitcode" in keys else keys.index("单元代码")])
        okrs = book["OKRs"]
        header_row = next(
            i
            for i, row in okrs.iterrows()
            if sum(schema.normalize(v) in KNOWN_HEADERS for v in row if isinstance(v, str)) >= 3
        )
        frame = okrs.iloc[header_row + 1 :].copy()
        frame.columns = [str(v) for v in okrs.iloc[header_row]]
        frame = frame.dropna(how="all")
        frame.insert(0, "Unit", unit)
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    combined.to_excel(out, sheet_name="Rollup", index=False, engine="openpyxl")
    return len(combined)


# --- timing -----------------------------------------------------------------------------------


def best_of(repeat: int, run: Callable[[], object]) -> tuple[float, object]:
    """Fastest wall-clock time of `repeat` runs, and the last run's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200, help="department workbooks (default 200)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each contender; the best counts")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder and keep it")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="okr-bench-"))
    folder = args.keep or work / "units"
    try:
        existing = sorted(folder.glob("d*.xlsx")) if folder.exists() else []
        if len(existing) != args.units:
            if existing:
                shutil.rmtree(folder)
            start = time.perf_counter()
            generate(folder, args.units)
            print(f"generated {args.units} department workbooks + the company in {time.perf_counter() - start:.1f} s")
        else:
            print(f"reusing {len(existing)} department workbooks in {folder}")
        ours_out, cli_out, pandas_out = work / "ours.xlsx", work / "cli.xlsx", work / "pandas.xlsx"

        def ours() -> object:
            ours_out.unlink(missing_ok=True)  # a fresh file each run: no fingerprint shortcut
            return sync(Workspace.from_path(folder, rollup=ours_out), AS_OF, write_back=False)

        def cli() -> object:
            cli_out.unlink(missing_ok=True)
            cmd = [*CLI, "rollup", str(folder), "-o", str(cli_out), "--as-of", AS_OF.isoformat(), "--json"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode not in (0, 1):  # 1 = validation errors found, still a rollup
                raise SystemExit(f"okr-sync rollup failed ({done.returncode}):\n{done.stderr}")
            return done

        def with_pandas() -> object:
            pandas_out.unlink(missing_ok=True)
            return pandas_rollup(folder, pandas_out)

        t_ours, report = best_of(args.repeat, ours)
        t_cli, _ = best_of(args.repeat, cli)
        t_pandas, pandas_rows = best_of(args.repeat, with_pandas)
        rollup = report.rollup  # type: ignore[attr-defined]
        rows = len(rollup.sheet("Rollup").rows) if rollup else 0
        writer_out = work / "writer-only.xlsx"

        def writer_only() -> object:
            writer_out.unlink(missing_ok=True)
            return XlsxRollupTarget(writer_out).write_rollup(rollup)

        t_writer, _ = best_of(args.repeat, writer_only)

        print(f"units: {len(report.units)}; Rollup rows: ours {rows}, pandas {pandas_rows}")  # type: ignore[attr-defined]
        print(f"(a)  okr-sync engine.sync, in process      {t_ours:6.2f} s")
        print(f"     of which writing the rollup workbook   {t_writer:6.2f} s")
        print(f"(a') okr-sync rollup CLI, subprocess       {t_cli:6.2f} s")
        print(f"(b)  pandas read_excel + concat + to_excel {t_pandas:6.2f} s")
        in_process, via_cli = t_pandas / t_ours, t_pandas / t_cli
        print(f"pandas / okr-sync: {in_process:.1f}x in process, {via_cli:.1f}x via the CLI (goal: at least 4x)")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
