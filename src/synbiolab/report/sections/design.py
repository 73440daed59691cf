"""The page of a design folder (design.html): predicted strength of the designs against natural and measured
promoters, the designs, the settings."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np

from ..html import render, save_figure, table, write_page


def section_design(out, summary: dict, records: list, predicted, natural_predicted):
    """The design page's one section: histograms, the sets compared, the measured promoters, the designs."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(min(predicted.min(), natural_predicted.min()), max(predicted.max(), natural_predicted.max()), 40)
    ax.hist(natural_predicted, bins, density=True, alpha=0.5, label="held-out natural promoters")
    ax.hist(predicted, bins, density=True, alpha=0.5, label="all generated")
    ax.hist([r["predicted"] for r in records], bins, density=True, alpha=0.7, label="designs")
    ax.set_xlabel("predicted expression (predictor's units)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    measured = summary["measured_94"]
    if measured:
        fig_measured, ax = plt.subplots(figsize=(4.5, 4))
        ax.scatter(measured["measured_log10"], measured["predicted"], s=12)
        ax.set_xlabel("measured activity (log10)")
        ax.set_ylabel("predicted")
        ax.set_title(f"{measured['n']} measured promoters: r = {measured['pearson_r']:.2f}", fontsize=10)
        fig_measured.tight_layout()
        measured = {**measured, "figure": save_figure(fig_measured, out, "design_measured")}
    rows = [{"set": "designs", **summary["designs"]}, {"set": "held-out natural", **summary["natural_heldout"]}]
    # The settings are long (every measured promoter's score): the first 4,000 characters say what was run.
    return render("sections/design.html", top=summary["top"], n_sampled=summary["n_sampled"],
                  generator=summary["generator"], predictor=summary["predictor"], target=str(summary["target"]),
                  refine_steps=summary["refine_steps"], histogram=save_figure(fig, out, "design_predictions"),
                  sets=table(rows), measured=measured or None, designs=table(records[:100]),
                  settings=json.dumps(summary, indent=2)[:4000])


def write_design_report(out, summary: dict, records: list, predicted, natural_predicted) -> None:
    """Write design.html in the design folder `out`."""
    write_page(out / "design.html", "synbiolab designs",
               [("design", section_design(out, summary, records, predicted, natural_predicted))],
               heading="Promoter designs")
