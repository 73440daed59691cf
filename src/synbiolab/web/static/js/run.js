// One run: learning curves that grow live, the verdict and its fixes, test results, figures; or a folder's table.
import { api, el, fmt, route, verdictBadge } from "./util.js";
import { CurveChart, seriesChart, confusionMatrix, scatterPlot } from "./charts.js";

const fileUrl = (id, name) => `/api/runs/${encodeURIComponent(id)}/files/${name}`;

function header(detail) {
  const row = detail.row;
  const links = [];
  const id = encodeURIComponent(row.id);
  for (const name of ["report.html", "sweep.html", "table.html", "design.html"]) {
    if (detail.files.includes(name)) links.push(el("a", { href: fileUrl(row.id, name), target: "_blank",
      rel: "noopener", id: name === "report.html" ? "report-link" : null }, `open ${name}`));
  }
  if (row.kind === "train" && row.has_model && row.data_kind === "image" && row.task !== "regression") {
    links.push(el("a", { href: `#/draw?run=${id}` }, "draw a digit for this model"));
  }
  if (row.kind === "train" && row.has_model && row.data_kind === "sequence") {
    links.push(el("a", { href: `#/sequence?run=${id}` }, "predict sequences with this model"));
  }
  if (row.kind === "gan" && row.has_model) links.push(el("a", { href: `#/gan?run=${id}` }, "sample this GAN"));
  if (row.parent) links.push(el("a", { href: `#/run/${encodeURIComponent(row.parent)}` }, "the folder it belongs to"));
  return el("div", {},
    el("h1", {}, row.path || row.name, " ", el("span", { class: `status-${row.status}`, id: "live-status" },
      row.status || "")),
    el("p", { class: "muted" }, [row.kind, row.data, row.model, row.task].filter(Boolean).join(" · "),
      row.problem ? el("span", { class: "error" }, ` — ${row.problem}`) : ""),
    el("p", { class: "toolbar" }, links));
}

function metricsTable(metrics) {
  if (!metrics || !metrics.test) return null;
  const keys = ["loss", "accuracy", "error", "pearson_r", "r2", "mse", "n"].filter((k) => k in metrics.test);
  return el("table", { class: "grid", id: "metrics", style: "width:auto" },
    el("tr", {}, el("th", {}, "split (best-epoch weights)"), keys.map((k) => el("th", { class: "num" }, k))),
    ["train", "val", "test"].filter((s) => metrics[s]).map((s) => el("tr", {}, el("td", {}, s),
      keys.map((k) => el("td", { class: "num" }, fmt(metrics[s][k]))))));
}

function diagnosisBox(detail) {
  const d = detail.diagnosis;
  const box = el("div", { id: "diagnosis" }, el("h2", {}, "Generalisation verdict"));
  if (!d) {
    box.append(el("p", { class: "muted" }, "Not diagnosed yet: ",
      el("code", {}, `synbiolab diagnose ${detail.root}/${detail.row.path}`), " writes the verdict, its evidence and the fixes."));
    return box;
  }
  box.append(el("p", {}, verdictBadge(d.verdict), " ", d.summary || ""));
  const evidence = Object.entries(d.evidence || {}).filter(([, v]) => v !== null && typeof v !== "object");
  if (evidence.length) {
    box.append(el("details", {}, el("summary", {}, `evidence (${evidence.length} numbers)`),
      el("table", { class: "grid", style: "width:auto" }, evidence.map(([k, v]) =>
        el("tr", {}, el("td", {}, k.replace(/_/g, " ")), el("td", { class: "num" }, fmt(v)))))));
  }
  if ((d.fixes || []).length) {
    box.append(el("h3", {}, "Ranked fixes"), el("ol", { class: "fixes", id: "fixes" }, d.fixes.map((f) =>
      el("li", {}, el("b", {}, f.title), " — ", f.reason || "", el("br"),
        (f.overrides || []).map((o) => el("code", {}, `--set ${o}`)), " ", el("br"),
        "apply it: ", el("code", { class: "command" }, f.command)))));
  }
  (d.notes || []).forEach((n) => box.append(el("p", { class: "muted" }, n)));
  return box;
}

function testResults(detail) {
  const box = el("div", { id: "test-results" }, el("h2", {}, "Test split"));
  const p = detail.predictions;
  const figures = detail.files.filter((f) => f.startsWith("figures/"));
  let shown = [];
  if (p && p.confusion) {
    box.append(el("div", { class: "row" }, el("div", {}, el("div", { class: "chart-title" },
      "confusion matrix (from predictions.csv)"), confusionMatrix(p.confusion.classes, p.confusion.matrix)),
      p.mistakes && p.mistakes.length ? el("div", {}, el("div", { class: "chart-title" },
        `misclassified (${p.mistakes.length}${p.mistakes.length === 100 ? "+" : ""})`),
        el("table", { class: "grid", style: "width:auto" }, el("tr", {}, el("th", {}, "id"), el("th", {}, "true"),
          el("th", {}, "predicted")), p.mistakes.slice(0, 25).map((m) => el("tr", {}, el("td", {}, m.id ?? ""),
          el("td", {}, m.target), el("td", {}, m.predicted))))) : null));
  } else if (p && p.scatter) {
    box.append(el("div", { class: "chart-title" }, `predicted vs measured (${p.scatter.n} test sequences, Pearson r ` +
      `${fmt(p.scatter.pearson_r, 3)})`), scatterPlot(p.scatter.measured, p.scatter.predicted, p.scatter.target));
  } else if (p) {
    box.append(el("p", { class: "muted" }, `predictions.csv: ${p.n} rows, columns ${p.columns.join(", ")}`));
  }
  for (const name of ["confusion_matrix", "misclassified", "predicted_vs_measured", "class_curves"]) {
    const file = `figures/${name}.png`;
    if (figures.includes(file) && !(p && (p.confusion || p.scatter) && name !== "misclassified")) {
      box.append(el("img", { class: "figure", src: fileUrl(detail.id, file), alt: name.replace(/_/g, " "),
        loading: "lazy" }));
      shown.push(file);
    }
  }
  return [box, shown];
}

function gallery(detail, skip) {
  const figures = detail.files.filter((f) => f.startsWith("figures/") && f.endsWith(".png") && !skip.includes(f)
    && f !== "figures/learning_curves.png");
  if (!figures.length) return null;
  return el("div", { id: "figures" }, el("h2", {}, "Figures of the report"), el("div", { class: "row" },
    figures.map((f) => el("figure", {}, el("img", { class: "figure", src: fileUrl(detail.id, f), alt: f,
      loading: "lazy", style: "max-width:520px" }), el("figcaption", { class: "muted" }, f.slice(8, -4).replace(/_/g, " "))))));
}

function tableOf(data, id) {
  if (!data || !data.columns || !data.columns.length) return el("p", { class: "muted" }, "(no table yet)");
  return el("div", { style: "overflow:auto;max-height:480px" }, el("table", { class: "grid", id },
    el("tr", {}, data.columns.map((c) => el("th", {}, c))),
    data.rows.map((r) => el("tr", {}, r.map((v) => el("td", { class: typeof v === "number" ? "num" : "" }, fmt(v)))))));
}

function folderView(target, detail) {
  const row = detail.row;
  target.append(el("h2", {}, { sweep: "Sweep table", compare: "Pipelines", cv: "Folds" }[row.kind] || "Table"));
  if (detail.summary) target.append(el("pre", {}, JSON.stringify(detail.summary, null, 2)));
  target.append(tableOf(detail.table, "folder-table"));
  const figures = detail.files.filter((f) => f.startsWith("figures/") && f.endsWith(".png"));
  if (figures.length) target.append(el("h2", {}, "Figures"), el("div", { class: "row" }, figures.map((f) =>
    el("img", { class: "figure", src: fileUrl(detail.id, f), alt: f, style: "max-width:560px", loading: "lazy" }))));
  if (detail.children.length) {
    target.append(el("h2", {}, `Runs in this folder (${detail.children.length})`), el("ul", {}, detail.children.map((c) =>
      el("li", {}, el("a", { href: `#/run/${encodeURIComponent(c.id)}` }, c.path), " ",
        el("span", { class: `status-${c.status}` }, c.status), c.test_metric !== undefined && c.test_metric !== null ?
          ` — test ${c.test_metric_name} ${fmt(c.test_metric)}` : ""))));
  }
}

export async function showRun(target) {
  const { id } = route();
  const listing = await api("/api/runs");
  const detail = await api(`/api/runs/${encodeURIComponent(id)}`);
  detail.root = listing.root.replace(/\/$/, "");
  target.replaceChildren(header(detail));
  const row = detail.row;
  if (row.status === "broken") {
    target.append(el("p", { class: "error" }, `This folder is broken: ${row.problem}`));
    return null;
  }
  if (!["train", "gan"].includes(row.kind)) { folderView(target, detail); return null; }

  const curves = el("div", { class: "row", id: "curves" });
  target.append(el("h2", {}, "Learning curves ", el("span", { class: "muted", id: "curve-note" },
    "(the shaded band is the gap between validation and training; the dashed line the best epoch)")), curves);
  const history = { columns: [], rows: [] };
  let charts = [];
  let best = row.best_epoch ?? null;
  const redraw = () => {
    if (!history.columns.length) return;
    if (!charts.length) {
      if (history.columns.includes("val_error")) {
        charts = [new CurveChart(curves, "loss", "train_loss", "val_loss"),
          new CurveChart(curves, "error", "train_error", "val_error")];
      } else {
        charts = [{ update: () => {}, destroy: () => {} }];
        return;
      }
    }
    const shownBest = best ?? bestSoFar(history);
    for (const c of charts) c.update(history.columns, history.rows, shownBest);
  };
  const status = document.getElementById("live-status");
  const source = new EventSource(`/api/runs/${encodeURIComponent(id)}/events`);
  source.addEventListener("row", (event) => {
    const data = JSON.parse(event.data);
    if (!history.columns.length) history.columns = Object.keys(data);
    history.rows.push(history.columns.map((c) => data[c]));
    if (row.status !== "finished") status.textContent = `running — epoch ${data.epoch}`;
    redraw();
  });
  source.addEventListener("end", async (event) => {
    source.close();
    const end = JSON.parse(event.data);
    status.textContent = end.status; status.className = `status-${end.status}`;
    best = end.best_epoch ?? best;
    redraw();
    if (row.kind === "gan" && history.rows.length) {
      seriesChart(curves, "losses", history.columns, history.rows, ["discriminator_loss", "generator_loss"]);
      seriesChart(curves, "quality per epoch", history.columns, history.rows,
        ["frechet", "frechet_floor", "kmer_r", "rate_10", "rate_35", "mean_confidence"]);
    }
    if (end.status !== row.status) {
      // metrics.json lands before the report and its figures: look again a little later for those
      const refresh = async () => {
        const fresh = await api(`/api/runs/${encodeURIComponent(id)}`).catch(() => null);
        if (fresh) { fresh.root = detail.root; renderBelow(fresh); }
      };
      await refresh();
      setTimeout(refresh, 4000);
    }
  });
  const below = el("div", { id: "below" });
  target.append(below);
  const renderBelow = (d) => {
    below.replaceChildren();
    if (d.metrics && d.metrics.test) below.append(el("h2", {}, "Metrics"), metricsTable(d.metrics));
    if (d.row.kind === "train") {
      below.append(diagnosisBox(d));
      const [box, shown] = testResults(d);
      below.append(box);
      const more = gallery(d, shown);
      if (more) below.append(more);
    } else {
      const more = gallery(d, []);
      if (more) below.append(more);
      if (d.metrics && d.metrics.final) below.append(el("h2", {}, "Final quality"),
        el("pre", {}, JSON.stringify(d.metrics.final, null, 2)));
    }
  };
  renderBelow(detail);
  return () => { source.close(); charts.forEach((c) => c.destroy()); };
}

function bestSoFar(history) {
  const e = history.columns.indexOf("epoch"), v = history.columns.indexOf("val_loss");
  if (e < 0 || v < 0 || !history.rows.length) return null;
  let best = history.rows[0];
  for (const r of history.rows) if (r[v] !== null && r[v] < best[v]) best = r;
  return best[e];
}
