"""The linear baselines: each catches what it should on data where the answer is planted, and cross-validation
prints the model beside the best of them with the spread over folds."""

import numpy as np
import pytest

from synbiolab.classical.kmer import (
    BASELINES,
    baselines_beside,
    compare_to_baselines,
    headline,
    linear_baselines,
    pairwise_features,
)
from synbiolab.errors import SynbiolabError


def one_hot(letters: np.ndarray) -> np.ndarray:
    """(N, L) integers 0..3 -> (N, 4, L) float32."""
    return np.eye(4, dtype=np.float32)[letters].transpose(0, 2, 1).copy()


def test_only_the_pairwise_baseline_catches_a_planted_interaction():
    # y = 1 exactly when positions 5 and 9 carry the same letter: no single letter says anything about y,
    # and no k-mer count either (the two positions are 4 apart), but one pair indicator per letter does.
    # (Each indicator is on in 1/16 of the sequences, so it takes some 1,500 of them to be learnt.)
    rng = np.random.default_rng(0)
    letters = rng.integers(0, 4, size=(2000, 16))
    y = (letters[:, 5] == letters[:, 9]).astype(int)
    x = one_hot(letters)
    outputs = linear_baselines(x[:1500], y[:1500], x[1500:], "binary")
    accuracy = {name: headline("binary", o, y[1500:]) for name, o in outputs.items()}
    assert accuracy["pairwise_linear"] >= 0.95
    majority = max(y[1500:].mean(), 1 - y[1500:].mean())  # about 0.75: the letters agree a quarter of the time
    assert accuracy["onehot_linear"] <= majority + 0.03
    assert accuracy["kmer_linear"] <= majority + 0.03


def test_kmer_counts_catch_a_motif_anywhere_that_fixed_positions_miss():
    # A TATAAT box at a random place in half of the sequences: its position varies, its count does not.
    rng = np.random.default_rng(1)
    letters = rng.integers(0, 4, size=(600, 50))
    y = np.arange(600) % 2
    for i in np.flatnonzero(y):
        start = rng.integers(0, 44)
        letters[i, start:start + 6] = [3, 0, 3, 0, 0, 3]  # T A T A A T
    x = one_hot(letters)
    outputs = linear_baselines(x[:400], y[:400], x[400:], "binary")
    accuracy = {name: headline("binary", o, y[400:]) for name, o in outputs.items()}
    assert accuracy["kmer_linear"] >= 0.9
    assert accuracy["kmer_linear"] - accuracy["onehot_linear"] >= 0.15


def test_pairwise_ridge_recovers_an_interaction_in_a_regression():
    rng = np.random.default_rng(2)
    letters = rng.integers(0, 4, size=(2000, 16))
    y = 2.0 * ((letters[:, 3] == 0) & (letters[:, 9] == 2)) + 0.5 * (letters[:, 12] == 1) + rng.normal(0, 0.2, 2000)
    x = one_hot(letters)
    outputs = linear_baselines(x[:1500], y[:1500], x[1500:], "regression")
    r = {name: headline("regression", o, y[1500:]) for name, o in outputs.items()}
    # The noise leaves at most r = 0.935; letters alone see only the interaction's marginal effects.
    assert r["pairwise_linear"] >= 0.85
    assert r["pairwise_linear"] - r["onehot_linear"] >= 0.15


def test_pairwise_features_have_one_indicator_per_pair_and_skip_padding():
    letters = np.array([[0, 1, 2, 3, 0]])
    x = one_hot(letters)
    x[0, :, 4] = 0  # the last position is padding
    features = pairwise_features(x, window=2)
    # 4 * 5 one-hot columns, 16 per pair at distance 1 (4 pairs) and 2 (3 pairs).
    assert features.shape == (1, 20 + 16 * 4 + 16 * 3)
    # One-hot: 4 letters; pairs among the 4 real positions: 3 at distance 1 and 2 at distance 2.
    assert features.sum() == 4 + 3 + 2
    # The pair (position 0, position 1) is A then C: code 0 * 4 + 1 in the first block of pairs.
    assert features[0, 20 + 0 * 16 + 1] == 1


def test_compare_to_baselines_pairs_the_folds():
    scores = {"cnn1d": [0.90, 0.95, 0.80], "onehot_linear": [0.85, 0.90, 0.85], "kmer_linear": [0.80, 0.80, 0.80]}
    result = compare_to_baselines(scores, "cnn1d", "accuracy")
    assert result["best_baseline"] == "onehot_linear"
    margins = np.array([0.05, 0.05, -0.05])
    assert result["margin_mean"] == pytest.approx(margins.mean())
    assert result["margin_std"] == pytest.approx(margins.std(ddof=1))
    assert result["model_wins"] == 2 and result["n"] == 3
    assert "beats it by +0.0167 +/- 0.0577 (paired; better on 2, level on 0 of 3)" in result["sentence"]
    worse = compare_to_baselines({"cnn1d": [0.5, 0.6], "kmer_linear": [0.7, 0.7]}, "cnn1d", "accuracy")
    assert "falls short of it by -0.1500" in worse["sentence"] and worse["model_wins"] == 0


def test_unknown_baseline_is_one_line():
    with pytest.raises(SynbiolabError, match="unknown baseline 'svm'; valid: onehot_linear"):
        linear_baselines(np.zeros((4, 4, 5)), np.array([0, 1, 0, 1]), np.zeros((2, 4, 5)), "binary", names=["svm"])


def test_a_single_run_is_put_beside_the_baselines():
    rng = np.random.default_rng(3)
    letters = rng.integers(0, 4, size=(300, 20))
    y = (letters[:, 5] == 0).astype(int)
    x = one_hot(letters)
    perfect = np.where(y[200:] == 1, 5.0, -5.0).reshape(-1, 1)  # a model that is always right
    result = baselines_beside(x[:200], y[:200], x[200:], y[200:], "binary", [perfect, -perfect], model="cnn1d")
    assert result["scores"]["cnn1d"] == [1.0, 0.0]
    assert set(result["scores"]) == {"cnn1d", *BASELINES}
    # One letter decides y, so the best baseline is right too: the model ties once and loses once.
    comparison = result["comparison"]
    assert comparison["baseline_mean"] >= 0.95 and comparison["n"] == 2 and comparison["model_wins"] == 0
    assert comparison["margin_mean"] == pytest.approx(0.5 - comparison["baseline_mean"])


def test_cross_validation_reports_the_best_baseline_and_the_margin(tmp_path):
    from synbiolab import default_config
    from synbiolab.experiments.crossval import cross_validate

    rng = np.random.default_rng(4)
    lines = ["seq,active"]
    for i in range(60):
        s = list(rng.choice(list("ACGT"), 24))
        if i % 2:
            s[8:14] = "TATAAT"
        lines.append(f"{''.join(s)},{i % 2}")
    path = tmp_path / "lib.csv"
    path.write_text("\n".join(lines) + "\n")
    cfg = default_config(str(path), "cnn1d")
    cfg.data.seq_col, cfg.data.target = "seq", ["active"]
    cfg.train.epochs, cfg.train.batch_size = 3, 16
    result = cross_validate(cfg, 3, verbose=False)
    assert set(result["summary"]) == {"cnn1d", *BASELINES}
    comparison = result["baseline_comparison"]
    best = max(BASELINES, key=lambda name: result["summary"][name]["accuracy"]["mean"])
    assert comparison["best_baseline"] == best
    assert comparison["baseline_mean"] == pytest.approx(result["summary"][best]["accuracy"]["mean"])
    deep = np.array([r["accuracy"] for r in result["rows"] if r["method"] == "cnn1d"])
    base = np.array([r["accuracy"] for r in result["rows"] if r["method"] == best])
    assert comparison["margin_std"] == pytest.approx(np.std(deep - base, ddof=1))
    assert result["summary"][best]["accuracy"]["mean"] >= 0.9  # the motif sits at fixed positions
