"""Biological sequences: alphabets, one-hot and IUPAC encoding, padding, FASTA and table readers.

Every reader keeps the line number of each record, so that a bad letter, a missing target or an
empty record is reported as ``file:line`` and the user can fix the file at once. One-hot arrays are
``(N, A, L)`` float32 (A letters of the alphabet, L positions); a padded position is all zeros, so
a model can recover the mask from the input itself (``x.sum(1) > 0``).

Limits, checked while reading and before anything is encoded, so that a wrong file fails in a second
with one line instead of filling the memory: a record holds at most ``MAX_SEQUENCE_LENGTH`` letters
(a longer one is a chromosome or a contig, not one example), and the one-hot array of a whole file
at most ``MAX_ENCODED_BYTES``. DNA reads RNA letters as they are: U is encoded as T, the same base.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import SynbiolabError
from .tables import base_suffix, check_file, open_text, read_rows

MAX_SEQUENCE_LENGTH = 100_000  # letters in one record; longer records are refused before they are read whole
MAX_ENCODED_BYTES = 4 * 1024**3  # bytes of one file's one-hot array (N x A x L float32)
MAX_CLASSES = 1000  # distinct labels a classification target may have

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
    if alphabet == "dna":
        rows["U"] = {"T"}  # RNA spelling of the same base: read without being told
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
    alphabet = _check_alphabet(alphabet)
    longest = int(np.argmax([len(s) for s in sequences]))
    length = length or len(sequences[longest])
    check_encoded_size(len(sequences), len(ALPHABETS[alphabet]), length, source,
                       None if lines is None else lines[longest], given=length != len(sequences[longest]))
    x = np.zeros((len(sequences), len(ALPHABETS[_check_alphabet(alphabet)]), length), np.float32)
    mask = np.zeros((len(sequences), length), bool)
    for i, seq in enumerate(sequences):
        line = lines[i] if lines is not None else None
        fitted, mask[i] = pad_or_trim(encode(seq, alphabet, strict, source, line), length, pad)
        x[i] = fitted.T  # (L, A) -> (A, L)
    return x, mask


def check_encoded_size(n: int, n_letters: int, length: int, source: str, longest_line: int | None = None,
                       given: bool = False) -> None:
    """Refuse, before allocating it, a one-hot array larger than ``MAX_ENCODED_BYTES``."""
    size = n * n_letters * length * 4
    if size > MAX_ENCODED_BYTES:
        where = f" (the longest sequence, line {longest_line})" if longest_line is not None and not given else ""
        raise SynbiolabError(
            f"{source}: {n:,} sequences of {length:,} positions{where} would take {size / 1024**3:.1f} GB as "
            f"one-hot arrays, over the {MAX_ENCODED_BYTES / 1024**3:.0f} GB limit; give --length to trim them "
            "or remove the longest sequences"
        )


def trimmed_share(sequences: list[str], length: int) -> float:
    """The share of all letters that fitting every sequence to `length` positions discards."""
    lengths = np.array([len(s) for s in sequences], np.int64)
    total = lengths.sum()
    return float(np.clip(lengths - length, 0, None).sum() / total) if total else 0.0


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
        splits: the split each row's authors gave it (train, val or test; ``--split-col``), or None.
        kind: ``fasta`` (a record spans lines; errors look the exact line up) or ``table`` (one row a record).
    """

    sequences: list[str]
    lines: list[int]
    source: str
    ids: list[str] | None = None
    targets: np.ndarray | None = None
    target_names: list[str] = field(default_factory=list)
    groups: list[str] | None = None
    splits: list[str] | None = None
    kind: str = "table"

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
            splits=pick(self.splits),
        )


def read_fasta(path: str | Path, max_length: int = MAX_SEQUENCE_LENGTH) -> SequenceTable:
    """Read a FASTA file (plain or gzip-compressed) in one streaming pass, keeping each record's header line.

    Lines are read in bounded pieces and a record is refused as soon as it passes `max_length` letters, so a
    chromosome given by mistake fails at once instead of filling the memory. Blank lines and ``;`` comment
    lines are skipped; a UTF-8 byte-order mark is dropped.

    Args:
        path: the file.
        max_length: the most letters one record may hold.

    Returns:
        A SequenceTable with ids (the first word of each header) and the header line of each record.

    Raises:
        SynbiolabError: missing or empty file, text before the first header, a record without sequence or
            one longer than `max_length`.
    """
    path = check_file(path)
    ids, sequences, header_lines = [], [], []
    title, pieces, count = None, [], 0
    # Long lines arrive in pieces; `number` advances only when a piece ends its line.
    number, at_line_start, piece_size = 0, True, 1 << 16

    def close_record():
        if title is None:
            return
        if not pieces:
            raise SynbiolabError(f"{path}:{header_lines[-1]}: FASTA record '{title}' has no sequence")
        ids.append(title.split()[0] if title.split() else f"record{len(ids) + 1}")
        sequences.append("".join(pieces))

    with open_text(path) as handle:
        while True:
            text = handle.readline(piece_size)
            if not text:
                break
            starts_line = at_line_start
            at_line_start = text.endswith("\n")
            if starts_line:
                number += 1
            if starts_line and text.startswith(">"):
                close_record()
                if not at_line_start:
                    raise SynbiolabError(f"{path}:{number}: FASTA header longer than {piece_size:,} characters")
                title, pieces, count = text[1:].strip(), [], 0
                header_lines.append(number)
                continue
            if starts_line and text.startswith(";"):
                if not at_line_start:  # a comment longer than one piece: skip the rest of its line
                    while (rest := handle.readline(piece_size)) and not rest.endswith("\n"):
                        pass
                    at_line_start = True
                continue
            letters = "".join(text.split())
            if not letters:
                continue
            if title is None:
                raise SynbiolabError(f"{path}:{number}: text before the first '>' header; not a FASTA file?")
            count += len(letters)
            if count > max_length:
                raise SynbiolabError(
                    f"{path}:{header_lines[-1]}: FASTA record '{title.split()[0] if title.split() else title}' is "
                    f"longer than {max_length:,} letters: a chromosome or contig, not one example; cut it into "
                    "windows (one record each) first"
                )
            pieces.append(letters)
    close_record()
    if not header_lines:
        raise SynbiolabError(f"{path}: empty file: no FASTA records ('>' header lines) found")
    return SequenceTable(sequences=sequences, lines=header_lines, source=str(path), ids=ids, kind="fasta")


def fasta_line_of_position(path: str | Path, header_line: int):
    """A function position -> line number inside the FASTA record whose header is at `header_line`."""
    lengths = []
    with open_text(path) as handle:
        for number, text in enumerate(handle, start=1):
            if number <= header_line:
                continue
            if text.startswith(">"):
                break
            lengths.append(0 if text.startswith(";") else len("".join(text.split())))
    ends = np.cumsum(lengths)

    def line_of(position: int) -> int:
        return header_line + 1 + int(np.searchsorted(ends, position, side="right"))

    return line_of


def read_table(
    path: str | Path,
    seq_col: str,
    target: list[str] | str | None = None,
    id_col: str | None = None,
    group_col: str | None = None,
    split_col: str | None = None,
    sheet: str | None = None,
) -> SequenceTable:
    """Read a table of sequences: CSV or TSV (comma or tab, from the extension or the header), plain or
    gzip-compressed, or a sheet of an Excel workbook.

    Args:
        path: the file; the first line (row) is the header.
        seq_col: the column holding the sequences.
        target: one or more target columns (raw strings; see :func:`parse_targets`).
        id_col: optional identifier column.
        group_col: optional group column (kept whole within one split).
        split_col: optional column naming each row's split (train/training, val/valid/validation, test).
        sheet: the sheet of an Excel workbook (default: the first).

    Returns:
        A SequenceTable; `lines` are the 1-based file lines (sheet rows) of the rows.

    Raises:
        SynbiolabError: missing file, empty file, a missing column (listing those present), an empty sequence,
            a sequence longer than ``MAX_SEQUENCE_LENGTH``, a split value that names no split.
    """
    from .tables import parse_split_column

    table = read_rows(path, sheet)
    source, header = table.source, table.header
    targets = [target] if isinstance(target, str) else list(target or [])
    wanted = [("--seq-col", seq_col)] + [("--target", t) for t in targets]
    wanted += [("--id-col", id_col), ("--group-col", group_col), ("--split-col", split_col)]
    for option, column in wanted:
        if column is not None and column not in header:
            raise SynbiolabError(f"{source}: no column '{column}' (named by {option}); columns: {', '.join(header)}")
    col = {name: header.index(name) for name in reversed(header)}  # a repeated name means its first column
    seqs, lines, ids, groups, splits, rows = [], [], [], [], [], []
    for line, cells in table.rows:
        seq = cells[col[seq_col]]
        if not seq:
            raise SynbiolabError(f"{source}:{line}: empty sequence in column '{seq_col}'")
        if len(seq) > MAX_SEQUENCE_LENGTH:
            raise SynbiolabError(f"{source}:{line}: sequence of {len(seq):,} letters, longer than the "
                                 f"{MAX_SEQUENCE_LENGTH:,} one example may hold")
        seqs.append(seq)
        lines.append(line)
        rows.append([cells[col[t]] for t in targets])
        if id_col:
            ids.append(cells[col[id_col]])
        if group_col:
            groups.append(cells[col[group_col]])
        if split_col:
            splits.append(cells[col[split_col]])
    if not seqs:
        raise SynbiolabError(f"{source}: no data rows after the header")
    return SequenceTable(
        sequences=seqs,
        lines=lines,
        source=source,
        ids=ids if id_col else None,
        targets=np.array(rows, dtype=object).reshape(len(seqs), len(targets)) if targets else None,
        target_names=targets,
        groups=groups if group_col else None,
        splits=parse_split_column(splits, lines, source, split_col) if split_col else None,
    )


def is_fasta(path: str | Path) -> bool:
    """True for FASTA file names (.fa, .fasta, .fna, .ffn, .faa, .frn), gzip-compressed (.gz) too."""
    return base_suffix(path) in FASTA_SUFFIXES


def read_sequences(path: str | Path, seq_col: str | None = None, sheet: str | None = None, **kw) -> SequenceTable:
    """Read FASTA (.fa, .fasta, .fna, .ffn, .faa, .frn) or a table (CSV/TSV/Excel; needs `seq_col`); .gz too."""
    path = Path(path)
    if is_fasta(path):
        columns = {"--seq-col": seq_col, "--sheet": sheet, **{f"--{k.replace('_', '-')}": v for k, v in kw.items()}}
        given = [option for option, value in columns.items() if value and option != "--target"]
        if given:
            raise SynbiolabError(f"{given[0]} names a column (or sheet) of a table; {path} is a FASTA file, which "
                                 "has none")
        table = read_fasta(path)
        if kw.get("target"):
            raise SynbiolabError(
                f"--target {kw['target'][0] if isinstance(kw['target'], list) else kw['target']}: {path} is a "
                "FASTA file, which has no columns; give one FASTA file per class (--data a.fa,b.fa) or a "
                "CSV/TSV/Excel table with --seq-col and --target"
            )
        return table
    if seq_col is None:
        raise SynbiolabError(f"{path}: a CSV/TSV file needs --seq-col naming the column with the sequences")
    return read_table(path, seq_col, sheet=sheet, **kw)


def encode_table(
    table: SequenceTable,
    alphabet: str = "dna",
    strict: bool = False,
    length: int | None = None,
    pad: str = "right",
) -> tuple[np.ndarray, np.ndarray]:
    """One-hot encode a SequenceTable, naming the file and line of any bad letter (see :func:`one_hot`)."""
    if table.kind != "fasta":
        return one_hot(table.sequences, alphabet, strict, length, pad, table.source, table.lines)
    # FASTA records span several lines: find the exact line only when a letter is bad (rare, slow path).
    try:
        return one_hot(table.sequences, alphabet, strict, length, pad, table.source, table.lines)
    except SynbiolabError:
        for seq, line in zip(table.sequences, table.lines, strict=True):
            line_of = fasta_line_of_position(table.source, line)
            encode(seq, alphabet, strict, table.source, line_of_position=line_of)
        raise
