"""Biological sequences: alphabets, one-hot and IUPAC encoding, padding, FASTA and CSV/TSV readers.

Every reader keeps the line number of each record, so that a bad letter, a missing target or an
empty record is reported as ``file:line`` and the user can fix the file at once. One-hot arrays are
``(N, A, L)`` float32 (A letters of the alphabet, L positions); a padded position is all zeros, so
a model can recover the mask from the input itself (``x.sum(1) > 0``).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import SynbiolabError

# --- alphabets

ALPHABETS = {
    "dna": "ACGT",
    "rna": "ACGU",
    "protein": "ACDEFGHIKLMNPQRSTVWY",
}

# IUPAC nucleotide ambiguity codes: the bases each letter stands for (written for DNA; U replaces T for RNA).
IUPAC_DNA = {
    "N": "ACGT",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
}
# Protein ambiguity codes: B = D or N, Z = E or Q, J = I or L, X = any residue.
IUPAC_PROTEIN = {"B": "DN", "Z": "EQ", "J": "IL", "X": ALPHABETS["protein"]}

COMPLEMENT = str.maketrans("ACGTUNRYSWKMBDHVacgtunryswkmbdhv", "TGCAANYRSWMKVHDBtgcaanyrswmkvhdb")
PAD_MODES = ("left", "right", "centre")
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".ffn", ".faa", ".frn")


def _check_alphabet(alphabet: str) -> str:
    key = alphabet.lower()
    if key not in ALPHABETS:
        raise SynbiolabError(f"alphabet '{alphabet}' is unknown; valid: {', '.join(ALPHABETS)}")
    return key


def _ambiguity_codes(alphabet: str) -> dict[str, str]:
    if alphabet == "protein":
        return IUPAC_PROTEIN
    if alphabet == "rna":
        return {code: bases.replace("T", "U") for code, bases in IUPAC_DNA.items()}
    return IUPAC_DNA


def _lookup_table(alphabet: str, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    """A (256, A) table from byte to probabilities over the alphabet, and a (256,) table of valid bytes.

    Lower and upper case share a row, so encoding is case-insensitive.
    """
    letters = ALPHABETS[alphabet]
    table = np.zeros((256, len(letters)), np.float32)
    valid = np.zeros(256, bool)
    rows = {letter: {letter} for letter in letters}
    if not strict:
        rows.update({code: set(bases) for code, bases in _ambiguity_codes(alphabet).items()})
    for letter, bases in rows.items():
        for byte in (ord(letter.upper()), ord(letter.lower())):
            for base in bases:
                table[byte, letters.index(base)] = 1.0 / len(bases)
            valid[byte] = True
    return table, valid


def _describe_valid(alphabet: str, strict: bool) -> str:
    letters = ALPHABETS[alphabet]
    if strict:
        return f"{letters} (ambiguity codes are rejected in strict mode)"
    return f"{letters} or the ambiguity codes {''.join(_ambiguity_codes(alphabet))}"


# --- encoding


def encode(
    sequence: str,
    alphabet: str = "dna",
    strict: bool = False,
    source: str = "<sequence>",
    line: int | None = None,
    line_of_position=None,
) -> np.ndarray:
    """One sequence -> (L, A) float32 probabilities over the alphabet.

    Args:
        sequence: the letters, in any case.
        alphabet: dna, rna or protein.
        strict: reject ambiguity codes (N, R, Y, ...) instead of spreading the probability over the bases.
        source: file name used in error messages.
        line: line number of the sequence in `source`, for error messages.
        line_of_position: optional callable position -> line number (multi-line FASTA records).

    Returns:
        An array of shape (len(sequence), len(alphabet)); each row sums to 1.

    Raises:
        SynbiolabError: a letter outside the alphabet, naming the file, line and letter.
    """
    alphabet = _check_alphabet(alphabet)
    table, valid = _lookup_table(alphabet, strict)
    try:
        codes = np.frombuffer(sequence.encode("ascii"), np.uint8)
    except UnicodeEncodeError:
        codes = np.array([min(ord(c), 255) if ord(c) < 128 else 0 for c in sequence], np.uint8)
    bad = np.flatnonzero(~valid[codes])
    if len(bad):
        position = int(bad[0])
        where = line_of_position(position) if line_of_position is not None else line
        at = f"{source}:{where}" if where is not None else source
        raise SynbiolabError(
            f"{at}: letter '{sequence[position]}' at position {position + 1} is not valid "
            f"{alphabet.upper()}; valid: {_describe_valid(alphabet, strict)}"
        )
    return table[codes]


def pad_or_trim(encoded: np.ndarray, length: int, pad: str = "right") -> tuple[np.ndarray, np.ndarray]:
    """Fit one encoded sequence (L, A) to `length` positions.

    A sequence shorter than `length` gets zero rows on the `pad` side; a longer one loses letters on
    that same side, so the end the user aligned on (the other side) is always kept. "centre" splits the
    padding or trimming between both ends (the extra one goes to the right).

    Args:
        encoded: (L, A) array from :func:`encode`.
        length: the target number of positions.
        pad: left, right or centre.

    Returns:
        (length, A) array and a (length,) bool mask that is True where a letter sits.
    """
    if pad == "center":
        pad = "centre"
    if pad not in PAD_MODES:
        raise SynbiolabError(f"pad '{pad}' is unknown; valid: {', '.join(PAD_MODES)}")
    n = len(encoded)
    out = np.zeros((length, encoded.shape[1]), np.float32)
    mask = np.zeros(length, bool)
    if n >= length:
        start = {"right": 0, "left": n - length, "centre": (n - length) // 2}[pad]
        out[:] = encoded[start : start + length]
        mask[:] = True
    else:
        offset = {"right": 0, "left": length - n, "centre": (length - n) // 2}[pad]
        out[offset : offset + n] = encoded
        mask[offset : offset + n] = True
    return out, mask


def one_hot(
    sequences: list[str],
    alphabet: str = "dna",
    strict: bool = False,
    length: int | None = None,
    pad: str = "right",
    source: str = "<sequences>",
    lines: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Encode many sequences to a fixed length.

    Args:
        sequences: the sequences (any case).
        alphabet: dna, rna or protein.
        strict: reject ambiguity codes.
        length: pad or trim to this many positions (default: the longest sequence).
        pad: left, right or centre (see :func:`pad_or_trim`).
        source: file name for error messages.
        lines: the line number of each sequence in `source`, for error messages.

    Returns:
        x of shape (N, A, length) float32 and mask of shape (N, length) bool.
    """
    if len(sequences) == 0:
        raise SynbiolabError(f"{source}: no sequences to encode")
    length = length or max(len(s) for s in sequences)
    x = np.zeros((len(sequences), len(ALPHABETS[_check_alphabet(alphabet)]), length), np.float32)
    mask = np.zeros((len(sequences), length), bool)
    for i, seq in enumerate(sequences):
        line = lines[i] if lines is not None else None
        fitted, mask[i] = pad_or_trim(encode(seq, alphabet, strict, source, line), length, pad)
        x[i] = fitted.T  # (L, A) -> (A, L)
    return x, mask


def decode(x: np.ndarray, alphabet: str = "dna") -> str:
    """(A, L) one-hot -> letters: the sure letter, N (X) for an ambiguous position, - for padding."""
    letters = ALPHABETS[_check_alphabet(alphabet)]
    x = np.asarray(x)
    out = []
    for column in x.T:
        if column.sum() == 0:
            out.append("-")
        elif column.max() < 0.99:
            out.append("N" if alphabet != "protein" else "X")
        else:
            out.append(letters[int(column.argmax())])
    return "".join(out)


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a DNA or RNA sequence (ambiguity codes complemented too; case kept)."""
    rc = sequence.translate(COMPLEMENT)[::-1]
    # RNA input: the complement of A is U, not T.
    if "U" in sequence.upper() and "T" not in sequence.upper():
        rc = rc.replace("T", "U").replace("t", "u")
    return rc


def reverse_complement_one_hot(x):
    """Reverse complement of one-hot DNA/RNA in ACGT order: (..., 4, L) -> (..., 4, L).

    The complement of A, C, G, T is T, G, C, A: the channel order reversed. So reversing both the
    channel axis and the position axis gives the reverse complement; padding moves to the other side.
    Works on numpy arrays and torch tensors alike.
    """
    if hasattr(x, "flip"):
        return x.flip(-2).flip(-1)
    return np.ascontiguousarray(np.asarray(x)[..., ::-1, ::-1])


def kmer_counts(sequences: list[str], k: int, normalise: bool = False) -> np.ndarray:
    """Counts of every DNA k-mer (in lexicographic ACGT order) in each sequence.

    k-mers that contain a letter other than A, C, G, T (or U, read as T) are skipped.

    Args:
        sequences: DNA or RNA sequences, any case.
        k: k-mer length (1 to 8).
        normalise: divide each row by the number of counted k-mers (frequencies instead of counts).

    Returns:
        (N, 4**k) float32 array.
    """
    if not 1 <= k <= 8:
        raise SynbiolabError(f"k={k}: k-mer length must be between 1 and 8")
    index = np.full(256, -1, np.int64)
    for i, base in enumerate("ACGT"):
        index[ord(base)] = index[ord(base.lower())] = i
    index[ord("U")] = index[ord("u")] = 3
    out = np.zeros((len(sequences), 4**k), np.float32)
    weights = 4 ** np.arange(k - 1, -1, -1)
    for n, seq in enumerate(sequences):
        codes = index[np.frombuffer(seq.encode("ascii", "replace"), np.uint8)]
        if len(codes) < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        ok = (windows >= 0).all(axis=1)
        ids = windows[ok] @ weights
        np.add.at(out[n], ids, 1.0)
        if normalise and ok.any():
            out[n] /= ok.sum()
    return out


def kmer_names(k: int) -> list[str]:
    """Names of the columns of :func:`kmer_counts`, e.g. AA, AC, ... for k=2."""
    names = [""]
    for _ in range(k):
        names = [prefix + base for prefix in names for base in "ACGT"]
    return names


# --- records read from files


@dataclass
class SequenceTable:
    """Sequences read from a file, each with its line number, optional id, targets and group.

    Attributes:
        sequences: the sequences as read (case kept, surrounding spaces removed).
        lines: 1-based line number of each record in `source` (the header line for FASTA).
        source: the file name, for error messages.
        ids: identifiers (FASTA headers or the id column), or None.
        targets: (N, T) object array of raw target strings, or None.
        target_names: names of the target columns.
        groups: group of each sequence (e.g. the source study), or None.
    """

    sequences: list[str]
    lines: list[int]
    source: str
    ids: list[str] | None = None
    targets: np.ndarray | None = None
    target_names: list[str] = field(default_factory=list)
    groups: list[str] | None = None

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, index) -> SequenceTable:
        """The records at `index` (an index array), in that order."""
        index = np.asarray(index, int)
        pick = lambda values: None if values is None else [values[i] for i in index]  # noqa: E731
        return replace(
            self,
            sequences=[self.sequences[i] for i in index],
            lines=[self.lines[i] for i in index],
            ids=pick(self.ids),
            targets=None if self.targets is None else self.targets[index],
            groups=pick(self.groups),
        )


def read_fasta(path: str | Path) -> SequenceTable:
    """Read a FASTA file with Biopython, keeping the line number of every record.

    Args:
        path: the file.

    Returns:
        A SequenceTable with ids (the first word of each header) and the header line of each record.

    Raises:
        SynbiolabError: missing file, empty file, text before the first header, or a record without sequence.
    """
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    path = Path(path)
    if not path.is_file():
        raise SynbiolabError(f"{path}: no such file")
    # The header line of each record, found by our own pass so errors can point at lines.
    header_lines = []
    first_text_line = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if text.startswith(">"):
                header_lines.append(number)
            elif text.strip() and first_text_line is None and not header_lines:
                first_text_line = number
    if first_text_line is not None:
        raise SynbiolabError(f"{path}:{first_text_line}: text before the first '>' header; not a FASTA file?")
    if not header_lines:
        raise SynbiolabError(f"{path}: empty file: no FASTA records ('>' header lines) found")
    ids, sequences = [], []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for (title, seq), line in zip(SimpleFastaParser(handle), header_lines, strict=True):
            if not seq:
                raise SynbiolabError(f"{path}:{line}: FASTA record '{title}' has no sequence")
            ids.append(title.split()[0] if title.split() else f"record{len(ids) + 1}")
            sequences.append(seq)
    return SequenceTable(sequences=sequences, lines=header_lines, source=str(path), ids=ids)


def fasta_line_of_position(path: str | Path, header_line: int):
    """A function position -> line number inside the FASTA record whose header is at `header_line`."""
    lengths = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if number <= header_line:
                continue
            if text.startswith(">"):
                break
            lengths.append(len(text.strip().replace(" ", "")))
    ends = np.cumsum(lengths)

    def line_of(position: int) -> int:
        return header_line + 1 + int(np.searchsorted(ends, position, side="right"))

    return line_of


def _delimiter(path: Path) -> str:
    if path.suffix.lower() in (".tsv", ".tab", ".txt"):
        return "\t"
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = handle.readline()
    return "\t" if head.count("\t") > head.count(",") else ","


def read_table(
    path: str | Path,
    seq_col: str,
    target: list[str] | str | None = None,
    id_col: str | None = None,
    group_col: str | None = None,
) -> SequenceTable:
    """Read a CSV or TSV file of sequences (comma or tab, chosen from the extension or the header).

    Args:
        path: the file; the first line is the header.
        seq_col: the column holding the sequences.
        target: one or more target columns (raw strings; see :func:`parse_targets`).
        id_col: optional identifier column.
        group_col: optional group column (kept whole within one split).

    Returns:
        A SequenceTable; `lines` are the 1-based file lines of the rows.

    Raises:
        SynbiolabError: missing file, empty file, a missing column (listing those present), an empty sequence.
    """
    path = Path(path)
    if not path.is_file():
        raise SynbiolabError(f"{path}: no such file")
    targets = [target] if isinstance(target, str) else list(target or [])
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=_delimiter(path), skipinitialspace=True)
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise SynbiolabError(f"{path}: empty file: expected a header line naming the columns")
        header = [h.strip() for h in header]
        wanted = [("--seq-col", seq_col)] + [("--target", t) for t in targets]
        wanted += [("--id-col", id_col), ("--group-col", group_col)]
        for option, column in wanted:
            if column is not None and column not in header:
                raise SynbiolabError(
                    f"{path}: no column '{column}' (named by {option}); columns: {', '.join(header)}"
                )
        col = {name: header.index(name) for name in header}
        seqs, lines, ids, groups, rows = [], [], [], [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            line = reader.line_num
            cells = [c.strip() for c in row] + [""] * (len(header) - len(row))
            seq = cells[col[seq_col]]
            if not seq:
                raise SynbiolabError(f"{path}:{line}: empty sequence in column '{seq_col}'")
            seqs.append(seq)
            lines.append(line)
            rows.append([cells[col[t]] for t in targets])
            if id_col:
                ids.append(cells[col[id_col]])
            if group_col:
                groups.append(cells[col[group_col]])
    if not seqs:
        raise SynbiolabError(f"{path}: no data rows after the header")
    return SequenceTable(
        sequences=seqs,
        lines=lines,
        source=str(path),
        ids=ids if id_col else None,
        targets=np.array(rows, dtype=object).reshape(len(seqs), len(targets)) if targets else None,
        target_names=targets,
        groups=groups if group_col else None,
    )


def read_sequences(path: str | Path, seq_col: str | None = None, **kw) -> SequenceTable:
    """Read FASTA (.fa, .fasta, .fna, .ffn, .faa) or CSV/TSV (anything else; needs `seq_col`)."""
    path = Path(path)
    if path.suffix.lower() in FASTA_SUFFIXES:
        return read_fasta(path)
    if seq_col is None:
        raise SynbiolabError(f"{path}: a CSV/TSV file needs --seq-col naming the column with the sequences")
    return read_table(path, seq_col, **kw)


def encode_table(
    table: SequenceTable,
    alphabet: str = "dna",
    strict: bool = False,
    length: int | None = None,
    pad: str = "right",
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot encode a SequenceTable, naming the file and line of any bad letter (see :func:`one_hot`)."""
    if Path(table.source).suffix.lower() not in FASTA_SUFFIXES:
        return one_hot(table.sequences, alphabet, strict, length, pad, table.source, table.lines)
    # FASTA records span several lines: find the exact line only when a letter is bad (rare, slow path).
    try:
        return one_hot(table.sequences, alphabet, strict, length, pad, table.source, table.lines)
    except SynbiolabError:
        for seq, line in zip(table.sequences, table.lines, strict=True):
            line_of = fasta_line_of_position(table.source, line)
            encode(seq, alphabet, strict, table.source, line_of_position=line_of)
        raise


# --- targets


MISSING = {"", "nan", "na", "n/a", "null"}  # "-" and "none" stay valid class labels


def parse_targets(table: SequenceTable, task: str = "auto", log_target: bool = False):
    """Turn the raw target strings of a table into model targets.

    Args:
        table: a SequenceTable with targets.
        task: auto, regression, binary or multiclass. auto: numbers -> regression, except a single column
            holding only 0 and 1 (binary); anything else -> binary (two labels) or multiclass.
        log_target: regress log10 of the targets (which must then be > 0).

    Returns:
        (task, y, class_names): y is float32 (N, T) for regression, int64 (N,) for classification.

    Raises:
        SynbiolabError: missing or NaN targets (listing their line numbers), non-numbers in a regression,
            non-positive values under log_target.
    """
    raw = table.targets
    if raw is None or raw.shape[1] == 0:
        raise SynbiolabError(f"{table.source}: no target column: name one with --target")
    missing = np.array([[str(v).strip().lower() in MISSING for v in row] for row in raw])
    if missing.any():
        rows = np.flatnonzero(missing.any(axis=1))
        shown = ", ".join(str(table.lines[i]) for i in rows[:10]) + (" ..." if len(rows) > 10 else "")
        raise SynbiolabError(
            f"{table.source}: {len(rows)} missing or NaN target(s) in column(s) "
            f"{', '.join(table.target_names)} on line(s) {shown}; remove or fill these rows"
        )
    numeric = np.zeros(raw.shape, bool)
    values = np.full(raw.shape, np.nan)
    for (i, j), v in np.ndenumerate(raw):
        try:
            values[i, j] = float(v)
            numeric[i, j] = math.isfinite(values[i, j])
        except ValueError:
            pass
    if task == "auto":
        if numeric.all():
            single_01 = raw.shape[1] == 1 and set(np.unique(values)) <= {0.0, 1.0} and not log_target
            task = "binary" if single_01 else "regression"
        else:
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
    names = sorted(set(labels), key=lambda s: (float(s), s) if _is_number(s) else (math.inf, s))
    if task == "binary" and len(names) != 2:
        raise SynbiolabError(
            f"{table.source}: a binary task needs exactly 2 labels in '{table.target_names[0]}', "
            f"found {len(names)}"
        )
    index = {name: i for i, name in enumerate(names)}
    return task, np.array([index[s] for s in labels], np.int64), names


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
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
