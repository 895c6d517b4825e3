"""A project: one folder that every notebook and command shares, from your particles to retraining.

``DIR/project.yaml`` names the particle source (``.star``, ``.cs``, ``.mrcs`` or
``.txt``, with its ``datadir`` and optional cryoDRGN ``poses.pkl``/``ctf.pkl``),
the pixel size (from the files, or given; never invented), the training box,
and records what each step made::

    DIR/
      project.yaml
      preprocessed/box128/     particles.mrcs, poses.pkl, ctf.pkl  (Fourier-cropped once, reused)
      consensus/box128/        consensus.mrc, half-maps, FSC
      runs/NAME/               a training run (config.yaml, weights, z.npy, train_log.csv)
      selections/NAME.json     a Selection of a run's particles, and NAME.pkl: their original indices

Indices are always stored as indices into the project's original particle list:
the preprocessed stack holds every particle in source order, so a run trained
on a selection (``--ind``) and anything exported from it refer to the same
particles as the source file that RELION or cryoSPARC wrote.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from cryolatent import io as clio
from cryolatent._version import __version__
from cryolatent.consensus import consensus_map
from cryolatent.datasets.manifest import make_simulated
from cryolatent.errors import InputError
from cryolatent.io.downsample import downsample_stack
from cryolatent.io.validate import validate_apix
from cryolatent.latent import LatentSet
from cryolatent.outputs import atomic_path, check_folder, check_writable
from cryolatent.reconstruct.backproject import Reconstruction
from cryolatent.selection import Selection
from cryolatent.training.config import TrainConfig
from cryolatent.training.loop import train
from cryolatent.training.run import Run

PROJECT_FILE = "project.yaml"
FORMAT = 1
DEFAULT_BOX = 128  # a first run is trained at 64-128 px whatever the extraction box


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def _abs(path: str | os.PathLike | None) -> str | None:
    return None if path is None else os.path.abspath(os.fspath(path))


def _check_box(box: int, D: int) -> None:
    if box < 8 or box % 2 or box > D:
        raise InputError(f"--box {box}: the training box must be even, at least 8 and at most the particles' {D}")


def pixel_size_of(stack, given: float | None = None, where=None) -> float:
    """The pixel size of a dataset: ``given``, else the files' (:func:`cryolatent.io.pixel_size`:
    stack header, STAR optics, cryoSPARC ``blob/psize_A``, the CTF's apix column). Raises when none knows it."""
    if given is not None:
        validate_apix(given, "--apix")
        return float(given)
    found = clio.pixel_size(stack)
    if found is None:
        raise InputError("the pixel size is not in the particle, pose or CTF files; give it with --apix (apix=)",
                         where)
    return found


class Project:
    """Handle on a project folder (see the module docstring); every step records what it made.

    Create one with :meth:`create` (your particles) or :meth:`demo` (the embedded
    default), reopen it with :meth:`open`.
    """

    def __init__(self, root: str | os.PathLike, record: dict[str, Any]):
        self.root = Path(root).resolve()
        self.record = record

    # ---- creating and opening -------------------------------------------
    @classmethod
    def create(cls, root: str | os.PathLike, particles: str | os.PathLike, *, datadir=None, poses=None, ctf=None,
               apix: float | None = None, box: int | None = None, force: bool = False) -> "Project":
        """Make a project for ``particles`` (``.star``/``.cs``/``.mrcs``/``.txt``) in folder ``root``.

        The files are read (not copied) and checked now: particle count against
        poses and CTF, the pixel size (``apix`` overrides the files'), and the
        training ``box`` (even, at most the particles' box; default
        ``min(D, 128)``). ``root`` must be new or empty unless ``force``.
        """
        root = check_folder(root, empty=True, force=force)
        check_writable(root / PROJECT_FILE, force)
        with clio.load_dataset(particles, poses=poses, ctf=ctf, datadir=datadir) as stack:
            if stack.poses is None or stack.ctf is None:
                missing = " and ".join(w for w, v in (("poses", stack.poses), ("CTF", stack.ctf)) if v is None)
                raise InputError(f"has no {missing}; give them with --poses/--ctf (cryoDRGN .pkl, .star or .cs)",
                                 particles)
            pixel = pixel_size_of(stack, apix, particles)
            D, n = stack.D, len(stack)
        box = min(D, DEFAULT_BOX) if box is None else int(box)
        _check_box(box, D)
        record = {
            "format": FORMAT,
            "created": _now(),
            "cryolatent": __version__,
            "source": {"particles": _abs(particles), "datadir": _abs(datadir), "poses": _abs(poses),
                       "ctf": _abs(ctf)},
            "n_particles": n,
            "box": D,
            "apix": pixel,
            "apix_given": apix is not None,
            "train_box": box,
            "preprocessed": {},
            "consensus": {},
            "runs": {},
            "selections": {},
        }
        project = cls(root, record)
        project._save(force=True)
        return project

    @classmethod
    def open(cls, root: str | os.PathLike) -> "Project":
        """Open the project in folder ``root``."""
        file = Path(root) / PROJECT_FILE
        if not file.is_file():
            raise InputError(f"not a cryolatent project (no {PROJECT_FILE}); make one with cryolatent init", root)
        try:
            record = yaml.safe_load(file.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read the project ({exc})", file) from None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise InputError(f"not a project file of format {FORMAT}", file)
        return cls(root, record)

    @classmethod
    def demo(cls, root: str | os.PathLike, dataset: str = "default", *, box: int | None = None,
             force: bool = False, progress: bool = True) -> "Project":
        """A project on the embedded default (a simulated entry of ``data_manifest.yaml``),
        simulated into ``root/source``."""
        root = check_folder(root, empty=True, force=force)
        data = make_simulated(dataset, root / "source", force=True, progress=progress)
        return cls.create(root, data / "particles.star", box=box, force=True)

    # ---- the record -------------------------------------------------------
    def _save(self, force: bool = True) -> None:
        with atomic_path(self.root / PROJECT_FILE, force) as tmp:
            tmp.write_text(yaml.safe_dump(self.record, sort_keys=False))

    def path(self, relative: str | os.PathLike) -> Path:
        """A path of the project record, made absolute."""
        return self.root / relative

    @property
    def apix(self) -> float:
        """Pixel size of the source particles (A)."""
        return float(self.record["apix"])

    @property
    def train_box(self) -> int:
        """The box runs are trained at unless told otherwise."""
        return int(self.record["train_box"])

    @property
    def n_particles(self) -> int:
        """Particles in the source file: the original list every index refers to."""
        return int(self.record["n_particles"])

    @property
    def datadir(self) -> Path:
        """The folder the source's image names are relative to (its ``datadir``, else its folder);
        exported ``.star`` files name images the same way."""
        src = self.record["source"]
        return Path(src["datadir"] or os.path.dirname(src["particles"]))

    def source_stack(self, ind=None):
        """The source particles with their poses and CTF (lazy; ``ind``: original indices)."""
        src = self.record["source"]
        stack = clio.load_dataset(src["particles"], poses=src["poses"], ctf=src["ctf"], ind=ind,
                                  datadir=src["datadir"])
        stack.apix = self.apix
        return stack

    # ---- steps --------------------------------------------------------------
    def preprocess(self, box: int | None = None, *, force: bool = False, progress: bool = True) -> dict[str, Path]:
        """Fourier-crop the source particles to ``box`` once (streamed), with matching poses and CTF.

        Returns the paths of ``particles.mrcs``, ``poses.pkl`` and ``ctf.pkl``;
        an existing preprocessed stack of that box is reused unless ``force``.
        """
        box = self.train_box if box is None else int(box)
        key = str(box)
        folder = Path("preprocessed") / f"box{box}"
        paths = {name: folder / f"{name}.{ext}" for name, ext in
                 (("particles", "mrcs"), ("poses", "pkl"), ("ctf", "pkl"))}
        if key in self.record["preprocessed"] and not force and all(self.path(p).is_file() for p in paths.values()):
            return {k: self.path(p) for k, p in paths.items()}
        with self.source_stack() as stack:
            _check_box(box, stack.D)
            for p in paths.values():
                check_writable(self.path(p), force=True)
            rots, trans = stack.poses
            apix = self.apix * stack.D / box
            ctf = np.array(stack.ctf, dtype=np.float32)
            ctf[:, 0], ctf[:, 1] = box, apix
            downsample_stack(stack, box, self.path(paths["particles"]), force=True, progress=progress)
        clio.write_poses_pkl(self.path(paths["poses"]), rots, trans, force=True)  # fractions of the box: unchanged
        clio.write_ctf_pkl(self.path(paths["ctf"]), ctf, force=True)
        self.record["preprocessed"][key] = {"apix": apix, "made": _now(),
                                            **{k: p.as_posix() for k, p in paths.items()}}
        self._save()
        return {k: self.path(p) for k, p in paths.items()}

    def consensus(self, box: int | None = None, *, selection: str | None = None, force: bool = False,
                  progress: bool = True) -> Reconstruction:
        """The consensus map (back-projection with half-maps and FSC) of the preprocessed particles,
        or of a saved ``selection`` of them."""
        box = self.train_box if box is None else int(box)
        data = self.preprocess(box, progress=progress)
        key = f"box{box}" + (f"_{selection}" if selection else "")
        out = Path("consensus") / key / "consensus.mrc"
        rec = consensus_map(data["particles"], self.path(out), poses=data["poses"], ctf=data["ctf"],
                            ind=self._selection_index(selection),
                            force=force, progress=progress)
        self.record["consensus"][key] = {"map": out.as_posix(), "made": _now(), "n_particles": rec.n_particles,
                                         "resolution_0143": float(rec.fsc.resolution_0143)}
        self._save()
        return rec

    def train_config(self, *, preset: str = "small", zdim: int = 8, epochs: int = 20, selection: str | None = None,
                     box: int | None = None, progress: bool = True, **settings: Any) -> TrainConfig:
        """The configuration of a run on this project's preprocessed particles (``selection``: a saved
        selection's particles only); ``settings`` are any other TrainConfig fields."""
        data = self.preprocess(box, progress=progress)
        config = TrainConfig.from_preset(preset, zdim=zdim, epochs=epochs, **settings)
        ind = self._selection_index(selection)
        config.update({"particles": os.fspath(data["particles"]), "poses": os.fspath(data["poses"]),
                       "ctf": os.fspath(data["ctf"]), "ind": None if ind is None else os.fspath(ind)})
        return config.validate()

    def train(self, name: str | None = None, *, preset: str = "small", zdim: int = 8, epochs: int = 20,
              selection: str | None = None, box: int | None = None, force: bool = False, resume: bool = False,
              progress: bool = True, callbacks: Iterable = (), **settings: Any) -> Run:
        """Train a run in ``runs/NAME`` (default ``run001``, ``run002``, ...) and record it with its lineage."""
        name = name or f"run{len(self.record['runs']) + 1:03d}"
        config = self.train_config(preset=preset, zdim=zdim, epochs=epochs, selection=selection, box=box,
                                   progress=progress, **settings)
        folder = Path("runs") / name
        run = train(config, self.path(folder), callbacks=list(callbacks), resume=resume, force=force,
                    progress=progress)
        parent = None if selection is None else self._selection_record(selection)["run"]
        self.record["runs"][name] = {"path": folder.as_posix(), "box": self.train_box if box is None else int(box),
                                     "preset": preset, "zdim": zdim, "epochs": epochs, "selection": selection,
                                     "from_run": parent, "made": _now()}
        self._save()
        return run

    def run(self, name: str | None = None) -> Run:
        """A recorded run (default: the latest)."""
        return Run.open(self.path(self._run_record(name)["path"]))

    def latent(self, name: str | None = None) -> LatentSet:
        """The LatentSet of a run, its particles read from the preprocessed stack."""
        return LatentSet.from_run(self.path(self._run_record(name)["path"]))

    def save_analysis(self, ls: LatentSet, *, force: bool = False) -> Path:
        """Keep a run's analysed LatentSet (embeddings, clusters) in ``analyses/RUN``."""
        run = self._run_of(ls)
        folder = Path("analyses") / run
        ls.save(self.path(folder), force=force)
        self.record.setdefault("analyses", {})[run] = {"path": folder.as_posix(), "made": _now()}
        self._save()
        return self.path(folder)

    def analysis(self, name: str | None = None) -> LatentSet:
        """The saved analysis of run ``name`` (default: the latest run), else its plain LatentSet."""
        if name is None and self.record["runs"]:
            name = list(self.record["runs"])[-1]
        saved = self.record.get("analyses", {}).get(name)
        if saved is None:
            return self.latent(name)
        return LatentSet.load(self.path(saved["path"]))

    def _run_record(self, name: str | None) -> dict:
        runs = self.record["runs"]
        if not runs:
            raise InputError("the project has no runs yet; train one first (project.train())", self.root)
        name = name or list(runs)[-1]
        if name not in runs:
            raise InputError(f"no run {name!r}; the project has {', '.join(runs)}", self.root)
        return runs[name]

    def _selection_index(self, name: str | None) -> Path | None:
        """The index file (original particle indices) of saved selection ``name``; None for all particles."""
        return None if name is None else self.path(self._selection_record(name)["index"])

    def _selection_record(self, name: str) -> dict:
        if name not in self.record["selections"]:
            known = ", ".join(self.record["selections"]) or "none"
            raise InputError(f"no selection {name!r} (saved selections: {known})", self.root)
        return self.record["selections"][name]

    # ---- selections and exports ---------------------------------------------
    def train_command(self, name: str, *, selection: str | None = None, preset: str = "small", zdim: int = 8,
                      epochs: int = 20) -> list[str]:
        """The ``cryolatent train`` command that trains run ``name`` of this project, as :meth:`train` would."""
        cmd = ["cryolatent", "train", "--project", str(self.root), "--name", name, "--preset", preset,
               "--zdim", str(int(zdim)), "--epochs", str(int(epochs))]
        return cmd + (["--selection", selection] if selection else [])

    def save_selection(self, selection: Selection, ls: LatentSet, name: str | None = None, *,
                       force: bool = False) -> Path:
        """Keep ``selection`` of a run's LatentSet: ``selections/NAME.json`` and ``NAME.pkl``
        (its original particle indices, what ``--ind`` takes)."""
        name = name or selection.name
        run = self._run_of(ls)
        json_path, ind_path = Path("selections") / f"{name}.json", Path("selections") / f"{name}.pkl"
        for p in (json_path, ind_path):
            check_writable(self.path(p), force)
        selection.save(self.path(json_path), force=force)
        clio.write_index_pkl(self.path(ind_path), selection.orig_index(ls), force=force)
        self.record["selections"][name] = {"run": run, "json": json_path.as_posix(), "index": ind_path.as_posix(),
                                           "n": len(selection), "made": _now()}
        self._save()
        return self.path(json_path)

    def selection(self, name: str, ls: LatentSet) -> Selection:
        """A saved selection, on ``ls`` (a LatentSet of the run it was made on)."""
        return Selection.load(self.path(self._selection_record(name)["json"]), ls)

    def export(self, selection: Selection, ls: LatentSet, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write the selected particles for RELION (``.star``), cryoSPARC (``.cs``) or cryoDRGN (``.pkl``
        index), referring to the source files, whatever box the run was trained at.

        A ``.star``'s image names are relative to the source's ``datadir`` (else its folder), as in
        the source: the file replaces the source where RELION reads it (with the same ``--datadir``
        for cryolatent or cryoDRGN)."""
        suffix = Path(path).suffix.lower()
        if suffix == ".pkl":
            return Path(selection.write_index(ls, path, inverse=False, force=force)[0])
        ind = ls.uns.get("run", {}).get("data", {}).get("ind")
        source = self.source_stack(ind=ind)
        if suffix == ".star":  # image names as in the source: relative to its datadir (RELION's project folder)
            return selection.write_star(ls, path, particles=source, names_relative_to=self.datadir, force=force)
        if suffix == ".cs":
            return selection.write_cs(ls, path, particles=source, force=force)
        raise InputError(f"unknown export format {suffix!r}; use .star, .cs or .pkl", path)

    def _run_of(self, ls: LatentSet) -> str:
        outdir = Path(ls.uns.get("run", {}).get("outdir", "")).resolve()
        for name, rec in self.record["runs"].items():
            if self.path(rec["path"]).resolve() == outdir:
                return name
        raise InputError("this LatentSet is not from a run of the project", outdir)

    # ---- showing ---------------------------------------------------------------
    def tree(self) -> str:
        """The project as text: its source, and the runs with the selections made on them."""
        src = self.record["source"]
        lines = [f"project {self.root}",
                 f"  source: {src['particles']} ({self.n_particles} particles, box {self.record['box']}, "
                 f"{self.apix:g} A/px{' given' if self.record.get('apix_given') else ''})",
                 f"  training box: {self.train_box} px ({self.apix * self.record['box'] / self.train_box:.3g} A/px)"]
        for key, rec in self.record["consensus"].items():
            lines.append(f"  consensus {key}: {rec['map']}, FSC 0.143 at {rec['resolution_0143']:.1f} A")

        def walk(run: str | None, depth: int) -> None:
            for name, rec in self.record["runs"].items():
                if rec.get("from_run") == run and (run is not None or rec.get("selection") is None):
                    on = f" on selection {rec['selection']}" if rec.get("selection") else ""
                    lines.append(f"{'  ' * depth}run {name}{on}: zdim {rec['zdim']}, {rec['preset']}, "
                                 f"box {rec['box']}, {rec['epochs']} epochs")
                    for sname, srec in self.record["selections"].items():
                        if srec["run"] == name:
                            lines.append(f"{'  ' * (depth + 1)}selection {sname}: {srec['n']} particles")
                    walk(name, depth + 1)

        walk(None, 1)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.tree()
