"""The named synthetic-biology data sets and user sequence files, as ``Dataset`` objects.

Files are looked up in the data folder (``--data-dir``, then ``$SYNBIOLAB_DATA``, then the user cache),
under ``synbio/<folder>/``; a file found nowhere is downloaded from its public source into the cache.
Every file is checked against its SHA-256 before use, so a corrupt or different version is never read.

Splits never separate copies of one sequence: identical sequences form a group that lands on one side,
and with ``data.split=grouped`` whole groups (e.g. source studies) are held out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import SynbiolabError
from ..io import file_digest
from .fetch import fetch
from .images import cache_dir, data_roots
from .organisms import organism_info, parse_organism
from .registry import Dataset, Split, check_train_size, data_warning, register_dataset
from .sequences import (
    ALPHABETS,
    FASTA_SUFFIXES,
    SequenceTable,
    check_encoded_size,
    duplicate_groups,
    duplicate_report,
    encode_table,
    merge_duplicates,
    one_hot,
    parse_targets,
    read_fasta,
    read_sequences,
    trimmed_share,
)
from .splits import grouped_split, stratified_split

TRIM_WARNING_SHARE = 0.1  # say so when fitting sequences to --length discards more than this share of the letters

# --- files, checksums and where they come from


@dataclass(frozen=True)
class RemoteFile:
    """A data file: its place under synbio/, its SHA-256 and the public addresses it can be fetched from."""

    path: str
    sha256: str
    urls: tuple[str, ...] = ()


_WANG = (
    "https://raw.githubusercontent.com/HaochenW/Deep_promoter/4728c9fb9ec8f7fc2c0bb3222707d16645e05f8b/seq/"
)
FILES = {
    "uci_promoters": RemoteFile(
        "uci_promoters/promoters.data",
        "9cba9e8661ab04760d69b857f62259233446f2dce5ec9b515efe0b23c315bb29",
        (
            "https://archive.ics.uci.edu/ml/machine-learning-databases/molecular-biology/"
            "promoter-gene-sequences/promoters.data",
        ),
    ),
    # The UCI splice-junction data with a header line (Class, Donor, Sequence); no checked public copy of this
    # exact file is known, so it must be placed in the data folder.
    "uci_splice": RemoteFile(
        "uci_splice/splice.csv", "a8e1f2f76ef4c2393bb5d072c6e94c2db919d9c319a377012b59a5567fe6f5e8"
    ),
    "wang_promoters": RemoteFile(
        "ecoli_promoters_wang2020/promoter.npy",
        "e71911452431acb620478f0de5ae896481be5618e7a7f9712125cd98cb8e37ab",
        (_WANG + "promoter.npy",),
    ),
    "wang_expression": RemoteFile(
        "ecoli_promoters_wang2020/gene_expression.npy",
        "a1426fa5e5806fceff2c041218b781b6dc1f0cc84b39cf4ef626d02965fd9ce5",
        (_WANG + "gene_expression.npy",),
    ),
    "wang_natural": RemoteFile(
        "ecoli_promoters_wang2020/sequence_data.txt",
        "0cb3fbed5273163cd5d53a0932da5cd6f00329187139f25ddefb92a7822b0e93",
        (_WANG + "sequence_data.txt",),
    ),
    # The 94 promoters with measured activity (the paper's designs and references); read by `design`.
    "wang_measured": RemoteFile(
        "ecoli_promoters_wang2020/seq_exp_94.txt", "e81b9316059886846c4e367dd6ae1a0bb196953fcd1a1bc6ac634ed4a1394976"
    ),
    "rbs_1014ic": RemoteFile(
        "rbs_1014ic/1014IC.csv",
        "f21cdf0d812a468a34136254b1ef506ebaffd154b0ba97d5ea12c47f5a92d627",
        (
            "https://raw.githubusercontent.com/bebop/poly/8223167dca448a09a157e2610ffb50f80ea1c1ff/"
            "rbs_calculator/dataset/1014IC.csv",
        ),
    ),
}


def verify_sha256(path: Path, expected: str) -> Path:
    """Return `path` if its SHA-256 is `expected`; otherwise raise naming both digests."""
    got = file_digest(path, "sha256")
    if got != expected:
        raise SynbiolabError(
            f"{path}: checksum mismatch (sha256 {got}, expected {expected}); the file is corrupt or another "
            "version: delete it to download it again, or replace it with the published file"
        )
    return path


def resolve_file(key: str, data_dir: str | None = None, download_ok: bool = True) -> Path:
    """Find a data file in the data folders (checking its SHA-256), or download it into the cache.

    Args:
        key: an entry of FILES.
        data_dir: an explicit data folder (searched first).
        download_ok: allow downloading when the file is found nowhere.

    Returns:
        The path of a verified file.
    """
    entry = FILES[key]
    roots = data_roots(data_dir)
    for root in roots:
        candidate = root / "synbio" / entry.path
        if candidate.is_file():
            return verify_sha256(candidate, entry.sha256)
    destination = cache_dir() / "synbio" / entry.path
    errors = []
    if download_ok and entry.urls:
        try:
            return Path(fetch(destination.name, entry.urls, f"sha256:{entry.sha256}", destination.parent, what=key))
        except SynbiolabError as exc:
            errors.append(str(exc))
    searched = ", ".join(str(r / "synbio" / entry.path) for r in roots)
    why = (
        f"; download failed: {errors[-1]}" if errors else "" if entry.urls else "; it has no public download"
    )
    raise SynbiolabError(f"data file {entry.path} not found (searched {searched}){why}; set --data-dir")


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


def _encoding_notes(
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


def _regression_notes(y: np.ndarray, names: list[str], logged: bool) -> dict:
    return {
        "targets": "; ".join(
            f"{n}{' (log10)' if logged else ''}: mean {y[:, j].mean():.3f}, sd {y[:, j].std():.3f}, "
            f"range {y[:, j].min():.3f} to {y[:, j].max():.3f}"
            for j, n in enumerate(names)
        )
    }


# --- the named sets


def _load_uci_promoters(cfg: DataConfig) -> Dataset:
    path = resolve_file("uci_promoters", cfg.data_dir)
    seqs, lines, ids, labels = [], [], [], []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        parts = text.split(",")
        if len(parts) != 3 or parts[0].strip() not in ("+", "-"):
            raise SynbiolabError(f"{path}:{number}: expected 'label,name,sequence' with label + or -")
        labels.append(1 if parts[0].strip() == "+" else 0)
        ids.append(parts[1].strip())
        seqs.append(parts[2].strip())
        lines.append(number)
    table = SequenceTable(seqs, lines, str(path), ids=ids)
    x, mask = encode_table(table, "dna", cfg.strict, cfg.length, cfg.pad)
    info = {
        **organism_info("Escherichia coli", "bacteria"),
        "source": "UCI Machine Learning Repository, E. coli promoter gene sequences (Towell, Shavlik & "
        "Noordewier 1990), CC BY 4.0: 53 promoters and 53 non-promoters, 57 nt",
        **_encoding_notes(seqs, x, mask, cfg, x.shape[2]),
        "note": "106 sequences: small data, judge a model by cross-validation (synbiolab cv --folds 10)",
    }
    return build_sequence_dataset(
        "uci_promoters",
        x,
        np.array(labels, np.int64),
        "binary",
        cfg,
        ["non-promoter", "promoter"],
        sequences=seqs,
        ids=ids,
        split="stratified" if cfg.split == "random" else cfg.split,
        info=info,
        test_size=0.2,
        val_size=0.15,
    )


def _load_uci_splice(cfg: DataConfig) -> Dataset:
    path = resolve_file("uci_splice", cfg.data_dir)
    table = read_sequences(path, seq_col="Sequence", target="Class", id_col="Donor")
    x, mask = encode_table(table, "dna", cfg.strict, cfg.length, cfg.pad)
    task, y, names = parse_targets(table, task="multiclass")
    info = {
        **organism_info("primates", "vertebrates"),
        "source": "UCI Machine Learning Repository, primate splice-junction gene sequences, CC BY 4.0: "
        "3,190 windows of 60 nt; EI = exon/intron boundary (donor), IE = intron/exon (acceptor), "
        "N = neither",
        **_encoding_notes(table.sequences, x, mask, cfg, x.shape[2]),
    }
    return build_sequence_dataset(
        "uci_splice",
        x,
        y,
        task,
        cfg,
        names,
        sequences=table.sequences,
        ids=table.ids,
        split="stratified" if cfg.split == "random" else cfg.split,
        info=info,
        test_size=0.2,
        val_size=0.1,
    )


def _wang_sequences(path: Path) -> list[str]:
    return [str(s) for s in np.load(path, allow_pickle=False)]


def _load_ecoli_promoters(cfg: DataConfig) -> Dataset:
    seq_path = resolve_file("wang_promoters", cfg.data_dir)
    seqs = _wang_sequences(seq_path)
    expression = np.load(resolve_file("wang_expression", cfg.data_dir), allow_pickle=False).astype(np.float64)
    if len(expression) != len(seqs):
        raise SynbiolabError(f"{seq_path}: {len(seqs)} promoters but {len(expression)} expression values")
    # Expression spans 5 orders of magnitude: the model regresses log10 (the log_target setting is implied).
    y = np.log10(expression).astype(np.float32).reshape(-1, 1)
    x, mask = one_hot(
        seqs, "dna", cfg.strict, cfg.length, cfg.pad, str(seq_path), list(range(1, len(seqs) + 1))
    )
    info = {
        **organism_info("Escherichia coli K-12", "bacteria"),
        "source": "Wang et al. 2020, Nucleic Acids Research 48:6403: 11,884 E. coli K-12 promoters (50 nt), "
        "expression measured by dRNA-seq (Thomason et al. 2015)",
        **_encoding_notes(seqs, x, mask, cfg, x.shape[2]),
        **_regression_notes(y, ["log10 expression"], False),
        "baseline": "6-mer ridge regression, 80/20 split: Pearson r 0.26",
    }
    return build_sequence_dataset(
        "ecoli_promoters",
        x,
        y,
        "regression",
        cfg,
        None,
        ["log10_expression"],
        sequences=seqs,
        split=cfg.split,
        info=info,
        test_size=0.2,
        val_size=0.1,
    )


def natural_promoters(data_dir: str | None = None) -> list[str]:
    """The 14,098 natural E. coli promoters (50 nt, upper case) that Wang et al. trained their GAN on."""
    path = resolve_file("wang_natural", data_dir)
    seqs = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    one_hot(
        seqs, "dna", True, source=str(path), lines=list(range(1, len(seqs) + 1))
    )  # validates every letter
    return seqs


def _load_ecoli_promoters_natural(cfg: DataConfig) -> Dataset:
    seqs = natural_promoters(cfg.data_dir)
    x, mask = one_hot(seqs, "dna", cfg.strict, cfg.length, cfg.pad)
    info = {
        **organism_info("Escherichia coli K-12", "bacteria"),
        "source": "Wang et al. 2020, Nucleic Acids Research 48:6403: 14,098 natural E. coli K-12 promoters "
        "(50 nt) of the paper's generative model",
        **_encoding_notes(seqs, x, mask, cfg, x.shape[2]),
        "task": "no targets: for generative models (synbiolab gan); the test split is a 10 % held-out set",
    }
    return build_sequence_dataset(
        "ecoli_promoters_natural",
        x,
        np.zeros(len(seqs), np.float32),
        "generative",
        cfg,
        sequences=seqs,
        split="random",
        info=info,
        test_size=0.1,
        val_size=0.1,
    )


RBS_UTR_LENGTH, RBS_CDS_LENGTH = 50, 30


def _rbs_organisms(organisms: list[str]) -> str:
    """The 1014IC rows' organisms in one phrase: species (genus and epithet) by number of rows."""
    from collections import Counter

    species = Counter(" ".join(o.split()[:2]) for o in organisms if o.strip())
    if not species:
        return "bacteria"
    ranked = species.most_common()
    top, n = ranked[0]
    text = f"{top} in {n:,} of {len(organisms):,} rows"
    if len(ranked) > 1:
        text += f"; also {', '.join(name for name, _ in ranked[1:])}"
    return text


def split_utr_cds(rows: list[dict]) -> list[tuple[str, str] | None]:
    """The (5' UTR, CDS) of each 1014IC row; rows without the two columns are matched to a known UTR or CDS.

    Some rows give only the whole mRNA; its boundary is found where a UTR of another row is a prefix of it,
    or a CDS of another row is a suffix. Rows matching neither give None.
    """
    utrs = sorted({r["5pUTR"].upper() for r in rows if r["5pUTR"]}, key=len, reverse=True)
    cdss = sorted({r["CDS"].upper() for r in rows if r["CDS"]}, key=len, reverse=True)
    out = []
    for r in rows:
        if r["5pUTR"] and r["CDS"]:
            out.append((r["5pUTR"], r["CDS"]))
            continue
        mrna = r["SEQUENCE"].upper()
        utr = next((u for u in utrs if mrna.startswith(u) and len(u) < len(mrna)), None)
        cds = next((c for c in cdss if mrna.endswith(c) and len(c) < len(mrna)), None)
        if cds is not None:
            out.append((mrna[: len(mrna) - len(cds)], cds))
        elif utr is not None:
            out.append((utr, mrna[len(utr) :]))
        else:
            out.append(None)
    return out


def _load_rbs_1014ic(cfg: DataConfig) -> Dataset:
    import csv

    path = resolve_file("rbs_1014ic", cfg.data_dir)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows, lines = [], []
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    parts = split_utr_cds(rows)
    keep = [i for i, p in enumerate(parts) if p is not None]
    # The few U letters are RNA spellings inside DNA sequences: read them as T.
    utr = [parts[i][0].upper().replace("U", "T") for i in keep]
    cds = [parts[i][1].upper().replace("U", "T") for i in keep]
    where = [lines[i] for i in keep]
    # Input: the last 50 nt of the 5' UTR (left-padded, so the start codon always sits at position 50)
    # followed by the first 30 nt of the CDS.
    x_utr, m_utr = one_hot(utr, "dna", cfg.strict, RBS_UTR_LENGTH, "left", str(path), where)
    x_cds, m_cds = one_hot(cds, "dna", cfg.strict, RBS_CDS_LENGTH, "right", str(path), where)
    x = np.concatenate([x_utr, x_cds], axis=2)
    protein = np.array([float(rows[i]["PROT.MEAN"]) for i in keep])
    y = np.log10(protein + 1).astype(np.float32).reshape(-1, 1)
    groups = [rows[i]["DATASET"] for i in keep]
    window = [u[-RBS_UTR_LENGTH:] + c[:RBS_CDS_LENGTH] for u, c in zip(utr, cds, strict=True)]
    info = {
        **organism_info(_rbs_organisms([rows[i]["ORGANISM"] for i in keep]), "bacteria"),
        "source": "Reis & Salis 2020, ACS Synthetic Biology (doi 10.1021/acssynbio.0c00394), Supplementary "
        "Data S1: 1,014 characterised mRNAs from 13 studies",
        "input": f"last {RBS_UTR_LENGTH} nt of the 5' UTR (left-padded) + first {RBS_CDS_LENGTH} nt of CDS",
        "target": "log10(PROT.MEAN + 1)",
        "rows": f"{len(keep)} of {len(rows)} rows used; {len(rows) - len(keep)} have neither UTR/CDS columns "
        "nor an mRNA whose boundary matches a known UTR or CDS",
        "groups": f"{len(set(groups))} source studies (DATASET); test and validation hold out whole studies",
        **_regression_notes(y, ["log10 protein"], False),
        "baseline": "ridge on 3-mers + one-hot of the UTR end, studies held out (5 group folds): r 0.36",
    }
    return build_sequence_dataset(
        "rbs_1014ic",
        x,
        y,
        "regression",
        cfg,
        None,
        ["log10_protein"],
        sequences=window,
        ids=[rows[i]["PROTEIN"] for i in keep],
        groups=groups,
        split="grouped",
        info=info,
        test_size=0.2,
        val_size=0.15,
    )


# --- user files


NO_TARGETS = ("a FASTA file has no targets: to train a predictor give one FASTA file per class "
              "(--data positives.fa,negatives.fa) or a CSV/TSV/Excel table with --seq-col and --target; "
              "a FASTA file alone trains a GAN (synbiolab gan)")


def _user_split(cfg: DataConfig, task: str) -> str:
    if cfg.split_col and cfg.split != "random":
        raise SynbiolabError(f"--split-col {cfg.split_col} gives the split; drop --split {cfg.split}")
    return "stratified" if cfg.split == "random" and task in ("binary", "multiclass") else cfg.split


def load_sequence_file(cfg: DataConfig) -> Dataset:
    """A user's FASTA file or table (CSV, TSV, Excel; gzip too) as a data set.

    ``--data my.csv --seq-col seq --target strength`` (and ``--sheet``, ``--split-col``, ``--group-col``,
    ``--id-col``); the organism is ``--organism`` (default unknown).
    """
    organism = parse_organism(cfg.organism)
    table = read_sequences(
        cfg.name, seq_col=cfg.seq_col, sheet=cfg.sheet, target=cfg.target, id_col=cfg.id_col,
        group_col=cfg.group_col, split_col=cfg.split_col,
    )
    x, mask = encode_table(table, cfg.alphabet, cfg.strict, cfg.length, cfg.pad)
    report = duplicate_report(table)
    info = {
        **organism,
        "source": f"{table.source}: {len(table)} sequences",
        **_encoding_notes(table.sequences, x, mask, cfg, x.shape[2], table.source),
    }
    if table.targets is None:
        task, y, names, target_names = "generative", np.zeros(len(table), np.float32), None, None
        info["task"] = "no targets (name one with --target to train a predictor)"
        info["no_targets"] = NO_TARGETS if table.kind == "fasta" else (
            "the table has no target column: name one with --target to train a predictor")
    else:
        task, y, names = parse_targets(table, cfg.task, cfg.log_target)
        target_names = names if task == "regression" else list(table.target_names)
        if task == "regression":
            info.update(_regression_notes(y, names, cfg.log_target))
            names = None
    if report["n_duplicated_sequences"]:
        shown = "; ".join(f"lines {', '.join(map(str, e['lines']))}" for e in report["examples"][:3])
        info["duplicated sequences"] = (
            f"{report['n_duplicated_sequences']} sequences occur more than once ({shown})"
        )
    return build_sequence_dataset(
        Path(cfg.name).name,
        x,
        y,
        task,
        cfg,
        names,
        target_names,
        sequences=table.sequences,
        ids=table.ids,
        groups=table.groups,
        split=_user_split(cfg, task),
        info=info,
        test_size=0.2,
        val_size=0.1,
        assigned=table.splits,
    )


def _class_name(path: Path) -> str:
    """A FASTA file's class: its name without .gz and the FASTA extension (``strong.promoters.fa.gz`` ->
    ``strong.promoters``)."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    stem, dot, suffix = name.rpartition(".")
    return stem if dot and f".{suffix.lower()}" in FASTA_SUFFIXES and stem else name


def load_fasta_per_class(cfg: DataConfig, paths: list[Path]) -> Dataset:
    """One FASTA file per class (``--data positives.fa,negatives.fa``) as a classification data set.

    The classes are the file names without their extensions, in the order given: label 0 is the first
    file. Two files make a binary task (sigmoid output; the second file is the positive class, label 1).
    """
    for option, value in (("--seq-col", cfg.seq_col), ("--target", cfg.target), ("--sheet", cfg.sheet),
                          ("--split-col", cfg.split_col), ("--id-col", cfg.id_col), ("--group-col", cfg.group_col)):
        if value:
            raise SynbiolabError(f"{option} names a column (or sheet) of a table; with one FASTA file per class the "
                                 "class is the file")
    names = [_class_name(path) for path in paths]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise SynbiolabError(f"{paths[i]}: two files give the class name '{name}'; rename one (the class is the "
                                 "file name)")
    if len(paths) < 2:
        raise SynbiolabError("one FASTA file per class: give at least two files joined by commas")
    organism = parse_organism(cfg.organism)
    tables = [read_fasta(path) for path in paths]
    sequences = [seq for t in tables for seq in t.sequences]
    length = cfg.length or max(len(seq) for seq in sequences)
    check_encoded_size(len(sequences), len(ALPHABETS.get(cfg.alphabet, "ACGT")), length, ",".join(map(str, paths)))
    encoded = [encode_table(t, cfg.alphabet, cfg.strict, length, cfg.pad) for t in tables]
    x = np.concatenate([e[0] for e in encoded])
    mask = np.concatenate([e[1] for e in encoded])
    y = np.concatenate([np.full(len(t), label, np.int64) for label, t in enumerate(tables)])
    ids = [f"{names[label]}:{seq_id}" for label, t in enumerate(tables) for seq_id in t.ids]
    counts = ", ".join(f"{name} {len(t):,}" for name, t in zip(names, tables, strict=True))
    info = {
        **organism,
        "source": f"one FASTA file per class: {counts} sequences",
        "classes": "the file names, in the order given" + ("; the second file is the positive class (label 1)"
                                                           if len(paths) == 2 else ""),
        **_encoding_notes(sequences, x, mask, cfg, length, ",".join(p.name for p in paths)),
    }
    upper = [seq.upper().replace("U", "T") for seq in sequences]
    label_sets: dict[str, set] = {}
    for seq, label in zip(upper, y, strict=True):
        label_sets.setdefault(seq, set()).add(int(label))
    conflicting = sum(1 for labels in label_sets.values() if len(labels) > 1)
    if conflicting:
        info["conflicts"] = (f"{conflicting} sequence(s) occur in more than one class file; each copy keeps its "
                             "file's class and all copies sit in one split")
    task = "binary" if len(paths) == 2 else "multiclass"
    return build_sequence_dataset(
        ",".join(p.name for p in paths),
        x,
        y,
        task,
        cfg,
        names,
        None,
        sequences=upper,
        ids=ids,
        split=_user_split(cfg, task),
        info=info,
        test_size=0.2,
        val_size=0.1,
    )


register_dataset(
    "uci_promoters", _load_uci_promoters, "106 E. coli sequences, 57 nt, promoter or not (binary)"
)
register_dataset("uci_splice", _load_uci_splice, "3,190 primate splice junctions, 60 nt, EI/IE/N (3 classes)")
register_dataset(
    "ecoli_promoters",
    _load_ecoli_promoters,
    "11,884 E. coli promoters, 50 nt, log10 expression by dRNA-seq (regression; Wang et al. 2020)",
)
register_dataset(
    "ecoli_promoters_natural",
    _load_ecoli_promoters_natural,
    "14,098 natural E. coli promoters, 50 nt, no targets (for GANs; Wang et al. 2020)",
)
register_dataset(
    "rbs_1014ic",
    _load_rbs_1014ic,
    "1,014 mRNAs, 5' UTR + CDS start, log10 protein expression, 13 studies (regression, grouped)",
)


def measured_promoters(data_dir: str | None = None) -> list[tuple[str, float, str]]:
    """The 94 promoters with measured activity of Wang et al. (2020): (sequence, activity, name); [] when the
    file is in no data folder (it has no public download)."""
    try:
        path = resolve_file("wang_measured", data_dir, download_ok=False)
    except SynbiolabError as exc:
        if "checksum mismatch" in str(exc):
            raise
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            fields = line.split("\t")
            if len(fields) < 3:
                raise SynbiolabError(f"{path}, line {number}: expected sequence, activity and name")
            try:
                activity = float(fields[1])
            except ValueError:
                raise SynbiolabError(f"{path}, line {number}: activity {fields[1]!r} is not a number") from None
            rows.append((fields[0].strip().upper(), activity, fields[2].strip()))
    return rows
