// The runs table: filter, sort, seed groups as mean +/- spread, and several runs overlaid.
import { api, el, fmt, mean, sd, route, setParams, showError, verdictBadge } from "./util.js";
import { overlayChart } from "./charts.js";

const COLUMNS = [
  { key: "name", label: "run" }, { key: "kind", label: "kind" }, { key: "status", label: "status" },
  { key: "data", label: "data" }, { key: "model", label: "model" }, { key: "task", label: "task" },
  { key: "verdict", label: "verdict" },
  { key: "best_val_error", label: "best val error", num: true, stat: true },
  { key: "last_val_error", label: "last val error", num: true, stat: true },
  { key: "test_metric", label: "test metric", num: true, stat: true },
  { key: "n_parameters", label: "parameters", num: true }, { key: "seconds", label: "seconds", num: true, stat: true },
  { key: "when", label: "when" },
];
const TEXT_KEYS = ["name", "path", "data", "model", "kind", "status", "verdict", "task", "problem"];

function compare(key, dir) {
  return (a, b) => {
    const x = a[key], y = b[key];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return dir === "desc" ? -order : order;
  };
}

// Runs equal in every setting but their seeds, as one row each with the mean and the spread.
function grouped(rows) {
  const groups = new Map();
  for (const row of rows) {
    const key = row.kind === "train" && row.group ? row.group : "single:" + row.id;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  return [...groups.values()].map((members) => {
    if (members.length === 1) return members[0];
    const first = members[0];
    const out = { ...first, id: first.id, members, name: `${first.path || first.name} (${members.length} seeds)`,
      when: members.map((m) => m.when).sort().pop() };
    for (const c of COLUMNS.filter((c) => c.stat)) {
      const values = members.map((m) => m[c.key]).filter((v) => typeof v === "number");
      out[c.key] = values.length ? mean(values) : null;
      out[c.key + "_sd"] = values.length > 1 ? sd(values) : null;
    }
    const verdicts = [...new Set(members.map((m) => m.verdict).filter(Boolean))];
    out.verdict = verdicts.length === 1 ? verdicts[0] : (verdicts.length ? "mixed" : null);
    return out;
  });
}

function cell(row, column) {
  const value = row[column.key];
  if (column.key === "name") {
    const link = el("a", { href: `#/run/${encodeURIComponent(row.id)}` }, row.members ? row.name : row.path || row.name);
    return el("td", {}, link, row.problem ? el("div", { class: "muted" }, String(row.problem).slice(0, 120)) : null);
  }
  if (column.key === "status") return el("td", { class: `status-${value}` }, value || "");
  if (column.key === "verdict") return el("td", {}, verdictBadge(value));
  if (column.key === "test_metric" && value !== null && value !== undefined) {
    return el("td", { class: "num" }, `${row.test_metric_name || ""} ${fmt(value)}` +
      (row.test_metric_sd !== null && row.test_metric_sd !== undefined ? ` ± ${fmt(row.test_metric_sd)}` : ""));
  }
  if (column.num) {
    const spread = row[column.key + "_sd"];
    return el("td", { class: "num" }, fmt(value) + (spread !== null && spread !== undefined ? ` ± ${fmt(spread)}` : ""));
  }
  return el("td", {}, value === null || value === undefined ? "" : String(value));
}

export async function showRuns(target) {
  const listing = await api("/api/runs");
  const params = route().params;
  const state = { q: params.get("q") || "", sort: params.get("sort") || "when", dir: params.get("dir") || "desc",
    group: params.get("group") === "1", sel: (params.get("sel") || "").split(",").filter(Boolean) };
  const save = () => {
    const p = new URLSearchParams();
    if (state.q) p.set("q", state.q);
    p.set("sort", state.sort); p.set("dir", state.dir);
    if (state.group) p.set("group", "1");
    if (state.sel.length) p.set("sel", state.sel.join(","));
    setParams(p);
  };

  const filterBox = el("input", { type: "search", placeholder: "filter: name, data, model, verdict...", value: state.q,
    id: "filter", "aria-label": "filter runs", oninput: (e) => { state.q = e.target.value; save(); draw(); } });
  const groupBox = el("input", { type: "checkbox", id: "group-seeds", checked: state.group,
    onchange: (e) => { state.group = e.target.checked; save(); draw(); } });
  const count = el("span", { class: "muted" });
  const table = el("table", { class: "grid", id: "runs-table" });
  const overlay = el("div", { id: "overlay" });
  target.replaceChildren(el("h1", {}, "Runs"),
    el("div", { class: "toolbar" }, filterBox, el("label", {}, groupBox, " group runs that differ only in their seed"),
      count, el("button", { class: "plain", onclick: () => { state.sel = []; save(); draw(); drawOverlay(); } },
        "clear selection")),
    table, overlay);

  function visible() {
    const q = state.q.toLowerCase();
    let rows = listing.runs.filter((r) => !q || TEXT_KEYS.some((k) => String(r[k] ?? "").toLowerCase().includes(q)));
    if (state.group) rows = grouped(rows);
    return rows.sort(compare(state.sort, state.dir));
  }

  function draw() {
    const rows = visible();
    count.textContent = `${rows.length} of ${listing.count}`;
    const head = el("tr", {}, el("th", {}, ""), COLUMNS.map((c) => el("th", { class: c.num ? "num" : "",
      "data-key": c.key, onclick: () => {
        state.dir = state.sort === c.key && state.dir === "asc" ? "desc" : "asc"; state.sort = c.key; save(); draw();
      } }, c.label + (state.sort === c.key ? (state.dir === "asc" ? " ▲" : " ▼") : ""))));
    const body = rows.map((row) => {
      const ids = row.members ? row.members.map((m) => m.id) : [row.id];
      const box = el("input", { type: "checkbox", "aria-label": `select ${row.name}`,
        checked: ids.every((i) => state.sel.includes(i)), disabled: !["train", "gan"].includes(row.kind),
        onchange: (e) => {
          state.sel = state.sel.filter((i) => !ids.includes(i));
          if (e.target.checked) state.sel.push(...ids);
          save(); drawOverlay();
        } });
      return el("tr", { class: row.members ? "group" : "", "data-id": row.id }, el("td", {}, box),
        COLUMNS.map((c) => cell(row, c)));
    });
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, body));
  }

  let drawing = 0;
  async function drawOverlay() {
    const ticket = ++drawing;
    if (!state.sel.length) { overlay.replaceChildren(); return; }
    overlay.replaceChildren(el("p", { class: "muted" }, "loading the selected runs..."));
    const ids = state.sel.slice(0, 12);
    try {
      const [histories, details] = await Promise.all([
        Promise.all(ids.map((id) => api(`/api/runs/${encodeURIComponent(id)}/history`))),
        Promise.all(ids.map((id) => api(`/api/runs/${encodeURIComponent(id)}`)))]);
      if (ticket !== drawing) return;
      const runs = histories.map((h, i) => ({ ...h, name: details[i].row.path || details[i].row.name }));
      overlay.replaceChildren(el("h2", {}, `${ids.length} runs overlaid`));
      const charts = el("div", { class: "row" });
      overlay.append(charts);
      if (runs.every((r) => r.columns.includes("val_error"))) {
        overlayChart(charts, "error (validation solid, training dashed)", runs, "error");
        overlayChart(charts, "loss (validation solid, training dashed)", runs, "loss");
      } else {
        charts.append(el("p", { class: "muted" }, "these runs have no common train/validation curves"));
      }
      overlay.append(diffTable(details));
    } catch (error) { showError(overlay, error); }
  }

  draw();
  drawOverlay();
}

// The config keys in which the selected runs differ, one column per run.
function diffTable(details) {
  const flats = details.map((d) => d.flat_config || {});
  const keys = [...new Set(flats.flatMap(Object.keys))].sort();
  const differ = keys.filter((k) => new Set(flats.map((f) => JSON.stringify(f[k]))).size > 1);
  const box = el("div", { id: "config-diff" }, el("h2", {}, "Settings in which they differ"));
  if (!differ.length) { box.append(el("p", { class: "muted" }, "none: the same settings")); return box; }
  box.append(el("table", { class: "grid diff" },
    el("tr", {}, el("th", {}, "setting"), details.map((d) => el("th", {}, d.row.path || d.row.name))),
    differ.map((k) => el("tr", {}, el("td", {}, el("code", {}, k)),
      flats.map((f) => el("td", {}, f[k] === undefined ? "—" : JSON.stringify(f[k])))))));
  return box;
}
