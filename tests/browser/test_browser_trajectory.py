"""The panel's "trajectory" section in a real browser: JupyterLab + headless Chromium (Playwright).

Opens notebooks/03_explore.ipynb on the ``tiny`` dataset (its run trained here first), opens the
section, turns on "click adds waypoints", clicks two points of the scatter (two far apart in one
component of the kNN graph the path follows), builds the path and checks that the scatter draws
it (a plotly ``path`` shape through the frames), moves the frame slider and checks that the
volume view shows another volume, then writes the .mrc series and reads the files.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _browser_lab import jupyter_lab, read_jsonl, run_all_cells, tiny_project
from _browser_lab import wait_for as _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(480)]

PLOT_BOX = """() => {
  const gd = document.querySelector('.cryolatent-scatter .cl-plot');
  gd.scrollIntoView({block: 'center'});
  const fl = gd._fullLayout, r = gd.getBoundingClientRect();
  return {left: r.left + fl._size.l, top: r.top + fl._size.t, w: fl._size.w, h: fl._size.h,
          xr: fl.xaxis.range, yr: fl.yaxis.range};
}"""
PATH_SHAPES = """() => {  // the trajectory line's vertices as plotly holds them, and the page's count
  const el = document.querySelector('.cryolatent-scatter'), gd = el.querySelector('.cl-plot');
  const lines = (gd.layout.shapes || []).filter((s) => s.type === 'path');
  return {n: Number(el.dataset.pathPoints || 0), lines: lines.map((s) => s.path),
          drawn: gd.querySelectorAll('.shapelayer path').length};
}"""
SLICES = "() => (document.querySelector('.cryolatent-volume-view img.cl-slices') || {}).src || ''"


def _waypoints(xy: np.ndarray, z: np.ndarray, box: dict) -> tuple[int, int]:
    """Two points to click: apart from their neighbours on screen (a click finds them), in one
    component of the kNN graph (k = 10, the section's default), as far apart as such points are."""
    from scipy.sparse.csgraph import connected_components

    from cryolatent.tl.trajectory import knn_graph

    (x0, x1), (y0, y1) = box["xr"], box["yr"]
    px = np.c_[(xy[:, 0] - x0) / (x1 - x0) * box["w"], (y1 - xy[:, 1]) / (y1 - y0) * box["h"]]
    d = np.linalg.norm(px[:, None] - px[None], axis=2) + np.eye(len(px)) * 1e9
    inner = np.all((px > 10) & (px < [box["w"] - 10, box["h"] - 10]), axis=1)
    alone = inner & (d.min(1) > 10)
    ok = alone if alone.sum() >= 2 else inner
    _, comp = connected_components(knn_graph(z, 10), directed=False)
    best = max(((i, j) for i in np.flatnonzero(ok) for j in np.flatnonzero(ok) if i < j and comp[i] == comp[j]),
               key=lambda ij: d[ij])
    return int(best[0]), int(best[1])


def test_trajectory_in_browser(chromium_browser, tmp_path, repo_root, monkeypatch):
    log = tmp_path / "gestures.jsonl"
    env, proj = tiny_project(tmp_path, monkeypatch)  # the notebook finds the run and only loads it
    z = np.asarray(proj.latent("first").z)
    nb = repo_root / "notebooks" / "03_explore.ipynb"
    with jupyter_lab(tmp_path, [nb], env={**env, "CRYOLATENT_WIDGET_LOG": str(log)}) as (base, _root):
        page = chromium_browser.new_page(viewport={"width": 1500, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            _run(page, base, nb.name, log, z, tmp_path)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            page.close()
        assert not errors, errors


def _run(page, base: str, nb_name: str, log, z: np.ndarray, tmp_path) -> None:
    import mrcfile

    run_all_cells(page, base, nb_name)
    panel = page.locator(".cryolatent-panel")
    view = [r for r in read_jsonl(log) if r["kind"] == "view"][-1]
    xy = np.c_[view["x"], view["y"]]

    # open the section, turn on waypoints, click two points
    panel.locator(".cl-sections").get_by_text("trajectory", exact=True).click()
    traj = page.locator(".cryolatent-trajectory")
    traj.wait_for(timeout=60_000)
    traj.locator("button.cl-traj-waypoints").click()
    _wait(lambda: "mod-active" in (traj.locator("button.cl-traj-waypoints").get_attribute("class") or ""), 10,
          "the waypoint toggle on")
    box = page.evaluate(PLOT_BOX)
    page.wait_for_timeout(300)
    box = page.evaluate(PLOT_BOX)
    a, b = _waypoints(xy, z, box)
    for i, p in enumerate((a, b)):
        at = (box["left"] + (xy[p, 0] - box["xr"][0]) / (box["xr"][1] - box["xr"][0]) * box["w"],
              box["top"] + (box["yr"][1] - xy[p, 1]) / (box["yr"][1] - box["yr"][0]) * box["h"])
        page.mouse.move(*at)  # hover first, as a hand does
        page.wait_for_timeout(150)
        page.mouse.click(*at)
        _wait(lambda: len([r for r in read_jsonl(log) if r["kind"] == "click"]) > i, 30, f"click {i + 1}")
    clicked = [r["indices"][0] for r in read_jsonl(log) if r["kind"] == "click"]
    assert clicked == [a, b], (clicked, a, b)
    # the tiny run trains on every particle: particle index = position
    _wait(lambda: f"waypoints (particles): {a}, {b}" in traj.inner_text(), 30, "both waypoints listed")

    # build: the path on the scatter, from the first waypoint to the second
    before = page.evaluate(SLICES)
    traj.locator("button.cl-traj-build").click()
    drawn = _wait(lambda: (lambda s: s if s["n"] >= 2 and s["lines"] else None)(page.evaluate(PATH_SHAPES)), 60,
                  "the path drawn on the scatter")
    assert len(drawn["lines"]) == 1 and drawn["drawn"] >= drawn["n"] + 2, drawn  # line, dots, waypoints, ring
    vertices = np.array(re.findall(r"[-\d.e]+,[-\d.e]+", drawn["lines"][0]), dtype=object)
    ends = np.array([v.split(",") for v in vertices[[0, -1]]], dtype=float)
    np.testing.assert_allclose(ends, xy[[a, b]], rtol=1e-4, atol=1e-4)
    n_frames = drawn["n"]
    _wait(lambda: "trajectory frame 1 of" in panel.locator(".cl-message .cl-text").inner_text(), 30,
          "frame 1 shown")
    _wait(lambda: page.evaluate(SLICES) not in ("", before), 30, "frame 1's slices")  # A's volume, newly decoded
    assert traj.locator("img.cl-traj-strip").get_attribute("src")

    # the frame slider: another frame, another volume in the volume view
    shown = page.evaluate(SLICES)
    traj.locator(".cl-traj-frame .noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    _wait(lambda: "trajectory frame 2 of" in panel.locator(".cl-message .cl-text").inner_text(), 30,
          "frame 2 shown")
    _wait(lambda: page.evaluate(SLICES) != shown, 30, "frame 2's slices")
    _wait(lambda: "decoded so far: 1, 2" in traj.locator(".cl-traj-info").inner_text(), 10, "the strip's caption")

    # write the series
    out = tmp_path / "series"
    folder = traj.locator(".cl-traj-path input")
    folder.fill(str(out))
    folder.press("Enter")
    traj.locator("button.cl-traj-save").click()
    _wait(lambda: (out / "z_values.txt").exists(), 60, "the .mrc series")
    vols = sorted(out.glob("vol_*.mrc"))
    assert len(vols) == n_frames and len(np.loadtxt(out / "z_values.txt", ndmin=2)) == n_frames
    np.testing.assert_allclose(np.loadtxt(out / "z_values.txt", ndmin=2)[[0, -1]], z[[a, b]], atol=1e-4)
    for path in vols:
        with mrcfile.open(path) as m:
            assert m.data.ndim == 3 and len(set(m.data.shape)) == 1 and np.isfinite(m.data).all()
    assert "wrote" in panel.locator(".cl-message .cl-text").inner_text()
