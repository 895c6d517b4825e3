"""Covariate histograms: the drawing (pl.histograms), the model (CovariateHistograms) and its view."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cryolatent.pl.histograms import ALL_RGB, BAND_RGB, KEPT_RGB, TEXT_PX, histograms_png, histograms_rgb
from cryolatent.widgets.histogram_state import ZNORM, CovariateHistograms, bin_edges, bin_index
from cryolatent.widgets.state import PanelState

from _panel_fixtures import panel_state, synthetic_latentset, synthetic_state


def _numpy_counts(values: np.ndarray, edges: np.ndarray, mask: np.ndarray) -> np.ndarray:
    v = values[mask]
    return np.histogram(v[np.isfinite(v)], bins=edges)[0]


def _check_counts(h: CovariateHistograms) -> None:
    kept = h.state.kept_mask
    for i, name in enumerate(h.names):
        assert np.array_equal(h.all_counts[i], _numpy_counts(h.values[name], h.edges[name], np.ones(h.state.n, bool))), name
        assert np.array_equal(h.kept_counts[i], _numpy_counts(h.values[name], h.edges[name], kept)), name


# ---------------------------------------------------------------- binning and drawing
def test_bins_count_as_numpy_histogram_does():
    v = np.array([0.0, 0.5, 1.0, 2.0, 2.0, np.nan, 4.0, -np.inf])
    edges = bin_edges(v, 4)
    assert edges.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    idx = bin_index(v, edges)
    assert idx.tolist() == [0, 0, 1, 2, 2, 255, 3, 255]  # the last edge is in the last bin; missing: 255
    assert bin_edges(np.full(3, 2.0), 2).tolist() == [1.5, 2.0, 2.5]
    assert bin_edges(np.full(3, np.nan), 2).tolist() == [0.0, 0.5, 1.0]


def test_histograms_are_drawn_kept_over_all_with_the_band():
    edges = [np.linspace(0, 4, 3), np.linspace(-1, 1, 5)]
    rgb = histograms_rgb(["a", "b"], edges, [np.array([4, 2]), np.array([0, 1, 1, 0])],
                         [np.array([2, 0]), np.array([0, 0, 1, 0])], [None, (0.0, 1.0)], ncols=2, width=40,
                         height=40, gap=8)
    assert rgb.shape == (TEXT_PX + 2 + 40 + TEXT_PX + 2, 2 * 40 + 8, 3)
    plot = rgb[TEXT_PX + 2: TEXT_PX + 2 + 40, :40]
    is_ = lambda part, colour: (part == colour).all(-1)  # noqa: E731
    assert is_(plot[:, 5], KEPT_RGB).sum() == 20 and is_(plot[:, 5], ALL_RGB).sum() == 20  # bin 0: 4 all, 2 kept
    assert is_(plot[:, 30], ALL_RGB).sum() == 20 and not is_(plot[:, 30], KEPT_RGB).any()  # bin 1: 2 all, 0 kept
    right = rgb[TEXT_PX + 2: TEXT_PX + 2 + 40, 48:]
    assert is_(right[0, 35], BAND_RGB) and is_(right[0, 5], (255, 255, 255))  # the range [0, 1] of [-1, 1]
    assert is_(right[:, 25], KEPT_RGB).all()  # bin 2: 1 of 1 kept
    shapes = histograms_rgb(["a"], edges[:1], [np.array([4, 2])], [np.array([2, 0])], width=40, height=40, shapes=True)
    assert is_(shapes[TEXT_PX + 2: TEXT_PX + 42, 5], KEPT_RGB).sum() == 40  # scaled to its own maximum
    png = histograms_png(["a", "b"], edges, [np.array([4, 2]), np.array([0, 1, 1, 0])],
                         [np.array([2, 0]), np.array([0, 0, 1, 0])], ncols=1, width=40, height=40)
    assert Image.open(io.BytesIO(png)).size == (40, 2 * (TEXT_PX + 2 + 40 + TEXT_PX + 2) + 8)


# ---------------------------------------------------------------- the model
def test_columns_are_the_covariates_then_znorm_and_density():
    s = synthetic_state(300)
    h = CovariateHistograms(s)
    assert h.names == ["defocus_A", "log_likelihood", ZNORM, "density_umap"]
    assert h.derived == [ZNORM, "density_umap"] and h.titles[ZNORM] == "|z|"
    assert np.allclose(h.values[ZNORM], np.linalg.norm(s.ls.z, axis=1))
    assert np.array_equal(h.values["density_umap"], s.density("umap"))
    assert CovariateHistograms(s, density=False).names == ["defocus_A", "log_likelihood", ZNORM]
    assert CovariateHistograms(s, density_basis="z").names[-1] == ZNORM  # 8-D: only on request
    h2 = CovariateHistograms(s, density=False, density_basis="pca")
    h2.add_density()
    assert h2.names[-1] == "density_pca" and np.array_equal(h2.values["density_pca"], s.density("pca"))
    with pytest.raises(ValueError, match="n_bins"):
        CovariateHistograms(s, n_bins=255)


def test_kept_counts_equal_numpy_histograms_of_the_kept_mask():
    rng = np.random.default_rng(3)
    n = 1000
    cov = rng.normal(size=n)
    cov[::17] = np.nan
    s = panel_state({"z": rng.normal(size=(n, 3)), "umap": rng.normal(size=(n, 2))},
                    {"defocus_A": rng.uniform(1e4, 2e4, n), "tilt": cov})
    h = CovariateHistograms(s, n_bins=25)
    _check_counts(h)
    assert np.array_equal(h.kept_counts, h.all_counts)
    v0 = h.version
    s.select_box(-0.5, 0.5, -0.5, 0.5)  # a few (counted directly)
    assert h.version == v0 + 1 and 0 < s.n_kept < n // 2
    _check_counts(h)
    s.select_box(-5, 5, -1.5, 5)  # most (counted as all minus the rest)
    assert s.n_kept > n // 2
    _check_counts(h)
    s.set_filter("tilt", -1.0, 0.5)  # filters count too, and missing values are never counted
    _check_counts(h)
    s.set_filter("defocus_A", 1e9)
    assert h.kept_counts.sum() == 0
    mask = rng.random(n) < 0.3
    assert np.array_equal(h.counts(mask)[0], _numpy_counts(h.values["defocus_A"], h.edges["defocus_A"], mask))


def test_brushing_a_covariate_sets_exactly_the_panel_filter():
    s = synthetic_state(400)
    h = CovariateHistograms(s)
    before = h.png
    h.set_range("defocus_A", 12000.0, 18000.0)
    assert s.filters == {"defocus_A": (12000.0, 18000.0)} and h.ranges == s.filters
    d = s.covariates["defocus_A"]
    assert np.array_equal(s.kept_mask, (d >= 12000) & (d <= 18000))
    assert h.png != before
    _check_counts(h)
    h.set_range("log_likelihood", None, -100.0)
    assert s.filters["log_likelihood"] == (-np.inf, -100.0)
    h.clear_range("defocus_A")
    assert list(s.filters) == ["log_likelihood"]
    h.clear_range()
    assert s.filters == {} and s.n_kept == s.n
    with pytest.raises(KeyError, match="no histogram"):
        h.set_range("nope", 0, 1)


def test_derived_ranges_select_exactly_the_particles_in_range():
    s = synthetic_state(400)
    h = CovariateHistograms(s)
    norm = np.linalg.norm(s.ls.z.astype(np.float64), axis=1)
    lo, hi = np.percentile(norm, [20, 70])
    h.set_range(ZNORM, lo, hi)
    assert s.filters == {ZNORM: (lo, hi)}
    assert np.array_equal(s.kept_mask, (norm >= lo) & (norm <= hi))
    dens = s.density("umap")
    dlo = float(np.median(dens))
    h.set_range("density_umap", dlo)
    assert np.array_equal(s.kept_mask, (norm >= lo) & (norm <= hi) & (dens >= dlo))
    _check_counts(h)
    s.select_box(-50, 0, -50, 50)
    assert np.array_equal(s.kept_mask, s.box_mask(-50, 0, -50, 50) & (norm >= lo) & (norm <= hi) & (dens >= dlo))
    h.clear_range()
    assert np.array_equal(s.kept_mask, s.box_mask(-50, 0, -50, 50))  # the selection stays, the ranges go


def test_derived_columns_go_through_add_covariate_when_the_state_has_it():
    added = {}

    class Registering(PanelState):
        def add_covariate(self, name, values):
            added[name] = values
            self.covariates[name] = values
            self.ls.obs[name] = values  # what this state's filters read

    ls = synthetic_latentset(200)
    s = Registering(ls)
    h = CovariateHistograms(s)
    h.set_range(ZNORM, 0.0, 5.0)
    assert list(added) == [ZNORM] and np.array_equal(added[ZNORM], h.values[ZNORM])
    h.set_range(ZNORM, 1.0, 5.0)  # registered once
    assert list(added) == [ZNORM] and s.filters == {ZNORM: (1.0, 5.0)}


def test_a_hidden_model_recounts_only_when_live_again():
    s = synthetic_state(300)
    h = CovariateHistograms(s)
    h.live = False
    v0, png0 = h.version, h.png
    s.select_box(-50, 0, -50, 50)
    h.shapes = True
    assert h.version == v0 and h.png == png0 and h.stale
    h.live = True
    assert h.version == v0 + 1 and not h.stale and h.png != png0
    _check_counts(h)
    h.live = True  # nothing stale: no recount
    assert h.version == v0 + 1


# ---------------------------------------------------------------- the view
def test_histograms_view_sliders_are_panel_filters():
    from cryolatent.widgets.histograms import HistogramsView

    s = synthetic_state(300)
    v = HistogramsView(s, density=False)
    assert "cl-histograms" in v.image._dom_classes and v.image.value == v.model.png
    assert list(v.sliders) == ["defocus_A", "log_likelihood", ZNORM]
    assert all("cl-hist-range" in sl._dom_classes for sl in v.sliders.values())
    d = v.sliders["defocus_A"]
    assert (d.min, d.max) == (float(v.model.edges["defocus_A"][0]), float(v.model.edges["defocus_A"][-1]))
    d.value = (12000.0, 20000.0)
    assert s.filters == {"defocus_A": (12000.0, 20000.0)} and v.image.value == v.model.png
    z = v.sliders[ZNORM]
    z.value = (z.min, (z.min + z.max) / 2)
    assert s.filters[ZNORM] == (z.min, (z.min + z.max) / 2)
    d.value = (d.min, d.max)  # the full range: no filter
    assert list(s.filters) == [ZNORM]
    s.set_filter("defocus_A", 10000.0, 11000.0)  # the panel's own filter moves the slider
    assert d.value == (10000.0, 11000.0)
    s.clear_filter()
    assert d.value == (d.min, d.max) and z.value == (z.min, z.max)
    d.value = (12000.0, 20000.0)
    v.clear_button.click()
    assert s.filters == {} and d.value == (d.min, d.max)
    v.shapes.value = True
    assert v.model.shapes
    assert v.density_button.layout.display == ""
    v.density_button.click()
    assert "density_umap" in v.sliders and v.grid.children[-1] is v.sliders["density_umap"]
    assert v.density_button.layout.display == "none"
