"""The panel's "3-D view" section in a real browser: JupyterLab + headless Chromium (Playwright).

Opens notebooks/03_explore.ipynb on the ``tiny`` dataset (its run trained here first), opens the
section, waits for plotly's 3-D scene (WebGL: SwiftShader in headless Chromium), checks that every
particle is drawn, selects a cluster with the panel's own controls (no kernel call from the test)
and checks the kept count drawn in 3-D, then clicks a point in the scene: plotly picks it, the
kernel makes it the current point (its volume is drawn) and the 3-D view marks it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from _browser_lab import jupyter_lab, run_all_cells, tiny_project
from _browser_lab import wait_for as _wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(480)]

VIEW = ".cryolatent-scatter3d"
SCENE = f"() => !!(document.querySelector('{VIEW} .cl-plot3d') || {{}})._fullLayout?.scene?._scene"
DRAWN = f"""() => {{  // data attributes and plotly's own traces: all, kept, current point
  const el = document.querySelector('{VIEW}'), gd = el.querySelector('.cl-plot3d');
  return {{points: Number(el.dataset.points), kept: Number(el.dataset.kept),
          traces: gd.data.map((t) => t.x.length), canvas: !!gd.querySelector('.gl-container canvas')}};
}}"""
# page pixel of every drawn point (trace 0), projected as plotly does for its hover labels
PROJECT = f"""() => {{
  const gd = document.querySelector('{VIEW} .cl-plot3d'), sc = gd._fullLayout.scene._scene;
  const cam = sc.glplot.cameraParams, ds = sc.dataScale, r = sc.container.getBoundingClientRect();
  const mul = (m, v) => {{ const p = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) p[j] += m[4 * i + j] * v[i];
    return p; }};
  const t = gd.data[0], out = [];
  for (let i = 0; i < t.x.length; i++) {{
    const p = mul(cam.projection, mul(cam.view, mul(cam.model, [t.x[i] * ds[0], t.y[i] * ds[1], t.z[i] * ds[2], 1])));
    out.push([r.left + 0.5 * (1 + p[0] / p[3]) * r.width, r.top + 0.5 * (1 - p[1] / p[3]) * r.height]);
  }}
  return out;
}}"""
LISTEN = f"""() => {{  // remember plotly's last hover pick in the scene (curve, point)
  const gd = document.querySelector('{VIEW} .cl-plot3d');
  window.__clHover3d = null;
  gd.on('plotly_hover', (ev) => {{ const p = ev.points[0]; window.__clHover3d = [p.curveNumber, p.pointNumber]; }});
  gd.on('plotly_unhover', () => {{ window.__clHover3d = null; }});
}}"""
MARKED = f"""() => {{  // the current-point marker's coordinates, or null
  const t = document.querySelector('{VIEW} .cl-plot3d').data[2];
  return t.x.length ? [t.x[0], t.y[0], t.z[0]] : null;
}}"""
POINT = f"""(i) => {{
  const t = document.querySelector('{VIEW} .cl-plot3d').data[0];
  return [t.x[i], t.y[i], t.z[i]];
}}"""
HOVERED = "() => window.__clHover3d"


def test_3d_view_in_browser(chromium_browser, tmp_path, repo_root, monkeypatch):
    env, proj = tiny_project(tmp_path, monkeypatch)  # the notebook finds the run and only loads it
    n = proj.latent("first").n_obs
    nb = repo_root / "notebooks" / "03_explore.ipynb"
    with jupyter_lab(tmp_path, [nb], env=env) as (base, _root):
        page = chromium_browser.new_page(viewport={"width": 1500, "height": 1100})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            _run(page, base, nb.name, n, tmp_path)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            raise
        finally:
            page.close()
        assert not errors, errors


def _run(page, base: str, nb_name: str, n: int, shots) -> None:
    run_all_cells(page, base, nb_name)
    panel = page.locator(".cryolatent-panel")

    # open the section: plotly's WebGL scene with every particle, all in colour (nothing selected)
    panel.locator(".cl-sections").get_by_text("3-D view", exact=True).click()
    page.wait_for_selector(f"{VIEW}[data-ready='1']", timeout=60_000)
    _wait(lambda: page.evaluate(SCENE), 30, "plotly's 3-D scene")
    drawn = page.evaluate(DRAWN)
    assert drawn["canvas"] and drawn["points"] == n == drawn["traces"][0] and drawn["kept"] == n, drawn
    assert drawn["traces"][1:] == [0, 0], drawn  # no kept trace, no current point yet
    assert f"all {n:,} particles" in panel.locator(".cl-caption3d").inner_text()

    # select a cluster with the panel's controls: the kept points are drawn in colour on top
    panel.locator(".widget-select-multiple select").first.select_option(index=0)
    panel.get_by_role("button", name="select", exact=True).click()
    kept = _wait(lambda: (lambda t: int(t.replace(",", "")) if t and int(t.replace(",", "")) < n else 0)(
        panel.locator(".cl-message .cl-kept b").inner_text()), 30, "the cluster selected in the kernel")
    _wait(lambda: page.evaluate(DRAWN)["kept"] == kept, 30, "data-kept to follow the selection")
    drawn = page.evaluate(DRAWN)
    assert drawn["points"] == n and drawn["traces"][:2] == [n, kept], drawn

    # click a point in the scene: plotly picks it on hover (rendering a pick buffer), the click
    # sends its position, the kernel decodes its volume and the 3-D view marks it
    view = page.locator(VIEW)
    view.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.evaluate(LISTEN)
    px = np.array(page.evaluate(PROJECT))
    box = view.locator(".cl-plot3d .gl-container canvas").first.bounding_box()
    inside = (px[:, 0] > box["x"] + 20) & (px[:, 0] < box["x"] + box["width"] - 20) & \
             (px[:, 1] > box["y"] + 40) & (px[:, 1] < box["y"] + box["height"] - 20)
    d = np.hypot(*(px[:, None, :] - px[None, :, :]).transpose(2, 0, 1)) + np.eye(n) * 1e9
    order = [i for i in np.argsort(-d.min(1)) if inside[i]][:5]  # the most isolated points on screen
    assert order, "no drawn point inside the scene"
    hover = None
    for i in order:  # the first that plotly picks (a point hidden behind another is picked as that one)
        page.mouse.move(px[i, 0] - 3, px[i, 1])
        page.wait_for_timeout(100)
        page.mouse.move(*px[i])
        if _try(lambda: page.evaluate(HOVERED), page) and page.evaluate(HOVERED)[0] < 2:  # not the marker
            hover = page.evaluate(HOVERED)
            break
    assert hover, "plotly picked no point under the mouse"
    # plotly's scene emits plotly_click from the frame that picks with a button held (not on
    # mouseup), so the button stays down until the page has sent the click; no move: no rotation
    page.mouse.down()
    try:
        clicked = int(_wait(lambda: view.get_attribute("data-clicked"), 10, "the click sent to the kernel"))
    finally:
        page.mouse.up()
    if hover[0] == 0:  # the grey trace: its point number is the position (every particle is drawn)
        assert clicked == hover[1], (clicked, hover)
    vol = page.locator(".cryolatent-volume[data-nfaces]")
    _wait(lambda: vol.count() and int(vol.get_attribute("data-nfaces")) > 0, 60, "the clicked point's volume")
    _wait(lambda: page.evaluate(MARKED), 30, "the current point marked in 3-D")
    page.wait_for_timeout(300)
    view.screenshot(path=str(shots / "view3d.png"))  # for a look when something seems off
    np.testing.assert_allclose(page.evaluate(MARKED), page.evaluate(POINT, clicked), rtol=1e-5)


def _try(pred, page, timeout: float = 10.0) -> bool:
    """Whether ``pred`` becomes true within ``timeout`` seconds (plotly picks on its next frame)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        page.wait_for_timeout(100)
    return False
