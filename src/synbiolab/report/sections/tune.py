"""The report of a tune folder: the optimisation history, the parameter importances and the best trial."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from markupsafe import Markup, escape

from ..html import save_figure, table, write_page


def history_figure(rows: list[dict]):
    """Validation error of every finished trial, and the best so far."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    done = [r for r in rows if r["val_error"] is not None and r["state"] == "complete"]
    pruned = [r for r in rows if r["state"] == "pruned"]
    if done:
        numbers = [r["trial"] for r in done]
        values = [r["val_error"] for r in done]
        ax.plot(numbers, values, "o", label="finished trial")
        order = np.argsort(numbers)
        ax.step(np.array(numbers)[order], np.minimum.accumulate(np.array(values)[order]), where="post",
                color="C3", label="best so far")
    if pruned:
        ax.plot([r["trial"] for r in pruned], [ax.get_ylim()[1]] * len(pruned), "x", color="grey",
                label="pruned (stopped early)")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation error (best epoch)")
    ax.set_title("optimisation history", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def importance_figure(importances: dict[str, float]):
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(importances) + 1.2))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names], color="C0")
    ax.set_xlabel("share of the validation error's variance explained (fANOVA)")
    ax.set_title("parameter importances", fontsize=10)
    fig.tight_layout()
    return fig


def write_tune_report(folder: Path, study, summary: dict, rows: list[dict]) -> Path:
    """report.html of a tune folder."""
    parts = [("summary", Markup(
        f"<p>{summary['n_trials']} trials ({summary['n_pruned']} pruned) of study <code>{escape(summary['study'])}"
        f"</code>; the best, trial {summary['best_trial']}, reached a validation error of "
        f"<b>{summary['best_value']:.4f}</b> with <code>{escape(' '.join(summary['best_overrides']))}</code>. "
        f"Settings were chosen on the {escape(summary['chosen_on'])}. <code>synbiolab train --config "
        f"{escape(str(folder / 'best.yaml'))}</code> trains them again.</p>"))]
    parts.append(("history", save_figure(history_figure(rows), folder, "optimisation_history")))
    if summary["importances"]:
        parts.append(("importances", save_figure(importance_figure(summary["importances"]), folder,
                                                 "importances")))
    best = folder / "best"
    if (best / "metrics.json").is_file():
        metrics = json.loads((best / "metrics.json").read_text())
        test = metrics.get("test", {})
        what = (f"test accuracy {test['accuracy']:.4f}" if "accuracy" in test
                else f"test Pearson r {test.get('pearson_r', float('nan')):.4f}")
        verdict = ""
        if (best / "diagnosis.json").is_file():
            diagnosis = json.loads((best / "diagnosis.json").read_text())
            verdict = f"; diagnosis: <b>{escape(diagnosis.get('verdict', '?'))}</b>"
        comparison = metrics.get("baseline_comparison", {}).get("sentence")
        beside = f"</p><p>Beside the linear baselines fitted on the same split: {escape(comparison)}." if comparison \
            else ""
        parts.append(("best", Markup(
            f"<h2>The best settings, trained again</h2><p>{what} (weights of its best epoch, "
            f"{metrics.get('best_epoch')}; measured once, after the search){verdict}. "
            f"<a href='best/report.html'>Its report</a>.{beside}</p>")))
    parts.append(("trials", Markup("<h2>Trials</h2>") + table(rows)))
    return write_page(folder / "report.html", f"synbiolab tune {folder.name}", parts)
