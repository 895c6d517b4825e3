"""Training configuration: dataclasses that are the single source of defaults.

``OUTDIR/config.yaml`` (see :meth:`TrainConfig.to_yaml`) records every
hyperparameter, the data paths and the ``cryolatent`` version of a run.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from cryolatent import __version__
from cryolatent.errors import InputError


@dataclass
class DataConfig:
    """Where the particles are and how they are preprocessed.

    Attributes
    ----------
    particles, poses, ctf
        Particle file (``.mrcs``/``.txt``/``.star``/``.cs``), pose and CTF files
        (``.pkl``/``.star``/``.cs``; default: what the particle file holds).
    ind
        Index file selecting a subset of particles (0-based).
    datadir
        Folder for relative stack paths in a ``.star``/``.cs``.
    invert_data
        Multiply the images by -1 (white-protein particles; cryoDRGN's default).
    window, window_in, window_out
        Soft circular real-space window and its radii (fractions of ``D/2``).
    norm_samples
        Particles sampled to estimate the normalising standard deviation.
    shuffle_block
        Shuffle blocks of this many consecutive particles (1: a full shuffle;
        larger values read on-disk stacks in longer runs).
    """

    particles: str = ""
    poses: str | None = None
    ctf: str | None = None
    ind: str | None = None
    datadir: str | None = None
    invert_data: bool = True
    window: bool = True
    window_in: float = 0.85
    window_out: float = 0.99
    norm_samples: int = 1000
    shuffle_block: int = 1


@dataclass
class ModelConfig:
    """Network sizes.

    Attributes
    ----------
    zdim
        Latent dimension (0: a homogeneous reconstruction without encoder).
    enc_dim, enc_layers, dec_dim, dec_layers
        Width and hidden-to-hidden layers of the encoder and decoder MLPs.
    pe_type, pe_dim
        Positional encoding (see :mod:`cryolatent.nn.encodings`); ``pe_dim``
        defaults to ``D // 2``.
    enc_input
        ``"hartley"`` (masked Hartley pixels, cryoDRGN's) or ``"real"`` (centred real-space image).
    ignore_dc
        Leave the zero-frequency pixel out of the encoder input and the loss, as
        cryoDRGN does (it carries only the image mean, which depends on the
        background).  Configurations written before this setting existed read as
        ``False``.
    """

    zdim: int = 8
    enc_dim: int = 1024
    enc_layers: int = 3
    dec_dim: int = 1024
    dec_layers: int = 3
    pe_type: str = "gaussian"
    pe_dim: int | None = None
    enc_input: str = "hartley"
    ignore_dc: bool = True


@dataclass
class OptimConfig:
    """Optimisation.

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay
        Adam training schedule (``batch_size`` per process under DDP).
    beta
        KL weight; default ``1 / zdim``.
    beta_warmup
        Epochs over which the KL weight ramps linearly from 0 to ``beta``
        (KL annealing; 0: constant ``beta``, as cryoDRGN).
    seed
        Seeds model initialisation, shuffling and sampling.
    diverge_factor
        Stop when a batch loss exceeds this multiple of the first batches' loss.
    """

    epochs: int = 20
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.0
    beta: float | None = None
    beta_warmup: float = 0.0
    seed: int = 0
    diverge_factor: float = 1e4


@dataclass
class RuntimeConfig:
    """Where and how the computation runs (does not change the model).

    Attributes
    ----------
    device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
    amp
        Mixed precision (bf16 autocast; fp16 with loss scaling on GPUs without bf16).
    num_workers
        DataLoader worker processes reading and preprocessing images.
    prefetch_factor
        Batches each worker prepares ahead.
    compile
        ``torch.compile`` the model.
    """

    device: str = "auto"
    amp: bool = True
    num_workers: int = 0
    prefetch_factor: int = 4
    compile: bool = False


@dataclass
class TrainConfig:
    """Everything that defines a training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    version: str = __version__

    @classmethod
    def for_dataset(
        cls,
        data_dir: str | os.PathLike,
        zdim: int = 8,
        width: int = 256,
        layers: int = 3,
        epochs: int = 20,
        ind: str | os.PathLike | None = None,
    ) -> "TrainConfig":
        """A configuration for a folder as ``cryolatent simulate`` writes it
        (``particles.mrcs``, ``poses.pkl``, ``ctf.pkl``), with encoder and decoder
        of ``layers`` x ``width``."""
        d = os.fspath(data_dir)
        data = DataConfig(particles=os.path.join(d, "particles.mrcs"), poses=os.path.join(d, "poses.pkl"),
                          ctf=os.path.join(d, "ctf.pkl"), ind=None if ind is None else os.fspath(ind))
        model = ModelConfig(zdim=zdim, enc_dim=width, enc_layers=layers, dec_dim=width, dec_layers=layers)
        return cls(data=data, model=model, optim=OptimConfig(epochs=epochs))

    @property
    def beta(self) -> float:
        """The KL weight in use (``1 / zdim`` unless set)."""
        if self.optim.beta is not None:
            return float(self.optim.beta)
        return 1.0 / self.model.zdim if self.model.zdim else 0.0

    def validate(self) -> "TrainConfig":
        """Check values; raise :class:`~cryolatent.errors.InputError` on nonsense."""
        from cryolatent.nn.encodings import PE_TYPES

        m, o = self.model, self.optim
        checks = [
            (m.zdim >= 0, f"zdim must be >= 0, got {m.zdim}"),
            (m.enc_dim > 0 and m.dec_dim > 0, "layer widths must be positive"),
            (m.enc_layers >= 0 and m.dec_layers >= 0, "layer counts must be >= 0"),
            (m.pe_type in PE_TYPES, f"unknown pe_type {m.pe_type!r}; choose from {', '.join(PE_TYPES)}"),
            (m.pe_dim is None or m.pe_dim > 0, f"pe_dim must be positive, got {m.pe_dim}"),
            (m.enc_input in ("hartley", "real"), f"enc_input must be 'hartley' or 'real', got {m.enc_input!r}"),
            (o.epochs >= 1, f"epochs must be >= 1, got {o.epochs}"),
            (o.batch_size >= 1, f"batch size must be >= 1, got {o.batch_size}"),
            (o.lr > 0, f"learning rate must be positive, got {o.lr}"),
            (o.beta is None or o.beta >= 0, f"beta must be >= 0, got {o.beta}"),
            (o.beta_warmup >= 0, f"beta_warmup must be >= 0 epochs, got {o.beta_warmup}"),
            (self.runtime.num_workers >= 0, "num_workers must be >= 0"),
            (self.data.shuffle_block >= 1, "shuffle_block must be >= 1"),
            (bool(self.data.particles), "no particle file given"),
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
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing keys take defaults."""
        sections = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "runtime": RuntimeConfig}
        kwargs: dict[str, Any] = {}
        for key, value in (d or {}).items():
            if key in sections:
                names = {f.name for f in dataclasses.fields(sections[key])}
                unknown = set(value or {}) - names
                if unknown:
                    raise InputError(f"unknown {key} setting(s): {', '.join(sorted(unknown))}")
                value = dict(value or {})
                if key == "model":
                    value.setdefault("ignore_dc", False)  # runs from before the setting kept the DC pixel
                kwargs[key] = sections[key](**value)
            elif key == "version":
                kwargs[key] = str(value)
            else:
                raise InputError(f"unknown configuration section {key!r}")
        return cls(**kwargs)

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """YAML text of the configuration; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            from cryolatent.outputs import atomic_path

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
