"""The add-in manifest's structure (no XSD ships in any registry package; see docs/excel-addin.md)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sheets_sync.server import create_app

ROOT = Path(__file__).resolve().parent.parent / "excel_addin"
NS = {
    "o": "http://schemas.microsoft.com/office/appforoffice/1.1",
    "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
    "ov": "http://schemas.microsoft.com/office/taskpaneappversionoverrides",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
XSI_TYPE = f"{{{NS['xsi']}}}type"
# OfficeApp's xs:sequence for a TaskPaneApp, as the 1.1 schema orders it (optional ones included).
TOP_ORDER = [
    "Id",
    "AlternateId",
    "Version",
    "ProviderName",
    "DefaultLocale",
    "DisplayName",
    "Description",
    "IconUrl",
    "HighResolutionIconUrl",
    "SupportUrl",
    "AppDomains",
    "Hosts",
    "Requirements",
    "DefaultSettings",
    "Permissions",
    "AllowSnapshot",
    "VersionOverrides",
]


@pytest.fixture(scope="module")
def root() -> ET.Element:
    return ET.parse(ROOT / "manifest.xml").getroot()


def local(tag: str) -> str:
    return tag.split("}", 1)[1]


def test_root_is_a_taskpane_app_in_schema_order(root: ET.Element) -> None:
    assert root.tag == f"{{{NS['o']}}}OfficeApp" and root.get(XSI_TYPE) == "TaskPaneApp"
    names = [local(c.tag) for c in root]
    assert names == [n for n in TOP_ORDER if n in names]
    for required in (
        "Id",
        "Version",
        "ProviderName",
        "DefaultLocale",
        "DisplayName",
        "Description",
        "Hosts",
        "DefaultSettings",
        "Permissions",
    ):
        assert required in names
    assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", root.findtext("o:Id", namespaces=NS))
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", root.findtext("o:Version", namespaces=NS))
    assert root.find("o:Hosts/o:Host", NS).get("Name") == "Workbook"
    assert root.findtext("o:Permissions", namespaces=NS) == "ReadWriteDocument"


def test_ribbon_tab_has_the_four_buttons(root: ET.Element) -> None:
    tab = root.find(".//ov:ExtensionPoint[@xsi:type='PrimaryCommandSurface']/ov:CustomTab", NS)
    assert tab is not None
    # The schema wants the tab's groups first, its Label last.
    assert [local(c.tag) for c in tab] == ["Group", "Label"]
    controls = tab.findall("ov:Group/ov:Control", NS)
    actions = [(c.get("id"), c.find("ov:Action", NS).get(XSI_TYPE)) for c in controls]
    assert actions == [
        ("OkrSync.Validate", "ExecuteFunction"),
        ("OkrSync.Score", "ExecuteFunction"),
        ("OkrSync.Rollup", "ExecuteFunction"),
        ("OkrSync.ShowPane", "ShowTaskpane"),
    ]
    for c in controls:
        assert [local(x.tag) for x in c] == ["Label", "Supertip", "Icon", "Action"]
    commands_js = (ROOT / "taskpane" / "commands.js").read_text()
    for fn in root.iterfind(".//ov:FunctionName", NS):
        assert f'associate("{fn.text}"' in commands_js
        assert f"global.{fn.text} = function" in commands_js


def test_every_resid_resolves_to_the_right_kind_of_resource(root: ET.Element) -> None:
    res = root.find("ov:VersionOverrides/ov:Resources", NS)
    kinds = {
        "Images": {e.get("id") for e in res.iterfind("bt:Images/bt:Image", NS)},
        "Urls": {e.get("id") for e in res.iterfind("bt:Urls/bt:Url", NS)},
        "ShortStrings": {e.get("id") for e in res.iterfind("bt:ShortStrings/bt:String", NS)},
        "LongStrings": {e.get("id") for e in res.iterfind("bt:LongStrings/bt:String", NS)},
    }
    want = {
        "Image": "Images",
        "SourceLocation": "Urls",
        "FunctionFile": "Urls",
        "LearnMoreUrl": "Urls",
        "Label": "ShortStrings",
        "Title": "ShortStrings",
        "Description": "LongStrings",
    }
    seen = 0
    for el in root.find("ov:VersionOverrides/ov:Hosts", NS).iter():
        resid = el.get("resid")
        if resid is None:
            continue
        seen += 1
        assert len(resid) <= 32
        assert resid in kinds[want[local(el.tag)]], (local(el.tag), resid)
    assert seen > 20
    for s in res.iterfind("bt:ShortStrings/bt:String", NS):
        assert len(s.get("DefaultValue")) <= 125
        assert s.find("bt:Override[@Locale='zh-CN']", NS) is not None
    for s in res.iterfind("bt:LongStrings/bt:String", NS):
        assert len(s.get("DefaultValue")) <= 250
        assert s.find("bt:Override[@Locale='zh-CN']", NS) is not None


def test_every_url_is_https_on_the_app_domain_and_served(root: ET.Element) -> None:
    source = root.findtext("o:DefaultSettings/o:SourceLocation", namespaces=NS) or ""
    source = root.find("o:DefaultSettings/o:SourceLocation", NS).get("DefaultValue") or source
    domain = "https://" + urlparse(source).netloc
    urls = [e.get("DefaultValue") for e in root.iter() if (e.get("DefaultValue") or "").startswith("http")]
    assert len(urls) >= 9
    client = create_app({"TOKENS": ["t" * 32], "TESTING": True}).test_client()
    for url in urls:
        parsed = urlparse(url)
        assert parsed.scheme == "https" and url.startswith(domain + "/addin/"), url
        response = client.get(parsed.path)
        assert response.status_code == 200, url
        if parsed.path.endswith(".png"):
            assert response.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_icons_have_the_sizes_the_manifest_claims() -> None:
    import struct

    for size in (16, 32, 64, 80):
        data = (ROOT / "assets" / f"icon-{size}.png").read_bytes()
        assert struct.unpack(">II", data[16:24]) == (size, size)
