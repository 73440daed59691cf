"""The page of a sweep folder (``synbiolab sweep``): sweep.html with the capacity, learning and epochs curves.

The sweep hands over its table (one row per run) and summary (mean and spread over seeds per point); the
figures are drawn from them and from the history.csv of the longest run, and the page is written by
``report.html.write_page`` from ``templates/sections/sweep.html``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from markupsafe import Markup

from ...config import Config, parse_value
from ..html import render, save_figure, table, write_page
from ..run import learning_curves_figure

# Each error of the summary (its mean; `<name>_std` its spread over seeds): line style and legend label.
ERROR_STYLES = {"train_error": ("o-", "train error"), "val_error": ("s--", "validation error"),
                "test_error": ("^-", "test error")}


def write_sweep_report(out: Path, config: Config, runs: pd.DataFrame, summary: pd.DataFrame, keys: list[str],
                       best: dict | None, seconds: float) -> tuple[Path, dict[str, Path]]:
    """Write sweep.html: the figures inlined, the table of means and spreads, links to the runs.

    Args:
        out: the sweep folder.
        config: the base config (everything not swept).
        runs: one row per run (sweep.csv), with its folder in 'run'.
        summary: one row per point: mean and standard deviation over seeds.
        keys: the swept config keys.
        best: the point with the lowest mean validation error (None when no run finished).
        seconds: how long the sweep took.

    Returns:
        The page's path, and figure name -> PNG path.
    """
    images = draw_figures(runs, summary, keys, out, best)
    links = [{"href": f"{os.path.relpath(run, out)}/report.html", "name": Path(run).name} for run in runs["run"]]
    body = render("sections/sweep.html", data=config.data.name, model=config.model.name, keys=keys,
                  n_runs=len(runs), seconds=seconds, best=best,
                  figures=[{"title": name.replace("_", " "), "img": img} for name, img in images.items()],
                  points=table(summary.to_dict("records")), links=links,
                  config_json=json.dumps(config.to_dict(), indent=2))
    page = write_page(out / "sweep.html", f"synbiolab sweep {out.name}", [("sweep", body)],
                      heading=f"Sweep {out.name}")
    return page, {name: out / "figures" / f"{name}.png" for name in images}


def _numeric(values) -> np.ndarray | None:
    """The values as floats when every one is a number, else None."""
    numbers = []
    for value in values:
        parsed = parse_value(str(value))
        if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
            return None
        numbers.append(float(parsed))
    return np.array(numbers)


def _errors_against(ax, x, summary: pd.DataFrame, log_x: bool) -> None:
    order = np.argsort(x, kind="stable")
    for name, (style, label) in ERROR_STYLES.items():
        mean = summary[name].to_numpy(float)[order]
        spread = summary[f"{name}_std"].to_numpy(float)[order]
        ax.plot(x[order], mean, style, ms=4, label=label)
        if np.any(spread > 0):
            ax.fill_between(x[order], mean - spread, mean + spread, alpha=0.15)
    if log_x:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)


def _shade_regions(ax, x: np.ndarray, summary: pd.DataFrame, best_index: int) -> None:
    """Shades each point's stretch of the axis by the verdict its runs were diagnosed with.

    Underfitting points are blue (high bias), overfitting points red (high variance), good fits
    plain; neighbouring points with the same verdict share one band and one label. A point whose
    seeds disagree between the two is left plain.
    """
    verdicts = summary["verdicts"].astype(str).tolist() if "verdicts" in summary else [""] * len(summary)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    kinds = []
    for i in order:
        over, under = "overfitting" in verdicts[i], "underfitting" in verdicts[i]
        kinds.append("over" if over and not under else "under" if under and not over else "")
    log = ax.get_xscale() == "log" and xs.min() > 0
    middles = [math.sqrt(a * b) if log else (a + b) / 2 for a, b in zip(xs[:-1], xs[1:], strict=True)]
    edges = [xs[0], *middles, xs[-1]]
    start = 0
    for stop in range(1, len(xs) + 1):
        if stop < len(xs) and kinds[stop] == kinds[start]:
            continue
        kind = kinds[start]
        if kind:
            low, high = edges[start], edges[stop]
            colour = "tab:red" if kind == "over" else "tab:blue"
            ax.axvspan(low, high, color=colour, alpha=0.08)
            centre = math.sqrt(low * high) if log else (low + high) / 2
            ax.text(centre, 0.97, "overfitting\n(high variance)" if kind == "over" else "underfitting\n(high bias)",
                    transform=ax.get_xaxis_transform(), ha="center", va="top", fontsize=8, color=colour)
        start = stop
    ax.axvline(x[best_index], color="k", ls=":", lw=1)


def draw_figures(runs: pd.DataFrame, summary: pd.DataFrame, keys: list[str], out: Path,
                 best: dict | None) -> dict[str, Markup]:
    """Draws the capacity curve of each swept parameter, the learning curve and the epochs curve.

    With several swept keys, each curve varies one key with the others held at the best point's values.
    Each figure is saved as ``out/figures/<name>.png``.

    Returns:
        Figure name -> the <img> that inlines it.
    """
    figures: dict[str, Markup] = {}
    if summary.empty:
        return figures
    for key in keys:
        others = [other for other in keys if other != key]
        part = summary
        for other in others:
            part = part[part[other] == best["values"][other]]
        part = part.reset_index(drop=True)
        if len(part) < 2:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        title_best = part.loc[part["val_error"].idxmin()]
        if key == "data.train_size":
            x = part["n_train"].to_numpy(float)
            _errors_against(ax, x, part, log_x=True)
            ax.set_xlabel("training examples (log scale)")
            first, last = part.iloc[int(np.argmin(x))], part.iloc[int(np.argmax(x))]
            ax.set_title(f"learning curve: gap {first['gap']:.3f} at {int(first['n_train'])} examples -> "
                         f"{last['gap']:.3f} at {int(last['n_train'])}", fontsize=10)
            name = "learning_curve"
        else:
            n_parameters = part["n_parameters"].to_numpy(float)
            numbers = _numeric(part[key])
            if key.startswith("model.") and len(set(n_parameters)) == len(n_parameters):
                x, label, log_x = n_parameters, "parameters (log scale)", True
            elif numbers is not None:
                positive = numbers[numbers > 0]
                spread = len(positive) > 1 and positive.max() / positive.min() >= 10
                log_x = spread and len(positive) == len(numbers)
                x, label = numbers, key + (" (log scale)" if log_x else "")
                if spread and not log_x and numbers.min() == 0:
                    # Zero (e.g. no weight decay) beside values spanning decades: linear near 0, log beyond.
                    ax.set_xscale("symlog", linthresh=float(positive.min()))
                    label = key + " (log scale above " + f"{positive.min():g})"
            else:
                x, label, log_x = np.arange(len(part), dtype=float), key, False
                ax.set_xticks(x, [str(v) for v in part[key]])
            _errors_against(ax, x, part, log_x)
            _shade_regions(ax, x, part, int(part["val_error"].idxmin()))
            if key.startswith("model.") and log_x:
                for xi, value in zip(x, part[key], strict=True):
                    ax.annotate(str(value), (xi, 0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                                textcoords="offset points", ha="center", fontsize=7, color="grey")
            ax.set_xlabel(label)
            ax.set_title(f"{key}: best {title_best[key]} (validation error {title_best['val_error']:.4f})",
                         fontsize=10)
            name = "capacity_" + "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in key)
        ax.set_ylabel("error")
        ax.legend(fontsize=8, loc="center right")
        fig.tight_layout()
        figures[name] = save_figure(fig, out, name)

    # Epochs: the learning curves of the longest run (first seed of the best point when several tie).
    finished = runs[runs["status"] == "finished"] if "status" in runs else runs
    if not finished.empty:
        longest = finished.sort_values("epochs_run", ascending=False, kind="stable").iloc[0]
        history_path = Path(longest["run"]) / "history.csv"
        if history_path.is_file():
            history = pd.read_csv(history_path)
            label = ", ".join(f"{key}={longest[key]}" for key in keys)
            best_epoch = int(longest["best_epoch"])
            fig = learning_curves_figure(history, best_epoch,
                                         title=f"epochs curve of {label} (best epoch {best_epoch})")
            figures["epochs_curve"] = save_figure(fig, out, "epochs_curve")
    return figures
