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
    pack_bases,
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


def brute_force_nearest(query: np.ndarray, reference: np.ndarray) -> list[int]:
    # the definition, pair by pair: the fewest positions at which a reference sequence differs
    return [min(int((q != r).sum()) for r in reference) for q in query]


@pytest.mark.parametrize("length", [1, 13, 50, 64, 65, 150])
def test_nearest_hamming_matches_brute_force_on_random_sequences(length):
    rng = np.random.default_rng(length)
    reference = rng.integers(0, 4, size=(41, length))
    query = rng.integers(0, 4, size=(23, length))
    query[4] = reference[7]  # an exact copy
    query[9] = reference[2]
    query[9, 0] = (query[9, 0] + 1) % 4  # one mismatch from a reference sequence
    expected = brute_force_nearest(query, reference)
    # chunk sizes that do and do not divide the number of queries give the same answer
    for chunk_size in (1, 5, 8, 100):
        assert nearest_hamming(query, reference, chunk_size=chunk_size).tolist() == expected
    assert expected[4] == 0 and expected[9] <= 1


def test_nearest_hamming_without_numpy_bit_count(monkeypatch):
    # numpy before 2.0 has no bitwise_count: the byte lookup table must give the same distances
    rng = np.random.default_rng(3)
    reference, query = rng.integers(0, 4, size=(30, 70)), rng.integers(0, 4, size=(12, 70))
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert nearest_hamming(query, reference).tolist() == brute_force_nearest(query, reference)


def test_pack_bases_puts_one_bit_per_base_in_each_plane():
    low, high = pack_bases(as_index_array(["ACGT" + "A" * 62]))  # 66 bases -> two 64-bit words
    assert low.shape == high.shape == (1, 2)
    # A=00, C=01, G=10, T=11: bit 0 set for C and T, bit 1 for G and T
    assert int(low[0, 0]) == 0b1010 and int(high[0, 0]) == 0b1100
    assert int(low[0, 1]) == 0 and int(high[0, 1]) == 0


def test_mean_pairwise_distance_by_hand():
    # pairs: AAAA-AATT 2, AAAA-TTTT 4, AATT-TTTT 2 -> mean 8/3
    assert mean_pairwise_distance(["AAAA", "AATT", "TTTT"]) == pytest.approx(8 / 3)
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, size=(30, 12))
    brute = np.mean([(codes[i] != codes[j]).sum() for i in range(30) for j in range(30) if i != j])
    assert mean_pairwise_distance(codes) == pytest.approx(brute)


# --- per-epoch and final sequence quality


def test_sequence_quality_checks_novelty_on_a_fixed_subsample_per_epoch_and_on_all_at_the_end():
    from synbiolab.data.generative import GanData
    from synbiolab.evaluate.gan_quality import SequenceQuality

    rng = np.random.default_rng(5)

    def one_hot(codes):
        return torch.nn.functional.one_hot(torch.as_tensor(codes, dtype=torch.long), 4).permute(0, 2, 1).float()

    train, heldout = rng.integers(0, 4, size=(300, 20)), rng.integers(0, 4, size=(80, 20))
    data = GanData("random", "sequence", one_hot(train), torch.zeros(300), one_hot(heldout), torch.zeros(80),
                   (4, 20), 0)
    quality = SequenceQuality(data, k=3, epoch_novelty_samples=50)
    generated = rng.integers(0, 4, size=(200, 20))
    generated[:10] = train[:10]  # copies among the first 50 ...
    generated[150:190] = train[50:90]  # ... and many more beyond them, which only the final call sees
    per_epoch = quality.score_codes(generated)
    assert per_epoch["exact_fraction"] == pytest.approx(10 / 50)
    assert per_epoch["mean_nearest"] == pytest.approx(np.mean(brute_force_nearest(generated[:50], train)))
    final = quality.score_codes(generated, details=True)
    assert final["exact_fraction"] == pytest.approx(50 / 200)
    assert final["n_novelty_samples"] == 200 and final["n_samples"] == 200
    # the cheap numbers use every sequence in both calls
    assert per_epoch["kmer_r"] == final["kmer_r"] == pytest.approx(kmer_pearson(generated, heldout, k=3))
