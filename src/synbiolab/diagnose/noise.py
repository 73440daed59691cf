"""The label-noise estimate: how many training labels disagree confidently with what the inputs predict.

Measured once at the end of training when it is cheap (``is_cheap``) and saved in metrics.json, so that
``diagnose`` reads it instead of reloading the data set; ``diagnose`` measures it itself only for runs that
lack it (older runs, or inputs too large to measure during training).
"""

from __future__ import annotations

import numpy as np

from ..errors import SynbiolabError

#: Examples drawn at random when the training split is larger: keeps the estimate to seconds.
MAX_SAMPLES = 4000

#: The estimate is measured during training when (examples used) x (input values per example) is at most
#: this: about a second on one CPU core (the 8x8 digits: 0.6 s; one-hot promoters and splice sites: well
#: under). 4,000 MNIST images (3.1 million values) take about 11 s, so those runs are measured by
#: ``diagnose`` on request instead.
CHEAP_VALUES = 1_000_000


def is_cheap(n_examples: int, n_values: int, max_samples: int = MAX_SAMPLES) -> bool:
    """Whether estimating the noise of `n_examples` inputs of `n_values` numbers each is cheap enough to do
    at the end of every training run."""
    return min(n_examples, max_samples) * n_values <= CHEAP_VALUES


def estimate_label_noise(features, labels, n_classes: int | None = None, n_folds: int = 5,
                         max_samples: int = MAX_SAMPLES, seed: int = 0) -> float:
    """Estimates the fraction of wrong labels with cross-validated confident counting.

    A simple classifier (logistic regression on the standardised inputs) predicts every example
    from folds that did not contain it. An example is counted as mislabelled when the probability
    of its own label is below that label's average self-confidence while another class reaches its
    own average self-confidence (the confident-learning count of Northcutt et al., 2021). Ambiguous
    examples count too, so on clean data the estimate sits a little above zero.

    Args:
        features: (N, ...) array or tensor of inputs; flattened.
        labels: (N,) integer labels.
        n_classes: number of classes (default: from the labels).
        n_folds: cross-validation folds.
        max_samples: examples drawn at random when there are more (keeps the estimate fast).
        seed: random seed of the subsample and the folds.

    Returns:
        The estimated fraction of mislabelled examples, between 0 and 1.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    y = np.asarray(labels).astype(int).reshape(-1)
    if len(x) != len(y):
        raise SynbiolabError(f"estimate_label_noise: {len(x)} inputs but {len(y)} labels")
    rng = np.random.default_rng(seed)
    if len(y) > max_samples:
        keep = rng.choice(len(y), size=max_samples, replace=False)
        x, y = x[keep], y[keep]
    n_classes = int(n_classes or (y.max() + 1))
    counts = np.bincount(y, minlength=n_classes)
    folds = int(min(n_folds, counts[counts > 0].min()))
    if folds < 2:
        return 0.0
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    present = np.flatnonzero(counts)
    probabilities = np.zeros((len(y), n_classes))
    probabilities[:, present] = cross_val_predict(model, x, y, cv=splitter, method="predict_proba")
    # Average self-confidence of each class: how sure the model is of examples carrying that label.
    threshold = np.full(n_classes, np.inf)
    for label in present:
        threshold[label] = probabilities[y == label, label].mean()
    own = probabilities[np.arange(len(y)), y]
    confident_other = probabilities >= threshold[None, :]
    confident_other[np.arange(len(y)), y] = False
    flagged = (own < threshold[y]) & confident_other.any(axis=1)
    return float(flagged.mean())

