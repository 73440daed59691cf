"""Sequence models on the real synthetic-biology data sets, printed next to the linear baselines.

Usage (from the project root)::

    SYNBIOLAB_DATA=../shared/data OMP_NUM_THREADS=2 python bench/sequences.py [--only splice,promoters,...]

Every deep model is the data set's recipe (``synbiolab/data/recipes.py``: exactly what ``synbiolab train
--data NAME`` and ``synbiolab cv --data NAME`` use without further options; this script passes no settings of
its own). Every deep-model number is printed beside (a) the package's linear baselines (one-hot, one-hot plus
position pairs, k-mer counts), fitted on the same folds, with the best of them named and the paired margin
over folds, and (b) the reference figure of the shared linear-baseline script (one-hot or k-mer models measured
by ../shared/bench/synbio_linear_baselines.py). The throughput part trains the same cnn1d through the
package's loop (in-memory batches) and through two plain DataLoader loops in the same process,
and prints the ratios, end to end and for the data path alone; machines are noisy, so only ratios measured in
one run are meaningful.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from synbiolab import TrainConfig, build_model, default_config, fit, load_dataset
from synbiolab.classical import kmer_baseline
from synbiolab.classical.kmer import BASELINES, baselines_beside
from synbiolab.data.recipes import RECIPES
from synbiolab.evaluate import loss_for_task, predict, ranking_metrics
from synbiolab.experiments.crossval import cross_validate

# Reference numbers of the shared linear-baseline script (one split or CV as stated there).
REFERENCE = {
    "splice": ("one-hot logistic regression, 5-fold CV accuracy", 0.955),
    "promoters": ("one-hot logistic regression, 10-fold CV accuracy", 0.934),
    "ecoli": ("6-mer ridge, 80/20 split, Pearson r", 0.26),
    "rbs": ("3-mer + one-hot ridge, 5 study-held-out folds, pooled Pearson r", 0.36),
}
TARGET = {"splice": 0.965, "promoters": 0.95, "ecoli": 0.35, "rbs": 0.36}

# The data set of each part; its model and settings are its recipe (RECIPES), which says how it was chosen
# (bench/select_recipes.py: nested cross-validation, never the test folds or split printed here).
SETTINGS = {"splice": "uci_splice", "promoters": "uci_promoters", "ecoli": "ecoli_promoters", "rbs": "rbs_1014ic"}


def line(name: str, value: float, spread: float | None = None) -> str:
    return f"  {name:<58} {value:.4f}" + (f" +/- {spread:.4f}" if spread is not None else "")


def recipe_words(data: str) -> str:
    """The recipe's settings as --set words, and how it was chosen."""
    recipe = RECIPES[data]
    settings = " ".join(f"{k}={v}".replace(" ", "") for k, v in recipe.settings.items()) or "the model's defaults"
    return f"recipe of {data}: {recipe.model} {settings} ({recipe.chosen})"


def run_cv(key: str, folds: int, metric: str) -> dict:
    data = SETTINGS[key]
    cfg = default_config(data)
    model = cfg.model.name
    started = time.perf_counter()
    result = cross_validate(cfg, folds, verbose=False)
    seconds = time.perf_counter() - started
    deep = result["summary"][model][metric]
    print(f"{data}: {folds}-fold cross-validation{' (whole studies held out)' if result['grouped'] else ''}, "
          f"{metric}, mean +/- sd over folds, every method on the same folds ({seconds:.0f} s)")
    print(f"  {recipe_words(data)}")
    print(line(f"{model}, the recipe", deep["mean"], deep["std"]))
    for name, (words, _, _) in BASELINES.items():
        stats = result["summary"][name][metric]
        print(line(f"{name}: {words}", stats["mean"], stats["std"]))
    print(f"  {result['baseline_comparison']['sentence']}")
    print(line(f"reference: {REFERENCE[key][0]}", REFERENCE[key][1]))
    print(line(f"pooled out-of-fold {metric}: {model}", result["pooled"][model][metric]))
    print(line(f"pooled out-of-fold {metric}: k-mer linear", result["pooled"]["kmer_linear"][metric]))
    verdict = "reached" if deep["mean"] >= TARGET[key] else "NOT reached"
    print(f"  target >= {TARGET[key]}: {verdict}")
    return result


def ecoli(seeds: int = 3) -> None:
    """Wang 2020 expression: 80/20 split with seed 0, test Pearson r of the deep models and the baselines.

    Printed: each cnn1d seed, their average (an ensemble), and the plain average of the ensemble with the
    6-mer ridge (no weight is tuned: both predict log10 expression in the same units).
    """
    data = SETTINGS["ecoli"]
    cfg = default_config(data)
    model = cfg.model.name
    ds = load_dataset(cfg.data)
    test_y = ds.test.y
    started = time.perf_counter()
    members = []
    for seed in range(seeds):
        cfg.train.seed = seed
        torch.manual_seed(seed)
        result = fit(build_model(model, ds, **cfg.model.params), ds, cfg.train, verbose=False)
        members.append(predict(result.model, ds.test.x))
    seconds = time.perf_counter() - started
    train_x = torch.cat([ds.train.x, ds.val.x]).numpy()
    train_y = torch.cat([ds.train.y, ds.val.y]).numpy()
    print(f"ecoli_promoters: 80/20 split (seed 0; validation carved from the 80 %), test Pearson r "
          f"({seeds} cnn1d seeds in {seconds:.0f} s)")
    print(f"  {recipe_words(data)}")
    for seed, outputs in enumerate(members):
        print(line(f"{model}, seed {seed}", ranking_metrics(ds.task, outputs, test_y)["pearson_r"]))
    ensemble = torch.stack(members).mean(0)
    deep = ranking_metrics(ds.task, ensemble, test_y)
    print(line(f"{model}, average of the {seeds} seeds", deep["pearson_r"]))
    ridge = {}
    for k, positional in ((6, False), (4, True)):
        ridge[k] = kmer_baseline(train_x, train_y, ds.test.x.numpy(), ds.task, k=k, positional=positional)
        what = f"1- to {k}-mer counts{' + one-hot' if positional else ''}, ridge, same split"
        print(line(what, ranking_metrics(ds.task, ridge[k], test_y)["pearson_r"]))
    beside = baselines_beside(train_x, train_y, ds.test.x.numpy(), test_y.numpy(), ds.task, members, model)
    for name, (words, _, _) in BASELINES.items():
        print(line(f"{name}: {words}", beside["scores"][name][0]))
    print(f"  over the {seeds} seeds: {beside['comparison']['sentence']}")
    blend = (ensemble + torch.as_tensor(ridge[6], dtype=ensemble.dtype)) / 2
    both = ranking_metrics(ds.task, blend, test_y)
    print(line(f"average of the {model} ensemble and the 6-mer ridge", both["pearson_r"]))
    print(line(f"reference: {REFERENCE['ecoli'][0]}", REFERENCE["ecoli"][1]))
    for name, metrics in ((f"{model} ensemble", deep), ("ensemble + ridge", both)):
        print(f"  {name}: Spearman rho {metrics['spearman_rho']:.4f}, R^2 {metrics['r2']:.4f}; target r >= "
              f"{TARGET['ecoli']}: {'reached' if metrics['pearson_r'] >= TARGET['ecoli'] else 'NOT reached'}")


def throughput(epochs: int = 3, threads: int = 2) -> None:
    """Training sequences per second of cnn1d on ecoli_promoters: the package's loop vs two DataLoader loops.

    The two plain loops are the ones people write: (a) a ``Dataset`` that keeps the sequences as text and
    one-hot encodes each one in ``__getitem__`` (the usual tutorial pattern), and (b) a ``TensorDataset`` over
    sequences encoded once in advance (the strongest plain loop: it differs from synbiolab only in fetching
    and collating examples one by one). Measured for the recipe's cnn1d and for a tiny one (8 filters), where
    moving the data is a larger share of each step than the arithmetic.
    """
    torch.set_num_threads(threads)
    ds = load_dataset("ecoli_promoters")
    for label, params in (("recipe cnn1d", {}),
                          ("tiny cnn1d (8 filters of 5, no hidden layer)",
                           {"channels": [8], "kernel_sizes": [5], "pool_sizes": [1], "global_pool": "max",
                            "head_units": []})):
        _throughput(ds, label, params, epochs)


class TextSequences(torch.utils.data.Dataset):
    """A plain PyTorch dataset of DNA strings, one-hot encoded one at a time (what tutorials write)."""

    def __init__(self, sequences: list[str], targets: torch.Tensor):
        self.sequences, self.targets = sequences, targets

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int):
        seq = self.sequences[i]
        x = np.zeros((4, len(seq)), np.float32)
        for position, letter in enumerate(seq):
            x["ACGT".index(letter), position] = 1.0
        return torch.from_numpy(x), self.targets[i]


def _plain_loop(ds, params: dict, cfg, epochs: int, dataset) -> float:
    """Sequences per second of the textbook loop over a DataLoader (per-example fetch and collate)."""
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    model = build_model("cnn1d", ds, **params)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = loss_for_task(ds.task)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True)
    model.train()
    started = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return len(dataset) * epochs / (time.perf_counter() - started)


def _throughput(ds, label: str, params: dict, epochs: int) -> None:
    from torch.utils.data import TensorDataset

    cfg = default_config("ecoli_promoters", "cnn1d").train
    cfg = TrainConfig(**{**cfg.__dict__, "epochs": epochs, "schedule": "none", "progress": False})
    n_train = len(ds.train)

    torch.manual_seed(0)
    model = build_model("cnn1d", ds, **params)
    result = fit(model, ds, cfg, verbose=False)  # train_seconds counts the training steps, not evaluation
    fast = n_train * epochs / result.train_seconds

    text = ["".join("ACGT"[i] for i in row) for row in ds.train.x.argmax(1).tolist()]  # the file's letters
    per_item = _plain_loop(ds, params, cfg, epochs, TextSequences(text, ds.train.y))
    pre_encoded = _plain_loop(ds, params, cfg, epochs, TensorDataset(ds.train.x, ds.train.y))
    print(f"throughput: {label} on ecoli_promoters, batch {cfg.batch_size}, {epochs} epochs of {n_train:,} "
          f"sequences, {torch.get_num_threads()} threads")
    print(f"  {'synbiolab fit (encoded once, in-memory batches), seq/s':<60} {fast:,.0f}")
    print(f"  {'(a) DataLoader, text encoded in __getitem__, seq/s':<60} {per_item:,.0f}")
    print(f"  {'(b) DataLoader over pre-encoded tensors, seq/s':<60} {pre_encoded:,.0f}")
    for name, plain in (("(a)", per_item), ("(b)", pre_encoded)):
        ratio = fast / plain
        print(f"  ratio vs {name} {ratio:.2f}x (target >= 3x: {'reached' if ratio >= 3 else 'NOT reached'})")
    data_fast, data_a, data_b = _data_only(ds, cfg, text)
    print(f"  the data path alone (one epoch of batches, no model), batches/s: synbiolab {data_fast:,.0f}, "
          f"(a) {data_a:,.0f}, (b) {data_b:,.0f}; ratios {data_fast / data_a:.0f}x and {data_fast / data_b:.0f}x")


def _data_only(ds, cfg, text: list[str]) -> tuple[float, float, float]:
    """Batches per second of the three ways of drawing batches, with no model: where the loops differ."""
    from torch.utils.data import DataLoader, TensorDataset

    from synbiolab.data import InMemoryBatches

    batches = InMemoryBatches(ds.train.x, ds.train.y, cfg.batch_size, seed=0)
    started = time.perf_counter()
    for _ in range(batches.steps_per_epoch):
        batches.next()
    rates = [batches.steps_per_epoch / (time.perf_counter() - started)]
    for dataset in (TextSequences(text, ds.train.y), TensorDataset(ds.train.x, ds.train.y)):
        loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True)
        started = time.perf_counter()
        n = sum(1 for _ in loader)
        rates.append(n / (time.perf_counter() - started))
    return rates[0], rates[1], rates[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="splice,promoters,ecoli,rbs,throughput",
                        help="comma-separated parts: splice, promoters, ecoli, rbs, throughput")
    parts = parser.parse_args().only.split(",")
    np.set_printoptions(precision=4)
    if "splice" in parts:
        run_cv("splice", 5, "accuracy")
    if "promoters" in parts:
        run_cv("promoters", 10, "accuracy")
    if "ecoli" in parts:
        ecoli()
    if "rbs" in parts:
        result = run_cv("rbs", 5, "pearson_r")
        deep = result["pooled"][result["model"]]["pearson_r"]
        best = max(BASELINES, key=lambda name: result["pooled"][name]["pearson_r"])
        base = result["pooled"][best]["pearson_r"]
        if deep <= REFERENCE["rbs"][1] or deep <= base:
            print(f"  plainly: with whole studies held out the deep model (pooled r {deep:.3f}) does not beat "
                  f"the linear models (best: {best} {base:.3f}, reference {REFERENCE['rbs'][1]}); 1,008 mRNAs "
                  "from 13 studies are too few for it to learn what carries over between studies")
    if "throughput" in parts:
        throughput()


if __name__ == "__main__":
    main()
