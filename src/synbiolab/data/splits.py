"""Train/validation/test splits: random and stratified, seeded, returned as index arrays."""

from __future__ import annotations

import numpy as np

from ..errors import SynbiolabError


def _count(n_total: int, size: float, what: str) -> int:
    """A split size given as a count (>= 1) or a fraction (< 1) of `n_total`."""
    n = int(round(size * n_total)) if 0 < size < 1 else int(size)
    if n <= 0 or n >= n_total:
        raise SynbiolabError(f"{what}={size}: must leave examples on both sides of a split of {n_total}")
    return n


def random_split(n_total: int, size: float, seed: int = 0, what: str = "size") -> tuple[np.ndarray, np.ndarray]:
    """Split range(n_total) into (rest, held_out) with `size` examples held out at random."""
    n = _count(n_total, size, what)
    perm = np.random.default_rng(seed).permutation(n_total)
    return np.sort(perm[n:]), np.sort(perm[:n])


def stratified_split(
    labels: np.ndarray, size: float, seed: int = 0, what: str = "size"
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held_out) so each class keeps its share in the held-out part.

    Rounding is done by largest remainder so that exactly `size` examples are held out.
    """
    labels = np.asarray(labels)
    n_total = len(labels)
    n = _count(n_total, size, what)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / n_total
    take = np.floor(quota).astype(int)
    for i in np.argsort(-(quota - take))[: n - take.sum()]:
        take[i] += 1
    held = []
    for cls, k in zip(classes, take, strict=True):
        members = np.flatnonzero(labels == cls)
        held.append(rng.permutation(members)[:k])
    held_out = np.sort(np.concatenate(held))
    rest = np.setdiff1d(np.arange(n_total), held_out)
    return rest, held_out


def subsample(labels: np.ndarray, n: int, seed: int = 0, stratify: bool = True) -> np.ndarray:
    """Indices of `n` examples, keeping class proportions when `stratify` (for --train-size)."""
    n_total = len(labels)
    if n >= n_total:
        return np.arange(n_total)
    if n <= 0:
        raise SynbiolabError(f"train_size={n}: must be a positive number of examples")
    if stratify:
        return stratified_split(labels, n, seed, what="train_size")[1]
    return random_split(n_total, n, seed, what="train_size")[1]
