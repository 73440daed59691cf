"""Generation metrics against values computed by hand on small inputs."""

import math

import numpy as np
import pytest
import torch

from synbiolab.errors import SynbiolabError
from synbiolab.evaluate.genmetrics import (
    as_index_array,
    box_calls,
    box_pwm,
    box_summary,
    class_coverage,
    frechet_distance,
    frechet_floor,
    kmer_frequencies,
    kmer_pearson,
    mean_pairwise_distance,
    nearest_hamming,
    novelty,
    shuffle_sequences,
)

# --- Frechet distance and coverage


def test_frechet_distance_one_dimension_matches_closed_form():
    # 1-D Gaussians: d^2 = (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2
    a = np.array([[0.0], [2.0]])  # mean 1, sample variance 2
    b = np.array([[3.0], [5.0], [7.0]])  # mean 5, sample variance 4
    expected = (1 - 5) ** 2 + (math.sqrt(2) - 2) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_diagonal_covariances():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 2)) * [1.0, 2.0]
    b = rng.normal(size=(4000, 2)) * [3.0, 2.0] + [1.0, 0.0]
    mean_a, mean_b = a.mean(0), b.mean(0)
    std_a, std_b = a.std(0, ddof=1), b.std(0, ddof=1)
    # with nearly diagonal covariances the distance is the sum of the per-axis 1-D distances
    expected = ((mean_a - mean_b) ** 2).sum() + ((std_a - std_b) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_frechet_floor_is_small_for_one_distribution_and_below_a_shift():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(2000, 3))
    floor = frechet_floor(real, seed=0)
    assert 0 < floor < 0.05
    assert frechet_distance(real, real + 1.0) == pytest.approx(3.0, rel=1e-6)


def test_frechet_distance_rejects_mismatched_features():
    with pytest.raises(SynbiolabError, match="same D"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_class_coverage_counts_predictions_and_confidence():
    probabilities = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.1, 0.1, 0.8]])
    coverage = class_coverage(probabilities)
    assert coverage["fractions"] == pytest.approx([0.5, 0.25, 0.25])
    assert coverage["min_fraction"] == pytest.approx(0.25)
    assert coverage["mean_confidence"] == pytest.approx((0.9 + 0.8 + 0.6 + 0.8) / 4)
    # logits go through softmax: equal logits give confidence 1/C
    assert class_coverage(torch.zeros(3, 4))["mean_confidence"] == pytest.approx(0.25)


# --- encoding


def test_as_index_array_accepts_strings_indices_and_one_hot():
    codes = as_index_array(["ACGT", "ttga"])
    assert codes.tolist() == [[0, 1, 2, 3], [3, 3, 2, 0]]
    one_hot = torch.nn.functional.one_hot(torch.tensor(codes, dtype=torch.long), 4).permute(0, 2, 1).float()
    assert as_index_array(one_hot).tolist() == codes.tolist()
    with pytest.raises(SynbiolabError, match="sequence 2 has letter 'X' at position 3"):
        as_index_array(["ACGT", "ACXT"])


def test_shuffle_keeps_composition():
    codes = as_index_array(["AAAACCCGGT" * 3])
    shuffled = shuffle_sequences(codes, seed=0)
    assert sorted(shuffled[0].tolist()) == sorted(codes[0].tolist())
    assert shuffled.tolist() != codes.tolist()


# --- k-mers


def test_kmer_frequencies_by_hand():
    # windows of AACG with k=2: AA, AC, CG; of TTTT: TT, TT, TT -> 6 windows
    freq = kmer_frequencies(["AACG", "TTTT"], k=2)
    expected = np.zeros(16)
    expected[0 * 4 + 0] = 1 / 6  # AA
    expected[0 * 4 + 1] = 1 / 6  # AC
    expected[1 * 4 + 2] = 1 / 6  # CG
    expected[3 * 4 + 3] = 3 / 6  # TT
    np.testing.assert_allclose(freq, expected)


def test_kmer_pearson_by_hand():
    # k=1: frequencies a = (0.5, 0.5, 0, 0), b = (0.25, 0.25, 0.25, 0.25) has zero variance -> nan;
    # c = (0.75, 0.25, 0, 0): r(a, c) computed by hand
    assert math.isnan(kmer_pearson(["AACC"], ["ACGT"], k=1))
    a = np.array([0.5, 0.5, 0, 0])
    c = np.array([0.75, 0.25, 0, 0])
    da, dc = a - a.mean(), c - c.mean()
    expected = (da * dc).sum() / math.sqrt((da**2).sum() * (dc**2).sum())
    assert kmer_pearson(["AACC"], ["AAAC"], k=1) == pytest.approx(expected)
    assert kmer_pearson(["ACGTTGCA"], ["ACGTTGCA"], k=3) == pytest.approx(1.0)


# --- sigma-70 boxes


def test_box_pwm_scores_consensus_by_hand():
    pwm = box_pwm("-10")
    # the consensus TATAAT scores sum(log2(p / 0.25)) with Harley & Reynolds' percentages
    consensus = sum(math.log2(p / 0.25) for p in (0.77, 0.76, 0.60, 0.61, 0.56, 0.82))
    codes = as_index_array(["TATAAT"])[0]
    assert pwm[codes, np.arange(6)].sum() == pytest.approx(consensus)
    # a mismatch base shares the rest equally: (1 - 0.77) / 3 for a non-T at the first position
    assert pwm[0, 0] == pytest.approx(math.log2((0.23 / 3) / 0.25))
    with pytest.raises(SynbiolabError, match="valid boxes"):
        box_pwm("-20")


def test_box_calls_find_positions_and_spacing():
    # -35 consensus at 0-based position 5, 17-nt spacer, -10 consensus at 5 + 6 + 17 = 28
    spacer = "GCGCGCGCGCGCGCGCG"
    assert len(spacer) == 17
    sequence = "GCGCG" + "TTGACA" + spacer + "TATAAT" + "GCGCGCGCGCGCGCGCG"
    sequence = sequence[:50]
    calls = box_calls([sequence, "G" * 50])
    assert calls["position_10"][0] == 28
    assert calls["position_35"][0] == 5
    assert calls["spacing"][0] == 17
    assert calls["score_10"][0] == pytest.approx(1.0)
    assert calls["has_10"].tolist() == [True, False]
    assert calls["has_35"].tolist() == [True, False]
    summary = box_summary([sequence, "G" * 50])
    assert summary["rate_10"] == 0.5 and summary["rate_both"] == 0.5
    assert summary["spacing_counts"] == {17: 1}
    assert summary["spacing_16_18"] == 1.0


def test_box_call_threshold_counts_mismatches():
    # one mismatch at the weakest position of TATAAT (A at 56 %) keeps a -10 box at threshold 0.8,
    # three mismatches lose it
    one_mismatch = "C" * 30 + "TATACT" + "C" * 14
    three_mismatches = "C" * 30 + "TCTCCT" + "C" * 14
    calls = box_calls([one_mismatch, three_mismatches], threshold=0.8)
    assert calls["has_10"].tolist() == [True, False]


# --- novelty and diversity


def test_nearest_hamming_and_novelty_by_hand():
    training = ["AAAA", "CCCC", "ACGT"]
    generated = ["AAAA", "AAAT", "GGGG", "ACGA"]
    assert nearest_hamming(generated, training).tolist() == [0, 1, 3, 1]
    result = novelty(generated, training)
    assert result["exact_fraction"] == 0.25
    assert result["mean_nearest"] == pytest.approx(5 / 4)
    assert result["nearest_counts"] == {0: 1, 1: 2, 3: 1}
    with pytest.raises(SynbiolabError, match="length 4 but the reference set has length 3"):
        nearest_hamming(generated, ["AAA"])


def test_mean_pairwise_distance_by_hand():
    # pairs: AAAA-AATT 2, AAAA-TTTT 4, AATT-TTTT 2 -> mean 8/3
    assert mean_pairwise_distance(["AAAA", "AATT", "TTTT"]) == pytest.approx(8 / 3)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(30, 12))
    brute = np.mean([(codes[i] != codes[j]).sum() for i in range(30) for j in range(30) if i != j])
    assert mean_pairwise_distance(codes) == pytest.approx(brute)
