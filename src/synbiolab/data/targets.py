"""Targets and duplicates of sequence records: a column read as a whole (numbers, classes, missing cells
named by line), and identical sequences kept together in one split or merged."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ..errors import SynbiolabError
from .sequences import MAX_CLASSES, SequenceTable

# --- targets


MISSING = {"", "nan", "na", "n/a", "null"}  # "-" and "none" stay valid class labels


NUMERIC_SHARE = 0.9  # a column this much of whose rows are numbers is a measurement: its other cells are errors


def _lines_of(table: SequenceTable, rows, values=None) -> str:
    rows = list(rows)
    shown = ", ".join(
        f"{table.lines[i]}" + ("" if values is None else f" ('{values[i]}')") for i in rows[:10]
    )
    return shown + (f" and {len(rows) - 10} more" if len(rows) > 10 else "")


def parse_targets(table: SequenceTable, task: str = "auto", log_target: bool = False):
    """Turn the raw target strings of a table into model targets, the task inferred from whole columns.

    Args:
        table: a SequenceTable with targets.
        task: auto, regression, binary or multiclass. auto: a column of finite numbers is a regression
            target, except a single column holding only 0 and 1 (binary); a column whose rows are at least
            ``NUMERIC_SHARE`` numbers is a measurement with bad cells (an error naming their lines, never a
            class per value); any other column holds class labels: binary (two) or multiclass.
        log_target: regress log10 of the targets (which must then be > 0).

    Returns:
        (task, y, class_names): y is float32 (N, T) for regression, int64 (N,) for classification.

    Raises:
        SynbiolabError: missing or NaN targets, non-numbers in a numeric column (listing their lines), more than
            ``MAX_CLASSES`` labels, a single label, non-positive values under log_target.
    """
    raw = table.targets
    if raw is None or raw.shape[1] == 0:
        raise SynbiolabError(f"{table.source}: no target column: name one with --target")
    missing = np.array([[str(v).strip().lower() in MISSING for v in row] for row in raw])
    if missing.any():
        rows = np.flatnonzero(missing.any(axis=1))
        raise SynbiolabError(
            f"{table.source}: {len(rows)} missing or NaN target(s) in column(s) "
            f"{', '.join(table.target_names)} on line(s) {_lines_of(table, rows)}; remove or fill these rows"
        )
    numeric = np.zeros(raw.shape, bool)
    values = np.full(raw.shape, np.nan)
    for (i, j), v in np.ndenumerate(raw):
        try:
            values[i, j] = float(v)
            numeric[i, j] = math.isfinite(values[i, j])
        except (ValueError, OverflowError):
            pass
    if task == "auto":
        if numeric.all():
            single_01 = raw.shape[1] == 1 and set(np.unique(values)) <= {0.0, 1.0} and not log_target
            task = "binary" if single_01 else "regression"
        else:
            for j, name in enumerate(table.target_names):
                bad = np.flatnonzero(~numeric[:, j])
                if len(bad) and numeric[:, j].mean() >= NUMERIC_SHARE:
                    raise SynbiolabError(
                        f"{table.source}: column '{name}' holds numbers except on line(s) "
                        f"{_lines_of(table, bad, raw[:, j])}: a measured target must be a finite number in "
                        "every row; fix or remove these rows (or, if the column holds class labels, "
                        "--set data.task=multiclass)"
                    )
            task = "binary" if raw.shape[1] == 1 and len(set(raw[:, 0])) == 2 else "multiclass"
    if task == "regression":
        if not numeric.all():
            i, j = np.argwhere(~numeric)[0]
            raise SynbiolabError(
                f"{table.source}:{table.lines[i]}: target '{raw[i, j]}' in column '{table.target_names[j]}' "
                "is not a finite number (a regression target must be one)"
            )
        if log_target:
            bad = np.flatnonzero((values <= 0).any(axis=1))
            if len(bad):
                raise SynbiolabError(
                    f"{table.source}:{table.lines[bad[0]]}: target {values[bad[0]].tolist()} is not > 0, so "
                    "log10 is undefined; drop --log-target or remove the row"
                )
            values = np.log10(values)
        return task, values.astype(np.float32), list(table.target_names)
    if task not in ("binary", "multiclass"):
        raise SynbiolabError(f"task '{task}' is unknown; valid: auto, regression, binary, multiclass")
    if raw.shape[1] != 1:
        raise SynbiolabError(f"{table.source}: a classification task takes exactly one --target column")
    labels = [str(v) for v in raw[:, 0]]
    distinct = set(labels)
    column = table.target_names[0]
    if len(distinct) > MAX_CLASSES:
        raise SynbiolabError(
            f"{table.source}: column '{column}' has {len(distinct):,} distinct values, more than the "
            f"{MAX_CLASSES:,} classes a classifier takes; if it holds measurements, make every cell a number"
        )
    if len(distinct) < 2:
        raise SynbiolabError(
            f"{table.source}: column '{column}' holds one class only ('{labels[0]}'): a classifier needs at least "
            "two; add examples of another class"
        )
    names = sorted(distinct, key=lambda s: (float(s), s) if _is_number(s) else (math.inf, s))
    if task == "binary" and len(names) != 2:
        raise SynbiolabError(
            f"{table.source}: a binary task needs exactly 2 labels in '{column}', found {len(names)}"
        )
    index = {name: i for i, name in enumerate(names)}
    return task, np.array([index[s] for s in labels], np.int64), names


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except (ValueError, OverflowError):
        return False


# --- duplicates


def duplicate_groups(sequences: list[str]) -> np.ndarray:
    """An integer per sequence; identical sequences (ignoring case) share it.

    Used as groups by the splits so that copies of a sequence never sit on both sides of a split.
    """
    first_seen: dict[str, int] = {}
    return np.array([first_seen.setdefault(s.upper(), len(first_seen)) for s in sequences], np.int64)


def duplicate_report(table: SequenceTable) -> dict:
    """How many sequences occur more than once, with the lines of the first few duplicated ones."""
    counts = Counter(s.upper() for s in table.sequences)
    repeated = {s: c for s, c in counts.items() if c > 1}
    examples = []
    for seq in list(repeated)[:5]:
        lines = [table.lines[i] for i, s in enumerate(table.sequences) if s.upper() == seq]
        examples.append({"lines": lines[:10], "copies": repeated[seq]})
    return {
        "n_sequences": len(table),
        "n_unique": len(counts),
        "n_duplicated_sequences": len(repeated),
        "n_extra_copies": sum(repeated.values()) - len(repeated),
        "examples": examples,
    }


def merge_duplicates(sequences: list[str], y: np.ndarray, task: str, groups=None):
    """Merge identical sequences into one example each.

    Regression targets are averaged; classification labels take the most common label (ties: the lowest).

    Args:
        sequences: the sequences.
        y: targets, (N, T) float for regression or (N,) int for classification.
        task: regression, binary or multiclass.
        groups: optional per-sequence groups; a merged example keeps the group of its first copy.

    Returns:
        (index of the first copy of each unique sequence, merged y, merged groups or None).
    """
    dup = duplicate_groups(sequences)
    n_unique = int(dup.max()) + 1 if len(dup) else 0
    first = np.array([np.flatnonzero(dup == g)[0] for g in range(n_unique)], np.int64)
    if task == "regression":
        sums = np.zeros((n_unique,) + y.shape[1:], np.float64)
        np.add.at(sums, dup, y)
        copies = np.bincount(dup, minlength=n_unique).reshape(-1, *[1] * (y.ndim - 1))
        merged = (sums / copies).astype(y.dtype)
    else:
        merged = np.array([np.bincount(y[dup == g]).argmax() for g in range(n_unique)], y.dtype)
    merged_groups = None if groups is None else [groups[i] for i in first]
    return first, merged, merged_groups
