"""Training configuration: the single source of defaults, help texts and presets.

Every setting is a field of :class:`DataConfig`, :class:`ModelConfig`,
:class:`OptimConfig` or :class:`RuntimeConfig` whose ``metadata["help"]``
describes it; :data:`SETTINGS` lists them by name (names are unique across the
sections) and ``cryolatent train`` generates its flags from them.

The plain defaults (``TrainConfig()``) are cryoDRGN's paper defaults: encoder
and decoder of 3 x 1024.  A *preset* (:data:`PRESETS`) is a named partial
override of them: ``small`` (3 x 256: the benchmark, the demo, the notebooks),
``tiny`` (2 x 128: CI), ``paper`` (3 x 1024, the defaults spelled out), ``fast``
(the training levers the benchmark kept: a narrower decoder, a higher then
decaying learning rate, pixel subsampling).
Precedence everywhere: defaults < preset < a settings file < explicit values.

``OUTDIR/config.yaml`` (see :meth:`TrainConfig.to_yaml`) records every
hyperparameter, the data paths and the ``cryolatent`` version of a run.

This module is long because it holds every setting with its help text, the
presets and the checks in one place (the CLI and settings files read them here).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cryolatent._version import __version__
from cryolatent.errors import InputError
from cryolatent.nn.encodings import PE_TYPES
from cryolatent.outputs import atomic_path


def _setting(default: Any, help: str, *, path: bool = False) -> Any:
    """A dataclass field with its help text (``path``: a file or folder, made absolute by the CLI)."""
    return field(default=default, metadata={"help": help, "path": path})


@dataclass
class DataConfig:
    """Where the particles are and how they are preprocessed."""

    particles: str = _setting("", "particle file (.mrcs, .txt, .star, .cs)", path=True)
    poses: str | None = _setting(None, "pose file (.pkl, .star, .cs); default: what the particle file holds",
                                 path=True)
    ctf: str | None = _setting(None, "CTF file (.pkl, .star, .cs); default: what the particle file holds",
                               path=True)
    ind: str | None = _setting(None, "index file (.pkl, .npy, .txt) of the particles to use (0-based)",
                               path=True)
    datadir: str | None = _setting(None, "folder of the stacks named in a .star/.cs", path=True)
    invert_data: bool = _setting(True, "multiply the images by -1 (white-protein particles, cryoDRGN's "
                                       "default); --uninvert-data for dark-protein particles")
    window: bool = _setting(True, "soft circular real-space window on the images")
    window_in: float = _setting(0.85, "window: radius (fraction of D/2) inside which the images are kept")
    window_out: float = _setting(0.99, "window: radius (fraction of D/2) outside which the images are zero")
    norm_samples: int = _setting(1000, "particles sampled to estimate the normalising standard deviation")
    shuffle_block: int = _setting(1, "shuffle blocks of this many consecutive particles (1: a full shuffle; "
                                     "larger values read on-disk stacks in longer runs)")


@dataclass
class ModelConfig:
    """Network sizes and inputs."""

    zdim: int = _setting(8, "latent dimension (0: a homogeneous reconstruction without encoder)")
    enc_dim: int = _setting(1024, "encoder width")
    enc_layers: int = _setting(3, "encoder hidden-to-hidden layers")
    dec_dim: int = _setting(1024, "decoder width")
    dec_layers: int = _setting(3, "decoder hidden-to-hidden layers")
    pe_type: str = _setting("gaussian", f"positional encoding: {', '.join(PE_TYPES)}")
    pe_dim: int | None = _setting(None, "positional-encoding frequencies per axis; default: D // 2")
    grid_levels: int = _setting(4, "pe_type grid: feature-grid levels (resolutions geometric from 8 to grid_res)")
    grid_features: int = _setting(4, "pe_type grid: feature channels per level")
    grid_res: int | None = _setting(None, "pe_type grid: finest level's points per unit frequency (default D)")
    enc_input: str = _setting("hartley", "encoder input: hartley (masked Hartley pixels, cryoDRGN's) or "
                                         "real (the centred real-space image)")
    ignore_dc: bool = _setting(True, "leave the zero-frequency pixel (the image mean, which depends on the "
                                     "background) out of the encoder input and the loss, as cryoDRGN; "
                                     "--include-dc keeps it. Configurations written before this setting "
                                     "existed read as off")


@dataclass
class OptimConfig:
    """Optimisation."""

    epochs: int = _setting(20, "training epochs")
    batch_size: int = _setting(8, "particles per batch (per process under DDP)")
    lr: float = _setting(1e-4, "Adam learning rate")
    weight_decay: float = _setting(0.0, "Adam weight decay")
    grid_lr: float = _setting(1e-2, "Adam learning rate of the feature grids (pe_type grid)")
    grid_weight_decay: float = _setting(0.0, "Adam weight decay (L2) of the feature grids (pe_type grid)")
    grid_lr_decay: float = _setting(1.0, "the grids' learning rate is multiplied by this after every epoch (1: constant)")
    lr_decay_epochs: float = _setting(0.0, "over the last this-many epochs every learning rate falls along a half "
                                           "cosine to lr_final times its value, averaging out the gradient noise "
                                           "of low-SNR data (0: constant)")
    lr_final: float = _setting(0.1, "the learning rates' factor at the end of the decay (lr_decay_epochs)")
    beta: float | None = _setting(None, "KL weight; default: 1 / zdim")
    beta_warmup: float = _setting(0.0, "epochs over which the KL weight ramps linearly from 0 to beta "
                                       "(KL annealing; 0: a constant beta, as cryoDRGN)")
    march_epochs: float = _setting(0.0, "frequency marching: epochs over which the rendered radius grows from "
                                        "march_start x Nyquist to Nyquist (0: off, every pixel from the start)")
    march_start: float = _setting(0.25, "frequency marching: the first batches' radius, as a fraction of Nyquist")
    pixel_fraction: float = _setting(1.0, "stochastic frequency subsampling: render about this fraction of the "
                                          "slice per batch, the sampled pixels weighted by the inverse of their "
                                          "probability so that the loss stays unbiased (1: every pixel)")
    keep_radius: float = _setting(0.25, "stochastic subsampling: pixels within this fraction of Nyquist are "
                                        "always rendered")
    seed: int = _setting(0, "seeds model initialisation, shuffling and sampling")
    diverge_factor: float = _setting(1e4, "stop when a batch loss exceeds this multiple of the first "
                                          "batch's loss")


@dataclass
class RuntimeConfig:
    """Where and how the computation runs (does not change the model)."""

    device: str = _setting("auto", "auto (CUDA when available), cpu, cuda, cuda:1, ...")
    amp: bool = _setting(True, "mixed precision (bf16 autocast; fp16 with loss scaling on GPUs without bf16)")
    num_workers: int = _setting(0, "DataLoader worker processes reading and preprocessing images")
    prefetch_factor: int = _setting(4, "batches each DataLoader worker prepares ahead")
    compile: bool = _setting(False, "torch.compile the model")


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "runtime": RuntimeConfig}


@dataclass(frozen=True)
class Setting:
    """One configuration field, as the CLI and settings files see it.

    Attributes
    ----------
    section, name
        Where it lives: ``TrainConfig.<section>.<name>``.
    type
        ``bool``, ``int``, ``float`` or ``str``.
    optional
        Whether ``None`` is allowed (it means "derived": ``beta = 1 / zdim``...).
    default, help
        The default and the help text (from the field's metadata).
    path
        A file or folder name.
    """

    section: str
    name: str
    type: type
    optional: bool
    default: Any
    help: str
    path: bool

    def coerce(self, value: Any, source: str | os.PathLike | None = None) -> Any:
        """``value`` checked against the type (ints for floats, numeric strings accepted)."""
        if value is None:
            if self.optional:
                return None
        elif self.type is bool:
            if isinstance(value, bool):
                return value
        elif self.type is str:
            if isinstance(value, (str, os.PathLike)):
                return os.fspath(value)
        elif isinstance(value, bool):
            pass  # not a number, although Python says it is an int
        elif isinstance(value, (int, float)) and (self.type is float or float(value).is_integer()):
            return self.type(value)
        elif isinstance(value, str):  # YAML reads 1e-4 (no dot) as text
            try:
                return self.type(value)
            except ValueError:
                pass
        kind = {bool: "true or false", int: "an integer", float: "a number", str: "text"}[self.type]
        raise InputError(f"{self.section}.{self.name} must be {kind}, got {value!r}", source)


def _settings() -> dict[str, Setting]:
    out: dict[str, Setting] = {}
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            args = [a for a in typing.get_args(hints[f.name]) if a is not type(None)]
            base = args[0] if args else hints[f.name]
            assert f.name not in out and f.name not in SECTIONS, f"setting name {f.name!r} is not unique"
            out[f.name] = Setting(section, f.name, base, len(args) > 0, f.default, f.metadata["help"],
                                  bool(f.metadata.get("path")))
    return out


SETTINGS: dict[str, Setting] = _settings()
"""Every setting by its (unique) name, in section order."""


@dataclass(frozen=True)
class Preset:
    """A named partial override of the defaults (flat setting names)."""

    name: str
    help: str
    values: Mapping[str, Any]


def _widths(dim: int, layers: int) -> dict[str, int]:
    return {"enc_dim": dim, "enc_layers": layers, "dec_dim": dim, "dec_layers": layers}


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("paper", "encoder and decoder 3 x 1024, cryoDRGN's default (the plain defaults)", _widths(1024, 3)),
    Preset("small", "encoder and decoder 3 x 256 (the benchmark, the demo and the notebooks)", _widths(256, 3)),
    Preset("tiny", "encoder and decoder 2 x 128 (CI's notebooks on the tiny dataset)", _widths(128, 2)),
    Preset("fast", "encoder 3 x 256, decoder 3 x 128, learning rate 3e-4 falling to a tenth over the last 10 "
                   "epochs, pixel fraction 0.35 a batch (unbiased): cryoDRGN's final maps in under a tenth of its "
                   "time on the benchmark (bench/RESULTS.md)",
           {**_widths(256, 3), "dec_dim": 128, "lr": 3e-4, "lr_decay_epochs": 10.0, "lr_final": 0.1,
            "pixel_fraction": 0.35, "keep_radius": 0.25}),
)}


def preset_values(name: str) -> Mapping[str, Any]:
    """The overrides of preset ``name``; unknown names are an :class:`InputError`."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[name].values


def _flatten(values: Mapping[str, Any], source: str | os.PathLike | None = None) -> dict[str, Any]:
    """Checked ``{name: value}`` of sectioned (``{"model": {"zdim": 4}}``) and/or flat (``{"zdim": 4}``) settings."""
    if not isinstance(values, Mapping):
        raise InputError("settings are not a mapping", source)
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if key in SECTIONS:
            value = value or {}
            if not isinstance(value, Mapping):
                raise InputError(f"the {key} section is not a mapping", source)
            unknown = [n for n in value if n not in SETTINGS or SETTINGS[n].section != key]
            if unknown:
                raise InputError(f"unknown {key} setting(s): {', '.join(sorted(map(str, unknown)))}", source)
            items = value.items()
        elif key in SETTINGS:
            items = [(key, value)]
        else:
            raise InputError(f"unknown configuration section or setting {key!r}", source)
        for name, v in items:
            flat[name] = SETTINGS[name].coerce(v, source)
    return flat


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """Settings from a YAML file laid out as ``OUTDIR/config.yaml`` (sections; flat names also work).

    Only the keys present are returned (a partial override); relative paths are
    taken relative to the file's folder. A file with a ``version`` key is a
    run's ``config.yaml`` and reads as that run was (``ignore_dc`` off when missing).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such settings file", path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read settings ({' '.join(str(exc).split())})", path) from None
    if not isinstance(data, dict):
        raise InputError("is not a YAML mapping of settings", path)
    version = data.pop("version", None)
    flat = _flatten(data, path)
    if version is not None:
        flat.setdefault("ignore_dc", False)  # runs from before the setting kept the DC pixel
    for name, value in flat.items():
        if SETTINGS[name].path and value:
            flat[name] = os.path.abspath(path.parent / value)
    return flat


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    ``TrainConfig()`` holds cryoDRGN's paper defaults (3 x 1024 networks), kept
    so that ``cryolatent train`` without ``--preset`` trains what cryoDRGN does;
    :meth:`from_preset` and :meth:`for_dataset` start from a preset instead.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    version: str = __version__

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "TrainConfig":
        """The defaults, then preset ``name``, then ``overrides`` (flat setting names: ``zdim=4``)."""
        return cls().update(preset_values(name)).update(overrides)

    @classmethod
    def for_dataset(cls, data_dir: str | os.PathLike, preset: str = "small", **overrides: Any) -> "TrainConfig":
        """A configuration for a folder as ``cryolatent simulate`` writes it.

        Parameters
        ----------
        data_dir
            Folder with ``particles.mrcs``, ``poses.pkl`` and ``ctf.pkl``.
        preset
            Network sizes (see :data:`PRESETS`); ``small`` is 3 x 256.
        **overrides
            Further settings by name, e.g. ``zdim=4, epochs=5, ind="keep.pkl"``.
        """
        d = os.fspath(data_dir)
        files = {"particles": os.path.join(d, "particles.mrcs"), "poses": os.path.join(d, "poses.pkl"),
                 "ctf": os.path.join(d, "ctf.pkl")}
        return cls.from_preset(preset, **files, **overrides)

    def update(self, values: Mapping[str, Any], source: str | os.PathLike | None = None) -> "TrainConfig":
        """Set the given settings in place (sectioned or flat names, type-checked); returns ``self``.

        ``source`` names the file the values come from in error messages.
        """
        for name, value in _flatten(values, source).items():
            setattr(getattr(self, SETTINGS[name].section), name, value)
        return self

    @property
    def beta(self) -> float:
        """The KL weight in use (``1 / zdim`` unless set)."""
        if self.optim.beta is not None:
            return float(self.optim.beta)
        return 1.0 / self.model.zdim if self.model.zdim else 0.0

    def validate(self) -> "TrainConfig":
        """Check values; raise :class:`~cryolatent.errors.InputError` on nonsense."""
        d, m, o, r = self.data, self.model, self.optim, self.runtime
        checks = [
            (m.zdim >= 0, f"zdim must be >= 0, got {m.zdim}"),
            (m.enc_dim > 0 and m.dec_dim > 0, "layer widths must be positive"),
            (m.enc_layers >= 0 and m.dec_layers >= 0, "layer counts must be >= 0"),
            (m.pe_type in PE_TYPES, f"unknown pe_type {m.pe_type!r}; choose from {', '.join(PE_TYPES)}"),
            (m.pe_dim is None or m.pe_dim > 0, f"pe_dim must be positive, got {m.pe_dim}"),
            (m.grid_levels >= 1 and m.grid_features >= 1, "grid_levels and grid_features must be >= 1"),
            (m.grid_res is None or (m.grid_res >= 8 and m.grid_res % 2 == 0),
             f"grid_res must be even and >= 8, got {m.grid_res}"),
            (o.grid_lr > 0, f"grid learning rate must be positive, got {o.grid_lr}"),
            (o.grid_weight_decay >= 0, f"grid_weight_decay must be >= 0, got {o.grid_weight_decay}"),
            (0 < o.grid_lr_decay <= 1, f"grid_lr_decay must be in (0, 1], got {o.grid_lr_decay}"),
            (o.lr_decay_epochs >= 0, f"lr_decay_epochs must be >= 0 epochs, got {o.lr_decay_epochs}"),
            (0 < o.lr_final <= 1, f"lr_final must be in (0, 1], got {o.lr_final}"),
            (m.enc_input in ("hartley", "real"), f"enc_input must be 'hartley' or 'real', got {m.enc_input!r}"),
            (o.epochs >= 1, f"epochs must be >= 1, got {o.epochs}"),
            (o.batch_size >= 1, f"batch size must be >= 1, got {o.batch_size}"),
            (o.lr > 0, f"learning rate must be positive, got {o.lr}"),
            (o.beta is None or o.beta >= 0, f"beta must be >= 0, got {o.beta}"),
            (o.beta_warmup >= 0, f"beta_warmup must be >= 0 epochs, got {o.beta_warmup}"),
            (o.diverge_factor > 0, f"diverge_factor must be positive, got {o.diverge_factor}"),
            (o.march_epochs >= 0, f"march_epochs must be >= 0, got {o.march_epochs}"),
            (0 < o.march_start <= 1, f"march_start must be in (0, 1], got {o.march_start}"),
            (0 < o.pixel_fraction <= 1, f"pixel_fraction must be in (0, 1], got {o.pixel_fraction}"),
            (0 <= o.keep_radius <= 1, f"keep_radius must be in [0, 1], got {o.keep_radius}"),
            (r.num_workers >= 0, "num_workers must be >= 0"),
            (r.prefetch_factor >= 1, f"prefetch_factor must be >= 1, got {r.prefetch_factor}"),
            (d.shuffle_block >= 1, "shuffle_block must be >= 1"),
            (d.norm_samples >= 1, f"norm_samples must be >= 1, got {d.norm_samples}"),
            (0 <= d.window_in < d.window_out,
             f"window radii must satisfy 0 <= window_in < window_out, got {d.window_in} and {d.window_out}"),
            (bool(d.particles), "no particle file given"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults.

        A ``model`` section without ``ignore_dc`` was written before the setting
        existed, when the DC pixel was kept: it reads as ``ignore_dc = False``.
        """
        d = dict(d or {})
        version = d.pop("version", None)
        config = cls().update(d)
        if "model" in d and "ignore_dc" not in (d["model"] or {}):
            config.model.ignore_dc = False
        if version is not None:
            config.version = str(version)
        return config

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """YAML text of the configuration; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            with atomic_path(path, force=True) as tmp:
                tmp.write_text(text)
        return text

    @classmethod
    def from_yaml(cls, text_or_path: str | os.PathLike) -> "TrainConfig":
        """Read a configuration from YAML text or a ``.yaml`` file."""
        src = os.fspath(text_or_path)
        is_file = "\n" not in src and os.path.isfile(src)
        try:
            text = open(src).read() if is_file else src
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read configuration ({exc})", src if is_file else None) from None
        if not isinstance(data, dict):
            raise InputError("configuration is not a YAML mapping", src if is_file else None)
        return cls.from_dict(data)
