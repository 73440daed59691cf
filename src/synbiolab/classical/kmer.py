"""Linear baselines for DNA: one-hot letters, one-hot plus pairwise position interactions, and k-mer counts,
each followed by ridge (regression) or logistic regression (classification).

Every sequence model is reported beside these baselines (cross-validation folds, a run's report): a deep
model that does not beat a linear model on these features has learned nothing that counting could not.
The three feature sets ask three questions: do letters at fixed positions explain the target (one-hot), do
pairs of positions a few bases apart (a sparse set of position-pair dinucleotides), does the content
regardless of position (counts of every 1- to k-mer, plus the one-hot letters).

Typical use:

    outputs = linear_baselines(train_x, train_y, test_x, task="binary")   # x: one-hot (N, 4, L)
    verdict = compare_to_baselines("binary", model_outputs, outputs, test_y)
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from ..data.sequences import decode, kmer_counts
from ..errors import SynbiolabError

# --- features


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


def pairwise_features(x, window: int = 10) -> sparse.csr_matrix:
    """The one-hot letters plus one indicator per pair of positions at most `window` apart and their two
    letters: a sparse (N, 4L + 16 * sum_d (L - d)) matrix with L + about L * window ones per row.

    A linear model on these can express an interaction of two positions (the effect of a G at 12 depends on
    the letter at 15), which no model on the one-hot letters alone can. Pairs further apart than `window`
    are left out so that the feature set stays small (splice sites, 60 nt: about 9,000 columns); positions
    that are padding or ambiguous take part in no pair.
    """
    x = np.asarray(x, np.float32)
    n, _, length = x.shape
    letters = x.argmax(1)  # (N, L)
    certain = x.max(1) >= 1.0  # a single A/C/G/T, not padding or an IUPAC spread
    blocks = [sparse.csr_matrix(x.reshape(n, -1))]
    for d in range(1, min(window, length - 1) + 1):
        width = length - d
        codes = letters[:, :width] * 4 + letters[:, d:]  # (N, L - d): the dinucleotide of each pair
        columns = np.arange(width) * 16 + codes
        keep = certain[:, :width] & certain[:, d:]
        rows = np.broadcast_to(np.arange(n)[:, None], codes.shape)
        blocks.append(sparse.csr_matrix((np.ones(keep.sum(), np.float32), (rows[keep], columns[keep])),
                                        shape=(n, width * 16)))
    return sparse.hstack(blocks, format="csr")


def _onehot(x, **_) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x.reshape(len(x), -1)


def _pairwise(x, window: int = 10, **_) -> sparse.csr_matrix:
    return pairwise_features(x, window)


def _kmers(x, k: int = 4, **_) -> np.ndarray:
    return sequence_features(x, k, positional=True)


# Name -> (what it is, in words; features of one-hot (N, 4, L); whether to standardise the columns).
# Indicator features are left unscaled (scaling a rare pair up would weaken its regularisation); counts are
# standardised so that one penalty suits 1-mers and 4-mers alike.
BASELINES = {
    "onehot_linear": ("one-hot letters", _onehot, False),
    "pairwise_linear": ("one-hot + position pairs <= 10 nt apart", _pairwise, False),
    "kmer_linear": ("1- to 4-mer counts + one-hot", _kmers, True),
}


# --- fitting

LOO_MAX_ROWS = 4000  # sparse ridge: leave-one-out on the Gram matrix up to here, 3-fold CG fits beyond


def _fit_linear(train_features, train_y, test_features, task: str, scale: bool, seed: int) -> np.ndarray:
    """Ridge or logistic regression with the penalty chosen by internal cross-validation on the training part."""
    if scale:
        scaler = StandardScaler()
        train_features = scaler.fit_transform(train_features)
        test_features = scaler.transform(test_features)
    train_y = np.asarray(train_y)
    if task == "regression":
        target = train_y.reshape(len(train_y), -1)
        # Leave-one-out ridge (RidgeCV's default) decomposes the n x n Gram matrix once and scores every
        # penalty from it: a fraction of a second for a thousand sequences, minutes for the sparse pairwise
        # features of ten thousand. Past LOO_MAX_ROWS, three folds of conjugate-gradient fits (what
        # scikit-learn's ridge does with sparse input) take seconds instead; on rbs_1014ic's 762 training
        # sequences both chose the same penalty, LOO 25 times faster.
        large = sparse.issparse(train_features) and train_features.shape[0] > LOO_MAX_ROWS
        folds = KFold(3, shuffle=True, random_state=seed) if large else None
        model = RidgeCV(alphas=np.logspace(-1, 5, 13), cv=folds).fit(train_features, target)
        return np.asarray(model.predict(test_features)).reshape(test_features.shape[0], -1)
    if task not in ("binary", "multiclass"):
        raise SynbiolabError(f"linear baselines need a prediction task, not {task!r}")
    n_folds = int(min(5, np.bincount(train_y.astype(int)).min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scikit-learn's announced default changes
        model = LogisticRegressionCV(Cs=np.logspace(-4, 1, 6), cv=max(n_folds, 2), max_iter=2000,
                                     scoring="accuracy", random_state=seed).fit(train_features, train_y)
    if task == "binary":
        return model.decision_function(test_features).reshape(-1, 1)
    return model.decision_function(test_features)


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
    return _fit_linear(sequence_features(train_x, k, positional), train_y, sequence_features(test_x, k, positional),
                       task, True, seed)


def linear_baselines(train_x, train_y, test_x, task: str, names=None, seed: int = 0) -> dict[str, np.ndarray]:
    """Fit each linear baseline on the training part (penalty by inner cross-validation there) and predict.

    Args:
        train_x, test_x: one-hot (N, 4, L) arrays or tensors.
        train_y: labels (classification) or (N,) / (N, T) values (regression).
        task: multiclass, binary or regression.
        names: keys of BASELINES (default: all three).
        seed: seed of the inner folds.

    Returns:
        Baseline name -> test outputs in a model's form (logits or predictions, (N, C) / (N, 1) / (N, T)).
    """
    names = list(BASELINES) if names is None else list(names)
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise SynbiolabError(f"unknown baseline {unknown[0]!r}; valid: {', '.join(BASELINES)}")
    train_x, test_x = np.asarray(train_x, np.float32), np.asarray(test_x, np.float32)
    out = {}
    for name in names:
        _, features, scale = BASELINES[name]
        out[name] = _fit_linear(features(train_x), train_y, features(test_x), task, scale, seed)
    return out


# --- comparing a model with the baselines


def _sd(values: np.ndarray) -> float:
    """Sample standard deviation (0 for one value)."""
    return float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0


def headline(task: str, outputs, y) -> float:
    """The number a comparison ranks by: accuracy (classification) or Pearson r, averaged over targets."""
    outputs, y = np.asarray(outputs, np.float64), np.asarray(y)
    if task == "regression":
        outputs = outputs.reshape(len(outputs), -1)
        y = y.reshape(len(y), -1).astype(np.float64)
        return float(np.mean([np.corrcoef(outputs[:, t], y[:, t])[0, 1] for t in range(y.shape[1])]))
    outputs = outputs.reshape(len(outputs), -1)
    predicted = (outputs[:, 0] > 0).astype(int) if outputs.shape[1] == 1 else outputs.argmax(1)
    return float(np.mean(predicted == y.reshape(-1).astype(int)))


def _against(margin: float) -> str:
    """The model against the best baseline in words: "beats it by +0.0123", "falls short of it by -0.0123"."""
    if np.isclose(margin, 0):
        return f"is level with it ({margin:+.4f})"
    return f"{'beats' if margin > 0 else 'falls short of'} it by {margin:+.4f}"


def compare_to_baselines(scores: dict[str, list[float]], model: str, metric: str) -> dict:
    """Which baseline is best and by how much the model beats it, over paired folds (or seeds).

    Args:
        scores: method -> one score per fold (higher is better), the model's and each baseline's, folds aligned.
        model: the model's key in `scores`.
        metric: the score's name, for the sentence.

    Returns:
        A dict: best_baseline, its mean and sd, the model's mean and sd, the per-fold margin's mean and sd,
        the folds the model wins and ties, and `sentence`, one line saying it.
    """
    baselines = {k: np.asarray(v, float) for k, v in scores.items() if k != model and k in BASELINES}
    if not baselines:
        raise SynbiolabError("compare_to_baselines: no baseline scores given")
    deep = np.asarray(scores[model], float)
    best = max(baselines, key=lambda k: np.nanmean(baselines[k]))
    margin = deep - baselines[best]
    result = {
        "metric": metric,
        "model": model,
        "best_baseline": best,
        "baseline_mean": float(np.nanmean(baselines[best])),
        "baseline_std": _sd(baselines[best]),
        "model_mean": float(np.nanmean(deep)),
        "model_std": _sd(deep),
        "margin_mean": float(np.nanmean(margin)),
        "margin_std": _sd(margin),
        # Fold scores of the same test examples agree exactly when tied; isclose forgives float round-off.
        "model_wins": int(np.sum((margin > 0) & ~np.isclose(margin, 0))),
        "ties": int(np.sum(np.isclose(margin, 0))),
        "n": len(margin),
    }
    result["sentence"] = (
        f"best linear baseline: {best} ({BASELINES[best][0]}), {metric} {result['baseline_mean']:.4f} +/- "
        f"{result['baseline_std']:.4f}; {model} {result['model_mean']:.4f} +/- {result['model_std']:.4f} "
        f"{_against(result['margin_mean'])} +/- {result['margin_std']:.4f} "
        f"(paired; better on {result['model_wins']}, level on {result['ties']} of {result['n']})"
    )
    return result


def baselines_beside(train_x, train_y, test_x, test_y, task: str, model_outputs, model: str = "model",
                     seed: int = 0) -> dict:
    """A train run's test number beside the linear baselines fitted on its training (and validation) part.

    For a single split there is no spread over folds; pass the outputs of several seeds' runs as a list to
    get one over seeds (each compared with the same baselines).

    Returns:
        {"scores": method -> [score per seed], "comparison": compare_to_baselines(...)}
    """
    outputs = model_outputs if isinstance(model_outputs, list) else [model_outputs]
    fitted = linear_baselines(train_x, train_y, test_x, task, seed=seed)
    scores = {model: [headline(task, o, test_y) for o in outputs]}
    scores.update({name: [headline(task, o, test_y)] * len(outputs) for name, o in fitted.items()})
    metric = "pearson_r" if task == "regression" else "accuracy"
    return {"scores": scores, "comparison": compare_to_baselines(scores, model, metric)}


def split_comparison(train_x, train_y, test_x, test_y, task: str, model_outputs, model: str = "model",
                     seed: int = 0, resamples: int = 1000) -> dict:
    """One run's test number beside the three linear baselines fitted on the same training part, and the spread
    of the margin over the best one by a paired bootstrap of the test examples (one split has no folds).

    Args:
        train_x, test_x: one-hot (N, 4, L) arrays; train_y, test_y: labels or values.
        task: multiclass, binary or regression.
        model_outputs: the model's test outputs (logits or predictions).
        model: the model's name, for the sentence.
        seed: seed of the baselines' inner folds and of the bootstrap.
        resamples: bootstrap resamples of the test examples.

    Returns:
        {"outputs": name -> test outputs, "scores": method -> score, "comparison": best_baseline, scores,
        margin, its bootstrap sd and 95 % interval, and `sentence`}.
    """
    test_y = np.asarray(test_y)
    model_outputs = np.asarray(model_outputs, np.float64)
    fitted = linear_baselines(train_x, train_y, test_x, task, seed=seed)
    scores = {model: headline(task, model_outputs, test_y)}
    scores.update({name: headline(task, outputs, test_y) for name, outputs in fitted.items()})
    best = max(fitted, key=lambda name: scores[name])
    rng = np.random.default_rng(seed)
    n = len(test_y)
    margins = []
    for _ in range(resamples):  # the same resampled examples for the model and the baseline (paired)
        index = rng.integers(0, n, n)
        margins.append(headline(task, model_outputs[index], test_y[index])
                       - headline(task, np.asarray(fitted[best])[index], test_y[index]))
    margins = np.asarray(margins)
    low, high = np.nanpercentile(margins, [2.5, 97.5])
    metric = "pearson_r" if task == "regression" else "accuracy"
    margin = scores[model] - scores[best]
    comparison = {
        "metric": metric, "model": model, "best_baseline": best, "baseline_score": scores[best],
        "model_score": scores[model], "margin": margin, "margin_sd": float(np.nanstd(margins, ddof=1)),
        "margin_low": float(low), "margin_high": float(high), "n_test": n, "resamples": resamples,
        "sentence": (f"best linear baseline on this split: {best} ({BASELINES[best][0]}), {metric} "
                     f"{scores[best]:.4f}; {model} {scores[model]:.4f} {_against(margin)} (95 % interval "
                     f"{low:+.4f} to {high:+.4f} over {resamples} bootstrap resamples of the {n:,} test examples)"),
    }
    return {"outputs": fitted, "scores": scores, "comparison": comparison}

