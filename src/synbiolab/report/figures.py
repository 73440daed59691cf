"""The figures that reports share: learning curves, the confusion matrix, a grid of images, before/after a fix.

Each function returns a matplotlib figure; ``html.save_figure`` writes it into a folder's figures/ and inlines
it in the page. Training calls ``image_grid_figure`` too, to draw the misclassified test images while it still
holds them, so that no report has to reload the data set for them.
"""

from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _epoch_ticks(ax, epochs) -> None:
    """Whole epochs on the x axis; every epoch of a short run, so that one epoch is not drawn at 0.96..1.04."""
    if len(epochs) and len(epochs) <= 12:
        ax.set_xticks(epochs)
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    else:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))


def learning_curves_figure(history, best_epoch: int | None = None, title: str = ""):
    """Loss and error against epoch, train vs validation, with the gap shaded and the best epoch marked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = history["epoch"].to_numpy()
    for ax, what in zip(axes, ("loss", "error"), strict=True):
        tr, va = history[f"train_{what}"].to_numpy(float), history[f"val_{what}"].to_numpy(float)
        ax.plot(epochs, tr, "o-", ms=3, label=f"train {what}")
        ax.plot(epochs, va, "s-", ms=3, label=f"validation {what}")
        ax.fill_between(epochs, tr, va, color="tab:red", alpha=0.12, label="gap")
        if best_epoch:
            ax.axvline(best_epoch, color="k", ls="--", lw=0.8, label=f"best epoch {best_epoch} (kept)")
        ax.set_xlabel("epoch")
        _epoch_ticks(ax, epochs)
        ax.set_ylabel(what)
        # A log axis shows small errors apart when they span a decade or more; errors that reach 0 (a
        # memorised training set) cannot sit on one.
        values = np.concatenate([tr, va])
        values = values[np.isfinite(values)]
        if what == "error" and len(values) and values.min() > 0 and values.max() / values.min() >= 10:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_figure(cm: np.ndarray, class_names: list[str], title: str = "confusion matrix (test split)"):
    """Counts of true (rows) against predicted (columns) classes; colours on a log scale so that the few
    mistakes beside a large diagonal stay visible."""
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(0.36 * n + 2.2, 0.36 * n + 1.8))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(n), class_names, rotation=45 if max(len(c) for c in class_names) > 3 else 0)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid_figure(images: np.ndarray, titles: list[str], n_cols: int = 8, title: str = ""):
    """Grey images (N, H, W) in a grid, each with its own small title."""
    n = len(images)
    n_cols = max(1, min(n_cols, n))
    n_rows = max(1, int(np.ceil(n / n_cols)))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 1.2, n_rows * 1.35 + 0.3))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray")
            ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def fix_comparison_figure(histories: list, titles: list[str], suptitle: str = ""):
    """Train and validation error per epoch of two runs side by side (before and after a fix)."""
    fig, axes = plt.subplots(1, len(histories), figsize=(5.5 * len(histories), 3.8), sharey=True)
    for ax, history, title in zip(np.atleast_1d(axes), histories, titles, strict=True):
        epochs = history["epoch"].to_numpy()
        train_error, val_error = history["train_error"].to_numpy(float), history["val_error"].to_numpy(float)
        ax.plot(epochs, train_error, "o-", ms=3, label="train error")
        ax.plot(epochs, val_error, "s-", ms=3, label="validation error")
        ax.fill_between(epochs, train_error, val_error, color="tab:red", alpha=0.12, label="gap")
        has_loss = history["val_loss"].notna().any()
        best = int(history.loc[history["val_loss"].idxmin(), "epoch"]) if has_loss else None
        if best:
            ax.axvline(best, color="k", ls="--", lw=0.8, label=f"best epoch {best} (kept)")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        _epoch_ticks(ax, epochs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("error")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    return fig


def misclassified_figure(images: np.ndarray, true: list[str], predicted: list[str], n_wrong: int, n: int):
    """The first misclassified test images, each titled with its true and predicted class."""
    titles = [f"true {t} / pred {p}" for t, p in zip(true, predicted, strict=True)]
    shown = f"; the first {len(images)}" if len(images) < n_wrong else ""
    return image_grid_figure(images, titles, title=f"misclassified test images ({n_wrong} of {n}{shown})")
