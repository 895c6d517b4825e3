"""Train a heterogeneous reconstruction (VAE with a coordinate decoder).

Outputs in OUTDIR: config.yaml, train_log.csv, weights.<epoch>.pt, weights.pt,
z.npy (latent means, particle order) and z_logvar.npy.  With torchrun, one
process per GPU trains data-parallel.

Every setting of OUTDIR/config.yaml is a flag (--field-name; booleans as
--x/--no-x).  Precedence: defaults (cryoDRGN's: 3 x 1024 networks) < --preset
< --config FILE.yaml < the flags; with --resume the run's stored config.yaml
takes the place of the defaults.  Give "none" to an optional setting to unset it.

With --project DIR the particles, poses, CTF and output folder come from the
project (see cryolatent init): the run goes to DIR/runs/NAME (--name), trains on
the preprocessed particles at the project's box (or --box), on a saved
--selection only if given, and the default preset is small (3 x 256).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Callable

from cryolatent.errors import InputError
from cryolatent.project import Project
from cryolatent.training.config import PRESETS, SECTIONS, SETTINGS, Setting, TrainConfig, read_settings
from cryolatent.training.loop import train
from cryolatent.training.run import CONFIG_NAME

NAME = "train"
HELP = "train the VAE on particles with known poses"

POSITIONAL = "particles"
ALIASES = {"weight_decay": ("--wd",)}
"""Further spellings of a setting's flag (kept from earlier versions)."""
OFF_ALIASES = {"invert_data": "--uninvert-data", "ignore_dc": "--include-dc"}
"""Further spellings of a boolean setting's --no-x flag."""


def flag(name: str) -> str:
    """The command-line flag of setting ``name`` (``enc_dim`` -> ``--enc-dim``)."""
    return "--" + name.replace("_", "-")


def _dest(s: Setting) -> str:
    return f"{s.section}.{s.name}"


_UNSET = object()  # what "none" parses to (None itself means "flag not given")


def _converter(s: Setting) -> Callable[[str], Any]:
    """Text -> value of ``s`` (``none`` unsets an optional setting)."""

    def convert(text: str) -> Any:
        if s.optional and text.lower() == "none":
            return _UNSET
        return s.type(text)

    convert.__name__ = s.type.__name__  # argparse names it in "invalid int value"
    return convert


def _metavar(s: Setting) -> str:
    return "PATH" if s.path else {int: "N", float: "X"}.get(s.type, "NAME")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return repr(value) if value == "" else str(value)


def _help(s: Setting) -> str:
    """The setting's help with its default and the presets that change it."""
    parts = [] if s.default is None else [f"default: {_show(s.default)}"]
    presets = [f"{p.name} {_show(p.values[s.name])}" for p in PRESETS.values()
               if s.name in p.values and p.values[s.name] != s.default]
    if presets:
        parts.append("--preset " + ", ".join(presets))
    text = s.help + (f" [{'; '.join(parts)}]" if parts else "")
    return text.replace("%", "%%")


def add_args(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of ``cryolatent train``: one flag per configuration setting."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(POSITIONAL, nargs="?", metavar="PARTICLES",
                        help=SETTINGS[POSITIONAL].help + "; optional with --resume or --config")
    parser.add_argument("-o", "--outdir", help="output folder (not with --project)")
    project = parser.add_argument_group("project (instead of PARTICLES and -o)")
    project.add_argument("--project", metavar="DIR", help="train on a project's particles (cryolatent init)")
    project.add_argument("--name", help="the run's name in the project [default: run001, run002, ...]")
    project.add_argument("--selection", metavar="NAME", help="train on a saved selection of the project only")
    project.add_argument("--box", type=int, help="training box [default: the project's]")
    parser.add_argument("--preset", metavar="NAME", help="named network sizes, applied over the defaults: "
                        + "; ".join(f"{p.name}: {p.help}" for p in PRESETS.values()))
    parser.add_argument("--config", metavar="FILE.yaml",
                        help="settings from a YAML file laid out as OUTDIR/config.yaml (sections data, model, "
                             "optim, runtime; any subset); relative paths are relative to the file; "
                             "flags override it")
    parser.add_argument("--resume", action="store_true", help="continue the run in OUTDIR after its last checkpoint")
    parser.add_argument("--force", action="store_true", help="replace a run already in OUTDIR")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    groups = {section: parser.add_argument_group(f"{section} settings") for section in SECTIONS}
    for s in SETTINGS.values():
        if s.name == POSITIONAL:
            continue
        group = groups[s.section]
        if s.type is bool:
            group.add_argument(flag(s.name), dest=_dest(s), action=argparse.BooleanOptionalAction, default=None,
                               help=_help(s))
            if s.name in OFF_ALIASES:
                group.add_argument(OFF_ALIASES[s.name], dest=_dest(s), action="store_false", default=None,
                                   help=f"the same as --no-{flag(s.name)[2:]}")
        else:
            group.add_argument(flag(s.name), *ALIASES.get(s.name, ()), dest=_dest(s), type=_converter(s),
                               default=None, metavar=_metavar(s), help=_help(s))


def flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line (flat names), paths made absolute."""
    given: dict[str, Any] = {}
    if getattr(args, POSITIONAL, None):
        given[POSITIONAL] = getattr(args, POSITIONAL)
    for s in SETTINGS.values():
        value = getattr(args, _dest(s), None)
        if value is not None:
            given[s.name] = None if value is _UNSET else value
    return {name: os.path.abspath(v) if SETTINGS[name].path and v else v for name, v in given.items()}


def _preset(name: str):
    """The preset ``--preset name``; an unknown name is a one-line error naming the argument."""
    if name not in PRESETS:
        raise InputError(f"--preset {name!r} is not a preset; choose from {', '.join(PRESETS)}")
    return PRESETS[name]


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The configuration of the arguments: defaults (or, resuming, the stored run's) < --preset < --config < flags."""
    stored = Path(args.outdir) / CONFIG_NAME
    if args.resume and not stored.is_file() and not (Path(args.outdir) / "weights.pt").is_file():
        raise InputError("holds no run to resume (no config.yaml / weights.pt); drop --resume to start one",
                         args.outdir)
    config = TrainConfig.from_yaml(stored) if args.resume and stored.is_file() else TrainConfig()
    if args.preset is not None:
        config.update(_preset(args.preset).values)
    if args.config is not None:
        config.update(read_settings(args.config), source=args.config)
    config.update(flag_settings(args))
    if not config.data.particles:
        raise InputError("no particle file given (PARTICLES, or data.particles in --config)")
    return config


def _train_in_project(args: argparse.Namespace):
    """A run of the project ``--project``: settings from --config and the flags over the preset."""
    if getattr(args, POSITIONAL, None) or args.outdir:
        raise InputError("--project: the particles and the output folder come from the project; drop PARTICLES/-o")
    proj = Project.open(args.project)
    settings: dict[str, Any] = {}
    if args.config is not None:
        settings.update(read_settings(args.config))
    settings.update(flag_settings(args))
    if args.preset is not None:
        _preset(args.preset)
    run = proj.train(args.name, preset=args.preset or "small", selection=args.selection, box=args.box,
                     force=args.force, resume=args.resume, progress=not args.no_progress, **settings)
    return run, run.outdir


def run(args: argparse.Namespace) -> int:
    """Train; print where the outputs are."""
    if args.project:
        result, outdir = _train_in_project(args)
    else:
        if not args.outdir:
            raise InputError("-o/--outdir: give the output folder (or --project DIR)")
        if args.name or args.selection or args.box:
            raise InputError("--name, --selection and --box need --project")
        outdir = args.outdir
        result = train(build_config(args), outdir, resume=args.resume, force=args.force,
                       progress=not args.no_progress)
    if result.history:
        last = result.history[-1]
        print(f"trained {last['epoch']} epochs: loss {last['loss']:.5f} "
              f"({last['particles_per_s']:.0f} particles/s); outputs in {outdir}")
    return 0
