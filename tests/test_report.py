from __future__ import annotations

import numpy as np
import pytest

from cryolatent import cli, report as report_module, volumes
from cryolatent.errors import InputError
from cryolatent.io import read_volume
from cryolatent.latent import LatentSet
from cryolatent.report import analyze

from test_latent import make_run
from test_volumes import D, sphere_decoder


def test_report_folder(tmp_path):
    out = make_run(tmp_path, n=40, zdim=2)
    report = analyze(out, tmp_path / "rep", k=3, decode=sphere_decoder, umap=False)
    names = {p.relative_to(report).as_posix() for p in report.rglob("*") if p.is_file()}
    expected = {"z_pca.png", "loss.png", "README.txt", "index.html", "kmeans3/z_values.txt",
                "kmeans3/centers_ind.txt", "kmeans3/labels.txt", "latent/emb.npz"}
    expected |= {f"kmeans3/vol_{i:03d}.{ext}" for i in range(3) for ext in ("mrc", "png")}
    assert expected <= names
    vol, _ = read_volume(report / "kmeans3" / "vol_001.mrc")
    ls = LatentSet.load(report / "latent")
    cidx = np.loadtxt(report / "kmeans3" / "centers_ind.txt", dtype=int)
    assert vol.shape == (D, D, D) and np.allclose(vol, sphere_decoder(ls.z[cidx[1:2]])[0])
    assert ls.uns["kmeans"]["center_indices"] == cidx.tolist() and len(ls.obs["kmeans"]) == 40
    readme = (report / "README.txt").read_text()
    assert "kmeans3/vol_000.mrc" in readme and "z_pca.png" in readme
    assert "z_pca.png" in (report / "index.html").read_text()
    with pytest.raises(InputError, match="--force"):
        analyze(out, report, k=3, decode=sphere_decoder, umap=False)


def test_cli_analyze(tmp_path, monkeypatch, capsys):
    out = make_run(tmp_path, n=30, zdim=1)
    monkeypatch.setattr(report_module, "run_decoder", lambda run_dir, **kw: volumes.Decoder(sphere_decoder))
    assert cli.main(["analyze", str(out), "--k", "2", "--no-umap"]) == 0
    assert (out / "analyze" / "kmeans2" / "vol_001.png").is_file()
    assert cli.main(["analyze", str(out), "--k", "2", "--no-umap"]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main(["analyze", str(out), "--k", "2", "--no-umap", "--force"]) == 0
    (out / "z.npy").unlink()
    assert cli.main(["analyze", str(out), "-o", str(tmp_path / "r2")]) == 1
    assert "z.npy" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_analyze_real_tiny_run(tmp_path):
    """End to end on a real 1-epoch run (about 10 s: torch import and training)."""
    from cryolatent.training.loop import train

    from _nn_helpers import one_thread, tiny_config, write_blob_dataset

    particles, poses, ctf = write_blob_dataset(tmp_path / "data", n=24, D=16, seed=5)
    with one_thread():
        train(tiny_config(particles, poses, ctf, epochs=1), tmp_path / "out", progress=False)
    assert cli.main(["analyze", str(tmp_path / "out"), "--k", "3", "--no-umap", "--device", "cpu"]) == 0
    ls = LatentSet.load(tmp_path / "out" / "analyze" / "latent")
    assert "defocus_A" in ls.obs and len(ls) == 24
    vol, apix = read_volume(tmp_path / "out" / "analyze" / "kmeans3" / "vol_000.mrc")
    assert vol.shape == (16, 16, 16) and apix == pytest.approx(4.0)
