"""A user's own data given as a path: which loader reads it, and the two folder layouts for images.

``--data PATH`` is read by what PATH is:

- a table (``.csv``, ``.tsv``, ``.xlsx``; ``.gz`` too) or a FASTA file (``.fa``, ``.fasta``, ...; ``.gz`` too):
  sequences (see ``synbio.load_sequence_file``);
- FASTA files joined by commas (``positives.fa,negatives.fa``): one class per file;
- a folder of IDX files in the MNIST layout (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
  optionally ``t10k-...``), whatever the images show, with class names from an optional ``classes.txt``;
- a folder of class sub-folders of pictures (``my_digits/3/*.png``), each picture converted exactly as
  ``synbiolab predict`` converts one, so that a model trained on them reads new pictures the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..errors import SynbiolabError
from .images import (
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_STD,
    PICTURE_SUFFIXES,
    _image_dataset,
    check_labels,
    estimate_fill,
    load_idx_arrays,
    pixel_stats,
    read_picture,
    to_mnist_style,
)
from .registry import MAX_CLASSES, Dataset, register_dataset, select_classes, unknown_name_error
from .sequences import is_fasta
from .splits import stratified_split
from .tables import EXCEL_SUFFIXES, TABLE_SUFFIXES, base_suffix

PICTURE_SIZE = 28  # class-folder pictures become 28 x 28, the size of MNIST and of `predict`'s conversion
PICTURE_FILL = 20 / 28  # and their object spans 20 of the 28 pixels, as an MNIST digit does


def _natural_key(text: str):
    """Sort key that puts "2" before "10" (class folders named by numbers)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", text)]


def _visible(path: Path) -> bool:
    # Hidden files and the folders archivers add (.DS_Store, __MACOSX) are not pictures of a class.
    return not path.name.startswith((".", "__"))


# --- a folder of IDX files


def read_class_names(path: Path) -> list[str]:
    """The class names in `path` (classes.txt): one per line, in label order; trailing blank lines ignored."""
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as exc:
        raise SynbiolabError(f"{path}: cannot read ({exc.strerror})") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    for number, name in enumerate(names, start=1):
        if not name:
            raise SynbiolabError(f"{path}:{number}: empty class name (one name per line, label 0 first)")
    seen = {}
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise SynbiolabError(f"{path}:{number}: class '{name}' is named twice (also on line {seen[name]})")
        seen[name] = number
    if len(names) < 2:
        raise SynbiolabError(f"{path}: names {len(names)} class(es); a classifier needs at least two")
    if len(names) > MAX_CLASSES:
        raise SynbiolabError(f"{path}: names {len(names):,} classes, more than the {MAX_CLASSES:,} a classifier takes")
    return names


def _labels_without_names(arrays: dict, paths: dict) -> list[str]:
    """Class names 0..K-1 for labels without a classes.txt; a label that leaves classes empty is refused."""
    train = arrays["train_labels"]
    top = int(max(train.max(), arrays["test_labels"].max() if "test_labels" in arrays else 0))
    if top + 1 > MAX_CLASSES:
        raise SynbiolabError(f"{paths['train_labels']}: label {top} would make {top + 1:,} classes, more than "
                             f"the {MAX_CLASSES:,} a classifier takes")
    present = np.bincount(train, minlength=top + 1)
    empty = np.flatnonzero(present == 0)
    if len(empty):
        where = "train_labels" if train.max() == top else "test_labels"
        at = int(np.flatnonzero(arrays[where] == top)[0])
        raise SynbiolabError(
            f"{paths[where]}: label {top} of example {at + 1} leaves class(es) {_ranges(empty)} without a training "
            f"example; labels must run 0..K-1 (or a classes.txt beside the files names the K classes)"
        )
    return [str(i) for i in range(top + 1)]


def _ranges(values: np.ndarray) -> str:
    values = [int(v) for v in values]
    parts, start = [], values[0]
    for prev, cur in zip(values, values[1:] + [None], strict=True):
        if cur != prev + 1:
            parts.append(str(start) if start == prev else f"{start}..{prev}")
            start = cur
    return ", ".join(parts[:5]) + (" ..." if len(parts) > 5 else "")


def load_idx_folder(cfg: DataConfig, folder: Path) -> Dataset:
    """A folder of IDX files in the MNIST layout as a classification data set.

    The test split is ``t10k-*`` when both of its files are there, else a stratified share of the training
    files (``data.test_size``, default 0.2). Images are normalised with their own mean and spread, and a
    user's picture is converted to the share of the frame the objects span in these images.
    """
    found = {}
    for key, (name, _) in MNIST_FILES.items():
        for candidate in (folder / name, folder / name.removesuffix(".gz")):
            if candidate.is_file():
                found[key] = candidate
                break
    for part in ("train", "test"):
        have = [k for k in (f"{part}_images", f"{part}_labels") if k in found]
        if len(have) == 1:
            other = f"{part}_labels" if have[0].endswith("images") else f"{part}_images"
            missing = MNIST_FILES[other][0].removesuffix(".gz")
            raise SynbiolabError(f"{folder}: has {found[have[0]].name} but no {missing}[.gz] beside it")
    if "train_images" not in found:
        raise SynbiolabError(f"{folder}: no train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] in it")
    arrays = load_idx_arrays(found)
    names_file = folder / "classes.txt"
    if names_file.is_file():
        names = read_class_names(names_file)
        for part in ("train", "test"):
            if f"{part}_labels" in arrays:
                check_labels(arrays[f"{part}_labels"], len(names), found[f"{part}_labels"],
                             f"{names_file.name} names {len(names)} classes")
    else:
        names = _labels_without_names(arrays, found)
    x_pool, y_pool = arrays["train_images"], arrays["train_labels"].astype(np.int64)
    if "test_images" in arrays:
        x_test, y_test = arrays["test_images"], arrays["test_labels"].astype(np.int64)
        test_note = f"the t10k files ({found['test_images'].name}, {found['test_labels'].name})"
    else:
        test_size = cfg.test_size if cfg.test_size is not None else 0.2
        pool_idx, test_idx = stratified_split(y_pool, test_size, seed=cfg.seed, what="test_size")
        x_test, y_test = x_pool[test_idx], y_pool[test_idx]
        x_pool, y_pool = x_pool[pool_idx], y_pool[pool_idx]
        test_note = f"no t10k files: a stratified {len(test_idx):,} of the training images held out as the test split"
    mean, std = pixel_stats(arrays["train_images"])
    fill = round(estimate_fill(arrays["train_images"]), 4)
    x_pool, y_pool, names_sel, task = select_classes(x_pool, y_pool, cfg.classes, names, str(folder))
    x_test, y_test, _, _ = select_classes(x_test, y_test, cfg.classes, names, str(folder))
    task = "binary" if len(names_sel) == 2 else task  # two classes: one sigmoid output
    info = {
        "source": f"{folder}: IDX files, {len(arrays['train_images']):,} training images of "
        f"{'x'.join(map(str, arrays['train_images'].shape[1:]))} pixels",
        "classes": f"from {names_file.name}" if names_file.is_file() else "labels 0..K-1 (no classes.txt)",
        "test": test_note,
    }
    return _image_dataset(folder.name or str(folder), x_pool, y_pool, x_test, y_test, names_sel, task, cfg,
                          0.1, mean, std, info, fill)


# --- a folder of class sub-folders of pictures


def picture_classes(folder: Path) -> dict[str, list[Path]]:
    """``{class name: picture files}`` of a folder of class sub-folders (hidden files and folders skipped)."""
    classes = {}
    for sub in sorted((p for p in folder.iterdir() if p.is_dir() and _visible(p)), key=lambda p: _natural_key(p.name)):
        pictures = sorted(
            (p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES
             and all(_visible(part) for part in p.relative_to(sub).parents if part.name) and _visible(p)),
            key=lambda p: _natural_key(str(p.relative_to(sub))),
        )
        classes[sub.name] = pictures
    return classes


def load_picture_folder(cfg: DataConfig, folder: Path, classes: dict[str, list[Path]]) -> Dataset:
    """Class sub-folders of pictures as a classification data set of 28 x 28 MNIST-style images.

    Every picture goes through ``read_picture`` and ``to_mnist_style`` as ``synbiolab predict`` does it, and
    the data set keeps MNIST's normalisation, so a model trained here (or on MNIST) reads them alike.
    """
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise SynbiolabError(f"{folder / empty[0]}: class folder without pictures ({', '.join(PICTURE_SUFFIXES)})")
    if len(classes) < 2:
        raise SynbiolabError(f"{folder}: one class folder only ('{next(iter(classes))}'); a classifier needs at "
                             "least two")
    if len(classes) > MAX_CLASSES:
        raise SynbiolabError(f"{folder}: {len(classes):,} class folders, more than the {MAX_CLASSES:,} a classifier "
                             "takes")
    names = list(classes)
    images, labels, ids = [], [], []
    for label, files in enumerate(classes.values()):
        for path in files:
            images.append(to_mnist_style(read_picture(path), size=PICTURE_SIZE, fill=PICTURE_FILL))
            labels.append(label)
            ids.append(str(path.relative_to(folder)))
    x, y = np.stack(images), np.array(labels, np.int64)
    if cfg.classes:
        ids = [i for i, keep in zip(ids, np.isin(y, [int(c) for c in cfg.classes]), strict=True) if keep]
    x, y, names_sel, task = select_classes(x, y, cfg.classes, names, str(folder))
    task = "binary" if len(names_sel) == 2 else task  # two classes: one sigmoid output
    test_size = cfg.test_size if cfg.test_size is not None else 0.2
    pool_idx, test_idx = stratified_split(y, test_size, seed=cfg.seed, what="test_size")
    counts = ", ".join(f"{n} {len(f)}" for n, f in classes.items())
    info = {
        "source": f"{folder}: {len(y):,} pictures in {len(names)} class folders ({counts})",
        "conversion": f"each picture made {PICTURE_SIZE}x{PICTURE_SIZE}, light on dark, its object scaled to "
        f"{round(PICTURE_FILL * PICTURE_SIZE)} pixels and centred by its centre of mass (as synbiolab predict does)",
    }
    return _image_dataset(folder.name or str(folder), x[pool_idx], y[pool_idx], x[test_idx], y[test_idx], names_sel,
                          task, cfg, 0.15, MNIST_MEAN, MNIST_STD, info, PICTURE_FILL,
                          pool_ids=[ids[i] for i in pool_idx], test_ids=[ids[i] for i in test_idx])


def load_folder(cfg: DataConfig, folder: Path) -> Dataset:
    """A folder given as --data: IDX files in the MNIST layout, or class sub-folders of pictures."""
    if any((folder / n).is_file() or (folder / n.removesuffix(".gz")).is_file() for n, _ in MNIST_FILES.values()):
        return load_idx_folder(cfg, folder)
    classes = picture_classes(folder)
    if any(classes.values()):
        return load_picture_folder(cfg, folder, classes)
    raise SynbiolabError(
        f"{folder}: a folder holding neither IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz]) "
        "nor class sub-folders of pictures (e.g. 3/*.png)"
    )


# --- the dispatcher registered as "file"

DATA_SUFFIXES = (*TABLE_SUFFIXES, *EXCEL_SUFFIXES, ".xls")


def load_user_data(cfg: DataConfig) -> Dataset:
    """A --data that is not a registered name: a table, a FASTA file, FASTA files joined by commas, a folder."""
    from .synbio import load_fasta_per_class, load_sequence_file

    name = str(cfg.name)
    parts = [p.strip() for p in name.split(",")]
    if len(parts) > 1 and all(is_fasta(p) for p in parts if p):
        return load_fasta_per_class(cfg, [Path(p) for p in parts if p])
    path = Path(name).expanduser()
    if path.is_dir():
        return load_folder(cfg, path)
    if is_fasta(path) or base_suffix(path) in DATA_SUFFIXES:
        if not path.exists():
            raise SynbiolabError(f"{path}: no such file")
        return load_sequence_file(cfg)
    if path.is_file():
        raise SynbiolabError(
            f"{path}: unknown kind of file '{''.join(path.suffixes) or path.name}'; give a .csv/.tsv/.xlsx table or "
            "a .fa/.fasta file (optionally .gz), FASTA files joined by commas, or a folder"
        )
    raise unknown_name_error(name)


register_dataset("file", load_user_data, "a file or folder of the user's (tables, FASTA, IDX, pictures)")
