"""CTF-weighted (Wiener) back-projection with half-maps and their FSC.

Each image is centred by its pose translation, its transform multiplied by its
CTF and inserted along its central slice (the adjoint of the slice operator in
:mod:`cryolatent.forward.projection`); the weights ``sum ctf^2`` are inserted alike.
The map is ``sum(ctf * X) / (sum(ctf^2) + lambda(shell))`` where ``lambda``
comes from the half-map FSC (a Wiener filter, as RELION does), and particles
are split into two random halves for the FSC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from cryolatent.errors import InputError
from cryolatent.forward import fourier
from cryolatent.forward.ctf import ctf_from_params
from cryolatent.reconstruct.fsc import FSCResult, fsc
from cryolatent.forward.lattice import frequency_grid
from cryolatent.forward.lattice import image_lattice
from cryolatent.forward.projection import insert_slices, phase_shift
from cryolatent.io.dataset import pixel_size


@dataclass
class Reconstruction:
    """A back-projected map, its two half-maps and their FSC (``apix`` None: the pixel size is unknown)."""

    volume: np.ndarray
    half_a: np.ndarray
    half_b: np.ndarray
    fsc: FSCResult
    apix: float | None
    n_particles: int


class _Accumulator:
    """Running sums of ``ctf * X`` (real, imaginary) and ``ctf^2`` on an oversampled Fourier grid."""

    def __init__(self, D: int, pad: int):
        self.D, self.pad = D, pad
        self.size = pad * D
        self.sums = torch.zeros((self.size,) * 3 + (3,), dtype=torch.float32)

    def add(self, values: torch.Tensor, weights: torch.Tensor, rots: torch.Tensor, coords: torch.Tensor) -> None:
        """Insert ``(B, M)`` complex ``values`` and real ``weights`` along the slices of ``rots``."""
        data = torch.stack([values.real, values.imag, weights], -1).float()  # (B, M, 3): one interpolation
        insert_slices(self.sums, data, rots, coords, self.pad)

    @property
    def num(self) -> torch.Tensor:
        s = self.sums.double()
        return torch.complex(s[..., 0], s[..., 1])

    @property
    def den(self) -> torch.Tensor:
        return self.sums[..., 2].double()


def _finish(num: torch.Tensor, den: torch.Tensor, lam: torch.Tensor, D: int, pad: int) -> np.ndarray:
    vol_ft = num / (den + lam)
    vol = fourier.ifft_center(vol_ft, ndim=3).real
    start = (pad * D - D) // 2
    return vol[start : start + D, start : start + D, start : start + D].numpy().astype(np.float32)


def _shells(size: int, pad: int) -> torch.Tensor:
    k = frequency_grid(size, 3) * size / pad  # in lattice units of the unpadded box
    return torch.from_numpy(np.round(np.sqrt((k**2).sum(-1))).astype(np.int64))


def _shell_mean(values: torch.Tensor, shells: torch.Tensor, n: int) -> torch.Tensor:
    flat = shells.reshape(-1).clamp(max=n)
    sums = torch.bincount(flat, values.reshape(-1), minlength=n + 1)
    counts = torch.bincount(flat, minlength=n + 1).clamp(min=1)
    return sums / counts


def backproject_chunks(
    chunks: Iterable[tuple[np.ndarray, np.ndarray]],
    rots: np.ndarray,
    trans: np.ndarray | None,
    ctf: np.ndarray | None,
    D: int,
    apix: float | None = None,
    invert_data: bool = True,
    pad: int = 2,
    seed: int = 0,
) -> Reconstruction:
    """Back-project image chunks into a Wiener-filtered map and half-maps.

    Parameters
    ----------
    chunks
        Iterable of ``(indices, images)``: particle indices into ``rots``/``trans``/``ctf``
        and their ``(n, D, D)`` images as stored (sign inverted here if ``invert_data``).
    rots, trans, ctf
        ``(N, 3, 3)`` poses, ``(N, 2)`` translations (fraction of box), ``(N, 9)`` CTF rows
        (``None``: no CTF correction).
    apix
        Pixel size of the images (Angstrom), or None when unknown (the FSC is then in pixels).
    pad
        Oversampling of the Fourier grid (2 reduces interpolation error; 1 saves memory).
    seed
        Seed of the random split into half-sets.
    """
    coords, flat_index = image_lattice(D, radius=D / 2)
    n_total = len(rots)
    half_of = np.random.default_rng(seed).permutation(n_total) % 2
    acc = [_Accumulator(D, pad), _Accumulator(D, pad)]
    rots_t = torch.as_tensor(np.asarray(rots), dtype=torch.float32)
    n_seen = 0
    for indices, images in chunks:
        indices = np.asarray(indices)
        imgs = torch.as_tensor(np.asarray(images, dtype=np.float32))
        if invert_data:
            imgs = -imgs
        img_ft = fourier.fft_center(imgs.double(), ndim=2).reshape(len(imgs), -1)[:, flat_index]
        if trans is not None:
            shift = torch.as_tensor(np.asarray(trans)[indices], dtype=torch.float64) * D
            img_ft = phase_shift(img_ft, coords, shift, D)
        if ctf is not None:
            c = ctf_from_params(coords[:, :2].double() / D, torch.as_tensor(np.asarray(ctf)[indices], dtype=torch.float64))
        else:
            c = torch.ones(img_ft.shape, dtype=torch.float64)
        for h in (0, 1):
            sel = torch.from_numpy(np.nonzero(half_of[indices] == h)[0])
            if len(sel) == 0:
                continue
            acc[h].add(img_ft[sel] * c[sel], c[sel] ** 2, rots_t[indices[sel.numpy()]], coords)
        n_seen += len(indices)
    if n_seen == 0:
        raise ValueError("no particles to back-project")

    size = pad * D
    shells = _shells(size, pad)
    nyq = D // 2
    nums = [a.num for a in acc]
    dens = [a.den for a in acc]
    den_all = dens[0] + dens[1]
    mean_den = _shell_mean(den_all, shells, nyq)  # per shell, over the sphere's voxels
    # pass 1: lightly regularised half-maps -> FSC -> spectral SNR per shell
    lam0 = 1e-2 * den_all[shells < nyq].mean()
    halves = [_finish(n, d, lam0 / 2, D, pad) for n, d in zip(nums, dens)]
    half_fsc = fsc(halves[0], halves[1], apix=apix)
    f_half = np.clip(half_fsc.fsc, 1e-3, 0.999)
    f_full = np.clip(2 * f_half / (1 + f_half), 1e-3, 0.999)
    ssnr_half = torch.from_numpy(f_half / (1 - f_half))
    ssnr_full = torch.from_numpy(f_full / (1 - f_full))
    shell_idx = shells.clamp(max=nyq)
    lam_full = (mean_den / ssnr_full)[shell_idx]
    lam_half = (mean_den / 2 / ssnr_half)[shell_idx]
    # pass 2: Wiener-filtered maps
    halves = [_finish(n, d, lam_half, D, pad) for n, d in zip(nums, dens)]
    volume = _finish(nums[0] + nums[1], den_all, lam_full, D, pad)
    return Reconstruction(
        volume=volume,
        half_a=halves[0],
        half_b=halves[1],
        fsc=fsc(halves[0], halves[1], apix=apix),
        apix=apix,
        n_particles=n_seen,
    )


def _progress_chunks(stack, chunk_size: int, progress: bool) -> Iterator:
    bar = tqdm(total=len(stack), desc="back-projecting", unit="img", disable=not progress)
    for indices, images in stack.iter_chunks(chunk_size):
        yield indices, images
        bar.update(len(indices))
    bar.close()


def backproject(
    stack,
    invert_data: bool = True,
    pad: int = 2,
    chunk_size: int = 256,
    seed: int = 0,
    use_ctf: bool = True,
    progress: bool = True,
    apix: float | None = None,
) -> Reconstruction:
    """Back-project a particle stack that carries its poses (and CTF).

    Parameters
    ----------
    stack
        A :class:`cryolatent.io.ParticleStack` with ``.poses`` set (and ``.ctf`` for
        CTF correction), e.g. from :func:`cryolatent.io.load_dataset`.
    invert_data
        Invert the data sign first (cryoDRGN's default; particles are white).
    apix
        Pixel size (Angstrom); default: the stack's (:func:`cryolatent.io.pixel_size`),
        None when no file gives it (the FSC is then in pixels).
    """
    if stack.poses is None:
        raise InputError("no poses: give --poses (a .pkl, .star or .cs file)", getattr(stack, "source", None))
    rots, trans = stack.poses
    ctf = stack.ctf if use_ctf else None
    apix = apix or pixel_size(stack)
    return backproject_chunks(
        _progress_chunks(stack, chunk_size, progress),
        rots,
        trans,
        ctf,
        stack.D,
        apix=apix,
        invert_data=invert_data,
        pad=pad,
        seed=seed,
    )
