"""Quality metrics for generated data: images judged by a classifier, DNA judged by its own statistics.

Every metric comes with a reference point measured the same way on real data (a floor, a ceiling or the
natural rate), because a number alone says nothing about whether a generator is good.

Images: the Frechet distance between two sets of judge features (with its floor from two halves of the
real set), and the class coverage of the judge's predictions.

Sequences (DNA over A, C, G, T): k-mer frequency agreement (Pearson r), sigma-70 -10 / -35 box calls with
position weight matrices, novelty against a training set (exact copies and nearest Hamming distance) and
diversity (mean pairwise Hamming distance).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import SynbiolabError

DNA_ALPHABET = "ACGT"

# ---------------------------------------------------------------------------------------------------------
# Images: Frechet distance and class coverage
# ---------------------------------------------------------------------------------------------------------


def _as_numpy(array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().double().numpy()
    return np.asarray(array, dtype=np.float64)


def frechet_distance(features_a, features_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (the FID formula).

    d^2 = |mu_a - mu_b|^2 + trace(S_a + S_b - 2 (S_a S_b)^(1/2))

    Args:
        features_a: (N, D) features of one set (e.g. a judge's penultimate layer on generated images).
        features_b: (M, D) features of the other set.

    Returns:
        The squared Frechet distance (0 for identical distributions).
    """
    a, b = _as_numpy(features_a), _as_numpy(features_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise SynbiolabError(
            f"frechet_distance needs two (N, D) feature arrays of the same D, got {a.shape} and {b.shape}"
        )
    if len(a) < 2 or len(b) < 2:
        raise SynbiolabError("frechet_distance needs at least 2 samples in each set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    # trace((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric PSD matrix,
    # which stays real and stable where a general matrix square root would return round-off imaginaries
    values, vectors = np.linalg.eigh(cov_a)
    sqrt_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    product_eigenvalues = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(product_eigenvalues, 0, None)).sum()
    distance = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    return float(max(distance, 0.0))


def frechet_floor(real_features, seed: int = 0) -> float:
    """The Frechet distance between two random halves of the real set: the best a generator can hope for.

    Args:
        real_features: (N, D) judge features of real data.
        seed: seed of the random split.

    Returns:
        The distance between the halves (finite sample size keeps it above 0).
    """
    real = _as_numpy(real_features)
    order = np.random.default_rng(seed).permutation(len(real))
    half = len(real) // 2
    return frechet_distance(real[order[:half]], real[order[half : 2 * half]])


def class_coverage(logits, n_classes: int | None = None) -> dict:
    """How evenly a judge spreads generated samples over the classes, and how sure it is.

    Args:
        logits: (N, C) judge outputs (logits or probabilities; softmax is applied to logits).
        n_classes: number of classes (defaults to C).

    Returns:
        dict with ``fractions`` (list of C class fractions), ``min_fraction``, ``mean_confidence`` (mean of
        the winning class probability) and ``n_samples``.
    """
    scores = torch.as_tensor(np.asarray(_as_numpy(logits)), dtype=torch.float64)
    if scores.ndim != 2:
        raise SynbiolabError(f"class_coverage needs (N, C) judge outputs, got shape {tuple(scores.shape)}")
    n_classes = n_classes or scores.shape[1]
    sums_to_one = torch.allclose(scores.sum(1), torch.ones(len(scores), dtype=scores.dtype))
    is_probability = bool((scores >= 0).all() and sums_to_one)
    probabilities = scores if is_probability else torch.softmax(scores, dim=1)
    confidence, predicted = probabilities.max(dim=1)
    counts = torch.bincount(predicted, minlength=n_classes).double()
    fractions = (counts / max(len(predicted), 1)).tolist()
    return {
        "fractions": fractions,
        "min_fraction": float(min(fractions)),
        "mean_confidence": float(confidence.mean()) if len(confidence) else float("nan"),
        "n_samples": int(len(predicted)),
    }


# ---------------------------------------------------------------------------------------------------------
# Sequences: encoding
# ---------------------------------------------------------------------------------------------------------


def as_index_array(sequences) -> np.ndarray:
    """Sequences as an (N, L) uint8 array of base indices 0..3 (A, C, G, T).

    Args:
        sequences: a list of equal-length strings, an (N, L) integer array, or a one-hot / probability
            array or tensor of shape (N, 4, L) (the most probable base is taken).

    Returns:
        (N, L) uint8 array.
    """
    if isinstance(sequences, torch.Tensor):
        sequences = sequences.detach().cpu().numpy()
    if isinstance(sequences, np.ndarray) and sequences.dtype.kind in "fiu":
        if sequences.ndim == 3:
            if sequences.shape[1] != 4:
                raise SynbiolabError(f"one-hot DNA must have shape (N, 4, L), got {sequences.shape}")
            return sequences.argmax(axis=1).astype(np.uint8)  # (N, 4, L) -> (N, L)
        if sequences.ndim == 2:
            if sequences.size and (sequences.min() < 0 or sequences.max() > 3):
                raise SynbiolabError("integer-coded DNA must hold values 0..3 (A, C, G, T)")
            return sequences.astype(np.uint8)
        raise SynbiolabError(f"DNA must be (N, L) indices or (N, 4, L) one-hot, got shape {sequences.shape}")
    strings = [str(s).upper() for s in sequences]
    if not strings:
        return np.zeros((0, 0), dtype=np.uint8)
    lengths = {len(s) for s in strings}
    if len(lengths) != 1:
        raise SynbiolabError(f"sequences must share one length, got lengths {sorted(lengths)[:5]}")
    lookup = np.full(256, 255, dtype=np.uint8)
    for index, base in enumerate(DNA_ALPHABET):
        lookup[ord(base)] = index
    lookup[ord("U")] = 3
    raw = np.frombuffer("".join(strings).encode("ascii", errors="replace"), dtype=np.uint8)
    codes = lookup[raw].reshape(len(strings), -1)
    if (codes == 255).any():
        row, column = np.argwhere(codes == 255)[0]
        raise SynbiolabError(
            f"sequence {row + 1} has letter {strings[row][column]!r} at position {column + 1}; "
            f"valid letters are {DNA_ALPHABET}"
        )
    return codes


def index_to_strings(indices: np.ndarray) -> list[str]:
    """(N, L) base indices -> list of N strings over ACGT."""
    letters = np.frombuffer(DNA_ALPHABET.encode(), dtype=np.uint8)[np.asarray(indices, dtype=np.intp)]
    return [row.tobytes().decode() for row in letters]


def shuffle_sequences(sequences, seed: int = 0) -> np.ndarray:
    """Shuffle the bases within each sequence: same composition, no order (the floor of k-mer metrics).

    Args:
        sequences: anything ``as_index_array`` accepts.
        seed: seed of the shuffles.

    Returns:
        (N, L) uint8 array of shuffled sequences.
    """
    codes = as_index_array(sequences).copy()
    rng = np.random.default_rng(seed)
    return rng.permuted(codes, axis=1)


# ---------------------------------------------------------------------------------------------------------
# Sequences: k-mer frequencies
# ---------------------------------------------------------------------------------------------------------


def kmer_frequencies(sequences, k: int = 6) -> np.ndarray:
    """Frequencies of every k-mer (4^k, lexicographic order AA..TT) over all windows of all sequences.

    Args:
        sequences: anything ``as_index_array`` accepts.
        k: k-mer length.

    Returns:
        (4^k,) float64 array summing to 1 (all zeros when the sequences are shorter than k).
    """
    codes = as_index_array(sequences).astype(np.int64)
    n_kmers = 4**k
    if codes.shape[1] < k or len(codes) == 0:
        return np.zeros(n_kmers)
    # k-mer index = sum of base * 4^(k-1-offset), built from k shifted views of the index array
    windows = codes.shape[1] - k + 1
    index = np.zeros((len(codes), windows), dtype=np.int64)
    for offset in range(k):
        index = index * 4 + codes[:, offset : offset + windows]
    counts = np.bincount(index.ravel(), minlength=n_kmers).astype(np.float64)
    return counts / counts.sum()


def kmer_pearson(sequences_a, sequences_b, k: int = 6) -> float:
    """Pearson r between the k-mer frequencies of two sets of sequences.

    Args:
        sequences_a: first set (e.g. generated sequences).
        sequences_b: second set (e.g. held-out natural promoters).
        k: k-mer length.

    Returns:
        Pearson correlation coefficient over the 4^k k-mers.
    """
    freq_a, freq_b = kmer_frequencies(sequences_a, k), kmer_frequencies(sequences_b, k)
    if freq_a.std() == 0 or freq_b.std() == 0:
        return float("nan")
    return float(np.corrcoef(freq_a, freq_b)[0, 1])


# ---------------------------------------------------------------------------------------------------------
# Sequences: sigma-70 promoter boxes
# ---------------------------------------------------------------------------------------------------------

# Base frequencies (%) at each position of the E. coli sigma-70 boxes, consensus TTGACA (-35) and TATAAT
# (-10), as compiled from several hundred promoters by Harley & Reynolds (1987, Nucleic Acids Res 15:2343).
# The remaining probability at each position is shared equally by the three other bases.
_CONSENSUS_PERCENT = {
    "-35": ("TTGACA", (69, 79, 61, 56, 54, 54)),
    "-10": ("TATAAT", (77, 76, 60, 61, 56, 82)),
}


def box_pwm(box: str, background: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> np.ndarray:
    """Log-odds position weight matrix of a sigma-70 box.

    Args:
        box: "-10" (TATAAT-like) or "-35" (TTGACA-like).
        background: base frequencies (A, C, G, T) of the null model.

    Returns:
        (4, 6) array of log2(p(base at position) / background(base)).
    """
    if box not in _CONSENSUS_PERCENT:
        raise SynbiolabError(f"unknown box {box!r}; valid boxes are {sorted(_CONSENSUS_PERCENT)}")
    consensus, percents = _CONSENSUS_PERCENT[box]
    probabilities = np.zeros((4, len(consensus)))
    for position, (base, percent) in enumerate(zip(consensus, percents, strict=True)):
        probabilities[:, position] = (1 - percent / 100) / 3
        probabilities[DNA_ALPHABET.index(base), position] = percent / 100
    return np.log2(probabilities / np.asarray(background, dtype=np.float64)[:, None])


def pwm_scores(sequences, pwm: np.ndarray) -> np.ndarray:
    """Score of a PWM at every start position of every sequence.

    Args:
        sequences: anything ``as_index_array`` accepts, length L.
        pwm: (4, W) log-odds matrix.

    Returns:
        (N, L - W + 1) array of summed log-odds scores.
    """
    codes = as_index_array(sequences).astype(np.intp)
    width = pwm.shape[1]
    windows = codes.shape[1] - width + 1
    if windows < 1:
        raise SynbiolabError(f"sequences of length {codes.shape[1]} are shorter than the {width}-nt box")
    scores = np.zeros((len(codes), windows))
    for offset in range(width):
        scores += pwm[codes[:, offset : offset + windows], offset]
    return scores


def relative_score(scores: np.ndarray, pwm: np.ndarray) -> np.ndarray:
    """PWM scores rescaled so that 0 is the worst possible site and 1 the consensus."""
    lowest, highest = pwm.min(0).sum(), pwm.max(0).sum()
    return (scores - lowest) / (highest - lowest)


def box_calls(
    sequences,
    threshold: float = 0.7,
    min_spacing: int = 12,
    max_spacing: int = 22,
) -> dict:
    """Call sigma-70 -10 and -35 boxes in each sequence.

    The -10 box is the best-scoring TATAAT-like site anywhere; the -35 box is the best TTGACA-like site
    upstream of it whose spacer (nucleotides between the end of the -35 box and the start of the -10 box)
    lies in [min_spacing, max_spacing] (natural promoters: mostly 16-18 nt). A box is present when its
    relative PWM score (0 = worst site, 1 = consensus) reaches ``threshold``. The default 0.7 is where the
    14,098 natural E. coli promoters of Wang et al. (2020) stand clearly above the same sequences with their
    bases shuffled (-10: 72 % vs 54 %, -35: 22 % vs 11 %).

    Args:
        sequences: anything ``as_index_array`` accepts.
        threshold: relative score a site needs to count as a box.
        min_spacing: shortest spacer considered for the -35 box.
        max_spacing: longest spacer considered for the -35 box.

    Returns:
        dict of (N,) arrays: ``score_10``, ``position_10`` (0-based start), ``has_10``, ``score_35``,
        ``position_35`` (-1 where no site fits the spacing), ``has_35``, ``spacing`` (-1 where none).
    """
    pwm_10, pwm_35 = box_pwm("-10"), box_pwm("-35")
    width = pwm_10.shape[1]
    score_10 = relative_score(pwm_scores(sequences, pwm_10), pwm_10)  # (N, windows)
    score_35 = relative_score(pwm_scores(sequences, pwm_35), pwm_35)
    n, windows = score_10.shape
    position_10 = score_10.argmax(1)
    best_10 = score_10[np.arange(n), position_10]
    # allowed -35 starts for each sequence: position_10 - width - spacing, for spacing in the window
    spacings = np.arange(min_spacing, max_spacing + 1)
    starts = position_10[:, None] - width - spacings[None, :]  # (N, S)
    valid = starts >= 0
    candidate = np.where(valid, score_35[np.arange(n)[:, None], np.clip(starts, 0, windows - 1)], -np.inf)
    pick = candidate.argmax(1)
    best_35 = candidate[np.arange(n), pick]
    found = np.isfinite(best_35)
    position_35 = np.where(found, starts[np.arange(n), pick], -1)
    spacing = np.where(found, spacings[pick], -1)
    return {
        "score_10": best_10,
        "position_10": position_10,
        "has_10": best_10 >= threshold,
        "score_35": np.where(found, best_35, np.nan),
        "position_35": position_35,
        "has_35": found & (best_35 >= threshold),
        "spacing": spacing,
    }


def box_summary(sequences, threshold: float = 0.7) -> dict:
    """Rates of -10 and -35 boxes and the distribution of their positions and spacing.

    Args:
        sequences: anything ``as_index_array`` accepts.
        threshold: relative PWM score a site needs (see ``box_calls``).

    Returns:
        dict with ``rate_10``, ``rate_35``, ``rate_both``, ``spacing_counts`` (spacer length -> count, over
        sequences with both boxes), ``spacing_16_18`` (fraction of those with a 16-18 nt spacer),
        ``position_10_counts`` and ``position_35_counts`` (start -> count, over sequences with that box).
    """
    calls = box_calls(sequences, threshold=threshold)
    both = calls["has_10"] & calls["has_35"]

    def counts(values: np.ndarray) -> dict[int, int]:
        unique, number = np.unique(values, return_counts=True)
        return {int(u): int(c) for u, c in zip(unique, number, strict=True)}

    spacing = calls["spacing"][both]
    return {
        "rate_10": float(calls["has_10"].mean()),
        "rate_35": float(calls["has_35"].mean()),
        "rate_both": float(both.mean()),
        "spacing_counts": counts(spacing),
        "spacing_16_18": float(((spacing >= 16) & (spacing <= 18)).mean()) if len(spacing) else float("nan"),
        "position_10_counts": counts(calls["position_10"][calls["has_10"]]),
        "position_35_counts": counts(calls["position_35"][calls["has_35"]]),
    }


# ---------------------------------------------------------------------------------------------------------
# Sequences: novelty and diversity
# ---------------------------------------------------------------------------------------------------------


def pack_bases(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) base indices as two bit planes of 64-bit words: bit j of word w holds base 64 w + j.

    The low plane holds bit 0 of each base index, the high plane bit 1. Two bases differ exactly when either
    plane differs, so ``(lo_a ^ lo_b) | (hi_a ^ hi_b)`` has one set bit per mismatch and its population count
    is the Hamming distance: one 64-bit word covers 64 positions.

    Args:
        codes: (N, L) array of base indices 0..3.

    Returns:
        (low, high), each an (N, ceil(L / 64)) uint64 array (positions past L are zero in both sets).
    """
    codes = np.asarray(codes, dtype=np.uint8)
    n, length = codes.shape
    n_bytes = 8 * max(-(-length // 64), 1)

    def plane(bits: np.ndarray) -> np.ndarray:
        packed = np.zeros((n, n_bytes), dtype=np.uint8)
        packed[:, : -(-length // 8)] = np.packbits(bits, axis=1, bitorder="little")
        return packed.view(np.uint64)

    return plane(codes & 1), plane(codes >> 1)


# bits set in each byte value, for numpy versions without np.bitwise_count (before 2.0)
_BITS_IN_BYTE = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.uint8)


def _bit_count(words: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 in `words`, written into `out` (same shape)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(words, out=out, casting="unsafe")
    out[...] = _BITS_IN_BYTE[words.view(np.uint8)].reshape(*words.shape, 8).sum(-1)
    return out


def nearest_hamming(sequences, reference, chunk_size: int = 8) -> np.ndarray:
    """Hamming distance from each sequence to its nearest sequence in a reference set.

    Every query is compared with every reference sequence on bit-packed bases (``pack_bases``): an XOR, an
    OR and a population count per 64 positions, in whole-array numpy operations over a chunk of queries at a
    time. Exact, with no loop over pairs.

    Args:
        sequences: the query set (e.g. generated sequences), length L.
        reference: the reference set (e.g. training promoters), length L.
        chunk_size: queries compared at once; memory is about 17 x chunk_size x len(reference) bytes, and small
            chunks are the fastest because their buffers stay in the CPU cache (8 queries against 12,688
            promoters: 0.8 MB per buffer).

    Returns:
        (N,) int array of distances (0 means an exact copy).
    """
    query, ref = as_index_array(sequences), as_index_array(reference)
    if len(ref) == 0:
        raise SynbiolabError("nearest_hamming needs a non-empty reference set")
    if query.shape[1] != ref.shape[1]:
        raise SynbiolabError(
            f"sequences have length {query.shape[1]} but the reference set has length {ref.shape[1]}"
        )
    nearest = np.empty(len(query), dtype=np.int64)
    if len(query) == 0:
        return nearest
    query_low, query_high = pack_bases(query)
    ref_low, ref_high = (np.ascontiguousarray(plane.T) for plane in pack_bases(ref))  # (words, M): rows read whole
    chunk_size = max(1, min(chunk_size, len(query)))
    # buffers reused across chunks: a fresh (chunk, M) array per operation would cost more than the arithmetic
    words = query_low.shape[1]
    differ = np.empty((chunk_size, len(ref)), dtype=np.uint64)
    other = np.empty_like(differ)
    counts = np.empty((chunk_size, len(ref)), dtype=np.uint8)  # at most 64 mismatches per word
    total = np.empty((chunk_size, len(ref)), dtype=np.uint32) if words > 1 else counts  # longer sequences
    for start in range(0, len(query), chunk_size):
        n = min(chunk_size, len(query) - start)
        mismatch, scratch, count, distance = differ[:n], other[:n], counts[:n], total[:n]
        for word in range(words):
            np.bitwise_xor(query_low[start : start + n, word, None], ref_low[word], out=mismatch)
            np.bitwise_xor(query_high[start : start + n, word, None], ref_high[word], out=scratch)
            np.bitwise_or(mismatch, scratch, out=mismatch)  # one set bit per position where the bases differ
            _bit_count(mismatch, count)
            if words > 1:
                if word == 0:
                    distance[...] = count
                else:
                    distance += count
        nearest[start : start + n] = distance.min(1)
    return nearest


def novelty(sequences, training) -> dict:
    """Memorisation check: exact copies of training sequences and the nearest-neighbour distances.

    Args:
        sequences: generated (or held-out) sequences.
        training: the training sequences.

    Returns:
        dict with ``exact_fraction`` (share identical to a training sequence), ``mean_nearest`` and
        ``median_nearest`` (Hamming distance to the nearest training sequence) and ``nearest_counts``
        (distance -> count).
    """
    distances = nearest_hamming(sequences, training)
    unique, number = np.unique(distances, return_counts=True)
    return {
        "exact_fraction": float((distances == 0).mean()),
        "mean_nearest": float(distances.mean()),
        "median_nearest": float(np.median(distances)),
        "nearest_counts": {int(u): int(c) for u, c in zip(unique, number, strict=True)},
    }


def mean_pairwise_distance(sequences) -> float:
    """Mean Hamming distance over all pairs of distinct sequences in a set (its diversity).

    Computed exactly from per-position base counts: at a position where base b occurs c_b times, c_b(c_b-1)
    ordered pairs agree, so the mean number of agreeing positions is sum c_b(c_b-1) / (N(N-1)).

    Args:
        sequences: anything ``as_index_array`` accepts, at least two sequences.

    Returns:
        Mean pairwise Hamming distance in nucleotides.
    """
    codes = as_index_array(sequences)
    n, length = codes.shape
    if n < 2:
        raise SynbiolabError("mean_pairwise_distance needs at least 2 sequences")
    counts = np.stack([(codes == base).sum(0) for base in range(4)]).astype(np.float64)  # (4, L)
    agreeing_pairs = (counts * (counts - 1)).sum()
    return float(length - agreeing_pairs / (n * (n - 1)))
