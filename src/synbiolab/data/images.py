"""Image data: the IDX format, the MNIST family (data dir -> cache -> download), pictures, sklearn digits.

IDX files are read in a bounded way: the header says how many bytes follow, at most ``MAX_IDX_BYTES`` are
accepted, and nothing beyond what the header promises is held in memory, so a damaged or hostile file fails
with one line. Pictures larger than ``MAX_PICTURE_PIXELS`` are refused before they are decoded.
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import SynbiolabError
from ..io import atomic_write_bytes
from .fetch import fetch
from .organisms import organism_info
from .registry import Dataset, Split, carve_validation, register_dataset, select_classes
from .splits import stratified_split

# --- IDX files: magic = 0x0000 + type code (0x08 = unsigned byte) + number of dimensions.
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801
MAX_IDX_BYTES = 2 * 1024**3  # the payload an IDX header may announce (EMNIST's largest file holds 0.6 GB)
IDX_KINDS = {"images": IDX_IMAGES_MAGIC, "labels": IDX_LABELS_MAGIC}


def _open_binary(path: Path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115


def _read_exactly(fh, n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        chunk = fh.read(min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _count_rest(fh) -> int:
    total = 0
    while chunk := fh.read(1 << 20):
        total += len(chunk)
    return total


def read_idx(path: str | Path, expect: str | None = None) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes.

    Args:
        path: the file; a file starting with the gzip magic is decompressed, whatever its name.
        expect: ``images`` or ``labels``: the kind the caller needs; the other kind is named in the error.

    Returns:
        A uint8 array with the dimensions from the header, e.g. (60000, 28, 28).

    Raises:
        SynbiolabError: wrong magic or the other kind, truncated file or trailing bytes (with the numbers
            that disagree), a header announcing more than ``MAX_IDX_BYTES``, damaged compression.
    """
    path = Path(path)
    if not path.is_file():
        raise SynbiolabError(f"{path}: no such file")
    try:
        with _open_binary(path) as fh:
            head = _read_exactly(fh, 4)
            if len(head) < 4:
                raise SynbiolabError(f"{path}: truncated IDX file ({len(head)} bytes, no header)")
            magic = int.from_bytes(head, "big")
            if magic not in (IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC):
                raise SynbiolabError(
                    f"{path}: not an IDX file of unsigned bytes (magic 0x{magic:08x}; expected 0x00000803 for "
                    "images or 0x00000801 for labels)"
                )
            kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
            if expect is not None and kind != expect:
                raise SynbiolabError(
                    f"{path}: holds {kind} (IDX magic 0x{magic:08x}), not {expect} (0x{IDX_KINDS[expect]:08x}); "
                    "are the images and labels files swapped or misnamed?"
                )
            n_dims = head[3]
            header = 4 + 4 * n_dims
            raw_dims = _read_exactly(fh, 4 * n_dims)
            if len(raw_dims) < 4 * n_dims:
                raise SynbiolabError(f"{path}: truncated IDX header ({4 + len(raw_dims)} bytes, expected {header})")
            dims = [int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(n_dims)]
            size = int(np.prod(dims, dtype=object))
            shape = "x".join(map(str, dims))
            if size > MAX_IDX_BYTES:
                raise SynbiolabError(
                    f"{path}: IDX header announces {shape} = {size:,} bytes, over the "
                    f"{MAX_IDX_BYTES / 1024**3:.0f} GB limit; the file is damaged or not an image set"
                )
            payload = _read_exactly(fh, size)
            expected = header + size
            if len(payload) < size:
                raise SynbiolabError(
                    f"{path}: IDX file truncated: header says {shape} = {expected} bytes, file has "
                    f"{header + len(payload)}"
                )
            rest = _count_rest(fh)
            if rest:
                raise SynbiolabError(
                    f"{path}: IDX file has trailing bytes: header says {shape} = {expected} bytes, file has "
                    f"{expected + rest}"
                )
    except (OSError, EOFError, zlib.error) as exc:
        raise SynbiolabError(f"{path}: cannot read ({exc})") from exc
    return np.frombuffer(payload, np.uint8).reshape(dims).copy()


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


# --- the MNIST family: where the files are, their public addresses and checksums

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


@dataclass(frozen=True)
class IdxSet:
    """A named image set in the MNIST layout: four IDX files, their MD5s and where they can be fetched.

    The checksums are the ones the data's publishers give and torchvision pins. A set distributed as one
    archive (EMNIST) names the archive and its MD5; its four files are extracted from it.
    """

    name: str
    folder: str  # the sub-folder of a data folder (or of the cache) holding the files
    files: dict  # key -> (file name, MD5 or None when the archive's MD5 covers it)
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    info: dict
    archive: tuple[str, str] | None = None  # (archive name, MD5)
    archive_folder: str = ""  # the folder of the files inside the archive
    transposed: bool = False  # stored column by column (EMNIST): transposed when read


MNIST = IdxSet("mnist", "mnist", MNIST_FILES, MNIST_MIRRORS, tuple(str(i) for i in range(10)), {
    "source": "MNIST (LeCun, Cortes, Burges), 60,000 training and 10,000 test images, 28x28",
    "license": "CC BY-SA 3.0",
})
FASHION_MNIST = IdxSet(
    "fashion_mnist", "fashion_mnist",
    {
        "train_images": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    },
    (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    {
        "source": "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando Research): 70,000 article photos, 28x28, "
        "10 classes (60,000 train / 10,000 test)",
        "license": "MIT",
    },
)
KMNIST = IdxSet(
    "kmnist", "kmnist",
    {
        "train_images": ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    },
    ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/", "https://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
    ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    {
        "source": "Kuzushiji-MNIST (Clanuwat et al. 2018, ROIS-DS Center for Open Data in the Humanities): "
        "70,000 cursive Japanese hiragana, 28x28, 10 classes (60,000 train / 10,000 test)",
        "license": "CC BY-SA 4.0",
    },
)
EMNIST_DIGITS = IdxSet(
    "emnist_digits", "emnist_digits",
    {
        "train_images": ("emnist-digits-train-images-idx3-ubyte.gz", None),
        "train_labels": ("emnist-digits-train-labels-idx1-ubyte.gz", None),
        "test_images": ("emnist-digits-test-images-idx3-ubyte.gz", None),
        "test_labels": ("emnist-digits-test-labels-idx1-ubyte.gz", None),
    },
    ("https://biometrics.nist.gov/cs_links/EMNIST/", "https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/"),
    tuple(str(i) for i in range(10)),
    {
        "source": "EMNIST Digits (Cohen, Afshar, Tapson & van Schaik 2017, from NIST Special Database 19): "
        "280,000 handwritten digits, 28x28, 10 classes (240,000 train / 40,000 test)",
        "license": "NIST Special Database 19 terms",
        "download": "the whole EMNIST archive (gzip.zip, about 560 MB) is fetched once; its digits files are kept",
    },
    archive=("gzip.zip", "58c8d27c78d21e728a6bc7b3cc06412e"),
    archive_folder="gzip",
    transposed=True,
)
IDX_SETS = {s.name: s for s in (MNIST, FASHION_MNIST, KMNIST, EMNIST_DIGITS)}


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


def find_idx_files(folder: Path, files: dict | None = None) -> dict[str, Path] | None:
    """The four files of `files` (default: the MNIST names) in `folder`, gzip-compressed or not; None when
    any is missing."""
    found = {}
    for key, (name, _) in (files or MNIST_FILES).items():
        for candidate in (folder / name, folder / name.removesuffix(".gz")):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def resolve_idx_set(spec: IdxSet, data_dir: str | None = None, download_ok: bool = True) -> dict[str, Path]:
    """Find the four files of an MNIST-family set, in order: ``<data_dir>/<folder>/``,
    ``$SYNBIOLAB_DATA/<folder>/``, the user cache, then a download into the cache (through pooch).

    Files in the cache came from a download and are checked against the pinned MD5s by pooch (a corrupt one
    is fetched again); files in a data folder are the user's own and are checked for structure when read
    (header against size, label count against image count, labels against the classes).
    """
    for root in data_roots(data_dir)[:-1]:
        found = find_idx_files(root / spec.folder, spec.files)
        if found:
            return found
    target = cache_dir() / spec.folder
    names = ", ".join(name for name, _ in spec.files.values())
    reason = "downloads not allowed here"
    if download_ok:
        try:
            return _download_idx_set(spec, target)
        except SynbiolabError as exc:
            reason = str(exc)
    raise SynbiolabError(
        f"{spec.name.replace('_', '-').upper() if spec.name == 'mnist' else spec.name} not found and could not be "
        f"downloaded; put {names} in <data-dir>/{spec.folder}/ (--data-dir or SYNBIOLAB_DATA) or in {target} "
        f"({reason})"
    )


def _download_idx_set(spec: IdxSet, target: Path) -> dict[str, Path]:
    if spec.archive is None:
        return {key: Path(fetch(name, spec.mirrors, f"md5:{md5}", target, what=spec.name))
                for key, (name, md5) in spec.files.items()}
    import pooch

    archive, md5 = spec.archive
    members = [f"{spec.archive_folder}/{name}" if spec.archive_folder else name for name, _ in spec.files.values()]
    extracted = fetch(archive, spec.mirrors, f"md5:{md5}", target, what=spec.name,
                      processor=pooch.Unzip(members=members))
    by_name = {Path(p).name: Path(p) for p in extracted}
    missing = [name for name, _ in spec.files.values() if name not in by_name]
    if missing:
        raise SynbiolabError(f"{spec.name}: the archive {archive} lacks {', '.join(missing)}")
    return {key: by_name[name] for key, (name, _) in spec.files.items()}


def resolve_mnist(data_dir: str | None = None, download_ok: bool = True) -> dict[str, Path]:
    """The four MNIST files (see :func:`resolve_idx_set`)."""
    return resolve_idx_set(replace(MNIST, mirrors=MNIST_MIRRORS), data_dir, download_ok)


def check_labels(labels: np.ndarray, n_classes: int, path: Path, why: str) -> None:
    """Refuse a label outside 0..n_classes-1, naming the file and the example (a label of 200 among ten
    classes would otherwise fail deep inside training)."""
    bad = np.flatnonzero(labels >= n_classes)
    if len(bad):
        i = int(bad[0])
        raise SynbiolabError(
            f"{path}: label {int(labels[i])} of example {i + 1} (of {len(labels):,}) is outside the class range "
            f"0..{n_classes - 1} ({why}){f'; {len(bad) - 1} more such labels' if len(bad) > 1 else ''}"
        )


def load_idx_arrays(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    """The arrays of the files ``train_images``, ``train_labels`` and optionally ``test_images``,
    ``test_labels``, with kinds, shapes and counts checked against each other."""
    arrays = {}
    for key, path in paths.items():
        arrays[key] = read_idx(path, expect="images" if key.endswith("images") else "labels")
    for part in ("train", "test"):
        if f"{part}_images" not in arrays:
            continue
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or min(images.shape[1:], default=0) == 0:
            raise SynbiolabError(f"{paths[f'{part}_images']}: expected images N x H x W, got {images.shape}")
        if labels.ndim != 1:
            raise SynbiolabError(f"{paths[f'{part}_labels']}: expected one label per image, got {labels.shape}")
        if len(images) != len(labels):
            raise SynbiolabError(
                f"{paths[f'{part}_labels']}: {len(labels)} labels for {len(images)} images in "
                f"{paths[f'{part}_images'].name}"
            )
        if len(images) == 0:
            raise SynbiolabError(f"{paths[f'{part}_images']}: holds no images")
    if "test_images" in arrays and arrays["test_images"].shape[1:] != arrays["train_images"].shape[1:]:
        raise SynbiolabError(
            f"{paths['test_images']}: images of {'x'.join(map(str, arrays['test_images'].shape[1:]))} pixels, but "
            f"the training images are {'x'.join(map(str, arrays['train_images'].shape[1:]))}"
        )
    return arrays


def load_mnist_arrays(data_dir: str | None = None, download_ok: bool = True) -> dict[str, np.ndarray]:
    """The four MNIST arrays (uint8 images, uint8 labels), with counts and labels checked."""
    paths = resolve_mnist(data_dir, download_ok)
    arrays = load_idx_arrays(paths)
    for part in ("train", "test"):
        check_labels(arrays[f"{part}_labels"], 10, paths[f"{part}_labels"], "MNIST has 10 classes")
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


# --- pictures

MAX_PICTURE_PIXELS = 50_000_000  # about 8,000 x 6,000 (a 48-megapixel phone photo); larger pictures are refused
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
_WORKING_SIDE = 2048  # pictures are reduced to this side before conversion: the result is 28 pixels wide


def _too_large(path: Path, size: tuple[int, int] | None, pil_message: str = "") -> SynbiolabError:
    if size:
        what = f"a picture of {size[0]:,} x {size[1]:,} pixels"
    else:  # Pillow refused it while opening; its message holds the number of pixels
        import re

        found = re.search(r"\((\d+) pixels\)", pil_message)
        what = f"a picture of {int(found.group(1)):,} pixels" if found else "a picture of too many pixels"
    return SynbiolabError(
        f"{path}: {what}, over the limit of {MAX_PICTURE_PIXELS / 1e6:.0f} megapixels; scale it down first"
    )


def read_picture(path: str | Path):
    """Open a picture file (PNG, JPEG, BMP, GIF, TIFF, WebP, ...) as a PIL image, within the size limit.

    The size is read from the header and checked before the pixels are decoded, so that a 30,000 x 30,000
    picture fails at once; a large picture is then reduced to at most 2,048 pixels a side (JPEGs are
    decoded at a reduced scale), which changes nothing in the 28 x 28 result and bounds the memory.

    Raises:
        SynbiolabError: a folder, a missing file, a file that is not a picture, or one over
            ``MAX_PICTURE_PIXELS``.
    """
    from PIL import Image

    path = Path(path)
    if path.is_dir():
        raise SynbiolabError(f"{path}: is a folder; give picture files (e.g. {path}/*.png)")
    if not path.is_file():
        raise SynbiolabError(f"{path}: no such file")
    size = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                size = img.size
                if size[0] * size[1] > MAX_PICTURE_PIXELS:
                    raise _too_large(path, size)
                if max(size) > 2 * _WORKING_SIDE:
                    img.draft(img.mode, (_WORKING_SIDE, _WORKING_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8
                img.load()
                out = img.copy()
    except SynbiolabError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _too_large(path, size, str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - a damaged picture raises OSError, ValueError, SyntaxError, ...
        raise SynbiolabError(f"{path}: not an image file (give a PNG, JPEG, BMP, GIF or TIFF picture)") from exc
    if max(out.size) > _WORKING_SIDE:
        out.thumbnail((_WORKING_SIDE, _WORKING_SIDE), Image.LANCZOS)
    return out


def estimate_fill(images: np.ndarray, sample: int = 2000) -> float:
    """The median share of the frame an object spans in `images` (N, H, W) uint8, light on dark.

    A user's picture is scaled to this share when it is converted (``to_mnist_style``), so that it looks
    like the images the model learned from: 20/28 for MNIST's digits, nearly 1 for Fashion-MNIST's photos.
    """
    picked = images[np.linspace(0, len(images) - 1, min(sample, len(images))).astype(int)]
    extents = []
    for image in picked:
        top = int(image.max())
        if top == 0:
            continue
        ys, xs = np.nonzero(image > 30 * top / 255)
        extents.append(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / max(image.shape))
    return float(np.median(extents)) if extents else 20 / 28


# --- the named image data sets


def _image_dataset(name, x_pool, y_pool, x_test, y_test, names, task, cfg, default_val, mean, std, info, fill,
                   pool_ids=None, test_ids=None):
    train_idx, val_idx = carve_validation(y_pool, cfg, default_val)

    def tensor(images):
        t = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        return (t - mean) / std

    def split(images, labels, ids=None):
        return Split(tensor(images), torch.from_numpy(labels.astype(np.int64)), ids)

    def pick(index):
        return None if pool_ids is None else [pool_ids[i] for i in index]

    # `fill`: the share of the frame a digit spans, used to turn a user's picture into this style
    info = {**organism_info("none", "none"), **info,
            "normalisation": {"mean": mean, "std": std, "scale": 255.0, "fill": fill}}
    return Dataset(
        name=name,
        task=task,
        kind="image",
        train=split(x_pool[train_idx], y_pool[train_idx], pick(train_idx)),
        val=split(x_pool[val_idx], y_pool[val_idx], pick(val_idx)),
        test=split(x_test, y_test, test_ids),
        class_names=names,
        input_shape=(1, *x_pool.shape[1:]),
        info=info,
    )


def pixel_stats(images: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of uint8 images scaled to 0..1 (the normalisation of a new image set)."""
    # From the histogram of the 256 grey levels: exact, and no float copy of a large set.
    counts = np.bincount(np.ascontiguousarray(images).ravel(), minlength=256).astype(np.float64)
    levels = np.arange(256) / 255.0
    mean = float((counts * levels).sum() / counts.sum())
    std = float(np.sqrt((counts * (levels - mean) ** 2).sum() / counts.sum()))
    return round(mean, 4), round(max(std, 1e-3), 4)


def _load_mnist(cfg: DataConfig) -> Dataset:
    arrays = load_mnist_arrays(cfg.data_dir)
    names = [str(i) for i in range(10)]
    x_pool, y_pool, names_sel, task = select_classes(
        arrays["train_images"], arrays["train_labels"].astype(np.int64), cfg.classes, names, "mnist"
    )
    x_test, y_test, _, _ = select_classes(
        arrays["test_images"], arrays["test_labels"].astype(np.int64), cfg.classes, names, "mnist"
    )
    return _image_dataset(
        "mnist", x_pool, y_pool, x_test, y_test, names_sel, task, cfg, 5000, MNIST_MEAN, MNIST_STD, dict(MNIST.info),
        20 / 28
    )


def _family_loader(spec: IdxSet):
    """The loader of a named MNIST-family set: its files resolved, labels checked against its classes."""

    def load(cfg: DataConfig) -> Dataset:
        paths = resolve_idx_set(spec, cfg.data_dir)
        arrays = load_idx_arrays(paths)
        names = list(spec.class_names)
        for part in ("train", "test"):
            check_labels(arrays[f"{part}_labels"], len(names), paths[f"{part}_labels"],
                         f"{spec.name} has {len(names)} classes")
            if spec.transposed:  # stored column by column: transpose so that the pictures stand upright
                arrays[f"{part}_images"] = np.ascontiguousarray(arrays[f"{part}_images"].transpose(0, 2, 1))
        x_pool, y_pool, names_sel, task = select_classes(
            arrays["train_images"], arrays["train_labels"].astype(np.int64), cfg.classes, names, spec.name
        )
        x_test, y_test, _, _ = select_classes(
            arrays["test_images"], arrays["test_labels"].astype(np.int64), cfg.classes, names, spec.name
        )
        mean, std = pixel_stats(arrays["train_images"])
        info = {**spec.info, "files": f"read from {paths['train_images'].parent}"}
        default_val = min(5000, max(1, len(x_pool) // 12))
        return _image_dataset(spec.name, x_pool, y_pool, x_test, y_test, names_sel, task, cfg, default_val, mean,
                              std, info, round(estimate_fill(arrays["train_images"]), 4))

    return load


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
register_dataset("fashion_mnist", _family_loader(FASHION_MNIST),
                 "70,000 clothing photos, 28x28, 10 classes (60,000 train / 10,000 test; Zalando)")
register_dataset("kmnist", _family_loader(KMNIST),
                 "70,000 cursive Japanese characters (Kuzushiji), 28x28, 10 classes (60,000 / 10,000)")
register_dataset("emnist_digits", _family_loader(EMNIST_DIGITS),
                 "280,000 handwritten digits, 28x28, 10 classes (240,000 / 40,000; NIST, a 560 MB download)")
