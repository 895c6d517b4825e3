"""Pair plot of the latent dimensions as one image: every particle in grey, the kept ones in colour.

Density images rather than points (each tile a 2-D histogram, each diagonal tile a 1-D
histogram), so a million particles cost a few ``bincount`` calls: :class:`PairGrid` bins every
dimension once and then draws any subset of the particles in tens of milliseconds.
"""

from __future__ import annotations

import io

import numpy as np

KEPT_RGB = np.array([43, 90, 138], dtype=np.float64)  # the panel's selection colour
ALL_RGB = np.array([150, 150, 150], dtype=np.float64)


class PairGrid:
    """Binned latent coordinates for pair-plot images.

    Parameters
    ----------
    z
        ``(N, k)`` latent means (or any coordinates); dimensions beyond ``max_dims`` are left out.
    bins
        Pixels per tile side.
    max_dims
        Dimensions shown at most (a pair plot of more is unreadable).
    """

    def __init__(self, z: np.ndarray, bins: int = 64, max_dims: int = 10):
        z = np.asarray(z, dtype=np.float64)[:, :max_dims]
        self.k, self.bins = z.shape[1], int(bins)
        lo, hi = np.nanpercentile(z, 0.5, axis=0), np.nanpercentile(z, 99.5, axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        idx = np.floor((z - lo) / span * self.bins)
        self.idx = np.clip(np.nan_to_num(idx, nan=-1), -1, self.bins).astype(np.int16)
        self.inside = np.all((self.idx >= 0) & (self.idx < self.bins), axis=1)
        self._all = self._counts(self.inside)

    def _counts(self, mask: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
        """2-D counts per pair ``(i, j)`` with ``i > j`` (row i, column j) and 1-D counts at ``(i, i)``."""
        b, rows = self.bins, np.flatnonzero(mask & self.inside)
        idx = self.idx[rows].astype(np.int64)
        out = {}
        for i in range(self.k):
            out[i, i] = np.bincount(idx[:, i], minlength=b).astype(np.float64)
            for j in range(i):
                out[i, j] = np.bincount(idx[:, i] * b + idx[:, j], minlength=b * b).reshape(b, b).astype(np.float64)
        return out

    def rgb(self, kept: np.ndarray | None = None, gap: int = 2) -> np.ndarray:
        """``(H, W, 3)`` uint8 image: the lower triangle of tiles (z_j across, z_i up), histograms on the diagonal."""
        b, k = self.bins, self.k
        side = k * b + (k - 1) * gap
        img = np.full((side, side, 3), 255.0)
        kept_counts = self._counts(kept) if kept is not None else None
        for (i, j), counts in self._all.items():
            y0, x0 = i * (b + gap), j * (b + gap)
            tile = img[y0 : y0 + b, x0 : x0 + b]
            if i == j:
                tile[:] = _bars(counts, kept_counts[i, i] if kept_counts else None, b)
                continue
            tile[:] = _density(counts[::-1], kept_counts[i, j][::-1] if kept_counts else None)  # z_i upwards
        return np.clip(img, 0, 255).astype(np.uint8)

    def png(self, kept: np.ndarray | None = None, scale: int = 2) -> bytes:
        """PNG of :meth:`rgb` (nearest-neighbour upscaled by ``scale``)."""
        from PIL import Image

        img = self.rgb(kept)
        if scale > 1:
            img = img.repeat(scale, axis=0).repeat(scale, axis=1)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        return buf.getvalue()


def _density(all_counts: np.ndarray, kept: np.ndarray | None) -> np.ndarray:
    """A tile: log density of every particle in grey, the kept ones' log density in colour over it."""
    def level(c: np.ndarray) -> np.ndarray:
        c = np.log1p(c)
        return c / c.max() if c.max() > 0 else c

    a = level(all_counts)[..., None]
    out = 255 - a * (255 - ALL_RGB) * (0.45 if kept is not None else 1.0)
    if kept is not None:
        w = level(kept)[..., None]
        out = out * (1 - w) + KEPT_RGB * w
    return out


def _bars(all_counts: np.ndarray, kept: np.ndarray | None, b: int) -> np.ndarray:
    """A diagonal tile: the histogram of every particle in grey, of the kept ones in colour in front."""
    tile = np.full((b, b, 3), 255.0)
    top = max(all_counts.max(), 1.0)
    rows = np.arange(b)[::-1, None]  # row 0 is the top
    tile[(rows < np.round(all_counts / top * (b - 1))[None, :])] = 255 - 0.45 * (255 - ALL_RGB)
    if kept is not None:
        tile[(rows < np.round(kept / top * (b - 1))[None, :])] = KEPT_RGB
    return tile
