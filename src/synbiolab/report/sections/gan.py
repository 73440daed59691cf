"""The report of a GAN run: losses and quality over epochs, samples, and the final quality numbers."""

from __future__ import annotations

import html
import json

import matplotlib.pyplot as plt
import numpy as np

from ...evaluate.gan_quality import SEQUENCE_QUALITY_KEYS
from ...generate import image_grid, interpolate_latent, load_gan, save_png
from ...io import atomic_write_text
from ...runs import subfolder
from ..run import STYLE, img_tag, save_figure, table


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


def _curves_figure(history, columns: list[tuple[str, str]], title: str, references=()):
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for column, label in columns:
        if column in history:
            ax.plot(history["epoch"], history[column], "o-", ms=3, label=label)
    for column, label in references:
        if column in history:
            ax.plot(history["epoch"], history[column], "--", color="grey", label=label)
    ax.set_xlabel("epoch")
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


def write_gan_report(run) -> None:
    """report.html of a GAN run: losses, quality per epoch, samples over epochs, final numbers, config."""
    parts = [f"<h1>GAN run {html.escape(run.name)}</h1>"]
    cfg = run.raw_config
    parts.append(
        f"<p>data <b>{html.escape(cfg['data']['name'])}</b>, model <b>{html.escape(cfg['model']['name'])}"
        f"</b>, loss <b>{html.escape(cfg['gan']['loss'])}</b> ({cfg['gan']['n_critic']} discriminator "
        f"update(s) per generator update).</p>"
    )
    metrics = json.loads((run.path / "metrics.json").read_text()) if (run.path / "metrics.json").is_file() else None
    if metrics:
        parts.append(
            f"<p><b>{html.escape(summary_line(metrics))}</b>. {metrics['epochs_run']} epochs, "
            f"{metrics['train_seconds']:.1f} s of training ({metrics['seconds_per_epoch']:.1f} s per epoch "
            f"on {html.escape(metrics['device'])}).</p>"
        )
    else:
        parts.append(
            "<p>Training has not finished: continue with <code>synbiolab gan --resume "
            f"{html.escape(str(run.path))}</code>.</p>"
        )
    history = run.history if (run.path / "history.csv").is_file() else None
    if history is not None and len(history):
        parts.append("<h2>Losses</h2>")
        parts.append(
            save_figure(
                _curves_figure(
                    history,
                    [("discriminator_loss", "discriminator"), ("generator_loss", "generator")],
                    "losses per epoch",
                ),
                run,
                "gan_losses",
            )
        )
        parts.append(
            "<p>GAN losses do not fall the way a classifier's do: the two networks play against each "
            "other, so the quality numbers below, not the losses, tell whether samples improve.</p>"
        )
        parts.append("<h2>Quality per epoch</h2>")
        if "frechet" in history:
            parts.append(
                save_figure(
                    _curves_figure(
                        history,
                        [("frechet", "generated vs real")],
                        "Frechet distance of judge features",
                        [("frechet_floor", "floor: real vs real")],
                    ),
                    run,
                    "gan_frechet",
                )
            )
        if "kmer_r" in history:
            parts.append(
                save_figure(
                    _curves_figure(
                        history,
                        [
                            ("kmer_r", "6-mer r, generated"),
                            ("rate_10", "-10 box rate"),
                            ("rate_35", "-35 box rate"),
                        ],
                        "sequence statistics",
                        [
                            ("kmer_r_ceiling", "6-mer r ceiling"),
                            ("natural_rate_10", "natural -10"),
                            ("natural_rate_35", "natural -35"),
                        ],
                    ),
                    run,
                    "gan_sequence_quality",
                )
            )
        parts.append(table(history.round(4).to_dict("records")))

    figures = subfolder(run.path, "figures")
    epochs = sorted(figures.glob("samples_epoch_*.png"))
    if epochs:
        parts.append("<h2>The same latent vectors, epoch by epoch</h2>")
        shown = epochs if len(epochs) <= 6 else [epochs[int(i)] for i in np.linspace(0, len(epochs) - 1, 6)]
        for path in shown:
            parts.append(f"<p>epoch {int(path.stem.split('_')[-1])}</p>" + img_tag(path.read_bytes(), path.stem))
    text = figures / "samples_over_epochs.txt"
    if text.is_file():
        parts.append("<h2>The same latent vectors, epoch by epoch</h2><pre>" + html.escape(text.read_text()) + "</pre>")
    if metrics and (run.path / "model.safetensors").is_file():
        model = load_gan(run)
        if metrics["data_kind"] == "image":
            parts.append(
                "<h2>Latent interpolation</h2><p>Each row walks in a straight line between two random "
                "latent vectors: a smooth morph means the generator learned a continuous space rather "
                "than a lookup of training images.</p>"
            )
            grid = image_grid(interpolate_latent(model, steps=10, pairs=6), columns=10)
            save_png(grid, figures / "latent_interpolation.png")
            parts.append(img_tag((figures / "latent_interpolation.png").read_bytes(), "latent interpolation"))
            final = metrics["final"]
            rows = [{"class": c, "fraction of samples": f} for c, f in enumerate(final["class_fractions"])]
            if "judge_accuracy_per_class" in final:
                for row, accuracy in zip(rows, final["judge_accuracy_per_class"], strict=True):
                    row["judge accuracy on requested class"] = accuracy
            parts.append(
                f"<h2>Class coverage</h2><p>The judge (test accuracy {final['judge_test_accuracy']:.4f} on "
                f"real digits) classified {final['n_samples']:,} generated digits:</p>" + table(rows)
            )
        else:
            final = metrics["final"]
            parts.append("<h2>Sigma-70 boxes, novelty</h2>")
            figures = [
                ("spacing_counts", "spacer between -35 and -10 boxes", "nt", "gan_spacing"),
                ("position_10_counts", "-10 box start", "position", "gan_position_10"),
            ]
            for key, title, unit, name in figures:
                figure = _bar_figure(final["boxes"][key], final["natural_boxes"][key], ("generated", "natural"),
                                     title, unit)
                parts.append(save_figure(figure, run, name))
            parts.append(save_figure(_bar_figure(final["nearest_counts"], final["natural_nearest_counts"],
                                                 ("generated", "held-out natural"),
                                                 "Hamming distance to the nearest training sequence", "nt"),
                                     run, "gan_nearest"))
            parts.append(table([{"metric": k, "value": final[k]} for k in SEQUENCE_QUALITY_KEYS]))
            parts.append(
                f"<p>{final['n_samples']:,} generated sequences against {final['n_heldout']:,} held-out "
                f"natural promoters the GAN never saw ({final['n_train']:,} in training). Natural "
                "promoters include duplicates, so even held-out ones can match a training sequence.</p>"
            )
    parts.append(f"<h2>Config</h2><pre>{html.escape(json.dumps(cfg, indent=2))}</pre>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>synbiolab GAN {html.escape(run.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    atomic_write_text(run.path / "report.html", page)
