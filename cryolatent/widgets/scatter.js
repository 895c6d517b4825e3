// Front end of cryolatent's plotly anywidgets (ScatterView, MeshView).
// plotly.js comes from the plotly Python package (offline): the first view asks
// the kernel for it once ({type: "need_plotly"}) and defines window.Plotly.
// Gestures go to Python as custom messages, acked by seq: a box or lasso is drawn by
// the page itself (plotly never sees the drag, so no editable plotly outline can catch
// the next one) and sent as its outline in data units; Python selects the points. A
// click sends the clicked point. The toolbar (tool, selection mode, undo) acts in the
// page at once and tells Python afterwards, so it works while the kernel is busy.
// The kept points (`selected`) are drawn in colour over all points in grey.

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
const GREY = "#c2c2c2"; // every point, under a selection drawn in colour on top
const PLAIN = "#3b6ea8"; // points when nothing colours them

// Typed views of binary traits, decoded once per new value (they can hold a million points).
function typedCache(model) {
  const cache = new Map();
  return (key, ctor) => {
    const dv = model.get(key);
    const hit = cache.get(key);
    if (hit && hit.dv === dv) return hit.arr;
    const arr = ctor(dv);
    cache.set(key, { dv, arr });
    return arr;
  };
}

function range(values) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) { const v = values[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
  return lo <= hi ? [lo, hi] : [0, 1];
}

// The marker of coloured points: `values` (or null) coloured as the model says; cmin/cmax of all points.
function markerFor(model, values, limits, size) {
  const kind = model.get("color_kind");
  if (kind === "none" || !values) return { size, color: PLAIN, opacity: 0.8 };
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
    size, color: values, colorscale: "Viridis", cmin: limits[0], cmax: limits[1], opacity: 0.85,
    colorbar: { title: { text: model.get("color_title") }, thickness: 12, len: 0.9 },
  };
}

// Traces: 0 every point (coloured, or grey under a selection), 1 the kept points in colour
// on top (so a selection stays visible however densely the rest pile up). The clicked point
// is a ring drawn as a layout shape (pointShapes), so a click redraws no points.
function scatterTraces(model, typed) {
  const x = typed("x", f32), y = typed("y", f32);
  const kind = model.get("color_kind");
  const colour = kind === "none" ? null : typed("color", f32);
  const limits = colour && kind === "continuous" ? typed("color", (dv) => range(f32(dv))) : null;
  const particle = typed("particle", i32);
  const sel = model.get("has_selection") ? typed("selected", i32) : null;
  const size = model.get("marker_size");
  const hover = { hovertemplate: "particle %{customdata}<extra></extra>" };
  const base = { type: "scattergl", mode: "markers", showlegend: false };
  const ids = particle.length === x.length ? particle : null;
  let main, top;
  if (!sel) {
    main = { ...base, ...hover, x, y, customdata: ids, marker: markerFor(model, colour, limits, size), name: "particles" };
    top = { ...base, x: [], y: [], hoverinfo: "skip", name: "kept" };
  } else {
    const m = sel.length;
    const xs = new Float32Array(m), ys = new Float32Array(m), ps = new Int32Array(m);
    const cs = colour ? new Float32Array(m) : null;
    for (let i = 0; i < m; i++) {
      const p = sel[i];
      xs[i] = x[p]; ys[i] = y[p];
      if (ids) ps[i] = ids[p];
      if (cs) cs[i] = colour[p];
    }
    main = {
      ...base, ...hover, x, y, customdata: ids, name: "particles",
      marker: { size: Math.max(1, size * 0.8), color: GREY, opacity: 0.5 },
    };
    top = { ...base, ...hover, x: xs, y: ys, customdata: ids ? ps : null, marker: markerFor(model, cs, limits, size), name: "kept" };
  }
  return [main, top];
}

// The clicked point: a red ring 14 px across, anchored at the point's coordinates.
function pointShapes(model, typed) {
  const x = typed("x", f32), y = typed("y", f32), p = model.get("point");
  if (!(p >= 0 && p < x.length)) return [];
  return [{
    type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel",
    xanchor: x[p], yanchor: y[p], x0: -7, x1: 7, y0: -7, y1: 7,
    line: { color: "#d62728", width: 2.5 }, layer: "above",
  }];
}

function padded(values) {
  const [lo, hi] = range(values);
  const pad = (hi - lo) * 0.04 || 0.5;
  return [lo - pad, hi + pad];
}

function scatterLayout(model, typed) {
  return {
    width: model.get("width"), height: model.get("height"),
    margin: { l: 50, r: 10, t: 30, b: 40 },
    title: { text: model.get("title"), font: { size: 13 }, x: 0.01, xanchor: "left" },
    // fixed ranges: no autorange pass over a million points on every redraw
    xaxis: { title: { text: model.get("x_label") }, zeroline: false, range: padded(typed("x", f32)), autorange: false },
    yaxis: { title: { text: model.get("y_label") }, zeroline: false, range: padded(typed("y", f32)), autorange: false },
    dragmode: model.get("dragmode"), clickmode: "event", hovermode: "closest",
    uirevision: model.get("uirevision"), selections: [], shapes: pointShapes(model, typed),
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

const SVG = "http://www.w3.org/2000/svg";

// The page's own box and lasso: drawn over the plot, sent as an outline in data units.
function outlineLayer(holder) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "cl-outline");
  svg.style.cssText = "position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none;overflow:visible";
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("fill", "rgba(43,90,138,0.08)");
  path.setAttribute("stroke", "#2b5a8a");
  path.setAttribute("stroke-width", "1.5");
  path.setAttribute("stroke-dasharray", "4 3");
  svg.append(path);
  holder.append(svg);
  return {
    draw(pts, closed) {
      path.setAttribute("d", pts.length ? `M${pts.map((p) => p.join(",")).join("L")}${closed ? "Z" : ""}` : "");
    },
    clear() { path.setAttribute("d", ""); },
  };
}

function hoverLine(hover, position, particle) {
  const parts = [`particle ${particle}`];
  for (const col of hover) {
    const v = col.values[position];
    if (v === undefined) continue;
    const text = col.categories ? col.categories[v] : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0)
      ? v.toExponential(2) : Number(v.toPrecision(4)).toString();
    parts.push(`${col.name} ${text}`);
  }
  return parts.join(" · ");
}

function renderScatter({ model, el }) {
  el.classList.add("cryolatent-scatter");
  const typed = typedCache(model);
  const holder = document.createElement("div");
  holder.style.cssText = "position:relative";
  const gd = document.createElement("div");
  gd.className = "cl-plot";
  holder.append(gd);
  const outline = outlineLayer(holder);
  const status = document.createElement("div");
  status.className = "cl-status";
  const info = document.createElement("div");
  info.className = "cl-hover";
  info.style.cssText = "font-size:12px;color:#333;min-height:16px;white-space:nowrap;overflow:hidden";
  const timing = { sent: {}, acked: {}, kept: {}, drawn: [] }; // page clock (Date.now()) of each step, for the benchmark
  el.__cl = timing;
  // a tool press sets plotly's dragmode here and now (unless plotly is mid-drag: then as
  // soon as it is done), and the model, which tells Python afterwards
  const setTool = (mode) => {
    if (model.get("dragmode") !== mode) { model.set("dragmode", mode); model.save_changes(); }
    if (Plotly && gd._fullLayout && !dragging && gd._fullLayout.dragmode !== mode) {
      Plotly.relayout(gd, { dragmode: mode });
    }
    tools.show();
  };
  const tools = toolbar(model, setTool, () => send("undo"));
  el.append(tools.bar, holder, info, status);
  const view = Math.random().toString(36).slice(2);
  const counts = { sent: 0, acked: 0, errors: 0 };
  let seq = 0;
  let Plotly = null;
  let dragging = false; // a plotly zoom or pan in progress: redraws wait for its end
  let pending = false;
  let hoverCols = [];

  const showStatus = () => {
    status.dataset.sent = counts.sent;
    status.dataset.acked = counts.acked;
    // the user's words: nothing to say once every selection is applied
    const waiting = counts.sent - counts.acked;
    status.textContent = (waiting > 0 ? `applying ${waiting} selection${waiting > 1 ? "s" : ""}...` : "") +
      (counts.errors ? ` ${counts.errors} selection${counts.errors > 1 ? "s" : ""} failed: see the message below` : "");
  };
  showStatus();

  const send = (kind, indices = null, extra = {}) => {
    seq += 1;
    counts.sent += 1;
    timing.sent[seq] = Date.now();
    showStatus();
    const mode = model.get("select_mode");
    const buffers = indices ? [Int32Array.from(indices).buffer] : [];
    // WidgetModel.send(content, callbacks, buffers)
    model.send({ type: "select", kind, seq, view, mode, t: Date.now(), n: indices ? indices.length : null, ...extra },
      undefined, buffers);
    return seq;
  };

  // State pushed from Python never redraws during a plotly zoom or pan (that would cancel
  // it); it is applied once the drag is done. Data-only changes keep the current layout
  // object, so the dragmode and zoom the user set stay as they are.
  const config = { displaylogo: false, responsive: false, editSelection: false };
  const dirty = { data: false, layout: false, dragmode: false, point: false };
  const flush = () => {
    if (!Plotly) return;
    if (dragging) { pending = true; return; }
    pending = false;
    let layout = null;
    if (dirty.layout) {
      layout = scatterLayout(model, typed);
      if (!dirty.dragmode && gd._fullLayout) layout.dragmode = gd._fullLayout.dragmode;
    } else if (dirty.data) {
      layout = { ...gd.layout, selections: [], shapes: pointShapes(model, typed) };
      if (dirty.dragmode) layout.dragmode = model.get("dragmode");
    } else if (dirty.point) { // only the ring moves: no points redrawn
      Plotly.relayout(gd, { shapes: pointShapes(model, typed) });
    }
    if (layout) {
      const traces = scatterTraces(model, typed);
      const n = model.get("has_selection") ? traces[1].x.length : -1;
      Promise.resolve(Plotly.react(gd, traces, layout, config)).then(() => {
        requestAnimationFrame(() => {
          timing.drawn.push({ t: Date.now(), n });
          status.dataset.drawn = String(n);
        });
      });
    }
    if (dirty.dragmode && !dirty.layout && gd._fullLayout.dragmode !== model.get("dragmode")) {
      Plotly.relayout(gd, { dragmode: model.get("dragmode") });
    }
    dirty.data = dirty.layout = dirty.dragmode = dirty.point = false;
  };
  const schedule = coalesce(flush);
  const mark = (what) => () => { dirty[what] = true; schedule(); };

  const onCustom = (msg, buffers) => {
    if (msg && msg.type === "ack" && msg.view === view) {
      counts.acked += 1;
      timing.acked[msg.seq] = Date.now();
      timing.kept[msg.seq] = msg.n_kept;
      if (msg.error) counts.errors += 1;
      if (msg.seq === drawnSeq) outline.clear();
      showStatus();
    } else if (msg && msg.type === "hover") {
      hoverCols = msg.names.map((name, i) => ({ name, categories: msg.categories[i], values: f32(buffers[i]) }));
    }
  };
  model.on("msg:custom", onCustom);
  const handlers = {};
  for (const k of ["x", "y", "color", "color_kind", "categories", "selected", "has_selection", "marker_size"]) {
    handlers[k] = mark("data");
  }
  for (const k of ["width", "height", "title", "x_label", "y_label", "uirevision"]) handlers[k] = mark("layout");
  handlers.x = () => { dirty.layout = true; schedule(); };  // new coordinates: new axis ranges
  handlers.y = handlers.x;
  handlers.point = mark("point");
  handlers.dragmode = () => { tools.show(); mark("dragmode")(); };
  handlers.select_mode = () => tools.show();
  handlers.n_undo = () => tools.show();
  for (const [k, h] of Object.entries(handlers)) model.on(`change:${k}`, h);

  // position (row) of a plotly point: trace 1 holds the kept points, in `selected` order
  const position = (curve, index) => {
    if (curve === 0) return index;
    if (curve === 1 && model.get("has_selection")) return typed("selected", i32)[index];
    return -1;
  };

  // --- the page's own box and lasso (plotly never sees these drags)
  let drag = null;
  let drawnSeq = -1;
  const plotArea = (ev) => {
    const fl = gd._fullLayout;
    if (!fl) return null;
    const r = gd.getBoundingClientRect();
    const px = ev.clientX - r.left - fl._size.l, py = ev.clientY - r.top - fl._size.t;
    return { fl, r, px, py, inside: px >= 0 && py >= 0 && px <= fl._size.w && py <= fl._size.h };
  };
  const ours = (ev) => {
    const tool = model.get("dragmode");
    if ((tool !== "select" && tool !== "lasso") || ev.button !== 0) return null;
    const a = plotArea(ev);
    return a && a.inside ? a : null;
  };
  const toPage = (a, px, py) => [px + a.fl._size.l, py + a.fl._size.t];
  const down = (ev) => {
    const a = ours(ev);
    if (!a) { dragging = true; return; } // plotly's zoom, pan, axis drag or modebar
    ev.stopPropagation();
    ev.preventDefault();
    drag = { tool: model.get("dragmode"), a, pts: [[a.px, a.py]], travel: 0, x0: ev.clientX, y0: ev.clientY };
  };
  const swallow = (ev) => { if (drag || ours(ev)) { ev.stopPropagation(); ev.preventDefault(); } };
  const move = (ev) => {
    if (!drag) return;
    const { a } = drag;
    const px = Math.min(Math.max(ev.clientX - a.r.left - a.fl._size.l, 0), a.fl._size.w);
    const py = Math.min(Math.max(ev.clientY - a.r.top - a.fl._size.t, 0), a.fl._size.h);
    drag.travel = Math.max(drag.travel, Math.hypot(ev.clientX - drag.x0, ev.clientY - drag.y0));
    if (drag.tool === "select") drag.pts = [drag.pts[0], [px, py]];
    else {
      const last = drag.pts[drag.pts.length - 1];
      if (Math.hypot(px - last[0], py - last[1]) >= 2) drag.pts.push([px, py]);
    }
    const pts = drag.tool === "select"
      ? [drag.pts[0], [px, drag.pts[0][1]], [px, py], [drag.pts[0][0], py]] : drag.pts;
    outline.draw(pts.map((p) => toPage(a, p[0], p[1])), drag.tool === "select");
    ev.stopPropagation();
  };
  const up = (ev) => {
    if (!drag) {
      if (dragging) { dragging = false; if (pending) setTimeout(flush, 0); }
      return;
    }
    ev.stopPropagation();
    const { a, tool, pts, travel } = drag;
    drag = null;
    const xa = a.fl.xaxis, ya = a.fl.yaxis;
    if (travel <= 3) { // a click: the hovered point, as plotly would report it
      outline.clear();
      const h = (gd._hoverdata || []).find((q) => q.curveNumber === 0 || q.curveNumber === 1);
      const p = h ? position(h.curveNumber, h.pointIndex) : -1;
      if (p >= 0) send("click", [p]);
      return;
    }
    const xs = pts.map((p) => xa.p2d(p[0])), ys = pts.map((p) => ya.p2d(p[1]));
    if (tool === "select") {
      drawnSeq = send("box", null, { range: { x: [xs[0], xs[1]], y: [ys[0], ys[1]] } });
    } else if (pts.length >= 3) {
      drawnSeq = send("lasso", null, { lasso: { x: xs, y: ys } });
    } else outline.clear();
  };
  gd.addEventListener("pointerdown", down, true);
  gd.addEventListener("mousedown", swallow, true);
  gd.addEventListener("click", swallow, true);
  window.addEventListener("pointermove", move, true);
  window.addEventListener("pointerup", up, true);

  loadPlotly(model).then((P) => {
    Plotly = P;
    return Plotly.newPlot(gd, scatterTraces(model, typed), scatterLayout(model, typed), config);
  }).then(() => {
    gd.on("plotly_click", (ev) => { // zoom and pan tools: plotly's own click
      const q = ev && ev.points && ev.points.find((r) => r.curveNumber === 0 || r.curveNumber === 1);
      const p = q ? position(q.curveNumber, q.pointIndex) : -1;
      if (p >= 0) send("click", [p]);
    });
    gd.on("plotly_hover", (ev) => {
      const q = ev && ev.points && ev.points.find((r) => r.curveNumber === 0 || r.curveNumber === 1);
      const p = q ? position(q.curveNumber, q.pointIndex) : -1;
      if (p < 0) return;
      const ids = typed("particle", i32);
      info.textContent = hoverLine(hoverCols, p, ids.length > p ? ids[p] : p);
      info.dataset.position = String(p);
    });
    gd.on("plotly_relayout", (ev) => {
      if (ev && ev.dragmode && ev.dragmode !== model.get("dragmode")) {
        model.set("dragmode", ev.dragmode);
        model.save_changes();
        tools.show();
      }
    });
    requestAnimationFrame(() => {
      el.dataset.ready = "1";
      timing.ready = Date.now();
      model.send({ type: "need_hover" }); // covariates for the hover line, after the first draw
    });
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
      requestAnimationFrame(() => { el.__clDrawn = Date.now(); }); // for the benchmark
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
