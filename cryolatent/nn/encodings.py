"""Positional encodings of 3-D lattice coordinates for the coordinate decoder.

Coordinates live on ``[-0.5, 0.5]^3`` (one lattice pixel is ``1/D``).  Every fixed
encoding maps ``(..., 3)`` to ``(..., out_dim)`` values in ``[-1, 1]``.

Families (angular frequencies ``w``, in radians per coordinate unit, so that a
feature is ``sin(w x)`` / ``cos(w x)`` for each axis ``x``):

``geom_lowf``
    ``pe_dim`` frequencies spaced geometrically from ``D/2`` down to 1:
    wavelengths from ``4 pi`` lattice pixels up to ``2 pi`` box lengths, i.e.
    the features resolve structure down to a few pixels and never alias.
``geom_ft``
    Geometric from ``D pi`` (a 2-pixel wavelength, Nyquist) down to ``2 pi``
    (one box length).
``geom_full``
    Geometric from ``D pi`` down to 1.
``geom_nohighf``
    Geometric from ``D/2`` down to ``2 pi``.
``linear_lowf``
    ``pe_dim`` frequencies spaced linearly from 1 to ``D/2``.
``gaussian`` (the default, as cryoDRGN's)
    Random Fourier features: ``3 * pe_dim`` directions ``b ~ N(0, sigma^2 I)``
    scaled by ``D/2``, features ``sin(b.k), cos(b.k)`` (seeded, stored as a buffer).
``none``
    The raw coordinates.
``grid``
    Not a fixed encoding but learned features (:class:`GridEncoding`): dense grids of
    feature vectors at several resolutions over the half-space the decoder evaluates,
    read by trilinear interpolation, followed by the coordinates.  The decoder's MLP can
    then be small (one or two layers of 64-128): the cost per pixel falls about five-fold.
``gaussian+grid``
    Both side by side (:class:`ConcatEncoding`): the random Fourier features give the MLP a
    smooth basis, coarse grids (``grid_res`` of 16-32) a fast start on the low frequencies.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PE_TYPES = ("geom_lowf", "geom_ft", "geom_full", "geom_nohighf", "linear_lowf", "gaussian", "none", "grid",
            "gaussian+grid")


class Encoding(nn.Module):
    """Base class: ``forward(coords (..., 3)) -> (..., out_dim)``."""

    out_dim: int


class IdentityEncoding(Encoding):
    """The raw coordinates (``pe_type="none"``)."""

    def __init__(self) -> None:
        super().__init__()
        self.out_dim = 3

    def forward(self, coords: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return coords


class AxisEncoding(Encoding):
    """``sin``/``cos`` of each coordinate axis at fixed angular frequencies.

    Parameters
    ----------
    freqs
        ``(F,)`` angular frequencies (radians per coordinate unit).
    """

    def __init__(self, freqs: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("freqs", freqs.float().reshape(-1), persistent=False)
        self.out_dim = 6 * self.freqs.numel()

    def forward(self, coords: torch.Tensor) -> torch.Tensor:  # noqa: D102
        k = (coords[..., :, None] * self.freqs).flatten(-2)  # (..., 3F)
        return torch.cat([torch.sin(k), torch.cos(k)], -1)


class GaussianEncoding(Encoding):
    """Random Fourier features ``sin(B k), cos(B k)`` with ``B`` drawn once (seeded).

    Parameters
    ----------
    n_features
        Number of random directions (output is twice that).
    scale
        Standard deviation of the entries of ``B`` (radians per coordinate unit).
    seed
        Seed of the draw; ``B`` is a persistent buffer, so checkpoints keep it.
    """

    def __init__(self, n_features: int, scale: float, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("B", torch.randn(n_features, 3, generator=gen) * scale)
        self.out_dim = 2 * n_features

    def forward(self, coords: torch.Tensor) -> torch.Tensor:  # noqa: D102
        # a float32 matmul with autocast off, so that the phases are never rounded to 16 bits
        with torch.autocast(coords.device.type, enabled=False):
            dtype = torch.promote_types(coords.dtype, torch.float32)
            k = coords.to(dtype) @ self.B.to(dtype).t()
        return torch.cat([torch.sin(k), torch.cos(k)], -1)


class GridEncoding(Encoding):
    """Learned features on dense grids over the half-space ``kz >= 0``, at several resolutions.

    Level ``l`` is a ``(features, r/2 + 1, r + 1, r + 1)`` grid spanning ``kx, ky`` in
    ``[-0.5, 0.5]`` and ``kz`` in ``[0, 0.5]`` with ``r`` points per unit (a cell of
    ``1/r``; the finest level at ``r = D`` has one cell per lattice pixel).  A coordinate
    is encoded as the trilinear interpolation of every level, then the coordinates
    themselves (times 2, in ``[-1, 1]``).

    It expects coordinates already mapped to the evaluated half-space (as
    :class:`~cryolatent.nn.decoder.CoordinateDecoder` passes them): the decoder's
    ``F(-k) = conj F(k)`` then holds by construction.  ``kz < 0`` reads the border.

    Parameters
    ----------
    resolutions
        Points per unit of each level (even).
    features
        Feature channels per level.
    init
        Features start uniform in ``+-init`` (seeded).
    seed
        Seed of the initial features.
    """

    def __init__(self, resolutions: list[int], features: int = 4, init: float = 1e-2, seed: int = 0) -> None:
        super().__init__()
        if not resolutions or any(r < 2 or r % 2 for r in resolutions) or features < 1:
            raise ValueError(f"grid resolutions must be even and >= 2 and features >= 1, got {resolutions}, {features}")
        gen = torch.Generator().manual_seed(seed)
        self.resolutions = [int(r) for r in resolutions]
        self.grids = nn.ParameterList(
            nn.Parameter((torch.rand(1, features, r // 2 + 1, r + 1, r + 1, generator=gen) * 2 - 1) * init)
            for r in self.resolutions)
        self.features = int(features)
        self.out_dim = len(self.resolutions) * self.features + 3

    def forward(self, coords: torch.Tensor) -> torch.Tensor:  # noqa: D102
        lead = coords.shape[:-1]
        with torch.autocast(coords.device.type, enabled=False):
            c = coords.reshape(-1, 3).float()
            # grid_sample's (x, y, z) in [-1, 1] index the grid's last, middle and first axes
            g = torch.stack([2 * c[:, 0], 2 * c[:, 1], 4 * c[:, 2] - 1], -1).reshape(1, 1, 1, -1, 3)
            feats = [F.grid_sample(grid, g, mode="bilinear", padding_mode="border", align_corners=True)
                     .reshape(self.features, -1) for grid in self.grids]
            out = torch.cat([torch.cat(feats, 0).t(), 2 * c], -1)
        return out.reshape(*lead, self.out_dim)


class ConcatEncoding(Encoding):
    """Several encodings of the same coordinates, concatenated.

    Parameters
    ----------
    parts
        The encodings, in output order.
    """

    def __init__(self, parts: list[Encoding]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.out_dim = sum(part.out_dim for part in parts)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:  # noqa: D102
        outs = [part(coords) for part in self.parts]
        dtype = outs[0].dtype
        for out in outs[1:]:
            dtype = torch.promote_types(dtype, out.dtype)
        return torch.cat([out.to(dtype) for out in outs], -1)


def grid_resolutions(D: int, levels: int, finest: int | None = None, coarsest: int = 8) -> list[int]:
    """``levels`` even resolutions spaced geometrically from ``coarsest`` to ``finest`` (default ``D``)."""
    finest = int(finest or D)
    if levels < 1:
        raise ValueError(f"grid levels must be >= 1, got {levels}")
    if levels == 1:
        return [finest + finest % 2]
    values = geometric(min(coarsest, finest), finest, levels)
    return [int(2 * round(float(v) / 2)) for v in values]


def geometric(start: float, stop: float, n: int) -> torch.Tensor:
    """``n`` values spaced geometrically from ``start`` to ``stop`` (inclusive)."""
    if n == 1:
        return torch.tensor([float(start)], dtype=torch.float64)
    t = torch.arange(n, dtype=torch.float64) / (n - 1)
    return start * (stop / start) ** t


def make_encoding(
    pe_type: str, D: int, pe_dim: int | None = None, sigma: float = 0.5, seed: int = 0,
    grid_levels: int = 4, grid_features: int = 4, grid_res: int | None = None,
) -> Encoding:
    """Build the positional encoding named ``pe_type`` for box size ``D``.

    Parameters
    ----------
    pe_type
        One of :data:`PE_TYPES`.
    D
        Box size of the training images.
    pe_dim
        Frequencies per axis (default ``D // 2``).
    sigma
        Relative scale of the ``gaussian`` features (multiplied by ``D/2``).
    seed
        Seed of the ``gaussian`` features (and of the ``grid``'s initial values).
    grid_levels, grid_features, grid_res
        ``grid``, ``gaussian+grid``: number of levels, feature channels per level, finest
        resolution (default ``D``).
    """
    if pe_type == "grid":
        return GridEncoding(grid_resolutions(D, grid_levels, grid_res), grid_features, seed=seed)
    if pe_type == "gaussian+grid":
        return ConcatEncoding([make_encoding("gaussian", D, pe_dim, sigma, seed),
                               make_encoding("grid", D, grid_levels=grid_levels, grid_features=grid_features,
                                             grid_res=grid_res, seed=seed)])
    n = int(pe_dim) if pe_dim else D // 2
    if n < 1:
        raise ValueError(f"pe_dim must be >= 1, got {n}")
    half = D / 2
    if pe_type == "none":
        return IdentityEncoding()
    if pe_type == "gaussian":
        return GaussianEncoding(3 * n, sigma * half, seed)
    if pe_type == "geom_lowf":
        freqs = geometric(half, 1.0, n)
    elif pe_type == "geom_ft":
        freqs = geometric(D * math.pi, 2 * math.pi, n)
    elif pe_type == "geom_full":
        freqs = geometric(D * math.pi, 1.0, n)
    elif pe_type == "geom_nohighf":
        freqs = geometric(half, 2 * math.pi, n)
    elif pe_type == "linear_lowf":
        freqs = torch.linspace(1.0, half, n, dtype=torch.float64)
    else:
        raise ValueError(f"unknown positional encoding {pe_type!r}; choose from {', '.join(PE_TYPES)}")
    return AxisEncoding(freqs)
