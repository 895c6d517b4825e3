// Front end of cryolatent's plotly anywidgets (ScatterView, MeshView).
// plotly.js comes from the plotly Python package (offline): the first view asks
// the kernel for it once ({type: "need_plotly"}) and defines window.Plotly.
// Gestures go to Python as custom messages, acked by seq: a box or lasso is drawn by
// the page itself (plotly never sees the drag, so no editable plotly outline can catch
// the next one) and sent as its outline in data units; Python selects the points. A
// click sends the clicked point. The toolbar (tool, selection mode, undo) acts in the
// page at once and tells Python afterwards, so it works while the kernel is busy.
// The points are painted by the page on a canvas under plotly's axes (a million in tens
// of milliseconds, GPU or not); plotly draws the axes, title and the clicked point's ring
// and does zoom and pan. The kept points (`selected`) are painted in colour over all
// points in grey. Hover and clicks find the nearest point in a grid index.

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

const PALETTE = [ // tab20's strong colours, then its light ones: 20 clusters before a colour repeats
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
];
const GREY = "#c2c2c2"; // every point, under a selection drawn in colour on top
const PLAIN = "#3b6ea8"; // points when nothing colours them
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

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

// "#rrggbb" -> 0xAABBGGRR (the byte order of an ImageData pixel read as a little-endian Uint32)
function packed(hex) {
  const v = parseInt(hex.slice(1), 16);
  return (0xff000000 | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
}

function viridisLut() {
  const lut = new Uint32Array(256);
  const stops = VIRIDIS.map((h) => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)]);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1), k = Math.min(Math.floor(t), stops.length - 2), f = t - k;
    const c = stops[k].map((a, j) => Math.round(a + f * (stops[k + 1][j] - a)));
    lut[i] = (0xff000000 | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0;
  }
  return lut;
}

// One packed colour per point (or null: every point PLAIN) and a legend, as the model says.
function pointColours(model, typed) {
  const kind = model.get("color_kind");
  if (kind === "none") return { colours: null, legend: null };
  const values = typed("color", f32);
  const out = new Uint32Array(values.length);
  if (kind === "categorical") {
    const pal = PALETTE.map(packed), cats = model.get("categories");
    for (let i = 0; i < values.length; i++) out[i] = pal[(values[i] | 0) % pal.length];
    return { colours: out, legend: { title: model.get("color_title"), cats: cats.map((c, i) => [String(c), PALETTE[i % PALETTE.length]]) } };
  }
  const [lo, hi] = range(values), lut = viridisLut(), k = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = v === v ? lut[Math.min(255, Math.max(0, ((v - lo) * k) | 0))] : packed(GREY);
  }
  return { colours: out, legend: { title: model.get("color_title"), lo, hi } };
}

// Rasterise points into `img` (Uint32 pixels of a W x H canvas) over data ranges xr, yr:
// squares of `side` device pixels blended at `alpha`; `idx` picks the points (null: all),
// `colours` gives each point's colour (null: `fixed`). About 10 ns a point: a million
// points redraw in tens of milliseconds with or without a GPU.
function paint(img, W, H, xr, yr, x, y, idx, colours, fixed, side, alpha) {
  const sx = W / (xr[1] - xr[0]), sy = H / (yr[1] - yr[0]);
  const half = side >> 1, a = Math.round(alpha * 256), ia = 256 - a;
  const n = idx ? idx.length : x.length;
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k] : k;
    const xv = x[i], yv = y[i];
    if (xv !== xv || yv !== yv) continue; // NaN
    const px = Math.floor((xv - xr[0]) * sx) - half, py = Math.floor((yr[1] - yv) * sy) - half;
    if (px + side <= 0 || py + side <= 0 || px >= W || py >= H) continue;
    const c = colours ? colours[i] : fixed;
    const cr = (c & 255) * a, cg = ((c >>> 8) & 255) * a, cb = ((c >>> 16) & 255) * a;
    const r0 = Math.max(py, 0), r1 = Math.min(py + side, H), c0 = Math.max(px, 0), c1 = Math.min(px + side, W);
    for (let r = r0; r < r1; r++) {
      let p = r * W + c0;
      for (let col = c0; col < c1; col++, p++) {
        const d = img[p];
        img[p] = (0xff000000 | ((((d >>> 16) & 255) * ia + cb) >> 8) << 16 |
                  ((((d >>> 8) & 255) * ia + cg) >> 8) << 8 | (((d & 255) * ia + cr) >> 8)) >>> 0;
      }
    }
  }
}

// A uniform grid over the points' extent for nearest-point queries (hover, click).
function gridIndex(x, y, G = 256) {
  const [x0, x1] = range(x), [y0, y1] = range(y);
  const kx = G / ((x1 - x0) || 1), ky = G / ((y1 - y0) || 1), n = x.length;
  const cellOf = (xv, yv) => Math.min(G - 1, Math.max(0, Math.floor((xv - x0) * kx))) +
    G * Math.min(G - 1, Math.max(0, Math.floor((yv - y0) * ky)));
  const cell = new Int32Array(n), start = new Int32Array(G * G + 1);
  for (let i = 0; i < n; i++) { cell[i] = x[i] === x[i] && y[i] === y[i] ? cellOf(x[i], y[i]) : -1; if (cell[i] >= 0) start[cell[i] + 1]++; }
  for (let c = 0; c < G * G; c++) start[c + 1] += start[c];
  const fill = start.slice(0, G * G), order = new Int32Array(start[G * G]);
  for (let i = 0; i < n; i++) if (cell[i] >= 0) order[fill[cell[i]]++] = i;
  // the point nearest (xv, yv) within rx, ry (data units) by the pixel metric (sx, sy), or -1
  return (xv, yv, rx, ry, sx, sy) => {
    const cx0 = Math.max(0, Math.floor((xv - rx - x0) * kx)), cx1 = Math.min(G - 1, Math.floor((xv + rx - x0) * kx));
    const cy0 = Math.max(0, Math.floor((yv - ry - y0) * ky)), cy1 = Math.min(G - 1, Math.floor((yv + ry - y0) * ky));
    let best = -1, bestD = 1;
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const c = cx + G * cy;
        for (let k = start[c]; k < start[c + 1]; k++) {
          const i = order[k], dx = (x[i] - xv) / rx, dy = (y[i] - yv) / ry, d = dx * dx + dy * dy;
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  };
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

// A trajectory (ScatterView.show_path): a line through its frames, dots at the frames, circles at
// the waypoints and the shown frame filled; all in data units, so zoom and pan carry them.
function pathShapes(model, typed) {
  const p = typed("path", f32), m = typed("path_marks", f32), f = model.get("path_frame");
  const dot = (x, y, r, line, fill) => ({
    type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel", xanchor: x, yanchor: y,
    x0: -r, x1: r, y0: -r, y1: r, line, fillcolor: fill, layer: "above",
  });
  const out = [];
  if (p.length >= 4) {
    let d = `M${p[0]},${p[1]}`;
    for (let i = 2; i < p.length; i += 2) d += `L${p[i]},${p[i + 1]}`;
    out.push({ type: "path", path: d, xref: "x", yref: "y", line: { color: "#ff7f0e", width: 2 }, layer: "above" });
  }
  for (let i = 0; i < p.length; i += 2) out.push(dot(p[i], p[i + 1], 2, { width: 0 }, "#ff7f0e"));
  for (let i = 0; i < m.length; i += 2) out.push(dot(m[i], m[i + 1], 5, { color: "#111", width: 1.5 }, "rgba(0,0,0,0)"));
  if (f >= 0 && 2 * f + 1 < p.length) out.push(dot(p[2 * f], p[2 * f + 1], 5, { color: "#111", width: 1 }, "#ff7f0e"));
  return out;
}

function padded(values) {
  const [lo, hi] = range(values);
  const pad = (hi - lo) * 0.04 || 0.5;
  return [lo - pad, hi + pad];
}

// plotly draws the axes, title, ring and zoom/pan; the points are the page's canvas.
function scatterLayout(model, typed) {
  return {
    width: model.get("width"), height: model.get("height"),
    margin: { l: 50, r: 10, t: 30, b: 40 },
    title: { text: model.get("title"), font: { size: 13 }, x: 0.01, xanchor: "left" },
    xaxis: { title: { text: model.get("x_label") }, zeroline: false, range: padded(typed("x", f32)), autorange: false },
    yaxis: { title: { text: model.get("y_label") }, zeroline: false, range: padded(typed("y", f32)), autorange: false },
    dragmode: model.get("dragmode"), hovermode: false, plot_bgcolor: "rgba(0,0,0,0)", paper_bgcolor: "rgba(0,0,0,0)",
    uirevision: model.get("uirevision"), selections: [], shapes: [...pathShapes(model, typed), ...pointShapes(model, typed)],
  };
}

function legendHtml(legend) {
  if (!legend) return "";
  const esc = (t) => String(t).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  if (legend.cats) {
    return `<b>${esc(legend.title)}</b> ` + legend.cats.map(([c, col]) =>
      `<span style="white-space:nowrap;margin-right:6px"><span style="display:inline-block;width:9px;height:9px;background:${col};margin-right:2px"></span>${esc(c)}</span>`).join("");
  }
  const fmt = (v) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(4)).toString());
  return `<b>${esc(legend.title)}</b> ${fmt(legend.lo)} <span style="display:inline-block;width:120px;height:9px;vertical-align:middle;` +
    `background:linear-gradient(to right,${VIRIDIS.join(",")})"></span> ${fmt(legend.hi)}`;
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
  const canvas = document.createElement("canvas");
  canvas.className = "cl-points";
  canvas.style.cssText = "position:absolute;pointer-events:none";
  const gd = document.createElement("div");
  gd.className = "cl-plot";
  gd.style.minHeight = `${model.get("height")}px`; // the plot's room while plotly loads
  holder.append(canvas, gd);
  const outline = outlineLayer(holder);
  const tip = document.createElement("div");
  tip.className = "cl-tooltip";
  tip.style.cssText = "position:absolute;display:none;pointer-events:none;background:rgba(255,255,255,0.92);" +
    "border:1px solid #999;border-radius:3px;padding:1px 5px;font-size:12px;white-space:nowrap";
  holder.append(tip);
  const legend = document.createElement("div");
  legend.className = "cl-legend";
  legend.style.cssText = "font-size:11px;color:#333;margin:1px 0 0 50px;line-height:14px";
  const info = document.createElement("div");
  info.className = "cl-hover";
  info.style.cssText = "font-size:12px;color:#333;min-height:16px;white-space:nowrap;overflow:hidden";
  const status = document.createElement("div");
  status.className = "cl-status";
  const timing = { sent: {}, acked: {}, kept: {}, drawn: [], paints: [] }; // page clock (Date.now()) of each step, for the benchmark
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
  el.append(tools.bar, holder, legend, info, status);
  const view = Math.random().toString(36).slice(2);
  const counts = { sent: 0, acked: 0, errors: 0 };
  let seq = 0;
  let Plotly = null;
  let dragging = false; // a plotly zoom or pan in progress: layout changes wait for its end
  let pending = false;
  let hoverCols = [];
  let colours = null; // per-point packed colours (null: recompute)
  let nearest = null; // grid index of the points (null: rebuild on use)

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

  // --- the points: painted on the canvas over the plot area, at the axes' current ranges
  let ranges = null; // [xr, yr] while plotly pans or zooms (from plotly_relayouting)
  const draw = () => {
    // before plotly is loaded (its bundle comes from the kernel), the points are painted at once
    // in the plot area the layout will have, so they are on screen before the axes
    const fl = gd._fullLayout || preLayout();
    const dpr = Math.min(window.devicePixelRatio || 1, 2);
    const w = Math.max(1, Math.round(fl._size.w)), h = Math.max(1, Math.round(fl._size.h));
    const W = Math.round(w * dpr), H = Math.round(h * dpr);
    if (canvas.width !== W || canvas.height !== H) { canvas.width = W; canvas.height = H; }
    Object.assign(canvas.style, { left: `${fl._size.l}px`, top: `${fl._size.t}px`, width: `${w}px`, height: `${h}px` });
    const [xr, yr] = ranges || [fl.xaxis.range, fl.yaxis.range];
    const x = typed("x", f32), y = typed("y", f32);
    if (!("points" in timing)) timing.points = Date.now(); // first points on screen (for the benchmark)
    if (!colours) {
      const c = pointColours(model, typed);
      colours = c.colours || "plain";
      legend.innerHTML = legendHtml(c.legend);
    }
    const cols = colours === "plain" ? null : colours;
    const t0 = performance.now();
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(W, H);
    const px = new Uint32Array(img.data.buffer);
    px.fill(0xffffffff);
    const side = Math.max(1, Math.round(model.get("marker_size") * dpr));
    const sel = model.get("has_selection") ? typed("selected", i32) : null;
    if (sel) { // every point grey, then the kept ones in colour on top
      paint(px, W, H, xr, yr, x, y, null, null, packed(GREY), Math.max(1, side - 1), 0.6);
      paint(px, W, H, xr, yr, x, y, sel, cols, packed(PLAIN), side, 0.9);
    } else {
      paint(px, W, H, xr, yr, x, y, null, cols, packed(PLAIN), side, 0.8);
    }
    ctx.putImageData(img, 0, 0);
    timing.paints.push(performance.now() - t0);
    canvas.dataset.points = String(x.length);
    canvas.dataset.base = sel ? "grey" : "colour";
    canvas.dataset.kept = String(sel ? sel.length : -1);
    const n = sel ? sel.length : -1;
    requestAnimationFrame(() => { timing.drawn.push({ t: Date.now(), n }); status.dataset.drawn = String(n); });
  };
  const preLayout = () => {
    const L = scatterLayout(model, typed), m = L.margin;
    return { _size: { l: m.l, t: m.t, w: L.width - m.l - m.r, h: L.height - m.t - m.b },
             xaxis: { range: L.xaxis.range }, yaxis: { range: L.yaxis.range } };
  };
  let drawQueued = false;
  const drawSoon = () => {
    if (drawQueued) return;
    drawQueued = true;
    requestAnimationFrame(() => { drawQueued = false; draw(); });
  };

  // Layout changes (axes, title, ring) never reach plotly during its zoom or pan (that
  // would cancel it); they are applied once the drag is done.
  const config = { displaylogo: false, responsive: false, doubleClick: "reset", modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toImage"] };
  const dirty = { layout: false, dragmode: false, point: false };
  const flush = () => {
    if (!Plotly) return;
    if (dragging) { pending = true; return; }
    pending = false;
    if (dirty.layout) {
      const layout = scatterLayout(model, typed);
      if (!dirty.dragmode && gd._fullLayout) layout.dragmode = gd._fullLayout.dragmode;
      Promise.resolve(Plotly.react(gd, [{ type: "scatter", x: [], y: [], hoverinfo: "skip" }], layout, config)).then(drawSoon);
    } else if (dirty.point) { // only the ring or the trajectory moves
      Plotly.relayout(gd, { shapes: [...pathShapes(model, typed), ...pointShapes(model, typed)] });
    }
    el.dataset.pathPoints = String(typed("path", f32).length / 2); // for tests: the trajectory drawn
    if (dirty.dragmode && !dirty.layout && gd._fullLayout.dragmode !== model.get("dragmode")) {
      Plotly.relayout(gd, { dragmode: model.get("dragmode") });
    }
    dirty.layout = dirty.dragmode = dirty.point = false;
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
  const recolour = () => { colours = null; drawSoon(); };
  for (const k of ["color", "color_kind", "categories", "color_title"]) handlers[k] = recolour;
  for (const k of ["selected", "has_selection", "marker_size"]) handlers[k] = drawSoon;
  for (const k of ["width", "height", "title", "x_label", "y_label", "uirevision"]) handlers[k] = mark("layout");
  handlers.x = () => { nearest = null; ranges = null; dirty.layout = true; schedule(); }; // new axis ranges
  handlers.y = handlers.x;
  handlers.point = mark("point");
  for (const k of ["path", "path_marks", "path_frame"]) handlers[k] = mark("point");
  handlers.dragmode = () => { tools.show(); mark("dragmode")(); };
  handlers.select_mode = () => tools.show();
  handlers.n_undo = () => tools.show();
  for (const [k, h] of Object.entries(handlers)) model.on(`change:${k}`, h);

  // --- pointer: the page's own box and lasso (plotly never sees these drags), clicks and
  // hover in every tool; plotly's zoom and pan otherwise
  let drag = null; // our box or lasso
  let press = null; // any press in the plot area: a click when it does not move
  let drawnSeq = -1;
  const plotArea = (ev) => {
    const fl = gd._fullLayout;
    if (!fl) return null;
    const r = gd.getBoundingClientRect();
    const px = ev.clientX - r.left - fl._size.l, py = ev.clientY - r.top - fl._size.t;
    return { fl, r, px, py, inside: px >= 0 && py >= 0 && px <= fl._size.w && py <= fl._size.h };
  };
  // the point under the pointer (within 8 pixels), or -1
  const pointAt = (a) => {
    if (!a || !a.inside) return -1;
    const x = typed("x", f32), y = typed("y", f32);
    if (!nearest) nearest = gridIndex(x, y);
    const xa = a.fl.xaxis, ya = a.fl.yaxis;
    const xv = xa.p2d(a.px), yv = ya.p2d(a.py);
    const rx = Math.abs(xa.p2d(a.px + 8) - xv), ry = Math.abs(ya.p2d(a.py + 8) - yv);
    return nearest(xv, yv, rx, ry);
  };
  const toPage = (a, px, py) => [px + a.fl._size.l, py + a.fl._size.t];
  const down = (ev) => {
    const a = plotArea(ev);
    if (!a || ev.button !== 0) return;
    press = a.inside ? { x0: ev.clientX, y0: ev.clientY, travel: 0 } : null;
    const tool = model.get("dragmode");
    if (!a.inside || (tool !== "select" && tool !== "lasso")) { dragging = true; return; } // plotly's
    ev.stopPropagation();
    ev.preventDefault();
    drag = { tool, a, pts: [[a.px, a.py]] };
  };
  const swallow = (ev) => {
    const tool = model.get("dragmode");
    if (drag || ((tool === "select" || tool === "lasso") && (plotArea(ev) || {}).inside)) { ev.stopPropagation(); ev.preventDefault(); }
  };
  const move = (ev) => {
    if (press) press.travel = Math.max(press.travel, Math.hypot(ev.clientX - press.x0, ev.clientY - press.y0));
    if (!drag) { hover(ev); return; }
    const { a } = drag;
    const px = Math.min(Math.max(ev.clientX - a.r.left - a.fl._size.l, 0), a.fl._size.w);
    const py = Math.min(Math.max(ev.clientY - a.r.top - a.fl._size.t, 0), a.fl._size.h);
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
    const click = press && press.travel <= 3;
    press = null;
    if (!drag) {
      if (dragging) { dragging = false; if (pending) setTimeout(flush, 0); }
      if (click) { const p = pointAt(plotArea(ev)); if (p >= 0) send("click", [p]); }
      return;
    }
    ev.stopPropagation();
    const { a, tool, pts } = drag;
    drag = null;
    if (click) {
      outline.clear();
      const p = pointAt(plotArea(ev));
      if (p >= 0) send("click", [p]);
      return;
    }
    const xa = a.fl.xaxis, ya = a.fl.yaxis;
    const xs = pts.map((p) => xa.p2d(p[0])), ys = pts.map((p) => ya.p2d(p[1]));
    if (tool === "select") {
      drawnSeq = send("box", null, { range: { x: [xs[0], xs[1]], y: [ys[0], ys[1]] } });
    } else if (pts.length >= 3) {
      drawnSeq = send("lasso", null, { lasso: { x: xs, y: ys } });
    } else outline.clear();
  };
  const hover = (ev) => {
    const a = plotArea(ev);
    const p = a && a.inside && !dragging ? pointAt(a) : -1;
    if (p < 0) { tip.style.display = "none"; return; }
    const ids = typed("particle", i32);
    const particle = ids.length > p ? ids[p] : p;
    tip.textContent = `particle ${particle}`;
    tip.style.display = "block";
    tip.style.left = `${a.px + a.fl._size.l + 12}px`;
    tip.style.top = `${a.py + a.fl._size.t - 22}px`;
    info.textContent = hoverLine(hoverCols, p, particle);
    info.dataset.position = String(p);
  };
  const leave = () => { tip.style.display = "none"; };
  gd.addEventListener("pointerdown", down, true);
  gd.addEventListener("mousedown", swallow, true);
  gd.addEventListener("pointerleave", leave);
  window.addEventListener("pointermove", move, true);
  window.addEventListener("pointerup", up, true);

  requestAnimationFrame(() => { if (!gd._fullLayout) draw(); });
  loadPlotly(model).then((P) => {
    Plotly = P;
    return Plotly.newPlot(gd, [{ type: "scatter", x: [], y: [], hoverinfo: "skip" }], scatterLayout(model, typed), config);
  }).then(() => {
    draw();
    gd.on("plotly_relayouting", (ev) => { // a pan or zoom in progress: follow it
      const fl = gd._fullLayout;
      const xr = ev && "xaxis.range[0]" in ev ? [ev["xaxis.range[0]"], ev["xaxis.range[1]"]] : fl.xaxis.range;
      const yr = ev && "yaxis.range[0]" in ev ? [ev["yaxis.range[0]"], ev["yaxis.range[1]"]] : fl.yaxis.range;
      ranges = [xr, yr];
      drawSoon();
    });
    gd.on("plotly_relayout", (ev) => {
      ranges = null;
      drawSoon();
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
      const stage = model.get("stage");
      el.dataset.stage = stage;
      requestAnimationFrame(() => { // for the benchmark: any volume drawn, and the full one
        el.__clDrawn = Date.now();
        if (stage === "full") el.__clDrawnFull = el.__clDrawn;
      });
    });
  };
  const keys = ["vertices", "faces", "color", "title", "width", "height", "half_width", "stage"];
  const draw = coalesce(redraw);
  const onChange = () => { el.__clMeshIn = Date.now(); draw(); }; // arrival time, for the benchmark
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
