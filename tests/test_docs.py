"""The README documents every command and option users can type, and its first commands are real."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from sheets_sync.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out.extend(commands(command, full + " "))
        else:
            out.append((full, command))
    return out


@pytest.mark.parametrize(("name", "command"), commands(cli))
def test_every_command_is_documented_with_its_options(name: str, command: click.Command) -> None:
    assert f"okr-sync {name}" in README, f"README does not show `okr-sync {name}`"
    for param in command.params:
        if isinstance(param, click.Option):
            longest = max(param.opts, key=len)
            assert longest in README, f"README does not mention {longest} of okr-sync {name}"


def test_readme_starts_with_the_two_commands() -> None:
    head = "\n".join(README.splitlines()[:25])
    assert "okr-sync demo" in head
    assert "pytest" in head


def test_exit_codes_are_documented() -> None:
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"\|\s*`?{code}`?\s*\|", README), f"exit code {code} missing from the README table"
