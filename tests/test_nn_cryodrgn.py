"""A cryoDRGN decoder's weights in our decoder: the same Fourier values and volumes.

The reference below evaluates a cryoDRGN-shaped state dict the way the cryoDRGN paper and its
documentation describe the decoder: per-axis sin/cos features (or random Fourier features),
``z`` appended, ReLU MLP with residual hidden layers, evaluated on the ``kz <= 0`` half-space
with ``F(k) = conj F(-k)`` elsewhere; the volume is the inverse Hartley transform of
``(a - b) * std`` on the ``D + 1`` lattice, last row dropped. The end-to-end check against
``cryodrgn eval_vol`` itself is in ``bench/check_cryodrgn_decoder.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from cryolatent.errors import InputError
from cryolatent.forward.fourier import iht_center
from cryolatent.nn.cryodrgn import UnsupportedModel, decoder_from_cryodrgn

D = 16


def _geom_freqs(pe_type: str, n: int) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / (n - 1)
    half = D // 2
    start, stop = {"geom_lowf": (half, 1.0), "geom_ft": (D * np.pi, 2 * np.pi), "geom_full": (D * np.pi, 1.0),
                   "geom_nohighf": (half, 2 * np.pi)}[pe_type]
    return start * (stop / start) ** t


class Reference:
    """cryoDRGN's decoder, written from its description (independently of cryolatent's code)."""

    def __init__(self, state, pe_type: str, zdim: int, n_freq: int):
        self.state, self.pe_type, self.zdim, self.n = state, pe_type, zdim, n_freq

    def features(self, k: torch.Tensor) -> torch.Tensor:
        k = k.double()
        if self.pe_type == "gaussian":
            phase = k @ (self.state["decoder.rand_freqs"].double() * (D // 2)).T
            return torch.cat([phase.sin(), phase.cos()], -1)
        freqs = torch.arange(1, D // 2 + 1).double() if self.pe_type == "linear_lowf" else _geom_freqs(self.pe_type, self.n)
        per_axis = [torch.cat([(k[:, a : a + 1] * freqs).sin(), (k[:, a : a + 1] * freqs).cos()], -1) for a in range(3)]
        return torch.cat(per_axis, -1)

    def network(self, k: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        x = self.features(k)
        if self.zdim:
            x = torch.cat([x, z.double().expand(len(x), -1)], -1)
        s = {key: v.double() for key, v in self.state.items()}
        keys = sorted({int(key.split(".")[3]) for key in s if key.startswith("decoder.decoder.main.")})
        for i, idx in enumerate(keys):
            p = f"decoder.decoder.main.{idx}."
            if p + "linear.weight" in s:
                x = x @ s[p + "linear.weight"].T + s[p + "linear.bias"] + x
            else:
                x = x @ s[p + "weight"].T + s[p + "bias"]
            if i < len(keys) - 1:
                x = torch.relu(x)
        return x

    def fourier(self, k: torch.Tensor, z=None) -> torch.Tensor:
        """F(k), complex: evaluated where kz <= 0, conjugated from -k where kz > 0."""
        up = k[:, 2] > 0
        out = self.network(torch.where(up[:, None], -k, k), z)
        f = torch.complex(out[:, 0], out[:, 1])
        return torch.where(up, f.conj(), f)

    def volume(self, z, std: float, n: int = D) -> np.ndarray:
        """The volume of box ``n`` (``--downsample n``: the central ``n + 1`` lattice points, the
        sphere of their Nyquist)."""
        extent = 0.5 * n / D
        ax = torch.linspace(-extent, extent, n + 1, dtype=torch.float64)
        kz, ky, kx = torch.meshgrid(ax, ax, ax, indexing="ij")
        k = torch.stack([kx, ky, kz], -1).reshape(-1, 3)
        keep = (k**2).sum(-1) <= extent**2 + 1e-12
        f = torch.zeros(len(k), dtype=torch.complex128)
        f[keep] = self.fourier(k[keep], z)
        # the kz = 0 plane: cryoDRGN completes it from its first half by symmetry
        plane = (k[:, 2] == 0) & keep
        first = plane & ((k[:, 1] < 0) | ((k[:, 1] == 0) & (k[:, 0] < 0)))  # the origin is kept as evaluated
        idx = torch.nonzero(first).squeeze(1)
        mirror = {tuple(np.round(k[i].numpy(), 6)): i for i in torch.nonzero(plane).squeeze(1).tolist()}
        for i in idx.tolist():
            j = mirror[tuple(np.round(-k[i].numpy(), 6))]
            f[j] = f[i].conj()
        h = (f.real - f.imag).reshape(n + 1, n + 1, n + 1)[:-1, :-1, :-1] * std
        return iht_center(h, ndim=3).numpy()


def _state(pe_type: str, zdim: int, width: int = 24, layers: int = 2, seed: int = 0, n_freq: int | None = None):
    g = torch.Generator().manual_seed(seed)
    n = n_freq or D // 2
    n_feat = 2 * 3 * n
    state = {}
    if pe_type == "gaussian":
        state["decoder.rand_freqs"] = torch.randn(3 * n, 3, generator=g) * 0.5
    elif pe_type == "linear_lowf":
        n_feat = 6 * (D // 2)
    sizes = [(width, n_feat + zdim)] + [(width, width)] * layers + [(2, width)]
    for i, (o, inp) in enumerate(sizes):
        key = f"decoder.decoder.main.{2 * i}." + ("linear." if 0 < i <= layers else "")
        state[key + "weight"] = torch.randn(o, inp, generator=g) / inp**0.5
        state[key + "bias"] = torch.randn(o, generator=g) * 0.1
    state["encoder.main.0.weight"] = torch.zeros(3, 3)  # the encoder is not read
    return state


@pytest.mark.parametrize("pe_type", ["gaussian", "geom_lowf", "geom_ft", "geom_full", "geom_nohighf", "linear_lowf"])
def test_fourier_values_match_the_reference(pe_type):
    zdim = 3
    state = _state(pe_type, zdim, n_freq=5 if pe_type.startswith("geom") else None)
    args = {"pe_type": pe_type, "pe_dim": 5 if pe_type.startswith("geom") else None, "zdim": zdim,
            "domain": "fourier", "activation": "relu"}
    ours = decoder_from_cryodrgn(state, args, D).double()
    ref = Reference(state, pe_type, zdim, 5 if pe_type.startswith("geom") else D // 2)
    g = torch.Generator().manual_seed(1)
    k = torch.rand(500, 3, generator=g, dtype=torch.float64) - 0.5
    z = torch.randn(1, zdim, generator=g, dtype=torch.float64)
    with torch.no_grad():
        a, b = ours.ft(k, z.expand(1, -1))
    np.testing.assert_allclose(torch.complex(a[0], b[0]).numpy(), ref.fourier(k, z).numpy(), rtol=1e-6, atol=1e-6)  # frequencies stored in float32


@pytest.mark.parametrize("pe_type", ["gaussian", "geom_lowf"])
def test_volume_matches_the_reference(pe_type):
    zdim = 2
    state = _state(pe_type, zdim, seed=3)
    args = {"pe_type": pe_type, "zdim": zdim}
    ours = decoder_from_cryodrgn(state, args, D)
    z = torch.tensor([[0.3, -1.2]])
    vol = ours.eval_volume(z, D, norm=2.5).numpy()
    ref = Reference(state, pe_type, zdim, D // 2).volume(z.double(), 2.5)
    corr = np.corrcoef(vol.ravel(), ref.ravel())[0, 1]
    assert corr > 0.99999
    np.testing.assert_allclose(vol, ref, atol=1e-4 * np.abs(ref).max())


def test_a_residual_first_layer_when_input_and_hidden_widths_agree():
    zdim = 0
    n_feat = 6 * (D // 2)  # 48 features, a 48-wide network: cryoDRGN makes the first layer residual
    state = _state("geom_lowf", zdim, width=n_feat)
    w, b = state.pop("decoder.decoder.main.0.weight"), state.pop("decoder.decoder.main.0.bias")
    state["decoder.decoder.main.0.linear.weight"], state["decoder.decoder.main.0.linear.bias"] = w, b
    ours = decoder_from_cryodrgn(state, {"pe_type": "geom_lowf", "zdim": 0}, D).double()
    ref = Reference(state, "geom_lowf", 0, D // 2)
    k = torch.rand(200, 3, dtype=torch.float64) - 0.5
    with torch.no_grad():
        a, b_ = ours.ft(k)
    np.testing.assert_allclose(torch.complex(a, b_).numpy(), ref.fourier(k).numpy(), rtol=1e-6, atol=1e-6)  # frequencies stored in float32


@pytest.mark.parametrize("args, message", [
    ({"pe_type": "gaussian", "zdim": 3, "domain": "hartley"}, "domain"),
    ({"pe_type": "gaussian", "zdim": 3, "activation": "leaky_relu"}, "activation"),
    ({"pe_type": "geom_lowf", "zdim": 3, "pe_dim": 7}, "input columns"),
])
def test_unsupported_models_are_refused_with_the_reason(args, message):
    with pytest.raises(UnsupportedModel, match=message):
        decoder_from_cryodrgn(_state("gaussian", 3), args, D)


def _cryodrgn_folder(tmp_path, state, zdim: int = 3, name: str = "weights.pkl"):
    folder = tmp_path / "00_vae"
    folder.mkdir(exist_ok=True)
    config = {"dataset_args": {"particles": str(tmp_path / "missing.mrcs"), "norm": [0.0, 2.0]},
              "lattice_args": {"D": D + 1, "extent": 0.5, "ignore_DC": True},
              "model_args": {"zdim": zdim, "pe_type": "gaussian", "players": 2, "pdim": 24, "domain": "fourier",
                             "activation": "relu", "feat_sigma": 0.5}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save({"epoch": 1, "model_state_dict": state, "optimizer_state_dict": {}}, folder / name)
    return folder


def test_a_cryodrgn_folder_opens_as_a_run_and_decodes(tmp_path):
    from cryolatent.training.cryodrgn_run import CryodrgnRun, open_run
    from cryolatent.training.evaluate import eval_volumes

    state = _state("gaussian", 3)
    folder = _cryodrgn_folder(tmp_path, state, name="weights.4.pkl")
    torch.save({"epoch": 9, "model_state_dict": _state("gaussian", 3, seed=9)}, folder / "weights.9.pkl")
    run = open_run(folder)
    assert isinstance(run, CryodrgnRun) and run.D == D and run.norm == 2.0 and run.epochs() == [4, 9]
    model, info = run.load_model(epoch=4)
    assert info["D"] == D and info["epoch"] == 1 and model.zdim == 3
    z = np.array([[0.1, 0.2, -0.3]], np.float32)
    ref = Reference(state, "gaussian", 3, D // 2)
    for n in (D, 8):  # the full box, and --downsample 8 as cryoDRGN's eval_vol writes it
        vols = eval_volumes(folder, z, model=model, norm=info["norm"], downsample=n)
        expected = ref.volume(torch.from_numpy(z).double(), 2.0, n)
        np.testing.assert_allclose(vols[0], expected, atol=1e-5 * np.abs(expected).max())
    latest, info9 = run.load_model()  # no weights.pkl: the latest numbered one
    assert info9["epoch"] == 9
    with pytest.raises(InputError, match="no weights for epoch 5 \\(have: 4, 9\\)"):
        run.load_model(epoch=5)


def test_a_hostile_weights_file_is_refused_unrun(tmp_path):
    import os
    import pickle

    from cryolatent.training.cryodrgn_run import CryodrgnRun

    folder = _cryodrgn_folder(tmp_path, _state("gaussian", 3))
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model_state_dict": Evil()}, folder / "weights.pkl")  # a torch file naming os.system
    with pytest.raises(InputError, match="refusing to load: not a cryoDRGN weights file .* nothing in it was run"):
        CryodrgnRun.open(folder).load_model()
    with open(folder / "weights.pkl", "wb") as f:  # a bare pickle
        pickle.dump({"model_state_dict": Evil()}, f)
    with pytest.raises(InputError, match="corrupt or unreadable weights file"):
        CryodrgnRun.open(folder).load_model()
    assert not marker.exists()


def test_eval_vol_latentset_and_decoder_open_a_cryodrgn_folder(tmp_path, capsys):
    import pickle

    import mrcfile

    from cryolatent import cli
    from cryolatent.latent import LatentSet
    from cryolatent.volumes import run_decoder

    state = _state("gaussian", 3)
    folder = _cryodrgn_folder(tmp_path, state)
    z = np.array([[0.1, 0.2, -0.3], [1.0, -1.0, 0.5]], np.float32)
    with open(folder / "z.pkl", "wb") as f:
        pickle.dump(z, f)
    np.save(tmp_path / "z.npy", z)
    assert cli.main(["eval-vol", str(folder), "--zfile", str(tmp_path / "z.npy"), "-o", str(tmp_path / "vols")]) == 0
    assert "pixel size of cryoDRGN run" in capsys.readouterr().err  # its particles are gone: unknown, not 1 A
    ref = Reference(state, "gaussian", 3, D // 2)
    for i in range(2):
        with mrcfile.open(tmp_path / "vols" / f"vol_{i:03d}.mrc") as m:
            assert m.data.shape == (D, D, D) and float(m.voxel_size.x) == 0
            expected = ref.volume(torch.from_numpy(z[i : i + 1]).double(), 2.0)
            assert np.corrcoef(m.data.ravel(), expected.ravel())[0, 1] > 0.99999
    with pytest.warns(UserWarning):  # particles missing: no covariates, but the latent opens
        ls = LatentSet.from_run(folder)
    np.testing.assert_array_equal(ls.z, z)
    with pytest.warns(UserWarning, match="pixel size"):
        decoder = run_decoder(folder)
    with mrcfile.open(tmp_path / "vols" / "vol_001.mrc") as m:
        np.testing.assert_allclose(decoder(z[1:])[0], m.data, atol=1e-5 * np.abs(m.data).max())


def test_the_panel_opens_a_cryodrgn_run(tmp_path):
    import pickle

    from cryolatent.latent import LatentSet
    from cryolatent.volumes import run_decoder
    from cryolatent.widgets.state import PanelState

    state = _state("gaussian", 3)
    folder = _cryodrgn_folder(tmp_path, state)
    z = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    with open(folder / "z.pkl", "wb") as f:
        pickle.dump(z, f)
    with pytest.warns(UserWarning):  # its particles are gone: no covariates, voxel size unknown
        ls = LatentSet.from_run(folder)
        decoder = run_decoder(folder)
    panel = PanelState(ls, decoder)
    vol = panel.set_point(7)
    expected = Reference(state, "gaussian", 3, D // 2).volume(torch.from_numpy(z[7:8]).double(), 2.0)
    np.testing.assert_allclose(vol, expected, atol=1e-5 * np.abs(expected).max())
    assert panel.current_point == 7 and panel.volume is vol
