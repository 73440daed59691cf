"""The sections of a GAN run's report: losses and quality over epochs, samples, the final quality numbers.

They read what ``synbiolab gan`` wrote (metrics.json, history.csv, figures/samples_epoch_*.png); the latent
interpolation is drawn from the saved generator. ``GAN_SECTIONS`` is the report's list, in order.
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
from markupsafe import Markup
from matplotlib.ticker import MaxNLocator

from ...evaluate.gan_quality import SEQUENCE_QUALITY_KEYS
from ...generate import image_grid, interpolate_latent, load_gan, save_png
from ...runs import subfolder
from ..html import img_tag, render, save_figure, table
from .config import section_config


def summary_line(metrics: dict) -> str:
    """One line with the headline quality numbers of a finished GAN run."""
    f = metrics["final"]
    if metrics["data_kind"] == "image":
        text = (
            f"Frechet distance {f['frechet']:.2f} (floor, two halves of the real test set: "
            f"{f['frechet_floor']:.2f}); smallest class {f['min_class_fraction']:.1%} of {f['n_samples']:,} "
            f"samples; mean judge confidence {f['mean_confidence']:.3f}"
        )
        if "judge_accuracy" in f:
            text += f"; judge accuracy on requested digits {f['judge_accuracy']:.3f}"
        if "train_on_generated" in f:
            text += f"; train on generated, test on real: {f['train_on_generated']['test_accuracy']:.4f}"
        return text
    return (
        f"6-mer r {f['kmer_r']:.3f} (natural ceiling {f['kmer_r_ceiling']:.3f}, shuffled floor "
        f"{f['kmer_r_floor']:.3f}); -10 box {f['rate_10']:.1%} (natural {f['natural_rate_10']:.1%}), "
        f"-35 box {f['rate_35']:.1%} (natural {f['natural_rate_35']:.1%}); identical to a training "
        f"sequence {f['exact_fraction']:.2%} (held-out natural {f['natural_exact_fraction']:.2%}); nearest "
        f"training sequence {f['mean_nearest']:.1f} nt away (natural {f['natural_mean_nearest']:.1f}); "
        f"diversity {f['diversity']:.1f} nt (natural {f['natural_diversity']:.1f})"
    )


def _metrics(run) -> dict | None:
    path = run.path / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _curves_figure(history, columns: list[tuple[str, str]], title: str, references=()):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for column, label in columns:
        if column in history:
            ax.plot(history["epoch"], history[column], "o-", ms=3, label=label)
    for column, label in references:
        if column in history:
            ax.plot(history["epoch"], history[column], "--", color="grey", label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _bar_figure(counts_a: dict, counts_b: dict, labels: tuple[str, str], title: str, xlabel: str):
    keys = sorted({int(k) for k in counts_a} | {int(k) for k in counts_b})
    total_a = max(sum(counts_a.values()), 1)
    total_b = max(sum(counts_b.values()), 1)
    fig, ax = plt.subplots(figsize=(5.5, 3))
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [counts_a.get(k, counts_a.get(str(k), 0)) / total_a for k in keys], 0.4, label=labels[0])
    ax.bar(x + 0.2, [counts_b.get(k, counts_b.get(str(k), 0)) / total_b for k in keys], 0.4, label=labels[1])
    step = max(1, len(keys) // 15)
    ax.set_xticks(x[::step], [str(k) for k in keys][::step])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- the sections


def section_gan_summary(run) -> Markup:
    cfg, metrics = run.raw_config, _metrics(run)
    context = {"data": cfg["data"]["name"], "model": cfg["model"]["name"], "loss": cfg["gan"]["loss"],
               "n_critic": cfg["gan"]["n_critic"], "finished": bool(metrics), "path": str(run.path)}
    if metrics:
        context.update(summary=summary_line(metrics), epochs_run=metrics["epochs_run"],
                       train_seconds=metrics["train_seconds"], seconds_per_epoch=metrics["seconds_per_epoch"],
                       device=metrics["device"], n_samples=metrics["final"]["n_samples"])
    return render("sections/gan_summary.html", **context)


def section_gan_curves(run) -> Markup | None:
    if not (run.path / "history.csv").is_file():
        return None
    history = run.history
    if not len(history):
        return None
    losses = save_figure(_curves_figure(history, [("discriminator_loss", "discriminator"),
                                                  ("generator_loss", "generator")], "losses per epoch"),
                         run, "gan_losses")
    quality = []
    if "frechet" in history:
        quality.append(save_figure(_curves_figure(history, [("frechet", "generated vs real")],
                                                  "Frechet distance of judge features",
                                                  [("frechet_floor", "floor: real vs real")]), run, "gan_frechet"))
    if "kmer_r" in history:
        quality.append(save_figure(_curves_figure(
            history, [("kmer_r", "6-mer r, generated"), ("rate_10", "-10 box rate"), ("rate_35", "-35 box rate")],
            "sequence statistics", [("kmer_r_ceiling", "6-mer r ceiling"), ("natural_rate_10", "natural -10"),
                                    ("natural_rate_35", "natural -35")]), run, "gan_sequence_quality"))
    return render("sections/gan_curves.html", losses=losses, quality=quality,
                  history=table(history.round(4).to_dict("records")))


def section_gan_samples(run) -> Markup | None:
    figures = subfolder(run.path, "figures")
    epochs = sorted(figures.glob("samples_epoch_*.png"))
    # Six epochs spread over the run are enough to see the samples improve; more make the page long.
    shown = epochs if len(epochs) <= 6 else [epochs[int(i)] for i in np.linspace(0, len(epochs) - 1, 6)]
    images = [(int(path.stem.split("_")[-1]), img_tag(path.read_bytes(), path.stem)) for path in shown]
    text = figures / "samples_over_epochs.txt"
    if not images and not text.is_file():
        return None
    return render("sections/gan_samples.html", images=images, text=text.read_text() if text.is_file() else None)


def section_gan_final(run) -> Markup | None:
    """Latent interpolation and class coverage (images), or boxes and novelty (sequences)."""
    metrics = _metrics(run)
    if not metrics or not (run.path / "model.safetensors").is_file():
        return None
    final = metrics["final"]
    if metrics["data_kind"] == "image":
        figures = subfolder(run.path, "figures")
        grid = image_grid(interpolate_latent(load_gan(run), steps=10, pairs=6), columns=10)
        save_png(grid, figures / "latent_interpolation.png")
        rows = [{"class": c, "fraction of samples": f} for c, f in enumerate(final["class_fractions"])]
        for row, accuracy in zip(rows, final.get("judge_accuracy_per_class", []), strict=False):
            row["judge accuracy on requested class"] = accuracy
        return render("sections/gan_images.html", coverage=table(rows), n_samples=final["n_samples"],
                      judge_accuracy=final["judge_test_accuracy"],
                      interpolation=img_tag((figures / "latent_interpolation.png").read_bytes(),
                                            "latent interpolation"))
    figures = []
    for key, title, unit, name in (("spacing_counts", "spacer between -35 and -10 boxes", "nt", "gan_spacing"),
                                   ("position_10_counts", "-10 box start", "position", "gan_position_10")):
        figure = _bar_figure(final["boxes"][key], final["natural_boxes"][key], ("generated", "natural"), title, unit)
        figures.append(save_figure(figure, run, name))
    figures.append(save_figure(_bar_figure(final["nearest_counts"], final["natural_nearest_counts"],
                                           ("generated", "held-out natural"),
                                           "Hamming distance to the nearest training sequence", "nt"),
                               run, "gan_nearest"))
    return render("sections/gan_sequences.html", figures=figures, n_samples=final["n_samples"],
                  n_heldout=final["n_heldout"], n_train=final["n_train"],
                  quality=table([{"metric": k, "value": final[k]} for k in SEQUENCE_QUALITY_KEYS]))


#: The sections of a GAN run's report, in order.
GAN_SECTIONS = [
    ("summary", section_gan_summary),
    ("curves", section_gan_curves),
    ("samples", section_gan_samples),
    ("final", section_gan_final),
    ("config", section_config),
]

