"""Small-multiple histograms of kept against all particles, as one image (numpy and PIL, no matplotlib).

:func:`histograms_rgb` draws one panel per column: the counts of all particles as light
grey bars and the kept ones in colour over them (shared bins), the brushed range as a
pale band, the column's name above and its range below. :func:`histograms_png` is the
PNG the explorer panel shows; both are fast enough to redraw on every selection.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

ALL_RGB = (194, 194, 194)  # every particle (the scatter's grey)
KEPT_RGB = (59, 110, 168)  # the kept particles (the scatter's plain colour)
BAND_RGB = (255, 243, 196)  # the brushed range
TEXT_PX = 11  # text height


def _font():
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=10)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _bar_heights(counts: np.ndarray, top: float, height: int) -> np.ndarray:
    """Pixel heights of bars for ``counts`` with ``top`` at full ``height`` (a nonzero count shows >= 1 px)."""
    h = np.ceil(np.asarray(counts, np.float64) * (height / top)) if top > 0 else np.zeros(len(counts))
    return np.clip(h, 0, height).astype(np.int64)


def _plot(edges: np.ndarray, all_counts: np.ndarray, kept_counts: np.ndarray, span, width: int, height: int,
          shapes: bool) -> np.ndarray:
    """One panel's plot area: ``(height, width, 3)`` uint8."""
    out = np.full((height, width, 3), 255, np.uint8)
    nb = len(all_counts)
    col_bin = np.minimum(np.arange(width) * nb // width, nb - 1)  # the bin under each pixel column
    gap = np.r_[col_bin[1:] != col_bin[:-1], False] if width >= 3 * nb else np.zeros(width, bool)
    if span is not None:
        lo, hi = span
        x = edges[0] + (np.arange(width) + 0.5) * (edges[-1] - edges[0]) / width
        out[:, (x >= lo) & (x <= hi)] = BAND_RGB
    top_all = float(all_counts.max(initial=0))
    top_kept = float(kept_counts.max(initial=0)) if shapes else top_all
    rows = np.arange(height)[:, None]
    for counts, top, rgb in ((all_counts, top_all, ALL_RGB), (kept_counts, top_kept, KEPT_RGB)):
        h = _bar_heights(counts, top, height)[col_bin]
        h[gap] = 0
        out[rows >= height - h[None, :]] = rgb
    return out


def _fit(draw, text: str, font, width: float) -> str:
    """``text``, cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def histograms_rgb(titles: Sequence[str], edges: Sequence[np.ndarray], all_counts: Sequence[np.ndarray],
                   kept_counts: Sequence[np.ndarray], spans: Sequence[tuple[float, float] | None] | None = None, *,
                   ncols: int = 3, width: int = 180, height: int = 70, shapes: bool = False, gap: int = 8) -> np.ndarray:
    """Histograms of kept against all particles, one panel per column, in rows of ``ncols``.

    Parameters
    ----------
    titles
        Each panel's name.
    edges, all_counts, kept_counts
        Per panel: ``nbins + 1`` bin edges and the counts of all and of the kept particles.
    spans
        Per panel: the brushed ``(lo, hi)`` drawn as a pale band, or None.
    ncols, width, height
        Panels per row and the size of each plot area in pixels.
    shapes
        Scale each series to its own highest bar (compare shapes) instead of counts
        (kept bars then never exceed the grey ones).
    gap
        White pixels between panels.

    Returns
    -------
    np.ndarray
        ``(H, W, 3)`` uint8.
    """
    from PIL import Image, ImageDraw

    n = len(titles)
    spans = list(spans) if spans is not None else [None] * n
    ncols = max(1, min(ncols, max(n, 1)))
    nrows = max(1, -(-n // ncols))
    cell_h = TEXT_PX + 2 + height + TEXT_PX + 2
    out = np.full((nrows * (cell_h + gap) - gap, ncols * (width + gap) - gap, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = r * (cell_h + gap) + TEXT_PX + 2, c * (width + gap)
        plot = _plot(np.asarray(edges[i], np.float64), np.asarray(all_counts[i]), np.asarray(kept_counts[i]),
                     spans[i], width, height, shapes)
        out[y: y + height, x: x + width] = plot
        out[y + height, x: x + width] = 120  # the axis
    canvas = Image.fromarray(out)
    draw, font = ImageDraw.Draw(canvas), _font()
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = r * (cell_h + gap), c * (width + gap)
        title = titles[i]
        if spans[i] is not None:
            title += f"  [{spans[i][0]:.4g}, {spans[i][1]:.4g}]"
        draw.text((x, y), _fit(draw, title, font, width), fill=(40, 40, 40), font=font)
        lo, hi = f"{float(edges[i][0]):.4g}", f"{float(edges[i][-1]):.4g}"
        yb = y + TEXT_PX + 3 + height
        draw.text((x, yb), lo, fill=(90, 90, 90), font=font)
        draw.text((x + width - draw.textlength(hi, font=font), yb), hi, fill=(90, 90, 90), font=font)
    return np.asarray(canvas)


def histograms_png(*args, **kwargs) -> bytes:
    """:func:`histograms_rgb` as PNG bytes (fast compression: for an interactive view)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(histograms_rgb(*args, **kwargs)).save(buf, format="png", compress_level=1)
    return buf.getvalue()
