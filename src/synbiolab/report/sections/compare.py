"""The pages of a comparison folder (``synbiolab compare``): report.html with its figures, and table.html.

The comparison hands over what it measured (one row per training size and pipeline, the notes, the
settings) and the test images and CNN of its largest training size; nothing here reloads data or retrains.
Both pages are written by ``report.html.write_page``; the fixed markup is ``templates/sections/compare.html``.
"""

from __future__ import annotations

import json
import math
from itertools import product
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ...classical import HogFeatures
from ..html import render, save_figure, table, write_page

# The colour of each kind of pipeline, said once in every figure's title or legend.
KIND_COLOURS = {"hand-crafted": "tab:blue", "learned (CNN features)": "tab:orange",
                "combined": "tab:purple", "CNN alone": "tab:red"}


def write_compare_report(folder: Path, rows: list[dict], columns: list[str], notes: list[str], settings: dict, *,
                         class_names: list[str], test_images: np.ndarray, test_x: torch.Tensor,
                         test_labels: np.ndarray, model: torch.nn.Module | None) -> Path:
    """Write report.html (notes, table, figures, settings) and table.html (the table alone).

    Args:
        folder: the comparison folder; figures go to its figures/.
        rows: one dict per training size and pipeline, with 'confusion' (the test confusion matrix).
        columns: the table's columns, in order.
        notes: plain statements shown above the table.
        settings: the comparison's settings (compare.json).
        class_names: names of the classes, for the confusion matrices.
        test_images: the largest training size's test images `(N, H, W)` in 0..1 (HoG pictures).
        test_x: the same images as the model reads them `(N, 1, H, W)` (filter activations).
        test_labels: their labels `(N,)`.
        model: the CNN whose first-layer filters are drawn (None when no pipeline used one).

    Returns:
        The path of report.html.
    """
    folder = Path(folder)
    shown = [{column: row.get(column) for column in columns} for row in rows]
    table_html = table(shown, columns)
    title = f"Pipelines compared on {settings['data']}"
    write_page(folder / "table.html", f"synbiolab compare: {settings['data']} (table)", [("table", table_html)],
               heading=title)

    largest = max(row["train_size"] for row in rows)
    final = [row for row in rows if row["train_size"] == largest]
    figures = [
        ("test error of each pipeline", save_figure(error_bar_figure(final, largest), folder, "test_error")),
        ("accuracy against training time", save_figure(accuracy_time_figure(final, largest), folder,
                                                       "accuracy_vs_time")),
        ("confusion matrices (test)", save_figure(confusion_grid_figure(final, class_names), folder,
                                                  "confusion_matrices")),
    ]
    if len({row["train_size"] for row in rows}) > 1:
        figures.append(("where hand-crafted and learned features win",
                        save_figure(data_size_figure(rows), folder, "data_size")))
    if any("hog" in row["features"] for row in rows):
        figure = features_figure(test_images, test_x, test_labels, class_names, model)
        figures.append(("hand-crafted vs learned features", save_figure(figure, folder, "hog_vs_cnn_filters")))
    body = render("sections/compare.html", notes=notes, table=table_html, settings_json=json.dumps(settings, indent=2),
                  figures=[{"title": name, "img": img} for name, img in figures])
    return write_page(folder / "report.html", f"synbiolab compare: {settings['data']}", [("compare", body)],
                      heading=title)


# --- figures


def pipeline_kind(row: dict) -> str:
    """'hand-crafted', 'learned (CNN features)', 'combined' or 'CNN alone' (a key of KIND_COLOURS)."""
    if row["classifier"].startswith("softmax"):
        return "CNN alone"  # deep learning only
    if "cnn" in row["features"]:
        return "combined" if "+" in row["features"] else "learned (CNN features)"
    return "hand-crafted"


def _colour(row: dict) -> str:
    return KIND_COLOURS[pipeline_kind(row)]


def _kind_legend(ax, rows: list[dict], **legend) -> None:
    """One legend entry per kind of pipeline present, in KIND_COLOURS's order."""
    from matplotlib.lines import Line2D

    present = {pipeline_kind(row) for row in rows}
    handles = [Line2D([], [], marker="o", ls="", color=colour, label=kind)
               for kind, colour in KIND_COLOURS.items() if kind in present]
    ax.legend(handles=handles, **legend)


def error_bar_figure(rows: list[dict], train_size: int):
    """Horizontal bars of test error, best at the top, coloured by kind of pipeline."""
    ordered = sorted(rows, key=lambda row: row["test_error"], reverse=True)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
    bars = ax.barh([row["pipeline"] for row in ordered], [100 * row["test_error"] for row in ordered],
                   color=[_colour(row) for row in ordered])
    for bar, row in zip(bars, ordered, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {100 * row['test_error']:.2f} %",
                va="center", fontsize=8)
    ax.set_xlabel("test error (%)")
    ax.set_title(f"test error, {train_size:,} training images", fontsize=9)
    _kind_legend(ax, rows, fontsize=7, loc="upper right")  # beside the shortest bars (the best, at the top)
    ax.grid(axis="x", alpha=0.3)
    ax.margins(x=0.12)  # room for the value printed after the longest bar
    fig.tight_layout()
    return fig


def accuracy_time_figure(rows: list[dict], train_size: int):
    """Test accuracy against training seconds (log scale), every point labelled with its pipeline.

    The CNN and the pipelines built on its features share the CNN's training time, so their points sit
    almost on top of each other: the labels are spread apart (place_labels) and joined to their points by
    thin leader lines, so that each one can be read.
    """
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    seconds = np.array([max(row["train_seconds"], 1e-3) for row in rows])
    accuracy = np.array([100 * row["test_accuracy"] for row in rows])
    ax.scatter(seconds, accuracy, c=[_colour(row) for row in rows], s=30, zorder=3)
    ax.set_xscale("log")
    # Room around the points for their labels: a decade on each side, a fifth of the range above and below.
    ax.set_xlim(seconds.min() / 10, seconds.max() * 10)
    spread = max(accuracy.max() - accuracy.min(), 1.0)
    ax.set_ylim(accuracy.min() - 0.2 * spread, accuracy.max() + 0.2 * spread)
    ax.set_xlabel("training seconds (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"accuracy against training time, {train_size:,} training images", fontsize=9)
    ax.grid(alpha=0.3)
    _kind_legend(ax, rows, fontsize=7, loc="lower right")
    fig.tight_layout()
    place_labels(ax, seconds, accuracy, [row["pipeline"] for row in rows], [_colour(row) for row in rows], fontsize=7)
    return fig


def place_labels(ax, xs, ys, labels: list[str], colours: list[str] | None = None, fontsize: float = 7,
                 gap: float = 6.0) -> list:
    """Label every point so that no two labels overlap, and no label covers a point or sits beside another one.

    Each label goes right of its point, else left of it, at the height of the point when that place is
    free, else at the nearest free height, searched up and down in small steps and set a little further
    out; a label moved off its point gets a thin leader line to it, in the point's colour. The strip just
    right of every point is kept for that point's own label, so that a moved label never reads as another
    point's. Boxes are measured in display pixels after drawing.

    Args:
        ax: the axes, with their limits and scales already set.
        xs, ys: the points, in data coordinates.
        labels: one text per point.
        colours: one colour per point, for the leader lines (default grey).
        fontsize: of the labels.
        gap: pixels between a point and the start of its label.

    Returns:
        The annotation artists.
    """
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    points = ax.transData.transform(np.column_stack([xs, ys]))
    sizes = []
    for label in labels:
        probe = ax.text(0, 0, label, fontsize=fontsize)
        extent = probe.get_window_extent(renderer)
        sizes.append((extent.width + 2, extent.height + 1))
        probe.remove()
    marker, reserved = 6.0, 28.0  # pixels: half a marker's box; the strip right of a point kept for its label
    beside = [(px - marker, py - marker, px + marker + reserved, py + marker) for px, py in points]
    labelled: list[tuple] = []

    def overlaps(box, other) -> bool:
        return not (box[2] <= other[0] or box[0] >= other[2] or box[3] <= other[1] or box[1] >= other[3])

    def free(box, own: int) -> bool:
        if any(overlaps(box, other) for other in labelled):
            return False
        return not any(overlaps(box, other) for j, other in enumerate(beside) if j != own)

    step, moved_out = 2.0, 16.0
    placed = []
    # Points from the top down, so that a crowded cluster stacks its labels in the order of its points.
    for index in sorted(range(len(labels)), key=lambda i: -points[i][1]):
        (px, py), (width, height) = points[index], sizes[index]
        box, moved = None, False
        for k in range(int(frame.height / step) + 1):
            out = gap if k == 0 else gap + moved_out
            sides = [left for left in (px + out, px - out - width) if frame.x0 <= left and left + width <= frame.x1]
            candidates = [(left, py - height / 2 + shift) for shift in ((0.0,) if k == 0 else (-k * step, k * step))
                          for left in sides]  # the right side first, at each height
            for left, bottom in candidates:
                candidate = (left, bottom, left + width, bottom + height)
                if bottom >= frame.y0 and bottom + height <= frame.y1 and free(candidate, index):
                    box, moved = candidate, k > 0
                    break
            if box is not None:
                break
        if box is None:  # no free height at all (far too many points): keep the plain place
            box = (px + gap, py - height / 2, px + gap + width, py + height / 2)
        labelled.append(box)
        placed.append((index, box, moved))
    artists = []
    to_points = 72.0 / fig.dpi  # annotate's offsets are in points, the boxes in pixels
    for index, box, moved in placed:
        px, py = points[index]
        centre_y = (box[1] + box[3]) / 2
        on_left = box[2] <= px
        anchor_x = box[2] if on_left else box[0]
        offset = ((anchor_x - px) * to_points, (centre_y - py) * to_points)
        colour = colours[index] if colours else "0.45"
        arrow = None
        if moved:
            # From the label's end nearest its point (not its middle, which would cross the labels beside it).
            arrow = dict(arrowstyle="-", color=colour, lw=0.8, alpha=0.8, shrinkA=1, shrinkB=4,
                         relpos=(1.0, 0.5) if on_left else (0.0, 0.5))
        artists.append(ax.annotate(labels[index], (xs[index], ys[index]), xytext=offset, textcoords="offset points",
                                   fontsize=fontsize, ha="right" if on_left else "left", va="center",
                                   arrowprops=arrow))
    return artists


def confusion_grid_figure(rows: list[dict], class_names: list[str]):
    """One small confusion matrix per pipeline (rows true, columns predicted), counts in the cells."""
    n_panels = len(rows)
    n_cols = min(4, n_panels)
    n_rows = math.ceil(n_panels / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.3 * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, row in zip(axes.ravel(), rows, strict=False):
        matrix = np.asarray(row["confusion"])
        ax.axis("on")
        ax.imshow(np.log1p(matrix), cmap="Blues")
        if len(class_names) <= 10:
            for i, j in product(range(len(class_names)), repeat=2):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=5,
                            color="white" if matrix[i, j] > matrix.max() / 2 else "black")
        ax.set_xticks(range(len(class_names)), class_names, fontsize=6)
        ax.set_yticks(range(len(class_names)), class_names, fontsize=6)
        ax.set_title(f"{row['pipeline']}\n{100 * row['test_accuracy']:.2f} %", fontsize=7)
    fig.tight_layout()
    return fig


def data_size_figure(rows: list[dict]):
    """Test error against training-set size, one line per pipeline (log-log)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    markers = "osv^D<>pPX*h"  # lines of one colour (one kind of features) stay tellable apart
    for index, name in enumerate(dict.fromkeys(row["pipeline"] for row in rows)):
        points = sorted((row["train_size"], row["test_error"], _colour(row)) for row in rows
                        if row["pipeline"] == name)
        sizes, errors = [p[0] for p in points], [100 * max(p[1], 1e-4) for p in points]
        ax.plot(sizes, errors, "-", marker=markers[index % len(markers)], ms=4, color=points[0][2], alpha=0.8,
                label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training images")
    ax.set_ylabel("test error (%)")
    ax.set_title("small data favours hand-crafted features, large data favours learned ones?", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def first_conv_layer(model: torch.nn.Module) -> torch.nn.Conv2d | None:
    """The first 2-D convolution of a model, whose filters act on the pixels."""
    return next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)


def features_figure(images: np.ndarray, x: torch.Tensor, labels: np.ndarray, class_names: list[str],
                    model: torch.nn.Module | None, n_digits: int = 4, n_filters: int = 6):
    """A few test digits: the image, its HoG cells, and the responses of first-layer CNN filters.

    The top row shows the filters themselves, so that the strokes each one responds to can be read
    next to the oriented-gradient histograms that an expert chose.

    Args:
        images: test images `(N, H, W)` in 0..1.
        x: the same images as the model reads them `(N, 1, H, W)`.
        labels: their labels.
        class_names: names of the classes.
        model: the CNN (None: the HoG columns alone).
        n_digits: digits shown (one of each of the first classes).
        n_filters: first-layer filters shown.
    """
    # One example each of the first few classes, so different shapes appear.
    picks = [int(np.flatnonzero(labels == c)[0]) for c in range(min(n_digits, len(class_names)))
             if np.any(labels == c)]
    hog = HogFeatures.for_image_shape(images.shape[1:])
    conv = first_conv_layer(model) if model is not None else None
    n_filters = min(n_filters, conv.out_channels) if conv is not None else 0
    activations = None
    if conv is not None:
        captured = {}
        handle = conv.register_forward_hook(lambda _m, _i, out: captured.setdefault("out", out.detach()))
        with torch.no_grad():
            model.eval()
            model(x[picks])
        handle.remove()
        activations = captured["out"].cpu().numpy()  # (digits, filters, H, W)
    n_cols = 2 + n_filters
    n_rows = len(picks) + (1 if conv is not None else 0)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.5 * n_cols, 1.5 * n_rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    offset = 0
    if conv is not None:
        weights = conv.weight.detach().cpu().numpy()[:, 0]  # (filters, k, k) on the grey channel
        axes[0, 0].text(0.5, 0.5, "first-layer\nCNN filters", ha="center", va="center", fontsize=8)
        for j in range(n_filters):
            limit = np.abs(weights[j]).max() or 1.0
            axes[0, 2 + j].imshow(weights[j], cmap="RdBu_r", vmin=-limit, vmax=limit)
            axes[0, 2 + j].set_title(f"filter {j}", fontsize=7)
        offset = 1
    for i, index in enumerate(picks):
        row = axes[offset + i]
        row[0].imshow(images[index], cmap="gray")
        row[0].set_title(f"digit {class_names[labels[index]]}", fontsize=7)
        _, picture = hog.cell_histograms(images[index])
        row[1].imshow(picture, cmap="magma")
        row[1].set_title(f"HoG {hog.pixels_per_cell[0]}x{hog.pixels_per_cell[1]} cells", fontsize=7)
        for j in range(n_filters):
            row[2 + j].imshow(activations[i, j], cmap="viridis")
    fig.suptitle("hand-crafted (HoG) vs learned (first-layer CNN filters and their activations)", fontsize=9)
    fig.tight_layout()
    return fig
