// Small helpers shared by the views: the API, elements, numbers and the state kept in the URL.

export async function api(path, options = {}) {
  const response = await fetch(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    error.valid = body && body.valid;
    throw error;
  }
  return body;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined) continue;
    if (key === "text") node.textContent = value; else node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

export function fmt(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && Math.abs(value) >= 1000) return value.toLocaleString("en");
  if (Number.isInteger(value)) return String(value);
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  return value.toFixed(digits);
}

export function mean(values) { return values.reduce((a, b) => a + b, 0) / values.length; }
export function sd(values) {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, b) => a + (b - m) * (b - m), 0) / (values.length - 1));
}

// The URL holds the view and its state (#/runs?sort=test_metric&sel=a,b), so a view can be bookmarked.
export function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "runs";
  const [path, query] = hash.split("?");
  const parts = path.split("/").map(decodeURIComponent);
  return { view: parts[0] || "runs", id: parts[1] || null, params: new URLSearchParams(query || "") };
}

export function setParams(params) {
  const { view, id } = route();
  const query = params.toString();
  const hash = `#/${view}${id ? "/" + encodeURIComponent(id) : ""}${query ? "?" + query : ""}`;
  history.replaceState(null, "", hash);
}

export function showError(target, error) {
  target.replaceChildren(el("p", { class: "error", role: "alert" }, error.message || String(error)));
}

// Runs of a kind that a view can use, for its picker.
export async function runsWhere(test) {
  const listing = await api("/api/runs");
  return listing.runs.filter(test);
}

export function picker(runs, chosen, onChange, label = "run") {
  const select = el("select", { "aria-label": label, id: "run-picker",
    onchange: (event) => onChange(event.target.value) });
  if (!runs.length) select.append(el("option", { value: "" }, "(no suitable run)"));
  for (const run of runs) {
    const text = `${run.path}  (${run.data || "?"}, ${run.model || "?"}${run.test_metric != null ? ", " +
      run.test_metric_name + " " + fmt(run.test_metric, 3) : ""})`;
    select.append(el("option", { value: run.id, selected: run.id === chosen }, text));
  }
  return select;
}

export function verdictBadge(verdict) {
  if (!verdict) return "";
  return el("span", { class: `verdict verdict-${verdict.replace(/ /g, "_")}` }, verdict.replace(/_/g, " "));
}
