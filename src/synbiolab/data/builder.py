"""Sequence records -> a Dataset: targets, encoding, splits that keep copies and groups together, notes."""

from __future__ import annotations

import numpy as np
import torch

from ..config import DataConfig
from ..errors import SynbiolabError
from .registry import Dataset, Split, check_train_size, data_warning
from .sequences import (
    trimmed_share,
)
from .splits import grouped_split, stratified_split
from .targets import duplicate_groups, merge_duplicates

TRIM_WARNING_SHARE = 0.1  # say so when fitting sequences to --length discards more than this share of the letters


# --- turning records into a Dataset


def _val_size(cfg: DataConfig, default: float) -> float:
    # An unset validation size means the data set's own default fraction.
    return default if cfg.val_size is None else cfg.val_size


def connected_groups(*labelings) -> np.ndarray:
    """One integer per example such that examples sharing a label in any labeling share the integer.

    Used to keep both a user's groups and the copies of a sequence whole in a split.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(labelings[0])
    rows, cols, offset = [], [], n
    for labels in labelings:
        _, codes = np.unique(np.asarray(labels), return_inverse=True)
        rows.append(np.arange(n))
        cols.append(codes + offset)
        offset += codes.max() + 1
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(offset, offset))
    return connected_components(graph, directed=False)[1][:n]


def held_out(size: float, how: str, groups: np.ndarray, labels: np.ndarray | None, seed: int, what: str):
    """(rest, held_out) indices that never split a group; stratified by label when asked and possible."""
    if how == "stratified" and labels is not None:
        if len(np.unique(groups)) == len(groups):
            return stratified_split(labels, size, seed=seed, what=what)
        # Stratify the groups by the label of their first member, then hold out the chosen groups whole.
        names, first = np.unique(groups, return_index=True)
        fraction = size / len(groups) if size >= 1 else size
        n_groups = min(max(int(round(fraction * len(names))), 1), len(names) - 1)
        _, held_groups = stratified_split(labels[first], n_groups, seed=seed, what=what)
        held = np.flatnonzero(np.isin(groups, names[held_groups]))
        return np.setdiff1d(np.arange(len(groups)), held), held
    if how not in ("random", "stratified", "grouped"):
        raise SynbiolabError(f"data.split={how!r} is unknown; valid: random, stratified, grouped")
    return grouped_split(groups, size, seed=seed, what=what)


def build_sequence_dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    task: str,
    cfg: DataConfig,
    class_names: list[str] | None = None,
    target_names: list[str] | None = None,
    sequences: list[str] | None = None,
    ids: list[str] | None = None,
    groups: list[str] | None = None,
    split: str = "random",
    test_size: float = 0.2,
    val_size: float = 0.1,
    info: dict | None = None,
    assigned: list[str] | None = None,
) -> Dataset:
    """Split encoded sequences into train/validation/test, keeping copies of a sequence (and groups) whole.

    Args:
        name: data set name.
        x: one-hot (N, A, L).
        y: targets (N,) int64 for classification, (N, T) float32 for regression, (N,) zeros when unlabelled.
        task: multiclass, binary, regression or generative.
        cfg: the DataConfig (seed, sizes, merge_duplicates).
        class_names, target_names: label or target names.
        sequences: the raw sequences, to find duplicates.
        ids, groups: per-example identifiers and groups.
        split: random, stratified or grouped (grouped needs `groups`).
        test_size, val_size: held-out sizes (count or fraction).
        info: provenance and preprocessing notes.
        assigned: the split the data's authors gave each example (train, val or test; ``--split-col``): used
            as it is, with a validation split carved from the training rows when none is marked.

    Returns:
        A Dataset of kind "sequence".
    """
    info = dict(info or {})
    if sequences is not None:
        dup = duplicate_groups(sequences)
        n_dup = len(dup) - len(np.unique(dup))
        if n_dup and cfg.merge_duplicates:
            first, y, merged_groups = merge_duplicates(
                sequences, y, task if task != "generative" else "binary", groups
            )
            x = x[first]
            ids = None if ids is None else [ids[i] for i in first]
            groups = merged_groups
            sequences = [sequences[i] for i in first]
            assigned = None if assigned is None else [assigned[i] for i in first]
            info["duplicates"] = (
                f"{n_dup} extra copies of repeated sequences merged into one example each "
                "(regression targets averaged, labels by majority)"
            )
            dup = np.arange(len(first))
        elif n_dup:
            info["duplicates"] = (
                f"{n_dup} extra copies of {len(np.unique(dup[np.bincount(dup)[dup] > 1]))} "
                "repeated sequences: all copies of a sequence are kept in the same split "
                "(data.merge_duplicates=true merges them)"
            )
    else:
        dup = np.arange(len(x))
    if split == "grouped":
        if groups is None:
            raise SynbiolabError(f"{name}: data.split=grouped needs groups: name a column with --group-col")
        whole = connected_groups(dup, np.asarray(groups))
    else:
        whole = dup
    labels = y if task in ("multiclass", "binary") else None
    if assigned is not None:
        train, val, test = _authors_split(name, np.asarray(assigned), split, whole, labels, cfg, val_size, info)
    else:
        pool, test = held_out(
            cfg.test_size if cfg.test_size is not None else test_size, split, whole, labels, cfg.seed, "test_size"
        )
        pool_labels = None if labels is None else labels[pool]
        train_rel, val_rel = held_out(
            _val_size(cfg, val_size), split, whole[pool], pool_labels, cfg.seed + 1, "val_size"
        )
        train, val = pool[train_rel], pool[val_rel]
    if cfg.train_size is not None:
        check_train_size(cfg.train_size, len(train), name)
        keep = np.random.default_rng(cfg.seed + 2).permutation(len(train))[: int(cfg.train_size)]
        train = np.sort(train[keep])
    y_dtype = torch.float32 if task in ("regression", "generative") else torch.int64
    group_array = None if groups is None else np.asarray(groups)

    def make(index):
        return Split(
            torch.from_numpy(np.ascontiguousarray(x[index])),
            torch.as_tensor(np.asarray(y)[index], dtype=y_dtype),
            None if ids is None else [ids[i] for i in index],
            None if group_array is None else group_array[index],
        )

    info.setdefault(
        "split",
        {"random": "random", "stratified": "stratified by class", "grouped": "grouped (whole groups held out)"}[split]
        + ", copies of a sequence kept together; "
        f"seed {cfg.seed}",
    )
    return Dataset(
        name=name,
        task=task,
        kind="sequence",
        train=make(train),
        val=make(val),
        test=make(test),
        class_names=class_names,
        input_shape=tuple(x.shape[1:]),
        target_names=target_names,
        info=info,
    )


def _authors_split(name, assigned, split, whole, labels, cfg, val_size, info):
    """(train, val, test) indices from the split column; validation carved from train when none is marked."""
    column = cfg.split_col or "split"
    train = np.flatnonzero(assigned == "train")
    val = np.flatnonzero(assigned == "val")
    test = np.flatnonzero(assigned == "test")
    if not len(train):
        raise SynbiolabError(f"{name}: no row of column '{column}' says train (or training)")
    if not len(test):
        raise SynbiolabError(f"{name}: no row of column '{column}' says test; mark the rows held out for the end")
    note = f"as the data's authors made it (column '{column}'): {len(train):,} train, "
    if len(val):
        note += f"{len(val):,} validation, {len(test):,} test rows"
    else:
        rel_train, rel_val = held_out(_val_size(cfg, val_size), split, whole[train],
                                      None if labels is None else labels[train], cfg.seed + 1, "val_size")
        train, val = train[rel_train], train[rel_val]
        note += f"{len(test):,} test rows; no row says val, so {len(val):,} of the train rows are held out for it"
    info["split"] = note
    shared = np.intersect1d(whole[np.concatenate([train, val])], whole[test])
    if len(shared):
        info["split overlap"] = (f"{len(shared)} sequence(s) occur in both the test rows and the train or validation "
                                 "rows of the authors' split (kept as given)")
    return train, val, test


def encoding_notes(
    sequences: list[str], x: np.ndarray, mask: np.ndarray, cfg: DataConfig, length: int, source: str = ""
) -> dict:
    lengths = np.array([len(s) for s in sequences])
    ambiguous = int(((x.max(1) < 1) & mask).any(1).sum())
    notes = {
        "lengths": f"min {lengths.min()}, median {int(np.median(lengths))}, max {lengths.max()} letters",
        "encoding": f"one-hot {x.shape[1]} x {length}"
        + (
            f"; {int((lengths < length).sum())} shorter sequences padded on the {cfg.pad}"
            if (lengths < length).any()
            else ""
        )
        + (
            f"; {int((lengths > length).sum())} longer ones trimmed on the {cfg.pad}"
            if (lengths > length).any()
            else ""
        ),
    }
    if ambiguous:
        notes["ambiguity"] = (
            f"{ambiguous} sequences hold IUPAC ambiguity letters, encoded as probabilities "
            "over the bases (data.strict=true rejects them)"
        )
    if cfg.alphabet == "dna":
        rna = sum(1 for seq in sequences if "U" in seq or "u" in seq)
        if rna:
            notes["rna"] = f"{rna} sequences written with RNA letters: U read as T, the same base"
    share = trimmed_share(sequences, length)
    if share > TRIM_WARNING_SHARE:
        kept = {"right": "first", "left": "last", "centre": "middle"}.get(cfg.pad, "first")
        data_warning(notes, f"{source or cfg.name}: fitting the sequences to {length} positions discards "
                            f"{share:.0%} of their letters ({int((lengths > length).sum()):,} of {len(lengths):,} "
                            f"sequences are longer; each keeps its {kept} {length}); check --length and --pad")
    return notes


def regression_notes(y: np.ndarray, names: list[str], logged: bool) -> dict:
    return {
        "targets": "; ".join(
            f"{n}{' (log10)' if logged else ''}: mean {y[:, j].mean():.3f}, sd {y[:, j].std():.3f}, "
            f"range {y[:, j].min():.3f} to {y[:, j].max():.3f}"
            for j, n in enumerate(names)
        )
    }


