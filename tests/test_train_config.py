"""The training configuration: field help, presets, settings files; training/'s import layout."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from cryolatent.errors import InputError
from cryolatent.training.config import (
    PRESETS,
    SECTIONS,
    SETTINGS,
    ModelConfig,
    TrainConfig,
    read_settings,
)

TRAINING = Path(__file__).resolve().parents[1] / "cryolatent" / "training"


def test_every_field_has_help_and_a_unique_setting_name():
    fields = [(section, f) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)]
    assert len(fields) == len(SETTINGS) > 25
    for section, f in fields:
        s = SETTINGS[f.name]
        assert s.section == section and s.default == f.default
        assert len(f.metadata["help"].split()) >= 2, f.name
    assert SETTINGS["beta"].optional and SETTINGS["beta"].type is float
    assert SETTINGS["amp"].type is bool and not SETTINGS["amp"].optional
    assert {n for n, s in SETTINGS.items() if s.path} == {"particles", "poses", "ctf", "ind", "datadir"}


def test_presets_override_network_sizes_and_fast_its_levers_too():
    assert set(PRESETS) == {"paper", "small", "tiny", "fast"}
    small = TrainConfig.from_preset("small")
    assert (small.model.enc_dim, small.model.enc_layers, small.model.dec_dim, small.model.dec_layers) == (256, 3, 256, 3)
    tiny = TrainConfig.from_preset("tiny", zdim=4)
    assert (tiny.model.enc_dim, tiny.model.enc_layers, tiny.model.zdim) == (128, 2, 4)
    # the plain defaults are cryoDRGN's paper sizes, and 'paper' spells them out
    assert TrainConfig.from_preset("paper") == TrainConfig()
    assert ModelConfig().enc_dim == 1024
    small.model.enc_dim = small.model.dec_dim = 1024
    assert small == TrainConfig()
    # 'fast' is 'small' with a decoder half as wide, a higher, then decaying learning rate and pixel subsampling
    fast = TrainConfig.from_preset("fast")
    assert (fast.model.dec_dim, fast.optim.lr, fast.optim.pixel_fraction) == (128, 3e-4, 0.35)
    assert (fast.optim.lr_decay_epochs, fast.optim.lr_final) == (10, 0.1)
    fast.model.dec_dim, fast.optim.lr, fast.optim.pixel_fraction = 256, 1e-4, 1.0
    fast.optim.lr_decay_epochs = 0
    small.model.enc_dim = small.model.dec_dim = 256
    assert fast == small
    with pytest.raises(InputError, match="unknown preset 'huge'; choose from paper, small, tiny, fast"):
        TrainConfig.from_preset("huge")


def test_for_dataset_uses_a_preset(tmp_path):
    cfg = TrainConfig.for_dataset(tmp_path, epochs=5, ind=tmp_path / "keep.pkl")
    assert cfg.data.particles == str(tmp_path / "particles.mrcs") and cfg.data.ctf == str(tmp_path / "ctf.pkl")
    assert cfg.data.ind == str(tmp_path / "keep.pkl") and cfg.optim.epochs == 5
    assert cfg.model == TrainConfig.from_preset("small").model
    assert TrainConfig.for_dataset(tmp_path, "tiny").model.enc_layers == 2


def test_update_checks_names_and_types():
    cfg = TrainConfig().update({"model": {"zdim": 3}, "lr": "1e-3", "epochs": 4.0, "weight_decay": 0})
    assert cfg.model.zdim == 3 and cfg.optim.lr == 1e-3 and cfg.optim.epochs == 4
    assert isinstance(cfg.optim.weight_decay, float) and isinstance(cfg.optim.epochs, int)
    for bad, message in (({"zdim": 1.5}, "model.zdim must be an integer"), ({"amp": 1}, "runtime.amp must be true"),
                         ({"lr": "fast"}, "optim.lr must be a number"), ({"zdim": None}, "model.zdim must be"),
                         ({"model": {"lr": 1}}, "unknown model setting"), ({"nope": 1}, "'nope'")):
        with pytest.raises(InputError, match=message):
            TrainConfig().update(bad)
    assert TrainConfig().update({"beta": None}).optim.beta is None


def test_read_settings_partial_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "run.yaml"
    path.write_text("data:\n  particles: data/p.mrcs\n  ctf: /abs/ctf.pkl\nmodel:\n  enc_dim: 64\n"
                    "optim:\n  lr: 1e-3\n")
    got = read_settings(path)
    assert got == {"particles": str(tmp_path / "sub" / "data" / "p.mrcs"), "ctf": "/abs/ctf.pkl",
                   "enc_dim": 64, "lr": 1e-3}
    # a run's config.yaml reads as that run was: from before ignore_dc existed, the DC pixel was kept
    text = TrainConfig().update({"particles": "/p.mrcs"}).to_yaml()
    assert "  ignore_dc: true\n" in text
    (tmp_path / "old.yaml").write_text(text.replace("  ignore_dc: true\n", ""))
    assert read_settings(tmp_path / "old.yaml")["ignore_dc"] is False
    (tmp_path / "bad.yaml").write_text("model:\n  zdimm: 3\n")
    with pytest.raises(InputError, match=r"bad\.yaml: unknown model setting\(s\): zdimm"):
        read_settings(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="missing.yaml: no such settings file"):
        read_settings(tmp_path / "missing.yaml")


def test_validate_new_settings():
    cfg = TrainConfig().update({"particles": "p.mrcs"})
    for name, value, message in (("window_in", 0.99, "window radii"), ("prefetch_factor", 0, "prefetch_factor"),
                                 ("norm_samples", 0, "norm_samples"), ("diverge_factor", 0.0, "diverge_factor")):
        bad = TrainConfig().update({"particles": "p.mrcs", name: value})
        with pytest.raises(InputError, match=message):
            bad.validate()
    assert cfg.validate() is cfg


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """cryolatent modules imported by ``path``: (all of them, the function-local ones)."""
    everywhere, local = set(), []
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cryolatent"):
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("cryolatent")]
        else:
            continue
        everywhere.update(names)
        if id(node) not in top and names:
            local += names
    return everywhere, local


def test_training_imports_go_one_way():
    order = ["config", "model", "run", "evaluate", "loop"]  # each imports only modules to its left
    for i, name in enumerate(order):
        everywhere, local = _imports(TRAINING / f"{name}.py")
        assert not local, f"training/{name}.py imports inside functions: {local}"
        later = {f"cryolatent.training.{m}" for m in order[i + 1:]}
        assert not {n for n in everywhere if n.rsplit(".", 1)[0] in later or n in later}, name
    assert _imports(TRAINING / "run.py")[0] >= {"cryolatent.training.model.build_from_config"}
