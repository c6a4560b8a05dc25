"""The people list: who an Owner is (name, email, chat, manager, language), and owners nobody can reach."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import schema
from .model import CellValue, Grid
from .parse import Unit
from .values import as_text

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Person:
    """One row of the people list."""

    name: str
    email: str | None = None
    chat: str | None = None
    manager: str | None = None
    language: str = "en"


def _key(text: str) -> str:
    """Names match case- and space-insensitively (full-width folded)."""
    return re.sub(r"\s+", "", text).casefold()


@dataclass
class People:
    """The list, looked up by name or email; `where` names it in messages."""

    persons: list[Person]
    where: str

    def __post_init__(self) -> None:
        self._by: dict[str, Person] = {}
        for person in self.persons:
            self._by.setdefault(_key(person.name), person)
            if person.email:
                self._by.setdefault(_key(person.email), person)

    def find(self, owner: str | None) -> Person | None:
        """The person an Owner cell names: by name or email; an email nobody listed still reaches someone."""
        if not owner or not owner.strip():
            return None
        found = self._by.get(_key(owner))
        if found is not None:
            return found
        text = owner.strip()
        return Person(name=text, email=text) if _EMAIL.match(text) else None

    def known(self, owner: str | None) -> bool:
        return self.find(owner) is not None

    def manager_of(self, person: Person) -> Person | None:
        return self.find(person.manager) if person.manager else None


def read_people(grid: Grid, where: str) -> People:
    """Read a People sheet: a header row with Name and Email (any order, either language), then one per row."""
    lookup = {schema.normalize(h): key for key, names in schema.PEOPLE_HEADERS.items() for h in names}
    columns: dict[str, int] = {}
    start = 0
    for index, line in enumerate(grid[:10]):
        found = {lookup[schema.normalize(v)]: c for c, v in enumerate(line) if v and schema.normalize(v) in lookup}
        if "name" in found:
            columns, start = found, index + 1
            break
    persons: list[Person] = []
    for line in grid[start:] if columns else []:
        def cell(key: str, line: list[CellValue] = line) -> str | None:
            col = columns.get(key)
            return as_text(line[col]) if col is not None and col < len(line) else None

        name = cell("name")
        if not name:
            continue
        lang = (cell("language") or "en").strip().lower()
        persons.append(Person(name=name.strip(), email=(cell("email") or "").strip() or None,
                              chat=cell("chat"), manager=cell("manager"),
                              language="zh" if lang.startswith(("zh", "中")) else "en"))
    return People(persons, where)


def people_sheet(units: list[Unit]) -> People | None:
    """The People sheet of the company's workbook (the unit whose level is company), if it has one."""
    for unit in units:
        name = schema.match_sheet(list(unit.raw.sheets), schema.SHEET_PEOPLE)
        if name is not None and unit.settings.level == "company":
            return read_people(unit.raw.sheets[name], f"{unit.source} › {name}")
    return None


def check_owners(units: list[Unit], people: People) -> None:
    """A warning on every Owner cell the people list does not know."""
    for unit in units:
        if unit.okrs_sheet is None or "owner" not in unit.columns:
            continue
        for row in unit.rows:
            if row.owner and not people.known(row.owner):
                unit.report("owner-unknown", row, "owner", owner=row.owner, where=people.where)
