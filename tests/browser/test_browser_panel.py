"""The latent panel in a real browser: JupyterLab + headless Chromium (Playwright).

Opens notebooks/03_explore.ipynb on the ``tiny`` dataset (its run is trained here
first, so the notebook only loads it), runs all cells, clicks a point (a Mesh3d
appears), makes 10 quick box/lasso selections and checks that every one reached
the kernel, in order, with the right points, then exports the last selection
through the panel and checks the index file. Then the gestures plotly's editable
selection outlines used to take (a box or lasso started inside the last outline,
a click on a point inside it), toolbar tool switches while the kernel decodes,
add mode (a union of regions) and undo. The widget's gesture log
(``CRYOLATENT_WIDGET_LOG``, JSON lines) records each gesture and the displayed
coordinates. Also saves docs/images/explore_panel.png when missing or
CRYOLATENT_SCREENSHOT=1.
"""

from __future__ import annotations

import io
import os
import re
import time

import numpy as np
import pytest
from _browser_lab import jupyter_lab, read_jsonl
from _browser_lab import wait_for as _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(480)]

N_GESTURES = 10
SCATTER = ".cryolatent-scatter"

PLOT_BOX = """() => {
  const gd = document.querySelector('.cryolatent-scatter .cl-plot');
  const fl = gd._fullLayout, r = gd.getBoundingClientRect();
  return {left: r.left + fl._size.l, top: r.top + fl._size.t, w: fl._size.w, h: fl._size.h,
          xr: fl.xaxis.range, yr: fl.yaxis.range};
}"""
SET_DRAGMODE = """(mode) => {
  const gd = document.querySelector('.cryolatent-scatter .cl-plot');
  return window.Plotly.relayout(gd, {dragmode: mode}).then(() => gd._fullLayout.dragmode);
}"""
CENTRE_PLOT = "() => document.querySelector('.cryolatent-scatter .cl-plot').scrollIntoView({block: 'center'})"
COUNTS = """() => {
  const s = document.querySelector('.cryolatent-scatter .cl-status');
  return [Number(s.dataset.sent || 0), Number(s.dataset.acked || 0)];
}"""


class Axes:
    """Data <-> page pixel mapping of the scatter's (linear) axes."""

    def __init__(self, box: dict):
        self.__dict__.update(box)

    def to_px(self, x: float, y: float) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.xr, self.yr
        return self.left + (x - x0) / (x1 - x0) * self.w, self.top + (y1 - y) / (y1 - y0) * self.h

    def to_data(self, px: float, py: float) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.xr, self.yr
        return x0 + (px - self.left) / self.w * (x1 - x0), y1 - (py - self.top) / self.h * (y1 - y0)


def _centres(xy: np.ndarray, labels: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Gesture centres on actual points away from the plot's edges: per cluster the
    point nearest the cluster's mean, or random points when there are too few."""
    lo, hi = xy.min(0), xy.max(0)
    inner = np.all((xy > lo + 0.1 * (hi - lo)) & (xy < hi - 0.1 * (hi - lo)), axis=1)
    out = []
    for c in np.unique(labels) if labels is not None else []:
        members = xy[(labels == c) & inner]
        if len(members):
            out.append(members[np.argmin(((members - members.mean(0)) ** 2).sum(1))])
    if len(out) < 4:
        out = list(xy[rng.choice(np.flatnonzero(inner), size=N_GESTURES, replace=False)])
    return rng.permutation(np.array(out))


def _outline(ax: Axes, centre, kind: str, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A box (2 corners) or lasso (8 vertices) in page pixels around the point ``centre``.

    The outline stays inside the plot area and contains its centre point (the
    centre is jittered by < 0.4 radius), so the gesture selects at least one particle."""
    px, py = ax.to_px(*centre)
    rx, ry = ax.w * rng.uniform(0.04, 0.12), ax.h * rng.uniform(0.04, 0.15)
    rx = min(rx, (px - ax.left - 2) / 1.4, (ax.left + ax.w - 2 - px) / 1.4)
    ry = min(ry, (py - ax.top - 2) / 1.4, (ax.top + ax.h - 2 - py) / 1.4)
    cx = px + rx * rng.uniform(-0.4, 0.4)
    cy = py + ry * rng.uniform(-0.4, 0.4)
    if kind == "box":
        pts = [(cx - rx, cy - ry), (cx + rx, cy + ry)]
    else:
        t = np.linspace(0, 2 * np.pi, 9)[:-1]
        pts = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]
    return [(round(x), round(y)) for x, y in pts]


def _overlap(a, b, margin: float = 12) -> bool:
    (ax0, ay0), (ax1, ay1) = np.min(a, 0), np.max(a, 0)
    (bx0, by0), (bx1, by1) = np.min(b, 0), np.max(b, 0)
    return ax0 - margin < bx1 and bx0 - margin < ax1 and ay0 - margin < by1 and by0 - margin < ay1


def _gestures(ax: Axes, centres: np.ndarray, rng: np.random.Generator) -> list[tuple[str, list]]:
    """Alternating boxes and lassos (pixel vertices) around ``centres`` (data, on points).

    plotly keeps the last selection's outline active: a drag that starts on or in
    it moves or reshapes that selection instead of drawing a new one. So each
    outline is kept clear of the one before it."""
    out: list[tuple[str, list]] = []
    for i in range(N_GESTURES):
        kind = "box" if i % 2 == 0 else "lasso"
        order = [i % len(centres), *rng.permutation(len(centres))]
        for attempt in range(100):
            pts = _outline(ax, centres[order[attempt % len(order)]], kind, rng)
            if not out or not _overlap(pts, out[-1][1]):
                break
        else:
            raise AssertionError("could not place a gesture clear of the previous one")
        out.append((kind, pts))
    return out


def _drag(page, kind: str, pts, frame_ms: int = 16) -> None:
    """Drag through ``pts`` at about a mouse's event rate (one move per frame)."""
    m = page.mouse
    path = [pts[0], pts[1]] if kind == "box" else [*pts, pts[0]]
    m.move(*path[0])
    m.down()
    for a, b in zip(path[:-1], path[1:]):
        for t in np.linspace(0, 1, 5)[1:]:
            page.wait_for_timeout(frame_ms)
            m.move(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    page.wait_for_timeout(frame_ms)
    m.up()


def _expected(xy: np.ndarray, ax: Axes, kind: str, pts) -> np.ndarray:
    from cryolatent.selection import in_polygon

    data = np.array([ax.to_data(*p) for p in pts])
    if kind == "box":
        (xa, ya), (xb, yb) = data.min(0), data.max(0)
        mask = (xy[:, 0] >= xa) & (xy[:, 0] <= xb) & (xy[:, 1] >= ya) & (xy[:, 1] <= yb)
    else:
        mask = in_polygon(xy, data)
    return np.flatnonzero(mask)


def _reported(xy: np.ndarray, rec: dict) -> np.ndarray:
    """Positions inside the box range / lasso polygon (data units) logged with a gesture."""
    from cryolatent.selection import in_polygon

    if rec["kind"] == "box":
        (x0, x1), (y0, y1) = sorted(rec["range"]["x"]), sorted(rec["range"]["y"])
        mask = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    else:
        mask = in_polygon(xy, np.c_[rec["lasso"]["x"], rec["lasso"]["y"]])
    return np.flatnonzero(mask)


def _save_screenshot(parts, path) -> int:
    """PNG of screenshots (PNG bytes) side by side: the first (the panel) on the left, the others
    stacked on its right; palette-quantised to stay small. Returns its size in bytes."""
    from PIL import Image

    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in parts]
    first, rest = images[0], images[1:]
    width = first.width + (max(r.width for r in rest) + 16 if rest else 0)
    img = Image.new("RGB", (width, max(first.height, sum(r.height + 16 for r in rest))), "white")
    img.paste(first, (0, 0))
    y = 0
    for r in rest:
        img.paste(r, (first.width + 16, y))
        y += r.height + 16
    img = img.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
    return path.stat().st_size


def _view(log) -> dict:
    """The widget's last logged view: displayed ``xy`` and cluster ``labels`` (or None)."""
    views = [r for r in read_jsonl(log) if r["kind"] == "view"]
    assert views, "the scatter logged no view record"
    v = views[-1]
    labels = np.asarray(v["labels"]) if "labels" in v else None
    return {"xy": np.c_[v["x"], v["y"]], "labels": labels, "embedding": v["embedding"]}


def test_panel_in_browser(chromium_browser, tmp_path, repo_root, monkeypatch):
    from cryolatent.io import load_index
    from cryolatent.notebook import ensure_run, project, settings

    log = tmp_path / "gestures.jsonl"
    export = tmp_path / "exported.pkl"
    env = {
        "CRYOLATENT_NB_DATASET": "tiny",
        "CRYOLATENT_NB_EPOCHS": "3",
        "CRYOLATENT_NB_WORKDIR": str(tmp_path / "work"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    t0 = time.monotonic()
    nb_settings = settings()
    proj = project(nb_settings, progress=False)
    ensure_run(proj, "first", nb_settings)  # the notebook finds the run and only loads it
    orig_index = np.asarray(proj.latent("first").obs["orig_index"])
    t_run = time.monotonic() - t0
    nb = repo_root / "notebooks" / "03_explore.ipynb"
    with jupyter_lab(tmp_path, [nb], env={**env, "CRYOLATENT_WIDGET_LOG": str(log)}) as (base, _root):
        page = chromium_browser.new_page(viewport={"width": 1500, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        console = open(tmp_path / "console.log", "w")
        page.on("console", lambda m: console.write(m.text + "\n"))
        try:
            exported = _run(page, base, nb.name, log, export, tmp_path, repo_root, errors)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            page.close()
            console.close()
    ids = load_index(export)
    np.testing.assert_array_equal(np.sort(ids), np.sort(orig_index[exported["indices"]]))
    print(f"run prepared in {t_run:.1f} s")


def _run(page, base, nb_name, log, export, tmp_path, repo_root, errors):
    t0 = time.monotonic()
    page.goto(f"{base}/lab/tree/{nb_name}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    # Run All before the kernel session is up is silently dropped: wait for "| Idle"
    idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle"))
    idle.first.wait_for(timeout=60_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    # the notebook embeds (PCA, UMAP) and clusters before the panel cell
    page.wait_for_selector(f"{SCATTER}[data-ready='1']", timeout=240_000)
    view = _view(log)
    xy = view["xy"]
    assert len(xy) == 200 and view["embedding"] == "umap", (len(xy), view["embedding"])
    assert view["labels"] is not None and len(np.unique(view["labels"])) > 1, "no clusters in the view"
    centres = _centres(xy, view["labels"], np.random.default_rng(1))
    scatter = page.locator(SCATTER)
    scatter.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    ax = Axes(page.evaluate(PLOT_BOX))
    t_ready = time.monotonic() - t0

    # click a point -> its volume as a Mesh3d
    assert page.evaluate(SET_DRAGMODE, "zoom") == "zoom"
    target = int(np.argmin(np.abs(xy - np.median(xy, 0)).sum(1)))
    page.mouse.move(*ax.to_px(*xy[target]))
    page.wait_for_timeout(150)
    page.mouse.move(*ax.to_px(*xy[target]))
    # the hover label names the particle (the tiny run trains on every particle: index = position)
    hover = page.locator(".cryolatent-scatter .cl-tooltip")
    _wait(lambda: hover.count() and f"particle {target}" in hover.first.text_content(), 10, "the hover label")
    # ... and the line under the plot adds its cluster and covariates
    line = page.locator(".cryolatent-scatter .cl-hover")
    _wait(lambda: f"particle {target} · kmeans" in line.text_content(), 10, "the hover line")
    assert "recon_error" in line.text_content() and "defocus_A" in line.text_content()
    page.mouse.click(*ax.to_px(*xy[target]))
    vol = page.locator(".cryolatent-volume[data-nfaces]")
    _wait(lambda: vol.count() and int(vol.get_attribute("data-nfaces")) > 0, 30, "the Mesh3d")
    assert page.evaluate("() => document.querySelector('.cryolatent-volume .cl-plot').data[0].type") == "mesh3d"
    clicks = [r for r in read_jsonl(log) if r["kind"] == "click"]
    assert clicks, "the click never reached the kernel"
    _volume_views(page, ax, xy, target, tmp_path)
    page.evaluate(CENTRE_PLOT)  # the volume views' controls may have scrolled the page
    page.wait_for_timeout(200)
    ax = Axes(page.evaluate(PLOT_BOX))

    # 10 quick box/lasso selections, no waiting in between
    gestures = _gestures(ax, centres, np.random.default_rng(1))
    sent0, _ = page.evaluate(COUNTS)
    for i, (kind, pts) in enumerate(gestures):
        mode = "select" if kind == "box" else "lasso"
        assert page.evaluate(SET_DRAGMODE, mode) == mode
        _drag(page, kind, pts)
        # switch tools only once the previous gesture is in: switching plotly's dragmode
        # while the panel redraws the last selection can turn a lasso into a box
        _wait(lambda: page.evaluate(COUNTS)[1] >= sent0 + i + 1, 30, f"the ack of gesture {i + 1}")
    _wait(lambda: page.evaluate(COUNTS) == [sent0 + N_GESTURES] * 2, 30, "acks for every gesture")
    records = [r for r in read_jsonl(log) if r["kind"] in ("box", "lasso")]
    assert [r["kind"] for r in records] == [k for k, _ in gestures]
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == N_GESTURES
    for (kind, pts), rec in zip(gestures, records):
        got = np.sort(rec["indices"])
        # the page sends the outline, not the points: Python selects
        assert rec["n"] == len(got) > 0 and rec["n_header"] is None and not rec["error"]
        # exactly the points inside the outline plotly reports for the gesture ...
        np.testing.assert_array_equal(got, _reported(xy, rec))
        # ... which is the outline the mouse drew, up to points within a pixel of it
        want = _expected(xy, ax, kind, pts)
        assert len(np.setxor1d(got, want)) <= max(5, len(want) // 20), (kind, len(got), len(want))
    assert len({r["n"] for r in records}) > 3, "gestures should select different counts"
    last = records[-1]
    kept = page.locator(".cl-message .cl-kept b").inner_text()
    assert kept.replace(",", "") == str(last["n"])
    # the kept points are drawn in colour over every point in grey (visible at any density)
    _wait(lambda: page.evaluate(DRAWN)[:2] == ["grey", last["n"]], 10, "the kept points drawn on top")

    # export the kept (= last selected) particles through the panel's controls
    path_box = page.locator(".cl-export-path input")
    path_box.fill(str(export))
    path_box.press("Enter")
    page.locator(".cl-export").click()
    _wait(export.exists, 20, "the exported index file")
    _wait(lambda: "wrote" in page.locator(".cl-message .cl-text").inner_text(), 10, "the export message")
    assert not errors, errors

    # the export row may have scrolled the page: measure the plot again
    page.evaluate(CENTRE_PLOT)
    page.wait_for_timeout(200)
    _selection_traps(page, log, xy, Axes(page.evaluate(PLOT_BOX)), centres)
    assert not errors, errors
    _screenshot(page, log, repo_root, tmp_path)
    _sections(page)
    assert not errors, errors
    print(f"scatter ready after {t_ready:.1f} s; total {time.monotonic() - t0:.1f} s")
    return last  # the gesture whose selection was exported


DRAWN_AT = "() => document.querySelector('.cryolatent-volume').__clDrawn || 0"


def _volume_views(page, ax, xy, first, tmp_path):
    """Beside the isosurface: its central slices, the threshold in σ, the low-pass slider,
    two pinned volumes compared (A, B, A − B), and the shown volume saved as .mrc."""
    import mrcfile

    view = page.locator(".cryolatent-volume-view")
    slices = view.locator("img.cl-slices")
    _wait(lambda: slices.is_visible() and slices.bounding_box()["width"] > 100, 10, "the central slices")
    info = view.locator(".widget-html-content").first
    _wait(lambda: "σ" in info.inner_text(), 10, "the threshold in σ")
    # pin this volume, click a point far from it, pin that one, compare
    view.locator("button.cl-pin").click()
    px = np.array([ax.to_px(*q) for q in xy])
    other = int(np.argmax(np.abs(px - px[first]).sum(1)))
    drawn = page.evaluate(DRAWN_AT)
    page.mouse.move(*px[other])
    page.wait_for_timeout(150)
    page.mouse.click(*px[other])
    _wait(lambda: page.evaluate(DRAWN_AT) > drawn, 30, "the second isosurface")
    view.locator("button.cl-pin").click()
    view.locator("button.cl-compare").click()
    compare = view.locator("img.cl-compare-view")
    _wait(lambda: compare.is_visible() and compare.bounding_box()["height"] > 2 * slices.bounding_box()["height"],
          10, "A, B and A − B slices")
    # low-pass: one step of the slider (keyboard on its handle) redraws the isosurface
    readout = view.locator(".cl-lowpass .widget-readout")
    assert readout.inner_text().strip() == "off"
    drawn = page.evaluate(DRAWN_AT)
    view.locator(".cl-lowpass .noUi-handle").focus()
    page.keyboard.press("ArrowRight")
    _wait(lambda: readout.inner_text().strip() != "off", 10, "the low-pass readout")
    _wait(lambda: page.evaluate(DRAWN_AT) > drawn, 30, "the low-passed isosurface")
    # save the shown volume
    target = tmp_path / "shown.mrc"
    box = view.locator(".cl-save-path input")
    box.fill(str(target))
    box.press("Enter")
    view.locator("button.cl-save-volume").click()
    _wait(target.exists, 20, "the saved .mrc")
    with mrcfile.open(target) as m:
        assert m.data.ndim == 3 and len(set(m.data.shape)) == 1 and np.isfinite(m.data).all()


def _screenshot(page, log, repo_root, tmp_path):
    """The panel with a lasso around the left 45% of the points, a trajectory along PC1 (its middle
    frame in the volume view), and beside it the particle gallery and covariate histograms of the
    lasso's particles: docs/images/explore_panel.png when missing or CRYOLATENT_SCREENSHOT=1."""
    page.set_viewport_size({"width": 1500, "height": 2400})  # the whole panel, not what fits a screen
    page.evaluate(CENTRE_PLOT)
    page.wait_for_timeout(300)
    ax = Axes(page.evaluate(PLOT_BOX))
    assert page.evaluate(TOOL, "lasso") == "lasso"
    l, t, w, h = ax.left, ax.top, ax.w, ax.h
    lasso = [(l + 0.03 * w, t + 0.1 * h), (l + 0.45 * w, t + 0.05 * h), (l + 0.5 * w, t + 0.5 * h),
             (l + 0.4 * w, t + 0.95 * h), (l + 0.05 * w, t + 0.9 * h)]
    _gesture.seen = page.evaluate(COUNTS)[1]
    _drag(page, "lasso", [(round(x), round(y)) for x, y in lasso])
    rec = _gesture(page, log)
    assert rec["kind"] == "lasso" and rec["n"] > 10
    shot = repo_root / "docs" / "images" / "explore_panel.png"
    if os.environ.get("CRYOLATENT_SCREENSHOT") != "1" and shot.exists():
        shot = tmp_path / "explore_panel.png"
    panel = page.locator(".cryolatent-panel")
    sections = panel.locator(".cl-sections")
    # a trajectory along PC1, drawn on the scatter, its middle frame in the volume view
    sections.get_by_text("trajectory", exact=True).click()
    traj = panel.locator(".cryolatent-trajectory")
    traj.locator(".cl-traj-kind select").select_option(label="principal component")
    traj.locator("button.cl-traj-build").click()
    _wait(lambda: "trajectory frame 1 of" in panel.locator(".cl-message .cl-text").inner_text(), 60, "frame 1")
    traj.locator(".cl-traj-frame .noUi-handle").focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    _wait(lambda: "trajectory frame 5 of" in panel.locator(".cl-message .cl-text").inner_text(), 60, "frame 5")
    page.wait_for_timeout(800)
    parts = [panel.screenshot(type="png")]
    # the particle gallery and the covariate histograms of the lasso's particles
    for title, image in [("particles", "img.cl-gallery"), ("covariate histograms", "img.cl-histograms")]:
        sections.get_by_text(title, exact=True).click()
        img = panel.locator(image)
        _wait(lambda: img.is_visible() and img.bounding_box()["width"] > 100, 30, f"the {title} image")
        page.wait_for_timeout(500)
        parts.append(sections.screenshot(type="png"))  # the section titles, this one open
    sections.get_by_text("covariate histograms", exact=True).click()  # closed again
    assert _save_screenshot(parts, shot) < 700_000
    page.set_viewport_size({"width": 1500, "height": 1100})


def _sections(page):
    """The sections under the controls open on a click: the particle gallery (real images of the
    run's particles), the covariate histograms, the latent pair plot, and retrain's command."""
    panel = page.locator(".cryolatent-panel")
    for title, image in [("particles", "img.cl-gallery"), ("covariate histograms", "img.cl-histograms"),
                         ("latent pairs", "img.cl-pairs")]:
        panel.locator(".cl-sections").get_by_text(title, exact=True).click()
        img = panel.locator(image)
        _wait(lambda: img.is_visible() and img.bounding_box()["width"] > 100, 30, f"the {title} image")
    assert panel.locator(".cl-hist-range").count() >= 4  # a range slider per covariate
    panel.locator(".cl-sections").get_by_text("retrain", exact=True).click()
    panel.locator("button.cl-retrain-save").click()
    command = panel.locator(".cl-retrain-command code").first
    _wait(lambda: command.count() and "cryolatent train --project" in command.inner_text(), 20, "the retrain command")
    assert "--selection keep" in command.inner_text()


TOOL = """(tool) => {  // press a toolbar button; the page's dragmode right after the press
  document.querySelector(`.cryolatent-scatter .cl-toolbar button[data-tool='${tool}']`).click();
  return document.querySelector('.cryolatent-scatter .cl-plot')._fullLayout.dragmode;
}"""
MODE = """(mode) => {
  document.querySelector(`.cryolatent-scatter .cl-toolbar button[data-mode='${mode}']`).click();
  return document.querySelector('.cryolatent-scatter .cl-toolbar').dataset.mode;
}"""
TOOL_NOW = "() => document.querySelector('.cryolatent-scatter .cl-plot')._fullLayout.dragmode"
DRAWN = """() => {  // all points painted grey or in colour, the kept points painted on top, plotly outlines
  const c = document.querySelector('.cryolatent-scatter canvas.cl-points');
  return [c.dataset.base, Number(c.dataset.kept),
          document.querySelectorAll('.cryolatent-scatter .selectionlayer path').length];
}"""
OUTLINES = "() => document.querySelectorAll('.cryolatent-scatter .selectionlayer path').length"


def _gesture(page, log, kinds=("box", "lasso", "click", "undo", "deselect"), new: int = 1):
    """Wait for ``new`` more gestures than already logged, all acked; the last logged record of ``kinds``."""
    done = _gesture.seen + new
    _wait(lambda: (lambda c: c[0] == c[1] >= done)(page.evaluate(COUNTS)), 30, f"gesture {done} and its ack")
    _gesture.seen = done
    return [r for r in read_jsonl(log) if r["kind"] in kinds][-1]


_gesture.seen = 0


def _kept(page) -> int:
    return int(page.locator(".cl-message .cl-kept b").inner_text().replace(",", ""))


def _check_region(xy, ax, rec, kind, pts, mode):
    got = np.sort(rec["indices"])
    assert rec["kind"] == kind and rec["mode"] == mode and not rec["error"], rec
    np.testing.assert_array_equal(got, _reported(xy, rec))
    want = _expected(xy, ax, kind, pts)
    assert len(want) > 0 and len(np.setxor1d(got, want)) <= max(3, len(want) // 20), (kind, len(got), len(want))
    return got


def _selection_traps(page, log, xy, ax, centres):
    """The gestures plotly's editable outlines used to take, tool switches while the
    kernel decodes, add mode and undo, all through the scatter's own toolbar."""
    mid = np.array([ax.left + ax.w / 2, ax.top + ax.h / 2])
    rx, ry = 0.09 * ax.w, 0.09 * ax.h
    c0 = np.array(ax.to_px(*centres[0]))
    c0 = np.clip(c0, [ax.left + 2.5 * rx, ax.top + 2.5 * ry], [ax.left + ax.w - 2.5 * rx, ax.top + ax.h - 2.5 * ry])
    toward = np.sign(mid - c0) + (mid == c0)  # room on that side
    _gesture.seen = page.evaluate(COUNTS)[1]
    assert page.evaluate(MODE, "replace") == "replace"
    assert page.evaluate(TOOL, "select") == "select"
    # 1. a box; then a box started inside its outline draws a new box (not the old one moved)
    b1 = [tuple(np.round(c0 - (rx, ry))), tuple(np.round(c0 + (rx, ry)))]
    _drag(page, "box", b1)
    first = _check_region(xy, ax, _gesture(page, log), "box", b1, "replace")
    start = c0 + toward * (0.3 * rx, 0.3 * ry)
    b2 = [tuple(np.round(start)), tuple(np.round(start + toward * (2.2 * rx, 1.6 * ry)))]
    _drag(page, "box", b2)
    rec = _gesture(page, log)
    second = _check_region(xy, ax, rec, "box", b2, "replace")
    data = np.array([ax.to_data(*p) for p in b2])
    np.testing.assert_allclose(np.sort(rec["range"]["x"]), np.sort(data[:, 0]), atol=0.02 * np.ptp(ax.xr))
    assert _kept(page) == len(second) and not np.array_equal(first, second)
    _wait(lambda: page.evaluate(OUTLINES) == 0, 5, "plotly's outline to be cleared")
    # 2. a lasso started inside that box's outline is a lasso with exactly its points
    assert page.evaluate(TOOL, "lasso") == "lasso"
    lc = (np.array(b2[0]) + np.array(b2[1])) / 2
    hw = np.abs(np.array(b2[1]) - np.array(b2[0])) / 2
    t = np.linspace(0, 2 * np.pi, 9)[:-1]
    lasso = [(round(lc[0] + 0.6 * hw[0] * np.cos(a)), round(lc[1] + 1.5 * hw[1] * np.sin(a))) for a in t]
    _drag(page, "lasso", lasso)
    lassoed = _check_region(xy, ax, _gesture(page, log), "lasso", lasso, "replace")
    assert _kept(page) == len(lassoed)
    # 3. a click on a point inside the outline is a click
    px = np.array([ax.to_px(*q) for q in xy])
    target = lassoed[np.argmin(np.abs(px[lassoed] - lc).sum(1))]
    page.mouse.move(*px[target])
    page.wait_for_timeout(150)
    page.mouse.move(*px[target])
    page.mouse.click(*px[target])
    rec = _gesture(page, log)
    assert rec["kind"] == "click" and len(rec["indices"]) == 1, rec
    assert np.hypot(*(px[rec["indices"][0]] - px[target])) <= 2 and _kept(page) == len(lassoed)
    # 4. tool switches act at once while the kernel decodes: click other points, switch, draw a lasso
    assert page.evaluate(TOOL, "zoom") == "zoom"
    far = np.argsort(-np.abs(px - px[target]).sum(1))[:3]
    for q in far:  # plotly clicks the hovered point: hover first, as a hand does
        page.mouse.move(*px[q])
        page.wait_for_timeout(150)
        page.mouse.move(*px[q])
        page.mouse.click(*px[q])
    busy = page.evaluate(COUNTS)
    for tool in ["lasso", "select", "lasso", "select", "lasso"]:
        assert page.evaluate(TOOL, tool) == tool
    assert page.evaluate(TOOL_NOW) == "lasso"
    c1 = np.clip(np.array(ax.to_px(*centres[1])), [ax.left + 2 * rx, ax.top + 2 * ry],
                 [ax.left + ax.w - 2 * rx, ax.top + ax.h - 2 * ry])
    lasso2 = [(round(c1[0] + 1.4 * rx * np.cos(a)), round(c1[1] + 1.4 * ry * np.sin(a))) for a in t]
    _drag(page, "lasso", lasso2)
    _check_region(xy, ax, _gesture(page, log, ("lasso", "box"), new=len(far) + 1), "lasso", lasso2, "replace")
    clicks = [r for r in read_jsonl(log) if r["kind"] == "click"][-3:]
    assert [r["kind"] for r in clicks] == ["click"] * 3
    for r, q in zip(clicks, far):  # each the point under the mouse (or one within 2 pixels of it)
        assert np.hypot(*(px[r["indices"][0]] - px[q])) <= 2, (r["indices"], q)
    # (the switches are read back synchronously in the page: they cannot have waited for the kernel)
    print(f"tools switched with {busy[0] - busy[1]} clicks still being applied in the kernel")
    # 5. add mode: a union of two regions; 6. undo restores the previous selection
    assert page.evaluate(MODE, "add") == "add" and page.evaluate(TOOL, "select") == "select"
    regions, boxes = [], []
    for c in centres[2:]:  # two boxes apart from each other
        c = np.clip(np.array(ax.to_px(*c)), [ax.left + rx, ax.top + ry], [ax.left + ax.w - rx, ax.top + ax.h - ry])
        box = [tuple(np.round(c - (0.8 * rx, 0.8 * ry))), tuple(np.round(c + (0.8 * rx, 0.8 * ry)))]
        if boxes and _overlap(box, boxes[0], margin=4):
            continue
        boxes.append(box)
        _drag(page, "box", box)
        regions.append(_check_region(xy, ax, _gesture(page, log), "box", box, "add"))
        if len(regions) == 2:
            break
    assert len(regions) == 2, "no two separate regions"
    before = _kept(page)
    union = np.union1d(np.union1d(_gesture(page, log, ("lasso",), new=0)["indices"], regions[0]), regions[1])
    assert before == len(union), (before, len(union))
    page.locator(".cryolatent-scatter .cl-toolbar .cl-undo").click()
    assert _gesture(page, log)["kind"] == "undo"
    restored = _kept(page)
    assert restored == len(np.union1d(_gesture(page, log, ("lasso",), new=0)["indices"], regions[0]))
    # 7. subtract everything: "0 kept" is drawn as all dimmed (not as all at full colour); undo again
    assert page.evaluate(MODE, "subtract") == "subtract"
    whole = [(round(ax.left + 4), round(ax.top + 4)), (round(ax.left + ax.w - 4), round(ax.top + ax.h - 4))]
    _drag(page, "box", whole)
    assert len(_check_region(xy, ax, _gesture(page, log), "box", whole, "subtract")) == len(xy)
    assert _kept(page) == 0
    _wait(lambda: page.evaluate(DRAWN) == ["grey", 0, 0], 10, "all points drawn grey, none on top, no outline")
    page.locator(".cryolatent-scatter .cl-toolbar .cl-undo").click()
    assert _gesture(page, log)["kind"] == "undo" and _kept(page) == restored
    assert page.evaluate(MODE, "replace") == "replace"
