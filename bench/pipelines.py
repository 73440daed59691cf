"""Pipelines benchmark: the numbers that classical, learned and combined features must reach on MNIST.

Prints, measured in this one run (nothing is asserted; these machines are noisy and often shared, so
the load average is printed next to every timing):
  1. HoG extraction for all 70,000 images on 2 worker processes (target <= 30 s), against scikit-image's
     own `hog` called image by image on a subsample (the same numbers, checked here too).
  2. Raw pixels + a linear classifier on the 60,000 training images (LeCun's table: 91-93 %).
  3. HoG + RBF SVM: exact kernel SVM on HoG reduced to 120 principal components, trained on all 60,000
     training images (targets >= 98.5 % test accuracy, <= 5 minutes of training); --quick trains on a
     10,000-image subsample and says so.
  4. One `compare` run: --quick runs the 5,000-image preset (target <= 2 minutes); the full preset runs
     every default pipeline on the whole training split (target <= 15 minutes) and states whether the
     combined pipeline is at least as accurate as the CNN alone.

Usage: python bench/pipelines.py [--quick] [--data-dir DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from skimage.feature import hog
from sklearn.decomposition import PCA
from sklearn.svm import SVC

from synbiolab.classical import HogFeatures, build_classifier, extract_features
from synbiolab.data.images import load_mnist_arrays
from synbiolab.experiments.compare import compare_pipelines


def line(text: str) -> None:
    print(text, flush=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"(load average {one:.1f} / {five:.1f} on {os.cpu_count()} cores)"


def hog_speed(images: np.ndarray) -> np.ndarray:
    extractor = HogFeatures()
    start = time.perf_counter()
    features = extract_features(extractor, images, n_jobs=2, cache=False)
    seconds = time.perf_counter() - start
    line(f"HoG extraction, {len(images):,} images {images.shape[1]}x{images.shape[2]}, 2 processes: "
         f"{seconds:.1f} s (target <= 30 s), {features.shape[1]} features (7x7 + 4x4 cells) {load()}")
    # scikit-image image by image, one process, on a subsample: the reference for speed and for the values.
    sample = images[:2000]
    start = time.perf_counter()
    reference = np.stack([np.concatenate([hog(image, pixels_per_cell=cell, cells_per_block=(2, 2))
                                          for cell in extractor.cell_sizes]) for image in sample])
    reference_seconds = (time.perf_counter() - start) * len(images) / len(sample)
    start = time.perf_counter()
    ours = extract_features(extractor, sample, n_jobs=1, cache=False)
    ours_seconds = (time.perf_counter() - start) * len(images) / len(sample)
    line(f"  one process, extrapolated to {len(images):,}: batched {ours_seconds:.1f} s, scikit-image per image "
         f"{reference_seconds:.1f} s, ratio {reference_seconds / ours_seconds:.1f}x; largest difference "
         f"{np.abs(ours - reference).max():.1e}")
    return features


def raw_linear(train_images, train_labels, test_images, test_labels) -> None:
    x_train = train_images.reshape(len(train_images), -1)
    x_test = test_images.reshape(len(test_images), -1)
    for name, params in (("logistic_regression", {"C": 0.1}), ("linear_svm", {"alpha": 1e-5})):
        model = build_classifier(name, **params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SGD linear SVM stops at its pass limit by design
            model.fit(x_train, train_labels)
        seconds = time.perf_counter() - start
        accuracy = (model.predict(x_test) == test_labels).mean()
        line(f"raw pixels + {name} ({params}), {len(x_train):,} training images: test accuracy "
             f"{100 * accuracy:.2f} % (LeCun's linear classifiers: 91-93 %), {seconds:.1f} s {load()}")


def hog_rbf_svm(features, train_labels, test_labels, n_train_images: int, subsample: int | None) -> None:
    train, test = features[:n_train_images], features[n_train_images:]
    labels = train_labels
    what = f"all {len(train):,}"
    if subsample:
        keep = np.random.default_rng(0).permutation(len(train))[:subsample]
        train, labels = train[keep], train_labels[keep]
        what = f"a SUBSAMPLE of {subsample:,} (--quick)"
    start = time.perf_counter()
    pca = PCA(120, random_state=0).fit(train)
    svm = SVC(C=10.0, gamma="scale", cache_size=1000).fit(pca.transform(train), labels)
    seconds = time.perf_counter() - start
    accuracy = (svm.predict(pca.transform(test)) == test_labels).mean()
    line(f"HoG + PCA(120) + exact RBF SVM (C=10), trained on {what} training images: test accuracy "
         f"{100 * accuracy:.2f} % (target >= 98.5 %), training {seconds:.1f} s (target <= 300 s), "
         f"{svm.n_support_.sum():,} support vectors {load()}")


def compare_run(quick: bool, data_dir: str | None, out: Path) -> None:
    start = time.perf_counter()
    comparison = compare_pipelines("mnist", quick=quick, data_dir=data_dir, out=out, overwrite=True,
                                   cache=False, verbose=False)
    seconds = time.perf_counter() - start
    preset = "--quick (5,000 training images)" if quick else "full (the whole training split)"
    target = 120 if quick else 900
    line(f"compare {preset}: {len(comparison.rows)} pipelines in {seconds:.0f} s (target <= {target} s), "
         f"no feature cache {load()}")
    for row in comparison.rows:
        line(f"  {row['pipeline']:<30} dim {row['feature_dim']:>5}  test {100 * row['test_accuracy']:6.2f} %  "
             f"train {row['train_seconds']:7.1f} s  predict {row['predict_seconds_per_1000']:6.3f} s/1000  "
             f"[{row['chosen']}]")
    for note in comparison.notes:
        line(f"  {note}")
    line(f"  folder: {comparison.path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="subsample the SVM, run compare --quick")
    parser.add_argument("--data-dir", default=None, help="folder holding mnist/ (default $SYNBIOLAB_DATA)")
    parser.add_argument("--out", default=None, help="keep the comparison folder here")
    parser.add_argument("--skip-compare", action="store_true", help="only the feature and SVM numbers")
    args = parser.parse_args()

    arrays = load_mnist_arrays(args.data_dir, download_ok=False)
    train_images = arrays["train_images"].astype(np.float64) / 255.0
    test_images = arrays["test_images"].astype(np.float64) / 255.0
    train_labels = arrays["train_labels"].astype(np.int64)
    test_labels = arrays["test_labels"].astype(np.int64)
    line(f"MNIST: {len(train_images):,} training and {len(test_images):,} test images {load()}")

    features = hog_speed(np.concatenate([train_images, test_images]))
    raw_linear(train_images, train_labels, test_images, test_labels)
    hog_rbf_svm(features, train_labels, test_labels, len(train_images), 10000 if args.quick else None)
    if not args.skip_compare:
        if args.out:
            compare_run(args.quick, args.data_dir, Path(args.out))
        else:
            with TemporaryDirectory() as folder:
                compare_run(args.quick, args.data_dir, Path(folder) / "compare")


if __name__ == "__main__":
    main()
