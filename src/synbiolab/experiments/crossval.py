"""k-fold cross-validation of a model on a data set, with the linear baselines on the same folds.

Small data sets (106 promoters) give a noisy single test split; k folds test every example once and
report the mean and spread. Each fold trains a fresh model with the one training loop (``fit``), carves
its validation part from the training folds (for early stopping and best-epoch selection) and never
looks at the fold's test part before the end. Copies of a sequence stay in one fold; with grouped data
(``data.split=grouped``, e.g. source studies) whole groups are held out.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..classical.kmer import BASELINES, compare_to_baselines, linear_baselines
from ..config import Config
from ..data import Dataset, Split, load_dataset
from ..data.builder import connected_groups, held_out
from ..data.splits import kfold
from ..errors import SynbiolabError
from ..evaluate import predict, ranking_metrics
from ..io import atomic_write_csv, atomic_write_json
from ..models import build_model
from ..runs import start_folder
from ..train import fit
from ..train.support import console

# --- reverse-complement averaging at prediction time


class ReverseComplementAverage(nn.Module):
    """Average a DNA model's outputs over a sequence and its reverse complement.

    A promoter or binding site reads the same on either strand for many tasks; averaging both readings
    removes the strand bias a model picked up from the training orientation.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One-hot ACGT: reversing channels (complement) and positions (reverse) gives the reverse complement.
        return (self.model(x) + self.model(x.flip(1).flip(2))) / 2  # (B, 4, L) -> (B, n_outputs)


# --- folds


def _pool(dataset: Dataset) -> Split:
    """All examples of a data set (train, validation and test) in one split."""
    parts = [dataset.train, dataset.val, dataset.test]
    groups = None if any(p.groups is None for p in parts) else np.concatenate([p.groups for p in parts])
    return Split(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]), None, groups)


def sequence_copies(x: torch.Tensor) -> np.ndarray:
    """An integer per example; identical inputs (copies of one sequence) share it."""
    flat = x.flatten(1).numpy()
    _, codes = np.unique(flat, axis=0, return_inverse=True)
    return codes.reshape(-1)


def cv_folds(dataset: Dataset, n_folds: int, grouped: bool, seed: int = 0):
    """Every example once in a test fold, copies (and groups, if `grouped`) kept whole.

    Returns:
        (pool, whole, folds): all examples in one Split; an integer per example that its fold keeps whole;
        (train indices, test indices) per fold.
    """
    pool = _pool(dataset)
    labels = pool.y.numpy() if dataset.task in ("binary", "multiclass") else None
    copies = sequence_copies(pool.x) if dataset.kind == "sequence" else np.arange(len(pool))
    if grouped:
        if pool.groups is None:
            raise SynbiolabError(f"{dataset.name}: grouped folds need groups (--group-col)")
        whole = connected_groups(copies, pool.groups)
    else:
        whole = copies
    if len(np.unique(whole)) == len(whole) and labels is not None:
        return pool, whole, kfold(n_folds, labels=labels, seed=seed)
    return pool, whole, kfold(n_folds, labels=labels, groups=whole, seed=seed)


def holds_out_groups(config: Config, dataset: Dataset) -> bool:
    """Whether folds hold out whole groups: asked for (data.split=grouped) or the data set's own rule."""
    if config.data.split == "grouped":
        return True
    return dataset.train.groups is not None and dataset.info.get("split", "").startswith("grouped")


def cross_validate(
    config: Config,
    n_folds: int = 5,
    out: str | Path | None = None,
    overwrite: bool = False,
    baseline: bool = True,
    rc_average: bool = False,
    verbose: bool = True,
    dataset: Dataset | None = None,
) -> dict:
    """Train and test a model on each of `n_folds` folds; report the mean and spread of the test metrics.

    Args:
        config: data, model and training settings (as for ``synbiolab train``).
        n_folds: number of folds.
        out: folder for cv.json and folds.csv (None: nothing written).
        overwrite: replace an existing folder at `out`.
        baseline: also fit the linear baselines on each fold (sequence data): one-hot, one-hot plus
            position pairs, k-mer counts; each with its penalty chosen by inner cross-validation on the
            fold's training part, and the model compared with the best of them over the folds.
        rc_average: also score the model with reverse-complement averaging (DNA).
        verbose: print one line per fold and the summary.
        dataset: an already loaded data set for ``config.data``.

    Returns:
        A dict with per-fold rows, and mean and standard deviation of each metric per method.
    """
    dataset = dataset if dataset is not None else load_dataset(config.data)
    if dataset.task not in ("binary", "multiclass", "regression"):
        raise SynbiolabError(
            f"{dataset.name} has no targets ({dataset.task}); cross-validation needs a prediction task"
        )
    grouped = holds_out_groups(config, dataset)
    pool, whole, folds = cv_folds(dataset, n_folds, grouped, config.data.seed)
    folder, lock = start_folder(out, "cv", overwrite) if out is not None else (None, None)
    try:
        rows, out_of_fold = _run_folds(config, dataset, pool, whole, folds, grouped, baseline, rc_average, verbose)
        summary = summarise(rows, dataset.task)
        comparison = _comparison(rows, config.model.name, dataset.task)
        # Metrics of the pooled out-of-fold predictions: every example predicted by the model that never saw it.
        pooled = {method: ranking_metrics(dataset.task, outputs, pool.y) for method, outputs in out_of_fold.items()}
        result = {
            "data": dataset.name,
            "model": config.model.name,
            "task": dataset.task,
            "folds": n_folds,
            "grouped": grouped,
            "summary": summary,
            "pooled": pooled,
            "baseline_comparison": comparison,
            "rows": rows,
            "config": config.to_dict(),
        }
        if folder is not None:
            atomic_write_json(folder / "cv.json", result)
            atomic_write_csv(folder / "folds.csv", rows, list(rows[0]))
    finally:
        if lock is not None:
            lock.release()
    if verbose:
        what = "whole groups held out" if grouped else "copies of a sequence kept in one fold"
        console.print(f"{dataset.name}, {n_folds}-fold cross-validation ({what}); mean +/- sd over folds:")
        for method, stats in summary.items():
            console.print(
                f"  {method:<16} "
                + ", ".join(f"{k} {v['mean']:.4f} +/- {v['std']:.4f}" for k, v in stats.items())
            )
            console.print(
                f"  {'':<16} pooled out-of-fold: "
                + ", ".join(f"{k} {v:.4f}" for k, v in pooled[method].items())
            )
        if comparison is not None:
            console.print(comparison["sentence"])
    return result


def _run_folds(config: Config, dataset: Dataset, pool: Split, whole: np.ndarray, folds, grouped: bool,
               baseline: bool, rc_average: bool, verbose: bool) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Train and test on every fold.

    Returns:
        (one row per fold and method, method -> the out-of-fold outputs for every example of the pool).
    """
    labels = pool.y.numpy() if dataset.task in ("binary", "multiclass") else None
    rows = []
    out_of_fold: dict[str, np.ndarray] = {}  # method -> outputs for every example, from the fold testing it

    def record(method: str, test_idx: np.ndarray, outputs) -> None:
        outputs = np.asarray(outputs, np.float32).reshape(len(test_idx), -1)
        if method not in out_of_fold:
            out_of_fold[method] = np.full((len(pool), outputs.shape[1]), np.nan, np.float32)
        out_of_fold[method][test_idx] = outputs

    for fold, (train_idx, test_idx) in enumerate(folds, start=1):
        started = time.perf_counter()
        # Validation comes from the training folds only, holding out copies/groups whole like the test fold.
        rel_train, rel_val = held_out(
            0.1,
            "stratified" if labels is not None and not grouped else "grouped",
            whole[train_idx],
            None if labels is None else labels[train_idx],
            config.data.seed + fold,
            "val_size",
        )
        fold_dataset = Dataset(
            dataset.name,
            dataset.task,
            dataset.kind,
            pool.subset(train_idx[rel_train]),
            pool.subset(train_idx[rel_val]),
            pool.subset(test_idx),
            dataset.class_names,
            dataset.input_shape,
            dataset.target_names,
            dataset.info,
        )
        torch.manual_seed(config.train.seed + fold)
        model = build_model(config.model.name, fold_dataset, **config.model.params)
        fit_config = type(config.train)(**{**config.train.__dict__, "seed": config.train.seed + fold})
        result = fit(model, fold_dataset, fit_config, verbose=False)
        test_y = fold_dataset.test.y
        outputs = predict(result.model, fold_dataset.test.x)
        record(config.model.name, test_idx, outputs)
        row = {
            "fold": fold,
            "method": config.model.name,
            "n_test": len(test_idx),
            "best_epoch": result.best_epoch,
            # the kept epoch's validation loss and metric: what a choice of settings may use (never the test fold)
            **_kept_epoch_validation(result),
            "seconds": round(time.perf_counter() - started, 2),
            **ranking_metrics(dataset.task, outputs, test_y),
        }
        rows.append(row)
        if rc_average:
            outputs = predict(ReverseComplementAverage(result.model), fold_dataset.test.x)
            record(f"{config.model.name}+rc", test_idx, outputs)
            rows.append(
                {**row, "method": f"{config.model.name}+rc", **ranking_metrics(dataset.task, outputs, test_y)}
            )
        if baseline and dataset.kind == "sequence":
            # The baselines see the fold's training and validation parts (their inner CV is their validation).
            train_all = torch.cat([fold_dataset.train.x, fold_dataset.val.x])
            y_all = torch.cat([fold_dataset.train.y, fold_dataset.val.y])
            fitted = linear_baselines(train_all.numpy(), y_all.numpy(), fold_dataset.test.x.numpy(), dataset.task,
                                      seed=config.data.seed + fold)
            for name, outputs in fitted.items():
                record(name, test_idx, outputs)
                rows.append(
                    {
                        "fold": fold,
                        "method": name,
                        "n_test": len(test_idx),
                        "best_epoch": "",
                        "seconds": "",
                        **ranking_metrics(dataset.task, outputs, test_y),
                    }
                )
        if verbose:
            shown = [r for r in rows if r["fold"] == fold]
            console.print(
                f"fold {fold}/{len(folds)}: "
                + "; ".join(f"{r['method']} {_headline(dataset.task, r)}" for r in shown)
            )
    return rows, out_of_fold


def _kept_epoch_validation(result) -> dict:
    """The validation loss and metric (accuracy, or r for regression) of the epoch whose weights were kept."""
    kept = next((h for h in result.history if h["epoch"] == result.best_epoch), None)
    if kept is None:
        return {"val_loss": None, "val_metric": None}
    return {"val_loss": float(kept["val_loss"]), "val_metric": float(kept["val_metric"])}


def _headline(task: str, row: dict) -> str:
    if task == "regression":
        return f"r {row['pearson_r']:.3f}"
    return f"acc {row['accuracy']:.3f}"


def _comparison(rows: list[dict], model: str, task: str) -> dict | None:
    """The model against the best linear baseline, paired over folds (None when no baseline ran)."""
    metric = "pearson_r" if task == "regression" else "accuracy"
    scores: dict[str, list[float]] = {}
    for row in rows:
        if row["method"] == model or row["method"] in BASELINES:
            scores.setdefault(row["method"], []).append(float(row[metric]))
    if len(scores) < 2 or model not in scores:
        return None
    return compare_to_baselines(scores, model, metric)


def summarise(rows: list[dict], task: str) -> dict:
    """Mean and (sample) standard deviation over folds of each metric, per method."""
    keys = (
        ["pearson_r", "spearman_rho", "r2", "mse"] if task == "regression" else ["accuracy", "auroc", "auprc"]
    )
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        values = {k: np.array([r[k] for r in rows if r["method"] == method], float) for k in keys}
        out[method] = {
            k: {"mean": float(np.nanmean(v)), "std": float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0}
            for k, v in values.items()
        }
    return out
