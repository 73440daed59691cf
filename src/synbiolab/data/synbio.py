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

from ..config import DataConfig
from ..errors import SynbiolabError
from ..io import file_digest
from .builder import build_sequence_dataset, encoding_notes, regression_notes
from .fetch import fetch
from .images import cache_dir, data_roots
from .organisms import organism_info, parse_organism
from .registry import Dataset, register_dataset
from .sequences import (
    ALPHABETS,
    FASTA_SUFFIXES,
    SequenceTable,
    check_encoded_size,
    encode_table,
    one_hot,
    read_fasta,
    read_sequences,
)
from .targets import duplicate_report, parse_targets

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
        **encoding_notes(seqs, x, mask, cfg, x.shape[2]),
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
        **encoding_notes(table.sequences, x, mask, cfg, x.shape[2]),
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
        **encoding_notes(seqs, x, mask, cfg, x.shape[2]),
        **regression_notes(y, ["log10 expression"], False),
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
        **encoding_notes(seqs, x, mask, cfg, x.shape[2]),
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
        **regression_notes(y, ["log10 protein"], False),
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
        **encoding_notes(table.sequences, x, mask, cfg, x.shape[2], table.source),
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
            info.update(regression_notes(y, names, cfg.log_target))
            names = None
    if report["n_duplicated_sequences"]:
        shown = "; ".join(f"lines {', '.join(map(str, e['lines']))}" for e in report["examples"][:3])
        info["duplicated sequences"] = (
            f"{report['n_duplicated_sequences']} sequences occur more than once ({shown})"
        )
    try:
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
    except SynbiolabError as exc:
        if table.targets is not None:
            raise
        # A file without targets that cannot even be split: say both, so that a user who meant to train a
        # predictor learns first what the file lacks.
        distinct = len(set(table.sequences))
        raise SynbiolabError(f"{exc} ({table.source}: {len(table)} sequences, {distinct} distinct); besides, "
                             f"{info['no_targets']}") from exc


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
        **encoding_notes(sequences, x, mask, cfg, length, ",".join(p.name for p in paths)),
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
