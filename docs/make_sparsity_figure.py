"""Draw ``docs/_static/sparsity-stencil.png``: the detected pattern of a 2-D stencil, colored.

A ``spy`` picture of the Jacobian of the 5-point stencil of
``differentiation_interface.testing.sparse_scenarios.stencil2d`` on a 6 x 6 grid, as detected
by tracing; each nonzero is painted with the color of its column (the 5-coloring found by
``GreedyColoringAlgorithm``), so that structural orthogonality is visible: no row holds two
nonzeros of one color. Written with numpy and zlib only (no plotting library needed).

Run: python docs/make_sparsity_figure.py
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

import differentiation_interface as di
from differentiation_interface.testing.sparse_scenarios import stencil2d

PALETTE = np.array(
    [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
     [140, 86, 75], [227, 119, 194], [127, 127, 127]],
    dtype=np.uint8,
)  # fmt: skip
CELL, GAP, MARGIN = 14, 2, 12


def write_png(path: str, image: np.ndarray) -> None:
    """An RGB ``uint8`` image as a PNG file (filter type 0 on every row)."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
    with open(path, "wb") as handle:
        handle.write(png + chunk(b"IEND", b""))


def main() -> None:
    k = 6
    x = np.linspace(0.2, 0.9, k * k).reshape(k, k)
    backend = di.AutoSparse(di.AutoFiniteDiff())
    prep = di.prepare_jacobian(stencil2d, backend, x)
    pattern = prep.sparsity.toarray()
    colors = prep.colors
    n = pattern.shape[0]
    step = CELL + GAP
    size = 2 * MARGIN + n * step - GAP
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    for i in range(n):
        for j in range(n):
            top, left = MARGIN + i * step, MARGIN + j * step
            shade = PALETTE[colors[j] % len(PALETTE)] if pattern[i, j] else (235, 235, 235)
            image[top : top + CELL, left : left + CELL] = shade
    target = os.path.join(os.path.dirname(__file__), "_static", "sparsity-stencil.png")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    write_png(target, image)
    print(f"{target}: {n}x{n} pattern, {prep.sparsity.nnz} nonzeros, {prep.ncolors} colors")


if __name__ == "__main__":
    main()
