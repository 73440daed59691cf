// Draw a digit: the picture the model receives, its probabilities and, for a CNN, the first layer's maps.
import { api, el, route, setParams, showError, runsWhere, picker } from "./util.js";
import { probabilityBars, pixelCanvas } from "./charts.js";

const isImageClassifier = (r) => r.kind === "train" && r.has_model && r.data_kind === "image" &&
  ["multiclass", "binary"].includes(r.task) && r.status !== "broken";

export async function showDraw(target) {
  const runs = await runsWhere(isImageClassifier);
  const params = route().params;
  let chosen = params.get("run") || (runs[0] && runs[0].id);
  const pad = el("canvas", { width: 280, height: 280, class: "pad", id: "pad", "aria-label": "drawing pad" });
  const result = el("div", { id: "draw-result" }, el("p", { class: "muted" },
    "Draw a digit with the mouse or a finger; the model answers when you lift it."));
  const ctx = pad.getContext("2d");
  const clear = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, pad.width, pad.height); drawn = false;
    version += 1; pad.dataset.version = String(version);
    result.replaceChildren(el("p", { class: "muted" }, "Draw a digit.")); };
  // `version` counts changes of the drawing; the answer shown says which version it answered (data-version).
  let drawn = false, down = false, last = null, pending = null, inFlight = false, again = false, version = 0;
  const changed = () => { version += 1; pad.dataset.version = String(version); drawn = true; };
  target.replaceChildren(el("h1", {}, "Draw a digit"),
    el("div", { class: "toolbar" }, "model: ", picker(runs, chosen, (value) => {
      chosen = value; const p = new URLSearchParams(); p.set("run", value); setParams(p); send(); }, "image model"),
      el("button", { class: "plain", id: "clear", onclick: clear }, "clear")),
    el("div", { class: "row" }, el("div", {}, pad, el("p", { class: "muted" }, "white paper, dark ink")), result));
  clear();
  if (!runs.length) { showError(result, new Error("no image classifier in this runs folder: train one with " +
    "synbiolab train --data digits --model cnn")); }

  ctx.lineCap = "round"; ctx.lineJoin = "round"; ctx.strokeStyle = "#000"; ctx.lineWidth = 20;
  const at = (e) => { const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener("pointerdown", (e) => { down = true; last = at(e); pad.setPointerCapture(e.pointerId);
    ctx.beginPath(); ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fillStyle = "#000"; ctx.fill();
    changed(); });
  pad.addEventListener("pointermove", (e) => {
    if (!down) return;
    const p = at(e);
    ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke(); last = p; changed();
    if (!pending) pending = setTimeout(() => { pending = null; send(); }, 300);  // answers while drawing too
  });
  const lift = () => { if (down) { down = false; send(); } };
  pad.addEventListener("pointerup", lift);
  pad.addEventListener("pointercancel", lift);

  async function send() {
    if (!drawn || !chosen) return;
    if (inFlight) { again = true; return; }
    inFlight = true;
    const answering = version;
    try {
      const blob = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
      const answer = await api(`/api/runs/${encodeURIComponent(chosen)}/predict`, { method: "POST",
        headers: { "Content-Type": "image/png" }, body: blob });
      render(answer);
      result.dataset.version = String(answering);
    } catch (error) { showError(result, error); }
    inFlight = false;
    if (again) { again = false; send(); }
  }

  function render(answer) {
    const parts = [
      el("div", {}, el("div", { class: "chart-title" }, `what the model reads (${answer.input.width} x ${answer.input.height})`),
        pixelCanvas(answer.input.pixels, Math.round(168 / answer.input.width))),
      el("div", {}, el("div", { class: "chart-title" }, "probabilities"),
        el("p", {}, "top class: ", el("b", { id: "top-class" }, answer.top.class), ` (${(answer.top.probability * 100).toFixed(1)} %)`),
        probabilityBars(answer.classes, answer.probabilities),
        el("p", { class: "muted" }, `${answer.server_ms} ms on the server`)),
    ];
    const maps = answer.feature_maps;
    if (maps) {
      parts.push(el("div", {}, el("div", { class: "chart-title" }, `first layer: ${maps.channels} feature maps of ` +
        `${maps.width} x ${maps.height} (${maps.layer})`), el("div", { class: "maps", id: "feature-maps" },
        maps.maps.map((m) => pixelCanvas(m, Math.max(1, Math.round(48 / maps.width)))))));
    }
    result.replaceChildren(el("div", { class: "row" }, parts));
  }
  return null;
}
