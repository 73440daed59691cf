// Charts: learning curves with uPlot (vendored), and small SVG pictures drawn here.
import { el, svg, fmt } from "./util.js";

const COLOURS = ["#1f77b4", "#e8710a", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf"];
export const colour = (i) => COLOURS[i % COLOURS.length];
const EPOCH_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];  // whole epochs on the x axis

function bestEpochLine(getBest) {
  return {
    hooks: {
      draw: [(u) => {
        const best = getBest();
        if (best === null || best === undefined) return;
        const x = u.valToPos(best, "x", true);
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = "#444"; ctx.lineWidth = 1.5 * devicePixelRatio; ctx.setLineDash([6, 4]);
        ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        ctx.fillStyle = "#444"; ctx.font = `${11 * devicePixelRatio}px system-ui`;
        ctx.fillText(`best epoch ${best}`, x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
        ctx.restore();
      }],
    },
  };
}

// Training vs validation of one quantity (loss or error), the gap between them shaded, the best epoch marked.
export class CurveChart {
  constructor(target, title, trainKey, valKey, width = 520) {
    this.title = title; this.trainKey = trainKey; this.valKey = valKey; this.best = null;
    this.box = el("div", { class: "chart card", "data-chart": valKey }, el("div", { class: "chart-title" }, title));
    target.append(this.box);
    const opts = {
      width, height: 260, plugins: [bestEpochLine(() => this.best)],
      scales: { x: { time: false } }, legend: { live: false },
      axes: [{ label: "epoch", incrs: EPOCH_STEPS }, { label: title, size: 60 }],
      series: [{ label: "epoch" },
        { label: "training", stroke: "#1f77b4", width: 2, points: { size: 5 } },
        { label: "validation", stroke: "#e8710a", width: 2, points: { size: 5 } }],
      bands: [{ series: [2, 1], fill: "rgba(214, 39, 40, 0.16)" }],
    };
    this.plot = new uPlot(opts, [[], [], []], this.box);
  }
  update(columns, rows, best) {
    const at = (name) => columns.indexOf(name);
    const [e, t, v] = [at("epoch"), at(this.trainKey), at(this.valKey)];
    if (e < 0 || t < 0 || v < 0) return;
    this.best = best ?? null;
    this.plot.setData([rows.map((r) => r[e]), rows.map((r) => r[t]), rows.map((r) => r[v])]);
    this.box.dataset.points = String(rows.length);
  }
  destroy() { this.plot.destroy(); }
}

// Any columns of a history against the epoch (GAN losses and quality).
export function seriesChart(target, title, columns, rows, keys, width = 520) {
  const box = el("div", { class: "chart card" }, el("div", { class: "chart-title" }, title));
  target.append(box);
  const e = columns.indexOf("epoch");
  const present = keys.filter((k) => columns.includes(k));
  const data = [rows.map((r) => r[e]), ...present.map((k) => rows.map((r) => r[columns.indexOf(k)]))];
  const series = [{ label: "epoch" }, ...present.map((k, i) => ({ label: k.replace(/_/g, " "), stroke: colour(i),
    width: 2, points: { size: 5 } }))];
  return new uPlot({ width, height: 240, scales: { x: { time: false } }, legend: { live: false },
    axes: [{ label: "epoch", incrs: EPOCH_STEPS }, { size: 60 }],
    series }, data, box);
}

// Several runs' validation curves on one chart (training dashed), epochs aligned.
export function overlayChart(target, title, runs, key, width = 760) {
  const box = el("div", { class: "chart card", "data-chart": "overlay-" + key },
    el("div", { class: "chart-title" }, title));
  target.append(box);
  const epochs = [...new Set(runs.flatMap((r) => r.rows.map((row) => row[r.columns.indexOf("epoch")])))]
    .sort((a, b) => a - b);
  const data = [epochs];
  const series = [{ label: "epoch" }];
  runs.forEach((run, i) => {
    const e = run.columns.indexOf("epoch");
    for (const [prefix, dash] of [["val_", null], ["train_", [5, 4]]]) {
      const j = run.columns.indexOf(prefix + key);
      const byEpoch = new Map(run.rows.map((row) => [row[e], j >= 0 ? row[j] : null]));
      data.push(epochs.map((ep) => byEpoch.has(ep) ? byEpoch.get(ep) : null));
      series.push({ label: `${run.name} ${prefix === "val_" ? "validation" : "training"}`, stroke: colour(i),
        width: prefix === "val_" ? 2 : 1.2, dash: dash || undefined, spanGaps: true });
    }
  });
  return new uPlot({ width, height: 300, scales: { x: { time: false } }, legend: { live: false },
    axes: [{ label: "epoch", incrs: EPOCH_STEPS }, { label: key.replace(/_/g, " "), size: 60 }], series }, data, box);
}

// Horizontal probability bars, the top class highlighted.
export function probabilityBars(classes, probabilities) {
  const top = probabilities.indexOf(Math.max(...probabilities));
  return el("div", { class: "bars", id: "probabilities" }, classes.map((name, i) =>
    el("div", { class: "bar" + (i === top ? " top" : ""), "data-class": name, "data-p": probabilities[i].toFixed(4) },
      el("span", { class: "label" }, name),
      el("span", { class: "fill", style: `width:${Math.max(1, Math.round(probabilities[i] * 220))}px` }),
      el("span", {}, (probabilities[i] * 100).toFixed(1) + " %"))));
}

// A grey image (rows of 0..255) on a canvas, enlarged without smoothing.
export function pixelCanvas(pixels, scale = 8, invert = false) {
  const h = pixels.length, w = pixels[0].length;
  const canvas = el("canvas", { width: w, height: h, class: "pixels", style: `width:${w * scale}px;height:${h * scale}px` });
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = invert ? 255 - pixels[y][x] : pixels[y][x];
    const k = 4 * (y * w + x);
    image.data[k] = image.data[k + 1] = image.data[k + 2] = v; image.data[k + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

// Diverging blue-white-red for effects: negative blue, positive red.
function diverging(value, limit) {
  if (value === null || value === undefined) return "#eeeeee";
  const t = Math.max(-1, Math.min(1, value / (limit || 1)));
  const a = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${a},${a})` : `rgb(${a},${a},255)`;
}

function limitOf(rows) {
  const values = rows.flat().filter((v) => v !== null && v !== undefined).map(Math.abs);
  return values.length ? Math.max(...values) || 1 : 1;
}

function boxMarks(boxes, cell, left, top, height) {
  return (boxes || []).map((b) => svg("g", {},
    svg("rect", { x: left + b.start * cell, y: top - 14, width: b.width * cell, height: height + 14, fill: "none",
      stroke: b.present ? "#1d4e89" : "#94a3b8", "stroke-width": 1.5, "stroke-dasharray": b.present ? null : "3 2" }),
    svg("text", { x: left + b.start * cell, y: top - 4, "font-size": 11, fill: "#1d4e89",
      text: `${b.name} box${b.present ? "" : " (weak)"}` })));
}

// In-silico mutagenesis: 4 x L cells, letters as rows, the reference letter dotted, boxes outlined.
export function ismHeatmap(ism) {
  const letters = ism.letters.split(""), L = ism.sequence.length;
  const cell = Math.max(8, Math.min(16, Math.floor(900 / L))), left = 24, top = 22;
  const limit = limitOf(ism.effects);
  const root = svg("svg", { width: left + L * cell + 70, height: top + letters.length * cell + 34, id: "ism-heatmap",
    "data-rows": letters.length, "data-columns": L, role: "img",
    "aria-label": `mutagenesis map, ${letters.length} letters by ${L} positions` });
  letters.forEach((letter, a) => {
    root.append(svg("text", { x: 6, y: top + a * cell + cell * 0.75, "font-size": 11, text: letter }));
    for (let j = 0; j < L; j++) {
      const value = ism.effects[a][j];
      const rect = svg("rect", { x: left + j * cell, y: top + a * cell, width: cell, height: cell,
        fill: diverging(value, limit), class: "ism-cell" });
      rect.append(svg("title", { text: `position ${j + 1}, ${letter}: ${value === null ? "padding" : fmt(value, 3)}` }));
      root.append(rect);
      if (ism.sequence[j] === letter) root.append(svg("circle", { cx: left + j * cell + cell / 2,
        cy: top + a * cell + cell / 2, r: Math.max(1.5, cell / 7), fill: "#222" }));
    }
  });
  for (let j = 0; j < L; j += 10) root.append(svg("text", { x: left + j * cell, y: top + letters.length * cell + 12,
    "font-size": 10, fill: "#697586", text: String(j + 1) }));
  root.append(...boxMarks(ism.boxes, cell, left, top, letters.length * cell));
  const legendX = left + L * cell + 10;
  root.append(svg("rect", { x: legendX, y: top, width: 10, height: 10, fill: diverging(limit, limit) }),
    svg("text", { x: legendX + 14, y: top + 9, "font-size": 10, text: `+${fmt(limit, 2)}` }),
    svg("rect", { x: legendX, y: top + 16, width: 10, height: 10, fill: diverging(-limit, limit) }),
    svg("text", { x: legendX + 14, y: top + 25, "font-size": 10, text: `-${fmt(limit, 2)}` }));
  return root;
}

const BASE_COLOURS = { A: "#2ca02c", C: "#1f77b4", G: "#f0a500", T: "#d62728", U: "#d62728" };

// A logo of the reference letters, each as tall as its importance (up: it supports the prediction).
export function ismLogo(ism) {
  const L = ism.sequence.length;
  const cell = Math.max(8, Math.min(16, Math.floor(900 / L))), left = 24, mid = 60, half = 50;
  const values = ism.importance.map((v) => (v === null ? 0 : v));
  const limit = Math.max(...values.map(Math.abs)) || 1;
  const root = svg("svg", { width: left + L * cell + 70, height: 2 * mid + 10, id: "ism-logo", role: "img",
    "aria-label": "importance logo of the reference letters" });
  root.append(svg("line", { x1: left, x2: left + L * cell, y1: mid, y2: mid, stroke: "#999" }));
  values.forEach((v, j) => {
    const letter = ism.sequence[j];
    if (letter === "-" || v === 0) return;
    const h = Math.abs(v) / limit * half;
    if (h < 0.5) return;
    const scaleY = h / (cell * 0.72);
    const y = v > 0 ? mid : mid + h;
    const text = svg("text", { x: 0, y: 0, "font-size": cell, "font-weight": 700, "font-family": "monospace",
      fill: BASE_COLOURS[letter] || "#555", text: letter,
      transform: `translate(${left + j * cell},${y}) scale(1,${(v > 0 ? 1 : -1) * scaleY})` });
    root.append(text);
  });
  root.append(...boxMarks(ism.boxes, cell, left, 14, 2 * mid - 20));
  return root;
}

// Predicted against measured, with the identity line.
export function scatterPlot(measured, predicted, label) {
  const w = 360, h = 320, pad = 40;
  const all = measured.concat(predicted);
  const lo = Math.min(...all), hi = Math.max(...all), span = hi - lo || 1;
  const sx = (v) => pad + (v - lo) / span * (w - 2 * pad), sy = (v) => h - pad - (v - lo) / span * (h - 2 * pad);
  const root = svg("svg", { width: w, height: h, id: "scatter", role: "img", "aria-label": "predicted vs measured" });
  root.append(svg("line", { x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi), stroke: "#999" }));
  measured.forEach((m, i) => root.append(svg("circle", { cx: sx(m), cy: sy(predicted[i]), r: 2.5,
    fill: "rgba(31,119,180,0.55)" })));
  root.append(svg("text", { x: w / 2 - 40, y: h - 8, "font-size": 12, text: `measured ${label || ""}` }),
    svg("text", { x: 4, y: 14, "font-size": 12, text: "predicted" }),
    svg("text", { x: pad, y: h - pad + 14, "font-size": 10, text: fmt(lo, 2) }),
    svg("text", { x: w - pad - 20, y: h - pad + 14, "font-size": 10, text: fmt(hi, 2) }));
  return root;
}

// Confusion matrix: rows true, columns predicted, counts shaded by their share of the row.
export function confusionMatrix(classes, matrix) {
  const n = classes.length, cell = Math.max(22, Math.min(40, Math.floor(420 / n))), left = 60, top = 40;
  const root = svg("svg", { width: left + n * cell + 10, height: top + n * cell + 30, id: "confusion", role: "img",
    "aria-label": "confusion matrix" });
  root.append(svg("text", { x: left, y: 14, "font-size": 11, text: "predicted" }),
    svg("text", { x: 2, y: top + n * cell + 22, "font-size": 11, text: "rows: true class" }));
  matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    root.append(svg("text", { x: left - 6, y: top + i * cell + cell * 0.65, "font-size": 11, "text-anchor": "end",
      text: classes[i] }));
    row.forEach((count, j) => {
      const share = count / total;
      const shade = Math.round(255 * (1 - share));
      root.append(svg("rect", { x: left + j * cell, y: top + i * cell, width: cell, height: cell,
        fill: i === j ? `rgb(${shade},${Math.round(200 + 55 * (1 - share))},${shade})` : `rgb(255,${shade},${shade})`,
        stroke: "#fff" }));
      if (count) root.append(svg("text", { x: left + j * cell + cell / 2, y: top + i * cell + cell * 0.65,
        "font-size": 10, "text-anchor": "middle", fill: share > 0.6 ? "#fff" : "#222", text: String(count) }));
    });
  });
  classes.forEach((c, j) => root.append(svg("text", { x: left + j * cell + cell / 2, y: top - 6, "font-size": 11,
    "text-anchor": "middle", text: c })));
  return root;
}
