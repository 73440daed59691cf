"""Sweeps: one run per value of any config field, drawn as the classic generalisation pictures.

`sweep(config, params=["model.hidden_units=[8],[32],[128]"], train_sizes=[250, 1000], seeds=3)` trains
every combination (each repeated over seeds) into a sweep folder::

    sweeps/<name>/sweep.csv        one row per run: the swept values, seed, sizes, errors, verdict
    sweeps/<name>/sweep.html       the figures and the table of means and spreads
    sweeps/<name>/figures/*.png    capacity (validation) curve, learning curve, epochs curve
    sweeps/<name>/runs/<point>/    the run folders

The folder is of kind "sweep" (kind.json) and locked while the sweep writes it; each run inside is a train
run of its own. The best value is chosen on the validation error, never on the test error. The page and
its figures are drawn by report/sections/sweep.py from the table.
"""

from __future__ import annotations

import copy
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import Config, apply_overrides, current_model_key
from ..errors import SynbiolabError
from ..io import atomic_write_text
from ..report.sections.sweep import write_sweep_report
from ..runs import start_folder

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
    # a model key of an older version is swept under today's name (told once, here)
    axes = [(f"model.{current_model_key(config.model.name, key[6:], '--param')}" if key.startswith("model.") else key,
             values) for key, values in axes]
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
    # Imported here: a worker process of a parallel sweep starts fresh and needs only these.
    import torch

    from ..diagnose import diagnose
    from ..errors import TrainingDiverged
    from ..runs import Run
    from ..train import train

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
    out, lock = start_folder(out, "sweep", overwrite)
    try:
        return _sweep_into(out, config, points, jobs, verbose)
    finally:
        lock.release()


def _sweep_into(out: Path, config: Config, points: list[SweepPoint], jobs: int, verbose: bool) -> SweepResult:
    """Train every point into `out/runs/` (in `jobs` processes), then write sweep.csv and the page."""
    (out / "runs").mkdir(parents=True, exist_ok=True)
    work = []  # (point, its whole config as a dict, its run folder), what a worker process needs
    for point in points:
        point_config = apply_overrides(copy.deepcopy(config), point.overrides)
        work.append((point, point_config.to_dict(), str(out / "runs" / point.name)))
    rows = []
    started = time.perf_counter()
    if jobs == 1:
        for point, config_dict, run_dir in work:
            rows.append(_finish_row(point, _run_point(config_dict, run_dir, None), verbose))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [(point, pool.submit(_run_point, config_dict, run_dir, threads))
                       for point, config_dict, run_dir in work]
            for point, future in futures:
                rows.append(_finish_row(point, future.result(), verbose))
    table = pd.DataFrame(rows)
    atomic_write_text(out / "sweep.csv", table.to_csv(index=False))
    keys = list(points[0].values)
    summary = summarise(table, keys)
    best = best_point(summary, keys)
    page, figures = write_sweep_report(out, config, table, summary, keys, best, time.perf_counter() - started)
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
    # Every seed of a point has the same model and training set: whole numbers, not means.
    summary[["n_parameters", "n_train"]] = summary[["n_parameters", "n_train"]].round().astype("int64")
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
