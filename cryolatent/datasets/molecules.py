"""The built-in blob molecules and their conformations.

Each is a set of Gaussian blobs (positions and widths in fractions of the box): a body, arms
that swing about hinges (one continuous coordinate each, in [0, 1]) and an extra domain present
in state 1. :class:`HingeMolecule` is the embedded default (one hinge, state 1 in half the
particles); :class:`TwoDomainMolecule` has two arms moving independently and a rare extra domain
(5%). Projections of Gaussian blobs are Gaussian, so their images are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch


@dataclass
class Hinge:
    """A rigid part that swings by ``t * deg`` (``t`` in [0, 1]) about ``axis`` (unit) through ``point``."""

    part: int
    point: np.ndarray
    axis: np.ndarray
    deg: float = 60.0

    def rotations(self, t: np.ndarray) -> np.ndarray:
        """Rotation matrices ``(n, 3, 3)`` for coordinates ``t`` ``(n,)`` (Rodrigues' formula)."""
        angle = np.deg2rad(t * self.deg)
        a = self.axis
        K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        return np.eye(3) + np.sin(angle)[:, None, None] * K + (1 - np.cos(angle))[:, None, None] * (K @ K)


@dataclass
class BlobMolecule:
    """Blob model of a flexible molecule, in fractions of the box.

    ``centers``: ``(n, 3)`` positions (x, y, z) about the box centre; ``sigma``: blob
    widths; ``part``: the rigid part of each blob. Hinge ``i`` of ``hinges`` swings its
    part by its own coordinate ``t[:, i]``; the blobs of ``extra_part`` are present only
    in state 1 and move with the body. Subclasses give the geometry (``default``) and
    the dataset defaults ``p_state1`` (fraction in state 1) and ``n_t_bins`` (ground-truth
    bins per hinge).
    """

    centers: np.ndarray
    sigma: np.ndarray
    weight: np.ndarray
    part: np.ndarray
    hinges: list[Hinge]
    extra_part: int

    p_state1: ClassVar[float] = 0.5
    n_t_bins: ClassVar[int] = 10

    @property
    def n_hinges(self) -> int:
        return len(self.hinges)

    def _coords(self, t) -> np.ndarray:
        """``t`` as ``(n_conf, n_hinges)``; a ``(n_conf,)`` array or a number is one hinge's coordinates,
        a ``(n_hinges,)`` sequence one conformation's."""
        t = np.asarray(t, dtype=np.float64)
        if t.ndim < 2:
            t = np.atleast_1d(t)[:, None] if self.n_hinges == 1 else t[None, :]
        if t.shape[1:] != (self.n_hinges,):
            raise ValueError(f"expected hinge coordinates (n, {self.n_hinges}), got shape {t.shape}")
        return t

    def blob_centers(self, t: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Blob positions ``(n_conf, n_blobs, 3)`` and weights ``(n_conf, n_blobs)`` per conformation
        (``t``: ``(n_conf, n_hinges)``, or ``(n_conf,)`` for one hinge)."""
        t = self._coords(t)
        state = np.broadcast_to(np.atleast_1d(state), t.shape[:1])
        centers = np.broadcast_to(self.centers, (len(t),) + self.centers.shape).copy()
        for i, hinge in enumerate(self.hinges):
            rot = hinge.rotations(t[:, i])
            arm = self.part == hinge.part
            centers[:, arm] = (centers[:, arm] - hinge.point) @ rot.transpose(0, 2, 1) + hinge.point
        weights = np.broadcast_to(self.weight, (len(t), len(self.weight))).copy()
        weights[:, self.part == self.extra_part] *= (state == 1)[:, None]
        return centers, weights

    def volume(self, D: int, t, state: int) -> np.ndarray:
        """The ground-truth map ``(D, D, D)`` ``[z, y, x]`` of one conformation (``t``: one number per hinge)."""
        centers, weights = self.blob_centers(self._coords(t)[:1], np.array([state]))
        c = centers[0] * D
        s = self.sigma * D
        grid = np.arange(D) - D // 2
        vol = np.zeros((D, D, D))
        for (x, y, z), si, wi in zip(c, s, weights[0]):
            if wi == 0:
                continue
            gx = np.exp(-((grid - x) ** 2) / (2 * si**2))
            gy = np.exp(-((grid - y) ** 2) / (2 * si**2))
            gz = np.exp(-((grid - z) ** 2) / (2 * si**2))
            vol += wi * gz[:, None, None] * gy[None, :, None] * gx[None, None, :]
        return vol.astype(np.float32)

    def projections(self, D: int, rots: np.ndarray, t: np.ndarray, state: np.ndarray) -> np.ndarray:
        """Exact noise-free projections ``(B, D, D)`` for poses ``rots`` and conformations."""
        centers, weights = self.blob_centers(t, state)
        c2 = torch.from_numpy(np.einsum("bij,bnj->bni", rots, centers * D)[..., :2])  # (B, n, 2) pixels
        s = torch.from_numpy(self.sigma * D)
        amp = torch.from_numpy(weights) * np.sqrt(2 * np.pi) * s  # line integral of a 3-D Gaussian
        grid = torch.arange(D, dtype=torch.float64) - D // 2
        gx = torch.exp(-((grid[None, None, :] - c2[..., 0:1]) ** 2) / (2 * s[None, :, None] ** 2))  # (B, n, D)
        gy = torch.exp(-((grid[None, None, :] - c2[..., 1:2]) ** 2) / (2 * s[None, :, None] ** 2))
        return torch.einsum("bn,bny,bnx->byx", amp, gy, gx).float().numpy()


@dataclass
class HingeMolecule(BlobMolecule):
    """The embedded default: a body, one arm on a hinge (``t``) and an extra domain in half the particles."""

    @classmethod
    def default(cls, seed: int = 0) -> "HingeMolecule":
        """A chiral body of 48 blobs, a 12-blob arm (part 1) and an 8-blob extra domain (part 2)."""
        rng = np.random.default_rng(seed)
        body = rng.normal(size=(48, 3)) * [0.09, 0.06, 0.05] + [-0.05, 0.0, 0.0]
        steps = np.arange(12)
        arm = np.stack([np.linspace(0.06, 0.24, 12), 0.02 * np.sin(steps), 0.03 * np.cos(steps)], 1)
        arm += rng.normal(size=arm.shape) * 0.01
        extra = rng.normal(size=(8, 3)) * 0.025 + [-0.08, 0.1, 0.06]
        centers = np.concatenate([body, arm, extra])
        part = np.repeat([0, 1, 2], [len(body), len(arm), len(extra)])
        sigma = 0.02 * rng.uniform(0.8, 1.25, len(centers))
        weight = rng.uniform(0.7, 1.0, len(centers))
        axis = np.array([0.0, 0.3, 1.0])
        hinge = Hinge(1, np.array([0.06, 0.0, 0.0]), axis / np.linalg.norm(axis), 60.0)
        return cls(centers, sigma, weight, part, [hinge], extra_part=2)


@dataclass
class TwoDomainMolecule(BlobMolecule):
    """Two arms on independent hinges (``t``, ``t2``) and a rare extra domain (5% of the particles)."""

    p_state1: ClassVar[float] = 0.05
    n_t_bins: ClassVar[int] = 4

    @classmethod
    def default(cls, seed: int = 0) -> "TwoDomainMolecule":
        """A chiral body (40 blobs and a 14-blob helical ridge: a handedness to see in a map), a 10-blob
        arm swinging about z (part 1), a 10-blob arm swinging about x (part 2) and a 10-blob extra
        domain (part 3)."""
        rng = np.random.default_rng(seed)
        core = rng.normal(size=(40, 3)) * [0.08, 0.06, 0.05] + [-0.03, 0.0, 0.0]
        turn = np.linspace(0, 3 * np.pi, 14)
        ridge = np.stack([np.linspace(-0.15, 0.03, 14), 0.07 * np.cos(turn), 0.06 * np.sin(turn)], 1)
        steps = np.arange(10)
        arm1 = np.stack([np.linspace(0.07, 0.25, 10), 0.02 + 0.015 * np.sin(steps), 0.02 * np.cos(steps)], 1)
        arm2 = np.stack([-0.06 + 0.02 * np.cos(steps), np.linspace(-0.09, -0.26, 10), 0.02 + 0.015 * np.sin(steps)], 1)
        arm1 += rng.normal(size=arm1.shape) * 0.01
        arm2 += rng.normal(size=arm2.shape) * 0.01
        extra = rng.normal(size=(10, 3)) * 0.028 + [-0.1, 0.1, 0.08]
        centers = np.concatenate([core, ridge, arm1, arm2, extra])
        part = np.repeat([0, 0, 1, 2, 3], [len(core), len(ridge), len(arm1), len(arm2), len(extra)])
        sigma = 0.02 * rng.uniform(0.8, 1.25, len(centers))
        weight = rng.uniform(0.7, 1.0, len(centers))
        axis1, axis2 = np.array([0.0, 0.2, 1.0]), np.array([1.0, 0.0, 0.25])
        hinges = [Hinge(1, np.array([0.06, 0.02, 0.0]), axis1 / np.linalg.norm(axis1), 60.0),
                  Hinge(2, np.array([-0.06, -0.08, 0.02]), axis2 / np.linalg.norm(axis2), 60.0)]
        return cls(centers, sigma, weight, part, hinges, extra_part=3)


MOLECULES: dict[str, type[BlobMolecule]] = {"hinge": HingeMolecule, "two-domain": TwoDomainMolecule}


def coordinate_names(n_hinges: int) -> list[str]:
    """Names of the hinge coordinates: ``t``, ``t2``, ``t3``, ..."""
    return ["t" if i == 0 else f"t{i + 1}" for i in range(n_hinges)]


def sample_conformations(mol: BlobMolecule, n: int, rng: np.random.Generator,
                         p_state1: float) -> tuple[np.ndarray, np.ndarray]:
    """Random conformations: ``t`` ``(n, n_hinges)`` independent and uniform in [0, 1], and
    ``state`` ``(n,)``, 1 with probability ``p_state1``."""
    t = rng.uniform(0, 1, (n, mol.n_hinges))
    state = (rng.uniform(0, 1, n) < p_state1).astype(np.int64)
    return t, state


def conformation_labels(t: np.ndarray, state: np.ndarray, n_t_bins: int) -> np.ndarray:
    """Ground-truth volume index of conformations ``t`` ``(n, n_hinges)``: state, then each hinge's
    bin of ``n_t_bins`` equal bins of [0, 1], the last hinge varying fastest."""
    bins = np.clip(np.digitize(t, np.linspace(0, 1, n_t_bins + 1)) - 1, 0, n_t_bins - 1)
    return np.ravel_multi_index((state, *bins.T), (2,) + (n_t_bins,) * t.shape[1])


def label_conformations(n_hinges: int, n_t_bins: int) -> dict[str, np.ndarray]:
    """The conformation of each ground-truth volume (bin centres), in label order: one array per
    coordinate name, then ``state``."""
    idx = np.unravel_index(np.arange(2 * n_t_bins**n_hinges), (2,) + (n_t_bins,) * n_hinges)
    edges = np.linspace(0, 1, n_t_bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    params = {name: centres[i] for name, i in zip(coordinate_names(n_hinges), idx[1:])}
    params["state"] = idx[0]
    return params
