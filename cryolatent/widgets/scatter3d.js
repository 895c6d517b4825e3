// Front end of Scatter3DPlot (latent_views.py): a plotly scatter3d (WebGL) of three embedding
// dimensions. Coordinates, colours and the kept points arrive as binary traits (float32 / int32).
// Every drawn point is grey with the kept ones in colour on top (two traces; all in colour when
// nothing is selected); the current point is a red diamond. A click on a point sends its position
// ({type: "click", position}). plotly.js comes from the kernel once ({type: "need_plotly"}), as for
// scatter.js, under the same window promise, so the two files share one copy.

const PLOTLY_PROMISE = "__cryolatentPlotly";

function loadPlotly(model) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window[PLOTLY_PROMISE]) {
    window[PLOTLY_PROMISE] = new Promise((resolve, reject) => {
      const onMsg = (msg, buffers) => {
        if (!msg || msg.type !== "plotly_js") return;
        model.off("msg:custom", onMsg);
        try {
          new Function(new TextDecoder().decode(buffers[0]))(); // defines window.Plotly
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

function typed(dv, Ctor) {
  if (!dv || !dv.byteLength) return new Ctor(0);
  return new Ctor(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength));
}

const PALETTE = [ // as scatter.js: tab20's strong colours, then its light ones
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
];
const GREY = "#c2c2c2";
const PLAIN = "#3b6ea8";

function pick(values, idx) {
  const out = new Float32Array(idx.length);
  for (let k = 0; k < idx.length; k++) out[k] = values[idx[k]];
  return out;
}

// marker colour of the coloured trace: category codes through a stepped colorscale, values through Viridis
function colourMarker(model, values) {
  const kind = model.get("color_kind");
  if (kind === "none") return { color: PLAIN };
  if (kind === "categorical") {
    const n = Math.max(1, model.get("categories").length), scale = [];
    for (let k = 0; k < n; k++) {
      const c = PALETTE[k % PALETTE.length];
      scale.push([k / n, c], [(k + 1) / n, c]);
    }
    return { color: values, colorscale: scale, cmin: -0.5, cmax: n - 0.5, showscale: false };
  }
  const [lo, hi] = model.get("color_range");
  return { color: values, colorscale: "Viridis", cmin: lo, cmax: hi > lo ? hi : lo + 1, showscale: true,
           colorbar: { title: { text: model.get("color_title") }, thickness: 12, len: 0.6 } };
}

function traces(model, arrays) {
  const { x, y, z, kept, color } = arrays;
  const sel = model.get("has_selection");
  const size = x.length > 20000 ? 1.5 : x.length > 2000 ? 2.5 : 3.5;
  const coloured = colourMarker(model, color);
  const all = { type: "scatter3d", mode: "markers", name: "all", x, y, z, hoverinfo: "none",
                marker: sel ? { size: Math.max(1, size - 0.5), color: GREY, opacity: 0.5 } : { size, ...coloured } };
  const keep = { type: "scatter3d", mode: "markers", name: "kept", hoverinfo: "none",
                 x: sel ? pick(x, kept) : [], y: sel ? pick(y, kept) : [], z: sel ? pick(z, kept) : [],
                 marker: sel ? { size, ...coloured, ...(coloured.color === PLAIN ? {} : { color: pick(color, kept) }) } : { size } };
  const p = model.get("point");
  const point = { type: "scatter3d", mode: "markers", name: "current", hoverinfo: "none",
                  x: p.length ? [p[0]] : [], y: p.length ? [p[1]] : [], z: p.length ? [p[2]] : [],
                  marker: { size: 8, color: "#d62728", symbol: "diamond", line: { color: "#000", width: 1 } } };
  return [all, keep, point];
}

function layout(model) {
  const [lx, ly, lz] = model.get("labels");
  return {
    width: model.get("width"), height: model.get("height"), showlegend: false,
    margin: { l: 0, r: 0, t: 30, b: 0 },
    title: { text: model.get("title"), font: { size: 13 }, x: 0.01, xanchor: "left" },
    scene: { xaxis: { title: { text: lx } }, yaxis: { title: { text: ly } }, zaxis: { title: { text: lz } },
             aspectmode: "cube" },
    hovermode: "closest", uirevision: model.get("uirevision"),
  };
}

function render({ model, el }) {
  el.classList.add("cryolatent-scatter3d");
  const gd = document.createElement("div");
  gd.className = "cl-plot3d";
  gd.style.minHeight = `${model.get("height")}px`;
  const status = document.createElement("div");
  status.className = "cl-status3d";
  status.style.cssText = "font-size:12px;color:#b3261e;min-height:1em";
  el.append(gd, status);
  let Plotly = null;
  let arrays = null;

  const decode = () => {
    arrays = {
      x: typed(model.get("x"), Float32Array), y: typed(model.get("y"), Float32Array),
      z: typed(model.get("z"), Float32Array), position: typed(model.get("position"), Int32Array),
      kept: typed(model.get("kept"), Int32Array), color: typed(model.get("color"), Float32Array),
    };
  };
  const draw = () => {
    if (!Plotly) return;
    if (!arrays) decode();
    const drawn = arrays;
    Promise.resolve(Plotly.react(gd, traces(model, drawn), layout(model), { displaylogo: false, responsive: false }))
      .then(() => {
        el.dataset.points = String(drawn.x.length);
        el.dataset.kept = String(model.get("has_selection") ? drawn.kept.length : drawn.x.length);
        el.dataset.ready = "1";
      })
      .catch((err) => { status.textContent = `cannot draw the 3-D view: ${err}`; });
  };
  let queued = false;
  const drawSoon = () => { // once per burst of trait changes (one kernel message sets several)
    if (queued) return;
    queued = true;
    Promise.resolve().then(() => { queued = false; draw(); });
  };
  const onData = () => { arrays = null; drawSoon(); };
  const data = ["x", "y", "z", "position", "kept", "color"];
  const other = ["has_selection", "color_kind", "color_range", "categories", "color_title", "point", "labels",
                 "uirevision", "title", "width", "height"];
  for (const k of data) model.on(`change:${k}`, onData);
  for (const k of other) model.on(`change:${k}`, drawSoon);

  const onClick = (ev) => {
    const pt = ev && ev.points && ev.points[0];
    if (!pt || !arrays) return;
    const i = pt.curveNumber === 0 ? pt.pointNumber : pt.curveNumber === 1 ? arrays.kept[pt.pointNumber] : -1;
    if (i === undefined || i < 0 || i >= arrays.position.length) return;
    el.dataset.clicked = String(arrays.position[i]);
    model.send({ type: "click", position: arrays.position[i] });
  };

  loadPlotly(model).then((P) => {
    Plotly = P;
    draw();
    gd.on("plotly_click", onClick);
  }).catch((err) => { status.textContent = `cannot load plotly.js: ${err}`; });

  return () => {
    for (const k of data) model.off(`change:${k}`, onData);
    for (const k of other) model.off(`change:${k}`, drawSoon);
    if (Plotly) Plotly.purge(gd);
  };
}

export default { render };
