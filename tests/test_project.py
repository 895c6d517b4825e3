"""A project: one folder from particles to retraining, indices always into the original list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import starfile

import cryolatent as cl
from cryolatent import cli
from cryolatent.project import Project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj") / "p"
    return Project.demo(root, "tiny", box=24, progress=False)


def test_create_reads_the_source_and_records_it(project):
    again = Project.open(project.root)
    assert again.record == project.record
    assert (again.n_particles, again.record["box"], again.train_box, again.apix) == (200, 32, 24, pytest.approx(6.0))
    assert "200 particles, box 32, 6 A/px" in again.tree()


def test_preprocess_crops_once_and_keeps_every_particle_in_source_order(project):
    paths = project.preprocess(progress=False)
    stack = cl.io.load_dataset(paths["particles"], poses=paths["poses"], ctf=paths["ctf"])
    source = project.source_stack()
    assert (len(stack), stack.D) == (project.n_particles, 24)
    assert stack.apix == pytest.approx(6.0 * 32 / 24) and np.allclose(stack.ctf[:, :2], [24, 8.0])
    assert np.allclose(stack.poses[0], source.poses[0]) and np.allclose(stack.poses[1], source.poses[1])
    assert np.allclose(stack.images([7])[0], cl.io.downsample.fourier_crop(source.images([7]), 24)[0], atol=1e-5)
    mtime = paths["particles"].stat().st_mtime_ns
    assert project.preprocess(progress=False)["particles"].stat().st_mtime_ns == mtime  # reused


def test_retrained_run_exports_the_original_indices(project, tmp_path):
    project.train("first", preset="tiny", zdim=2, epochs=1, progress=False)
    ls = project.latent("first")
    cl.tl.kmeans(ls, k=3)
    keep = ~cl.Selection.from_clusters(ls, [0], key="kmeans")
    project.save_selection(keep, ls, "keep")
    expected = np.sort(keep.orig_index(ls))
    assert np.array_equal(np.sort(cl.io.load_index(project.path("selections/keep.pkl"))), expected)

    project.train("kept", preset="tiny", zdim=2, epochs=1, selection="keep", progress=False)
    ls2 = project.latent("kept")
    assert len(ls2) == len(keep)
    everything = cl.Selection.all(ls2)
    # the index file, the RELION star and the cryoSPARC cs all name the same original particles
    pkl = project.export(everything, ls2, tmp_path / "kept.pkl")
    assert np.array_equal(np.sort(cl.io.load_index(pkl)), expected)
    star = starfile.read(project.export(everything, ls2, tmp_path / "kept.star"))
    names = star["particles"]["rlnImageName"].str.split("@").str[0].astype(int) - 1
    assert np.array_equal(np.sort(names.to_numpy()), expected) and len(star["optics"]) == 1
    assert {"rlnAngleRot", "rlnDefocusU"} <= set(star["particles"].columns)
    source_dir = project.datadir  # image names are relative to it, as in the source
    back = cl.io.load_dataset(tmp_path / "kept.star", datadir=source_dir)
    assert len(back) == len(expected) and back.D == 32  # the source particles, not the cropped ones
    tree = project.tree()
    assert "run first" in tree and "selection keep" in tree and "run kept on selection keep" in tree


def test_cli_init_and_project(tmp_path, capsys):
    data = cl.datasets.make_simulated("tiny", tmp_path / "data", progress=False)
    assert cli.main(["init", str(tmp_path / "p"), "--particles", str(data / "particles.mrcs"),
                     "--poses", str(data / "poses.pkl"), "--ctf", str(data / "ctf.pkl"), "--box", "16"]) == 0
    assert "training box: 16 px" in capsys.readouterr().out
    assert cli.main(["project", str(tmp_path / "p")]) == 0
    assert "200 particles" in capsys.readouterr().out
    assert cli.main(["init", str(tmp_path / "q"), "--particles", str(data / "particles.mrcs")]) == 1
    assert "--poses" in capsys.readouterr().err and not (tmp_path / "q").exists()


def test_pixel_size_is_never_invented(tmp_path):
    data = cl.datasets.make_simulated("tiny", tmp_path / "data", progress=False)
    stack = cl.io.load_dataset(data / "particles.mrcs", poses=data / "poses.pkl", ctf=data / "ctf.pkl")
    stack.apix = None
    assert cl.project.pixel_size_of(stack) == pytest.approx(6.0)  # the CTF's apix column
    stack.ctf = None
    with pytest.raises(cl.InputError, match="--apix"):
        cl.project.pixel_size_of(stack)
    assert cl.project.pixel_size_of(stack, 1.3) == pytest.approx(1.3)


@pytest.fixture(scope="module")
def job_projects(tmp_path_factory):
    """Projects on a simulated RELION refinement and a cryoSPARC export, with a trained run and a selection."""
    from cryolatent.datasets.jobtrees import cryosparc_job, relion_job

    root = tmp_path_factory.mktemp("jobs")
    made = {}
    for kind, make in (("relion", relion_job), ("cryosparc", cryosparc_job)):
        tree = root / f"{kind}_job"
        particles = make(tree, n=120, box=32)
        proj = Project.create(root / kind, particles, datadir=tree, box=16)
        proj.train("first", preset="tiny", zdim=2, epochs=1, progress=False)
        ls = proj.latent("first")
        keep = cl.Selection.from_indices(ls, np.arange(0, len(ls), 3), name="keep")
        proj.save_selection(keep, ls, "keep")
        made[kind] = (proj, ls, keep)
    return made


def test_relion_export_keeps_both_optics_groups_for_starfile(job_projects, tmp_path):
    proj, ls, keep = job_projects["relion"]
    star = starfile.read(proj.export(keep, ls, tmp_path / "keep.star"))
    optics, parts = star["optics"], star["particles"]
    assert sorted(optics["rlnOpticsGroup"]) == [1, 2] and sorted(optics["rlnVoltage"]) == [200.0, 300.0]
    assert len(parts) == len(keep) and set(parts["rlnOpticsGroup"]) == {1, 2}
    source = starfile.read(proj.record["source"]["particles"])["particles"]
    expected = source.iloc[np.sort(keep.orig_index(ls))]
    def located(names, folder):  # (index in its stack, resolved stack path) of each rlnImageName
        return [(int(i), (folder / f).resolve()) for i, f in names.str.split("@", n=1)]

    datadir = Path(proj.record["source"]["datadir"])
    assert located(parts["rlnImageName"], datadir) == located(expected["rlnImageName"], datadir)
    assert np.allclose(parts["rlnDefocusU"], expected["rlnDefocusU"])
    assert np.allclose(parts["rlnOriginXAngst"], expected["rlnOriginXAngst"], atol=1e-3)
    again = cl.io.load_dataset(tmp_path / "keep.star", datadir=proj.record["source"]["datadir"])
    assert len(again) == len(keep) and np.allclose(again.images([0]), proj.source_stack().images(
        [int(np.sort(keep.orig_index(ls))[0])]))


def test_cryosparc_export_opens_in_cryosparc_tools(job_projects, tmp_path):
    dataset = pytest.importorskip("cryosparc.dataset", reason="cryosparc-tools not installed")
    proj, ls, keep = job_projects["cryosparc"]
    out = proj.export(keep, ls, tmp_path / "keep.cs")
    ds = dataset.Dataset.load(out)
    needed = {"uid", "blob/path", "blob/idx", "blob/shape", "blob/psize_A", "ctf/accel_kv", "ctf/cs_mm",
              "ctf/amp_contrast", "ctf/df1_A", "ctf/df2_A", "ctf/df_angle_rad", "alignments3D/pose",
              "alignments3D/shift"}
    assert needed <= set(ds.fields()) and len(ds) == len(keep)
    source = dataset.Dataset.load(proj.record["source"]["particles"])
    rows = np.sort(keep.orig_index(ls))
    assert np.array_equal(ds["uid"], source["uid"][rows])  # the same particles, by cryoSPARC's own ids
    assert list(ds["blob/path"]) == list(source["blob/path"][rows]) and np.array_equal(ds["blob/idx"],
                                                                                        source["blob/idx"][rows])
    assert np.allclose(ds["ctf/accel_kv"], source["ctf/accel_kv"][rows])
    assert np.allclose(ds["alignments3D/pose"], source["alignments3D/pose"][rows], atol=1e-5)


def test_cli_train_in_a_project(project, tmp_path, capsys):
    args = ["train", "--project", str(project.root), "--name", "cli", "--preset", "tiny", "--zdim", "2",
            "--epochs", "1", "--enc-dim", "16", "--no-progress"]
    assert cli.main(args) == 0
    again = Project.open(project.root)
    assert again.record["runs"]["cli"]["preset"] == "tiny" and (project.root / "runs" / "cli" / "z.npy").is_file()
    config = cl.TrainConfig.from_yaml(project.root / "runs" / "cli" / "config.yaml")
    assert (config.model.zdim, config.model.enc_dim, config.model.dec_dim) == (2, 16, 128)
    assert config.data.particles == str(project.path("preprocessed/box24/particles.mrcs"))
    capsys.readouterr()
    assert cli.main(["train", "--project", str(project.root), "--selection", "nope", "--no-progress"]) == 1
    assert "no selection 'nope'" in capsys.readouterr().err
    assert cli.main(["train", "p.mrcs", "--project", str(project.root)]) == 1
    assert "drop PARTICLES/-o" in capsys.readouterr().err
    assert cli.main(["train", "p.mrcs"]) == 1 and "-o/--outdir" in capsys.readouterr().err
