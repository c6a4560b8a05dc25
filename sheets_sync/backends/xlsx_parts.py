"""Workbook package parts read under one size limit, and their XML text as Excel reads it."""

from __future__ import annotations

import os
import re
import zipfile

DEFAULT_MAX_PART_MB = 200
MAX_PART_ENV = "OKR_SYNC_MAX_PART_MB"
_DECL_RE = re.compile(r"^\s*<\?xml[^>]*\?>")
_ENC_RE = re.compile(rb"^<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_.-]+)[\"']")


class TooLarge(Exception):
    """A file or package part is larger than the configured limit."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(what)
        self.what, self.limit = what, limit


# Set from okr-sync.toml's [limits] max_part_mb; the environment variable wins over it.
configured_mb: float | None = None


def max_part_bytes() -> int:
    """The largest package part (inflated) or file read, in bytes: OKR_SYNC_MAX_PART_MB, the config, 200 MB."""
    try:
        mb = float(os.environ.get(MAX_PART_ENV, "") or configured_mb or DEFAULT_MAX_PART_MB)
    except ValueError:
        mb = configured_mb or DEFAULT_MAX_PART_MB
    return int(max(mb, 1) * 1024 * 1024)


def read_part(z: zipfile.ZipFile, name: str, limit: int | None = None) -> bytes:
    """One part, inflated; refused before inflating when its declared or actual size passes the limit."""
    limit = max_part_bytes() if limit is None else limit
    info = z.getinfo(name)
    if info.file_size > limit:
        raise TooLarge(f"the part {name}", limit)
    with z.open(info) as f:
        # One bounded read: zipfile inflates at most the size asked for and never more than the declared
        # size, so a part that lies about its size stops there (and fails its CRC check).
        return f.read(info.file_size + 1)


def decode_xml(data: bytes) -> str:
    """XML part text as Excel reads it: UTF-8, or UTF-16 by BOM or declaration; the declaration dropped."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16")
    elif data.startswith(b"\xef\xbb\xbf"):
        text = data[3:].decode("utf-8")
    elif data[:2] in (b"<\x00", b"\x00<"):
        text = data.decode("utf-16-le" if data[0] == 0x3C else "utf-16-be")
    else:
        m = _ENC_RE.match(data)
        enc = m.group(1).decode().lower() if m else "utf-8"
        text = data.decode(enc if enc not in ("utf-16", "utf16") else "utf-8")
    return _DECL_RE.sub("", text, count=1)
