// Front end of cryolatent's plotly anywidgets (ScatterView, MeshView).
// plotly.js comes from the plotly Python package (offline): the first view asks
// the kernel for it once ({type: "need_plotly"}) and defines window.Plotly.
// Gestures (box, lasso, click, deselect) go to Python as custom messages with the
// point indices in a binary Int32Array buffer; Python acks each one by seq.
// The scatter's toolbar (tool, selection mode, undo) acts in the page at once and
// tells Python afterwards, so it works while the kernel is busy. plotly's own
// selection outlines are removed once a gesture is taken (editable outlines would
// catch the next drag or click); the kept points are drawn from `selected`.

const PLOTLY_PROMISE = "__cryolatentPlotly";

function loadPlotly(model) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window[PLOTLY_PROMISE]) {
    window[PLOTLY_PROMISE] = new Promise((resolve, reject) => {
      const onMsg = (msg, buffers) => {
        if (!msg || msg.type !== "plotly_js") return;
        model.off("msg:custom", onMsg);
        try {
          const src = new TextDecoder().decode(buffers[0]);
          new Function(src)(); // the bundle ends with `window.Plotly = Plotly`
          resolve(window.Plotly);
        } catch (err) {
          window[PLOTLY_PROMISE] = undefined;
          reject(err);
        }
      };
      model.on("msg:custom", onMsg);
      model.send({ type: "need_plotly" });
    });
  }
  return window[PLOTLY_PROMISE];
}

// Run fn once after the current burst of change events (one kernel message fires several).
function coalesce(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    Promise.resolve().then(() => { queued = false; fn(); });
  };
}

function f32(dv) {
  if (!dv || !dv.byteLength) return new Float32Array(0);
  return new Float32Array(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
}

function i32(dv) {
  if (!dv || !dv.byteLength) return new Int32Array(0);
  return new Int32Array(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
}

const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];

function markerFor(model) {
  const kind = model.get("color_kind");
  const size = model.get("marker_size");
  if (kind === "none") return { size, color: "#3b6ea8", opacity: 0.8 };
  const values = Array.from(f32(model.get("color")));
  if (kind === "categorical") {
    const cats = model.get("categories");
    const n = Math.max(cats.length, 1);
    const scale = [];
    for (let i = 0; i < n; i++) {
      const c = PALETTE[i % PALETTE.length];
      scale.push([i / n, c], [(i + 1) / n, c]);
    }
    return {
      size, color: values, colorscale: scale, cmin: -0.5, cmax: n - 0.5, opacity: 0.85,
      colorbar: {
        title: { text: model.get("color_title") }, tickvals: cats.map((_, i) => i),
        ticktext: cats.map(String), thickness: 12, len: 0.9,
      },
    };
  }
  return {
    size, color: values, colorscale: "Viridis", opacity: 0.85,
    colorbar: { title: { text: model.get("color_title") }, thickness: 12, len: 0.9 },
  };
}

function scatterTraces(model) {
  const x = f32(model.get("x"));
  const y = f32(model.get("y"));
  const sel = model.get("has_selection") ? Array.from(i32(model.get("selected"))) : null;
  const marker = markerFor(model);
  // an empty selection dims every point itself rather than pass `selectedpoints: []`, which
  // plotly's re-selection (outlines, dragmode changes) may replace: "0 kept" once showed all at full colour
  if (sel && sel.length === 0) marker.opacity = 0.12;
  const main = {
    type: "scattergl", mode: "markers", x, y, marker,
    selectedpoints: sel && sel.length ? sel : null, unselected: { marker: { opacity: 0.12 } },
    hovertemplate: "%{pointIndex}<extra></extra>", name: "particles", showlegend: false,
  };
  const particle = i32(model.get("particle"));
  if (particle.length === x.length) {  // hover names the particle (its index in your particle file)
    main.customdata = Array.from(particle);
    main.hovertemplate = "particle %{customdata}<extra></extra>";
  }
  const p = model.get("point");
  const cur = {
    type: "scatter", mode: "markers", x: p >= 0 && p < x.length ? [x[p]] : [],
    y: p >= 0 && p < y.length ? [y[p]] : [], hoverinfo: "skip", showlegend: false,
    marker: { size: 14, color: "rgba(0,0,0,0)", line: { color: "#d62728", width: 2.5 } },
  };
  return [main, cur];
}

function scatterLayout(model) {
  return {
    width: model.get("width"), height: model.get("height"),
    margin: { l: 50, r: 10, t: 30, b: 40 },
    title: { text: model.get("title"), font: { size: 13 }, x: 0.01, xanchor: "left" },
    xaxis: { title: { text: model.get("x_label") }, zeroline: false },
    yaxis: { title: { text: model.get("y_label") }, zeroline: false },
    dragmode: model.get("dragmode"), clickmode: "event", hovermode: "closest",
    uirevision: model.get("uirevision"), selections: [],
  };
}

const TOOLS = [["select", "box"], ["lasso", "lasso"], ["zoom", "zoom"], ["pan", "pan"]];
const MODES = [["replace", "new"], ["add", "add"], ["subtract", "subtract"], ["intersect", "intersect"]];
const TIPS = {
  replace: "a box or lasso replaces the selection", add: "a box or lasso adds its points (several regions)",
  subtract: "a box or lasso removes its points", intersect: "a box or lasso keeps only its points of the selection",
};

// Toolbar: tool and mode buttons act on the page's model at once (no kernel round trip).
function toolbar(model, onTool, onUndo) {
  const bar = document.createElement("div");
  bar.className = "cl-toolbar";
  bar.style.cssText = "display:flex;gap:4px;align-items:center;flex-wrap:wrap;margin:2px 0 4px;font-size:12px";
  const buttons = [];
  const group = (label, items, key, act) => {
    const g = document.createElement("span");
    g.style.cssText = "display:inline-flex;gap:1px;margin-right:8px;align-items:center";
    g.append(Object.assign(document.createElement("span"), { textContent: label, style: "margin-right:3px;color:#555" }));
    for (const [value, text] of items) {
      const b = document.createElement("button");
      b.textContent = text;
      b.dataset[key] = value;
      b.title = TIPS[value] || `${text} tool`;
      b.style.cssText = "padding:1px 7px;border:1px solid #bbb;border-radius:3px;cursor:pointer;font-size:12px";
      b.addEventListener("click", (ev) => { ev.preventDefault(); act(value); });
      buttons.push(b);
      g.append(b);
    }
    bar.append(g);
  };
  group("tool", TOOLS, "tool", onTool);
  group("mode", MODES, "mode", (m) => { model.set("select_mode", m); model.save_changes(); show(); });
  const undo = document.createElement("button");
  undo.textContent = "undo";
  undo.className = "cl-undo";
  undo.title = "restore the previous selection";
  undo.style.cssText = "padding:1px 7px;border:1px solid #bbb;border-radius:3px;cursor:pointer;font-size:12px";
  undo.addEventListener("click", (ev) => { ev.preventDefault(); onUndo(); });
  bar.append(undo);
  const show = () => {
    for (const b of buttons) {
      const on = b.dataset.tool ? b.dataset.tool === model.get("dragmode") : b.dataset.mode === model.get("select_mode");
      b.classList.toggle("cl-active", on);
      b.style.background = on ? "#2b5a8a" : "#f4f4f4";
      b.style.color = on ? "#fff" : "#222";
    }
    undo.disabled = model.get("n_undo") <= 0;
    undo.style.opacity = undo.disabled ? 0.5 : 1;
    bar.dataset.tool = model.get("dragmode");
    bar.dataset.mode = model.get("select_mode");
  };
  show();
  return { bar, show };
}

function renderScatter({ model, el }) {
  el.classList.add("cryolatent-scatter");
  const gd = document.createElement("div");
  gd.className = "cl-plot";
  const status = document.createElement("div");
  status.className = "cl-status";
  // a tool press sets plotly's dragmode here and now (unless a drag is still being
  // taken: then as soon as it is), and the model, which tells Python afterwards
  const setTool = (mode) => {
    if (model.get("dragmode") !== mode) { model.set("dragmode", mode); model.save_changes(); }
    if (Plotly && gd._fullLayout && !busy() && gd._fullLayout.dragmode !== mode) {
      Plotly.relayout(gd, { dragmode: mode });
    }
    tools.show();
  };
  const tools = toolbar(model, setTool, () => send("undo", []));
  el.append(tools.bar, gd, status);
  const view = Math.random().toString(36).slice(2);
  const counts = { sent: 0, acked: 0, errors: 0 };
  let seq = 0;
  let Plotly = null;
  let dragging = false;
  let pending = false;
  let busy = () => dragging;
  let redrawing = 0; // plotly may emit plotly_deselect when our redraw drops its outline: not the user's

  const showStatus = () => {
    status.dataset.sent = counts.sent;
    status.dataset.acked = counts.acked;
    // the user's words: nothing to say once every selection is applied
    const waiting = counts.sent - counts.acked;
    status.textContent = (waiting > 0 ? `applying ${waiting} selection${waiting > 1 ? "s" : ""}...` : "") +
      (counts.errors ? ` ${counts.errors} selection${counts.errors > 1 ? "s" : ""} failed: see the message below` : "");
  };
  showStatus();

  const send = (kind, indices, extra = {}) => {
    seq += 1;
    counts.sent += 1;
    showStatus();
    const buf = Int32Array.from(indices);
    const mode = model.get("select_mode");
    // WidgetModel.send(content, callbacks, buffers)
    model.send({ type: "select", kind, seq, view, mode, n: buf.length, ...extra }, undefined, [buf.buffer]);
  };

  // State pushed from Python never redraws while a gesture is in progress (that would
  // cancel it); it is applied once the gesture is done. Data-only changes keep the
  // current layout object, so the dragmode and zoom the user set stay as they are.
  // editSelection: false: plotly's outlines are not edit handles (they are removed anyway).
  const config = { displaylogo: false, responsive: false, editSelection: false };
  const dirty = { data: false, layout: false, dragmode: false };
  // plotly keeps the outline of the last box/lasso in layout.selections, and react keeps
  // it too (it is a user edit, kept under uirevision): remove it by relayout, then put
  // back the panel's selectedpoints (that relayout re-selects the outline's points).
  // Left in place, a drag or click inside it would move or catch it instead of selecting.
  const dropOutlines = () => {
    if (!(gd.layout && gd.layout.selections && gd.layout.selections.length)) return undefined;
    const sp = scatterTraces(model)[0].selectedpoints;
    return Plotly.relayout(gd, { selections: [] }).then(() => Plotly.restyle(gd, { selectedpoints: [sp] }, [0]));
  };
  const flush = () => {
    if (!Plotly) return;
    if (busy()) { pending = true; return; }
    pending = false;
    let layout = null;
    if (dirty.layout) {
      layout = scatterLayout(model);
      if (!dirty.dragmode && gd._fullLayout) layout.dragmode = gd._fullLayout.dragmode;
    } else if (dirty.data) {
      layout = { ...gd.layout, selections: [] };
      if (dirty.dragmode) layout.dragmode = model.get("dragmode");
    }
    if (layout) {
      redrawing += 1;
      Promise.resolve(Plotly.react(gd, scatterTraces(model), layout, config))
        .then(dropOutlines).finally(() => { redrawing -= 1; });
    }
    if (dirty.dragmode && !dirty.layout && gd._fullLayout.dragmode !== model.get("dragmode")) {
      Plotly.relayout(gd, { dragmode: model.get("dragmode") });
    }
    dirty.data = dirty.layout = dirty.dragmode = false;
  };
  const schedule = coalesce(flush);
  const mark = (what) => () => { dirty[what] = true; schedule(); };

  const onCustom = (msg) => {
    if (msg && msg.type === "ack" && msg.view === view) {
      counts.acked += 1;
      if (msg.error) counts.errors += 1;
      showStatus();
    }
  };
  model.on("msg:custom", onCustom);
  const handlers = {};
  for (const k of ["x", "y", "color", "color_kind", "categories", "selected", "has_selection", "point", "marker_size"]) {
    handlers[k] = mark("data");
  }
  for (const k of ["width", "height", "title", "x_label", "y_label", "uirevision"]) handlers[k] = mark("layout");
  handlers.dragmode = () => { tools.show(); mark("dragmode")(); };
  handlers.select_mode = () => tools.show();
  handlers.n_undo = () => tools.show();
  for (const [k, h] of Object.entries(handlers)) model.on(`change:${k}`, h);

  // plotly emits plotly_selected some time after mouseup (asynchronously with
  // scattergl), and may re-emit after a redraw. Count box/lasso drags; send one
  // selection per drag; hold redraws until every drag's selection has arrived.
  let armed = 0;
  let downAt = null;
  let safety = null;
  let travel = 0; // furthest the pointer got from downAt: a lasso ends where it began
  const down = (ev) => {
    dragging = true;
    travel = 0;
    const mode = gd._fullLayout && gd._fullLayout.dragmode;
    downAt = mode === "select" || mode === "lasso" ? [ev.clientX, ev.clientY] : null;
  };
  const move = (ev) => {
    if (dragging && downAt) travel = Math.max(travel, Math.hypot(ev.clientX - downAt[0], ev.clientY - downAt[1]));
  };
  const up = () => {
    if (!dragging) return;
    dragging = false;
    if (downAt && travel > 3) armed += 1;
    downAt = null;
    clearTimeout(safety);
    safety = setTimeout(() => { armed = 0; if (pending) flush(); }, 5000);
    if (pending) setTimeout(flush, 0);
  };
  busy = () => dragging || armed > 0;
  gd.addEventListener("pointerdown", down, true);
  window.addEventListener("pointermove", move, true);
  window.addEventListener("pointerup", up, true);

  loadPlotly(model).then((P) => {
    Plotly = P;
    return Plotly.newPlot(gd, scatterTraces(model), scatterLayout(model), config);
  }).then(() => {
    gd.on("plotly_selected", (ev) => {
      if (!ev || armed <= 0 || !(ev.range || ev.lassoPoints)) return; // not from a drag
      armed -= 1;
      const idx = ev.points.filter((p) => p.curveNumber === 0).map((p) => p.pointIndex);
      const kind = ev.lassoPoints ? "lasso" : "box";
      const extra = ev.lassoPoints
        ? { lasso: { x: Array.from(ev.lassoPoints.x), y: Array.from(ev.lassoPoints.y) } }
        : ev.range ? { range: { x: Array.from(ev.range.x), y: Array.from(ev.range.y) } } : {};
      send(kind, idx, extra);
      dirty.data = true; // redraw without plotly's outline once every drag is in
      if (armed === 0) setTimeout(flush, 0); else pending = true;
    });
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points.find((q) => q.curveNumber === 0);
      if (p) send("click", [p.pointIndex]);
    });
    gd.on("plotly_deselect", () => { if (!redrawing) send("deselect", []); });
    gd.on("plotly_relayout", (ev) => {
      if (ev && ev.dragmode && ev.dragmode !== model.get("dragmode")) {
        model.set("dragmode", ev.dragmode);
        model.save_changes();
        tools.show();
      }
    });
    el.dataset.ready = "1";
  }).catch((err) => {
    status.textContent = `cannot draw the scatter: ${err}`;
  });

  return () => {
    model.off("msg:custom", onCustom);
    for (const [k, h] of Object.entries(handlers)) model.off(`change:${k}`, h);
    window.removeEventListener("pointerup", up, true);
    window.removeEventListener("pointermove", move, true);
    if (Plotly) Plotly.purge(gd);
  };
}

function renderMesh({ model, el }) {
  el.classList.add("cryolatent-volume");
  const gd = document.createElement("div");
  gd.className = "cl-plot";
  el.append(gd);
  let Plotly = null;

  const traces = () => {
    const v = f32(model.get("vertices"));
    const f = i32(model.get("faces"));
    const nv = v.length / 3, nf = f.length / 3;
    const x = new Float32Array(nv), y = new Float32Array(nv), z = new Float32Array(nv);
    for (let i = 0; i < nv; i++) { x[i] = v[3 * i]; y[i] = v[3 * i + 1]; z[i] = v[3 * i + 2]; }
    const I = new Int32Array(nf), J = new Int32Array(nf), K = new Int32Array(nf);
    for (let t = 0; t < nf; t++) { I[t] = f[3 * t]; J[t] = f[3 * t + 1]; K[t] = f[3 * t + 2]; }
    return [{
      type: "mesh3d", x, y, z, i: I, j: J, k: K, color: model.get("color"), opacity: 1.0,
      flatshading: false, lighting: { ambient: 0.45, diffuse: 0.8, specular: 0.2, roughness: 0.6 },
      hoverinfo: "skip", name: "isosurface",
    }];
  };
  const layout = () => {
    const r = model.get("half_width");
    const ax = { visible: false, range: [-r, r] };
    return {
      width: model.get("width"), height: model.get("height"),
      margin: { l: 0, r: 0, t: 30, b: 0 },
      title: { text: model.get("title"), font: { size: 13 } },
      scene: { xaxis: ax, yaxis: ax, zaxis: ax, aspectmode: "cube" },
      uirevision: "keep-camera",
    };
  };
  const redraw = () => {
    if (!Plotly) return;
    Plotly.react(gd, traces(), layout(), { displaylogo: false }).then(() => {
      el.dataset.nfaces = String(model.get("faces").byteLength / 12);
    });
  };
  const keys = ["vertices", "faces", "color", "title", "width", "height", "half_width"];
  const onChange = coalesce(redraw);
  for (const k of keys) model.on(`change:${k}`, onChange);
  loadPlotly(model).then((P) => { Plotly = P; redraw(); el.dataset.ready = "1"; })
    .catch((err) => { gd.textContent = `cannot draw the volume: ${err}`; });
  return () => {
    for (const k of keys) model.off(`change:${k}`, onChange);
    if (Plotly) Plotly.purge(gd);
  };
}

export default {
  render(ctx) {
    return ctx.model.get("_view") === "mesh" ? renderMesh(ctx) : renderScatter(ctx);
  },
};
