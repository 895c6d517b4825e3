"""Train a heterogeneous reconstruction (VAE with a coordinate decoder).

Outputs in OUTDIR: config.yaml, train_log.csv, weights.<epoch>.pt, weights.pt,
z.npy (latent means, particle order) and z_logvar.npy.  With torchrun, one
process per GPU trains data-parallel.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cryolatent.training.config import DataConfig, ModelConfig, OptimConfig, RuntimeConfig, TrainConfig

NAME = "train"
HELP = "train the VAE on particles with known poses"

# (flag, section, field, type, help)
_OPTIONS = [
    ("--poses", "data", "poses", str, "pose file (.pkl, .star, .cs)"),
    ("--ctf", "data", "ctf", str, "CTF file (.pkl, .star, .cs)"),
    ("--ind", "data", "ind", str, "index file (.pkl/.npy/.txt) of the particles to use"),
    ("--datadir", "data", "datadir", str, "folder of the stacks named in a .star/.cs"),
    ("--zdim", "model", "zdim", int, "latent dimension (0: homogeneous)"),
    ("--enc-dim", "model", "enc_dim", int, "encoder width"),
    ("--enc-layers", "model", "enc_layers", int, "encoder hidden layers"),
    ("--dec-dim", "model", "dec_dim", int, "decoder width"),
    ("--dec-layers", "model", "dec_layers", int, "decoder hidden layers"),
    ("--pe-type", "model", "pe_type", str, "positional encoding"),
    ("--pe-dim", "model", "pe_dim", int, "frequencies per axis (default D/2)"),
    ("--enc-input", "model", "enc_input", str, "encoder input: hartley or real"),
    ("--epochs", "optim", "epochs", int, "epochs"),
    ("--batch-size", "optim", "batch_size", int, "particles per batch (per process)"),
    ("--lr", "optim", "lr", float, "Adam learning rate"),
    ("--wd", "optim", "weight_decay", float, "Adam weight decay"),
    ("--beta", "optim", "beta", float, "KL weight (default 1/zdim)"),
    ("--beta-warmup", "optim", "beta_warmup", float, "epochs over which the KL weight ramps up from 0"),
    ("--seed", "optim", "seed", int, "random seed"),
    ("--device", "runtime", "device", str, "auto, cpu, cuda, cuda:N"),
    ("--num-workers", "runtime", "num_workers", int, "data loader worker processes"),
]
_SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimConfig, "runtime": RuntimeConfig}


def _default(section: str, name: str):
    return _SECTIONS[section]().__dict__[name]


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``cryolatent train``."""
    parser.add_argument("particles", nargs="?", help="particles (.mrcs, .txt, .star, .cs); optional with --resume")
    parser.add_argument("-o", "--outdir", required=True, help="output folder")
    for flag, section, name, typ, text in _OPTIONS:
        parser.add_argument(flag, dest=name, type=typ, default=None,
                            help=f"{text} [default: {_default(section, name)}]")
    amp = parser.add_mutually_exclusive_group()
    amp.add_argument("--amp", dest="amp", action="store_true", default=None,
                     help=f"mixed precision (bf16 where supported) [default: {RuntimeConfig.amp}]")
    amp.add_argument("--no-amp", dest="amp", action="store_false", help="full float32 precision")
    parser.add_argument("--uninvert-data", dest="invert_data", action="store_false", default=None,
                        help="do not invert the data sign (for dark-protein particles)")
    parser.add_argument("--no-window", dest="window", action="store_false", default=None,
                        help="no soft circular real-space window")
    dc = parser.add_mutually_exclusive_group()
    dc.add_argument("--ignore-dc", dest="ignore_dc", action="store_true", default=None,
                    help=f"leave the zero-frequency pixel out of encoder input and loss [default: {ModelConfig.ignore_dc}]")
    dc.add_argument("--include-dc", dest="ignore_dc", action="store_false", help="keep the zero-frequency pixel")
    parser.add_argument("--compile", dest="compile", action="store_true", default=None, help="torch.compile the model")
    parser.add_argument("--resume", action="store_true", help="continue the run in OUTDIR after its last checkpoint")
    parser.add_argument("--force", action="store_true", help="replace a run already in OUTDIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _abs(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The configuration of the arguments (the stored one, updated, when resuming)."""
    from cryolatent.errors import InputError

    stored = Path(args.outdir) / "config.yaml"
    config = TrainConfig.from_yaml(stored) if args.resume and stored.is_file() else TrainConfig()
    if args.particles:
        config.data.particles = _abs(args.particles)
    elif not config.data.particles:
        raise InputError("no particle file given")
    for flag, section, name, _typ, _text in _OPTIONS:
        value = getattr(args, name)
        if value is not None:
            if name in ("poses", "ctf", "ind", "datadir"):
                value = _abs(value)
            setattr(getattr(config, section), name, value)
    for section, name in (("runtime", "amp"), ("data", "invert_data"), ("data", "window"), ("runtime", "compile"),
                          ("model", "ignore_dc")):
        value = getattr(args, name)
        if value is not None:
            setattr(getattr(config, section), name, value)
    return config


def run(args: argparse.Namespace) -> int:
    """Train; print where the outputs are."""
    from cryolatent.training.loop import train

    config = build_config(args)
    result = train(config, args.outdir, resume=args.resume, force=args.force, progress=not args.no_progress)
    if result.history:
        last = result.history[-1]
        print(f"trained {last['epoch']} epochs: loss {last['loss']:.5f} "
              f"({last['particles_per_s']:.0f} particles/s); outputs in {args.outdir}")
    return 0
