"""Figures: cl.pl returns figures with the data drawn, never switching the matplotlib backend."""

from __future__ import annotations

import matplotlib
import numpy as np

import cryolatent as cl

ROWS = [{"epoch": e, "loss": 1.0 / e, "recon": 0.9 / e, "kl": 0.1 * e, "particles_per_s": 50.0} for e in (1, 2, 3)]


def test_loss_curves_from_rows_csv_and_overlaid(tmp_path):
    backend = matplotlib.get_backend()
    fig = cl.pl.loss(ROWS, label="all")
    a1, a2 = fig.axes[:2]
    assert [len(a1.lines), len(a2.lines)] == [2, 1]
    assert np.allclose(a1.lines[0].get_ydata(), [1.0, 0.5, 1 / 3]) and np.allclose(a2.lines[0].get_ydata(), [0.1, 0.2, 0.3])
    assert "50 particles/s" in fig._suptitle.get_text()
    csv = tmp_path / "train_log.csv"
    csv.write_text("epoch,loss,recon,kl\n1,2.0,1.5,0.5\n2,1.0,0.8,0.2\n")
    cl.pl.loss(csv, axes=fig.axes, label="kept")
    assert len(a1.lines) == 4 and "kept total" in [t.get_text() for t in a1.get_legend().get_texts()]
    assert matplotlib.get_backend() == backend


def test_live_loss_plot_draws_the_same_curves():
    live = cl.pl.LiveLossPlot("run")
    for row in ROWS:
        live.on_epoch_end(row)  # outside IPython: records, draws nothing
    fig = live.figure()
    assert np.allclose(fig.axes[0].lines[0].get_ydata(), [r["loss"] for r in ROWS])
    assert fig._suptitle.get_text().startswith("run: epoch 3")


def test_savefig_is_atomic_and_refuses_to_overwrite(tmp_path):
    import pytest

    fig = cl.pl.embedding(np.random.default_rng(0).normal(size=(50, 2)), np.arange(50) % 3, centers=[0, 1])
    out = cl.pl.savefig(fig, tmp_path / "sub" / "e.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(cl.InputError, match="exists"):
        cl.pl.savefig(cl.pl.embedding(np.zeros((3, 2))), out)


def test_fsc_figure_in_angstrom_or_pixels():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(16, 16, 16)).astype(np.float32)
    b = a + 0.5 * rng.normal(size=a.shape).astype(np.float32)
    fig = cl.pl.fsc({"with": cl.fsc(a, b, apix=2.0)})
    assert fig.axes[0].get_xlabel() == "spatial frequency (1/A)" and " A)" in fig.axes[0].lines[0].get_label()
    fig = cl.pl.fsc({"without": cl.fsc(a, b)})
    assert "1/px" in fig.axes[0].get_xlabel() and " px)" in fig.axes[0].lines[0].get_label()
    assert np.isclose(fig.axes[0].lines[0].get_xdata()[-1], 0.5)  # cycles per pixel up to Nyquist
