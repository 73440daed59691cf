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


# --- grouped splits and k-fold cross-validation


def grouped_split(groups, size: float, seed: int = 0, what: str = "size") -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held_out) holding out whole groups, never part of one.

    Groups are taken in a seeded random order until the held-out part is as close as possible to `size`
    examples, so a study (or a gene, or every copy of a duplicated sequence) sits on one side only.

    Args:
        groups: the group of each example (any hashable values).
        size: examples to hold out: a count, or a fraction (< 1) of all examples.
        seed: seed of the group order.
        what: name of the setting, for error messages.

    Returns:
        (rest, held_out) sorted index arrays.
    """
    groups = np.asarray(groups)
    n_total = len(groups)
    n = _count(n_total, size, what)
    names, codes = np.unique(groups, return_inverse=True)
    if len(names) < 2:
        raise SynbiolabError(f"{what}: a grouped split needs at least 2 groups, found {len(names)}")
    order = np.random.default_rng(seed).permutation(len(names))
    sizes = np.bincount(codes, minlength=len(names))[order]
    reached = np.cumsum(sizes)
    # The prefix of the shuffled groups whose total is nearest the wanted size, leaving a group on each side.
    n_groups = int(np.clip(np.argmin(np.abs(reached - n)) + 1, 1, len(names) - 1))
    held_out = np.flatnonzero(np.isin(codes, order[:n_groups]))
    rest = np.setdiff1d(np.arange(n_total), held_out)
    return rest, held_out


def kfold(
    n_folds: int, n_total: int | None = None, labels=None, groups=None, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """k-fold cross-validation: a list of (train, test) index arrays; every example is tested once.

    With `labels` the folds keep the class shares (stratified); with `groups` no group is split between
    a fold's train and test parts (e.g. whole source studies held out, or all copies of a sequence).

    Args:
        n_folds: number of folds (>= 2).
        n_total: number of examples (needed when neither labels nor groups are given).
        labels: class of each example, for stratified folds.
        groups: group of each example, for grouped folds.
        seed: seed of the fold assignment.

    Returns:
        n_folds pairs of sorted (train, test) index arrays.
    """
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if labels is not None:
        n_total = len(labels)
    elif groups is not None:
        n_total = len(groups)
    if n_total is None:
        raise SynbiolabError("kfold needs n_total, labels or groups")
    if n_folds < 2 or n_folds > n_total:
        raise SynbiolabError(f"folds={n_folds}: must be between 2 and the number of examples ({n_total})")
    placeholder = np.zeros(n_total)
    if groups is not None:
        n_groups = len(np.unique(np.asarray(groups)))
        if n_groups < n_folds:
            raise SynbiolabError(f"folds={n_folds}: only {n_groups} groups; give at most {n_groups} folds")
        if labels is not None:
            splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed)
            pairs = splitter.split(placeholder, np.asarray(labels), np.asarray(groups))
        else:
            # GroupKFold balances fold sizes deterministically; shuffle the group names for a seeded variety.
            names, codes = np.unique(np.asarray(groups), return_inverse=True)
            shuffled = np.random.default_rng(seed).permutation(len(names))[codes]
            pairs = GroupKFold(n_folds).split(placeholder, groups=shuffled)
    elif labels is not None:
        smallest = np.unique(np.asarray(labels), return_counts=True)[1].min()
        if smallest < n_folds:
            raise SynbiolabError(f"folds={n_folds}: the rarest class has only {smallest} examples")
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
        pairs = splitter.split(placeholder, np.asarray(labels))
    else:
        pairs = KFold(n_folds, shuffle=True, random_state=seed).split(placeholder)
    return [(np.sort(train), np.sort(test)) for train, test in pairs]
