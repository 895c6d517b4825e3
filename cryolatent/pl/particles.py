"""Particle images as the explorer panel shows them: low-pass, phase flip, and a PNG grid.

:func:`lowpass_images` and :func:`phase_flip` filter ``(n, D, D)`` images in Fourier space
(the CTF is :func:`cryolatent.forward.ctf.ctf_from_params` at each coefficient's frequency,
the same values the forward model applies on its centred grid);
:func:`image_grid` / :func:`image_grid_png` lay images out as greyscale tiles, each
normalised to its own mean and standard deviation (numpy and PIL, no matplotlib).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from scipy import fft

from cryolatent.forward.ctf import ctf_from_params

GAP_GREY = 255  # background between tiles and of empty tiles (white)


def _stack(images) -> tuple[np.ndarray, bool]:
    """``images`` as float32 ``(n, H, W)`` and whether a single ``(H, W)`` image was given."""
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"images must be (n, D, D) or (D, D), got shape {arr.shape}")
    return (arr[None], True) if arr.ndim == 2 else (arr, False)


def lowpass_filter(shape: tuple[int, int], resolution: float, apix: float | None = None, *,
                   edge: float = 2.0) -> np.ndarray:
    """The ``scipy.fft.rfft2`` filter of :func:`lowpass_images`: 1 up to ``1/resolution - edge/D``,
    a cosine edge, 0 from ``1/resolution`` on (``(H, W // 2 + 1)`` float32)."""
    if not (np.isfinite(resolution) and resolution > 0):
        raise ValueError(f"resolution must be a positive number, got {resolution}")
    cutoff = (apix or 1.0) / float(resolution)  # cycles per pixel
    width = min(edge / max(shape), cutoff)
    ky = np.fft.fftfreq(shape[0]).astype(np.float32)
    kx = np.fft.rfftfreq(shape[1]).astype(np.float32)
    r = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    t = np.clip((cutoff - r) / width, 0.0, 1.0) if width > 0 else (r < cutoff).astype(np.float32)
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)


def lowpass_images(images, resolution: float | None, apix: float | None = None, *, edge: float = 2.0) -> np.ndarray:
    """Low-pass filter images to ``resolution`` with a cosine edge (as :func:`cryolatent.volumes.lowpass`).

    Parameters
    ----------
    images
        ``(n, H, W)`` or ``(H, W)`` images.
    resolution
        Finest period kept, in Angstrom with ``apix`` (pixels when the pixel size is unknown);
        None: the images as float32, unfiltered.
    apix
        Pixel size in Angstrom, or None.
    edge
        Width of the cosine edge in Fourier pixels (shells of ``1/D``).

    Returns
    -------
    np.ndarray
        float32 images of the same shape; the mean (zero frequency) is kept.
    """
    arr, single = _stack(images)
    if resolution is not None:
        filt = lowpass_filter(arr.shape[-2:], resolution, apix, edge=edge)
        f = fft.rfft2(arr, axes=(-2, -1), workers=-1)
        f *= filt
        arr = fft.irfft2(f, s=arr.shape[-2:], axes=(-2, -1), workers=-1).astype(np.float32, copy=False)
    return arr[0] if single else arr


def phase_flip(images, ctf) -> np.ndarray:
    """Multiply each image's transform by the sign of its CTF (undoes the contrast reversals).

    Parameters
    ----------
    images
        ``(n, D, D)`` images (or one ``(D, D)``).
    ctf
        ``(n, 9)`` cryoDRGN CTF rows (one ``(9,)`` row for one image) whose pixel size (column 1)
        is that of these images (see :func:`cryolatent.training.data.effective_ctf`).

    Returns
    -------
    np.ndarray
        float32 images, ``IFT(FT(image) * sign(CTF))`` (``scipy.fft.rfft2``: real by construction).
    """
    arr, single = _stack(images)
    rows = np.atleast_2d(np.asarray(ctf, dtype=np.float64))
    n, D = arr.shape[0], arr.shape[-1]
    if arr.shape[-2] != D or rows.shape != (n, 9):
        raise ValueError(f"need square images and one CTF row of 9 per image, got {arr.shape} and {rows.shape}")
    ky, kx = np.meshgrid(np.fft.fftfreq(D), np.fft.rfftfreq(D), indexing="ij")  # the rfft2 layout
    c = ctf_from_params(np.stack([kx, ky], axis=-1).reshape(-1, 2), rows).reshape(n, D, D // 2 + 1)
    f = fft.rfft2(arr, axes=(-2, -1), workers=-1)
    f *= np.sign(c)  # the CTF is even (c(k) = c(-k)), so half the plane is all of it
    out = fft.irfft2(f, s=(D, D), axes=(-2, -1), workers=-1).astype(np.float32, copy=False)
    return out[0] if single else out


def _grey_tile(img: np.ndarray, size: int, clip: float) -> np.ndarray:
    """``img`` normalised to its own mean/std, clipped to ±``clip`` σ, as ``(size, size)`` uint8."""
    from PIL import Image

    img = np.asarray(img, dtype=np.float64)
    finite = np.isfinite(img)
    if not finite.any():
        return np.full((size, size), 128, np.uint8)
    mean, std = float(img[finite].mean()), float(img[finite].std())
    z = np.where(finite, (img - mean) / std if std > 0 else 0.0, 0.0)
    g = np.round((np.clip(z, -clip, clip) + clip) * (255.0 / (2 * clip))).astype(np.uint8)
    if g.shape != (size, size):
        g = np.asarray(Image.fromarray(g).resize((size, size), Image.Resampling.BILINEAR))
    return g


def _font(px: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def image_grid(images: Sequence[np.ndarray | None], ncols: int | None = None, size: int = 64, *,
               labels: Sequence[str] | None = None, gap: int = 2, clip: float = 3.0) -> np.ndarray:
    """Images as greyscale tiles in rows of ``ncols``, each normalised on its own.

    Parameters
    ----------
    images
        2-D images, or None for an empty (white) tile.
    ncols
        Tiles per row (default: about the square root of the count).
    size
        Tile width and height in pixels (images are resized to it, bilinear).
    labels
        Text drawn in each tile's top-left corner ("" or None: none).
    gap
        White pixels between tiles.
    clip
        Each tile shows its mean ± ``clip`` standard deviations, black to white.

    Returns
    -------
    np.ndarray
        ``(rows * (size + gap) - gap, ncols * (size + gap) - gap)`` uint8.
    """
    n = len(images)
    ncols = max(1, int(ncols or np.ceil(np.sqrt(max(n, 1)))))
    nrows = max(1, -(-n // ncols))
    step = size + gap
    labels = list(labels or [])
    font = _font(max(8, size // 7)) if any(labels) else None
    out = np.full((nrows * step - gap, ncols * step - gap), GAP_GREY, np.uint8)
    for i, img in enumerate(images):
        if img is None:
            continue
        tile = _grey_tile(img, size, clip)
        if i < len(labels) and labels[i]:
            tile = _label(tile, labels[i], font)
        r, c = divmod(i, ncols)
        out[r * step: r * step + size, c * step: c * step + size] = tile
    return out


def _label(tile: np.ndarray, text: str, font) -> np.ndarray:
    """``tile`` with ``text`` in white on black in its top-left corner (cut at the tile's edge)."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(tile)
    draw = ImageDraw.Draw(canvas)
    box = draw.textbbox((2, 1), text, font=font)
    draw.rectangle((0, 0, box[2] + 1, box[3] + 1), fill=0)
    draw.text((2, 1), text, fill=255, font=font)
    return np.asarray(canvas)


def image_grid_png(images: Sequence[np.ndarray | None], ncols: int | None = None, size: int = 64, **kwargs) -> bytes:
    """:func:`image_grid` as greyscale PNG bytes (fast compression: for an interactive view)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image_grid(images, ncols, size, **kwargs)).save(buf, format="png", compress_level=1)
    return buf.getvalue()
