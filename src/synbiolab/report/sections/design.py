"""The report of a design folder: predicted strength of the designs against natural and measured promoters."""

from __future__ import annotations

import html
import json

import matplotlib.pyplot as plt
import numpy as np

from ...io import atomic_write_text
from ..run import STYLE, save_figure, table


def write_design_report(out, summary: dict, records: list, predicted, natural_predicted) -> None:
    refined = f", {summary['refine_steps']} gradient steps in latent space" if summary["refine_steps"] else ""
    parts = [
        "<h1>Promoter designs</h1>",
        f"<p>{summary['top']} designs chosen from {summary['n_sampled']:,} sequences sampled from "
        f"<code>{html.escape(summary['generator'])}</code> and scored by <code>"
        f"{html.escape(summary['predictor'])}</code>; target <b>{html.escape(str(summary['target']))}</b>"
        f"{refined}"
        ".</p>",
    ]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(min(predicted.min(), natural_predicted.min()), max(predicted.max(), natural_predicted.max()), 40)
    ax.hist(natural_predicted, bins, density=True, alpha=0.5, label="held-out natural promoters")
    ax.hist(predicted, bins, density=True, alpha=0.5, label="all generated")
    ax.hist([r["predicted"] for r in records], bins, density=True, alpha=0.7, label="designs")
    ax.set_xlabel("predicted expression (predictor's units)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    parts.append(save_figure(fig, out, "design_predictions"))
    rows = [
        {"set": "designs", **summary["designs"]},
        {"set": "held-out natural", **summary["natural_heldout"]},
    ]
    parts.append(table(rows))
    measured = summary["measured_94"]
    if measured:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(measured["measured_log10"], measured["predicted"], s=12)
        ax.set_xlabel("measured activity (log10)")
        ax.set_ylabel("predicted")
        ax.set_title(f"{measured['n']} measured promoters: r = {measured['pearson_r']:.2f}", fontsize=10)
        fig.tight_layout()
        parts.append("<h2>How far can the predictor be trusted?</h2>" + save_figure(fig, out, "design_measured"))
        parts.append(
            f"<p>On the {measured['n']} promoters measured in vivo by Wang et al. (2020), the "
            f"predictor's scores correlate with the measured activity at Pearson r = "
            f"{measured['pearson_r']:.3f} (Spearman rho = {measured['spearman_rho']:.3f}). The "
            "constructs carry a 5-nt cloning overhang (AATTC), removed before scoring, and are fitted "
            "to the predictor's length as its training data were. A weak correlation here means the "
            "ranking of designs is a hypothesis to test, not a result.</p>"
        )
    parts.append("<h2>Designs</h2>" + table(records[:100]))
    parts.append(f"<h2>Settings</h2><pre>{html.escape(json.dumps(summary, indent=2)[:4000])}</pre>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>synbiolab designs</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    atomic_write_text(out / "design.html", page)
