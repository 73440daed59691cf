"""Named data sets -> ``Dataset``: tensors for train/validation/test, the task and what a report needs.

Each named set is a loader registered with :func:`register_dataset`; a loader takes a ``DataConfig`` and
returns a ``Dataset`` with its three splits already carved (validation from the training part, the test
part held out as published where a data set has one).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import DataConfig
from ..errors import SynbiolabError
from .splits import stratified_split, subsample

TASKS = ("multiclass", "binary", "regression")
MAX_CLASSES = 1000  # classes a classifier may have (the same cap as a table's target column)


@dataclass
class Split:
    """One split: inputs, targets and optional identifiers and groups (one per example)."""

    x: torch.Tensor
    y: torch.Tensor
    ids: list[str] | None = None
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index) -> Split:
        index = np.asarray(index)
        t = torch.as_tensor(index, dtype=torch.long)
        return Split(
            self.x[t],
            self.y[t],
            None if self.ids is None else [self.ids[i] for i in index],
            None if self.groups is None else self.groups[index],
        )


@dataclass
class Dataset:
    """A data set ready for training.

    Attributes:
        name: registered name or file path.
        task: ``multiclass`` (softmax), ``binary`` (sigmoid) or ``regression`` (linear).
        kind: ``image`` or ``sequence``.
        train, val, test: the splits; the test split is evaluated once, at the end.
        class_names: label names for classification, None for regression.
        input_shape: shape of one example, e.g. (1, 28, 28) or (4, 60).
        info: provenance and preprocessing notes shown in reports.
    """

    name: str
    task: str
    kind: str
    train: Split
    val: Split
    test: Split
    class_names: list[str] | None = None
    input_shape: tuple[int, ...] = ()
    target_names: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        if self.task not in TASKS:
            # A data set without targets (a FASTA file, natural promoters) feeds generative models only.
            hint = self.info.get("no_targets") or "it has no targets: name a target column with --target"
            raise SynbiolabError(f"{self.name}: {hint}")
        if self.task == "multiclass":
            return len(self.class_names)
        if self.task == "binary":
            return 1
        return 1 if self.train.y.ndim == 1 else int(self.train.y.shape[1])

    def majority_error(self) -> float | None:
        """Test error of always predicting the most frequent training class (None for regression)."""
        if self.task == "regression":
            return None
        counts = torch.bincount(self.train.y.long())
        majority = int(counts.argmax())
        return float((self.test.y.long() != majority).float().mean())

    def summary(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "task": self.task,
            "kind": self.kind,
            "input_shape": list(self.input_shape),
            "n_train": len(self.train),
            "n_val": len(self.val),
            "n_test": len(self.test),
        }
        for key in ("organism", "organism_group"):  # the report's motif search follows the organism
            if key in self.info:
                out[key] = str(self.info[key])
        if self.class_names is not None:
            out["class_names"] = list(self.class_names)
            out["train_class_counts"] = torch.bincount(
                self.train.y.long(), minlength=len(self.class_names)
            ).tolist()
        return out


@dataclass
class DatasetEntry:
    loader: Callable[[DataConfig], Dataset]
    summary: str


DATASETS: dict[str, DatasetEntry] = {}


def register_dataset(name: str, loader: Callable[[DataConfig], Dataset], summary: str) -> None:
    """Make a data set loadable by name (``load_dataset(name)``, ``--data name``)."""
    DATASETS[name] = DatasetEntry(loader, summary)


def load_dataset(name_or_config: str | DataConfig = "mnist", **overrides) -> Dataset:
    """Load a data set by name, path or DataConfig, with its train/validation/test splits.

    Args:
        name_or_config: a registered name such as ``"mnist"``; a path: a CSV/TSV/Excel/FASTA file (``.gz``
            too), several FASTA files joined by commas (one per class), a folder of IDX files in the MNIST
            layout or a folder of class sub-folders of pictures; or a DataConfig.
        **overrides: DataConfig fields, e.g. ``train_size=2000``, ``classes=[3, 7]``, ``data_dir=...``.

    Returns:
        A Dataset, checked: at least two classes (a classifier), targets that vary (a regressor).
    """
    if isinstance(name_or_config, DataConfig):
        cfg = DataConfig(**{**name_or_config.__dict__, **overrides})
    else:
        cfg = DataConfig(name=name_or_config, **overrides)
    entry = DATASETS.get(cfg.name)
    if entry is None:
        entry = DATASETS.get("file")  # a path: its loader tells files, file lists and folders apart
        if entry is None:
            raise SynbiolabError(f"unknown data set '{cfg.name}'; valid: {', '.join(DATASETS)}")
    dataset = entry.loader(cfg)
    check_dataset(dataset)
    return shuffle_labels(dataset, cfg.label_noise, cfg.seed)


def unknown_name_error(name: str) -> SynbiolabError:
    """The error for a --data that is neither a registered name nor an existing path."""
    valid = ", ".join(n for n in DATASETS if n != "file")
    return SynbiolabError(
        f"unknown data set '{name}'; valid: {valid} (or a .csv/.tsv/.xlsx/.fasta file, optionally .gz, FASTA "
        "files joined by commas, or a folder of IDX files or of class sub-folders of pictures)"
    )


def check_dataset(dataset: Dataset) -> None:
    """Refuse, in one line, a data set that would train without error but mean nothing.

    A classifier needs two classes in its data and in its training split; a regressor needs targets that
    vary (with every target equal, Pearson r and R^2 are undefined and any model looks perfect or broken).
    """
    if dataset.task in ("multiclass", "binary"):
        names = dataset.class_names or []
        if len(names) > MAX_CLASSES:
            raise SynbiolabError(f"{dataset.name}: {len(names):,} classes, more than the {MAX_CLASSES:,} a "
                                 "classifier takes")
        for split_name in ("train", "val", "test"):
            y = getattr(dataset, split_name).y
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= max(len(names), 1)):
                raise SynbiolabError(f"{dataset.name}: a {split_name} label ({int(y.max())}) is outside the "
                                     f"class range 0..{len(names) - 1}")
        present = torch.unique(torch.cat([dataset.train.y, dataset.val.y, dataset.test.y]).long())
        if len(present) < 2:
            only = names[int(present[0])] if len(present) else "none"
            raise SynbiolabError(f"{dataset.name}: one class only ('{only}'): a classifier needs examples of at "
                                 "least two classes")
        if len(torch.unique(dataset.train.y.long())) < 2:
            raise SynbiolabError(f"{dataset.name}: the training split holds one class only; give more examples "
                                 "of each class or another data.seed")
    elif dataset.task == "regression":
        y_all = torch.cat([dataset.train.y, dataset.val.y, dataset.test.y]).reshape(-1, dataset.n_outputs)
        names = dataset.target_names or [f"target {j}" for j in range(y_all.shape[1])]
        for j, name in enumerate(names[: y_all.shape[1]]):
            column = y_all[:, j]
            if len(column) and bool((column == column[0]).all()):
                raise SynbiolabError(
                    f"{dataset.name}: target '{name}' is {float(column[0]):g} for every example: nothing to "
                    "learn (zero variance; Pearson r and R^2 are undefined)"
                )
            for split_name in ("train", "test"):
                part = getattr(dataset, split_name).y.reshape(-1, y_all.shape[1])[:, j]
                if len(part) > 1 and bool((part == part[0]).all()):
                    raise SynbiolabError(
                        f"{dataset.name}: every {split_name} example has target '{name}' = {float(part[0]):g} "
                        "(zero variance, so Pearson r and R^2 are undefined); give a larger data.test_size or "
                        "another data.seed"
                    )


def data_warning(info: dict, message: str) -> None:
    """Say something about the data that does not stop loading: one ``warning:`` line on stderr, kept in
    ``info["warnings"]`` so that the run's report shows it too."""
    info.setdefault("warnings", []).append(message)
    print(f"warning: {message}", file=sys.stderr)


def shuffle_labels(dataset: Dataset, fraction: float, seed: int = 0) -> Dataset:
    """Permute the labels of a random `fraction` of the training examples among themselves.

    Teaching noisy labels: the inputs stay, a known share of their labels becomes random (a shuffled
    label keeps its class with the class's frequency), and validation and test stay clean.
    """
    if not 0.0 <= fraction <= 1.0:
        raise SynbiolabError(f"data.label_noise={fraction}: expected a fraction between 0 and 1")
    if fraction == 0.0:
        return dataset
    rng = np.random.default_rng(seed + 104729)
    chosen = rng.choice(len(dataset.train), size=int(round(fraction * len(dataset.train))), replace=False)
    y = dataset.train.y.clone()
    y[torch.as_tensor(chosen)] = y[torch.as_tensor(rng.permutation(chosen))]
    dataset.train.y = y
    dataset.info = {**dataset.info, "label_noise": f"labels of {len(chosen)} training examples shuffled"}
    return dataset


# --- helpers shared by the loaders


def select_classes(x: np.ndarray, y: np.ndarray, classes, names: list[str], where: str):
    """Keep the listed classes and relabel them 0..k-1; two classes make a binary task."""
    if not classes:
        return x, y, names, "multiclass"
    classes = [int(c) for c in classes]
    bad = [c for c in classes if c < 0 or c >= len(names)]
    if bad or len(set(classes)) != len(classes) or len(classes) < 2:
        raise SynbiolabError(
            f"{where}: classes={classes} must be two or more distinct labels among 0..{len(names) - 1}"
        )
    keep = np.isin(y, classes)
    mapping = {c: i for i, c in enumerate(classes)}
    y_new = np.array([mapping[int(v)] for v in y[keep]], dtype=np.int64)
    return x[keep], y_new, [names[c] for c in classes], "binary" if len(classes) == 2 else "multiclass"


def check_train_size(train_size: int | None, available: int, name: str) -> None:
    """Refuse a --train-size larger than the training split rather than quietly using fewer examples.

    The run's config.json would otherwise record a size that was never trained on.
    """
    if train_size is not None and int(train_size) > available:
        raise SynbiolabError(
            f"data.train_size={int(train_size):,} is larger than the {available:,} training examples of {name} "
            f"(after the validation split); give at most {available:,} or leave --train-size out"
        )


def carve_validation(y_pool: np.ndarray, cfg: DataConfig, default_val: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of a training pool: stratified validation split, then --train-size."""
    val_size = cfg.val_size if cfg.val_size is not None else default_val
    train_idx, val_idx = stratified_split(y_pool, val_size, seed=cfg.seed, what="val_size")
    if cfg.train_size is not None:
        check_train_size(cfg.train_size, len(train_idx), cfg.name)
        keep = subsample(y_pool[train_idx], int(cfg.train_size), seed=cfg.seed + 1)
        train_idx = train_idx[keep]
    return train_idx, val_idx
