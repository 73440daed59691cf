"""The run folder: what is written where, atomically (see DESIGN.md, "The run folder").

```
runs/<name>/config.json  history.csv  metrics.json  model.safetensors  model.json  checkpoint/  report.html
```
Every file is written to a temporary name in the same folder and renamed into place, so a killed run
never leaves a half-written file that a later command trusts.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from datetime import datetime
from pathlib import Path

import torch

from .config import Config
from .errors import SynbiolabError
from .io import (  # noqa: F401 - re-exported: the run folder's writers
    FolderLock,
    WriteFailed,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
    check_writable,
    read_json,
    remove_stale_temporaries,
    write_error_reason,
)

HISTORY_COLUMNS = [
    "epoch", "step", "train_loss", "train_metric", "train_error",
    "val_loss", "val_metric", "val_error", "lr", "seconds",
]


# --- kinds of folder, the marker and the lock

# What wrote a folder; kind.json is written first, so `--overwrite` replaces only folders that hold it.
KINDS = ("train", "gan", "cv", "sweep", "compare", "tune", "design")
VERB_OF_KIND = {"train": "synbiolab train", "gan": "synbiolab gan", "cv": "synbiolab cv", "sweep": "synbiolab sweep",
                "compare": "synbiolab compare", "tune": "synbiolab tune", "design": "synbiolab design"}
# The entries a project folder may hold; --overwrite refuses a folder holding anything else.
PROJECT_ENTRIES = {
    ".lock", "kind.json", "config.json", "history.csv", "metrics.json", "predictions.csv", "model.safetensors",
    "model.json", "checkpoint", "report.html", "figures", "diagnosis.json", "fix.json", "samples.png",
    "samples.fasta", "samples_over_epochs.txt", "heldout.txt", "judge", "design", "designs.fasta", "design.json",
    "design.html", "compare.json", "table.csv", "table.html", "results.json", "cnn", "sweep.csv", "sweep.html",
    "runs", "cv.json", "folds.csv", "tune.json", "trials.csv", "best.yaml", "study.db",
}


def versions() -> dict:
    """The versions a folder records: Python, torch, numpy and synbiolab."""
    import platform

    import numpy

    try:
        from importlib.metadata import version

        package = version("synbiolab")
    except Exception:  # noqa: BLE001 - running from a source tree
        package = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "synbiolab": package}


def default_run_name(data: str, model: str) -> str:
    stem = Path(data).stem if os.sep in data or "." in data else data
    return f"{stem}-{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def folder_kind(path: str | Path) -> str | None:
    """What wrote the folder: kind.json's kind, or for folders written before the marker, what its files say."""
    path = Path(path)
    marker = path / "kind.json"
    if marker.is_file():
        try:
            kind = json.loads(marker.read_text()).get("kind")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            raise SynbiolabError(f"{marker}: damaged marker (not valid JSON); this folder's kind is unknown") from None
        return kind if kind in KINDS else None
    if (path / "sweep.csv").is_file():
        return "sweep"
    if (path / "cv.json").is_file():
        return "cv"
    if (path / "design.json").is_file() and not (path / "config.json").is_file():
        return "design"
    if (path / "config.json").is_file():
        try:
            raw = json.loads((path / "config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not isinstance(raw, dict):
            return None
        if "compare" in raw:
            return "compare"
        if "gan" in raw:
            return "gan"
        if "model" in raw or "train" in raw or "data" in raw:
            return "train"
    return None


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise SynbiolabError(f"{path}: is a symbolic link; synbiolab writes only into real folders "
                             "(give the folder it points to, or another --out)")


def check_new_folder(out: str | Path, overwrite: bool = False) -> None:
    """The checks of ``start_folder`` without its side effects, so that a job refuses a bad --out before it loads
    any data: a link, a file, a folder that exists without `overwrite`, or one that `overwrite` may not replace."""
    out = Path(out)
    _refuse_link(out)
    if out.exists() and not out.is_dir():
        raise SynbiolabError(f"{out}: exists and is not a folder; choose another --out")
    # a lock file and temporaries are what a writer killed at its first step leaves: such a folder counts as empty
    if out.is_dir() and any(p.name != ".lock" and not p.name.endswith(".tmp") for p in out.iterdir()):
        if not overwrite:
            raise SynbiolabError(f"{out}: folder already exists; choose another --out or pass --overwrite")
        if folder_kind(out) is None:
            raise SynbiolabError(f"{out}: --overwrite replaces only folders that synbiolab wrote (they hold "
                                 "kind.json), and this one does not; nothing was deleted")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in PROJECT_ENTRIES and not p.name.endswith(".tmp"))
        if foreign:
            raise SynbiolabError(f"{out}: --overwrite refused: '{foreign[0]}' was not written by synbiolab; "
                                 "move it out first; nothing was deleted")
        links = sorted(p.name for p in out.iterdir() if p.is_symlink())
        if links:
            raise SynbiolabError(f"{out}: --overwrite refused: '{links[0]}' is a symbolic link; nothing was deleted")
        # a read-only folder or a full disk is found out before anything is deleted, not half-way through
        check_writable(out)


def start_folder(out: str | Path, kind: str, overwrite: bool = False, lock: bool = True) -> tuple[Path, FolderLock]:
    """Create a project folder of `kind`, locked for this process, with kind.json written first.

    An existing non-empty folder is an error unless `overwrite`; `overwrite` replaces only a folder that
    synbiolab wrote (it holds kind.json) and that holds nothing but what synbiolab writes, never a link, never
    one that another process is writing.

    Returns:
        The folder and its lock (release it when the job ends; the kernel releases it if the process dies).
    """
    out = Path(out)
    check_new_folder(out, overwrite)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = write_error_reason(exc) or exc.strerror
        raise SynbiolabError(f"{out}: cannot create the folder: {reason}; nothing was written") from exc
    folder_lock = FolderLock(out)
    try:
        if lock:
            folder_lock.acquire()
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    try:
        for entry in out.iterdir():
            if entry.name == ".lock":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        atomic_write_json(out / "kind.json", {"kind": kind, "created": datetime.now().isoformat(timespec="seconds"),
                                               "versions": versions()})
    except BaseException:
        folder_lock.release()
        if created:  # a folder this call made and could not fill is removed, so nothing is left half-made
            shutil.rmtree(out, ignore_errors=True)
        raise
    return out, folder_lock


def reopen_folder(path: str | Path, kind: str) -> tuple[Path, FolderLock]:
    """Lock an existing folder of `kind` to continue writing it (resume), removing stale temporaries."""
    path = Path(path)
    _refuse_link(path)
    run = open_run(path, expect=(kind,))
    folder_lock = FolderLock(run.path).acquire()
    remove_stale_temporaries(run.path, locked=True)
    return run.path, folder_lock


def subfolder(folder: str | Path, name: str) -> Path:
    """`folder/name` as a real folder inside `folder` (created when missing); a link there is refused."""
    path = Path(folder) / name
    _refuse_link(path)
    if path.exists() and not path.is_dir():
        raise SynbiolabError(f"{path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if write_error_reason(exc) is None:
            raise
        raise WriteFailed(f"{path.parent}: cannot create {name}/: {write_error_reason(exc)}; nothing was "
                          "replaced") from exc
    return path


def prepare_run_dir(out: str | Path, overwrite: bool = False, kind: str = "train") -> Path:
    """Create a folder of `kind` without holding a lock (for writers that finish in one call)."""
    path, folder_lock = start_folder(out, kind, overwrite, lock=False)
    return path


# --- model weights: safetensors + model.json (never a pickle)


def save_model(run_dir: str | Path, model: torch.nn.Module, model_name: str, params: dict, dataset_info: dict):
    """Write model.safetensors and model.json; model.json holds every model parameter (the constructor's
    arguments, and ``members`` of a classifier or regressor), the defaults included, so the saved model still
    loads after a later version changes a default."""
    from safetensors.torch import save as st_save

    from .config import model_parameters

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(Path(run_dir) / "model.safetensors", st_save(state))
    full_params = {**model_parameters(model_name), **params}
    atomic_write_json(Path(run_dir) / "model.json", {"name": model_name, "params": full_params, **dataset_info})


MAX_INPUT_VALUES = 100_000_000  # values in one example that a model.json may ask for (a typo must not fill memory)


def check_model_spec(spec, spec_path: Path, keys: tuple[str, ...] = ()) -> dict:
    """model.json as the project writes it: the keys every model needs (and `keys`), of the right types, its
    parameters inside the ranges of ``--set``; a damaged or edited file is one line naming it.

    Returns:
        The spec, its parameters under today's names (``config.RENAMED_MODEL_KEYS``: a run saved by an older
        version names some differently) and of today's types (an int ``head_units`` of then is a list).
    """
    from .config import checked_value, current_model_key
    from .models.registry import MODELS, model_parameters

    def damaged(what: str) -> SynbiolabError:
        return SynbiolabError(f"{spec_path}: damaged model description ({what}); retrain the run or restore the file")

    if not isinstance(spec, dict):
        raise damaged("expected a mapping")
    missing = [k for k in ("name", "params", "input_shape", "n_outputs", *keys) if k not in spec]
    if missing:
        raise damaged(f"no '{missing[0]}'")
    if not isinstance(spec["name"], str) or spec["name"] not in MODELS:
        raise damaged(f"unknown model {spec['name']!r}; valid: {', '.join(MODELS)}")
    shape, n_outputs, params = spec["input_shape"], spec["n_outputs"], spec["params"]
    if not isinstance(shape, list) or not 1 <= len(shape) <= 3 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
        raise damaged(f"input_shape {shape!r} is not a list of 1 to 3 positive integers")
    if math.prod(shape) > MAX_INPUT_VALUES:
        raise damaged(f"input_shape {shape} holds more than {MAX_INPUT_VALUES:,} values")
    if not isinstance(n_outputs, int) or isinstance(n_outputs, bool) or not 1 <= n_outputs <= 1_000_000:
        raise damaged(f"n_outputs {n_outputs!r} is not a positive integer")
    n_classes = spec.get("n_classes", 0)
    if not isinstance(n_classes, int) or isinstance(n_classes, bool) or not 0 <= n_classes <= 1_000_000:
        raise damaged(f"n_classes {n_classes!r} is not a whole number >= 0")
    if not isinstance(params, dict):
        raise damaged("params is not a mapping")
    defaults = model_parameters(spec["name"])
    current = {}
    for key, value in params.items():
        key = key if key in defaults else current_model_key(spec["name"], key)
        if key not in defaults:
            raise damaged(f"model '{spec['name']}' has no parameter '{key}'")
        try:
            current[key] = checked_value(value, defaults[key], type(defaults[key]).__name__, f"model.{key}",
                                         source="", model=spec["name"])
        except SynbiolabError as exc:
            raise damaged(str(exc)) from None
    names = spec.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str | int) for n in names)):
        raise damaged("class_names is not a list of names")
    return {**spec, "params": current}


def model_sizes(spec: dict) -> dict:
    """The size arguments of ``build_model`` that a checked model.json gives: ``n_classes`` of a GAN saved with
    it, else ``n_outputs`` (a classifier's output width; for a GAN saved before n_classes, its older spelling)."""
    return {"n_classes": spec["n_classes"]} if "n_classes" in spec else {"n_outputs": spec["n_outputs"]}


def load_model_from(run_dir: str | Path, device: str = "cpu") -> torch.nn.Module:
    """Rebuild a run's model from model.json and load model.safetensors; a damaged file is one line naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import build_model

    run_dir = Path(run_dir)
    spec_path = run_dir / "model.json"
    weights = run_dir / "model.safetensors"
    if not spec_path.is_file() or not weights.is_file():
        raise SynbiolabError(f"{run_dir}: no saved model (model.json and model.safetensors); did training finish?")
    spec = check_model_spec(read_json(spec_path, "model description"), spec_path)
    try:
        model = build_model(spec["name"], input_shape=spec["input_shape"], **model_sizes(spec), **spec["params"])
    except SynbiolabError as exc:
        raise SynbiolabError(f"{spec_path}: {exc}") from exc
    except (TypeError, ValueError, RuntimeError) as exc:
        raise SynbiolabError(f"{spec_path}: damaged model description ({str(exc).splitlines()[0]})") from exc
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SynbiolabError(f"{weights}: damaged weights file (not a readable safetensors file); retrain the "
                             "run or restore the file") from exc
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise SynbiolabError(f"{weights}: the weights are not those of the model in model.json "
                             f"('{spec['name']}'; another architecture or size)") from exc
    bad = next((k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
    if bad is not None:  # NaN weights would give NaN predictions that read as numbers
        raise SynbiolabError(f"{weights}: damaged weights file ('{bad}' holds NaN or infinite values); retrain the run")
    return model.to(device).eval()


# --- reading a run


class Run:
    """A folder on disk written by synbiolab: its kind, config, history, metrics and model.

    Args:
        path: the folder.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise SynbiolabError(f"{self.path}: no such run folder")
        self.kind = folder_kind(self.path)
        if self.kind is None:
            raise SynbiolabError(f"{self.path}: not a run folder (no kind.json or config.json: synbiolab did not "
                                 "write it)")
        config_path = self.path / "config.json"
        self.raw_config = read_json(config_path, "run configuration") if config_path.is_file() else {}
        if not isinstance(self.raw_config, dict):
            raise SynbiolabError(f"{config_path}: damaged run configuration (expected a mapping)")

    @property
    def config(self) -> Config:
        if self.kind not in ("train", "gan"):
            raise SynbiolabError(f"{self.path}: a {self.kind} folder has no training configuration")
        sections = ("data", "model", "train", "gan") if self.kind == "gan" else ("data", "model", "train")
        return Config.from_dict({k: self.raw_config[k] for k in sections if k in self.raw_config},
                                source=str(self.path / "config.json"))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def history(self):
        import pandas as pd

        p = self.path / "history.csv"
        if not p.is_file():
            raise SynbiolabError(f"{self.path}: run has no history.csv (training never finished an epoch)")
        try:
            return pd.read_csv(p)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise SynbiolabError(f"{p}: damaged history (not a readable CSV)") from exc

    @property
    def metrics(self) -> dict:
        p = self.path / "metrics.json"
        if not p.is_file():
            raise SynbiolabError(f"{self.path}: run has no metrics.json (training did not finish)")
        metrics = read_json(p, "metrics file")
        if not isinstance(metrics, dict):
            raise SynbiolabError(f"{p}: damaged metrics file (expected a mapping)")
        return metrics

    @property
    def model_spec(self) -> dict:
        p = self.path / "model.json"
        if not p.is_file():
            raise SynbiolabError(f"{self.path}: run has no model.json (training did not finish)")
        return check_model_spec(read_json(p, "model description"), p)

    def load_model(self, device: str = "cpu") -> torch.nn.Module:
        return load_model_from(self.path, device)

    def load_dataset(self, **overrides):
        from .data import load_dataset

        return load_dataset(self.config.data, **overrides)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def open_run(path: str | Path, expect: tuple[str, ...] | str | None = None, verb: str | None = None) -> Run:
    """Open a folder synbiolab wrote, checking that it is of a kind the caller takes.

    Args:
        path: the folder.
        expect: the kinds accepted (None: any).
        verb: the command asking, for the message (e.g. ``"evaluate"``).

    Raises:
        SynbiolabError: one line when the folder is missing, damaged or of another kind.
    """
    run = Run(path)
    expect = (expect,) if isinstance(expect, str) else expect
    if expect and run.kind not in expect:
        wanted = " or ".join(f"a {k} folder ({VERB_OF_KIND[k]})" for k in expect)
        who = f"{verb} takes" if verb else "expected"
        raise SynbiolabError(f"{run.path}: is a {run.kind} folder (written by {VERB_OF_KIND[run.kind]}); "
                             f"{who} {wanted}")
    return run


def load_run(path: str | Path) -> Run:
    """Open a run folder written by ``train`` or ``gan``."""
    return open_run(path, expect=("train", "gan"))
