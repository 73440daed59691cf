"""Classical, learned and combined pipelines side by side, on the same split (``synbiolab compare``).

Pipelines are named `FEATURES+CLASSIFIER` (``pipelines.py``), e.g. `hog+pca120+rbf_svm`, `raw+pca50+knn`,
`hog+cnn+logistic_regression`, or `cnn` for the CNN alone. Every pipeline chooses its settings on the
validation split and meets the test split once, at the end. The result is a folder of kind "compare"
(kind.json), locked while it is written::

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..classical import FeatureCache
from ..config import DataConfig, default_config
from ..data import Dataset, load_dataset
from ..errors import SynbiolabError
from ..io import atomic_write_csv, atomic_write_json
from ..models import MODELS
from ..report.sections.compare import write_compare_report
from ..runs import Run, open_run, start_folder
from ..train.job import train_recipe_cnn
from .pipelines import DEFAULT_PIPELINES, FeatureStore, parse_pipeline, pipeline_help, run_pipeline

QUICK_TRAIN_SIZE = 5000  # training images of the --quick preset on MNIST
# DAISY is the slowest extractor (about 1 ms per image): the --quick preset leaves it out unless asked for.
QUICK_PIPELINES = tuple(p for p in DEFAULT_PIPELINES if not p.startswith("daisy"))

TABLE_COLUMNS = [
    "train_size", "pipeline", "features", "classifier", "feature_dim", "chosen", "val_accuracy",
    "test_accuracy", "test_error", "train_seconds", "predict_seconds_per_1000",
]


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
                                               epochs=cnn_epochs or epochs_for_cnn(n_train, data), seed=seed,
                                               train_eval_size=2000)
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
