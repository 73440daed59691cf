"""The classical pipeline: hand-crafted features and scikit-learn classifiers.

Experts choose the features (raw pixels, histograms of oriented gradients, DAISY descriptors), then a
classifier learns from them. Extraction works on numpy arrays of grey images `(N, H, W)` with values
in 0..1, runs in batches over worker processes, and can be cached on disk so that a comparison run
pays for each feature set once.

Typical use:

    extractor = HogFeatures()                               # 28x28 defaults: 7x7 cells, 2x2 blocks
    train_features = extract_features(extractor, train_images, cache=True, cache_name="mnist")
    classifier = build_classifier("rbf_svm").fit(train_features, train_labels)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC
from sklearn.tree import DecisionTreeClassifier

from .errors import SynbiolabError

# Bumped whenever an extractor's output changes for the same settings, so stale cache files are ignored.
FEATURE_VERSION = 1


# ---------------------------------------------------------------------------------------------------
# Image batches
# ---------------------------------------------------------------------------------------------------


def as_image_batch(images: Any) -> np.ndarray:
    """Turn images into a float64 array `(N, H, W)`, the layout every extractor reads.

    Args:
        images: an array or tensor `(N, H, W)` or `(N, 1, H, W)` of grey images, values in 0..1.

    Returns:
        A C-contiguous float64 array `(N, H, W)`.
    """
    if hasattr(images, "detach"):  # a torch tensor: leave torch out of this module's dependencies
        images = images.detach().cpu().numpy()
    array = np.asarray(images)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]  # (N, 1, H, W) -> (N, H, W)
    if array.ndim != 3:
        raise SynbiolabError(
            f"images: expected shape (N, H, W) or (N, 1, H, W) of grey images, got {tuple(array.shape)}"
        )
    return np.ascontiguousarray(array, dtype=np.float64)


# ---------------------------------------------------------------------------------------------------
# Feature extractors
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawPixels:
    """The pixels themselves, flattened: the baseline every hand-crafted feature must beat."""

    name: ClassVar[str] = "raw"

    def transform_batch(self, images: np.ndarray) -> np.ndarray:
        """Flatten a batch `(B, H, W) -> (B, H*W)`."""
        return images.reshape(len(images), -1).astype(np.float32)

    def output_dim(self, image_shape: tuple[int, int]) -> int:
        """Length of one feature vector for images of `image_shape`."""
        return int(image_shape[0] * image_shape[1])

    def settings(self) -> dict:
        """Everything that determines the output, used as the cache key."""
        return {"name": self.name}


@dataclass(frozen=True)
class HogFeatures:
    """Histograms of oriented gradients, computed by scikit-image's `hog` image by image.

    The defaults suit 28x28 digits: 7x7-pixel cells give a 4x4 grid that sees strokes rather than
    pixel noise, and 2x2-cell blocks (L2-Hys normalised) give 3x3 blocks of 36 values: 324 features.
    For other sizes use `HogFeatures.for_image_shape`.

    Args:
        orientations: number of orientation bins over 0..180 degrees.
        pixels_per_cell: cell size in pixels (rows, columns).
        cells_per_block: block size in cells (rows, columns); each block is normalised on its own.
        block_norm: scikit-image's block normalisation: 'L1', 'L1-sqrt', 'L2' or 'L2-Hys'.
        transform_sqrt: apply a square-root (gamma) compression to the image first.
    """

    orientations: int = 9
    pixels_per_cell: tuple[int, int] = (7, 7)
    cells_per_block: tuple[int, int] = (2, 2)
    block_norm: str = "L2-Hys"
    transform_sqrt: bool = False

    name: ClassVar[str] = "hog"
    BLOCK_NORMS: ClassVar[tuple[str, ...]] = ("L1", "L1-sqrt", "L2", "L2-Hys")

    def __post_init__(self) -> None:
        # Lists from JSON or the command line become tuples, so settings hash the same either way.
        object.__setattr__(self, "pixels_per_cell", _pair(self.pixels_per_cell, "hog.pixels_per_cell"))
        object.__setattr__(self, "cells_per_block", _pair(self.cells_per_block, "hog.cells_per_block"))
        if self.block_norm not in self.BLOCK_NORMS:
            raise SynbiolabError(
                f"hog.block_norm: {self.block_norm!r} is not one of {list(self.BLOCK_NORMS)}"
            )
        if self.orientations < 1:
            raise SynbiolabError(f"hog.orientations: must be >= 1, got {self.orientations}")

    @classmethod
    def for_image_shape(cls, image_shape: tuple[int, int], **overrides: Any) -> HogFeatures:
        """HoG settings scaled to an image size: a 4x4 grid of cells, 2x2-cell blocks.

        Args:
            image_shape: (height, width) of the images.
            **overrides: any field to set explicitly.

        Returns:
            The extractor; 28x28 gives 7x7 cells, 8x8 gives 2x2 cells.
        """
        height, width = image_shape
        cell = (max(1, height // 4), max(1, width // 4))
        return cls(**{"pixels_per_cell": cell, **overrides})

    def _grid(self, image_shape: tuple[int, int]) -> tuple[int, int, int, int]:
        cells = [image_shape[i] // self.pixels_per_cell[i] for i in range(2)]
        blocks = [cells[i] - self.cells_per_block[i] + 1 for i in range(2)]
        if min(blocks) < 1:
            raise SynbiolabError(
                f"hog: images of {image_shape[0]}x{image_shape[1]} are too small for pixels_per_cell="
                f"{self.pixels_per_cell} and cells_per_block={self.cells_per_block}; valid: cells_per_block "
                f"times pixels_per_cell at most the image size"
            )
        return cells[0], cells[1], blocks[0], blocks[1]

    def output_dim(self, image_shape: tuple[int, int]) -> int:
        """Length of one feature vector: blocks x cells per block x orientations."""
        _, _, block_rows, block_cols = self._grid(image_shape)
        return block_rows * block_cols * self.cells_per_block[0] * self.cells_per_block[1] * self.orientations

    def transform_batch(self, images: np.ndarray) -> np.ndarray:
        """HoG of each image `(B, H, W) -> (B, output_dim)`."""
        from skimage.feature import hog

        self._grid(images.shape[1:])
        return np.stack([hog(image, **self._hog_arguments()) for image in images]).astype(np.float32)

    def cell_histograms(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The HoG of one image as blocks, and scikit-image's picture of the cells (for figures).

        Args:
            image: one grey image `(H, W)`.

        Returns:
            `(blocks, picture)`: blocks `(block_rows, block_cols, cells, cells, orientations)` and a
            `(H, W)` image with one line per cell and orientation, brighter where the gradient is strong.
        """
        from skimage.feature import hog

        blocks, picture = hog(
            np.asarray(image, dtype=np.float64), **self._hog_arguments(), visualize=True, feature_vector=False
        )
        return blocks, picture

    def _hog_arguments(self) -> dict:
        return {
            "orientations": self.orientations,
            "pixels_per_cell": self.pixels_per_cell,
            "cells_per_block": self.cells_per_block,
            "block_norm": self.block_norm,
            "transform_sqrt": self.transform_sqrt,
        }

    def settings(self) -> dict:
        """Everything that determines the output, used as the cache key."""
        return {"name": self.name, **_jsonable(asdict(self))}


@dataclass(frozen=True)
class DaisyFeatures:
    """Dense DAISY descriptors (scikit-image), average-pooled over a coarse grid to a fixed length.

    DAISY computes, on a regular grid of points, histograms of gradient orientations over rings of
    circular regions around each point. The grid is pooled into `pool_grid x pool_grid` regions, so the
    vector length depends on the descriptor settings, not on how many grid points fit in the image.

    Args:
        step: distance in pixels between descriptor centres.
        radius: radius in pixels of the outermost ring.
        rings: number of rings.
        histograms: histograms per ring.
        orientations: orientation bins per histogram.
        pool_grid: the descriptor grid is averaged into pool_grid x pool_grid regions.
    """

    step: int = 4
    radius: int = 7
    rings: int = 2
    histograms: int = 6
    orientations: int = 8
    pool_grid: int = 2

    name: ClassVar[str] = "daisy"

    @classmethod
    def for_image_shape(cls, image_shape: tuple[int, int], **overrides: Any) -> DaisyFeatures:
        """DAISY settings scaled to an image size (28x28 -> radius 7, step 4; 8x8 -> radius 2, step 2).

        Args:
            image_shape: (height, width) of the images.
            **overrides: any field to set explicitly.

        Returns:
            The extractor.
        """
        side = min(image_shape)
        radius = max(2, side // 4)
        step = max(1, side // 7)
        rings = 2 if radius >= 4 else 1
        return cls(**{"step": step, "radius": radius, "rings": rings, **overrides})

    def _grid_points(self, image_shape: tuple[int, int]) -> tuple[int, int]:
        points = [len(range(self.radius, image_shape[i] - self.radius, self.step)) for i in range(2)]
        if min(points) < 1:
            raise SynbiolabError(
                f"daisy: images of {image_shape[0]}x{image_shape[1]} are too small for radius={self.radius}; "
                f"valid: radius below half the image side ({min(image_shape) // 2})"
            )
        return points[0], points[1]

    def descriptor_length(self) -> int:
        """Length of one DAISY descriptor: (rings x histograms + 1) x orientations."""
        return (self.rings * self.histograms + 1) * self.orientations

    def output_dim(self, image_shape: tuple[int, int]) -> int:
        """Length of one pooled feature vector."""
        rows, cols = self._grid_points(image_shape)
        return min(self.pool_grid, rows) * min(self.pool_grid, cols) * self.descriptor_length()

    def transform_batch(self, images: np.ndarray) -> np.ndarray:
        """Pooled DAISY of each image `(B, H, W) -> (B, output_dim)`."""
        from skimage.feature import daisy

        rows, cols = self._grid_points(images.shape[1:])
        # Pool regions are fixed per image size: split the grid's rows and columns as evenly as possible.
        row_groups = np.array_split(np.arange(rows), min(self.pool_grid, rows))
        col_groups = np.array_split(np.arange(cols), min(self.pool_grid, cols))
        out = np.empty((len(images), self.output_dim(images.shape[1:])), dtype=np.float32)
        for index, image in enumerate(images):
            grid = daisy(
                image,
                step=self.step,
                radius=self.radius,
                rings=self.rings,
                histograms=self.histograms,
                orientations=self.orientations,
            )  # (rows, cols, descriptor_length)
            pooled = [grid[r][:, c].mean(axis=(0, 1)) for r in row_groups for c in col_groups]
            out[index] = np.concatenate(pooled)
        return out

    def settings(self) -> dict:
        """Everything that determines the output, used as the cache key."""
        return {"name": self.name, **_jsonable(asdict(self))}


EXTRACTORS: dict[str, type] = {"raw": RawPixels, "hog": HogFeatures, "daisy": DaisyFeatures}


def build_extractor(name: str, image_shape: tuple[int, int] | None = None, **params: Any):
    """An extractor by name, with settings scaled to the image size when one is given.

    Args:
        name: one of EXTRACTORS ('raw', 'hog', 'daisy').
        image_shape: (height, width); HoG and DAISY then use `for_image_shape`.
        **params: settings of the extractor's dataclass.

    Returns:
        The extractor.
    """
    if name not in EXTRACTORS:
        raise SynbiolabError(f"feature extractor {name!r} is unknown; valid: {sorted(EXTRACTORS)}")
    cls = EXTRACTORS[name]
    valid = {f for f in getattr(cls, "__dataclass_fields__", {})}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise SynbiolabError(f"{name}: unknown setting {unknown[0]!r}; valid: {sorted(valid)}")
    if image_shape is not None and hasattr(cls, "for_image_shape"):
        return cls.for_image_shape(tuple(image_shape), **params)
    return cls(**params)


def _pair(value: Any, key: str) -> tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise SynbiolabError(f"{key}: expected two positive integers (rows, columns), got {value!r}")
    return pair  # type: ignore[return-value]


def _jsonable(settings: dict) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in settings.items()}


# ---------------------------------------------------------------------------------------------------
# Batched, parallel extraction with an on-disk cache
# ---------------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """The user cache for features: $XDG_CACHE_HOME/synbiolab/features, else ~/.cache/synbiolab/features."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "synbiolab" / "features"


@dataclass
class FeatureCache:
    """Feature arrays on disk, one `.npy` per (data set, extractor settings, image content).

    The key hashes the images themselves, so two subsets of a data set never share a file by mistake,
    and a changed extractor setting or FEATURE_VERSION misses the cache instead of returning stale data.

    Args:
        root: folder of the cache; None uses `default_cache_dir()`.
    """

    root: Path | None = None
    hits: int = field(default=0, init=False)
    misses: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root) if self.root is not None else default_cache_dir()

    def path_for(self, dataset_name: str, extractor: Any, images: np.ndarray) -> Path:
        """Where the features of `images` by `extractor` are (or would be) stored."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(json.dumps(
            {"version": FEATURE_VERSION, "settings": extractor.settings(), "shape": list(images.shape)},
            sort_keys=True,
        ).encode())
        digest.update(np.ascontiguousarray(images, dtype=np.float32).tobytes())
        safe_name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset_name) or "data"
        return self.root / safe_name / f"{extractor.name}-{digest.hexdigest()}.npy"

    def load(self, path: Path) -> np.ndarray | None:
        """The stored array, or None when absent or unreadable (then it is recomputed)."""
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None

    def save(self, path: Path, features: np.ndarray, settings: dict) -> None:
        """Store atomically: a killed process never leaves a half-written file that a later run trusts."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.save(stream, features, allow_pickle=False)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
        description = {"settings": settings, "shape": list(features.shape)}
        path.with_suffix(".json").write_text(json.dumps(description))


def extract_features(
    extractor: Any,
    images: Any,
    *,
    n_jobs: int = 2,
    batch_size: int = 2500,
    cache: bool | str | Path | FeatureCache | None = None,
    cache_name: str = "data",
) -> np.ndarray:
    """Features of every image, computed in batches over `n_jobs` worker processes.

    Args:
        extractor: an extractor (RawPixels, HogFeatures, DaisyFeatures or one with the same methods).
        images: `(N, H, W)` or `(N, 1, H, W)`, values in 0..1 (array or tensor).
        n_jobs: worker processes; 1 computes in this process.
        batch_size: images per task; large enough that process overhead stays small.
        cache: None/False for no cache, True for the user cache, a folder, or a FeatureCache.
        cache_name: data set name, the cache's first-level folder.

    Returns:
        float32 array `(N, extractor.output_dim((H, W)))`.
    """
    batch = as_image_batch(images)
    extractor.output_dim(batch.shape[1:])  # fail early, with the setting to change, on too-small images
    store = _as_cache(cache)
    path = store.path_for(cache_name, extractor, batch) if store is not None else None
    if path is not None:
        cached = store.load(path)
        if cached is not None and cached.shape[0] == len(batch):
            store.hits += 1
            return cached
        store.misses += 1

    starts = range(0, len(batch), batch_size)
    if n_jobs == 1 or len(starts) <= 1 or isinstance(extractor, RawPixels):
        parts = [extractor.transform_batch(batch[start : start + batch_size]) for start in starts]
    else:
        parts = Parallel(n_jobs=n_jobs)(
            delayed(extractor.transform_batch)(batch[start : start + batch_size]) for start in starts
        )
    features = np.concatenate(parts) if parts else np.zeros((0, extractor.output_dim(batch.shape[1:])))
    features = features.astype(np.float32, copy=False)
    if path is not None:
        store.save(path, features, extractor.settings())
    return features


def _as_cache(cache: bool | str | Path | FeatureCache | None) -> FeatureCache | None:
    if cache is None or cache is False:
        return None
    if cache is True:
        return FeatureCache()
    if isinstance(cache, FeatureCache):
        return cache
    return FeatureCache(Path(cache))


# ---------------------------------------------------------------------------------------------------
# Classifiers
# ---------------------------------------------------------------------------------------------------


class ApproximateRbfSvm(ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM approximated by Nystroem features and a linear SVM.

    An exact kernel SVM costs between n^2 and n^3 in the number of training samples; mapping the data
    through `n_components` kernel columns (Williams & Seeger's Nystroem method) and training a linear
    SVM on them costs about n x n_components^2 instead, and comes within a fraction of a percent.

    Args:
        C: the linear SVM's regularisation (larger fits the training data more closely).
        gamma: RBF width; 'scale' uses 1 / (n_features x variance of X), as SVC does.
        n_components: number of kernel columns (landmark samples).
        random_state: seed for the landmark choice.
    """

    def __init__(self, C: float = 10.0, gamma: float | str = "scale", n_components: int = 2000,
                 random_state: int = 0):
        self.C = C
        self.gamma = gamma
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> ApproximateRbfSvm:
        """Choose landmarks, map X through the kernel, fit the linear SVM."""
        X = np.asarray(X, dtype=np.float32)
        gamma = 1.0 / (X.shape[1] * X.var()) if self.gamma == "scale" else float(self.gamma)
        self.gamma_ = gamma
        self.kernel_map_ = Nystroem(
            gamma=gamma, n_components=min(self.n_components, len(X)), random_state=self.random_state
        ).fit(X)
        self.linear_svm_ = LinearSVC(C=self.C, max_iter=5000, random_state=self.random_state)
        self.linear_svm_.fit(self.kernel_map_.transform(X), y)
        self.classes_ = self.linear_svm_.classes_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Linear SVM scores of the kernel-mapped X."""
        return self.linear_svm_.decision_function(self.kernel_map_.transform(np.asarray(X, dtype=np.float32)))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels."""
        return self.linear_svm_.predict(self.kernel_map_.transform(np.asarray(X, dtype=np.float32)))


def _rbf_svm(C: float = 10.0, gamma: float | str = "scale", approximation: str = "exact",
             n_components: int = 2000, random_state: int = 0):
    if approximation == "exact":
        return SVC(C=C, gamma=gamma, cache_size=1000)
    if approximation == "nystroem":
        return ApproximateRbfSvm(C=C, gamma=gamma, n_components=n_components, random_state=random_state)
    raise SynbiolabError(f"rbf_svm.approximation: {approximation!r} is not one of ['exact', 'nystroem']")


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier family: how to build it, and the small grid searched on the validation split."""

    build: Callable[..., Any]
    grid: dict[str, list]
    summary: str


CLASSIFIERS: dict[str, ClassifierSpec] = {
    "linear_svm": ClassifierSpec(
        lambda C=1.0, random_state=0: LinearSVC(C=C, max_iter=3000, random_state=random_state),
        {"C": [0.1, 1.0]},
        "linear support vector machine (one-vs-rest)",
    ),
    "rbf_svm": ClassifierSpec(_rbf_svm, {"C": [10.0]}, "support vector machine with a Gaussian (RBF) kernel"),
    "decision_tree": ClassifierSpec(
        lambda max_depth=None, random_state=0: DecisionTreeClassifier(max_depth=max_depth,
                                                                      random_state=random_state),
        {"max_depth": [10, None]},
        "one decision tree",
    ),
    "random_forest": ClassifierSpec(
        lambda n_estimators=100, max_features="sqrt", random_state=0, n_jobs=2: RandomForestClassifier(
            n_estimators=n_estimators, max_features=max_features, random_state=random_state, n_jobs=n_jobs
        ),
        {"n_estimators": [100]},
        "random forest of decision trees",
    ),
    "logistic_regression": ClassifierSpec(
        lambda C=1.0, random_state=0: LogisticRegression(C=C, max_iter=300, random_state=random_state),
        {"C": [0.1, 1.0]},
        "multinomial logistic regression (a linear softmax classifier)",
    ),
    "knn": ClassifierSpec(
        lambda n_neighbors=5, n_jobs=2: KNeighborsClassifier(n_neighbors=n_neighbors, n_jobs=n_jobs),
        {"n_neighbors": [1, 5]},
        "k-nearest neighbours (Euclidean)",
    ),
}


def build_classifier(
    name: str,
    *,
    pca_components: int | None = None,
    standardize: bool = False,
    random_state: int = 0,
    **params: Any,
) -> Pipeline:
    """A scikit-learn pipeline: optional standardisation, optional PCA, then the classifier.

    Args:
        name: one of CLASSIFIERS.
        pca_components: reduce the features to this many principal components first.
        standardize: scale every feature to zero mean and unit variance first (needed when
            features of different origin are concatenated, e.g. HoG + CNN).
        random_state: seed of the classifier and of PCA.
        **params: the classifier's settings, e.g. C=10 or approximation='nystroem' for 'rbf_svm'.

    Returns:
        An unfitted Pipeline whose last step is named 'classifier'.
    """
    if name not in CLASSIFIERS:
        raise SynbiolabError(f"classifier {name!r} is unknown; valid: {sorted(CLASSIFIERS)}")
    build = CLASSIFIERS[name].build
    import inspect

    accepted = inspect.signature(build).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise SynbiolabError(f"{name}: unknown setting {unknown[0]!r}; valid: {sorted(accepted)}")
    if "random_state" in accepted:
        params = {"random_state": random_state, **params}
    steps = []
    if standardize:
        steps.append(StandardScaler())
    if pca_components:
        steps.append(PCA(n_components=pca_components, random_state=random_state))
    pipeline = make_pipeline(*steps, build(**params))
    # A stable name for the last step, whatever its class, so callers can reach it.
    pipeline.steps[-1] = ("classifier", pipeline.steps[-1][1])
    return pipeline
