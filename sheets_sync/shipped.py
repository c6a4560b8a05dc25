"""The files `templates/` ships, regenerated or checked by `okr-sync templates build [--check]`."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from .demo import company_units
from .templates import build_template, save_workbook, workbook_bytes

FIXED_TIME = dt.datetime(2026, 1, 1, 0, 0, 0)  # document timestamps of shipped files

SHIPPED_CYCLE = "2026-Q4"
# level -> (code, parent code) of the blank shipped templates.
SHIPPED_UNITS: dict[str, tuple[str, str | None]] = {
    "company": ("CO", None),
    "department": ("DEPT", "CO"),
    "team": ("TEAM", "DEPT"),
    "individual": ("ME", "TEAM"),
}


def shipped_workbooks() -> dict[str, Workbook]:
    """Every file `templates/` ships, by relative path, built fresh."""
    books: dict[str, Workbook] = {}
    for lang in ("en", "zh"):
        for level, (code, parent) in SHIPPED_UNITS.items():
            books[f"{level}-{lang}.xlsx"] = build_template(
                level=level, code=code, parent=parent, lang=lang, cycle=SHIPPED_CYCLE
            )
        for unit in company_units(lang=lang):
            books[f"example-company-{lang}/{unit.file_name}"] = unit.build(SHIPPED_CYCLE)
    return books


def write_shipped(folder: str | Path) -> list[Path]:
    """Regenerate the shipped templates in a folder (overwriting them); deterministic bytes."""
    folder = Path(folder)
    written = []
    for rel, wb in shipped_workbooks().items():
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(save_workbook(wb, target, overwrite=True, fixed_time=FIXED_TIME))
    return written


def _colour(colour: Any) -> str | None:
    return None if colour is None else str(colour.rgb if colour.type == "rgb" else colour.value)


def _style(cell: Any) -> tuple[Any, ...]:
    f, fill, b, a = cell.font, cell.fill, cell.border, cell.alignment
    return (
        (f.name, f.sz, f.b, f.i, _colour(f.color)),
        (fill.fill_type, _colour(fill.fgColor) if fill.fill_type else None),
        tuple(getattr(getattr(b, side), "style", None) for side in ("left", "right", "top", "bottom")),
        (a.horizontal, a.vertical, a.wrap_text),
        cell.protection.locked,
        cell.number_format,
    )


def semantic_digest(source: str | Path | bytes) -> list[Any]:
    """What a person sees and gets in a workbook: cells, styles, validations, colours, protection."""
    from openpyxl import load_workbook

    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    wb = load_workbook(io.BytesIO(data))
    props = wb.properties
    # Timestamps are pinned for identical bytes only; a re-save changing them is no drift.
    out: list[Any] = [("props", props.title, props.creator, props.language, wb.sheetnames,
                       wb.active.title if wb.active else None)]  # fmt: skip
    for ws in wb.worksheets:
        prot = ws.protection
        out.append((
            "sheet", ws.title, ws.sheet_state, _colour(ws.sheet_properties.tabColor),
            ws.freeze_panes, ws.auto_filter.ref, str(ws.print_area), ws.print_title_rows,
            ws.page_setup.orientation, ws.page_setup.paperSize, ws.page_setup.fitToWidth,
            ws.page_setup.fitToHeight, ws.sheet_view.showGridLines,
            tuple(getattr(prot, a) for a in ("sheet", "formatCells", "formatColumns", "formatRows",
                  "insertRows", "deleteRows", "sort", "autoFilter", "password")),
            sorted((k, d.width) for k, d in ws.column_dimensions.items()),
            sorted((k, d.height) for k, d in ws.row_dimensions.items() if d.height),
            sorted(str(m) for m in ws.merged_cells.ranges),
        ))  # fmt: skip
        for dv in ws.data_validations.dataValidation:
            out.append(("dv", ws.title, str(dv.sqref), dv.type, dv.operator, dv.formula1,
                        dv.formula2, dv.errorStyle, dv.error, dv.errorTitle, dv.prompt,
                        dv.promptTitle, dv.showInputMessage, dv.showErrorMessage))  # fmt: skip
        for cf in ws.conditional_formatting:
            for rule in cf.rules:
                dxf = rule.dxf
                out.append(("cf", ws.title, str(cf.sqref), rule.type, rule.formula,
                            rule.stopIfTrue, _colour(dxf.fill.bgColor) if dxf and dxf.fill else None,
                            _colour(dxf.font.color) if dxf and dxf.font else None))  # fmt: skip
        for row in ws.iter_rows():
            for cell in row:
                out.append((ws.title, cell.coordinate, repr(cell.value), _style(cell)))
    return out


def shipped_bytes() -> dict[str, bytes]:
    """Every shipped file's bytes, by relative path, as the generator makes them."""
    return {rel: workbook_bytes(wb, fixed_time=FIXED_TIME) for rel, wb in shipped_workbooks().items()}


def check_shipped(folder: str | Path, expected: dict[str, bytes] | None = None) -> list[str]:
    """Differences between the shipped templates in a folder and what the generator makes."""
    folder = Path(folder)
    problems = []
    expected = expected if expected is not None else shipped_bytes()
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*.xlsx")}
    for rel in sorted(present - set(expected)):
        problems.append(f"{folder / rel}: not made by the generator; remove it")
    for rel, data in expected.items():
        path = folder / rel
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        if path.read_bytes() == data:
            continue
        # Bytes may differ across openpyxl versions; what people see must not.
        want, have = semantic_digest(data), semantic_digest(path)
        if want != have:
            diff = next((w, h) for w, h in zip(want + [None], have + [None], strict=False)
                        if w != h)  # fmt: skip
            problems.append(f"{path}: differs from the generator: expected {diff[0]!r}, "
                            f"found {diff[1]!r}")  # fmt: skip
    return problems
