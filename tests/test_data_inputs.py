"""Data as users bring it: IDX folders, the MNIST family, pooch downloads, class folders of pictures, one FASTA
file per class, the authors' split column, gzip, Excel, RNA letters, byte-order marks and the organism.

Every input is a small file the test writes in the format users have; every bad case asserts its one line.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import synbiolab.data.images as images
from synbiolab import SynbiolabError, load_dataset
from synbiolab.data.fetch import fetch
from synbiolab.data.images import (
    EMNIST_DIGITS,
    FASHION_MNIST,
    KMNIST,
    MNIST_MEAN,
    MNIST_STD,
    estimate_fill,
    resolve_idx_set,
    to_mnist_style,
    write_idx,
)
from synbiolab.data.sequences import one_hot

MNIST_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


def blocks(labels, size=28, seed=0):
    """Images whose class is where a bright block sits (class k: block in column band k), plus noise."""
    rng = np.random.default_rng(seed)
    out = rng.integers(0, 30, size=(len(labels), size, size)).astype(np.uint8)
    for i, k in enumerate(labels):
        column = 2 + 2 * int(k) % (size - 6)
        out[i, 6:22, column : column + 4] = 255
    return out


def write_idx_set(folder: Path, n_train=60, n_test=20, n_classes=3, names=MNIST_NAMES, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    y_train = np.arange(n_train) % n_classes
    y_test = rng.permutation(np.arange(n_test) % n_classes)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{names[0]}{suffix}", blocks(y_train, seed=seed))
    write_idx(folder / f"{names[1]}{suffix}", y_train.astype(np.uint8))
    write_idx(folder / f"{names[2]}{suffix}", blocks(y_test, seed=seed + 1))
    write_idx(folder / f"{names[3]}{suffix}", y_test.astype(np.uint8))
    return y_train, y_test


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- a folder of IDX files


def test_idx_folder_with_classes_txt(tmp_path):
    folder = tmp_path / "letters"
    y_train, y_test = write_idx_set(folder, n_train=90, n_test=30, n_classes=3)
    (folder / "classes.txt").write_text("alpha\nbeta\ngamma\n\n")
    ds = load_dataset(str(folder))
    assert ds.kind == "image" and ds.task == "multiclass" and ds.class_names == ["alpha", "beta", "gamma"]
    assert ds.input_shape == (1, 28, 28) and ds.n_outputs == 3
    assert len(ds.train) + len(ds.val) == 90 and len(ds.test) == 30
    assert ds.test.y.tolist() == y_test.tolist()  # the t10k files are the test split, in their order
    # normalised with the images' own mean and spread (not MNIST's)
    pixels = images.read_idx(folder / "train-images-idx3-ubyte.gz") / 255.0
    norm = ds.info["normalisation"]
    assert norm["mean"] == pytest.approx(pixels.mean(), abs=1e-4) and norm["std"] == pytest.approx(pixels.std(),
                                                                                                   abs=1e-4)
    assert ds.info["organism"] == "none" and "classes.txt" in ds.info["classes"]


def test_idx_folder_without_names_or_test_files(tmp_path):
    folder = tmp_path / "plain"
    write_idx_set(folder, n_train=100, n_classes=4, gz=False)
    for name in MNIST_NAMES[2:]:
        (folder / name).unlink()
    ds = load_dataset(str(folder), test_size=0.2)
    assert ds.class_names == ["0", "1", "2", "3"]
    assert len(ds.test) == 20 and np.bincount(ds.test.y.numpy()).tolist() == [5, 5, 5, 5]  # stratified
    assert len(ds.train) + len(ds.val) == 80 and "held out as the test split" in ds.info["test"]


def test_idx_folder_bad_cases_are_one_line(tmp_path, cli):
    folder = tmp_path / "bad"
    write_idx_set(folder, n_classes=3)
    (folder / "classes.txt").write_text("a\nb\n")  # two names for three classes
    with pytest.raises(SynbiolabError, match=r"train-labels-idx1-ubyte.gz: label 2 of example 3 \(of 60\) is outside "
                                             r"the class range 0..1 \(classes.txt names 2 classes\)"):
        load_dataset(str(folder))
    (folder / "classes.txt").write_text("a\nb\na\n")
    with pytest.raises(SynbiolabError, match=r"classes.txt:3: class 'a' is named twice \(also on line 1\)"):
        load_dataset(str(folder))
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (folder / "classes.txt").unlink()
    code, _, err = cli("data", "info", folder)
    assert code == 2 and err == (f"error: {folder}: has t10k-images-idx3-ubyte.gz but no t10k-labels-idx1-ubyte[.gz] "
                                 "beside it\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli("data", "info", empty)
    assert code == 2 and "neither IDX files" in err and err.count("\n") == 1


# --- the named MNIST family, from files the tests write and through pooch downloads


@pytest.mark.parametrize("spec", [FASHION_MNIST, KMNIST])
def test_named_family_sets_read_from_the_data_dir(tmp_path, spec):
    write_idx_set(tmp_path / spec.folder, n_train=120, n_test=40, n_classes=10)
    ds = load_dataset(spec.name, data_dir=str(tmp_path))
    assert ds.class_names == list(spec.class_names) and len(ds.class_names) == 10
    assert len(ds.train) + len(ds.val) == 120 and len(ds.test) == 40
    assert ds.info["source"] == spec.info["source"] and ds.info["organism"] == "none"
    # the class names reach `data info`
    assert ds.summary()["class_names"][0] in ("T-shirt/top", "o")


def test_emnist_digits_are_transposed_upright(tmp_path):
    names = tuple(name.removesuffix(".gz") for name, _ in EMNIST_DIGITS.files.values())
    folder = tmp_path / "emnist_digits"
    write_idx_set(folder, n_train=50, n_test=20, n_classes=10, names=names)
    stored = images.read_idx(folder / f"{names[0]}.gz")
    ds = load_dataset("emnist_digits", data_dir=str(tmp_path), val_size=10)
    norm = ds.info["normalisation"]
    first_val_or_train = torch.cat([ds.train.x, ds.val.x])
    pixels = np.round((first_val_or_train[:, 0].numpy() * norm["std"] + norm["mean"]) * 255).astype(np.uint8)
    # every stored image appears transposed (rows <-> columns), none as stored
    stored_t = {img.T.tobytes() for img in stored}
    assert all(p.tobytes() in stored_t for p in pixels)
    assert not any(p.tobytes() == img.tobytes() for p in pixels[:5] for img in stored[:5])


class FileServer:
    """A local HTTP server on 127.0.0.1 serving bytes the test gives it; counts the requests per path."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.hits: dict[str, int] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server protocol
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # a truncated file: the promised length, half the bytes, then the connection closes
                self.wfile.write(body[: len(body) // 2] if self.path in server.truncated else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    served = FileServer()
    yield served
    served.close()


def test_pooch_download_tries_mirrors_pins_hashes_and_caches(tmp_path, server, monkeypatch):
    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    source = tmp_path / "source"
    write_idx_set(source, n_train=40, n_test=20, n_classes=10)
    files = {}
    for key, (name, _) in FASHION_MNIST.files.items():
        server.files[f"/good/{name}"] = (source / name).read_bytes()
        files[key] = (name, md5(source / name))
    spec = replace(FASHION_MNIST, files=files, mirrors=(server.url + "/missing/", server.url + "/good/"))
    monkeypatch.setattr(images, "FASHION_MNIST", spec)
    paths = resolve_idx_set(spec)  # the first mirror answers 404 for every file, the second serves them
    assert all(p.parent == images.cache_dir() / "fashion_mnist" for p in paths.values())
    assert all(p.read_bytes() == (source / p.name).read_bytes() for p in paths.values())
    assert server.hits[f"/missing/{files['train_images'][0]}"] == 1
    again = resolve_idx_set(spec)  # cached and verified: nothing is fetched again
    assert again == paths and server.hits[f"/good/{files['train_images'][0]}"] == 1
    # a cached file that no longer matches its hash is fetched again
    paths["test_labels"].write_bytes(b"junk")
    resolve_idx_set(spec)
    assert paths["test_labels"].read_bytes() == (source / files["test_labels"][0]).read_bytes()
    assert server.hits[f"/good/{files['test_labels'][0]}"] == 2


def test_checksum_mismatch_and_partial_download_keep_nothing(tmp_path, server):
    good = b"the published bytes" * 100
    server.files["/a/data.bin"] = b"other bytes" * 100
    server.files["/b/data.bin"] = good
    server.truncated.add("/b/data.bin")
    cache = tmp_path / "cache"
    with pytest.raises(SynbiolabError) as info:
        fetch("data.bin", [server.url + "/a/", server.url + "/b/"], "md5:" + hashlib.md5(good).hexdigest(), cache,
              what="demo")
    message = str(info.value)
    assert message.startswith("demo: data.bin could not be downloaded (") and "\n" not in message
    assert f"{server.url}/a/data.bin: checksum mismatch (expected md5 {hashlib.md5(good).hexdigest()})" in message
    assert f"{server.url}/b/data.bin:" in message
    assert not cache.exists() or list(cache.iterdir()) == []  # neither the wrong nor the partial file is kept
    server.truncated.clear()
    got = Path(fetch("data.bin", [server.url + "/a/", server.url + "/b/"],
                     "sha256:" + hashlib.sha256(good).hexdigest(), cache))
    assert got.read_bytes() == good and [p.name for p in cache.iterdir()] == ["data.bin"]


def test_emnist_archive_is_fetched_and_its_digits_extracted(tmp_path, server, monkeypatch):
    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    source = tmp_path / "source"
    names = tuple(name.removesuffix(".gz") for name, _ in EMNIST_DIGITS.files.values())
    write_idx_set(source, n_train=30, n_test=10, n_classes=10, names=names)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, _ in EMNIST_DIGITS.files.values():
            archive.write(source / name, f"gzip/{name}")
        archive.writestr("gzip/emnist-letters-train-images-idx3-ubyte.gz", b"not needed")
    server.files["/emnist/gzip.zip"] = buffer.getvalue()
    spec = replace(EMNIST_DIGITS, mirrors=(server.url + "/emnist/",),
                   archive=("gzip.zip", hashlib.md5(buffer.getvalue()).hexdigest()))
    paths = resolve_idx_set(spec)
    assert sorted(p.name for p in paths.values()) == sorted(n for n, _ in EMNIST_DIGITS.files.values())
    assert all(p.read_bytes() == (source / p.name).read_bytes() for p in paths.values())


def test_sequence_sets_download_through_pooch_into_the_cache(tmp_path, server, monkeypatch):
    import synbiolab.data.synbio as synbio

    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    rng = np.random.default_rng(8)
    lines = [f"{'+' if i % 2 else '-'},P{i},\t\t{''.join(rng.choice(list('acgt'), 57))}" for i in range(40)]
    body = ("\n".join(lines) + "\n").encode()
    server.files["/uci/promoters.data"] = body
    entry = synbio.FILES["uci_promoters"]
    monkeypatch.setitem(synbio.FILES, "uci_promoters", replace(
        entry, sha256=hashlib.sha256(body).hexdigest(),
        urls=(server.url + "/gone/promoters.data", server.url + "/uci/promoters.data")))
    ds = load_dataset("uci_promoters")
    cached = images.cache_dir() / "synbio" / entry.path
    assert cached.read_bytes() == body and len(ds.train) + len(ds.val) + len(ds.test) == 40
    assert server.hits == {"/gone/promoters.data": 1, "/uci/promoters.data": 1}
    load_dataset("uci_promoters")  # read from the cache, checked, not fetched again
    assert server.hits["/uci/promoters.data"] == 1
    server.files["/uci/promoters.data"] = body.replace(b"+", b"-", 1)  # the source changed: refused
    cached.unlink()
    with pytest.raises(SynbiolabError, match=r"uci_promoters/promoters.data not found .*download failed: "
                                             r"uci_promoters: promoters.data could not be downloaded .*checksum "
                                             r"mismatch"):
        load_dataset("uci_promoters")
    assert not cached.exists()


def test_offline_named_set_names_where_to_put_the_files(monkeypatch, cli, tmp_path):
    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    monkeypatch.setattr(images, "FASHION_MNIST", replace(FASHION_MNIST, mirrors=("file:///nonexistent/",)))
    from synbiolab.data import registry

    monkeypatch.setitem(registry.DATASETS, "fashion_mnist",
                        registry.DatasetEntry(images._family_loader(images.FASHION_MNIST), "test"))
    code, _, err = cli("data", "info", "fashion_mnist")
    assert code == 2 and err.count("\n") == 1
    assert "fashion_mnist not found and could not be downloaded; put train-images-idx3-ubyte.gz" in err
    assert "<data-dir>/fashion_mnist/" in err and "file:///nonexistent/train-images-idx3-ubyte.gz" in err


# --- class folders of pictures


def draw(path: Path, label: int, size=(90, 120), shift=0, ink=20, paper=235):
    """A picture of class 0 (a ring) or 1 (a vertical bar): dark ink on light paper, like a phone photo."""
    from PIL import Image, ImageDraw

    img = Image.new("L", size, paper)
    pen = ImageDraw.Draw(img)
    w, h = size
    if label == 0:
        pen.ellipse([w * 0.25 + shift, h * 0.25, w * 0.75 + shift, h * 0.75], outline=ink, width=max(3, w // 15))
    else:
        pen.rectangle([w * 0.45 + shift, h * 0.15, w * 0.55 + shift, h * 0.85], fill=ink)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def picture_folder(root: Path, per_class=12) -> Path:
    for i in range(per_class):
        draw(root / "0" / f"ring{i}.png", 0, shift=i % 5 - 2, size=(80 + 3 * i, 100 + 2 * i))
        draw(root / "1" / f"bar{i}.jpg", 1, shift=i % 7 - 3, size=(70 + 4 * i, 110))
    (root / "1" / ".DS_Store").write_bytes(b"\x00junk")  # hidden files are not pictures
    (root / "notes.txt").write_text("my handwriting, March")
    return root


def test_class_folder_pictures_are_converted_as_predict_converts_one(tmp_path):
    from synbiolab.api import load_picture

    root = picture_folder(tmp_path / "my_digits")
    ds = load_dataset(str(root))
    assert ds.class_names == ["0", "1"] and ds.task == "binary" and ds.input_shape == (1, 28, 28)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 24
    assert ds.info["normalisation"]["mean"] == MNIST_MEAN and ds.info["normalisation"]["fill"] == 20 / 28
    for split in (ds.train, ds.test):
        for x, picture in zip(split.x[:3], split.ids[:3], strict=True):
            expected = to_mnist_style(load_picture(root / picture), size=28, fill=20 / 28) / 255.0
            np.testing.assert_allclose(x[0].numpy(), (expected - MNIST_MEAN) / MNIST_STD, atol=1e-5)
    assert all(i.startswith(("0/ring", "1/bar")) for i in ds.train.ids)
    for i in range(6):
        draw(root / "2" / f"ring_left{i}.png", 0, shift=-20 + i)
    three = load_dataset(str(root))
    assert three.task == "multiclass" and three.class_names == ["0", "1", "2"]
    pair = load_dataset(str(root), classes=[0, 2])  # --classes 0,2: a binary task of the rings
    assert pair.task == "binary" and pair.class_names == ["0", "2"] and len(pair.test) + len(pair.train) + len(
        pair.val) == 18
    assert all(i.startswith(("0/", "2/")) for i in pair.train.ids + pair.test.ids)


def test_train_on_own_pictures_then_predict_a_new_one(tmp_path, cli):
    root = picture_folder(tmp_path / "my_digits", per_class=15)
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", root, "--model", "mlp", "--epochs", "15", "--out", run, "--quiet",
                       "--set", "train.progress=false")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == 1.0  # rings against bars
    new_bar = draw(tmp_path / "new_bar.png", 1, size=(300, 400), shift=10)
    code, out, err = cli("predict", run, new_bar)
    assert code == 0, err
    assert out.split(": ", 1)[1].startswith("1 ")  # the most probable class comes first


def test_picture_folder_bad_cases(tmp_path, cli):
    one = tmp_path / "one"
    draw(one / "only" / "a.png", 0)
    code, _, err = cli("data", "info", one)
    assert (code, err) == (2, f"error: {one}: one class folder only ('only'); a classifier needs at least two\n")
    broken = picture_folder(tmp_path / "broken", per_class=3)
    (broken / "0" / "bad.png").write_text("not a picture")
    code, _, err = cli("data", "info", broken)
    assert code == 2 and err == (f"error: {broken / '0' / 'bad.png'}: not an image file (give a PNG, JPEG, BMP, GIF "
                                 "or TIFF picture)\n")
    empty_class = picture_folder(tmp_path / "gap", per_class=3)
    (empty_class / "7").mkdir()
    with pytest.raises(SynbiolabError, match=r"gap/7: class folder without pictures"):
        load_dataset(str(empty_class))


def test_estimated_fill_of_mnist_is_twenty_of_twenty_eight(mnist_dir):
    arrays = images.load_mnist_arrays(mnist_dir)
    assert estimate_fill(arrays["train_images"]) == pytest.approx(20 / 28, abs=0.02)


# --- one FASTA file per class


def fasta(path: Path, sequences, prefix="s") -> Path:
    records = (f">{prefix}{i} some description\n{seq[:30]}\n{seq[30:]}\n" for i, seq in enumerate(sequences))
    path.write_text("".join(records))
    return path


def random_dna(rng, n, length, motif=None):
    out = []
    for _ in range(n):
        seq = "".join(rng.choice(list("ACGT"), length))
        if motif:
            at = rng.integers(0, length - len(motif))
            seq = seq[:at] + motif + seq[at + len(motif):]
        out.append(seq)
    return out


def test_one_fasta_file_per_class(tmp_path):
    rng = np.random.default_rng(0)
    pos = fasta(tmp_path / "positives.fa", random_dna(rng, 40, 50, "TATAAT"), "p")
    neg = fasta(tmp_path / "negatives.fa", random_dna(rng, 60, 50), "n")
    ds = load_dataset(f"{pos},{neg}")
    assert ds.task == "binary" and ds.n_outputs == 1 and ds.class_names == ["positives", "negatives"]
    y = torch.cat([ds.train.y, ds.val.y, ds.test.y])
    assert np.bincount(y.numpy()).tolist() == [40, 60]  # label 0 is the first file
    assert len(ds.test) == 20 and np.bincount(ds.test.y.numpy()).tolist() == [8, 12]  # stratified
    ids = ds.train.ids + ds.val.ids + ds.test.ids
    assert sorted(i for i in ids if i.startswith("positives:")) == sorted(f"positives:p{i}" for i in range(40))
    assert ds.input_shape == (4, 50) and "the second file is the positive class" in ds.info["classes"]
    three = fasta(tmp_path / "other.fasta", random_dna(rng, 30, 50), "o")
    ds3 = load_dataset(f"{pos},{neg},{three}")
    assert ds3.task == "multiclass" and ds3.class_names == ["positives", "negatives", "other"]
    with pytest.raises(SynbiolabError, match=r"two files give the class name 'positives'"):
        load_dataset(f"{pos},{tmp_path / 'positives.fa'}")
    with pytest.raises(SynbiolabError, match=r"--target names a column .* the class is the file"):
        load_dataset(f"{pos},{neg}", target=["y"])


def test_cli_trains_a_binary_model_on_two_fasta_files(tmp_path, cli):
    rng = np.random.default_rng(1)
    pos = fasta(tmp_path / "promoters.fa", random_dna(rng, 60, 40, "TTGACA"))
    neg = fasta(tmp_path / "background.fa", random_dna(rng, 60, 40))
    run = tmp_path / "run"
    code, _, err = cli("train", "--data", f"{pos},{neg}", "--model", "cnn1d", "--epochs", "3", "--batch-size", "16",
                       "--out", run,
                       "--quiet", "--organism", "ecoli", "--set", "train.progress=false")
    assert code == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["name"] == f"{pos},{neg}" and config["data"]["organism"] == "ecoli"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "binary" and metrics["dataset"]["class_names"] == ["promoters", "background"]


# --- the authors' split, gzip, Excel, RNA, BOM


def split_csv(path: Path, spellings, n=None) -> Path:
    rng = np.random.default_rng(2)
    rows = ["sequence,strength,fold"]
    for i, word in enumerate(spellings if n is None else [spellings[i % len(spellings)] for i in range(n)]):
        rows.append(f"{''.join(rng.choice(list('ACGT'), 20))},{rng.normal() + i % 3:.4f},{word}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_split_column_with_every_spelling(tmp_path):
    words = ["train", "Training", "TRAIN", "val", "valid", "Validation", "test", " Test "]
    path = split_csv(tmp_path / "lib.csv", words, n=80)
    ds = load_dataset(str(path), seq_col="sequence", target=["strength"], split_col="fold")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 30, 20)
    assert "as the data's authors made it (column 'fold'): 30 train, 30 validation, 20 test rows" in ds.info["split"]
    # the test rows are exactly those the file marks test (lines 8, 9, 16, 17, ... of the file)
    table_y = np.array([float(line.split(",")[1]) for line in path.read_text().splitlines()[1:]], np.float32)
    marked = [i for i in range(80) if i % 8 in (6, 7)]
    np.testing.assert_allclose(np.sort(ds.test.y[:, 0].numpy()), np.sort(table_y[marked]), rtol=1e-6)


def test_split_column_without_validation_rows_and_bad_values(tmp_path):
    path = split_csv(tmp_path / "lib.csv", ["train", "train", "train", "test"], n=40)
    ds = load_dataset(str(path), seq_col="sequence", target=["strength"], split_col="fold", val_size=6)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (24, 6, 10)
    assert "no row says val, so 6 of the train rows are held out for it" in ds.info["split"]
    bad = split_csv(tmp_path / "bad.csv", ["train", "test", "dev", "train"])
    with pytest.raises(SynbiolabError) as info:
        load_dataset(str(bad), seq_col="sequence", target=["strength"], split_col="fold")
    assert str(info.value) == (f"{bad}:4: split 'dev' in column 'fold' (named by --split-col) is not one of train, "
                               "training, val, valid, validation, test")
    no_test = split_csv(tmp_path / "no_test.csv", ["train", "val"], n=10)
    with pytest.raises(SynbiolabError, match=r"no row of column 'fold' says test"):
        load_dataset(str(no_test), seq_col="sequence", target=["strength"], split_col="fold")
    with pytest.raises(SynbiolabError, match=r"no column 'folds' \(named by --split-col\)"):
        load_dataset(str(no_test), seq_col="sequence", target=["strength"], split_col="folds")


@pytest.mark.parametrize("suffix", [".csv.gz", ".tsv.gz"])
def test_compressed_tables_read_as_the_plain_ones(tmp_path, suffix):
    sep = "\t" if suffix.startswith(".tsv") else ","
    rng = np.random.default_rng(3)
    rows = [sep.join(["seq", "y"])] + [sep.join(["".join(rng.choice(list("ACGT"), 12)), str(i % 2)])
                                        for i in range(30)]
    text = "\n".join(rows) + "\n"
    plain = tmp_path / f"lib{suffix.removesuffix('.gz')}"
    plain.write_text(text)
    packed = tmp_path / f"lib{suffix}"
    packed.write_bytes(gzip.compress(text.encode()))
    a = load_dataset(str(plain), seq_col="seq", target=["y"])
    b = load_dataset(str(packed), seq_col="seq", target=["y"])
    assert a.task == b.task == "binary"
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)


@pytest.mark.parametrize("suffix", [".fa.gz", ".fasta.gz"])
def test_compressed_fasta_files(tmp_path, suffix):
    rng = np.random.default_rng(4)
    pos = tmp_path / f"pos{suffix}"
    neg = tmp_path / f"neg{suffix}"
    for path, motif in ((pos, "GGGG"), (neg, None)):
        text = "".join(f">r{i}\n{s}\n" for i, s in enumerate(random_dna(rng, 20, 30, motif)))
        path.write_bytes(gzip.compress(text.encode()))
    ds = load_dataset(f"{pos},{neg}")
    assert ds.class_names == ["pos", "neg"] and len(ds.train) + len(ds.val) + len(ds.test) == 40
    broken = tmp_path / f"broken{suffix}"
    broken.write_bytes(gzip.compress(b">r1\nACGT\n" * 50)[:-20])
    with pytest.raises(SynbiolabError, match=r"broken.*: damaged gzip file"):
        load_dataset(f"{broken},{neg}")


def test_excel_tables_with_sheets(tmp_path):
    import openpyxl

    rng = np.random.default_rng(5)
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "README"
    notes.append(["Supplementary Table S3: promoter library"])
    data = book.create_sheet("library")
    data.append(["id", "sequence", "expression"])
    seqs = random_dna(rng, 30, 25)
    for i, seq in enumerate(seqs):
        data.append([f"p{i}", seq, float(10 ** (1 + i % 3))])
    data.append([None, None, None])  # Excel's empty formatted rows
    path = tmp_path / "table_s3.xlsx"
    book.save(path)
    ds = load_dataset(str(path), sheet="library", seq_col="sequence", target=["expression"], id_col="id",
                      log_target=True)
    assert ds.task == "regression" and len(ds.train) + len(ds.val) + len(ds.test) == 30
    total = torch.cat([ds.train.y, ds.val.y, ds.test.y])[:, 0]
    assert sorted(set(total.round().tolist())) == [1.0, 2.0, 3.0]
    with pytest.raises(SynbiolabError) as info:
        load_dataset(str(path), sheet="Library", seq_col="sequence", target=["expression"])
    assert str(info.value) == f"{path}: no sheet 'Library' (named by --sheet); sheets: README, library"
    with pytest.raises(SynbiolabError, match=r"table_s3.xlsx\[README\]: no column 'sequence' \(named by --seq-col\); "
                                             r"columns: Supplementary Table S3: promoter library"):
        load_dataset(str(path), seq_col="sequence", target=["expression"])  # the first sheet by default
    data.cell(row=5, column=2, value="ACGTXACGT")
    book.save(path)
    with pytest.raises(SynbiolabError, match=r"table_s3.xlsx\[library\]:5: letter 'X' at position 5"):
        load_dataset(str(path), sheet="library", seq_col="sequence", target=["expression"])
    csv_path = tmp_path / "lib.csv"
    csv_path.write_text("seq,y\nAC,1\n")
    with pytest.raises(SynbiolabError, match=r"--sheet library: .*lib.csv is a text table, not an Excel workbook"):
        load_dataset(str(csv_path), sheet="library", seq_col="seq", target=["y"])


def test_rna_letters_are_read_as_dna_without_being_told(tmp_path):
    rng = np.random.default_rng(6)
    dna = random_dna(rng, 30, 20)
    rows = ["seq,label"] + [f"{s.replace('T', 'U')},{i % 2}" for i, s in enumerate(dna)]
    path = tmp_path / "rna.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(str(path), seq_col="seq", target=["label"])
    x_all = torch.cat([ds.train.x, ds.val.x, ds.test.x])
    expected, _ = one_hot(dna)
    assert sorted(map(bytes, x_all.numpy().astype(np.uint8))) == sorted(map(bytes, expected.astype(np.uint8)))
    assert ds.info["rna"] == "30 sequences written with RNA letters: U read as T, the same base"


def test_byte_order_marks_are_ignored(tmp_path):
    path = tmp_path / "excel_export.csv"
    path.write_bytes("\ufeffsequence,active\nACGT,1\nGGCC,0\nTTAA,1\nCCGG,0\nAATT,1\nGCGC,0\n".encode())
    ds = load_dataset(str(path), seq_col="sequence", target=["active"], test_size=2, val_size=1)
    assert ds.task == "binary"
    with pytest.raises(SynbiolabError) as info:
        load_dataset(str(path), seq_col="seq", target=["active"])
    assert str(info.value).endswith("columns: sequence, active")  # no invisible character before 'sequence'
    fa = tmp_path / "bom.fa"
    fa.write_bytes("\ufeff>a\nACGT\n>b\nGGCC\n".encode())
    from synbiolab.data.sequences import read_fasta

    assert read_fasta(fa).sequences == ["ACGT", "GGCC"]


# --- the organism


def test_organism_of_user_files_and_named_sets(tmp_path):
    from conftest import require_data

    path = tmp_path / "lib.csv"
    path.write_text("seq,y\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(random_dna(np.random.default_rng(7),
                                                                                            20, 10))))
    default = load_dataset(str(path), seq_col="seq", target=["y"])
    assert (default.info["organism"], default.info["organism_group"]) == ("unknown", "unknown")
    ecoli = load_dataset(str(path), seq_col="seq", target=["y"], organism="E. coli")
    assert (ecoli.info["organism"], ecoli.info["organism_group"]) == ("Escherichia coli", "bacteria")
    putida = load_dataset(str(path), seq_col="seq", target=["y"], organism="Pseudomonas putida KT2440:bacteria")
    assert (putida.info["organism"], putida.info["organism_group"]) == ("Pseudomonas putida KT2440", "bacteria")
    with pytest.raises(SynbiolabError, match=r"--organism ecolli: not a known name; give its group after a colon"):
        load_dataset(str(path), seq_col="seq", target=["y"], organism="ecolli")
    with pytest.raises(SynbiolabError, match=r"group 'bacterium' is unknown; valid: bacteria, archaea, vertebrates"):
        load_dataset(str(path), seq_col="seq", target=["y"], organism="x:bacterium")
    require_data("synbio/uci_splice/splice.csv", "synbio/uci_promoters/promoters.data", "synbio/rbs_1014ic/1014IC.csv")
    expected = {"uci_promoters": ("Escherichia coli", "bacteria"), "uci_splice": ("primates", "vertebrates")}
    for name, (organism, group) in expected.items():
        ds = load_dataset(name)
        assert (ds.info["organism"], ds.info["organism_group"]) == (organism, group)
    rbs = load_dataset("rbs_1014ic")
    assert rbs.info["organism_group"] == "bacteria"
    assert rbs.info["organism"].startswith("Escherichia coli in 759 of 1,008 rows; also Bacteroides thetaiotaomicron")


def test_cli_data_info_and_list_show_the_new_inputs(tmp_path, cli):
    path = split_csv(tmp_path / "lib.csv", ["train", "train", "val", "test"], n=40)
    code, out, err = cli("data", "info", path, "--seq-col", "sequence", "--target", "strength", "--split-col",
                         "fold", "--organism", "yeast")
    assert code == 0, err
    assert "lib.csv: regression task, sequence data, input shape (4, 20)" in out
    assert "examples: train 20, validation 10, test 10" in out
    assert "organism: Saccharomyces cerevisiae (fungi)" in out
    code, out, _ = cli("data", "list")
    assert code == 0
    for name in ("fashion_mnist", "kmnist", "emnist_digits", "uci_splice"):
        assert name in out
    assert "FASTA files joined by commas" in out
