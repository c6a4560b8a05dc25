"""Draw the add-in's ribbon icons (a target on a navy tile) as PNGs, with no imaging library."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

NAVY = (31, 56, 100)
WHITE = (255, 255, 255)
GREEN = (84, 180, 104)


def _shade(x: float, y: float) -> tuple[tuple[int, int, int], float]:
    """Colour and coverage of a point of the unit square."""
    r = 0.18  # tile corner radius
    cx, cy = min(max(x, r), 1 - r), min(max(y, r), 1 - r)
    if math.hypot(x - cx, y - cy) > r:
        return NAVY, 0.0
    d = math.hypot(x - 0.5, y - 0.5)
    if 0.27 <= d <= 0.37 or 0.12 <= d <= 0.19:
        return WHITE, 1.0
    if d < 0.07:
        return GREEN, 1.0
    return NAVY, 1.0


def png(size: int) -> bytes:
    """An RGBA PNG of the icon at `size` pixels, 4x4 supersampled."""
    n = 4
    raw = bytearray()
    for py in range(size):
        raw.append(0)
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(n):
                for sx in range(n):
                    colour, alpha = _shade((px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size)
                    for i in range(3):
                        acc[i] += colour[i] * alpha
                    acc[3] += alpha
            a = acc[3] / (n * n)
            rgb = [int(acc[i] / acc[3]) if acc[3] else 0 for i in range(3)]
            raw.extend([*rgb, int(a * 255)])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for size in (16, 32, 64, 80):
        (here / f"icon-{size}.png").write_bytes(png(size))
        print(here / f"icon-{size}.png")
