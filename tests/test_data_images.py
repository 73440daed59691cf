"""IDX files, MNIST resolution and download, the built-in image data sets and splits."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import synbiolab.data.images as images
from synbiolab import SynbiolabError, load_dataset
from synbiolab.data.fetch import fetch
from synbiolab.data.images import MNIST_FILES, load_mnist_arrays, read_idx, resolve_mnist, write_idx


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    assert back.shape == (7, 5, 3) and np.array_equal(back, arr)
    labels = rng.integers(0, 10, size=11, dtype=np.uint8)
    write_idx(tmp_path / "l.gz", labels)
    assert np.array_equal(read_idx(tmp_path / "l.gz"), labels)
    raw = (gzip.decompress((tmp_path / "l.gz").read_bytes()))
    assert raw[:4] == b"\x00\x00\x08\x01" and int.from_bytes(raw[4:8], "big") == 11


def test_truncated_idx_names_sizes(tmp_path):
    write_idx(tmp_path / "a", np.zeros((4, 28, 28), np.uint8))
    data = (tmp_path / "a").read_bytes()
    (tmp_path / "a").write_bytes(data[:-100])
    with pytest.raises(SynbiolabError, match=r"truncated: header says 4x28x28 = 3152 bytes, file has 3052"):
        read_idx(tmp_path / "a")


def test_wrong_magic(tmp_path):
    (tmp_path / "b").write_bytes(b"\x00\x00\x0d\x03" + bytes(20))
    with pytest.raises(SynbiolabError, match=r"magic 0x00000d03; expected 0x00000803"):
        read_idx(tmp_path / "b")


def test_image_label_count_mismatch(tmp_path):
    folder = tmp_path / "mnist"
    write_idx(folder / MNIST_FILES["train_images"][0], np.zeros((5, 28, 28), np.uint8))
    write_idx(folder / MNIST_FILES["train_labels"][0], np.zeros(4, np.uint8))
    write_idx(folder / MNIST_FILES["test_images"][0], np.zeros((3, 28, 28), np.uint8))
    write_idx(folder / MNIST_FILES["test_labels"][0], np.zeros(3, np.uint8))
    with pytest.raises(SynbiolabError, match=r"train-labels-idx1-ubyte.gz: 4 labels for 5 images"):
        load_mnist_arrays(tmp_path, download_ok=False)


def test_download_checks_md5_and_discards_a_wrong_file(mnist_dir, tmp_path):
    name, md5 = MNIST_FILES["train_labels"]
    mirror = (mnist_dir / "mnist").resolve().as_uri() + "/"
    got = fetch(name, [mirror], f"md5:{md5}", tmp_path / "ok")
    assert open(got, "rb").read() == (mnist_dir / "mnist" / name).read_bytes()
    with pytest.raises(SynbiolabError, match="checksum mismatch"):
        fetch(name, [mirror], "md5:" + "0" * 32, tmp_path / "bad")
    assert list((tmp_path / "bad").iterdir()) == []  # nothing partial or wrong is left behind


def test_resolve_downloads_into_cache_when_no_data_dir(mnist_dir, monkeypatch, tmp_path):
    monkeypatch.delenv("SYNBIOLAB_DATA")
    monkeypatch.setattr(images, "MNIST_MIRRORS", ((mnist_dir / "mnist").resolve().as_uri() + "/",))
    paths = resolve_mnist(None)
    assert all(p.parent == images.cache_dir() / "mnist" for p in paths.values())
    # A corrupt cached file is replaced by a fresh, verified download.
    paths["test_labels"].write_bytes(b"junk")
    again = resolve_mnist(None)
    assert read_idx(again["test_labels"]).shape == (10000,)


def test_offline_error_names_the_four_files(monkeypatch, cli):
    monkeypatch.delenv("SYNBIOLAB_DATA", raising=False)
    monkeypatch.setattr(images, "MNIST_MIRRORS", ("file:///nonexistent/",))
    code, out, err = cli("data", "info", "mnist")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    for name, _ in MNIST_FILES.values():
        assert name in err


def test_mnist_splits(mnist_dir):
    ds = load_dataset("mnist")
    assert ds.task == "multiclass" and ds.input_shape == (1, 28, 28) and ds.n_outputs == 10
    assert (len(ds.train), len(ds.val), len(ds.test)) == (55000, 5000, 10000)
    # the validation split is stratified: each class keeps its share of the 60,000 (within one example)
    counts = np.bincount(ds.val.y.numpy(), minlength=10)
    official = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
    assert np.all(np.abs(counts - official * 5000 / 60000) <= 1)
    assert abs(float(ds.train.x.mean())) < 0.02 and abs(float(ds.train.x.std()) - 1) < 0.02
    again = load_dataset("mnist")
    assert np.array_equal(ds.val.y.numpy(), again.val.y.numpy())


def test_binary_subset_and_train_size(mnist_dir):
    ds = load_dataset("mnist", classes=[3, 7], train_size=1000)
    assert ds.task == "binary" and ds.n_outputs == 1 and ds.class_names == ["3", "7"]
    assert len(ds.train) == 1000 and set(ds.test.y.tolist()) == {0, 1}
    assert len(ds.test) == 1010 + 1028  # the test 3s and 7s


def test_digits_offline_and_bad_classes():
    ds = load_dataset("digits")
    assert ds.input_shape == (1, 8, 8) and len(ds.train) + len(ds.val) + len(ds.test) == 1797
    with pytest.raises(SynbiolabError, match=r"classes=\[3, 12\]"):
        load_dataset("digits", classes=[3, 12])


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(SynbiolabError, match=r"unknown data set 'mnits'; valid: mnist, digits"):
        load_dataset("mnits")


def test_shared_copy_is_untouched(mnist_dir):
    # Reading never writes next to the user's files.
    before = sorted(p.name for p in (mnist_dir / "mnist").iterdir())
    load_mnist_arrays(mnist_dir)
    assert sorted(p.name for p in (mnist_dir / "mnist").iterdir()) == before


def test_corrupt_idx_in_data_dir_is_one_cli_line(mnist_dir, tmp_path, cli):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, _ in MNIST_FILES.values():
        (folder / name).write_bytes((mnist_dir / "mnist" / name).read_bytes())
    raw = gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:5000]))
    code, _, err = cli("data", "info", "mnist", "--data-dir", tmp_path)
    assert code == 2 and err.count("\n") == 1
    expected = "t10k-images-idx3-ubyte.gz: IDX file truncated: header says 10000x28x28 = 7840016 bytes, file has 5000"
    assert expected in err
