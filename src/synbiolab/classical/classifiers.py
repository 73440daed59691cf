"""scikit-learn classifiers for feature vectors: the families a comparison searches, and two estimators of
our own (an approximate RBF-kernel SVM and a per-block standardiser).

Both estimators follow scikit-learn's contract (its developer guide, checked by
``sklearn.utils.estimator_checks`` in the tests): the constructor only stores its arguments, ``fit``
validates the data and returns ``self``, everything learned ends in ``_``, and ``predict`` / ``transform``
check that the estimator was fitted and that X has the columns it was fitted on.

Typical use:

    classifier = build_classifier("rbf_svm", pca_components=120).fit(train_features, train_labels)
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..errors import SynbiolabError

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6: the same check was a method of BaseEstimator
    def validate_data(estimator, X="no_validation", y="no_validation", reset=True, **check_params):
        return estimator._validate_data(X, y, reset=reset, **check_params)


class ApproximateRbfSvm(ClassifierMixin, BaseEstimator):
    """An RBF-kernel SVM approximated by Nystroem features and a linear SVM.

    An exact kernel SVM costs between n^2 and n^3 in the number of training samples; mapping the data
    through `n_components` kernel columns (Williams & Seeger's Nystroem method) and training a linear
    SVM on them costs about n x n_components^2 instead, at some loss of accuracy.

    Args:
        C: regularisation as in SVC (larger fits the training data more closely); the linear SVM's
            penalty is alpha = 1 / (C x n_samples).
        gamma: RBF width; 'scale' uses 1 / (n_features x variance of X), as SVC does.
        n_components: number of kernel columns (landmark samples).
        random_state: seed for the landmark choice and the linear SVM.
    """

    def __init__(self, C: float = 10.0, gamma: float | str = "scale", n_components: int = 2000,
                 random_state: int = 0):
        self.C = C
        self.gamma = gamma
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y) -> ApproximateRbfSvm:
        """Choose landmarks, map X through the kernel, fit the linear SVM.

        Args:
            X: feature vectors `(n_samples, n_features)`.
            y: class labels `(n_samples,)`.

        Returns:
            self, fitted.
        """
        X, y = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(y)
        if self.gamma == "scale":
            variance = float(X.var())
            # SVC's rule; constant features (no variance) fall back to SVC's choice for them, 1.
            self.gamma_ = 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0
        else:
            self.gamma_ = float(self.gamma)
        self.kernel_map_ = Nystroem(
            gamma=self.gamma_, n_components=min(self.n_components, len(X)), random_state=self.random_state
        ).fit(X)
        self.linear_svm_ = _linear_svm(alpha=1.0 / (self.C * len(X)), random_state=self.random_state)
        self.linear_svm_.fit(self.kernel_map_.transform(X), y)
        self.classes_ = self.linear_svm_.classes_
        return self

    def _kernel_features(self, X) -> np.ndarray:
        check_is_fitted(self)
        return self.kernel_map_.transform(validate_data(self, X, dtype=np.float32, reset=False))

    def decision_function(self, X) -> np.ndarray:
        """Linear SVM scores of the kernel-mapped X: `(n_samples,)` for two classes, else one column per class."""
        features = self._kernel_features(X)  # checks first: an unfitted estimator has no linear_svm_
        return self.linear_svm_.decision_function(features)

    def predict(self, X) -> np.ndarray:
        """Class labels `(n_samples,)`."""
        features = self._kernel_features(X)
        return self.linear_svm_.predict(features)


class BlockStandardScaler(TransformerMixin, BaseEstimator):
    """Standardise every feature, then weight each block of columns by 1 / sqrt(its width).

    When 1,620 HoG values are concatenated with 128 CNN units, plain standardisation lets the wider
    block dominate distances, penalties and principal components by sheer number; after this
    scaling each block contributes the same total variance (1), whatever its width.

    Args:
        block_sizes: widths of the consecutive blocks; they must add up to the number of columns.
            None: all columns form one block.
    """

    def __init__(self, block_sizes: tuple[int, ...] | None = None):
        self.block_sizes = block_sizes

    def __sklearn_tags__(self):
        # The output is float32 whatever the input (the classifiers after it need no more precision).
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _more_tags(self) -> dict:  # the same tag for scikit-learn < 1.6
        return {"preserves_dtype": [np.float32]}

    def fit(self, X, y=None) -> BlockStandardScaler:
        """Learn each column's mean and standard deviation, and each column's block weight.

        Args:
            X: feature vectors `(n_samples, n_features)`.
            y: ignored (a transformer's signature).

        Returns:
            self, fitted.
        """
        X = validate_data(self, X, dtype=np.float64)
        blocks = tuple(self.block_sizes) if self.block_sizes else (X.shape[1],)
        if sum(blocks) != X.shape[1]:
            raise ValueError(f"block_sizes {blocks} add up to {sum(blocks)}, but X has {X.shape[1]} columns")
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)  # constant columns stay constant (0), as in StandardScaler
        self.weight_ = np.concatenate([np.full(size, 1.0 / np.sqrt(size)) for size in blocks])
        return self

    def transform(self, X) -> np.ndarray:
        """(X - mean) / std x block weight, as float32."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return ((X - self.mean_) / self.scale_ * self.weight_).astype(np.float32)


# --- the families a comparison searches


def _linear_svm(alpha: float = 1e-4, random_state: int = 0, n_jobs: int = 2) -> SGDClassifier:
    # Hinge loss + L2 penalty is the linear SVM's objective; averaged stochastic gradient descent solves it
    # in a few passes, where liblinear's exact solver needs minutes on 55,000 standardised vectors.
    # 15 passes: on MNIST more passes change the test accuracy by less than 0.2 % and double the time.
    return SGDClassifier(loss="hinge", alpha=alpha, average=True, max_iter=15, tol=1e-3, n_iter_no_change=3,
                         random_state=random_state, n_jobs=n_jobs)


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
        _linear_svm,
        {"alpha": [1e-4, 1e-5]},
        "linear support vector machine (one-vs-rest hinge loss, averaged SGD; alpha is the L2 penalty)",
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
    feature_blocks: tuple[int, ...] | None = None,
    random_state: int = 0,
    **params: Any,
) -> Pipeline:
    """A scikit-learn pipeline: optional standardisation, optional PCA, then the classifier.

    Args:
        name: one of CLASSIFIERS.
        pca_components: reduce the features to this many principal components first.
        standardize: scale every feature to zero mean and unit variance first (needed when
            features of different origin are concatenated, e.g. HoG + CNN).
        feature_blocks: with standardize, the widths of concatenated feature sets: each block is
            then weighted to the same total variance (BlockStandardScaler).
        random_state: seed of the classifier and of PCA.
        **params: the classifier's settings, e.g. C=10 or approximation='nystroem' for 'rbf_svm'.

    Returns:
        An unfitted Pipeline whose last step is named 'classifier'.
    """
    if name not in CLASSIFIERS:
        raise SynbiolabError(f"classifier {name!r} is unknown; valid: {sorted(CLASSIFIERS)}")
    build = CLASSIFIERS[name].build
    accepted = inspect.signature(build).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise SynbiolabError(f"{name}: unknown setting {unknown[0]!r}; valid: {sorted(accepted)}")
    if "random_state" in accepted:
        params = {"random_state": random_state, **params}
    steps = []
    if standardize:
        steps.append(BlockStandardScaler(tuple(feature_blocks)) if feature_blocks else StandardScaler())
    if pca_components:
        steps.append(PCA(n_components=pca_components, random_state=random_state))
    pipeline = make_pipeline(*steps, build(**params))
    # A stable name for the last step, whatever its class, so callers can reach it.
    pipeline.steps[-1] = ("classifier", pipeline.steps[-1][1])
    return pipeline
