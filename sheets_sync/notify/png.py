"""A tiny PNG writer (zlib only) and a line chart of scores: mail clients show PNG, not SVG."""

from __future__ import annotations

import struct
import zlib

Colour = tuple[int, int, int]
PALETTE: tuple[Colour, ...] = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14),
                               (23, 190, 207), (140, 86, 75), (127, 127, 127))
_WHITE, _GRID, _AXIS = (255, 255, 255), (225, 225, 225), (90, 90, 90)


def encode(width: int, height: int, pixels: bytearray) -> bytes:
    """RGB pixels (row by row) as a PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    stride = width * 3
    raw = b"".join(b"\x00" + bytes(pixels[y * stride:(y + 1) * stride]) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + \
        chunk(b"IEND", b"")


class Canvas:
    """An RGB canvas with the few strokes a line chart needs."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(_WHITE * (width * height))

    def dot(self, x: int, y: int, colour: Colour) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i:i + 3] = bytes(colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: Colour, thick: int = 1) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for s in range(steps + 1):
            x = round(x0 + (x1 - x0) * s / steps)
            y = round(y0 + (y1 - y0) * s / steps)
            for dx in range(thick):
                for dy in range(thick):
                    self.dot(x + dx - thick // 2, y + dy - thick // 2, colour)

    def png(self) -> bytes:
        return encode(self.width, self.height, self.pixels)


def score_chart(series: dict[str, list[float | None]], width: int = 480, height: int = 200) -> bytes:
    """One line per name, 0..1 on the vertical axis, equally spaced points; gaps stay gaps."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 10, width - 10, 10, height - 10
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = round(bottom - tick * (bottom - top))
        canvas.line(left, y, right, y, _GRID)
    canvas.line(left, top, left, bottom, _AXIS)
    canvas.line(left, bottom, right, bottom, _AXIS)
    for index, values in enumerate(series.values()):
        colour = PALETTE[index % len(PALETTE)]
        n = max(len(values) - 1, 1)
        points = [(round(left + i * (right - left) / n), round(bottom - max(0.0, min(1.0, v)) * (bottom - top)))
                  if v is not None else None for i, v in enumerate(values)]
        for a, b in zip(points, points[1:], strict=False):
            if a is not None and b is not None:
                canvas.line(*a, *b, colour, thick=2)
        for p in points:
            if p is not None:
                for dx in range(-2, 3):
                    for dy in range(-2, 3):
                        canvas.dot(p[0] + dx, p[1] + dy, colour)
    return canvas.png()
