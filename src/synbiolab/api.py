"""Python API behind the CLI verbs that work on saved runs: evaluate, predict, quickstart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import SynbiolabError
from .evaluate import evaluate, predict, probabilities
from .runs import load_run


def evaluate_run(run_path: str | Path, split: str = "test") -> dict:
    """Re-evaluate a run's saved model on one split ('test', 'val' or 'train') of its data set."""
    if split not in ("test", "val", "train"):
        raise SynbiolabError(f"split={split!r} is unknown; valid: test, val, train")
    run = load_run(run_path)
    if run.model_spec.get("kind") == "gan":
        raise SynbiolabError(f"{run_path}: a GAN run has no classifier to evaluate; its quality numbers are in "
                             "metrics.json and its report (synbiolab sample draws from it)")
    ds = run.load_dataset()
    return evaluate(run.load_model(), getattr(ds, split), ds.task)


def load_picture(path: str | Path):
    """Open a picture for ``predict``: a PIL image, refused in one line when it is a folder, not a picture, or
    over the documented size limit (``synbiolab.data.images.MAX_PICTURE_PIXELS``, 50 megapixels)."""
    from .data.images import read_picture

    return read_picture(path)


def picture_files(paths) -> list[Path]:
    """The picture files named on a command line: a folder stands for the pictures directly inside it."""
    from .data.images import PICTURE_SUFFIXES

    files = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PICTURE_SUFFIXES)
            if not inside:
                raise SynbiolabError(f"{path}: is a folder without pictures ({', '.join(PICTURE_SUFFIXES)}); give "
                                     "picture files or a folder that holds them")
            files += inside
        else:
            files.append(path)
    return files


def predict_images(run_path: str | Path, paths) -> list[tuple[str, dict[str, float]]]:
    """Class probabilities for picture files (a folder: every picture in it), each turned into an MNIST-style
    image of the run's size.

    Returns:
        A list of (path, {class name: probability}).
    """
    from .data.images import to_mnist_style

    run = load_run(run_path)
    spec = run.model_spec
    if spec.get("kind") != "image" or spec.get("task") not in ("binary", "multiclass"):
        what = "a GAN" if spec.get("kind") == "gan" else f"{spec.get('kind')} {spec.get('task')}"
        raise SynbiolabError(f"{run_path}: predict takes a run of an image classifier; this run is {what}")
    spec_path = run.path / "model.json"
    if len(spec["input_shape"]) != 3 or not isinstance(spec.get("class_names"), list):
        raise SynbiolabError(f"{spec_path}: damaged model description (an image classifier needs a 3-value "
                             "input_shape and class_names); retrain the run")
    _, height, _ = spec["input_shape"]
    norm = spec.get("normalisation") or {"mean": 0.0, "std": 1.0, "scale": 255.0}
    if not isinstance(norm, dict) or not all(isinstance(norm.get(k), int | float) for k in ("mean", "std")) or \
            not norm["std"] > 0:
        raise SynbiolabError(f"{spec_path}: damaged model description (normalisation needs a mean and a std > 0)")
    model = run.load_model()  # a damaged model is reported before any picture is read
    files = picture_files(paths)
    batch = []
    for p in files:
        arr = to_mnist_style(load_picture(p), size=height, fill=norm.get("fill", 20 / 28)).astype(np.float32) / 255.0
        batch.append((arr - norm["mean"]) / norm["std"])
    x = torch.from_numpy(np.stack(batch).astype(np.float32)).unsqueeze(1)
    probs = probabilities(spec["task"], predict(model, x))
    names = [str(n) for n in spec["class_names"]]
    if len(names) != probs.shape[1]:
        raise SynbiolabError(f"{spec_path}: damaged model description ({len(names)} class names for a model of "
                             f"{probs.shape[1]} classes)")
    return [(str(p), {names[j]: float(probs[i, j]) for j in range(len(names))}) for i, p in enumerate(files)]


def quickstart(data_dir: str | None = None, out: str | Path = "runs", verbose: bool = True) -> list[dict]:
    """Train an MLP and a CNN on MNIST (the 8x8 digits when MNIST is unavailable) and print a table.

    The epochs are shortened so that the whole thing takes a few minutes on a laptop CPU; ``synbiolab
    train --model cnn`` runs the full recipe.
    """
    from datetime import datetime

    from rich.console import Console
    from rich.table import Table

    from .data import load_dataset
    from .train import default_config, train

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # a log file gets the whole table, not an 80-column squeeze
    data = "mnist"
    try:
        dataset = load_dataset("mnist", data_dir=data_dir)
    except SynbiolabError:
        console.print("MNIST unavailable (not in --data-dir, $SYNBIOLAB_DATA or the cache, and no download "
                      "possible): using scikit-learn's bundled 8x8 digits instead")
        data, dataset = "digits", load_dataset("digits")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    quick_epochs = {"mlp": 5, "cnn": 2} if data == "mnist" else {"mlp": 30, "cnn": 30}
    rows = []
    for model_name in ("mlp", "cnn"):
        cfg = default_config(data, model_name)
        cfg.data.data_dir = data_dir
        cfg.train.epochs = quick_epochs[model_name]
        run = train(cfg, out=Path(out) / f"quickstart-{data}-{model_name}-{stamp}", verbose=verbose, dataset=dataset)
        m = run.metrics
        rows.append({"model": model_name, "parameters": m["n_parameters"], "test accuracy": m["test"]["accuracy"],
                     "test error": m["test"]["error"], "train error": m["train"]["error"],
                     "gap": m["test"]["error"] - m["train"]["error"], "seconds": m["train_seconds"],
                     "epochs": cfg.train.epochs, "report": str(run.path / "report.html")})
    table = Table(title=f"quickstart on {data}")
    for col in ("model", "parameters", "epochs", "test accuracy", "test error", "train error", "gap", "seconds"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["model"], f"{r['parameters']:,}", str(r["epochs"]), f"{r['test accuracy']:.4f}",
                      f"{r['test error']:.4f}", f"{r['train error']:.4f}", f"{r['gap']:+.4f}", f"{r['seconds']:.1f}")
    console.print(table)
    for r in rows:
        console.print(f"{r['model']} report: {r['report']}")
    return rows
