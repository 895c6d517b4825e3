from __future__ import annotations

import numpy as np
import pytest
import torch

from cryolatent.errors import InputError
from cryolatent.forward.lattice import Lattice
from cryolatent.training.config import TrainConfig
from cryolatent.training.data import (
    ArrayStack,
    EpochBatchSampler,
    ParticleData,
    Preprocessor,
    effective_ctf,
    make_loader,
    model_inputs,
    window_mask,
)

from _nn_helpers import make_blob_dataset


def test_config_yaml_round_trip(tmp_path):
    cfg = TrainConfig()
    cfg.data.particles = "p.mrcs"
    cfg.model.zdim = 4
    cfg.optim.lr = 3e-4
    path = tmp_path / "c.yaml"
    cfg.to_yaml(path)
    back = TrainConfig.from_yaml(path)
    assert back == cfg
    assert TrainConfig.from_yaml(cfg.to_yaml()) == cfg
    assert back.beta == pytest.approx(0.25)


def test_dc_pixel_setting_and_old_configs():
    from cryolatent.training.model import build_from_config

    assert TrainConfig().model.ignore_dc  # cryoDRGN's default
    old = TrainConfig.from_dict({"model": {"zdim": 2}})  # written before the setting existed
    assert old.model.ignore_dc is False
    for ignore in (True, False):
        cfg = TrainConfig()
        cfg.model.zdim, cfg.model.enc_dim, cfg.model.dec_dim = 2, 8, 8
        cfg.model.ignore_dc = ignore
        model = build_from_config(TrainConfig.from_yaml(cfg.to_yaml()), 16)
        lat = model.lattice
        centre = 17 * 17 // 2
        assert bool(lat.mask[centre]) is not ignore
        assert lat.n_masked == int(lat.mask.sum()) and model.encoder.in_dim == lat.n_masked


def test_config_rejects_unknown_and_bad_values():
    with pytest.raises(InputError, match="unknown model setting"):
        TrainConfig.from_dict({"model": {"zdimm": 3}})
    cfg = TrainConfig()
    cfg.data.particles = "x"
    cfg.model.pe_type = "nope"
    with pytest.raises(InputError, match="pe_type"):
        cfg.validate()


def test_window_and_preprocessing():
    w = window_mask(32)
    assert w[16, 16] == 1 and w[0, 0] == 0 and float(w.max()) == 1.0
    pre = Preprocessor(16, invert=True, window=False)
    img = np.random.default_rng(0).normal(size=(3, 16, 16)).astype(np.float32)
    h = pre(img)
    assert h.shape == (3, 17, 17)
    assert torch.allclose(h[:, 0], h[:, -1]) and torch.allclose(h[:, :, 0], h[:, :, -1])
    plain = Preprocessor(16, invert=False, window=False)
    assert torch.allclose(h, -plain(img))
    std = pre.fit_std(img)
    assert pre(img).std().item() == pytest.approx(1.0, rel=1e-3) and std > 0


def test_effective_ctf_for_downsampled_images():
    ctf = np.array([[64, 1.5, 1e4, 1e4, 0, 300, 2.7, 0.1, 0]], np.float32)
    eff = effective_ctf(ctf, 32)
    assert eff[0, 0] == 32 and eff[0, 1] == pytest.approx(3.0)
    assert np.array_equal(effective_ctf(eff, 32), eff)


def test_sampler_is_reproducible_and_complete():
    s = EpochBatchSampler(50, 8, seed=3)
    s.set_epoch(1)
    a = list(s)
    b = list(s)
    s.set_epoch(2)
    c = list(s)
    assert a == b and a != c
    assert len(a) == len(s) == 7
    assert sorted(i for batch in a for i in batch) == list(range(50))
    assert all(batch == sorted(batch) for batch in a)


def test_sampler_blocks():
    s = EpochBatchSampler(100, 10, seed=0, block=10)
    flat = sorted(i for batch in s for i in batch)
    assert flat == list(range(100))


def test_sampler_splits_ranks_evenly():
    n, B, world = 45, 4, 2
    parts = [list(EpochBatchSampler(n, B, seed=1, rank=r, world_size=world)) for r in range(world)]
    assert len(parts[0]) == len(parts[1]) == 6
    seen = {i for part in parts for batch in part for i in batch}
    assert seen == set(range(n))


def test_dataset_batches_and_workers():
    images, rots, trans, ctf, _ = make_blob_dataset(20, 16)
    stack = ArrayStack(images, (rots, trans), ctf)
    data = ParticleData(stack, Preprocessor(16))
    sampler = EpochBatchSampler(20, 6, seed=0)
    batches = list(make_loader(data, sampler))
    assert batches[0]["images"].shape == (6, 17, 17)
    assert batches[0]["rots"].shape == (6, 3, 3) and batches[0]["ctf"].shape == (6, 9)
    assert torch.allclose(batches[0]["trans_px"], torch.from_numpy(trans[batches[0]["index"].numpy()] * 16))
    with_workers = list(make_loader(data, sampler, num_workers=1, prefetch_factor=2))
    assert all(torch.equal(a["images"], b["images"]) for a, b in zip(batches, with_workers))


def test_model_inputs_centre_the_images():
    lat = Lattice(16)
    images = torch.randn(2, 17, 17)
    t = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    x, target = model_inputs(lat, images, t, "hartley")
    assert torch.equal(x, target) and x.shape == (2, lat.n_masked)
    assert torch.allclose(target, lat.translate(lat.select(images), t))
    xr, target_r = model_inputs(lat, images, t, "real")
    assert xr.shape == (2, 256) and torch.allclose(target_r, target, atol=1e-5)


def _reference_batches(n, B, seed, epoch, block=1, rank=0, world=1):
    """The sampler's batches as first written (every batch of the epoch made at once)."""
    rng = np.random.default_rng([seed, epoch])
    if block == 1:
        order = rng.permutation(n)
    else:
        starts = rng.permutation(np.arange(0, n, block))
        order = np.concatenate([np.arange(s, min(s + block, n)) for s in starts])
        for s in range(0, n, 8 * block):
            rng.shuffle(order[s : s + 8 * block])
    if world > 1:
        steps = -(-n // (B * world))
        mine = np.resize(order, steps * B * world).reshape(steps, world, B)[:, rank]
        return [sorted(b.tolist()) for b in mine]
    return [sorted(order[s : s + B].tolist()) for s in range(0, n, B)]


@pytest.mark.parametrize("n, B, block, world", [(101, 8, 1, 1), (101, 8, 3, 1), (1000, 16, 10, 1),
                                                (97, 5, 4, 3), (64, 8, 8, 2)])
def test_sampler_batches_are_unchanged(n, B, block, world):
    for rank in range(world):
        s = EpochBatchSampler(n, B, seed=7, block=block, rank=rank, world_size=world)
        for epoch in (1, 2):
            s.set_epoch(epoch)
            assert list(s) == _reference_batches(n, B, 7, epoch, block, rank, world)


@pytest.mark.parametrize("block", [1, 2])
def test_sampler_makes_batches_one_at_a_time(block):
    """An epoch of 10^6 particles holds one ordering (8 bytes a particle), not a list of every batch."""
    import tracemalloc

    n = 1_000_000
    s = EpochBatchSampler(n, 8, seed=0, block=block)
    s.set_epoch(1)
    tracemalloc.start()
    try:
        it = iter(s)
        first = next(it)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == 8
    assert held < 1.5 * 8 * n, f"{held / 2**20:.1f} MiB held after the first batch"
    assert peak < 3 * 8 * n, f"{peak / 2**20:.1f} MiB peak to make the first batch"


def _lazy_stack(tmp_path, n, D=8):
    from cryolatent.io import read_particles, write_mrcs

    images = np.random.default_rng(0).normal(size=(n, D, D)).astype(np.float32)
    write_mrcs(tmp_path / "p.mrcs", images)
    stack = read_particles(tmp_path / "p.mrcs")
    rots = np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3)).copy()
    stack.poses = (rots, np.zeros((n, 2), np.float32))
    return stack, images


def test_block_shuffle_reads_whole_blocks(tmp_path, monkeypatch):
    """With shuffle_block > 1 an epoch reads each block once, not each image, and the batches are unchanged."""
    import cryolatent.io.particles as particles

    n, block = 512, 32
    stack, images = _lazy_stack(tmp_path, n)
    reads = []
    real = particles._pread_into

    def counted(fd, buf, offset, path):
        reads.append(buf.nbytes)
        real(fd, buf, offset, path)

    monkeypatch.setattr(particles, "_pread_into", counted)
    pre = Preprocessor(8)
    sampler = EpochBatchSampler(n, 8, seed=1, block=block)
    sampler.set_epoch(3)
    lazy = list(make_loader(ParticleData(stack, pre), sampler))
    assert len(reads) <= n // block + 2, f"{len(reads)} reads for {n // block} blocks"
    assert sum(reads) == images.nbytes  # every image read once
    memory = list(make_loader(ParticleData(ArrayStack(images, stack.poses), pre), sampler))
    in_worker = list(make_loader(ParticleData(stack, pre), sampler, num_workers=1, prefetch_factor=2))
    assert len(lazy) == len(memory) == len(in_worker) == n // 8
    for a, b, c in zip(lazy, memory, in_worker):
        assert torch.equal(a["index"], b["index"]) and torch.equal(a["images"], b["images"])
        assert torch.equal(c["images"], b["images"])

    reads.clear()
    full = list(make_loader(ParticleData(stack, pre), EpochBatchSampler(n, 8, seed=1)))
    assert len(full) == n // 8 and len(reads) > n // 2  # a full shuffle reads image by image


def test_read_ahead_only_for_block_shuffled_lazy_stacks(tmp_path):
    from cryolatent.training.data import BlockReadAhead, read_ahead

    stack, images = _lazy_stack(tmp_path, 64)
    data = ParticleData(stack, Preprocessor(8))
    ahead = read_ahead(data, EpochBatchSampler(64, 8, block=4))
    assert isinstance(ahead.stack, BlockReadAhead) and data.stack is stack  # a copy; data unchanged
    assert read_ahead(data, EpochBatchSampler(64, 8)) is data
    assert read_ahead(data, EpochBatchSampler(64, 8, block=4, shuffle=False)) is data
    assert read_ahead(data, EpochBatchSampler(64, 8, block=4, rank=1, world_size=2)) is data
    assert read_ahead(data, EpochBatchSampler(64, 8, block=4), max_bytes=15 * 4 * 8 * 8 * 4) is data
    in_memory = ParticleData(ArrayStack(images, stack.poses), Preprocessor(8))
    assert read_ahead(in_memory, EpochBatchSampler(64, 8, block=4)) is in_memory
    reader = BlockReadAhead(stack, 4, slots=16)
    for idx in ([5, 6, 63], [0, 1, 2, 3], [62, 9, 9], list(range(0, 64, 3))):  # the last: too many blocks
        np.testing.assert_array_equal(reader.images(idx), images[idx])
    assert len(reader._blocks) <= 16
