from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from cryolatent.errors import InputError
from cryolatent.training.data import ArrayStack
from cryolatent.training.evaluate import embed, eval_volumes, load_model, read_z
from cryolatent.training.loop import train
from cryolatent.volumes import run_decoder

from _nn_helpers import make_blob_dataset, one_thread, tiny_config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    images, rots, trans, ctf, _ = make_blob_dataset(24, 16, seed=5)
    out = tmp_path_factory.mktemp("ev") / "out"
    with one_thread():
        train(tiny_config("memory", epochs=1), out, stack=ArrayStack(images, (rots, trans), ctf), progress=False)
    return out, ArrayStack(images, (rots, trans), ctf)


def test_eval_volumes_shapes_flip_downsample(run_dir):
    out, _ = run_dir
    z = np.array([[0.0, 0.0], [1.0, -1.0]], np.float32)
    vols = eval_volumes(out, z)
    assert vols.shape == (2, 16, 16, 16) and vols.dtype == np.float32
    model, ckpt = load_model(out)
    direct = model.decoder.eval_volume(torch.from_numpy(z[1]), 16, float(ckpt["norm"])).numpy()
    assert np.allclose(vols[1], direct)
    assert np.array_equal(eval_volumes(out, z, flip=True), vols[:, ::-1])
    assert eval_volumes(out, z[0], downsample=8).shape == (1, 8, 8, 8)
    with pytest.raises(InputError, match="zdim"):
        eval_volumes(out, np.zeros((1, 3)))
    with pytest.raises(InputError, match="downsample"):
        eval_volumes(out, z, downsample=7)


@pytest.mark.filterwarnings("ignore:the pixel size of run")
def test_run_decoder_is_eval_volumes_with_the_run_pixel_size(run_dir):
    out, _ = run_dir
    z = np.array([[0.5, -0.5]], np.float32)
    dec = run_decoder(out, device="cpu")
    assert np.array_equal(dec(z), eval_volumes(out, z))
    # in-memory particles have no pixel size: unknown, not made up
    assert dec.apix is None and run_decoder(out, downsample=8).apix is None
    assert run_decoder(out, apix=3.0).apix == 3.0
    assert run_decoder(out, particle_apix=1.5, downsample=8).apix == 3.0  # scaled for the box
    # a preview: the same volume from the lattice cropped to half the box
    D = dec(z).shape[-1]
    coarse = run_decoder(out, preview=D // 2).preview
    assert np.array_equal(coarse(z), eval_volumes(out, z, downsample=D // 2)) and coarse(z).shape[-1] == D // 2
    assert run_decoder(out).preview is None
    assert run_decoder(out, preview=True).preview is None  # a small box and a narrow decoder: no need
    with pytest.raises(ValueError, match="preview box"):
        run_decoder(out, preview=D)


def test_embed_in_memory_stack_matches_z(run_dir):
    out, stack = run_dir
    mu, logvar = embed(out, stack, return_logvar=True)
    assert np.allclose(mu, np.load(out / "z.npy"), atol=1e-5)
    assert np.allclose(logvar, np.load(out / "z_logvar.npy"), atol=1e-5)


def test_read_z_formats(tmp_path):
    z = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.save(tmp_path / "z.npy", z)
    np.savetxt(tmp_path / "z.txt", z)
    with open(tmp_path / "z.pkl", "wb") as fh:
        pickle.dump(z, fh)
    for name in ("z.npy", "z.txt", "z.pkl"):
        assert np.array_equal(read_z(tmp_path / name), z)
    (tmp_path / "bad.txt").write_text("a b\n")
    with pytest.raises(InputError):
        read_z(tmp_path / "bad.txt")
