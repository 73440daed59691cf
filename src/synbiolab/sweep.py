"""Sweeps: one run per value of any config field, drawn as the classic generalisation pictures.

`sweep(config, params=["model.hidden_units=[8],[32],[128]"], train_sizes=[250, 1000], seeds=3)` trains
every combination (each repeated over seeds) into a sweep folder::

    sweeps/<name>/sweep.csv        one row per run: the swept values, seed, sizes, errors, verdict
    sweeps/<name>/sweep.html       the figures and the table of means and spreads
    sweeps/<name>/figures/*.png    capacity (validation) curve, learning curve, epochs curve
    sweeps/<name>/runs/<point>/    the run folders

The best value is chosen on the validation error, never on the test error.
"""

from __future__ import annotations

import copy
import html
import io
import itertools
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config, apply_overrides, parse_value
from .errors import SynbiolabError

# ---------------------------------------------------------------------------------------------------
# Parsing


def split_values(text: str) -> list[str]:
    """Splits `v1,v2,...` at the commas outside brackets: `[8],[32,32]` -> `["[8]", "[32,32]"]`."""
    values, depth, current = [], 0, []
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth < 0:
                raise ValueError("a closing bracket without an opening one")
        if char == "," and depth == 0:
            values.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise ValueError("unbalanced brackets")
    values.append("".join(current).strip())
    if any(value == "" for value in values):
        raise ValueError("an empty value")
    return values


def parse_param(text: str) -> tuple[str, list[str]]:
    """Parses one `--param key=v1,v2,...` into the key and the value texts.

    Args:
        text: e.g. `model.hidden_units=[8],[32],[128]` or `train.weight_decay=0,1e-4,1e-3`.

    Returns:
        (key, [value text, ...]).

    Raises:
        SynbiolabError: no `=`, no key, empty values or unbalanced brackets.
    """
    key, sep, values = text.partition("=")
    key = key.strip()
    example = "e.g. model.hidden_units=[8],[32] or train.lr=1e-3,1e-2"
    if not sep or not key or "." not in key:
        raise SynbiolabError(f"--param {text!r}: expected section.key=v1,v2,... ({example})")
    try:
        return key, split_values(values)
    except ValueError as exc:
        raise SynbiolabError(f"--param {text!r}: {exc}; expected section.key=v1,v2,... ({example})") from exc


def parse_sizes(text: str | list | None) -> list[int] | None:
    """Parses `--train-size 250,500,1000` into a list of positive integers (None stays None)."""
    if text is None or text == "" or text == []:
        return None
    items = text if isinstance(text, list) else str(text).split(",")
    sizes = []
    for item in items:
        try:
            size = int(str(item).strip())
        except ValueError:
            size = 0
        if size <= 0:
            raise SynbiolabError(f"--train-size {text!r}: expected positive whole numbers, e.g. 250,500")
        sizes.append(size)
    return sizes


# ---------------------------------------------------------------------------------------------------
# Plan


@dataclass
class SweepPoint:
    """One run of a sweep: its overrides and seed."""

    name: str
    values: dict  # swept key -> value text
    overrides: list[str]
    seed: int


def plan_sweep(config: Config, params: list[str] | None = None, train_sizes=None,
               seeds: int = 1) -> list[SweepPoint]:
    """Expands the swept values into runs, checking every override against the config first.

    Args:
        config: the base config.
        params: `key=v1,v2,...` strings; several give every combination.
        train_sizes: training-set sizes (a learning curve), or None.
        seeds: runs per point, with training seeds base, base+1, ...

    Returns:
        The runs to train, in order.

    Raises:
        SynbiolabError: a key that does not exist or a value of the wrong type, with the valid keys.
    """
    if seeds < 1:
        raise SynbiolabError(f"--seeds {seeds}: expected 1 or more")
    axes: list[tuple[str, list[str]]] = [parse_param(text) for text in params or []]
    sizes = parse_sizes(train_sizes)
    if sizes:
        axes.append(("data.train_size", [str(size) for size in sizes]))
    keys = [key for key, _ in axes]
    duplicated = {key for key in keys if keys.count(key) > 1}
    if duplicated:
        raise SynbiolabError(f"--param {sorted(duplicated)[0]} is given twice; give all values in one")
    if not axes:
        raise SynbiolabError("nothing to sweep: give --param key=v1,v2,... and/or --train-size n1,n2,...")
    for key, values in axes:
        for value in values:
            # Every value is checked before any run: an unknown key or a wrong type fails here.
            apply_overrides(copy.deepcopy(config), [f"{key}={value}"])
    points = []
    for combination in itertools.product(*[values for _, values in axes]):
        overrides = [f"{key}={value}" for key, value in zip(keys, combination, strict=True)]
        pairs = zip(keys, combination, strict=True)
        label = "_".join(f"{key.split('.')[-1]}={_slug(value)}" for key, value in pairs)
        for offset in range(seeds):
            seed = config.train.seed + offset
            points.append(SweepPoint(f"{label}_seed{seed}", dict(zip(keys, combination, strict=True)),
                                     overrides + [f"train.seed={seed}"], seed))
    return points


def _slug(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in value).strip("-") or "x"


# ---------------------------------------------------------------------------------------------------
# Running


def _run_point(config_dict: dict, out: str, threads: int | None) -> dict:
    """Trains one point (in this process or a worker) and returns its row of numbers."""
    import torch

    from .diagnose import diagnose
    from .errors import TrainingDiverged
    from .runs import Run
    from .train import train

    if threads:
        torch.set_num_threads(threads)
    config = Config.from_dict(config_dict, source="sweep")
    config.train.progress = False
    try:
        run = train(config, out=out, overwrite=True, verbose=False)
    except TrainingDiverged:
        run = Run(out)
    metrics = run.metrics
    row = {"run": out, "status": metrics.get("status", "finished")}
    if row["status"] == "finished":
        row.update({
            "n_parameters": metrics["n_parameters"], "n_train": metrics["n_train"],
            "train_error": metrics["train"]["error"], "val_error": metrics["val"]["error"],
            "test_error": metrics["test"]["error"], "val_loss": metrics["val"]["loss"],
            "best_epoch": metrics["best_epoch"], "epochs_run": metrics["epochs_run"],
            "train_seconds": metrics["train_seconds"],
        })
        row["gap"] = row["val_error"] - row["train_error"]
    try:
        # diagnosis.json only: the sweep page is the view, and redrawing every report is slow.
        row["verdict"] = diagnose(run, verbose=False, estimate_noise=False, report=False).verdict
    except SynbiolabError as exc:
        row["verdict"] = f"n/a ({exc})"
    return row


@dataclass
class SweepResult:
    """A finished sweep: its folder, one row per run, and the page with the figures."""

    path: Path
    table: pd.DataFrame
    summary: pd.DataFrame
    html: Path
    figures: dict
    best: dict | None


def sweep(config: Config, params: list[str] | None = None, train_sizes=None, seeds: int = 1, jobs: int = 1,
          out: str | Path | None = None, overwrite: bool = False, verbose: bool = True) -> SweepResult:
    """Trains one run per swept value (and seed) and draws the capacity, learning and epochs curves.

    Args:
        config: the base config (everything not swept).
        params: `key=v1,v2,...` strings for any config field, e.g. `model.hidden_units=[8],[32]`.
        train_sizes: training-set sizes for a learning curve (list or `"250,500"`).
        seeds: repeats of each point with different training seeds (mean and spread are drawn).
        jobs: runs trained at the same time, in separate processes (started fresh, so a script that calls
            `sweep(..., jobs=2)` needs the usual `if __name__ == "__main__":` guard).
        out: the sweep folder (default `sweeps/<data>-<model>-<time>`).
        overwrite: replace an existing sweep folder.
        verbose: print one line per finished run and the summary.

    Returns:
        The SweepResult.
    """
    points = plan_sweep(config, params, train_sizes, seeds)
    if jobs < 1:
        raise SynbiolabError(f"--jobs {jobs}: expected 1 or more")
    out = Path(out) if out is not None else Path("sweeps") / (
        f"{config.data.name}-{config.model.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    from .runs import prepare_run_dir

    prepare_run_dir(out, overwrite, kind="sweep")
    (out / "runs").mkdir(parents=True, exist_ok=True)

    jobs_config = []
    for point in points:
        point_config = apply_overrides(copy.deepcopy(config), point.overrides)
        jobs_config.append((point, point_config.to_dict(), str(out / "runs" / point.name)))
    rows = []
    started = time.perf_counter()
    if jobs == 1:
        for point, config_dict, run_dir in jobs_config:
            rows.append(_finish_row(point, _run_point(config_dict, run_dir, None), verbose))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [(point, pool.submit(_run_point, config_dict, run_dir, threads))
                       for point, config_dict, run_dir in jobs_config]
            for point, future in futures:
                rows.append(_finish_row(point, future.result(), verbose))
    table = pd.DataFrame(rows)
    from .runs import atomic_write_text

    atomic_write_text(out / "sweep.csv", table.to_csv(index=False))
    keys = list(points[0].values)
    summary = summarise(table, keys)
    best = best_point(summary, keys)
    figures = draw_figures(table, summary, keys, out, best)
    page = write_page(out, config, table, summary, keys, figures, best, time.perf_counter() - started)
    if verbose:
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if best:
            print(f"best (lowest validation error): {best['label']} (val error {best['val_error']:.4f}, "
                  f"test error {best['test_error']:.4f})")
        print(f"sweep: {out / 'sweep.csv'}; page: {page}")
    return SweepResult(out, table, summary, page, figures, best)


def _finish_row(point: SweepPoint, row: dict, verbose: bool) -> dict:
    full = {**point.values, "seed": point.seed, **row}
    if verbose:
        shown = ", ".join(f"{k}={v}" for k, v in point.values.items())
        if row.get("status") == "finished":
            print(f"{shown} seed {point.seed}: train error {row['train_error']:.4f}, val error "
                  f"{row['val_error']:.4f}, test error {row['test_error']:.4f} ({row['verdict']})",
                  flush=True)
        else:
            print(f"{shown} seed {point.seed}: {row.get('status')}", flush=True)
    return full


# ---------------------------------------------------------------------------------------------------
# Summaries and figures


ERRORS = ("train_error", "val_error", "test_error")


def summarise(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each point's errors, in the order the points were run."""
    finished = table[table["status"] == "finished"] if "status" in table else table
    if finished.empty:
        return pd.DataFrame(columns=[*keys, "n_parameters", "n_train", "runs"])
    aggregations = {"n_parameters": ("n_parameters", "mean"), "n_train": ("n_train", "mean"),
                    "runs": ("seed", "count")}
    for name in ERRORS:
        aggregations[f"{name}"] = (name, "mean")
        aggregations[f"{name}_std"] = (name, "std")
    summary = finished.groupby(keys, sort=False).agg(**aggregations).reset_index()
    for name in ERRORS:
        summary[f"{name}_std"] = summary[f"{name}_std"].fillna(0.0)
    summary["gap"] = summary["val_error"] - summary["train_error"]
    summary["verdicts"] = [", ".join(sorted(set(group["verdict"])))
                           for _, group in finished.groupby(keys, sort=False)]
    return summary


def best_point(summary: pd.DataFrame, keys: list[str]) -> dict | None:
    """The point with the lowest mean validation error (the test error is only reported)."""
    if summary.empty:
        return None
    row = summary.loc[summary["val_error"].idxmin()]
    label = ", ".join(f"{key}={row[key]}" for key in keys)
    return {"label": label, "values": {key: row[key] for key in keys}, "val_error": float(row["val_error"]),
            "test_error": float(row["test_error"]), "n_parameters": float(row["n_parameters"])}


def _numeric(values) -> np.ndarray | None:
    """The values as floats when every one is a number, else None."""
    numbers = []
    for value in values:
        parsed = parse_value(str(value))
        if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
            return None
        numbers.append(float(parsed))
    return np.array(numbers)


def _errors_against(ax, x, summary: pd.DataFrame, log_x: bool, names=ERRORS) -> None:
    styles = {"train_error": ("o-", "train error"), "val_error": ("s--", "validation error"),
              "test_error": ("^-", "test error")}
    order = np.argsort(x, kind="stable")
    for name in names:
        mean = summary[name].to_numpy(float)[order]
        spread = summary[f"{name}_std"].to_numpy(float)[order]
        style, label = styles[name]
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


def _save(fig, out: Path, name: str) -> Path:
    import matplotlib.pyplot as plt

    from .runs import atomic_write_bytes

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    from .runs import subfolder

    path = subfolder(out, "figures") / f"{name}.png"
    atomic_write_bytes(path, buffer.getvalue())
    return path


def draw_figures(table: pd.DataFrame, summary: pd.DataFrame, keys: list[str], out: Path,
                 best: dict | None) -> dict[str, Path]:
    """Draws the capacity curve of each swept parameter, the learning curve and the epochs curve.

    With several swept keys, each curve varies one key with the others held at the best point's values.

    Returns:
        Figure name -> PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Path] = {}
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
            name = "capacity_" + _slug(key)
        ax.set_ylabel("error")
        ax.legend(fontsize=8, loc="center right")
        fig.tight_layout()
        figures[name] = _save(fig, out, name)

    # Epochs: the learning curves of the longest run (first seed of the best point when several tie).
    finished = table[table["status"] == "finished"] if "status" in table else table
    if not finished.empty:
        from .report import learning_curves_figure

        longest = finished.sort_values("epochs_run", ascending=False, kind="stable").iloc[0]
        history_path = Path(longest["run"]) / "history.csv"
        if history_path.is_file():
            history = pd.read_csv(history_path)
            label = ", ".join(f"{key}={longest[key]}" for key in keys)
            best_epoch = int(longest["best_epoch"])
            fig = learning_curves_figure(history, best_epoch,
                                         title=f"epochs curve of {label} (best epoch {best_epoch})")
            figures["epochs_curve"] = _save(fig, out, "epochs_curve")
    return figures


def write_page(out: Path, config: Config, table: pd.DataFrame, summary: pd.DataFrame, keys: list[str],
               figures: dict[str, Path], best: dict | None, seconds: float) -> Path:
    """Writes sweep.html: the figures inlined, the table of means and spreads, links to the runs."""
    from .report import STYLE, img_tag
    from .report import table as html_table
    from .runs import atomic_write_text

    name = html.escape(out.name)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>synbiolab sweep {name}"
             f"</title><style>{STYLE}</style></head><body><h1>Sweep {html.escape(out.name)}</h1>",
             f"<p>data <b>{html.escape(config.data.name)}</b>, "
             f"model <b>{html.escape(config.model.name)}</b>; "
             f"swept: {html.escape(', '.join(keys))}; {len(table)} runs in {seconds:.0f} s.</p>"]
    if best:
        parts.append(f"<p>Best by validation error: <b>{html.escape(best['label'])}</b> (validation error "
                     f"{best['val_error']:.4f}, test error {best['test_error']:.4f}). The test error is "
                     "reported, never used to choose.</p>")
    for name, path in figures.items():
        parts.append(f"<h2>{html.escape(name.replace('_', ' '))}</h2>" + img_tag(path.read_bytes(), name))
    rows = summary.to_dict("records")
    parts.append("<h2>Points (mean and standard deviation over seeds)</h2>" + html_table(rows))
    links = "".join(f"<li><a href='{html.escape(os.path.relpath(run, out))}/report.html'>"
                    f"{html.escape(Path(run).name)}</a></li>" for run in table["run"])
    parts.append(f"<h2>Runs</h2><ul>{links}</ul>")
    parts.append(f"<h2>Base config</h2><pre>{html.escape(json.dumps(config.to_dict(), indent=2))}</pre>")
    parts.append("</body></html>")
    page = out / "sweep.html"
    atomic_write_text(page, "".join(parts))
    return page
