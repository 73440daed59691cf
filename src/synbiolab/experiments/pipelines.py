"""One pipeline of a comparison: its name, the features it reads, and its fit on one split.

A pipeline is named `FEATURES+CLASSIFIER`: features `raw`, `hog`, `daisy` (hand-crafted) or `cnn` (the
penultimate layer of a trained CNN), several joined by `+` for a combination, optionally `pcaN` to reduce
them to N principal components; the classifier is one of `classical.CLASSIFIERS`. The name `cnn` alone
is the CNN's own softmax head: the deep-learning-only pipeline. Examples: `hog+rbf_svm`,
`raw+pca50+knn`, `hog+cnn+logistic_regression`.

`run_pipeline` fits every setting of the classifier's small grid on the training split, keeps the best on
the validation split and predicts the test split once. A `FeatureStore` computes each feature set of a
data set once (through the feature cache) for every pipeline that reads it. ``compare.py`` runs many
pipelines and writes the folder.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ..classical import CLASSIFIERS, FeatureCache, build_classifier, build_extractor, extract_features
from ..data import Dataset
from ..errors import SynbiolabError

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
