"""Shared helpers of the nn/train tests: an analytic Gaussian-blob "decoder"."""

from __future__ import annotations

import math

import torch
from torch import nn


class BlobDecoder(nn.Module):
    """F(k) = amp * exp(-2 pi^2 s^2 |k|^2) * exp(-2 pi i k.c), k in cycles/pixel, c in pixels."""

    zdim = 0

    def __init__(self, center_px, sigma_px: float = 1.5, amp: float = 1.0):
        super().__init__()
        self.c = torch.as_tensor(center_px, dtype=torch.float64)
        self.s = sigma_px
        self.amp = amp

    def ft(self, coords, z=None):
        k = coords.double()
        g = self.amp * torch.exp(-2 * math.pi**2 * self.s**2 * (k**2).sum(-1))
        phase = 2 * math.pi * (k @ self.c)
        return g * torch.cos(phase), -g * torch.sin(phase)

    def hartley(self, coords, z=None):
        a, b = self.ft(coords, z)
        return a - b

    def hartley_symmetric(self, half, z, n_total):
        from cryolatent.nn.decoder import mirror_join

        a, b = self.ft(half, z)
        return mirror_join(a - b, a + b, n_total)


def make_blob_dataset(n: int = 64, D: int = 16, seed: int = 0, noise: float = 0.05, apix: float = 4.0):
    """Tiny two-state blob particles: ``(images, rots, trans, ctf, state)`` (numpy).

    Images are white (positive) CTF-modulated projections moved by ``-trans * D``.
    """
    import numpy as np

    from cryolatent.forward.ctf import ctf_from_params
    from cryolatent.forward.fourier import fft_center, ifft_center
    from cryolatent.forward.geometry import random_rotations
    from cryolatent.forward.lattice import frequency_grid

    rng = np.random.default_rng(seed)
    base = np.array([[2.0, 0.0, 0.0], [-2.0, 1.5, 0.5], [0.0, -2.0, 1.0]])
    moving = np.array([[3.0, 3.0, -1.0], [-3.0, -2.0, -2.0]])  # state 0 / 1 position of a 4th blob
    state = rng.integers(0, 2, n)
    rots = random_rotations(n, rng)
    trans = rng.uniform(-1.5, 1.5, (n, 2)) / D
    ctf = np.zeros((n, 9), np.float32)
    ctf[:] = [D, apix, 1.0e4, 1.0e4, 0.0, 300.0, 2.7, 0.1, 0.0]
    ctf[:, 2] = rng.uniform(0.8e4, 1.5e4, n)
    ctf[:, 3] = ctf[:, 2] + rng.uniform(0, 300, n)
    ctf[:, 4] = rng.uniform(0, 180, n)
    x = np.arange(D) - D // 2
    yy, xx = np.meshgrid(x, x, indexing="ij")
    c = ctf_from_params(frequency_grid(D).reshape(-1, 2), ctf.astype(np.float64)).reshape(n, D, D)
    images = np.empty((n, D, D), np.float32)
    for i in range(n):
        centres = np.concatenate([base, moving[state[i]][None]])
        xy = centres @ rots[i].T  # (R c)_xy per blob
        img = np.zeros((D, D))
        for cx, cy, _ in xy:
            cx, cy = cx - trans[i, 0] * D, cy - trans[i, 1] * D
            img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 1.2**2))
        img = ifft_center(fft_center(img) * c[i]).real
        images[i] = img + noise * rng.normal(size=(D, D))
    return images, rots.astype(np.float32), trans.astype(np.float32), ctf, state


def write_blob_dataset(folder, n: int = 64, D: int = 16, seed: int = 0, **kwargs):
    """Write the blob particles as ``particles.mrcs``, ``poses.pkl``, ``ctf.pkl``; return paths."""
    from pathlib import Path

    import numpy as np

    from cryolatent import io as clio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, rots, trans, ctf, state = make_blob_dataset(n, D, seed, **kwargs)
    clio.write_mrcs(folder / "particles.mrcs", images, apix=float(ctf[0, 1]))
    clio.write_poses_pkl(folder / "poses.pkl", rots, trans)
    clio.write_ctf_pkl(folder / "ctf.pkl", ctf)
    np.save(folder / "state.npy", state)
    return folder / "particles.mrcs", folder / "poses.pkl", folder / "ctf.pkl"


def tiny_config(particles="", poses=None, ctf=None, epochs: int = 2, zdim: int = 2, **optim):
    """A small, fast training configuration (float32)."""
    from cryolatent.training.config import TrainConfig

    cfg = TrainConfig()
    cfg.data.particles = str(particles)
    cfg.data.poses = None if poses is None else str(poses)
    cfg.data.ctf = None if ctf is None else str(ctf)
    cfg.model.enc_dim = cfg.model.dec_dim = 24
    cfg.model.enc_layers = cfg.model.dec_layers = 1
    cfg.model.zdim = zdim
    cfg.optim.epochs = epochs
    cfg.runtime.amp = False
    cfg.runtime.device = "cpu"
    for k, v in optim.items():
        setattr(cfg.optim, k, v)
    return cfg


class one_thread:
    """Context manager: run torch on one thread (tiny ops on a busy machine are faster so)."""

    def __enter__(self):
        import torch

        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.n)


def assert_resumes_bit_identically(cfg, stack, folder, full, stop_after: int = 1) -> None:
    """Train ``cfg`` in ``folder``, stopped after epoch ``stop_after`` and resumed: the weights equal ``full``'s run."""
    import pytest

    from cryolatent.training.loop import train

    class Kill(Exception):
        pass

    def kill(m):
        if m["epoch"] == stop_after:
            raise Kill()

    with pytest.raises(Kill):
        train(cfg, folder, [kill], stack=stack, progress=False)
    resumed = train(cfg, folder, resume=True, stack=stack, progress=False)
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
