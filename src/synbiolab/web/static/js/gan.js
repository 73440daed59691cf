// Sample a GAN: a grid for a seed (a chosen digit for conditional GANs), a latent walk, or a FASTA batch.
import { api, el, fmt, route, setParams, showError, runsWhere, picker } from "./util.js";
import { pixelCanvas } from "./charts.js";

const QUALITY = [["n", "sequences"], ["kmer_r", "6-mer frequency r with held-out natural"],
  ["rate_10", "-10 box rate"], ["natural_rate_10", "natural -10 box rate"], ["rate_35", "-35 box rate"],
  ["natural_rate_35", "natural -35 box rate"], ["spacing_16_18", "spacer 16-18 nt"],
  ["mean_nearest_heldout", "nearest held-out sequence (nt)"], ["exact_heldout", "identical to a held-out one"],
  ["diversity", "mean pairwise distance (nt)"]];

export async function showGan(target) {
  const runs = await runsWhere((r) => r.kind === "gan" && r.has_model && r.status !== "broken");
  const params = route().params;
  const state = { run: params.get("run") || (runs[0] && runs[0].id), seed: Number(params.get("seed") || 0),
    n: Number(params.get("n") || 16), digit: params.get("digit") || "" };
  const save = () => { const p = new URLSearchParams(); for (const [k, v] of Object.entries(state)) if (v !== "") p.set(k, v);
    setParams(p); };
  const out = el("div", { id: "gan-result" });
  const current = () => runs.find((r) => r.id === state.run);
  const digitBox = el("input", { type: "number", min: 0, max: 9, value: state.digit, id: "digit", style: "width:5em",
    placeholder: "any", onchange: (e) => { state.digit = e.target.value; save(); draw(); } });
  const digitLabel = el("label", {}, "digit ", digitBox);
  target.replaceChildren(el("h1", {}, "Sample a GAN"), el("div", { class: "toolbar" },
    "GAN: ", picker(runs, state.run, (v) => { state.run = v; save(); draw(); }, "GAN run"),
    el("label", {}, "seed ", el("input", { type: "number", min: 0, value: state.seed, id: "seed", style: "width:6em",
      onchange: (e) => { state.seed = Number(e.target.value); save(); draw(); } })),
    el("label", {}, "samples ", el("input", { type: "number", min: 1, max: 1000, value: state.n, id: "n",
      style: "width:6em", onchange: (e) => { state.n = Number(e.target.value); save(); draw(); } })),
    digitLabel), out);
  if (!runs.length) { showError(out, new Error("no GAN run in this runs folder: train one with synbiolab gan")); return null; }

  async function draw() {
    const run = current();
    digitLabel.style.display = run && run.conditional ? "" : "none";
    out.replaceChildren(el("p", { class: "muted" }, "sampling..."));
    const body = { n: state.n, seed: state.seed, interpolate: true };
    if (run && run.conditional && state.digit !== "") body.digit = Number(state.digit);
    try {
      const answer = await api(`/api/runs/${encodeURIComponent(state.run)}/sample`, { method: "POST",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      render(answer);
    } catch (error) { showError(out, error); }
  }

  function render(answer) {
    out.replaceChildren();
    if (answer.kind === "image") {
      const scale = Math.max(2, Math.round(56 / answer.width));
      out.append(el("h2", {}, `${answer.n} samples, seed ${answer.seed}` + (answer.digit !== null ? `, digit ${answer.digit}` : "")),
        el("div", { class: "samples", id: "samples", style: "max-width:720px" },
          answer.images.map((img, i) => {
            const c = pixelCanvas(img, scale);
            if (answer.classes) c.title = `class ${answer.classes[i]}`;
            return c;
          })));
      const walk = answer.interpolation;
      if (walk) {
        out.append(el("h2", {}, `latent interpolation: ${walk.lines} straight lines of ${walk.steps} steps`),
          el("div", { class: "samples", id: "interpolation" }, Array.from({ length: walk.lines }, (_, line) =>
            el("div", {}, walk.images.slice(line * walk.steps, (line + 1) * walk.steps).map((img) => pixelCanvas(img, scale))))));
      }
    } else {
      const blob = new Blob([answer.fasta], { type: "text/plain" });
      const q = answer.quality || {};
      out.append(el("h2", {}, `${answer.n} sequences, seed ${answer.seed}`),
        el("p", {}, el("a", { href: URL.createObjectURL(blob), download: `samples-seed${answer.seed}.fasta`,
          id: "fasta-download" }, "download FASTA")),
        el("table", { class: "grid", id: "quality", style: "width:auto" }, QUALITY.filter(([k]) => k in q).map(([k, label]) =>
          el("tr", {}, el("td", {}, label), el("td", { class: "num" }, fmt(q[k], 3))))),
        el("pre", { class: "seq", style: "max-height:360px" }, answer.sequences.slice(0, 200).join("\n")));
      if (answer.interpolation) out.append(el("h2", {}, "latent interpolation"),
        el("pre", { class: "seq" }, answer.interpolation.sequences.join("\n")));
    }
    out.append(el("p", { class: "muted" }, `${answer.server_ms} ms on the server`));
  }
  draw();
  return null;
}
