"""Training data: image preprocessing to the Hartley lattice, datasets and batch sampling.

Preprocessing (as cryoDRGN): real image ``(D, D)`` -> soft circular window ->
sign inversion (``invert``) -> centred Hartley transform -> symmetrized to
``(D+1, D+1)`` -> divided by the dataset standard deviation.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from cryolatent.errors import InputError
from cryolatent.forward.fourier import ht_center, iht_center, symmetrize_ht
from cryolatent.io.particles import ParticleStack


def window_mask(D: int, in_rad: float = 0.85, out_rad: float = 0.99) -> torch.Tensor:
    """Soft circular real-space window: 1 inside ``in_rad``, cosine fall-off to 0 at ``out_rad``.

    Radii are fractions of ``D / 2`` measured from the box centre (pixel ``D // 2``).
    """
    x = (torch.arange(D, dtype=torch.float64) - D // 2) / (D / 2)
    r = torch.sqrt(x[:, None] ** 2 + x[None, :] ** 2)
    t = ((r - in_rad) / (out_rad - in_rad)).clamp(0, 1)
    return (0.5 * (1 + torch.cos(np.pi * t))).float()


@dataclass
class Preprocessor:
    """Turns real images into normalised, symmetrized Hartley lattice images.

    Attributes
    ----------
    D
        Image box size.
    invert
        Multiply the images by -1 first (the default for white-protein particles).
    window
        Apply :func:`window_mask`.
    window_in, window_out
        Window radii (fractions of ``D/2``).
    std
        Standard deviation the Hartley images are divided by (see :meth:`fit_std`).
    """

    D: int
    invert: bool = True
    window: bool = True
    window_in: float = 0.85
    window_out: float = 0.99
    std: float = 1.0

    def __post_init__(self) -> None:
        self._window = window_mask(self.D, self.window_in, self.window_out) if self.window else None

    def hartley(self, images, window: bool = True) -> torch.Tensor:
        """``(n, D, D)`` real images -> ``(n, D+1, D+1)`` float32 Hartley images (not normalised)."""
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        x = x.float()
        if x.shape[-2:] != (self.D, self.D):
            raise ValueError(f"expected images of {self.D}x{self.D} pixels, got {tuple(x.shape[-2:])}")
        if self._window is not None and window:
            x = x * self._window
        if self.invert:
            x = -x
        return symmetrize_ht(ht_center(x)).float()

    def __call__(self, images) -> torch.Tensor:
        """``(n, D, D)`` real images -> normalised ``(n, D+1, D+1)`` Hartley images."""
        return self.hartley(images) / self.std

    def fit_std(self, images) -> float:
        """Set (and return) ``std`` from a sample of images.

        As in cryoDRGN, the standard deviation is that of the un-windowed Hartley
        images, so windowed training data have a variance below 1 (about the
        window's area fraction) and the KL term keeps cryoDRGN's relative weight.
        """
        h = self.hartley(images, window=False).double()
        self.std = float(h.std())
        if not np.isfinite(self.std) or self.std <= 0:
            raise ValueError("the images have zero or non-finite variance")
        return self.std


def effective_ctf(ctf: np.ndarray, D: int) -> np.ndarray:
    """CTF rows with the pixel size of the ``D``-pixel training images.

    A ``ctf.pkl`` keeps the original box (column 0) and pixel size (column 1);
    images downsampled to ``D`` have pixels ``apix * D0 / D`` wide.  The result
    has column 0 set to ``D`` and column 1 to that pixel size, so that
    :func:`cryolatent.forward.ctf.ctf_from_params` can take lattice frequencies of ``D``.
    """
    out = np.array(ctf, dtype=np.float32, copy=True)
    D0 = out[:, 0].copy()
    D0[D0 <= 0] = D
    out[:, 1] *= D0 / D
    out[:, 0] = D
    return out


class ArrayStack:
    """In-memory stand-in for :class:`cryolatent.io.ParticleStack`.

    Parameters
    ----------
    images
        ``(N, D, D)`` images.
    poses
        ``(rots (N, 3, 3), trans (N, 2))`` (trans in fractions of the box).
    ctf
        ``(N, 9)`` CTF rows, or None.
    apix
        Pixel size in Angstrom, or None when unknown.
    """

    def __init__(self, images: np.ndarray, poses=None, ctf=None, apix: float | None = None):
        self._images = np.asarray(images, dtype=np.float32)
        self.D = int(self._images.shape[-1])
        self.poses = None if poses is None else (np.asarray(poses[0], np.float32), np.asarray(poses[1], np.float32))
        self.ctf = None if ctf is None else np.asarray(ctf, np.float32)
        self.apix = apix
        self.orig_index = np.arange(len(self._images))
        self.source = "<memory>"

    def __len__(self) -> int:
        return len(self._images)

    def images(self, indices) -> np.ndarray:
        """``(n, D, D)`` float32 images at ``indices``."""
        return self._images[np.asarray(indices)]

    def close(self) -> None:
        """Nothing to close."""


def check_stack(stack, need_poses: bool = True) -> None:
    """Check that a particle stack is usable for training (box, poses, CTF)."""
    src = getattr(stack, "source", None)
    if len(stack) == 0:
        raise InputError("the particle set is empty", src)
    if stack.D % 2:
        raise InputError(f"the box size must be even, got {stack.D}", src)
    if need_poses and stack.poses is None:
        raise InputError("no poses: pass --poses (a .pkl, .star or .cs file)", src)
    if stack.poses is not None and len(stack.poses[0]) != len(stack):
        raise InputError(f"{len(stack.poses[0])} poses for {len(stack)} particles", src)
    if stack.ctf is not None and len(stack.ctf) != len(stack):
        raise InputError(f"{len(stack.ctf)} CTF rows for {len(stack)} particles", src)


class ParticleData(torch.utils.data.Dataset):
    """Batches of preprocessed particles, read lazily from a stack.

    ``__getitems__`` reads a whole batch at once (the DataLoader calls it with
    the batch sampler's indices) and returns a dict of tensors:
    ``images (B, D+1, D+1)``, ``rots (B, 3, 3)``, ``trans_px (B, 2)``,
    ``ctf (B, 9)`` (if any) and ``index (B,)`` (positions in the stack).
    """

    def __init__(self, stack, pre: Preprocessor):
        self.stack = stack
        self.pre = pre
        D = stack.D
        if stack.poses is not None:
            self.rots = torch.from_numpy(np.ascontiguousarray(stack.poses[0], dtype=np.float32))
            self.trans_px = torch.from_numpy(np.ascontiguousarray(stack.poses[1], dtype=np.float32) * D)
        else:
            self.rots = self.trans_px = None
        self.ctf = None if stack.ctf is None else torch.from_numpy(effective_ctf(stack.ctf, D))

    def __len__(self) -> int:
        return len(self.stack)

    def __getitem__(self, i: int) -> dict:
        return self.__getitems__([i])

    def __getitems__(self, indices) -> dict:
        idx = np.asarray(indices, dtype=np.int64)
        t = torch.from_numpy(idx)
        batch = {"images": self.pre(self.stack.images(idx)), "index": t}
        if self.rots is not None:
            batch["rots"] = self.rots[t]
            batch["trans_px"] = self.trans_px[t]
        if self.ctf is not None:
            batch["ctf"] = self.ctf[t]
        return batch


class BlockReadAhead:
    """A lazy stack read in whole aligned blocks of ``block`` particles, the latest blocks kept.

    For :class:`EpochBatchSampler` batches with ``block > 1``: the sampler draws each
    window of 8 shuffle blocks over many batches, so reading a block whole the first
    time one of its particles is asked for (one request for a ``.mrcs``) replaces up
    to ``block`` single-image reads. At most ``slots`` blocks are held (least recently
    used dropped first); a batch spanning more than ``slots - 8`` blocks is read
    directly. Images are those of ``stack.images``.
    """

    def __init__(self, stack, block: int, slots: int = 32):
        self.stack, self.block, self.slots = stack, int(block), int(slots)
        self.D = stack.D
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()  # least recently used first

    def __len__(self) -> int:
        return len(self.stack)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_blocks": OrderedDict()}

    def _get(self, b: int) -> np.ndarray:
        blk = self._blocks.get(b)
        if blk is not None:
            self._blocks.move_to_end(b)
            return blk
        if len(self._blocks) >= self.slots:
            self._blocks.popitem(last=False)
        start = b * self.block
        blk = self._blocks[b] = self.stack.images(np.arange(start, min(start + self.block, len(self.stack))))
        return blk

    def images(self, indices) -> np.ndarray:
        """float32 ``(n, D, D)`` images of the particles ``indices`` (positions in the stack)."""
        idx = np.asarray(indices, dtype=np.int64).ravel().tolist()
        if not idx or len({i // self.block for i in idx}) + 8 > self.slots:
            return self.stack.images(np.asarray(idx, dtype=np.int64))
        return np.stack([self._get(i // self.block)[i % self.block] for i in idx])


def read_ahead(data: ParticleData, sampler, max_bytes: int = 128 * 2**20) -> ParticleData:
    """``data`` reading whole shuffle blocks when ``sampler`` shuffles blocks of a lazy stack, else ``data``.

    A copy of ``data`` whose stack is a :class:`BlockReadAhead` of at most ``max_bytes``;
    none when 16 blocks would not fit (large images gain little) or when this process
    draws only some of the batches (DDP ranks: each would read whole blocks for a
    fraction of their images).
    """
    block = int(getattr(sampler, "block", 1))
    if block <= 1 or not getattr(sampler, "shuffle", False) or getattr(sampler, "world_size", 1) > 1:
        return data
    if not isinstance(data.stack, ParticleStack):
        return data
    slots = min(32, max_bytes // (block * data.stack.D**2 * 4))
    if slots < 16:
        return data
    out = copy.copy(data)
    out.stack = BlockReadAhead(data.stack, block, slots)
    return out


def _keep_batch(batch):
    return batch


class EpochBatchSampler(torch.utils.data.Sampler):
    """Shuffled batches, reproducible from ``(seed, epoch)``, split across DDP ranks.

    Parameters
    ----------
    n
        Dataset size.
    batch_size
        Particles per batch (per rank).
    seed
        Base seed; call :meth:`set_epoch` before each epoch.
    shuffle
        Shuffle (else sequential order).
    block
        Shuffle blocks of ``block`` consecutive particles, then particles inside
        windows of 8 blocks: batches then come from few stack regions (fast reads).
    rank, world_size
        This process and the number of processes; every rank gets the same
        number of batches (the permutation is padded by wrapping).

    Indices inside a batch are sorted (sequential reads); the order of particles in
    a batch does not change the gradient.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, shuffle: bool = True,
                 block: int = 1, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.shuffle, self.block = shuffle, max(1, int(block))
        self.rank, self.world_size = int(rank), int(world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = int(epoch)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        rng = np.random.default_rng([self.seed, self.epoch])
        if self.block == 1:
            return rng.permutation(self.n)
        starts = rng.permutation(np.arange(0, self.n, self.block))
        order = (starts[:, None] + np.arange(self.block)).ravel()
        order = order[order < self.n]  # the last block may be short
        window = 8 * self.block
        for s in range(0, self.n, window):
            rng.shuffle(order[s : s + window])
        return order

    def _batches(self) -> Iterator[np.ndarray]:
        """This rank's batches of the epoch, each sorted, made one at a time from one O(N) ordering."""
        order = self._order()
        if self.world_size > 1:
            per_step = self.batch_size * self.world_size
            n_steps = -(-self.n // per_step)
            mine = np.resize(order, n_steps * per_step).reshape(n_steps, self.world_size, self.batch_size)
            order = mine[:, self.rank].ravel()
        for s in range(0, len(order), self.batch_size):
            yield np.sort(order[s : s + self.batch_size])

    def __iter__(self) -> Iterator[list[int]]:
        for b in self._batches():
            yield b.tolist()

    def __len__(self) -> int:
        if self.world_size > 1:
            return -(-self.n // (self.batch_size * self.world_size))
        return -(-self.n // self.batch_size)


def make_loader(data: ParticleData, sampler, num_workers: int = 0, prefetch_factor: int = 4,
                pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader over ``data`` whose batches are ``sampler``'s index lists (dicts of tensors).

    With a block-shuffling ``sampler`` over a lazy stack and at most one worker (one reader
    sees every batch), whole blocks are read ahead (:func:`read_ahead`).
    """
    if num_workers <= 1:
        data = read_ahead(data, sampler)
    kwargs = {}
    if num_workers > 0:
        kwargs.update(prefetch_factor=prefetch_factor, persistent_workers=False)
    return torch.utils.data.DataLoader(
        data, batch_sampler=sampler, num_workers=num_workers, collate_fn=_keep_batch,
        pin_memory=pin_memory, **kwargs,
    )


def sample_indices(n: int, k: int, seed: int) -> np.ndarray:
    """``min(n, k)`` sorted distinct indices drawn reproducibly."""
    rng = np.random.default_rng([seed, 12345])
    return np.sort(rng.choice(n, size=min(n, k), replace=False))


def model_inputs(lattice, images: torch.Tensor, trans_px: torch.Tensor | None, enc_input: str = "hartley"):
    """Centre a batch in Hartley space; return ``(encoder_input, target)``.

    Parameters
    ----------
    lattice
        :class:`~cryolatent.forward.lattice.Lattice` of the images.
    images
        ``(B, D+1, D+1)`` normalised Hartley images.
    trans_px
        ``(B, 2)`` particle offsets in pixels (None: already centred).
    enc_input
        ``"hartley"``: the masked pixels; ``"real"``: the centred real-space image,
        flattened, scaled to unit variance.

    Returns
    -------
    ``encoder_input (B, M or D*D)``, ``target (B, M)`` masked pixels.
    """
    B = images.shape[0]
    if enc_input == "hartley":
        y = lattice.select(images)
        if trans_px is not None:
            y = lattice.translate(y, trans_px)
        return y, y
    full = images.reshape(B, -1)
    if trans_px is not None:
        full = lattice.translate(full, trans_px, masked=False)
    full = full.reshape(B, lattice.size, lattice.size)
    real = iht_center(full[:, :-1, :-1], ndim=2) * lattice.D
    return real.reshape(B, -1), lattice.select(full)
