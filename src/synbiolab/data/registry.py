"""Named data sets -> ``Dataset``: tensors for train/validation/test, the task and what a report needs.

Each named set is a loader registered with :func:`register_dataset`; a loader takes a ``DataConfig`` and
returns a ``Dataset`` with its three splits already carved (validation from the training part, the test
part held out as published where a data set has one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import DataConfig
from ..errors import SynbiolabError
from .splits import stratified_split, subsample

TASKS = ("multiclass", "binary", "regression")


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
    """Load a data set by name (or from a ``DataConfig``), with its train/validation/test splits.

    Args:
        name_or_config: a registered name such as ``"mnist"``, a path to a data file, or a DataConfig.
        **overrides: DataConfig fields, e.g. ``train_size=2000``, ``classes=[3, 7]``, ``data_dir=...``.

    Returns:
        A Dataset.
    """
    if isinstance(name_or_config, DataConfig):
        cfg = DataConfig(**{**name_or_config.__dict__, **overrides})
    else:
        cfg = DataConfig(name=name_or_config, **overrides)
    entry = DATASETS.get(cfg.name)
    if entry is None:
        file_loader = DATASETS.get("file")
        looks_like_file = any(cfg.name.lower().endswith(s) for s in (".csv", ".tsv", ".fa", ".fasta", ".fna", ".txt"))
        if file_loader is not None and looks_like_file:
            return shuffle_labels(file_loader.loader(cfg), cfg.label_noise, cfg.seed)
        valid = ", ".join(n for n in DATASETS if n != "file")
        raise SynbiolabError(f"unknown data set '{cfg.name}'; valid: {valid} (or a .csv/.tsv/.fasta file)")
    return shuffle_labels(entry.loader(cfg), cfg.label_noise, cfg.seed)


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


def carve_validation(y_pool: np.ndarray, cfg: DataConfig, default_val: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) of a training pool: stratified validation split, then --train-size."""
    val_size = cfg.val_size if cfg.val_size is not None else default_val
    train_idx, val_idx = stratified_split(y_pool, val_size, seed=cfg.seed, what="val_size")
    if cfg.train_size is not None:
        keep = subsample(y_pool[train_idx], int(cfg.train_size), seed=cfg.seed + 1)
        train_idx = train_idx[keep]
    return train_idx, val_idx
