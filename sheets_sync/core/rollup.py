"""The company rollup as plain data: the sheets a rollup workbook or spreadsheet holds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from .model import CellValue

# How a writer formats a column: plain text, whole number, 0.00 score, percentage, status band.
ColumnKind = Literal["text", "int", "score", "percent", "status", "severity"]


@dataclass
class RollupSheet:
    """One sheet of the rollup: headers, per-column kinds and rows of plain values."""

    name: str
    headers: list[str]
    kinds: list[ColumnKind]
    rows: list[list[CellValue]] = field(default_factory=list)
    # Alignment only: tree depth of each row, for indenting the ID/Objective columns.
    depths: list[int] | None = None


@dataclass
class RollupBook:
    """The whole rollup; sheets in order: Rollup, Units, Alignment, Issues, Dependencies."""

    sheets: list[RollupSheet]
    company_score: float | None = None
    as_of: str = ""

    def sheet(self, name: str) -> RollupSheet:
        """The sheet with this name."""
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)

    def fingerprint(self) -> str:
        """A digest of the content, so a writer can skip a rollup that has not changed."""
        payload = [[s.name, s.headers, s.rows, s.depths] for s in self.sheets]
        blob = json.dumps(payload, default=str, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# The rollup's sheets and columns; every rollup writer (xlsx, Google) lays them out in this order.
ROLLUP_SHEETS: dict[str, list[tuple[str, ColumnKind]]] = {
    "Rollup": [
        ("Unit", "text"), ("Level", "text"), ("Type", "text"), ("ID", "text"),
        ("Objective / Key result", "text"), ("Owner", "text"), ("Aligns to", "text"),
        ("Progress", "percent"), ("Score", "score"), ("Status", "status"), ("Check", "text"),
    ],
    "Units": [
        ("Unit", "text"), ("Name", "text"), ("Level", "text"), ("Parent unit", "text"),
        ("Objectives", "int"), ("Key results", "int"), ("Score", "score"),
        ("Errors", "int"), ("Warnings", "int"), ("Source", "text"),
        ("On track", "int"), ("At risk", "int"), ("Off track", "int"), ("Done", "int"),
        ("No data", "int"),
    ],
    "Alignment": [
        ("ID", "text"), ("Objective", "text"), ("Unit", "text"), ("Score", "score"),
        ("Aligned score", "score"), ("Status", "status"),
    ],
    "Issues": [
        ("Severity", "severity"), ("Rule", "text"), ("Where", "text"), ("Message", "text"),
        ("Unit", "text"),
    ],
    "Dependencies": [
        ("From", "text"), ("To", "text"), ("To's status", "status"), ("Note", "text"),
    ],
}


def empty_sheet(name: str) -> RollupSheet:
    """A rollup sheet with the standard headers and no rows."""
    columns = ROLLUP_SHEETS[name]
    return RollupSheet(name, [c for c, _ in columns], [k for _, k in columns])
