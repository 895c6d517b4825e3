"""The explorer panel's speed in a real browser (JupyterLab + headless Chromium).

For each point count: the time from the panel cell to the points on screen (and to the
whole plot, axes and tools, ready), box
selections of about half the points (page -> Python applied and acknowledged, and
-> highlighted in the plot), how smoothly a pan redraws, and click -> isosurface on
screen for a 3 x 256 decoder at D = 64 (the kernel's share measured apart: decode,
isosurface, slices). Then click -> volume for D = 128 and for the 3 x 1024 decoder.
Synthetic points (12 blobs, clusters, covariates) and untrained decoders: the
timings do not depend on what the points or weights are.

Usage (after ``bash tests/browser/install_browser_deps.sh .venv``; run it alone)::

    .venv/bin/python bench/panel_bench.py                    # 1,000,000 and 100,000 points
    .venv/bin/python bench/panel_bench.py --points 200000 --no-volumes --out /tmp/x.json

Writes ``bench/panel_results.json`` (``--out``) and prints a table for RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "browser"))


# ---------------------------------------------------------------- what the kernel runs
def synthetic(n: int, seed: int = 0):
    """A LatentSet of ``n`` particles: 8-D z in 12 blobs, a 2-D "umap", k-means-like
    labels and three covariates."""
    import pandas as pd

    from cryolatent.latent import LatentSet

    rng = np.random.default_rng(seed)
    k = 12
    labels = rng.integers(0, k, size=n)
    centres = rng.normal(scale=3.0, size=(k, 8))
    z = (centres[labels] + rng.normal(scale=0.6, size=(n, 8))).astype(np.float32)
    angle = 2 * np.pi * np.arange(k) / k
    ring = np.c_[6 * np.cos(angle), 6 * np.sin(angle)]
    umap = (ring[labels] + rng.normal(scale=0.9, size=(n, 2))).astype(np.float32)
    obs = pd.DataFrame({
        "orig_index": np.arange(n),
        "kmeans": pd.Categorical(labels),
        "defocus_A": rng.uniform(8000, 25000, size=n),
        "recon_error": rng.gamma(4.0, 0.01, size=n),
        "tilt": rng.uniform(0, 180, size=n),
    })
    return LatentSet(z, obs, emb={"umap": umap})


def model_decoder(preset: str = "small", D: int = 64, zdim: int = 8, amp: bool = True, seed: int = 0):
    """A :class:`cryolatent.volumes.Decoder` of an untrained model of ``preset`` at box ``D``
    (bf16 autocast where the CPU has it, as the notebooks use)."""
    import torch

    from cryolatent.training.config import TrainConfig
    from cryolatent.training.evaluate import eval_volumes
    from cryolatent.training.model import build_from_config
    from cryolatent.volumes import Decoder, preview_box

    torch.manual_seed(seed)
    config = TrainConfig.from_preset(preset, zdim=zdim)
    model = build_from_config(config, D).eval()

    def fn(z, box=None):
        return eval_volumes(None, z, model=model, norm=1.0, amp=amp, downsample=box)

    # as the notebooks' run_decoder(..., preview=True): a half-box preview first where the decode is slow
    coarse = preview_box(D, model.decoder.mlp.inp.out_features)
    return Decoder(fn, apix=None, cache_size=0, preview=(lambda z: fn(z, coarse)) if coarse else None)


def kernel_breakdown(preset: str, D: int, repeats: int = 5) -> dict:
    """Seconds per step of a click in the kernel alone: decode, and the panel's views
    (isosurface, slices) through ``PanelState.set_point`` with a VolumeView attached."""
    from cryolatent.widgets.state import PanelState
    from cryolatent.widgets.volume_view import VolumeView

    ls = synthetic(2000, seed=1)
    dec = model_decoder(preset, D)
    dec(ls.z[:1])  # warm up
    t_decode = []
    for i in range(repeats):
        t0 = time.perf_counter()
        dec(ls.z[i + 1 : i + 2])
        t_decode.append(time.perf_counter() - t0)
    state = PanelState(ls, dec)
    VolumeView(state)
    state.set_point(0)
    t_click = []
    for i in range(repeats):
        t0 = time.perf_counter()
        state.set_point(10 + i)
        t_click.append(time.perf_counter() - t0)
    return {"decode_s": statistics.median(t_decode), "set_point_with_views_s": statistics.median(t_click)}


# ---------------------------------------------------------------- the browser side
def _notebook(path: Path, n: int, preset: str, D: int, t0_file: Path) -> None:
    import nbformat

    cells = [
        "import sys, time, pathlib\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import panel_bench as pb\nimport cryolatent as cl\n"
        f"ls = pb.synthetic({n})\ndec = pb.model_decoder({preset!r}, {D})\ndec(ls.z[:1]);",
        "t0 = time.time()\n"
        "panel = cl.widgets.LatentPanel.from_latentset(ls, dec, basis='umap')\n"
        f"pathlib.Path({str(t0_file)!r}).write_text(repr(t0))\npanel",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(nbformat.writes(nb))


TIMING = "() => document.querySelector('.cryolatent-scatter').__cl"
PLOT = """() => {
  const gd = document.querySelector('.cryolatent-scatter .cl-plot'), fl = gd._fullLayout, r = gd.getBoundingClientRect();
  return {left: r.left + fl._size.l, top: r.top + fl._size.t, w: fl._size.w, h: fl._size.h,
          xr: fl.xaxis.range, yr: fl.yaxis.range};
}"""
FRAMES = """(ms) => new Promise((done) => {
  const t = []; const t0 = performance.now();
  const tick = (now) => { t.push(now); if (now - t0 < ms) requestAnimationFrame(tick); else done(t); };
  requestAnimationFrame(tick);
})"""


def _wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _tool(page, tool: str) -> None:
    page.evaluate(f"() => document.querySelector(\".cryolatent-scatter .cl-toolbar button[data-tool='{tool}']\").click()")


def _boxes(page, repeats: int) -> list[dict]:
    """Box selections of the left and right halves of the points, alternately (``replace``)."""
    _tool(page, "select")
    out = []
    for i in range(repeats):
        a = page.evaluate(PLOT)
        xmid = a["left"] + a["w"] * 0.5
        x0, x1 = (a["left"] + 3, xmid) if i % 2 == 0 else (xmid, a["left"] + a["w"] - 3)
        y0, y1 = a["top"] + 3, a["top"] + a["h"] - 3
        before = len(page.evaluate(TIMING)["sent"])
        page.mouse.move(x0, y0)
        page.mouse.down()
        for t in np.linspace(0, 1, 8)[1:]:
            page.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            page.wait_for_timeout(16)
        page.mouse.up()
        seq = before + 1
        tm = _wait(lambda: (lambda c: c if str(seq) in c["acked"] else None)(page.evaluate(TIMING)), 60, "the ack")
        kept = tm["kept"][str(seq)]
        tm = _wait(lambda: (lambda c: c if any(d["n"] == kept and d["t"] >= c["sent"][str(seq)] for d in c["drawn"])
                            else None)(page.evaluate(TIMING)), 60, "the highlight")
        sent = tm["sent"][str(seq)]
        drawn = min(d["t"] for d in tm["drawn"] if d["n"] == kept and d["t"] >= sent)
        out.append({"n": kept, "to_python_acked_s": (tm["acked"][str(seq)] - sent) / 1e3,
                    "highlighted_s": (drawn - sent) / 1e3})
        page.wait_for_timeout(300)
    return out


def _pan(page) -> dict:
    """Frame times while panning across the plot for about 1.5 s."""
    _tool(page, "pan")
    a = page.evaluate(PLOT)
    cx, cy = a["left"] + a["w"] / 2, a["top"] + a["h"] / 2
    page.mouse.move(cx, cy)
    paints0 = len(page.evaluate(TIMING)["paints"])
    page.mouse.down()
    frames = page.evaluate_handle(FRAMES, 1500)
    for t in np.linspace(0, 1, 90):
        page.mouse.move(cx + 120 * np.sin(2 * np.pi * t), cy + 60 * np.sin(4 * np.pi * t))
        page.wait_for_timeout(16)
    page.mouse.up()
    stamps = np.asarray(frames.json_value())
    dt = np.diff(stamps)
    paints = page.evaluate(TIMING)["paints"][paints0:]  # the points repainted to follow the pan
    return {"frames": int(len(stamps)), "median_frame_ms": float(np.median(dt)), "p90_frame_ms": float(np.percentile(dt, 90)),
            "repaints": len(paints), "median_repaint_ms": float(np.median(paints)) if paints else None}


def _clicks(page, repeats: int) -> list[dict]:
    """Seconds from a click on a point to its isosurface drawn, for distinct points (and the
    part from the mesh's arrival in the page to the drawn frame)."""
    _tool(page, "zoom")
    a = page.evaluate(PLOT)
    rng = np.random.default_rng(3)
    out = []
    for _ in range(repeats):
        # move until the pointer is on a point (the tooltip shows), as a hand does
        for _attempt in range(20):
            px = a["left"] + a["w"] * rng.uniform(0.2, 0.8)
            py = a["top"] + a["h"] * rng.uniform(0.2, 0.8)
            page.mouse.move(px, py)
            page.wait_for_timeout(120)
            page.mouse.move(px + 1, py)
            if page.evaluate("() => document.querySelector('.cryolatent-scatter .cl-tooltip').style.display === 'block'"):
                break  # a point under the pointer
        vol = "() => { const v = document.querySelector('.cryolatent-volume'); return [v.__clDrawn || 0, v.__clDrawnFull || 0, v.__clMeshIn || 0]; }"
        before, before_full, _ = page.evaluate(vol)
        n_sent = len(page.evaluate(TIMING)["sent"])
        page.mouse.click(px + 1, py)
        seq = str(n_sent + 1)
        try:
            first = _wait(lambda: (lambda t: t[0] if t[0] > before else None)(page.evaluate(vol)), 60, "a volume")
            full, _, arrived = _wait(lambda: (lambda t: (t[1], 0, t[2]) if t[1] > before_full else None)(
                page.evaluate(vol)), 60, "the full volume")
        except TimeoutError:  # the same point as before (nothing new to draw): not a measurement
            continue
        sent = page.evaluate(TIMING)["sent"].get(seq)
        if sent is not None:  # click -> first volume on screen (the preview, if any), -> the full one; browser's share
            out.append({"first_s": (first - sent) / 1e3, "total_s": (full - sent) / 1e3,
                        "browser_s": (full - arrived) / 1e3})
        page.wait_for_timeout(200)
    return out


def browser_run(n: int, preset: str, D: int, *, boxes: int, clicks: int, pan: bool, shots: str | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    from _browser_lab import CHROMIUM, CHROMIUM_ARGS, jupyter_lab

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nb, t0_file = tmp / f"bench_{n}.ipynb", tmp / "t0.txt"
        _notebook(nb, n, preset, D, t0_file)
        with jupyter_lab(tmp / "lab", [nb]) as (base, _root), sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(f"{base}/lab/tree/{nb.name}?reset", wait_until="domcontentloaded")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=60_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            page.wait_for_selector(".cryolatent-scatter[data-ready='1']", timeout=600_000)
            tm = page.evaluate(TIMING)
            t0 = float(t0_file.read_text())
            first, points = tm["ready"] / 1e3 - t0, tm["points"] / 1e3 - t0
            page.locator(".cryolatent-scatter").scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            # points on screen, and the whole plot (axes, tools) ready
            out = {"points": n, "preset": preset, "D": D, "first_points_s": points, "first_render_s": first}
            if boxes:
                out["boxes"] = _boxes(page, boxes)
            if shots:
                page.locator(".cryolatent-panel").screenshot(path=str(Path(shots) / f"panel_{n}.png"))
            if pan:
                out["pan"] = _pan(page)
            if clicks:
                out["click_to_volume_s"] = _clicks(page, clicks)
            browser.close()
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, nargs="+", default=[1_000_000, 100_000])
    ap.add_argument("--boxes", type=int, default=4)
    ap.add_argument("--clicks", type=int, default=6)
    ap.add_argument("--no-volumes", action="store_true", help="skip the D = 128 and 3 x 1024 click runs")
    ap.add_argument("--out", default=str(HERE / "panel_results.json"))
    ap.add_argument("--shots", help="a folder for a screenshot of each panel (after the box selections)")
    args = ap.parse_args(argv)
    results = {"kernel": {}, "browser": []}
    for preset, D in [("small", 64)] + ([] if args.no_volumes else [("small", 128), ("paper", 64)]):
        results["kernel"][f"{preset}_D{D}"] = kernel_breakdown(preset, D)
        print(f"kernel {preset} D={D}: {results['kernel'][f'{preset}_D{D}']}", flush=True)
    for n in args.points:
        r = browser_run(n, "small", 64, boxes=args.boxes, clicks=args.clicks, pan=True, shots=args.shots)
        results["browser"].append(r)
        print(json.dumps(r), flush=True)
    if not args.no_volumes:  # click -> volume for the bigger decoders (a small scatter)
        for preset, D in [("small", 128), ("paper", 64)]:
            r = browser_run(10_000, preset, D, boxes=0, clicks=args.clicks, pan=False)
            results["browser"].append(r)
            print(json.dumps(r), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
