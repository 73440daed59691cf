// Sequences: paste or upload, predictions per sequence, the mutagenesis map and logo, edit a base and re-predict.
import { api, el, fmt, route, setParams, showError, runsWhere, picker } from "./util.js";
import { ismHeatmap, ismLogo } from "./charts.js";

const isSequenceModel = (r) => r.kind === "train" && r.has_model && r.data_kind === "sequence" && r.status !== "broken";

function valueText(answer, values) {
  if (answer.task === "regression") return values.map((v) => fmt(v, 3)).join(", ");
  return values.map((v, i) => `${answer.outputs[i]} ${(v * 100).toFixed(1)} %`).join(", ");
}

export async function showSequence(target) {
  const runs = await runsWhere(isSequenceModel);
  const params = route().params;
  let chosen = params.get("run") || (runs[0] && runs[0].id);
  const text = el("textarea", { rows: 6, id: "sequences", spellcheck: "false",
    placeholder: "one sequence a line, or FASTA (>name lines)" });
  const upload = el("input", { type: "file", accept: ".fa,.fasta,.fna,.txt,.seq", id: "upload", onchange: async (e) => {
    const file = e.target.files[0]; if (file) text.value = await file.text(); } });
  const table = el("div", { id: "predictions" });
  const ismBox = el("div", { id: "ism" });
  target.replaceChildren(el("h1", {}, "Sequences"),
    el("div", { class: "toolbar" }, "model: ", picker(runs, chosen, (v) => { chosen = v; const p = new URLSearchParams();
      p.set("run", v); setParams(p); }, "sequence model"), upload),
    text, el("p", {}, el("button", { id: "predict", onclick: () => run(0) }, "predict")), table, ismBox);
  if (!runs.length) showError(table, new Error("no sequence model in this runs folder: train one with " +
    "synbiolab train --data uci_promoters --model cnn1d"));

  let answer = null;
  async function run(index) {
    try {
      answer = await api(`/api/runs/${encodeURIComponent(chosen)}/predict`, { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text: text.value, ism: true, ism_index: index }) });
    } catch (error) { showError(table, error); ismBox.replaceChildren(); return; }
    drawTable(index);
    drawIsm(answer.ism, answer.predictions[index]);
  }

  function drawTable(selected) {
    const head = el("tr", {}, ["#", "name", "length", "", ...answer.outputs, "top"].map((h) => el("th", {}, h)));
    const rows = answer.predictions.map((p, i) => el("tr", { class: i === selected ? "group" : "", style: "cursor:pointer",
      onclick: () => run(i), title: "show the mutagenesis map of this sequence" },
      el("td", {}, String(i + 1)), el("td", {}, p.name), el("td", { class: "num" }, String(p.length)),
      el("td", { class: "muted" }, p.fitted), p.values.map((v) => el("td", { class: "num" },
        answer.task === "regression" ? fmt(v, 3) : (v * 100).toFixed(1) + " %")), el("td", {}, p.top ?? "")));
    table.replaceChildren(el("h2", {}, `Predictions of ${answer.predictions.length} sequence(s) — ` +
      `${answer.server_ms} ms on the server`), el("div", { style: "overflow:auto;max-height:320px" },
      el("table", { class: "grid", id: "prediction-table" }, head, rows)));
  }

  function drawIsm(ism, prediction, edited = null) {
    const boxes = ism.boxes || [];
    const inBox = (j) => boxes.some((b) => j >= b.start && j < b.start + b.width);
    const letters = ism.letters;
    const bases = el("div", { class: "seq", id: "editable" }, ism.sequence.split("").map((c, j) => el("span", {
      class: "base" + (inBox(j) ? " box" : "") + (edited && edited.position === j ? " edited" : ""),
      title: `position ${j + 1}: click to change`, "data-position": j,
      onclick: () => {
        if (c === "-") return;
        const next = letters[(letters.indexOf(c) + 1) % letters.length] || letters[0];
        const changed = ism.sequence.slice(0, j) + next + ism.sequence.slice(j + 1);
        repredict(changed.replace(/-/g, ""), j, prediction);
      } }, c)));
    const change = edited ? el("p", { id: "edit-result" }, `position ${edited.position + 1} changed: `,
      el("b", {}, valueText(answer, edited.before)), " → ", el("b", {}, valueText(answer, edited.after))) : null;
    ismBox.replaceChildren(el("h2", {}, `In-silico mutagenesis of ${prediction.name}: the ${ism.measures} when one ` +
      "letter changes"),
      el("p", { class: "muted" }, "red: the change raises it, blue: it lowers it; dots mark the sequence's own letters" +
        (boxes.length ? "; outlined: the -35 and -10 boxes (sigma-70 consensus TTGACA and TATAAT)" : "")),
      ismHeatmap(ism), el("div", { class: "chart-title" }, "importance of each letter (up: it supports the prediction)"),
      ismLogo(ism), el("h2", {}, "Edit a base"), el("p", { class: "muted" }, "click a letter to change it and see the " +
        "prediction move"), bases, change);
  }

  async function repredict(sequence, position, original) {
    try {
      const fresh = await api(`/api/runs/${encodeURIComponent(chosen)}/predict`, { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ sequences: [sequence], ism: true }) });
      const p = { ...fresh.predictions[0], name: `${original.name} (edited)` };
      drawIsm(fresh.ism, { ...p, values: original.values, name: original.name },
        { position, before: original.values, after: p.values });
    } catch (error) { showError(ismBox, error); }
  }
  return null;
}
