"""`okr-sync login microsoft`, `okr-sync new --sharepoint` and KR Sources in SharePoint, on the Graph stand-in."""

from __future__ import annotations

import datetime as dt
import io
import stat
from pathlib import Path

import openpyxl
import pytest
from builders import kr, o, unit, write_xlsx
from click.testing import CliRunner
from conftest_microsoft import *  # noqa: F403
from conftest_microsoft import MicrosoftApi

from sheets_sync import extras
from sheets_sync.cli import cli
from sheets_sync.engine import sync
from sheets_sync.errors import ConfigError
from sheets_sync.workspace import Workspace


def test_login_signs_in_with_a_device_code_and_keeps_a_private_cache(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    folder = ms_api.standin.add_folder("OKRs")
    config = ms_api.config(tmp_path, [folder])
    result = CliRunner().invoke(cli, ["login", "microsoft", str(config)])
    assert result.exit_code == 0, result.output
    assert "enter the code" in result.output and f"Signed in as {ms_api.standin.user}" in result.output
    cache = tmp_path / ".okr-sync" / "microsoft-token.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert ms_api.standin.calls["login.devicecode"] == 1


def test_login_refused_is_one_line(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    config = ms_api.config(tmp_path, [ms_api.standin.add_folder("OKRs")])
    config.write_text(config.read_text().replace(ms_api.standin.client_id, "not-the-app"))
    result = CliRunner().invoke(cli, ["login", "microsoft", str(config)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "sign-in failed" in result.output and "Traceback" not in result.output


def test_new_sharepoint_creates_the_standard_workbook_once(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    folder = ms_api.standin.add_folder("OKRs/HR")
    config = ms_api.config(tmp_path, [folder])
    ms_api.login(config)
    args = ["new", "--sharepoint", folder, "--level", "team", "--code", "HR-TA", "--parent", "HR",
            "--config", str(config)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Created {folder}/hr-ta.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(ms_api.standin.content(f"{folder}/hr-ta.xlsx")))
    assert {"Settings", "OKRs"} <= set(book.sheetnames)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "already exists" in again.output
    report = sync(Workspace.from_path(config), dt.date(2026, 11, 15))  # the new workbook is a unit at once
    assert [u.unit_code for u in report.units] == ["HR-TA"]


def test_a_kr_source_may_name_a_sharepoint_workbook_inside_the_sources(ms_api: MicrosoftApi, tmp_path: Path) -> None:
    standin = ms_api.standin
    folder = standin.add_folder("OKRs")
    data = folder + "/sales data.xlsx"
    write_xlsx(tmp_path / "data.xlsx", {"Data": [["Deals", 31]]})
    standin.add_workbook(folder, "sales data.xlsx", (tmp_path / "data.xlsx").read_bytes())
    outside = standin.add_folder("Private")
    standin.add_workbook(outside, "secret.xlsx", (tmp_path / "data.xlsx").read_bytes())
    sheets = unit("SALES", "team", [o("O1", "Sell"),
                                    kr("KR1.1", "Deals", target=40, source=f"{data} › Data › B1"),
                                    kr("KR1.2", "Other", target=40, source=f"{outside}/secret.xlsx › Data › B1")])
    write_xlsx(tmp_path / "sales.xlsx", sheets)
    url = standin.add_workbook(folder, "sales.xlsx", (tmp_path / "sales.xlsx").read_bytes())
    config = ms_api.config(tmp_path / "ws", [folder])
    ms_api.login(config)
    report = sync(Workspace.from_path(config), dt.date(2026, 11, 15))
    sales = next(u for u in report.units if u.unit_code == "SALES")
    ws = standin.workbook(url)["OKRs"]
    assert ws.cell(3, 12).value == 31  # Current from the Source
    assert any(f.rule == "source-unreadable" and "outside the workspace" in f.message for f in sales.findings)
    assert ws.cell(4, 12).value is None


def test_missing_msal_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None if name == "msal" else real(name))
    with pytest.raises(ConfigError) as caught:
        extras.require("microsoft", "Microsoft 365 support")
    text = str(caught.value)
    assert "\n" not in text and 'okr-sync[microsoft]' in text and "msal" in text
