"""The coordinate decoder ``V(k, z)`` and rendering of predicted Hartley images.

The network outputs two channels ``(a, b)`` read as the Fourier value
``F(k) = a + i b``.  It is only ever evaluated on one half-space of frequencies
(``k`` with ``kz > 0``, ties broken on ``ky`` then ``kx``); elsewhere
``F(k) = conj(F(-k))``, so the volume it describes is real.  The Hartley value is
``H(k) = a - b`` and that of the mirrored point ``H(-k) = a + b``, so one
evaluation gives two lattice pixels: a slice costs half its pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from cryolatent.forward.ctf import ctf_from_params
from cryolatent.forward.fourier import iht_center
from cryolatent.forward.lattice import Lattice, PixelSubset, volume_lattice
from cryolatent.nn.encodings import Encoding
from cryolatent.nn.mlp import MLP


def canonicalize(coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Map each ``k`` to the evaluated half-space; return ``(coords', flipped)``.

    ``flipped`` is True where ``k`` was replaced by ``-k`` (``kz < 0``, or
    ``kz == 0`` and ``ky < 0``, or ``kz == ky == 0`` and ``kx < 0``).
    """
    x, y, z = coords.unbind(-1)
    flip = (z < 0) | ((z == 0) & ((y < 0) | ((y == 0) & (x < 0))))
    return torch.where(flip[..., None], -coords, coords), flip


def mirror_join(h_pos: torch.Tensor, h_neg: torch.Tensor, n_total: int) -> torch.Tensor:
    """Assemble a centrosymmetric pixel list from its first half.

    Parameters
    ----------
    h_pos
        ``(..., h)`` values at the first ``h = (n_total + 1) // 2`` pixels.
    h_neg
        ``(..., h)`` values at their mirrors (pixel ``p`` -> ``n_total - 1 - p``).
    n_total
        Pixels in all; when odd, pixel ``h - 1`` is the origin (its own mirror).
    """
    h = h_pos.shape[-1]
    tail = h_neg[..., : n_total - h].flip(-1)
    return torch.cat([h_pos, tail], -1)


def rotate(coords: torch.Tensor, rots: torch.Tensor) -> torch.Tensor:
    """``(M, 3) @ (B, 3, 3) -> (B, M, 3)`` in float32 even under autocast."""
    dtype = torch.promote_types(coords.dtype, rots.dtype)
    dtype = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    with torch.autocast(coords.device.type, enabled=False):
        return coords.to(dtype) @ rots.to(dtype)


class CoordinateDecoder(nn.Module):
    """``V(k, z)``: an MLP of the positionally encoded frequency and the latent ``z``.

    Parameters
    ----------
    encoding
        Positional encoding of the 3-D coordinates (:mod:`cryolatent.nn.encodings`).
    hidden, layers
        Width and number of hidden-to-hidden layers of the MLP.
    zdim
        Latent dimension; 0 makes a homogeneous network.
    residual
        Residual hidden layers.

    The latent enters the first layer as a per-particle shift
    (``W [pe(k), z] = W_k pe(k) + W_z z``), which costs nothing per pixel.
    ``W_k``, ``W_z`` and the bias start as one ``nn.Linear`` on the
    concatenation would (uniform in ``+-1/sqrt(pe_dim + zdim)``), so that z
    has the same initial weight as one positional feature.
    """

    def __init__(self, encoding: Encoding, hidden: int, layers: int, zdim: int = 0, residual: bool = True):
        super().__init__()
        self.encoding = encoding
        self.zdim = int(zdim)
        self.mlp = MLP(encoding.out_dim, hidden, layers, 2, residual=residual)
        self.z_in = nn.Linear(self.zdim, hidden, bias=False) if self.zdim else None
        if self.z_in is not None:
            bound = (encoding.out_dim + self.zdim) ** -0.5
            for tensor in (self.mlp.inp.weight, self.mlp.inp.bias, self.z_in.weight):
                nn.init.uniform_(tensor, -bound, bound)

    def _shift(self, z: torch.Tensor | None, coords_ndim: int) -> torch.Tensor | None:
        if self.z_in is None:
            return None
        if z is None:
            raise ValueError("this decoder needs a latent z")
        s = self.z_in(z)  # (B, hidden)
        return s.reshape(s.shape[0], *([1] * (coords_ndim - 2 if coords_ndim > 2 else 1)), s.shape[-1])

    def ft(self, coords: torch.Tensor, z: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Fourier value ``F(k) = a + i b`` at ``coords``.

        Parameters
        ----------
        coords
            ``(B, M, 3)`` per-particle or ``(M, 3)`` shared coordinates.
        z
            ``(B, zdim)`` latents (``None`` for a homogeneous decoder).

        Returns
        -------
        ``a, b``: ``(B, M)`` float32 (``(M,)`` for shared coordinates without ``z``).
        """
        c, flip = canonicalize(coords)
        out = self.mlp(self.encoding(c), self._shift(z, coords.ndim))
        if out.dtype in (torch.float16, torch.bfloat16):
            out = out.float()
        a, b = out[..., 0], out[..., 1]
        return a, torch.where(flip, -b, b)

    def input_layer(self, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The z-independent part of :meth:`ft` for shared ``(M, 3)`` coordinates:
        ``(inp(pe(k')), flipped)``; :meth:`ft_after_input` finishes it for a latent."""
        c, flip = canonicalize(coords)
        return self.mlp.inp(self.encoding(c)), flip

    def ft_after_input(self, h: torch.Tensor, flip: torch.Tensor, z: torch.Tensor | None = None):
        """:meth:`ft` from :meth:`input_layer`'s output: equal to ``ft(coords, z)``."""
        out = self.mlp.after_input(h, self._shift(z, 2))
        if out.dtype in (torch.float16, torch.bfloat16):
            out = out.float()
        a, b = out[..., 0], out[..., 1]
        return a, torch.where(flip, -b, b)

    def hartley(self, coords: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Hartley value ``H(k) = Re F - Im F`` at every coordinate (full evaluation)."""
        a, b = self.ft(coords, z)
        return a - b

    def hartley_symmetric(self, half_coords: torch.Tensor, z: torch.Tensor | None, n_total: int) -> torch.Tensor:
        """Hartley values of a centrosymmetric pixel list from its first half.

        ``half_coords`` holds the first ``(n_total + 1) // 2`` coordinates; the rest
        are their mirrors in reverse order.  Equal to :meth:`hartley` on the full list.
        """
        a, b = self.ft(half_coords, z)
        return mirror_join(a - b, a + b, n_total)

    def eval_volume(self, z: torch.Tensor | None, D: int, norm: float = 1.0, **kwargs) -> torch.Tensor:
        """Real-space volume; see :func:`eval_volume`."""
        return eval_volume(self, z, D, norm, **kwargs)


INPUT_CACHE_BYTES = 256 << 20  # the most memory a decoder's cached input layer may take
CPU_CHUNK = 1 << 20  # activations (points x width) per decoder call on a CPU: they stay in cache


def _input_chunks(decoder, n: int, D: int, radius: float, chunk: int, device) -> tuple[torch.Tensor, list]:
    """Lattice indices of the evaluated half-space points of a volume and, per chunk, either
    the decoder's cached ``input_layer`` output (the same for every latent, so a volume
    after the first costs only the layers after the input) or the chunk's coordinates.

    The cache lives on the decoder, keyed by the lattice, the autocast dtype and the
    version counters of its weights (an optimiser step or a loaded state dict renews it),
    and is kept only up to :data:`INPUT_CACHE_BYTES`."""
    weights = [*decoder.encoding.parameters(), *decoder.encoding.buffers(), *decoder.mlp.inp.parameters()] \
        if isinstance(decoder, CoordinateDecoder) else None
    dtype = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None
    key = None if weights is None else (
        n, D, radius, chunk, str(device), dtype, tuple((id(w), w._version) for w in weights))
    cached = getattr(decoder, "_input_cache", None)
    if key is not None and cached is not None and cached[0] == key:
        return cached[1], cached[2]
    coords = volume_lattice(n, 0.5 * n / D)
    half = coords[: (coords.shape[0] + 1) // 2]
    keep = (half**2).sum(-1) <= radius**2 + 1e-12
    idx = torch.nonzero(keep).squeeze(1)
    sel = half[idx].float().to(device)
    chunks = [sel[start : start + chunk] for start in range(0, sel.shape[0], chunk)]
    width = decoder.mlp.inp.out_features if weights is not None else 0
    itemsize = torch.finfo(dtype).bits // 8 if dtype is not None else 4
    if key is not None and sel.shape[0] * width * itemsize <= INPUT_CACHE_BYTES:
        chunks = [decoder.input_layer(c) for c in chunks]
        decoder._input_cache = (key, idx, chunks)
    return idx, chunks


@torch.no_grad()
def eval_volume(
    decoder: CoordinateDecoder,
    z: torch.Tensor | None,
    D: int,
    norm: float = 1.0,
    out_box: int | None = None,
    radius: float = 0.5,
    chunk: int | None = None,
) -> torch.Tensor:
    """Evaluate the decoder on the 3-D lattice and return a real-space volume.

    Parameters
    ----------
    decoder
        Anything with the :meth:`CoordinateDecoder.ft` method.
    z
        ``(zdim,)`` or ``(1, zdim)`` latent, or ``None``.
    D
        Training box size.
    norm
        The data standard deviation the training images were divided by.
    out_box
        Output box (even, ``<= D``): the Fourier lattice is cropped to
        ``out_box + 1`` points per axis, i.e. the volume is downsampled.
    radius
        Frequencies with ``|k| > radius`` (cycles per pixel of the training box) are set to 0.
    chunk
        Coordinates per decoder call (default on a CPU: 4,096 for a 256-wide decoder, 1,024
        for 1024-wide, so that each layer's activations stay in cache: about 2x faster than
        32,768; 32,768 on a GPU).

    Returns
    -------
    ``(n, n, n)`` float32 tensor ``vol[z, y, x]`` (``n = out_box or D``), in the
    orientation and scale of a back-projection of the (sign-inverted) particles.
    """
    n = int(out_box or D)
    if n % 2 or n > D:
        raise ValueError(f"out_box must be even and <= {D}, got {n}")
    device = next(decoder.parameters(), torch.empty(0)).device
    if not chunk:  # on a CPU, about CPU_CHUNK values per layer's activations (4,096 points at width 256)
        width = decoder.mlp.inp.out_features if isinstance(decoder, CoordinateDecoder) else 256
        chunk = max(256, CPU_CHUNK // width) if device.type == "cpu" else 1 << 15
    if z is not None:
        z = torch.as_tensor(z, dtype=torch.float32, device=device).reshape(1, -1)
    n_total = (n + 1) ** 3
    half_n = (n_total + 1) // 2
    idx, chunks = _input_chunks(decoder, n, D, radius, chunk, device)
    a_parts, b_parts = [], []
    for part in chunks:
        a, b = decoder.ft_after_input(*part, z) if isinstance(part, tuple) else decoder.ft(part, z)
        a_parts.append(a.reshape(-1).double().cpu())
        b_parts.append(b.reshape(-1).double().cpu())
    a = torch.cat(a_parts) if a_parts else torch.zeros(0, dtype=torch.float64)
    b = torch.cat(b_parts) if b_parts else torch.zeros(0, dtype=torch.float64)
    h_pos = torch.zeros(half_n, dtype=torch.float64)
    h_neg = torch.zeros(half_n, dtype=torch.float64)
    h_pos[idx] = a - b
    h_neg[idx] = a + b
    if getattr(decoder, "origin_mirrored", False):  # the origin read from the other half-space (a converted
        h_pos[half_n - 1] = h_neg[half_n - 1]  # cryoDRGN decoder: see cryolatent.nn.cryodrgn)
    vol = mirror_join(h_pos, h_neg, n_total).reshape(n + 1, n + 1, n + 1)
    vol = vol[:-1, :-1, :-1] * (norm * (n / D) ** 3)
    return iht_center(vol, ndim=3).float()


def masked_ctf(lattice: Lattice, ctf_params: torch.Tensor | None) -> torch.Tensor | None:
    """``(B, M)`` float32 CTF on the masked lattice pixels, or ``None`` without ``ctf_params``.

    ``ctf_params`` are ``(B, 9)`` CTF rows whose apix column is the pixel size of the
    *training* images (see :func:`cryolatent.training.data.effective_ctf`).
    """
    if ctf_params is None:
        return None
    with torch.autocast(lattice.masked_freqs.device.type, enabled=False):
        return ctf_from_params(lattice.masked_freqs, ctf_params.float())


def render(
    decoder: CoordinateDecoder,
    lattice: Lattice,
    rots: torch.Tensor,
    z: torch.Tensor | None = None,
    ctf: torch.Tensor | None = None,
    pixels: PixelSubset | None = None,
) -> torch.Tensor:
    """Predicted Hartley images on the masked lattice pixels (or on ``pixels.pixels``).

    Parameters
    ----------
    decoder
        The volume model.
    lattice
        Training lattice (on the decoder's device).
    rots
        ``(B, 3, 3)`` poses (``k3 = k2 @ R``).
    z
        ``(B, zdim)`` latents or ``None``.
    ctf
        ``(B, M)`` CTF values on the masked pixels (:func:`masked_ctf`), or ``None``.
    pixels
        Render only these Friedel pairs (:class:`~cryolatent.forward.lattice.PixelSubset`):
        the cost falls with their number.

    Returns
    -------
    ``(B, M)`` float32 predicted pixels (``ctf * slice``), in the order of ``lattice.index``
    (``(B, P)`` in the order of ``pixels.pixels``).
    """
    if pixels is None:
        half = rotate(lattice.masked_coords[: lattice.n_half], rots)
        pred = decoder.hartley_symmetric(half, z, lattice.n_masked)
    else:
        a, b = decoder.ft(rotate(lattice.masked_coords[pixels.half], rots), z)
        pred = torch.cat([a - b, (a + b)[..., pixels.mirrored]], -1)
        ctf = None if ctf is None else ctf[..., pixels.pixels]
    if ctf is not None:
        with torch.autocast(pred.device.type, enabled=False):
            pred = pred * ctf
    return pred
