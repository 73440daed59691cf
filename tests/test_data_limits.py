"""Bad data gets one clear line, never a traceback, a silent wrong task or an exhausted memory.

Each case of the hostile-user campaign that reaches the loaders: one bad cell in a numeric column, a
chromosome-sized FASTA record, trimming that throws most letters away, a decompression-bomb picture, an IDX
label outside the classes, one class only, a constant regression target, --train-size larger than the data,
a FASTA file given to `train`, a byte-order mark, an IDX file of the other kind. Then random bytes fed to
every reader: the only exception that may escape is SynbiolabError.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import synbiolab.data.sequences as sequences
from synbiolab import SynbiolabError, load_dataset
from synbiolab.data.images import MAX_PICTURE_PIXELS, MNIST_FILES, read_idx, write_idx
from synbiolab.data.sequences import MAX_SEQUENCE_LENGTH, read_fasta, read_table
from synbiolab.data.tables import read_rows
from synbiolab.data.targets import parse_targets


def numbers_csv(path: Path, n=300, bad=None, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    rows = ["seq,strength"]
    for i in range(n):
        value = (bad or {}).get(i, f"{rng.lognormal():.4f}")
        rows.append(f"{''.join(rng.choice(list('ACGT'), 20))},{value}")
    path.write_text("\n".join(rows) + "\n")
    return path


# --- 5: one bad value must not change the task


def test_one_bad_cell_names_its_lines_instead_of_making_300_classes(tmp_path, cli):
    path = numbers_csv(tmp_path / "library.csv", bad={17: "inf", 203: "high"})
    before = path.read_bytes()
    with pytest.raises(SynbiolabError) as info:
        load_dataset(str(path), seq_col="seq", target=["strength"])
    assert str(info.value) == (
        f"{path}: column 'strength' holds numbers except on line(s) 19 ('inf'), 205 ('high'): a measured target must "
        "be a finite number in every row; fix or remove these rows (or, if the column holds class labels, "
        "--set data.task=multiclass)"
    )
    code, _, err = cli("data", "info", path, "--seq-col", "seq", "--target", "strength")
    assert code == 2 and err == f"error: {info.value}\n"
    assert path.read_bytes() == before  # the user's file is untouched
    clean = load_dataset(str(numbers_csv(tmp_path / "clean.csv")), seq_col="seq", target=["strength"])
    assert clean.task == "regression" and clean.n_outputs == 1


def test_classes_are_capped_at_one_thousand(tmp_path):
    rows = ["seq,name"] + [f"ACGT{'ACGT'[i % 4]},gene{i}" for i in range(1500)]
    path = tmp_path / "genes.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(SynbiolabError, match=r"column 'name' has 1,500 distinct values, more than the 1,000 classes"):
        load_dataset(str(path), seq_col="seq", target=["name"])
    labels = ["strong", "weak", "none"]  # words, even with a few numbers among them, stay labels
    rows = ["seq,label"] + [f"ACGT{'ACGT'[i % 4]}A,{labels[i % 3] if i % 10 else i}" for i in range(60)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(str(tmp_path / "labels.csv"), seq_col="seq", target=["label"])
    assert ds.task == "multiclass" and len(ds.class_names) == 3 + 6


# --- 6: stream FASTA, check lengths before encoding, say when trimming throws letters away


def test_chromosome_sized_record_is_refused_while_streaming(tmp_path):
    path = tmp_path / "genome.fa"
    with open(path, "w") as fh:
        fh.write(">chr1 a whole chromosome on one line\n")
        for _ in range(320):
            fh.write("ACGT" * 16384)  # 20 MB, no newline
        fh.write("\n")
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(SynbiolabError) as info:
        read_fasta(path)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(info.value) == (f"{path}:1: FASTA record 'chr1' is longer than {MAX_SEQUENCE_LENGTH:,} letters: a "
                               "chromosome or contig, not one example; cut it into windows (one record each) first")
    assert peak < 4 * 2**20  # the record was never held whole
    assert seconds < 5  # it stopped reading early (not a timing benchmark: a bound a hundred times too loose)
    multiline = tmp_path / "contig.fa"
    multiline.write_text(">ok\nACGT\n>contig7\n" + ("ACGT" * 15 + "\n") * 2000)
    with pytest.raises(SynbiolabError, match=r"contig.fa:3: FASTA record 'contig7' is longer than 100,000"):
        read_fasta(multiline)


def test_trimming_that_discards_many_letters_is_said(tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows = ["seq,y"] + [f"{''.join(rng.choice(list('ACGT'), 200))},{i % 2}" for i in range(40)]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(str(path), seq_col="seq", target=["y"], length=50)
    err = capsys.readouterr().err
    expected = (f"{path}: fitting the sequences to 50 positions discards 75% of their letters (40 of 40 sequences "
                "are longer; each keeps its first 50); check --length and --pad")
    assert err == f"warning: {expected}\n" and ds.info["warnings"] == [expected]
    assert ds.input_shape == (4, 50)
    load_dataset(str(path), seq_col="seq", target=["y"], length=190)  # 5 % of the letters: no warning
    assert capsys.readouterr().err == ""


def test_one_hot_size_is_checked_before_encoding(tmp_path, monkeypatch):
    monkeypatch.setattr(sequences, "MAX_ENCODED_BYTES", 100_000)
    rng = np.random.default_rng(2)
    rows = ["seq,y"] + [f"{''.join(rng.choice(list('ACGT'), 40))},{i % 2}" for i in range(99)] + ["ACGT" * 500 + ",1"]
    path = tmp_path / "outlier.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(SynbiolabError) as info:
        load_dataset(str(path), seq_col="seq", target=["y"])
    assert str(info.value) == (f"{path}: 100 sequences of 2,000 positions (the longest sequence, line 101) would "
                               "take 0.0 GB as one-hot arrays, over the 0 GB limit; give --length to trim them or "
                               "remove the longest sequences")
    assert load_dataset(str(path), seq_col="seq", target=["y"], length=40).input_shape == (4, 40)


# --- 7: pictures over a documented size


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels (the pixel data itself is a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side, shown", [(30000, "900,000,000 pixels"), (12000, "144,000,000 pixels"),
                                         (7500, "7,500 x 7,500 pixels")])
def test_pictures_over_the_limit_are_refused_before_decoding(tmp_path, side, shown):
    from synbiolab.api import load_picture

    path = tmp_path / f"bomb{side}.png"
    path.write_bytes(png_header(side, side))
    tracemalloc.start()
    with pytest.raises(SynbiolabError) as info:
        load_picture(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(info.value) == f"{path}: a picture of {shown}, over the limit of 50 megapixels; scale it down first"
    assert peak < 8 * 2**20
    assert MAX_PICTURE_PIXELS == 50_000_000


def test_a_large_photo_within_the_limit_is_read_reduced(tmp_path):
    from PIL import Image, ImageDraw

    from synbiolab.api import load_picture
    from synbiolab.data.images import to_mnist_style

    photo = Image.new("L", (6000, 4000), 230)
    ImageDraw.Draw(photo).rectangle([2900, 1000, 3100, 3000], fill=10)  # a bar in the middle
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=90)
    picture = load_picture(path)
    assert max(picture.size) <= 2048 and picture.size[0] / picture.size[1] == pytest.approx(1.5, abs=0.01)
    digit = to_mnist_style(picture)
    ys, xs = np.nonzero(digit > 100)
    assert ys.min() >= 3 and ys.max() <= 24 and abs(xs.mean() - 13.5) < 1.5  # the bar, upright and centred


# --- 8: an IDX label outside the class range


def mnist_copy(root: Path, labels_train: np.ndarray) -> Path:
    folder = root / "mnist"
    rng = np.random.default_rng(0)
    write_idx(folder / MNIST_FILES["train_images"][0], rng.integers(0, 255, (len(labels_train), 28, 28), np.uint8))
    write_idx(folder / MNIST_FILES["train_labels"][0], labels_train.astype(np.uint8))
    write_idx(folder / MNIST_FILES["test_images"][0], rng.integers(0, 255, (20, 28, 28), np.uint8))
    write_idx(folder / MNIST_FILES["test_labels"][0], (np.arange(20) % 10).astype(np.uint8))
    return folder


def test_idx_label_outside_the_classes_is_one_line(tmp_path, cli):
    labels = np.arange(100) % 10
    labels[37] = 200
    folder = mnist_copy(tmp_path, labels)
    code, _, err = cli("data", "info", "mnist", "--data-dir", tmp_path)
    assert code == 2
    assert err == (f"error: {folder / MNIST_FILES['train_labels'][0]}: label 200 of example 38 (of 100) is outside "
                   "the class range 0..9 (MNIST has 10 classes)\n")
    # without classes.txt a folder's labels must run 0..K-1: a stray 200 does not make 201 classes
    loose = tmp_path / "loose"
    loose.mkdir()
    for name, _ in MNIST_FILES.values():
        (loose / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(SynbiolabError, match=r"train-labels-idx1-ubyte.gz: label 200 of example 38 leaves class\(es\) "
                                             r"10..199 without a training example; labels must run 0..K-1"):
        load_dataset(str(loose))


# --- 14: one class only; 15: a constant regression target


def test_one_class_only_is_refused(tmp_path):
    path = tmp_path / "positives_only.csv"
    path.write_text("seq,kind\n" + "".join(f"ACGT{c},promoter\n" for c in "ACGTACGTAC"))
    with pytest.raises(SynbiolabError) as info:
        load_dataset(str(path), seq_col="seq", target=["kind"])
    assert str(info.value) == (f"{path}: column 'kind' holds one class only ('promoter'): a classifier needs at least "
                               "two; add examples of another class")
    folder = tmp_path / "zeros"
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((30, 8, 8), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(30, np.uint8))
    with pytest.raises(SynbiolabError, match=r"zeros: one class only \('0'\): a classifier needs examples of at least"):
        load_dataset(str(folder))
    with pytest.raises(SynbiolabError, match=r"classes=\[3\] must be two or more distinct labels"):
        load_dataset("digits", classes=[3])


def test_zero_variance_target_is_refused(tmp_path, cli):
    path = tmp_path / "flat.csv"
    path.write_text("seq,expression\n" + "".join(f"{s},3.2\n" for s in ("ACGT", "GGCC", "TTAA", "CCGG", "AATT",
                                                                         "GCGC", "ATAT", "CGCG", "TATA", "GGGG")))
    with pytest.raises(SynbiolabError) as info:
        load_dataset(str(path), seq_col="seq", target=["expression"])
    assert str(info.value) == ("flat.csv: target 'expression' is 3.2 for every example: nothing to learn (zero "
                               "variance; Pearson r and R^2 are undefined)")
    code, _, err = cli("data", "info", path, "--seq-col", "seq", "--target", "expression", "--log-target")
    assert code == 2 and err == ("error: flat.csv: target 'expression' is 0.50515 for every example: nothing to "
                                 "learn (zero variance; Pearson r and R^2 are undefined)\n")


# --- 18: --train-size larger than the data


def test_train_size_larger_than_the_data_is_an_error(tmp_path, cli):
    with pytest.raises(SynbiolabError) as info:
        load_dataset("digits", train_size=5000)
    assert str(info.value) == ("data.train_size=5,000 is larger than the 1,222 training examples of digits (after the "
                               "validation split); give at most 1,222 or leave --train-size out")
    assert len(load_dataset("digits", train_size=1222).train) == 1222  # all of it is fine
    path = numbers_csv(tmp_path / "lib.csv", n=50)
    with pytest.raises(SynbiolabError, match=r"data.train_size=100 is larger than the 36 training examples of lib.csv"):
        load_dataset(str(path), seq_col="seq", target=["strength"], train_size=100)
    code, _, err = cli("train", "--data", "digits", "--train-size", "5000", "--out", tmp_path / "run", "--quiet")
    assert code == 2 and err == f"error: {info.value}\n"


# --- 23: messages that misled


def test_fasta_given_to_train_says_how_to_give_targets(tmp_path, cli):
    path = tmp_path / "promoters.fa"
    rng = np.random.default_rng(3)
    path.write_text("".join(f">p{i}\n{''.join(rng.choice(list('ACGT'), 40))}\n" for i in range(30)))
    code, _, err = cli("train", "--data", path, "--model", "cnn1d", "--out", tmp_path / "run", "--quiet")
    assert code == 2
    assert err == ("error: promoters.fa: a FASTA file has no targets: to train a predictor give one FASTA file per "
                   "class (--data positives.fa,negatives.fa) or a CSV/TSV/Excel table with --seq-col and --target; "
                   "a FASTA file alone trains a GAN (synbiolab gan)\n")
    ds = load_dataset(str(path))  # as data for a GAN it still loads
    assert ds.task == "generative" and ds.input_shape == (4, 40)


def test_a_fasta_too_repetitive_to_split_still_says_it_has_no_targets(tmp_path, cli):
    path = tmp_path / "seqs.fasta"
    path.write_text(">a\nACGTACGTAC\n>b\nTTTTGGGGCC\n" * 20)  # 40 records, 2 distinct sequences
    code, _, err = cli("train", "--data", path, "--model", "cnn1d", "--out", tmp_path / "run", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "40 sequences, 2 distinct" in err and "a FASTA file has no targets" in err and "--target" in err
    assert not (tmp_path / "run").exists()


def test_bom_csv_lists_clean_column_names(tmp_path, cli):
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffsequence,activity\nACGT,1.5\nGGCC,2.5\nTTAA,0.5\n".encode("utf-8"))
    code, _, err = cli("data", "info", path, "--seq-col", "seq", "--target", "activity")
    assert code == 2 and err == f"error: {path}: no column 'seq' (named by --seq-col); columns: sequence, activity\n"
    assert "\ufeff" not in err


def test_idx_file_of_the_other_kind_is_named(tmp_path, cli):
    folder = tmp_path / "swapped"
    write_idx(folder / "train-images-idx3-ubyte", np.arange(30, dtype=np.uint8) % 3)  # labels under the images name
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros((30, 8, 8), np.uint8))
    code, _, err = cli("data", "info", folder)
    assert code == 2 and err == (f"error: {folder / 'train-images-idx3-ubyte'}: holds labels (IDX magic 0x00000801), "
                                 "not images (0x00000803); are the images and labels files swapped or misnamed?\n")
    with pytest.raises(SynbiolabError, match=r"holds images \(IDX magic 0x00000803\), not labels"):
        read_idx(folder / "train-labels-idx1-ubyte", expect="labels")


def test_idx_header_announcing_terabytes_is_refused_without_reading(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 4_000_000, 1000, 1000) + b"\0" * 100)
    with pytest.raises(SynbiolabError, match=r"header announces 4000000x1000x1000 = 4,000,000,000,000 bytes, over the "
                                             r"2 GB limit"):
        read_idx(path)


# --- random bytes: only SynbiolabError escapes


def _idx_bytes():
    magic = st.sampled_from([b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x00\x00\x08\x02", b"\x00\x00\x0d\x03",
                             b"\x1f\x8b\x08\x00"])
    dims = st.lists(st.integers(0, 40), min_size=0, max_size=4).map(lambda d: b"".join(struct.pack(">I", v)
                                                                                        for v in d))
    return st.one_of(st.binary(max_size=600), st.tuples(magic, dims, st.binary(max_size=600)).map(b"".join),
                     st.binary(max_size=300).map(lambda b: gzip.compress(b"\x00\x00\x08\x03" + b)))


TEXT_PIECES = st.sampled_from([">", ">r1 x\n", "\n", "\r\n", ";c\n", "ACGT", "acgu", "NNRY", ",", "\t", '"', "1.5",
                               "inf", "nan", "train", "test", "\ufeff", "\x00", "é", "ZZ", " ", "-1", "0", "1"])
TEXT = st.one_of(st.lists(TEXT_PIECES, max_size=80).map("".join), st.text(max_size=300))
# Small, fixed examples in the fast suite; HYPOTHESIS_EXAMPLES=2000 runs a longer random campaign.
_EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", 60))
SETTINGS = settings(max_examples=_EXAMPLES, deadline=2000, suppress_health_check=[HealthCheck.too_slow],
                    derandomize="HYPOTHESIS_EXAMPLES" not in os.environ)


def _only_our_error(call) -> None:
    try:
        call()
    except SynbiolabError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message
    # any other exception type fails the test with its traceback


@SETTINGS
@given(data=_idx_bytes(), expect=st.sampled_from([None, "images", "labels"]))
def test_random_idx_bytes_raise_only_our_error(data, expect):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train-images-idx3-ubyte"
        path.write_bytes(data)
        _only_our_error(lambda: read_idx(path, expect=expect))
        labels = Path(folder) / "train-labels-idx1-ubyte"
        labels.write_bytes(data[::-1])
        _only_our_error(lambda: load_dataset(folder))


@SETTINGS
@given(text=TEXT, raw=st.binary(max_size=200), packed=st.booleans())
def test_random_fasta_raises_only_our_error(text, raw, packed):
    with tempfile.TemporaryDirectory() as folder:
        for i, data in enumerate((text.encode("utf-8", "surrogatepass"), raw)):
            path = Path(folder) / f"x{i}.fa{'.gz' if packed else ''}"
            path.write_bytes(gzip.compress(data) if packed and i == 0 else data)
            _only_our_error(lambda p=path: read_fasta(p))
            other = Path(folder) / "other.fa"
            other.write_text(">a\nACGTACGT\n>b\nGGCCGGCC\n>c\nTTAATTAA\n>d\nACGTTTTT\n")
            _only_our_error(lambda p=path, o=other: load_dataset(f"{p},{o}"))


@SETTINGS
@given(text=TEXT, raw=st.binary(max_size=200), suffix=st.sampled_from([".csv", ".tsv", ".csv.gz", ".xlsx"]),
       task=st.sampled_from(["auto", "regression", "multiclass"]), split_col=st.booleans())
def test_random_tables_raise_only_our_error(text, raw, suffix, task, split_col):
    with tempfile.TemporaryDirectory() as folder:
        header = "seq,y,fold\n"
        for data in ((header + text).encode("utf-8", "surrogatepass"), raw):
            path = Path(folder) / f"t{suffix}"
            path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)
            _only_our_error(lambda p=path: read_rows(p))
            _only_our_error(lambda p=path: parse_targets(read_table(p, "seq", "y"), task=task))
            _only_our_error(lambda p=path: load_dataset(str(p), seq_col="seq", target=["y"], task=task,
                                                        split_col="fold" if split_col else None))


def test_the_property_tests_reach_past_the_first_check(tmp_path):
    """The random inputs above are not all refused at the first byte: some load whole (so the deeper code ran)."""
    text = "seq,y,fold\nACGT,1,train\nGGCC,2,train\nTTAA,3,test\nCCGG,4,val\nACGA,5,train\n"
    path = tmp_path / "ok.csv"
    path.write_text(text)
    ds = load_dataset(str(path), seq_col="seq", target=["y"], split_col="fold")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (3, 1, 1)
    assert os.path.getsize(path) == len(text)
