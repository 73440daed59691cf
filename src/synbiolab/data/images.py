"""Image data: the IDX format, MNIST resolution (data dir -> cache -> download + checksum), sklearn digits."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import SynbiolabError
from ..io import atomic_write_bytes, download, file_digest
from .registry import Dataset, Split, carve_validation, register_dataset, select_classes
from .splits import stratified_split

# --- IDX files: magic = 0x0000 + type code (0x08 = unsigned byte) + number of dimensions.
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


def _open_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise SynbiolabError(f"{path}: cannot read ({exc})") from exc


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes.

    Args:
        path: the file; ``.gz`` files (or any file starting with the gzip magic) are decompressed.

    Returns:
        A uint8 array with the dimensions from the header, e.g. (60000, 28, 28).

    Raises:
        SynbiolabError: wrong magic, truncated file or trailing bytes, with the numbers that disagree.
    """
    path = Path(path)
    raw = _open_bytes(path)
    if len(raw) < 4:
        raise SynbiolabError(f"{path}: truncated IDX file ({len(raw)} bytes, no header)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
        raise SynbiolabError(
            f"{path}: not an IDX file of unsigned bytes (magic 0x{magic:08x}; expected 0x00000803 for images "
            "or 0x00000801 for labels)"
        )
    n_dims = raw[3]
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise SynbiolabError(f"{path}: truncated IDX header ({len(raw)} bytes, expected {header})")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)]
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise SynbiolabError(
            f"{path}: IDX file {what}: header says {'x'.join(map(str, dims))} = {expected} bytes, file has {len(raw)}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzip-compressed when the name ends in .gz), atomically."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise SynbiolabError(f"{path}: IDX writer takes uint8 arrays, got {array.dtype}")
    magic = IDX_LABELS_MAGIC if array.ndim == 1 else IDX_IMAGES_MAGIC
    magic = (magic & 0xFFFFFF00) | array.ndim
    payload = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload += np.ascontiguousarray(array).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)

    atomic_write_bytes(path, payload)


# --- MNIST resolution
MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
# Public mirrors, tried in order (the original site has rate-limited downloads for years).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def cache_dir() -> Path:
    """The user cache, ``~/.cache/synbiolab`` (or ``$XDG_CACHE_HOME/synbiolab``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "synbiolab"


def data_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for data, in order: the explicit folder, $SYNBIOLAB_DATA, the user cache."""
    roots = []
    for candidate in (data_dir, os.environ.get("SYNBIOLAB_DATA")):
        if candidate:
            roots.append(Path(candidate).expanduser())
    roots.append(cache_dir())
    return roots


def _find_in(folder: Path) -> dict[str, Path] | None:
    """The four MNIST files in `folder`, gzip-compressed or not, or None when any is missing."""
    found = {}
    for key, (name, _) in MNIST_FILES.items():
        for candidate in (folder / name, folder / name.removesuffix(".gz")):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def resolve_mnist(data_dir: str | None = None, download_ok: bool = True) -> dict[str, Path]:
    """Find the four MNIST files, in order: ``<data_dir>/mnist/``, ``$SYNBIOLAB_DATA/mnist/``, the user
    cache, then a download into the cache from the public mirrors.

    Files in the cache came from a download and are checked against the official MD5s (a corrupt one is
    deleted and fetched again); files in a data folder are the user's own and are checked for structure
    when read (header against size, label count against image count).
    """
    for root in data_roots(data_dir)[:-1]:
        found = _find_in(root / "mnist")
        if found:
            return found
    target = cache_dir() / "mnist"
    paths: dict[str, Path] = {}
    errors: list[str] = []
    for key, (name, md5) in MNIST_FILES.items():
        dest = target / name
        if dest.is_file():
            if file_digest(dest) == md5:
                paths[key] = dest
                continue
            dest.unlink()  # a corrupt cached copy is never used
        if not download_ok:
            break
        for mirror in MNIST_MIRRORS:
            try:
                paths[key] = download(mirror + name, dest, md5)
                break
            except SynbiolabError as exc:
                errors.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - network errors of any kind: try the next mirror
                errors.append(f"{mirror}{name}: {exc}")
        if key not in paths:
            break
    if len(paths) == 4:
        return paths
    names = ", ".join(name for name, _ in MNIST_FILES.values())
    raise SynbiolabError(
        f"MNIST not found and could not be downloaded; put {names} in <data-dir>/mnist/ "
        f"(--data-dir or SYNBIOLAB_DATA) or in {target}"
    )


def load_mnist_arrays(data_dir: str | None = None, download_ok: bool = True) -> dict[str, np.ndarray]:
    """The four MNIST arrays (uint8 images, uint8 labels), with counts checked against each other."""
    paths = resolve_mnist(data_dir, download_ok)
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for part in ("train", "test"):
        n_images, n_labels = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
        if n_images != n_labels:
            raise SynbiolabError(
                f"{paths[f'{part}_labels']}: {n_labels} labels for {n_images} images in "
                f"{paths[f'{part}_images'].name}"
            )
        if arrays[f"{part}_images"].ndim != 3:
            raise SynbiolabError(f"{paths[f'{part}_images']}: expected images N x H x W")
    return arrays


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (1,797 images, 0..16 grey levels) as uint8 0..255 and labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.clip(bunch.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    return images, bunch.target.astype(np.int64)


def to_mnist_style(image, size: int = 28, fill: float = 20 / 28) -> np.ndarray:
    """Turn any picture of a digit into a 28x28 MNIST-style uint8 array (white digit on black).

    The digit is found by its bounding box, scaled to fit 20x20 keeping its aspect ratio and centred by
    its centre of mass in a 28x28 field, as the MNIST images were prepared (`fill` is that 20/28; the
    8x8 digits fill their whole field).
    """
    from PIL import Image

    img = image.convert("L") if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image)).convert("L")
    a = np.asarray(img, dtype=np.float32)
    # MNIST digits are light on dark: invert pictures whose border is light (ink on paper).
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if border.mean() > 127:
        a = 255.0 - a
    a = np.clip(a - np.percentile(a, 5), 0, None)
    if a.max() <= 0:
        return np.zeros((size, size), np.uint8)
    a = a * (255.0 / a.max())
    ys, xs = np.nonzero(a > 30)
    if len(ys) == 0:
        ys, xs = np.nonzero(a > 0)
    crop = a[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    inner = max(1, round(size * fill))
    scale = inner / max(crop.shape)
    h, w = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    small = np.asarray(Image.fromarray(crop.astype(np.uint8)).resize((w, h), Image.LANCZOS), dtype=np.float32)
    out = np.zeros((size, size), np.float32)
    total = small.sum()
    cy = (small.sum(1) * np.arange(h)).sum() / total if total else h / 2
    cx = (small.sum(0) * np.arange(w)).sum() / total if total else w / 2
    top = int(round(size / 2 - cy))
    left = int(round(size / 2 - cx))
    top, left = min(max(top, 0), size - h), min(max(left, 0), size - w)
    out[top : top + h, left : left + w] = small
    return np.clip(out, 0, 255).astype(np.uint8)


# --- the named image data sets


def _image_dataset(name, x_pool, y_pool, x_test, y_test, names, task, cfg, default_val, mean, std, info, fill):
    train_idx, val_idx = carve_validation(y_pool, cfg, default_val)

    def tensor(images):
        t = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        return (t - mean) / std

    def split(images, labels):
        return Split(tensor(images), torch.from_numpy(labels.astype(np.int64)))

    # `fill`: the share of the frame a digit spans, used to turn a user's picture into this style
    info = {**info, "normalisation": {"mean": mean, "std": std, "scale": 255.0, "fill": fill}}
    return Dataset(
        name=name,
        task=task,
        kind="image",
        train=split(x_pool[train_idx], y_pool[train_idx]),
        val=split(x_pool[val_idx], y_pool[val_idx]),
        test=split(x_test, y_test),
        class_names=names,
        input_shape=(1, *x_pool.shape[1:]),
        info=info,
    )


def _load_mnist(cfg: DataConfig) -> Dataset:
    arrays = load_mnist_arrays(cfg.data_dir)
    names = [str(i) for i in range(10)]
    x_pool, y_pool, names_sel, task = select_classes(
        arrays["train_images"], arrays["train_labels"].astype(np.int64), cfg.classes, names, "mnist"
    )
    x_test, y_test, _, _ = select_classes(
        arrays["test_images"], arrays["test_labels"].astype(np.int64), cfg.classes, names, "mnist"
    )
    info = {
        "source": "MNIST (LeCun, Cortes, Burges), 60,000 training and 10,000 test images, 28x28",
        "license": "CC BY-SA 3.0",
    }
    return _image_dataset(
        "mnist", x_pool, y_pool, x_test, y_test, names_sel, task, cfg, 5000, MNIST_MEAN, MNIST_STD, info, 20 / 28
    )


DIGITS_MEAN, DIGITS_STD = 0.3054, 0.3789  # of the 1,797 8x8 images scaled to 0..1


def _load_digits(cfg: DataConfig) -> Dataset:
    images, labels = load_digits_arrays()
    names = [str(i) for i in range(10)]
    images, labels, names_sel, task = select_classes(images, labels, cfg.classes, names, "digits")
    test_size = cfg.test_size if cfg.test_size is not None else 0.2
    pool_idx, test_idx = stratified_split(labels, test_size, seed=cfg.seed, what="test_size")
    info = {"source": "scikit-learn's bundled 8x8 handwritten digits (UCI optdigits test set), 1,797 images"}
    return _image_dataset(
        "digits",
        images[pool_idx],
        labels[pool_idx],
        images[test_idx],
        labels[test_idx],
        names_sel,
        task,
        cfg,
        0.15,
        DIGITS_MEAN,
        DIGITS_STD,
        info,
        1.0,
    )


register_dataset("mnist", _load_mnist, "70,000 handwritten digits, 28x28, 10 classes (60,000 train / 10,000 test)")
register_dataset("digits", _load_digits, "1,797 handwritten digits, 8x8, 10 classes (scikit-learn, offline)")
