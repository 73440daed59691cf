"""Choose each named sequence set's recipe without its test data, and print the honest held-out number.

Usage (from the project root)::

    SYNBIOLAB_DATA=../shared/data OMP_NUM_THREADS=2 python bench/select_recipes.py [--only uci_splice,...]

For every named set a few candidate settings are trained (``CANDIDATES``: the model's own defaults, the
recipe in ``synbiolab/data/recipes.py`` and one or two other shapes), and the choice among them looks at
validation data only:

- cross-validated sets (uci_splice, uci_promoters, rbs_1014ic): nested cross-validation. Inside each outer
  fold's training part alone, an inner cross-validation (3 folds) scores every candidate; the candidate with
  the best inner mean (accuracy, or Pearson r for regression) is the fold's choice, and the fold's held-out
  score is that choice trained on the whole training part and tested on the outer test fold. The mean of
  those scores is the honest estimate of "choose a recipe this way, then train it": no outer test fold took
  part in any choice. (The validation part inside a training run is not used to choose: it also picks the
  kept epoch, which makes its numbers optimistic, most of all for candidates that train longer.) The recipe
  that ``synbiolab cv --data NAME`` then uses is the candidate chosen by most outer folds (ties: the better
  inner mean).
- ecoli_promoters (one 80/20 split, validation carved from the 80 %): an inner cross-validation on the
  training and validation parts chooses; the chosen candidate's test Pearson r is printed after the choice.

The script prints every candidate's validation numbers and (for information, after the choice) its test score,
so that one can see how far an oracle that peeked at the test folds would have been from the honest choice.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np
import torch

from synbiolab import build_model, default_config, fit, load_dataset
from synbiolab.config import set_value
from synbiolab.data.registry import Dataset, Split
from synbiolab.evaluate import predict, ranking_metrics
from synbiolab.experiments.crossval import cross_validate, cv_folds, holds_out_groups

# Candidate settings per set (dotted config keys over the model's own recipe). "defaults" is the model alone.
CANDIDATES: dict[str, dict[str, dict]] = {
    "uci_splice": {
        "defaults": {},
        "wide-9nt": {"model.channels": [64], "model.kernel_sizes": [9], "model.pool_sizes": [4],
                     "model.dropout": 0.4, "train.epochs": 20, "train.label_smoothing": 0.1},
        "two-layer": {"model.channels": [64, 64], "model.kernel_sizes": [9, 5], "model.pool_sizes": [2, 2],
                      "model.dropout": 0.4, "train.epochs": 20, "train.label_smoothing": 0.1},
        "wide-9nt-avg": {"model.channels": [64], "model.kernel_sizes": [9], "model.pool_sizes": [4],
                         "model.dropout": 0.4, "train.epochs": 20, "train.label_smoothing": 0.1,
                         "train.ema_decay": 0.99},
        "two-layer-avg": {"model.channels": [64, 64], "model.kernel_sizes": [9, 5], "model.pool_sizes": [2, 2],
                          "model.dropout": 0.4, "train.epochs": 20, "train.label_smoothing": 0.1,
                          "train.ema_decay": 0.99},
        # one layer of 5-nt filters, alone and as a deep ensemble of 5 (model.members): a splice site's consensus
        # is a few letters either side of the junction
        "wide-5nt": {"model.channels": [64], "model.kernel_sizes": [5], "model.pool_sizes": [4],
                     "model.dropout": 0.4, "train.epochs": 20, "train.label_smoothing": 0.1},
        "wide-5nt-x5": {"model.channels": [64], "model.kernel_sizes": [5], "model.pool_sizes": [4],
                        "model.dropout": 0.4, "train.epochs": 20, "train.label_smoothing": 0.1, "model.members": 5},
    },
    "uci_promoters": {
        "defaults": {},
        "small-dilated": {"model.channels": [32, 32], "model.kernel_sizes": [7, 5], "model.dilations": [1, 2],
                          "model.pool_sizes": [1, 1], "model.global_pool": "max", "model.head_units": [],
                          "train.batch_size": 16, "train.epochs": 40},
        "one-layer": {"model.channels": [16], "model.kernel_sizes": [9], "model.pool_sizes": [1],
                      "model.global_pool": "max", "model.head_units": [], "train.batch_size": 16,
                      "train.epochs": 40},
    },
    "rbs_1014ic": {
        "defaults": {},
        "one-layer": {"model.channels": [32], "model.kernel_sizes": [7], "model.pool_sizes": [1],
                      "model.global_pool": "max", "model.head_units": []},
    },
    "ecoli_promoters": {
        "defaults": {},
        "dilated-128": {"model.channels": [128, 128, 128], "model.kernel_sizes": [11, 5, 5],
                        "model.dilations": [1, 2, 4], "model.pool_sizes": [1, 1, 1], "model.global_pool": "max",
                        "model.dropout": 0.3},
        "two-layer": {"model.channels": [128, 128], "model.kernel_sizes": [11, 5], "model.pool_sizes": [1, 1],
                      "model.global_pool": "max", "model.dropout": 0.3},
        # longer: on the validation split the last epochs' r kept rising after the validation loss (MSE) had
        # passed its lowest point, so this one keeps the last epoch's weights
        "dilated-80ep": {"model.channels": [128, 128, 128], "model.kernel_sizes": [11, 5, 5],
                         "model.dilations": [1, 2, 4], "model.pool_sizes": [1, 1, 1], "model.global_pool": "max",
                         "model.dropout": 0.3, "train.epochs": 80, "train.keep": "last"},
    },
}
FOLDS = {"uci_splice": 5, "uci_promoters": 10, "rbs_1014ic": 5}


def candidate_config(data: str, settings: dict):
    """The model's own recipe (not the data set's) with the candidate's settings on top."""
    from synbiolab.data.recipes import recipe_for

    model = recipe_for(data).model
    cfg = default_config("mnist", model)  # the model's recipe alone: mnist has no data-set recipe
    cfg.data.name = data
    cfg.train.progress = False
    for key, value in settings.items():
        set_value(cfg, key, value, source=f"candidate for {data}")
    return cfg


def inner_score(cfg, dataset, index, pool, metric: str, folds: int) -> float:
    """Mean `metric` of an inner cross-validation on the examples `index` of `pool` alone."""
    empty = pool.subset(np.array([], dtype=int))
    inner = Dataset(dataset.name, dataset.task, dataset.kind, pool.subset(index), empty, empty, dataset.class_names,
                    dataset.input_shape, dataset.target_names, dataset.info)
    result = cross_validate(cfg, folds, baseline=False, verbose=False, dataset=inner)
    return result["summary"][result["model"]][metric]["mean"]


def candidates(data: str, only: list[str] | None) -> dict:
    """The candidates' configs; `only`: a subset by name (the others' numbers then come from an earlier run)."""
    names = [n for n in CANDIDATES[data] if only is None or n in only]
    return {name: candidate_config(data, CANDIDATES[data][name]) for name in names}


def nested(data: str, out: dict, inner_folds: int, only: list[str] | None = None) -> None:
    configs = candidates(data, only)
    first = next(iter(configs.values()))
    dataset = load_dataset(first.data)
    metric = "pearson_r" if dataset.task == "regression" else "accuracy"
    n_folds = FOLDS[data]
    # the same folds cross_validate makes from the same seed
    pool, _, folds = cv_folds(dataset, n_folds, holds_out_groups(first, dataset), first.data.seed)
    outer = {}
    for name, cfg in configs.items():
        started = time.perf_counter()
        result = cross_validate(cfg, n_folds, baseline=False, verbose=False, dataset=dataset)
        outer[name] = [r for r in result["rows"] if r["method"] == result["model"]]
        values = [r[metric] for r in outer[name]]
        print(f"  {name:<14} (outer test folds, never used to choose) {metric} {np.mean(values):.4f} "
              f"+/- {np.std(values, ddof=1):.4f}  ({time.perf_counter() - started:.0f} s)", flush=True)
    chosen, scores, inner_means = [], [], {name: [] for name in configs}
    for fold, (train_idx, _) in enumerate(folds):
        started = time.perf_counter()
        inner = {name: inner_score(cfg, dataset, train_idx, pool, metric, inner_folds) for name, cfg in configs.items()}
        for name, value in inner.items():
            inner_means[name].append(value)
        pick = max(inner, key=inner.get)
        chosen.append(pick)
        scores.append(outer[pick][fold][metric])
        print(f"  outer fold {fold + 1}: inner {inner_folds}-fold {metric} "
              + ", ".join(f"{n} {v:.4f}" for n, v in inner.items())
              + f" -> {pick}, its outer test {metric} {scores[-1]:.4f}  ({time.perf_counter() - started:.0f} s)",
              flush=True)
    counts = Counter(chosen)
    recipe = max(counts, key=lambda n: (counts[n], np.mean(inner_means[n])))
    oracle = max(outer, key=lambda n: np.mean([r[metric] for r in outer[n]]))
    print(f"  honest held-out {metric} of choosing by inner cross-validation: {np.mean(scores):.4f} "
          f"+/- {np.std(scores, ddof=1):.4f} over {n_folds} outer folds")
    print(f"  recipe (chosen by most outer folds): {recipe}, whose outer {metric} is "
          f"{np.mean([r[metric] for r in outer[recipe]]):.4f}; the test folds' best would have been {oracle}")
    out[data] = {"metric": metric, "chosen_per_fold": chosen, "honest": float(np.mean(scores)),
                 "honest_sd": float(np.std(scores, ddof=1)), "recipe": recipe,
                 "candidates": {n: {"inner": float(np.mean(inner_means[n])),
                                    "outer": float(np.mean([r[metric] for r in outer[n]]))} for n in configs}}


def split_choice(data: str, out: dict, seeds: int, inner_folds: int, test_all: bool = True,
                 only: list[str] | None = None) -> None:
    configs = candidates(data, only)
    dataset = load_dataset(next(iter(configs.values())).data)
    # the choice: inner cross-validation on the training and validation parts (the test split stays out)
    pool = Split(torch.cat([dataset.train.x, dataset.val.x]), torch.cat([dataset.train.y, dataset.val.y]))
    inner = {}
    for name, cfg in configs.items():
        started = time.perf_counter()
        inner[name] = inner_score(cfg, dataset, np.arange(len(pool)), pool, "pearson_r", inner_folds)
        print(f"  {name:<14} inner {inner_folds}-fold r on the training part {inner[name]:.4f}  "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    pick = max(inner, key=inner.get)
    print(f"  choice: {pick}", flush=True)
    tests = {}
    for name, cfg in configs.items():
        if not test_all and name != pick:
            continue
        members = []
        for seed in range(seeds):
            cfg.train.seed = seed
            torch.manual_seed(seed)
            result = fit(build_model(cfg.model.name, dataset, **cfg.model.params), dataset, cfg.train, verbose=False)
            members.append(predict(result.model, dataset.test.x))
        single = [ranking_metrics(dataset.task, m, dataset.test.y)["pearson_r"] for m in members]
        tests[name] = (float(np.mean(single)), float(ranking_metrics(dataset.task, torch.stack(members).mean(0),
                                                                       dataset.test.y)["pearson_r"]))
        print(f"  {name:<14} (test split, after the choice) r of one model {tests[name][0]:.4f} (mean of {seeds} "
              f"seeds), of the {seeds}-seed average {tests[name][1]:.4f}", flush=True)
    out[data] = {"metric": "pearson_r", "recipe": pick, "honest": tests[pick][0], "honest_ensemble": tests[pick][1],
                 "candidates": {n: {"inner": inner[n], **({"test": tests[n][0], "test_ensemble": tests[n][1]}
                                                          if n in tests else {})} for n in configs}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CANDIDATES), help="comma-separated data set names")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per candidate on ecoli_promoters")
    parser.add_argument("--inner-folds", type=int, default=3, help="folds of the inner cross-validation")
    parser.add_argument("--test", default="all", choices=["all", "chosen"],
                        help="ecoli_promoters: test every candidate after the choice (for information), or the chosen")
    parser.add_argument("--candidates", default=None,
                        help="comma-separated candidate names to train (default: all; a partial run chooses only among "
                             "these, so compare its inner numbers with a full run's by hand)")
    parser.add_argument("--json", default=None, help="write the choices and numbers to this JSON file")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    out: dict = {}
    only = args.candidates.split(",") if args.candidates else None
    for data in args.only.split(","):
        print(f"== {data}", flush=True)
        if data in FOLDS:
            nested(data, out, args.inner_folds, only)
        else:
            split_choice(data, out, args.seeds, args.inner_folds, args.test == "all", only)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
