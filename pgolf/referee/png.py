"""A tiny PNG line plot rasterised with numpy and written with zlib (no plotting library)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from pgolf.data.shards import atomic_write


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 image as a PNG file."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))  # filter type 0 on every row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


# 3x5 pixel glyphs (rows of 3 bits) for axis labels: digits, '.', '-'
GLYPHS = {
    "0": (7, 5, 5, 5, 7), "1": (2, 6, 2, 2, 7), "2": (7, 1, 7, 4, 7), "3": (7, 1, 7, 1, 7), "4": (5, 5, 7, 1, 1),
    "5": (7, 4, 7, 1, 7), "6": (7, 4, 7, 5, 7), "7": (7, 1, 1, 1, 1), "8": (7, 5, 7, 5, 7), "9": (7, 5, 7, 1, 7),
    ".": (0, 0, 0, 0, 2), "-": (0, 0, 7, 0, 0), " ": (0, 0, 0, 0, 0),
}


class Canvas:
    def __init__(self, width: int = 720, height: int = 400, margin: int = 40):
        self.w, self.h, self.m = width, height, margin
        self.img = np.full((height, width, 3), 255, dtype=np.uint8)

    def _dot(self, x: float, y: float, color, r: int = 1) -> None:
        xi, yi = int(round(x)), int(round(y))
        self.img[max(yi - r, 0):min(yi + r + 1, self.h), max(xi - r, 0):min(xi + r + 1, self.w)] = color

    def line(self, x0, y0, x1, y1, color, r: int = 1) -> None:
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for t in np.linspace(0.0, 1.0, n + 1):
            self._dot(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, color, r)

    def text(self, x: float, y: float, s: str, color=(0, 0, 0), scale: int = 2) -> None:
        """Digits, '.' and '-' with the top-left corner at (x, y)."""
        for i, ch in enumerate(s):
            for row, bits in enumerate(GLYPHS.get(ch, GLYPHS[" "])):
                for col in range(3):
                    if bits >> (2 - col) & 1:
                        x0, y0 = int(x) + (4 * i + col) * scale, int(y) + row * scale
                        self.img[max(y0, 0):max(y0 + scale, 0), max(x0, 0):max(x0 + scale, 0)] = color

    def frame(self, xs: list[float], ys: list[float]):
        """A function mapping data (x, y) to pixels, fitted to the ranges of xs and ys, and the axes."""
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-3)
        m, w, h = self.m, self.w, self.h
        grey = (200, 200, 200)
        for k in range(5):  # horizontal grid lines
            y = m + (h - 2 * m) * k / 4
            self.line(m, y, w - m, y, grey, 0)
        self.line(m, h - m, w - m, h - m, (0, 0, 0))
        self.line(m, m, m, h - m, (0, 0, 0))
        return lambda x, y: (m + (w - 2 * m) * (x - x0) / (x1 - x0), h - m - (h - 2 * m) * (y - y0) / (y1 - y0))

    def save(self, path: str | Path) -> None:
        atomic_write(path, png_bytes(self.img))


def best_over_time_png(points: list[tuple[float, float]], best: list[tuple[float, float]], path: str | Path,
                       x_labels: tuple[str, str] = ("", "")) -> None:
    """Every record (grey dots) and the best score so far (a blue step line), x = day, y = val_bpb;
    the y axis is labelled with its extremes, the x axis with ``x_labels`` (first and last)."""
    c = Canvas(margin=60)
    ys = [p[1] for p in points]
    to_px = c.frame([p[0] for p in points], ys)
    c.text(4, c.m - 5, f"{max(ys):.4f}")
    c.text(4, c.h - c.m - 5, f"{min(ys):.4f}")
    c.text(c.m, c.h - c.m + 8, x_labels[0])
    c.text(c.w - c.m - 8 * len(x_labels[1]), c.h - c.m + 8, x_labels[1])
    for x, y in points:
        c._dot(*to_px(x, y), (150, 150, 150), 2)
    for (xa, ya), (xb, yb) in zip(best[:-1], best[1:]):
        c.line(*to_px(xa, ya), *to_px(xb, ya), (30, 90, 200))
        c.line(*to_px(xb, ya), *to_px(xb, yb), (30, 90, 200))
    for x, y in best:
        c._dot(*to_px(x, y), (200, 40, 40), 3)
    c.save(path)
