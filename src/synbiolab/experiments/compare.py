"""Classical, learned and combined pipelines side by side, on the same split.

A pipeline is named `FEATURES+CLASSIFIER`: features `raw`, `hog`, `daisy` (hand-crafted) or `cnn` (the
penultimate layer of a trained CNN), several joined by `+` for a combination, optionally `pcaN` to reduce
them to N principal components; the classifier is one of `classical.CLASSIFIERS`. The name `cnn` alone
is the CNN's own softmax head: the deep-learning-only pipeline. Examples: `hog+rbf_svm`,
`raw+pca50+knn`, `hog+cnn+logistic_regression`.

Every pipeline chooses its settings on the validation split and meets the test split once, at the end.
The result is a folder of kind "compare" (kind.json), locked while it is written::

    compare.json    the settings and the command line
    table.csv       one row per training size and pipeline (TABLE_COLUMNS)
    results.json    the settings, the notes, the rows with each one's validation scores and test confusion matrix
    report.html     the page (report/sections/compare.py), figures/ beside it; table.html, the table alone
    cnn/train<N>/   the run folders of CNNs trained on the spot (absent with --cnn RUN)

Folders written before kind.json kept the settings in config.json under "compare"; runs.folder_kind still
reads them as comparisons.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ..classical import CLASSIFIERS, FeatureCache, build_classifier, build_extractor, extract_features
from ..config import DataConfig, default_config
from ..data import Dataset, load_dataset
from ..errors import SynbiolabError
from ..io import atomic_write_csv, atomic_write_json
from ..models import MODELS
from ..report.sections.compare import write_compare_report
from ..runs import Run, open_run, start_folder
from ..train.job import train_recipe_cnn

FEATURE_NAMES = ("raw", "hog", "daisy", "cnn")
SOFTMAX_HEAD = "cnn"  # the pipeline name of the CNN's own classifier

DEFAULT_PIPELINES = (
    "raw+logistic_regression",
    "raw+linear_svm",
    "raw+pca50+knn",
    "hog+pca120+rbf_svm",
    "hog+linear_svm",
    "hog+pca120+knn",
    "hog+random_forest",
    "hog+decision_tree",
    "daisy+knn",
    "cnn",
    "cnn+logistic_regression",
    "hog+cnn+logistic_regression",
    "hog+cnn+pca120+rbf_svm",
)

# rbf_approximation='auto' keeps the exact kernel SVM while it stays affordable: a small training set,
# or vectors short enough (after PCA) that kernel evaluations are cheap. Measured on 2 busy cores: exact
# SVC on 60,000 HoG vectors reduced to 120 components fits in about 2.5 minutes.
EXACT_RBF_MAX_SAMPLES = 20000
EXACT_RBF_MAX_DIM = 256

QUICK_TRAIN_SIZE = 5000  # training images of the --quick preset on MNIST
# DAISY is the slowest extractor (about 1 ms per image): the --quick preset leaves it out unless asked for.
QUICK_PIPELINES = tuple(p for p in DEFAULT_PIPELINES if not p.startswith("daisy"))

TABLE_COLUMNS = [
    "train_size", "pipeline", "features", "classifier", "feature_dim", "chosen", "val_accuracy",
    "test_accuracy", "test_error", "train_seconds", "predict_seconds_per_1000",
]


# ---------------------------------------------------------------------------------------------------
# Pipeline names
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineSpec:
    """One pipeline parsed from its name.

    Attributes:
        name: the name as given, e.g. 'hog+cnn+logistic_regression'.
        features: feature sets concatenated in this order, e.g. ('hog', 'cnn').
        classifier: a key of CLASSIFIERS, or 'softmax' for the CNN's own head.
        pca_components: principal components kept before the classifier (None: no PCA).
    """

    name: str
    features: tuple[str, ...]
    classifier: str
    pca_components: int | None = None

    @property
    def uses_cnn(self) -> bool:
        return "cnn" in self.features

    @property
    def standardize(self) -> bool:
        # Concatenated features have unrelated scales (HoG in 0..0.2 after L2-Hys, CNN activations
        # unbounded), and CNN activations alone are not normalised either: scale each to unit variance.
        return len(self.features) > 1 or self.uses_cnn


def pipeline_help() -> str:
    """One line describing valid pipeline names."""
    return (
        f"valid: FEATURES+CLASSIFIER with features among {', '.join(FEATURE_NAMES)} (several joined by +, "
        f"optionally pcaN) and a classifier among {', '.join(CLASSIFIERS)}, or 'cnn' (the CNN's softmax "
        f"head); "
        f"defaults: {', '.join(DEFAULT_PIPELINES)}"
    )


def parse_pipeline(name: str) -> PipelineSpec:
    """Parse 'hog+rbf_svm', 'raw+pca50+knn', 'hog+cnn+logistic_regression' or 'cnn'.

    Raises:
        SynbiolabError: for an unknown feature or classifier, with the valid names.
    """
    text = name.strip()
    if text in (SOFTMAX_HEAD, "cnn+softmax"):
        return PipelineSpec(text, ("cnn",), "softmax")
    tokens = [t for t in text.split("+") if t]
    if len(tokens) < 2 or tokens[-1] not in CLASSIFIERS:
        raise SynbiolabError(f"unknown pipeline {name!r}; {pipeline_help()}")
    features: list[str] = []
    pca = None
    for token in tokens[:-1]:
        if token.startswith("pca") and token[3:].isdigit() and int(token[3:]) > 0:
            pca = int(token[3:])
        elif token in FEATURE_NAMES and token not in features:
            features.append(token)
        else:
            raise SynbiolabError(f"unknown pipeline {name!r} (at {token!r}); {pipeline_help()}")
    if not features:
        raise SynbiolabError(f"unknown pipeline {name!r} (no features); {pipeline_help()}")
    return PipelineSpec(text, tuple(features), tokens[-1], pca)


def parse_train_sizes(text: str | int | Sequence[int] | None) -> list[int | None]:
    """'100,1000,55000' -> [100, 1000, 55000]; None -> [None] (the whole training split)."""
    if text is None:
        return [None]
    if isinstance(text, int):
        values = [text]
    elif isinstance(text, str):
        try:
            values = [int(v) for v in text.replace(" ", "").split(",") if v]
        except ValueError:
            raise SynbiolabError(
                f"--train-size {text!r}: expected a number or a comma-separated list such as 100,1000,10000"
            ) from None
    else:
        values = [int(v) for v in text]
    if not values or min(values) < 1:
        raise SynbiolabError(f"--train-size {text!r}: sizes must be positive integers, e.g. 100,1000,10000")
    return sorted(set(values))


# ---------------------------------------------------------------------------------------------------
# Features of a data set
# ---------------------------------------------------------------------------------------------------


def pixels_0_to_1(x: torch.Tensor, info: dict) -> np.ndarray:
    """Undo the data set's normalisation: `(N, 1, H, W)` normalised -> `(N, H, W)` pixels in 0..1.

    Args:
        x: images as a Dataset holds them.
        info: the Dataset's info; `info['normalisation']` holds the mean and std that were applied.

    Returns:
        float64 array of pixel values in 0..1.
    """
    norm = info.get("normalisation") or {"mean": 0.0, "std": 1.0}
    pixels = x.detach().cpu().numpy().astype(np.float64)[:, 0] * norm["std"] + norm["mean"]
    return np.clip(pixels, 0.0, 1.0)  # float rounding of the round trip leaves values like -1e-8


@torch.no_grad()
def cnn_features(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2048) -> np.ndarray:
    """The penultimate representation `model.features(x)` in batches, eval mode: `(N, n_features)`."""
    model.eval()
    parts = [model.features(x[i : i + batch_size]).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy().astype(np.float32)


@torch.no_grad()
def cnn_logits(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 2048) -> np.ndarray:
    """The model's outputs for `x` in batches, eval mode."""
    model.eval()
    parts = [model(x[i : i + batch_size]).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy()


@dataclass
class FeatureStore:
    """Features per (name, split) for one data set, computed once and reused by every pipeline.

    Attributes:
        dataset: the data set (its images as the Dataset holds them, normalised).
        cache: the on-disk feature cache, or None.
        n_jobs: worker processes for extraction.
        model: the CNN whose `features(x)` are the 'cnn' features (None when no pipeline uses them).
    """

    dataset: Dataset
    cache: FeatureCache | None
    n_jobs: int
    model: torch.nn.Module | None = None
    arrays: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    seconds_per_1000: dict[str, float] = field(default_factory=dict)
    pixels: dict[str, np.ndarray] = field(default_factory=dict)

    def images(self, split: str) -> np.ndarray:
        if split not in self.pixels:
            self.pixels[split] = pixels_0_to_1(getattr(self.dataset, split).x, self.dataset.info)
        return self.pixels[split]

    def extractor(self, name: str):
        return build_extractor(name, tuple(self.dataset.input_shape[1:]))

    def get(self, name: str, split: str) -> np.ndarray:
        key = (name, split)
        if key not in self.arrays:
            if name == "cnn":
                self.arrays[key] = cnn_features(self.model, getattr(self.dataset, split).x)
            else:
                self.arrays[key] = extract_features(
                    self.extractor(name), self.images(split), n_jobs=self.n_jobs, cache=self.cache,
                    cache_name=self.dataset.name,
                )
        return self.arrays[key]

    def extraction_seconds_per_1000(self, name: str) -> float:
        """Time to compute these features for 1,000 test images in one process, without the cache."""
        if name not in self.seconds_per_1000:
            n_images = min(1000, len(self.dataset.test))
            start = time.perf_counter()
            if name == "cnn":
                cnn_features(self.model, self.dataset.test.x[:n_images])
            else:
                extract_features(self.extractor(name), self.images("test")[:n_images], n_jobs=1)
            self.seconds_per_1000[name] = (time.perf_counter() - start) * 1000 / max(n_images, 1)
        return self.seconds_per_1000[name]

    def matrix(self, spec: PipelineSpec, split: str) -> np.ndarray:
        return np.concatenate([self.get(name, split) for name in spec.features], axis=1)


# ---------------------------------------------------------------------------------------------------
# Running one pipeline
# ---------------------------------------------------------------------------------------------------


def resolve_rbf_approximation(rbf_approximation: str, n_train: int, dim: int) -> str:
    """'auto' -> 'exact' for small sets or short vectors, else 'nystroem'; other values unchanged."""
    if rbf_approximation != "auto":
        return rbf_approximation
    return "exact" if n_train <= EXACT_RBF_MAX_SAMPLES or dim <= EXACT_RBF_MAX_DIM else "nystroem"


def _grid_settings(classifier: str, rbf_approximation: str) -> list[dict]:
    grid = dict(CLASSIFIERS[classifier].grid)
    extra: dict[str, Any] = {}
    if classifier == "rbf_svm":
        extra["approximation"] = rbf_approximation
    keys = list(grid)
    return [{**dict(zip(keys, values, strict=True)), **extra} for values in product(*(grid[k] for k in keys))]


def _accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(predicted) == np.asarray(labels)).mean())


def _confusion(predicted: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def run_pipeline(spec: PipelineSpec, store: FeatureStore, *, cnn_seconds: float = 0.0,
                 rbf_approximation: str = "exact", seed: int = 0) -> dict:
    """Fit a pipeline for each setting of its grid, keep the best on validation, test it once.

    Args:
        spec: the parsed pipeline.
        store: features of the data set.
        cnn_seconds: training time of the CNN, counted in train_seconds of pipelines that use it.
        rbf_approximation: 'exact', 'nystroem' or 'auto' (see resolve_rbf_approximation) for rbf_svm.
        seed: random_state of the classifiers.

    Returns:
        A table row (dict) plus 'confusion' (the test confusion matrix) and 'val_scores'.
    """
    dataset = store.dataset
    y_train, y_val, y_test = (getattr(dataset, split).y.numpy() for split in ("train", "val", "test"))
    n_classes = len(dataset.class_names)
    row: dict[str, Any] = {"pipeline": spec.name, "features": "+".join(spec.features)}
    if spec.classifier == "softmax":
        val_pred = cnn_logits(store.model, dataset.val.x).argmax(1)
        start = time.perf_counter()
        test_pred = cnn_logits(store.model, dataset.test.x).argmax(1)  # the only look at the test split
        predict_seconds = time.perf_counter() - start
        row.update(classifier="softmax head (end-to-end CNN)", feature_dim=int(store.model.n_features)
                   if hasattr(store.model, "n_features") else store.get("cnn", "val").shape[1],
                   chosen="best validation epoch", val_accuracy=_accuracy(val_pred, y_val),
                   train_seconds=cnn_seconds, val_scores={})
        row["predict_seconds_per_1000"] = predict_seconds * 1000 / len(y_test)
    else:
        x_train, x_val = store.matrix(spec, "train"), store.matrix(spec, "val")
        best = None
        val_scores = {}
        # PCA cannot keep more components than there are training images or features (tiny sets).
        pca = min(spec.pca_components, *x_train.shape) if spec.pca_components else None
        dim = pca or x_train.shape[1]
        approximation = resolve_rbf_approximation(rbf_approximation, len(x_train), dim)
        for settings in _grid_settings(spec.classifier, approximation):
            blocks = tuple(store.get(name, "train").shape[1] for name in spec.features)
            model = build_classifier(spec.classifier, pca_components=pca,
                                     standardize=spec.standardize,
                                     feature_blocks=blocks if len(blocks) > 1 else None,
                                     random_state=seed, **settings)
            start = time.perf_counter()
            with warnings.catch_warnings():
                # A grid point that stops at its iteration limit is still a valid candidate: validation judges it.
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x_train, y_train)
            fit_seconds = time.perf_counter() - start
            score = _accuracy(model.predict(x_val), y_val)
            label = ", ".join(f"{k}={v}" for k, v in settings.items())
            val_scores[label] = score
            if best is None or score > best[0]:
                best = (score, label, model, fit_seconds)
        score, label, model, fit_seconds = best
        x_test = store.matrix(spec, "test")
        start = time.perf_counter()
        test_pred = model.predict(x_test)  # the only look at the test split
        predict_seconds = time.perf_counter() - start
        extraction = sum(store.extraction_seconds_per_1000(name) for name in spec.features)
        classifier_name = spec.classifier + (f" (PCA {pca})" if pca else "")
        if spec.standardize:
            classifier_name += ", standardised" + (" per block" if len(spec.features) > 1 else "")
        row.update(classifier=classifier_name, feature_dim=int(x_train.shape[1]), chosen=label or "defaults",
                   val_accuracy=score, train_seconds=fit_seconds + (cnn_seconds if spec.uses_cnn else 0.0),
                   val_scores=val_scores)
        row["predict_seconds_per_1000"] = extraction + predict_seconds * 1000 / len(y_test)
    row["test_accuracy"] = _accuracy(test_pred, y_test)
    row["test_error"] = 1.0 - row["test_accuracy"]
    row["confusion"] = _confusion(test_pred, y_test, n_classes)
    return row


# ---------------------------------------------------------------------------------------------------
# The CNN: from a run folder, or trained on the spot
# ---------------------------------------------------------------------------------------------------


def open_cnn_run(path: str | Path, dataset: Dataset) -> Run:
    """Open `--cnn RUN`: a train run of an image model with `features(x)`, on this data set and input shape.

    Returns:
        The Run.

    Raises:
        SynbiolabError: one line naming the run and what differs (another kind of folder, data set,
            input shape, task or model).
    """
    run = open_run(path, expect="train", verb="compare --cnn")
    spec = run.model_spec
    shape = tuple(spec.get("input_shape") or ())
    if spec.get("data") != dataset.name or shape != tuple(dataset.input_shape):
        raise SynbiolabError(
            f"--cnn {path}: the run was trained on '{spec.get('data')}' with input shape {shape}, but "
            f"this comparison uses '{dataset.name}' with input shape {tuple(dataset.input_shape)}; give a "
            f"run of the same data set"
        )
    if spec.get("kind") != "image" or spec.get("task") != dataset.task:
        raise SynbiolabError(f"--cnn {path}: the run is a {spec.get('task')} model; this comparison "
                             f"needs a {dataset.task} image model")
    model_class = MODELS[spec["name"]].cls if spec.get("name") in MODELS else None
    if model_class is None or not hasattr(model_class, "features"):
        raise SynbiolabError(f"--cnn {path}: model '{spec.get('name')}' has no features(x) to extract; "
                             f"give a run of the 'cnn' model")
    return run


def epochs_for_cnn(n_train: int, data: str) -> int:
    """Epochs of a CNN trained on the spot: its recipe's, or more for small sets (at least ~200 steps, at
    most 40 epochs), since a few hundred images give only a few steps per epoch."""
    recipe = default_config(data, "cnn").train
    steps_per_epoch = max(1, math.ceil(n_train / recipe.batch_size))
    return int(min(40, max(recipe.epochs, math.ceil(200 / steps_per_epoch))))


# ---------------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """The result of compare_pipelines: the folder and the table rows (one per size and pipeline)."""

    path: Path
    rows: list[dict]
    notes: list[str]

    @property
    def table(self):
        import pandas as pd

        return pd.DataFrame([{c: r.get(c) for c in TABLE_COLUMNS} for r in self.rows], columns=TABLE_COLUMNS)


def compare_pipelines(
    data: str = "mnist",
    *,
    pipelines: Sequence[str] | str | None = None,
    train_size: int | str | Sequence[int] | None = None,
    cnn_run: str | Path | None = None,
    quick: bool = False,
    out: str | Path | None = None,
    overwrite: bool = False,
    data_dir: str | None = None,
    cnn_epochs: int | None = None,
    rbf_approximation: str = "auto",
    cache: bool | str | Path = True,
    n_jobs: int = 2,
    seed: int = 0,
    verbose: bool = True,
) -> Comparison:
    """Run classical, learned and combined pipelines on one split and write a comparison folder.

    Args:
        data: a registered image data set ('mnist', 'digits').
        pipelines: names (list or comma-separated); None runs DEFAULT_PIPELINES.
        train_size: training images: one number, a list or '100,1000,10000' for the data-size view;
            None uses the whole training split (the --quick preset uses 5,000 on MNIST).
        cnn_run: a run folder of a CNN trained on the same data set; None trains one on the spot for
            each training size.
        quick: the quick preset: 5,000 MNIST training images unless train_size says otherwise, and
            QUICK_PIPELINES (all but DAISY) unless pipelines says otherwise.
        out: the comparison folder (default runs/compare-<data>-<time>).
        overwrite: replace an existing comparison folder.
        data_dir: folder holding mnist/ (default: $SYNBIOLAB_DATA, then the user cache).
        cnn_epochs: epochs of the CNN trained on the spot (default: its recipe, more for tiny sets).
        rbf_approximation: 'exact' (SVC), 'nystroem' (kernel approximation + linear SVM) or 'auto'
            (exact up to 20,000 training vectors or up to 256 dimensions, Nystroem beyond).
        cache: feature cache: True (user cache), False, or a folder.
        n_jobs: worker processes for feature extraction.
        seed: seed of the classifiers and of the CNN trained on the spot.
        verbose: print progress and the table.

    Returns:
        A Comparison with the folder path and the rows.
    """
    if quick and pipelines is None:
        pipelines = QUICK_PIPELINES
    specs = [parse_pipeline(name) for name in _as_list(pipelines)]
    sizes = parse_train_sizes(train_size)
    if quick and sizes == [None] and data == "mnist":
        sizes = [QUICK_TRAIN_SIZE]
    if rbf_approximation not in ("auto", "exact", "nystroem"):
        raise SynbiolabError(f"--rbf (rbf_approximation) {rbf_approximation!r} is unknown; valid: auto, "
                             f"exact, nystroem")
    feature_cache = None
    if cache is not False:
        feature_cache = FeatureCache() if cache is True else FeatureCache(Path(cache))
    full = load_dataset(DataConfig(name=data, data_dir=data_dir))
    if full.kind != "image" or full.task != "multiclass":
        raise SynbiolabError(f"compare works on multi-class image data sets (mnist, digits); '{data}' is "
                             f"{full.kind} {full.task}")
    n_pool = len(full.train)
    too_big = [size for size in sizes if size is not None and size > n_pool]
    if too_big:
        raise SynbiolabError(f"--train-size {too_big[0]}: '{data}' has {n_pool} training images after the "
                             f"validation split; valid: 1..{n_pool}")
    needs_cnn = any(spec.uses_cnn for spec in specs)
    # A given run is checked even when no chosen pipeline uses it: a wrong path should not pass silently.
    checked_run = open_cnn_run(cnn_run, full) if cnn_run is not None else None
    cnn = checked_run if needs_cnn else None

    default_out = Path("runs") / f"compare-{data}-{datetime.now():%Y%m%d-%H%M%S}"
    folder, lock = start_folder(out or default_out, "compare", overwrite)
    try:
        settings = {
            "data": data, "pipelines": [spec.name for spec in specs], "train_sizes": sizes,
            "cnn_run": str(cnn_run or ""),
            "quick": quick, "rbf_approximation": rbf_approximation, "seed": seed, "n_jobs": n_jobs,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "started": datetime.now().strftime("%Y-%m-%dT%H:%M:%S"),
        }
        atomic_write_json(folder / "compare.json", settings)
        rows: list[dict] = []
        notes: list[str] = []
        for size in sizes:
            data_config = DataConfig(name=data, data_dir=data_dir, train_size=size)
            dataset = full if size is None else load_dataset(data_config)
            n_train = len(dataset.train)
            store = FeatureStore(dataset, feature_cache, n_jobs)
            cnn_seconds = 0.0
            if needs_cnn and cnn is not None:
                store.model = cnn.load_model()
                cnn_seconds = float(cnn.metrics.get("train_seconds", 0.0))
                trained_on = cnn.metrics.get("n_train", "?")
                notes.append(f"train size {n_train}: CNN features from {cnn.path} (trained on {trained_on} "
                             f"images, {cnn_seconds:.1f} s); its training set may differ from this one")
            elif needs_cnn:
                _say(verbose, f"train size {n_train}: training the CNN on the spot")
                where = Path("cnn") / f"train{n_train}"
                cnn_trained = train_recipe_cnn(dataset, data_config, folder / where,
                                               epochs=cnn_epochs or epochs_for_cnn(n_train, data), seed=seed)
                store.model = cnn_trained.load_model()
                cnn_seconds = float(cnn_trained.metrics["train_seconds"])
                notes.append(f"train size {n_train}: CNN trained on the spot ({where}, {cnn_seconds:.1f} s)")
            for spec in specs:
                start = time.perf_counter()
                row = run_pipeline(spec, store, cnn_seconds=cnn_seconds, rbf_approximation=rbf_approximation,
                                   seed=seed)
                row["train_size"] = n_train
                if spec.classifier == "rbf_svm":
                    notes.append(_rbf_note(n_train, spec.name, row["chosen"]))
                rows.append(row)
                _say(verbose, f"train {n_train:>6}  {spec.name:<32} val {row['val_accuracy']:.4f}  test "
                              f"{row['test_accuracy']:.4f}  fit {row['train_seconds']:7.1f} s  "
                              f"({time.perf_counter() - start:.1f} s in all)")
        notes.extend(_combined_vs_cnn(rows))
        comparison = Comparison(folder, rows, notes)
        # The pictures of features show the last (largest) training size's data set and CNN.
        write_comparison(comparison, store, settings)
    finally:
        lock.release()
    if verbose:
        for note in notes:
            _say(True, note)
        _say(True, f"report: {folder / 'report.html'}")
    return comparison


def _as_list(pipelines: Sequence[str] | str | None) -> list[str]:
    if pipelines is None:
        return list(DEFAULT_PIPELINES)
    if isinstance(pipelines, str):
        pipelines = pipelines.split(",")
    names = [p.strip() for p in pipelines if p and p.strip()]
    if not names:
        raise SynbiolabError(f"no pipeline given; {pipeline_help()}")
    return list(dict.fromkeys(names))


def _rbf_note(n_train: int, pipeline: str, chosen: str) -> str:
    if "approximation=exact" in chosen:
        return f"train size {n_train}: {pipeline} is an exact kernel SVM (scikit-learn SVC) on all {n_train}"
    return (f"train size {n_train}: {pipeline} is APPROXIMATE: a Nystroem kernel map (2,000 landmarks) and "
            f"a linear SVM, because an exact SVM on {n_train} long vectors is slow; --rbf exact forces it")


def _combined_vs_cnn(rows: list[dict]) -> list[str]:
    """Say plainly, per training size, whether the best combination beats the CNN alone."""
    notes = []
    for size in sorted({r["train_size"] for r in rows}):
        at_size = [r for r in rows if r["train_size"] == size]
        cnn = [r for r in at_size if r["classifier"].startswith("softmax")]
        combined = [r for r in at_size if "+" in r["features"] and "cnn" in r["features"]]
        if not cnn or not combined:
            continue
        best = max(combined, key=lambda r: r["val_accuracy"])  # chosen on validation, not on test
        difference = best["test_accuracy"] - cnn[0]["test_accuracy"]
        verdict = "at least as accurate as" if difference >= 0 else "NOT as accurate as"
        notes.append(f"train size {size}: the combined pipeline {best['pipeline']} (test "
                     f"{best['test_accuracy']:.4f}) is {verdict} the CNN alone (test "
                     f"{cnn[0]['test_accuracy']:.4f}), difference {difference:+.4f}")
    return notes


def _say(verbose: bool, text: str) -> None:
    if verbose:
        print(text, flush=True)


def write_comparison(comparison: Comparison, store: FeatureStore, settings: dict) -> None:
    """Write table.csv and results.json, then the pages (report.html, table.html) with their figures.

    Args:
        comparison: the folder, the rows and the notes.
        store: features of the largest training size: its test images and CNN are drawn.
        settings: what compare.json holds, shown on the page.
    """
    folder, rows = comparison.path, comparison.rows
    display = [{column: row.get(column) for column in TABLE_COLUMNS} for row in rows]
    atomic_write_csv(folder / "table.csv", display, TABLE_COLUMNS)
    atomic_write_json(folder / "results.json", {
        "settings": settings, "notes": comparison.notes,
        "rows": [{**shown, "val_scores": row.get("val_scores", {}), "confusion": row["confusion"].tolist()}
                 for shown, row in zip(display, rows, strict=True)],
    })
    dataset = store.dataset
    write_compare_report(folder, rows, TABLE_COLUMNS, comparison.notes, settings,
                         class_names=dataset.class_names, test_images=store.images("test"),
                         test_x=dataset.test.x, test_labels=dataset.test.y.numpy(), model=store.model)
