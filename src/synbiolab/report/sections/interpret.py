"""The sequence sections of a train-run report: the model against its k-mer baseline, and what it looks at.

``section_sequence_results`` reads the test outputs (predictions.csv) and the baseline's numbers, which
training saved in metrics.json; ``section_interpretation`` loads the saved model to run in-silico mutagenesis
on the test sequences of predictions.csv and to turn its first-layer filters into motifs (``interpret.py``).
Runs written before those files existed have their data set loaded again instead.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from markupsafe import Markup

from ...classical.kmer import BASELINES
from ...errors import SynbiolabError
from ...evaluate import ranking_metrics
from ...interpret import (
    best_sites,
    filter_pwms,
    first_conv,
    in_silico_mutagenesis,
    ism_heatmap,
    ism_logo,
    ism_score,
    match_filters,
    motifs_for,
    pwm_logo,
    trim_ppm,
)
from ...models.ensemble import Ensemble
from ..html import render, save_figure, table
from ..outputs import load_test_outputs

#: The data set's notes on how its sequences were prepared, shown under the results table.
PREPARATION_KEYS = ("encoding", "lengths", "ambiguity", "duplicates", "split", "input", "target", "groups", "rows")

BASELINE_METHOD = "k-mer (1-4) + one-hot, linear"


def _sequence_outputs(run):
    """(test outputs, metrics) of a finished sequence run, or None for any other run."""
    if not (run.path / "model.json").is_file():
        return None
    spec = run.model_spec
    if spec.get("kind") != "sequence" or spec.get("task") not in ("binary", "multiclass", "regression"):
        return None
    outputs = load_test_outputs(run)
    if outputs is None:
        return None
    return outputs, (run.metrics if (run.path / "metrics.json").is_file() else {})


def _recomputed_baseline(run, task: str):
    """The baseline's test outputs and the data set's notes, for a run that did not save them (reloads data)."""
    from ...classical import kmer_baseline

    ds = run.load_dataset()
    train_x = torch.cat([ds.train.x, ds.val.x]).numpy()
    train_y = torch.cat([ds.train.y, ds.val.y]).numpy()
    baseline = kmer_baseline(train_x, train_y, ds.test.x.numpy(), task)
    preparation = {k: str(v) for k, v in ds.info.items() if k in PREPARATION_KEYS}
    return baseline, ranking_metrics(task, baseline, ds.test.y), preparation


def section_sequence_results(run) -> Markup | None:
    """Test metrics of a sequence model next to the linear k-mer baseline; scatter or per-class curves."""
    loaded = _sequence_outputs(run)
    if loaded is None:
        return None
    outputs, metrics = loaded
    task, model_name = outputs.task, run.model_spec["name"]
    targets = torch.as_tensor(outputs.targets)
    saved = metrics.get("baseline")
    if saved is not None:
        baseline_metrics = {k: v for k, v in saved.items() if k != "method"}
        baseline_outputs, preparation = outputs.baseline, metrics.get("data_info", {})
        source = ("Model and baseline numbers from metrics.json, curves from predictions.csv (both written at the "
                  "end of training).")
    else:
        baseline_outputs, baseline_metrics, preparation = _recomputed_baseline(run, task)
        source = "Recomputed: this run saved no baseline, so the data set was loaded again and the baseline refitted."
    model_metrics = ranking_metrics(task, outputs.logits(), targets)
    rows = [{"method": f"{model_name} (kept weights)", **model_metrics}]
    if "baselines" in metrics:  # the three linear baselines (runs saved before had the k-mer one only)
        rows += [{"method": f"{name}: {BASELINES[name][0]}", **values} for name, values in metrics["baselines"].items()
                 if name in BASELINES]
    else:
        rows.append({"method": BASELINE_METHOD, **baseline_metrics})
    comparison = metrics.get("baseline_comparison", {}).get("sentence")
    return render("sections/sequence_results.html", rows=table(rows), preparation=list(preparation.items()),
                  source=source, figure=_results_figure(run, outputs, baseline_outputs, model_name),
                  comparison=comparison)


def _results_figure(run, outputs, baseline, model_name: str):
    """Measured against predicted (regression, model and baseline) or ROC and PR curves per class."""
    if outputs.task == "regression":
        if baseline is None:
            return None
        fig, axes = plt.subplots(1, 2, figsize=(9, 4))
        measured = outputs.targets[:, 0]
        target = (outputs.target_names or ["target"])[0]
        for ax, values, title in ((axes[0], outputs.predictions[:, 0], model_name),
                                  (axes[1], np.asarray(baseline).reshape(len(measured), -1)[:, 0],
                                   "k-mer linear baseline")):
            ax.scatter(measured, values, s=6, alpha=0.5)
            low, high = float(min(measured.min(), values.min())), float(max(measured.max(), values.max()))
            ax.plot([low, high], [low, high], color="grey", lw=1)
            r = np.corrcoef(measured, values)[0, 1]
            ax.set(xlabel=f"measured {target}", ylabel="predicted", title=f"{title}: Pearson r {r:.3f} (test)")
        fig.tight_layout()
        return save_figure(fig, run, "predicted_vs_measured")
    from sklearn.metrics import precision_recall_curve, roc_curve

    probs, labels = outputs.probabilities, outputs.targets
    classes = range(probs.shape[1]) if outputs.task == "multiclass" else [1]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for k in classes:
        positive = labels == k
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, probs[:, k])
        precision, recall, _ = precision_recall_curve(positive, probs[:, k])
        axes[0].plot(fpr, tpr, label=outputs.class_names[k])
        axes[1].plot(recall, precision, label=outputs.class_names[k])
    axes[0].plot([0, 1], [0, 1], color="grey", lw=1)
    axes[0].set(xlabel="false positive rate", ylabel="true positive rate", title="ROC per class (test)")
    axes[1].set(xlabel="recall", ylabel="precision", title="precision-recall per class (test)")
    axes[0].legend()
    fig.tight_layout()
    return save_figure(fig, run, "class_curves")



def _short_name(match: dict) -> str:
    """A motif's name short enough for a logo's title: a JASPAR factor's name, else the site's identifier."""
    return (match["name"] if match["source"].startswith("JASPAR") else match["motif_id"])[:16]


SITE_THRESHOLD = 0.8  # a site is marked where it scores at least this fraction of a perfect site


def marked_sites(sequence: str, motifs) -> list[dict]:
    """The sites to mark on a mutagenesis map: the best site of each motif scoring at least SITE_THRESHOLD,
    best first, leaving out any that overlaps a better one (an extended -10 read across a -35 box)."""
    kept: list[dict] = []
    for site in sorted(best_sites(sequence, motifs, SITE_THRESHOLD), key=lambda s: -s["score"]):
        if all(site["end"] <= k["start"] or site["start"] >= k["end"] for k in kept):
            kept.append(site)
    return sorted(kept, key=lambda s: s["start"])


def section_interpretation(run, n_sequences: int = 2, n_filters: int = 6) -> Markup | None:
    """ISM maps and logos for the test sequences the model scores highest, and first-layer filters matched
    to known motifs."""
    loaded = _sequence_outputs(run)
    if loaded is None or loaded[0].sequences is None:
        return None
    outputs = loaded[0]
    if run.model_spec["input_shape"][0] != 4:
        return None
    model = run.load_model().eval()
    group = run.metrics.get("dataset", {}).get("organism_group", "unknown")  # runs saved before: unknown
    motifs, motif_set = motifs_for(group, run.config.data.data_dir)
    # the organism's own sites (not the hundreds of JASPAR matrices) are marked on the mutagenesis maps
    site_motifs = [m for m in motifs if m.source in ("consensus", "E. coli promoters", "E. coli 5' UTRs")]
    if group in ("unknown", "none"):
        site_motifs = []
    scores = outputs.logits()
    if outputs.task == "multiclass":
        targets = [(int(scores[:, k].argmax()), k, f"class {name}") for k, name in enumerate(outputs.class_names[:3])]
    else:
        targets = [(int(scores[:, 0].argmax()), 0, "highest score")]
    ism = []
    for index, output, label in targets[: max(n_sequences, len(targets))]:
        x = outputs.one_hot(index)
        effects = in_silico_mutagenesis(ism_score(model, outputs.task, output), x)
        sequence = outputs.sequences[index]
        fig, axes = plt.subplots(2, 1, figsize=(max(7, x.shape[1] * 0.16), 3.8), sharex=True)
        ism_heatmap(effects, sequence, ax=axes[0], title=f"test sequence {outputs.ids[index]} ({label}): {sequence}")
        ism_logo(effects, x, ax=axes[1], title="")
        for row, site in enumerate(marked_sites(sequence, site_motifs)):  # the organism's known sites in it
            axes[1].axvspan(site["start"] - 0.5, site["end"] - 0.5, color="gold", alpha=0.3, lw=0)
            axes[1].annotate(f"{site['motif_id']} {site['letters']}", (site["start"] - 0.5, 1.0 - 0.12 * row),
                             xycoords=("data", "axes fraction"), fontsize=7, va="top")
        axes[0].set_xlabel("")
        axes[1].set_xlabel("position (dots above: the sequence's own letters)")
        ism.append(save_figure(fig, run, f"ism_{index}_{output}"))
    context = {"ism": ism, "filters": None, "logos": None, "n_sequences": len(outputs), "motif_set": motif_set,
               "sites": [m.name.split(",")[0] for m in site_motifs], "threshold": SITE_THRESHOLD,
               "members": len(model.members) if isinstance(model, Ensemble) else 1}
    try:
        conv = first_conv(model)
    except SynbiolabError:  # a model without a first convolution has no filters to read
        return render("sections/interpretation.html", **context)
    if conv.dilation[0] != 1:
        return render("sections/interpretation.html", **context)
    sequences = np.stack([outputs.one_hot(i) for i in range(len(outputs))])
    pwms = filter_pwms(model, sequences)
    matches = match_filters(pwms, n_filters=n_filters, top=3, motifs=motifs) if motifs else []
    rows = []
    for m in matches:
        rows.append({"filter": m["filter"], "consensus": m["consensus"], "bits": f"{m['information']:.1f}",
                     "sites": m["n_sites"],
                     "best matches": "; ".join(f"{b['name']} ({b['motif_id']}, {b['source']}) {b['score']:.2f}"
                                               for b in m["matches"])})
    context["filters"] = table(rows)
    if matches:
        fig, axes = plt.subplots(1, len(matches), figsize=(2.6 * len(matches), 1.6))
        for ax, m in zip(np.atleast_1d(axes), matches, strict=True):
            pwm_logo(trim_ppm(pwms[m["filter"]]["ppm"]), ax=ax,
                     title=f"filter {m['filter']}: {_short_name(m['matches'][0])} {m['matches'][0]['score']:.2f}")
        context["logos"] = save_figure(fig, run, "filter_logos")
    return render("sections/interpretation.html", **context)
