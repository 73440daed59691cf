"""Tables as users keep them: CSV and TSV (plain or gzip-compressed) and Excel workbooks, every row numbered.

Every reader returns the header and each row with the number a person sees when opening the file (the text
line of a CSV, the row of an Excel sheet), so that an error names ``file:line`` (``file.xlsx[sheet]:row``).
A UTF-8 byte-order mark, which Excel writes at the start of a CSV, is dropped rather than becoming an
invisible first letter of the first column's name.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import SynbiolabError

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
MAX_CELL = 131072  # characters in one CSV cell (the csv module's own limit): longer is a damaged file


def base_suffix(path: str | Path) -> str:
    """The lower-case type suffix of a file, looking through ``.gz``: ``lib.csv.gz`` -> ``.csv``."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def is_gzip(path: str | Path) -> bool:
    """True when the file starts with the gzip magic (whatever its name says)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def check_file(path: str | Path) -> Path:
    """`path` as a Path, or a one-line error when it is missing or a folder."""
    path = Path(path)
    if path.is_dir():
        raise SynbiolabError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise SynbiolabError(f"{path}: no such file")
    return path


class _TextLines:
    """Iterate a text file (plain or gzip) with damaged compressed data reported as one line."""

    def __init__(self, path: Path, newline: str | None = None):
        self.path = path
        if is_gzip(path):
            self.handle = io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", errors="replace",
                                           newline=newline)
        else:
            self.handle = open(path, encoding="utf-8-sig", errors="replace", newline=newline)  # noqa: SIM115

    def readline(self, size: int = -1) -> str:
        try:
            return self.handle.readline(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise SynbiolabError(f"{self.path}: damaged gzip file ({exc})") from exc

    def __iter__(self) -> Iterator[str]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> _TextLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_text(path: str | Path, newline: str | None = None) -> _TextLines:
    """Open a text file for reading: gzip by its magic, UTF-8 with any byte-order mark dropped."""
    return _TextLines(check_file(path), newline=newline)


@dataclass
class Rows:
    """The rows of a table.

    Attributes:
        header: the column names (surrounding spaces removed).
        rows: (line number, cells) for every non-blank row; cells are strings, padded to the header's width.
        source: the name errors use: the path, with ``[sheet]`` for an Excel workbook.
    """

    header: list[str]
    rows: list[tuple[int, list[str]]]
    source: str


def _delimiter(path: Path, first_line: str) -> str:
    if base_suffix(path) in (".tsv", ".tab", ".txt"):
        return "\t"
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _read_delimited(path: Path) -> Rows:
    with open_text(path) as lines:
        first = lines.readline(65536)
    delimiter = _delimiter(path, first)
    rows: list[tuple[int, list[str]]] = []
    with open_text(path, newline="") as lines:
        reader = csv.reader(lines, delimiter=delimiter, skipinitialspace=True)
        try:
            header = next(reader, None)
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append((reader.line_num, [c.strip() for c in row]))
        except csv.Error as exc:
            text = str(exc)
            if "field larger than field limit" in text:
                text = f"a cell longer than {MAX_CELL:,} characters (a damaged file, or not a table)"
            raise SynbiolabError(f"{path}:{reader.line_num + 1}: cannot read the table: {text}") from exc
    if header is None or not any(h.strip() for h in header):
        raise SynbiolabError(f"{path}: empty file: expected a header line naming the columns")
    return _finish([h.strip() for h in header], rows, str(path))


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value).strip()


def excel_sheets(path: str | Path) -> list[str]:
    """The sheet names of an Excel workbook."""
    workbook = _open_workbook(check_file(path))
    try:
        return list(workbook.sheetnames)
    finally:
        workbook.close()


def _open_workbook(path: Path):
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file raises any of zipfile's and XML's errors
        raise SynbiolabError(
            f"{path}: not a readable Excel workbook ({type(exc).__name__}); save it again as .xlsx or as CSV"
        ) from exc


def _read_excel(path: Path, sheet: str | None) -> Rows:
    workbook = _open_workbook(path)
    try:
        names = list(workbook.sheetnames)
        if not names:
            raise SynbiolabError(f"{path}: the workbook has no sheets")
        if sheet is None:
            sheet = names[0]
        elif sheet not in names:
            raise SynbiolabError(f"{path}: no sheet '{sheet}' (named by --sheet); sheets: {', '.join(names)}")
        source = f"{path}[{sheet}]"
        header, rows = None, []
        try:
            for number, values in enumerate(workbook[sheet].iter_rows(values_only=True), start=1):
                cells = [_cell_text(v) for v in values]
                if not any(cells):
                    continue
                if header is None:
                    header = cells
                else:
                    rows.append((number, cells))
        except SynbiolabError:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged sheet XML
            raise SynbiolabError(f"{source}: damaged sheet ({type(exc).__name__})") from exc
    finally:
        workbook.close()
    if header is None:
        raise SynbiolabError(f"{source}: empty sheet: expected a header row naming the columns")
    return _finish(header, rows, source)


def _finish(header: list[str], rows: list[tuple[int, list[str]]], source: str) -> Rows:
    # A trailing run of empty header cells (Excel's formatted but empty columns) is not a column.
    while header and not header[-1]:
        header.pop()
    width = len(header)
    padded = [(line, cells + [""] * (width - len(cells))) for line, cells in rows]
    return Rows(header, padded, source)


def read_rows(path: str | Path, sheet: str | None = None) -> Rows:
    """Read a CSV/TSV (``.gz`` too) or an Excel workbook (``.xlsx``) into a header and numbered rows.

    Args:
        path: the file; the first non-blank line (row) is the header.
        sheet: the sheet of an Excel workbook (default: the first); only for ``.xlsx`` files.

    Returns:
        Rows.

    Raises:
        SynbiolabError: missing or empty file, a damaged gzip or workbook, an unknown sheet, ``--sheet`` given
            for a text table, an old binary ``.xls`` file.
    """
    path = check_file(path)
    suffix = base_suffix(path)
    if suffix == ".xls":
        raise SynbiolabError(f"{path}: the old binary Excel format is not read; save the sheet as .xlsx or CSV")
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path, sheet)
    if sheet is not None:
        raise SynbiolabError(f"--sheet {sheet}: {path} is a text table, not an Excel workbook (.xlsx)")
    return _read_delimited(path)


# --- the split the data's authors made

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "test": "test"}


def parse_split_column(values: list[str], lines: list[int], source: str, column: str) -> list[str]:
    """Each row's split (``train``, ``val`` or ``test``) from the words a split column holds.

    Accepted, in any case: train or training; val, valid or validation; test.

    Raises:
        SynbiolabError: any other value, naming its line.
    """
    out = []
    for value, line in zip(values, lines, strict=True):
        split = SPLIT_NAMES.get(value.strip().lower())
        if split is None:
            raise SynbiolabError(
                f"{source}:{line}: split '{value}' in column '{column}' (named by --split-col) is not one of "
                "train, training, val, valid, validation, test"
            )
        out.append(split)
    return out
