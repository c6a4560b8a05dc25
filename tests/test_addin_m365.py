"""The manifest an admin gives the Microsoft 365 admin center (centralized deployment) passes the rules
Microsoft documents for add-in only (XML) manifests: checked on the manifest as the server serves it."""

from __future__ import annotations

import re
import struct
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
}
PUBLIC = "https://okr.contoso.com"
# Documented limits: ShortString 125 characters, LongString 250; a resid 32; a Version n.n.n.n of up to
# four parts of at most five digits; an AppDomain is scheme://host[:port] with no path, slash or wildcard.
SHORT, LONG = 125, 250


@pytest.fixture(scope="module")
def served() -> ET.Element:
    app = create_app({"TOKENS": ["t" * 32], "TESTING": True})
    response = app.test_client().get("/addin/manifest.xml", base_url=PUBLIC)
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return ET.fromstring(response.data)


def _png_size(path: str) -> tuple[int, int]:
    data = (ROOT / "assets" / Path(path).name).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_served_manifest_points_at_the_server_it_came_from(served: ET.Element) -> None:
    urls = [e.get("DefaultValue") or "" for e in served.iter() if (e.get("DefaultValue") or "").startswith("http")]
    assert urls and all(u.startswith(PUBLIC + "/addin/") for u in urls)
    assert "localhost" not in ET.tostring(served, encoding="unicode")


def test_public_url_setting_names_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKR_SYNC_PUBLIC_URL", "https://okr.example.org/")
    app = create_app({"TOKENS": ["t" * 32], "TESTING": True})
    text = app.test_client().get("/addin/manifest.xml").get_data(as_text=True)
    assert "https://okr.example.org/addin/taskpane.html" in text and "localhost" not in text


def test_identity_and_text_fields_within_documented_limits(served: ET.Element) -> None:
    assert re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", served.findtext("o:Id", "", NS))
    version = served.findtext("o:Version", "", NS)
    assert re.fullmatch(r"\d{1,5}(\.\d{1,5}){0,3}", version)
    assert 0 < len(served.findtext("o:ProviderName", "", NS)) <= LONG
    assert re.fullmatch(r"[a-z]{2}-[A-Z]{2}", served.findtext("o:DefaultLocale", "", NS))
    for tag, limit in (("DisplayName", SHORT), ("Description", LONG)):
        element = served.find(f"o:{tag}", NS)
        assert element is not None and 0 < len(element.get("DefaultValue", "")) <= limit
        for override in element.iterfind("o:Override", NS):
            assert re.fullmatch(r"[a-z]{2}-[A-Z]{2}", override.get("Locale", ""))
            assert 0 < len(override.get("Value", "")) <= limit
    assert served.findtext("o:Permissions", "", NS) in ("Restricted", "ReadDocument", "ReadWriteDocument",
                                                        "WriteDocument")


def test_icons_and_urls_follow_the_documented_rules(served: ET.Element) -> None:
    source = served.find("o:DefaultSettings/o:SourceLocation", NS)
    assert source is not None
    origin = urlparse(source.get("DefaultValue", ""))
    assert origin.scheme == "https"
    # IconUrl 32x32 and HighResolutionIconUrl 64x64 for task pane add-ins; SupportUrl present.
    assert _png_size(served.find("o:IconUrl", NS).get("DefaultValue", "")) == (32, 32)
    assert _png_size(served.find("o:HighResolutionIconUrl", NS).get("DefaultValue", "")) == (64, 64)
    assert served.find("o:SupportUrl", NS).get("DefaultValue", "").startswith("https://")
    for image in served.iterfind(".//bt:Images/bt:Image", NS):
        size = int(image.get("id", "Icon.0").split(".")[-1])
        assert _png_size(image.get("DefaultValue", "")) == (size, size)
    # AppDomains: optional, never empty; each scheme://host[:port] only, and not the SourceLocation's own
    # domain (documented as having no effect and misleading).
    domains = served.find("o:AppDomains", NS)
    if domains is not None:
        assert len(domains)
        for d in domains:
            text = d.text or ""
            assert re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d+)?", text) and "*" not in text
            assert urlparse(text).netloc != origin.netloc
    for element in served.iter():
        url = element.get("DefaultValue") or ""
        if url.startswith("http"):
            assert url.startswith("https://"), url
            assert len(url) <= 2048


def test_every_resid_is_defined_once(served: ET.Element) -> None:
    resources = served.find("ov:VersionOverrides/ov:Resources", NS)
    ids = [e.get("id") for e in resources.iter() if e.get("id")]
    assert len(ids) == len(set(ids)) and all(len(i) <= 32 for i in ids)
    used = {e.get("resid") for e in served.iter() if e.get("resid")}
    assert used <= set(ids)
