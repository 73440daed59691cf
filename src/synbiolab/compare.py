"""Classical, learned and combined pipelines side by side, on the same split.

A pipeline is named `FEATURES+CLASSIFIER`: features `raw`, `hog`, `daisy` (hand-crafted) or `cnn` (the
penultimate layer of a trained CNN), several joined by `+` for a combination, optionally `pcaN` to reduce
them to N principal components; the classifier is one of `classical.CLASSIFIERS`. The name `cnn` alone
is the CNN's own softmax head: the deep-learning-only pipeline. Examples: `hog+rbf_svm`,
`raw+pca50+knn`, `hog+cnn+logistic_regression`.

Every pipeline chooses its settings on the validation split and meets the test split once, at the end.
The result is a run-style folder: table.csv, table.html, report.html with figures/ beside it, and
results.json with the confusion matrices.
"""

from __future__ import annotations

import html
import json
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

from .classical import (
    CLASSIFIERS,
    FeatureCache,
    HogFeatures,
    build_classifier,
    build_extractor,
    extract_features,
)
from .errors import SynbiolabError

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
class _FeatureStore:
    """Features per (name, split) for one data set, computed once and reused by every pipeline."""

    dataset: Any
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
            n = min(1000, len(self.dataset.test))
            start = time.perf_counter()
            if name == "cnn":
                cnn_features(self.model, self.dataset.test.x[:n])
            else:
                extract_features(self.extractor(name), self.images("test")[:n], n_jobs=1)
            self.seconds_per_1000[name] = (time.perf_counter() - start) * 1000 / max(n, 1)
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


def run_pipeline(spec: PipelineSpec, store: _FeatureStore, *, cnn_seconds: float = 0.0,
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
    ds = store.dataset
    y_train, y_val, y_test = (getattr(ds, s).y.numpy() for s in ("train", "val", "test"))
    n_classes = len(ds.class_names)
    row: dict[str, Any] = {"pipeline": spec.name, "features": "+".join(spec.features)}
    if spec.classifier == "softmax":
        val_pred = cnn_logits(store.model, ds.val.x).argmax(1)
        start = time.perf_counter()
        test_pred = cnn_logits(store.model, ds.test.x).argmax(1)  # the only look at the test split
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


def check_cnn_run(run_path: str | Path, dataset) -> Any:
    """Open `--cnn RUN` and check it was trained on this data set with this input shape.

    Returns:
        The Run.

    Raises:
        SynbiolabError: one line naming the run and what differs.
    """
    from .runs import load_run

    run = load_run(run_path)
    spec = run.model_spec
    shape = tuple(spec.get("input_shape") or ())
    if spec.get("data") != dataset.name or shape != tuple(dataset.input_shape):
        raise SynbiolabError(
            f"--cnn {run_path}: the run was trained on '{spec.get('data')}' with input shape {shape}, but "
            f"this comparison uses '{dataset.name}' with input shape {tuple(dataset.input_shape)}; give a "
            f"run of the same data set"
        )
    if spec.get("kind") != "image" or spec.get("task") != dataset.task:
        raise SynbiolabError(f"--cnn {run_path}: the run is a {spec.get('task')} model; this comparison "
                             f"needs a {dataset.task} image model")
    from .models import MODELS

    model_class = MODELS[spec["name"]].cls if spec.get("name") in MODELS else None
    if model_class is None or not hasattr(model_class, "features"):
        raise SynbiolabError(f"--cnn {run_path}: model '{spec.get('name')}' has no features(x) to extract; "
                             f"give a run of the 'cnn' model")
    return run


def _cnn_epochs(n_train: int, batch_size: int, recipe_epochs: int) -> int:
    # Small training sets give few steps per epoch: train for at least ~200 steps, at most 40 epochs.
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    return int(min(40, max(recipe_epochs, math.ceil(200 / steps_per_epoch))))


def train_cnn(dataset, folder: Path, *, epochs: int | None = None, seed: int = 0, verbose: bool = True):
    """Train the registered 'cnn' on the spot with its recipe, into a run folder inside the comparison.

    Returns:
        (model, training seconds, run path).
    """
    from .train import default_config, train

    config = default_config(dataset.name, "cnn")
    config.train.epochs = epochs or _cnn_epochs(len(dataset.train), config.train.batch_size,
                                                config.train.epochs)
    config.train.seed = seed
    config.train.progress = False
    config.train.train_eval_size = 2000  # the per-epoch training error needs no more; it is not compared
    config.train.device = "cpu" if not torch.cuda.is_available() else config.train.device
    run = train(config, out=folder, overwrite=True, verbose=verbose, dataset=dataset)
    return run.load_model(), float(run.metrics["train_seconds"]), run.path


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
    from .data import load_dataset
    from .runs import atomic_write_json, prepare_run_dir

    if quick and pipelines is None:
        pipelines = QUICK_PIPELINES
    specs = [parse_pipeline(p) for p in _as_list(pipelines)]
    sizes = parse_train_sizes(train_size)
    if quick and sizes == [None] and data == "mnist":
        sizes = [QUICK_TRAIN_SIZE]
    if rbf_approximation not in ("auto", "exact", "nystroem"):
        raise SynbiolabError(f"--rbf (rbf_approximation) {rbf_approximation!r} is unknown; valid: auto, "
                             f"exact, nystroem")
    feature_cache = None
    if cache is not False:
        feature_cache = FeatureCache() if cache is True else FeatureCache(Path(cache))
    overrides = {"data_dir": data_dir} if data_dir else {}
    full = load_dataset(data, **overrides)
    if full.kind != "image" or full.task != "multiclass":
        raise SynbiolabError(f"compare works on multi-class image data sets (mnist, digits); '{data}' is "
                             f"{full.kind} {full.task}")
    n_pool = len(full.train)
    too_big = [s for s in sizes if s is not None and s > n_pool]
    if too_big:
        raise SynbiolabError(f"--train-size {too_big[0]}: '{data}' has {n_pool} training images after the "
                             f"validation split; valid: 1..{n_pool}")
    needs_cnn = any(s.uses_cnn for s in specs)
    # A given run is checked even when no chosen pipeline uses it: a wrong path should not pass silently.
    checked_run = check_cnn_run(cnn_run, full) if cnn_run is not None else None
    cnn = checked_run if needs_cnn else None

    default_out = Path("runs") / f"compare-{data}-{datetime.now():%Y%m%d-%H%M%S}"
    folder = prepare_run_dir(out or default_out, overwrite, kind="compare")
    settings = {
        "data": data, "pipelines": [s.name for s in specs], "train_sizes": sizes,
        "cnn_run": str(cnn_run or ""),
        "quick": quick, "rbf_approximation": rbf_approximation, "seed": seed, "n_jobs": n_jobs,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started": datetime.now().strftime("%Y-%m-%dT%H:%M:%S"),
    }
    atomic_write_json(folder / "config.json", {"compare": settings})

    rows: list[dict] = []
    notes: list[str] = []
    examples = None
    for size in sizes:
        dataset = full if size is None else load_dataset(data, train_size=size, **overrides)
        n_train = len(dataset.train)
        store = _FeatureStore(dataset, feature_cache, n_jobs)
        cnn_seconds = 0.0
        if needs_cnn:
            if cnn is not None:
                store.model = cnn.load_model()
                cnn_seconds = float(cnn.metrics.get("train_seconds", 0.0))
                trained_on = cnn.metrics.get("n_train", "?")
                notes.append(f"train size {n_train}: CNN features from {cnn.path} (trained on {trained_on} "
                             f"images, {cnn_seconds:.1f} s); its training set may differ from this one")
            else:
                _say(verbose, f"train size {n_train}: training the CNN on the spot")
                store.model, cnn_seconds, cnn_path = train_cnn(
                    dataset, folder / "cnn" / f"train{n_train}", epochs=cnn_epochs, seed=seed, verbose=False
                )
                where = cnn_path.relative_to(folder)
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
        examples = (dataset, store)
    notes.extend(_combined_vs_cnn(rows))

    comparison = Comparison(folder, rows, notes)
    write_comparison(comparison, examples, settings)
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


# ---------------------------------------------------------------------------------------------------
# The folder: table, figures, report
# ---------------------------------------------------------------------------------------------------


def write_comparison(comparison: Comparison, examples, settings: dict) -> None:
    """Write table.csv, table.html, results.json, figures/*.png and report.html."""
    from .report import STYLE, save_figure, table
    from .runs import atomic_write_csv, atomic_write_json, atomic_write_text

    folder, rows = comparison.path, comparison.rows
    display = [{c: r.get(c) for c in TABLE_COLUMNS} for r in rows]
    atomic_write_csv(folder / "table.csv", display, TABLE_COLUMNS)
    table_html = table(display, TABLE_COLUMNS)
    head = f"<!doctype html><html><head><meta charset='utf-8'><style>{STYLE}</style></head>"
    atomic_write_text(folder / "table.html", f"{head}<body>{table_html}</body></html>")
    atomic_write_json(folder / "results.json", {
        "settings": settings, "notes": comparison.notes,
        "rows": [{**{c: r.get(c) for c in TABLE_COLUMNS}, "val_scores": r.get("val_scores", {}),
                  "confusion": r["confusion"].tolist()} for r in rows],
    })

    largest = max(r["train_size"] for r in rows)
    final = [r for r in rows if r["train_size"] == largest]
    dataset, store = examples
    figures = [
        ("test error of each pipeline", save_figure(error_bar_figure(final, largest), folder, "test_error")),
        ("accuracy against training time", save_figure(accuracy_time_figure(final, largest), folder,
                                                       "accuracy_vs_time")),
        ("confusion matrices (test)", save_figure(confusion_grid_figure(final, dataset.class_names), folder,
                                                  "confusion_matrices")),
    ]
    if len({r["train_size"] for r in rows}) > 1:
        figures.append(("where hand-crafted and learned features win", save_figure(
            data_size_figure(rows), folder, "data_size")))
    if any("hog" in r["features"] for r in rows):
        figures.append(("hand-crafted vs learned features", save_figure(
            features_figure(store), folder, "hog_vs_cnn_filters")))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in comparison.notes)
    body = (
        f"<h1>Pipelines compared on {html.escape(str(settings['data']))}</h1>"
        f"<p>Each pipeline picks its settings on the validation split and sees the test split once. "
        f"train_seconds is the classifier's fit (plus the CNN's training where CNN features are used); "
        f"predict_seconds_per_1000 includes computing the features of 1,000 images in one process.</p>"
        f"<ul>{notes}</ul>{table_html}"
        + "".join(f"<h2>{html.escape(title)}</h2>{tag}" for title, tag in figures)
        + f"<h2>settings</h2><pre>{html.escape(json.dumps(settings, indent=2))}</pre>"
    )
    atomic_write_text(folder / "report.html", f"<!doctype html><html><head><meta charset='utf-8'><title>"
                                              f"synbiolab compare</title><style>{STYLE}</style></head>"
                                              f"<body>{body}</body></html>")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(row: dict) -> str:
    if row["classifier"].startswith("softmax"):
        return "tab:red"  # deep learning only
    if "cnn" in row["features"]:
        return "tab:purple" if "+" in row["features"] else "tab:orange"  # combined / learned features
    return "tab:blue"  # hand-crafted features


def error_bar_figure(rows: list[dict], train_size: int):
    """Horizontal bars of test error, best at the top, coloured by kind of pipeline."""
    plt = _plt()
    ordered = sorted(rows, key=lambda r: r["test_error"], reverse=True)
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
    bars = ax.barh([r["pipeline"] for r in ordered], [100 * r["test_error"] for r in ordered],
                   color=[_colour(r) for r in ordered])
    for bar, r in zip(bars, ordered, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {100 * r['test_error']:.2f} %",
                va="center", fontsize=8)
    ax.set_xlabel("test error (%)")
    ax.set_title(f"test error, {train_size:,} training images (blue hand-crafted, orange learned, "
                 f"purple combined, red CNN)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def accuracy_time_figure(rows: list[dict], train_size: int):
    """Test accuracy against training seconds (log scale)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        seconds = max(r["train_seconds"], 1e-3)
        ax.scatter(seconds, 100 * r["test_accuracy"], color=_colour(r), s=30)
        ax.annotate(r["pipeline"], (seconds, 100 * r["test_accuracy"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("training seconds (log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"accuracy against training time, {train_size:,} training images", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def confusion_grid_figure(rows: list[dict], class_names: list[str]):
    """One small confusion matrix per pipeline (rows true, columns predicted), counts in the cells."""
    plt = _plt()
    n = len(rows)
    n_cols = min(4, n)
    n_rows = math.ceil(n / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.3 * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, r in zip(axes.ravel(), rows, strict=False):
        matrix = r["confusion"]
        ax.axis("on")
        ax.imshow(np.log1p(matrix), cmap="Blues")
        if len(class_names) <= 10:
            for i, j in product(range(len(class_names)), repeat=2):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=5,
                            color="white" if matrix[i, j] > matrix.max() / 2 else "black")
        ax.set_xticks(range(len(class_names)), class_names, fontsize=6)
        ax.set_yticks(range(len(class_names)), class_names, fontsize=6)
        ax.set_title(f"{r['pipeline']}\n{100 * r['test_accuracy']:.2f} %", fontsize=7)
    fig.tight_layout()
    return fig


def data_size_figure(rows: list[dict]):
    """Test error against training-set size, one line per pipeline (log-log)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    markers = "osv^D<>pPX*h"  # lines of one colour (one kind of features) stay tellable apart
    for index, name in enumerate(dict.fromkeys(r["pipeline"] for r in rows)):
        points = sorted((r["train_size"], r["test_error"], _colour(r)) for r in rows if r["pipeline"] == name)
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


def features_figure(store: _FeatureStore, n_digits: int = 4, n_filters: int = 6):
    """A few test digits: the image, its HoG cells, and the responses of first-layer CNN filters.

    The top row shows the filters themselves, so that the strokes each one responds to can be read
    next to the oriented-gradient histograms that an expert chose.
    """
    plt = _plt()
    ds = store.dataset
    images = store.images("test")
    labels = ds.test.y.numpy()
    # One example each of the first few classes, so different shapes appear.
    picks = [int(np.flatnonzero(labels == c)[0]) for c in range(min(n_digits, len(ds.class_names)))
             if np.any(labels == c)]
    hog = HogFeatures.for_image_shape(images.shape[1:])
    conv = first_conv_layer(store.model) if store.model is not None else None
    n_filters = min(n_filters, conv.out_channels) if conv is not None else 0
    activations = None
    if conv is not None:
        captured = {}
        handle = conv.register_forward_hook(lambda _m, _i, out: captured.setdefault("out", out.detach()))
        with torch.no_grad():
            store.model.eval()
            store.model(ds.test.x[picks])
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
        row[0].set_title(f"digit {ds.class_names[labels[index]]}", fontsize=7)
        _, picture = hog.cell_histograms(images[index])
        row[1].imshow(picture, cmap="magma")
        row[1].set_title(f"HoG {hog.pixels_per_cell[0]}x{hog.pixels_per_cell[1]} cells", fontsize=7)
        for j in range(n_filters):
            row[2 + j].imshow(activations[i, j], cmap="viridis")
            if i == 0 and conv is None:
                row[2 + j].set_title(f"filter {j}", fontsize=7)
    fig.suptitle("hand-crafted (HoG) vs learned (first-layer CNN filters and their activations)", fontsize=9)
    fig.tight_layout()
    return fig
