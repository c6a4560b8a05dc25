"""Grading bands, status names and their colours: the one definition every writer, page and pane takes.

Two colour languages, one per phase of a cycle (the standard's "Colours" section):
- during a cycle a row's Score and Status share the status colour (pace against time);
- once the cycle has ended, Score is coloured by the grade band (0.7 / 0.4) and Status shows the final grade.
`done` is blue everywhere: it is finished, not merely on pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Lang = Literal["en", "zh"]

# End-of-cycle grade bands: 0.7–1.0 green, 0.4–0.69 yellow, below 0.4 red.
GRADE_GREEN: Final = 0.7
GRADE_YELLOW: Final = 0.4
# The sweet spot of an aspirational grade: from here up to GRADE_GREEN.
SWEET_SPOT_LOW: Final = 0.6

# The canonical statuses in the order every count and legend shows them, with their labels.
STATUS_ORDER: Final = ("on track", "at risk", "off track", "done", "no data")
STATUS_LABELS: Final[dict[str, tuple[str, str]]] = {
    "on track": ("on track", "正常"),
    "at risk": ("at risk", "有风险"),
    "off track": ("off track", "落后"),
    "done": ("done", "完成"),
    "no data": ("no data", "无数据"),
}


@dataclass(frozen=True)
class Colour:
    """A cell's look: background fill, text colour and a strong shade for charts and bars (RRGGBB)."""

    fill: str
    font: str
    strong: str

    def css(self, name: str) -> str:
        """CSS custom properties for this colour: --NAME-bg, --NAME and --NAME-strong."""
        return f"--{name}-bg: #{self.fill}; --{name}: #{self.font}; --{name}-strong: #{self.strong};"


# One palette; band and status colours are drawn from it.
PALETTE: Final[dict[str, Colour]] = {
    "green": Colour("C6EFCE", "006100", "63BE7B"),
    "yellow": Colour("FFEB9C", "9C5700", "FFD966"),
    "red": Colour("FFC7CE", "9C0006", "F8696B"),
    "blue": Colour("BDD7EE", "1F3864", "5B9BD5"),
    "grey": Colour("EDEDED", "595959", "BFBFBF"),
}

# Not bands, but shared by every writer too: the header row and objective rows set apart from key results.
HEADER: Final = Colour("1F3864", "FFFFFF", "1F3864")
OBJECTIVE_FILL: Final = "DDEBF7"

STATUS_COLOUR_NAMES: Final[dict[str, str]] = {
    "on track": "green",
    "at risk": "yellow",
    "off track": "red",
    "done": "blue",
    "no data": "grey",
}
BAND_COLOUR_NAMES: Final[dict[str, str]] = {"green": "green", "yellow": "yellow", "red": "red"}


def grade_band(score: float | None) -> str | None:
    """The end-of-cycle band of a score: green, yellow or red; None for no score."""
    if score is None:
        return None
    if score >= GRADE_GREEN:
        return "green"
    return "yellow" if score >= GRADE_YELLOW else "red"


def status_colour(status: str | None) -> Colour:
    """The colour of a canonical status (grey for none or an unknown word)."""
    return PALETTE[STATUS_COLOUR_NAMES.get(status or "no data", "grey")]


def band_colour(score: float | None) -> Colour:
    """The colour of a score's grade band (grey for no score)."""
    band = grade_band(score)
    return PALETTE[band] if band else PALETTE["grey"]


def tone(status: str | None, score: float | None, ended: bool) -> str:
    """The one colour (a PALETTE name) a row's Score and Status share: pace during a cycle, grade once it ended."""
    if ended:
        return grade_band(score) or "grey"
    return STATUS_COLOUR_NAMES.get(status or "no data", "grey")


def status_label(status: str, lang: Lang) -> str:
    """A canonical status in a language."""
    en, zh = STATUS_LABELS[status]
    return zh if lang == "zh" else en


def css() -> str:
    """Every palette colour as CSS custom properties (--green-bg, --green, --green-strong, ...) in :root,
    with the header's (--header-bg, --header) and the objective rows' shading (--objective-bg)."""
    parts = [c.css(name) for name, c in PALETTE.items()]
    parts += [HEADER.css("header"), f"--objective-bg: #{OBJECTIVE_FILL};"]
    return ":root { " + " ".join(parts) + " }\n"


def as_json() -> dict[str, object]:
    """Everything above as one JSON object: the API serves it and the add-in's build step writes it to a file."""
    return {
        "grade_bands": {"green": GRADE_GREEN, "yellow": GRADE_YELLOW},
        "statuses": [
            {"status": s, "en": STATUS_LABELS[s][0], "zh": STATUS_LABELS[s][1], "colour": STATUS_COLOUR_NAMES[s]}
            for s in STATUS_ORDER
        ],
        "palette": {name: {"fill": c.fill, "font": c.font, "strong": c.strong} for name, c in PALETTE.items()},
    }
