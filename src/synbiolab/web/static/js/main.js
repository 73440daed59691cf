// The page's router: one view at a time, chosen by the URL's hash.
import { api, el, route } from "./util.js";
import { showRuns } from "./runs.js";
import { showRun } from "./run.js";
import { showDraw } from "./draw.js";
import { showSequence } from "./sequence.js";
import { showGan } from "./gan.js";

const views = { runs: showRuns, run: showRun, draw: showDraw, sequence: showSequence, gan: showGan };
let cleanup = null;

async function render() {
  const { view } = route();
  for (const link of document.querySelectorAll("header nav a[data-view]")) {
    link.classList.toggle("active", link.dataset.view === view || (view === "run" && link.dataset.view === "runs"));
  }
  if (cleanup) { try { cleanup(); } catch (e) { /* the old view is gone either way */ } cleanup = null; }
  const target = document.getElementById("view");
  target.replaceChildren(el("p", { class: "muted" }, "loading..."));
  const show = views[view] || showRuns;
  try {
    cleanup = await show(target) || null;
  } catch (error) {
    target.replaceChildren(el("p", { class: "error", role: "alert" }, error.message || String(error)));
  }
}

window.addEventListener("hashchange", render);
api("/api/runs").then((listing) => {
  document.getElementById("root").textContent = `${listing.root}: ${listing.count} folders`;
}).catch(() => {});
render();
