"""Linear baselines for DNA: counts of every 1- to k-mer plus the one-hot letters, then ridge or logistic
regression.

Every sequence model is reported beside this baseline (cross-validation folds, a run's report): a deep
model that does not beat a linear model on k-mer counts has learned nothing that counting could not.

Typical use:

    test_outputs = kmer_baseline(train_x, train_y, test_x, task="binary")   # x: one-hot (N, 4, L)
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.preprocessing import StandardScaler

from ..data.sequences import decode, kmer_counts


def sequence_features(x, k: int = 4, positional: bool = True) -> np.ndarray:
    """Features of one-hot DNA (N, 4, L) for linear baselines: counts of all 1- to k-mers, plus the
    flattened one-hot itself (position-specific letters) when `positional`.

    Ambiguous positions (an IUPAC letter spread over several bases) count as no k-mer and keep their
    probabilities in the one-hot part; padding is all zeros in both.
    """
    x = np.asarray(x, np.float32)
    sequences = [decode(one).replace("-", "N") for one in x]
    parts = [kmer_counts(sequences, j) for j in range(1, k + 1)]
    if positional:
        parts.append(x.reshape(len(x), -1))
    return np.hstack(parts)


def kmer_baseline(train_x, train_y, test_x, task: str, k: int = 4, positional: bool = True, seed: int = 0):
    """A linear baseline on k-mer counts (+ one-hot): ridge for regression, logistic regression otherwise.

    The regularisation strength is picked by internal cross-validation on the training part only.

    Args:
        train_x, test_x: one-hot (N, 4, L) arrays or tensors.
        train_y: targets (labels for classification, (N,) or (N, T) values for regression).
        task: multiclass, binary or regression.
        k: longest k-mer counted.
        positional: add the flattened one-hot (needed when position matters, e.g. splice sites).
        seed: seed of the internal folds.

    Returns:
        Test outputs in the form a model gives: logits (N, C) for multiclass, (N, 1) for binary,
        predictions (N, T) for regression.
    """
    scaler = StandardScaler()
    train_features = scaler.fit_transform(sequence_features(train_x, k, positional))
    test_features = scaler.transform(sequence_features(test_x, k, positional))
    train_y = np.asarray(train_y)
    if task == "regression":
        target = train_y.reshape(len(train_y), -1)
        model = RidgeCV(alphas=np.logspace(-1, 5, 13)).fit(train_features, target)
        return model.predict(test_features).reshape(len(test_features), -1)
    n_folds = int(min(5, np.bincount(train_y.astype(int)).min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's announced default changes
        model = LogisticRegressionCV(Cs=np.logspace(-4, 1, 6), cv=max(n_folds, 2), max_iter=2000,
                                     scoring="accuracy", random_state=seed).fit(train_features, train_y)
    if task == "binary":
        return model.decision_function(test_features).reshape(-1, 1)
    return model.decision_function(test_features)
