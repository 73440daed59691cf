"""The run folder: what is written where, atomically (see DESIGN.md, "The run folder").

```
runs/<name>/config.json  history.csv  metrics.json  model.safetensors  model.json  checkpoint/  report.html
```
Every file is written to a temporary name in the same folder and renamed into place, so a killed run
never leaves a half-written file that a later command trusts.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from .config import Config
from .errors import SynbiolabError

HISTORY_COLUMNS = [
    "epoch", "step", "train_loss", "train_metric", "train_error",
    "val_loss", "val_metric", "val_error", "lr", "seconds",
]


# --- atomic writes


def _file_mode() -> int:
    """The mode an ordinary new file gets (0o666 less the umask); temporary files start at 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


def atomic_write_csv(path: str | Path, rows: list[dict], columns: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    atomic_write_text(path, buf.getvalue())


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


# --- folders


def default_run_name(data: str, model: str) -> str:
    stem = Path(data).stem if os.sep in data or "." in data else data
    return f"{stem}-{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def prepare_run_dir(out: str | Path, overwrite: bool = False) -> Path:
    """Create the run folder; an existing non-empty folder is an error unless `overwrite`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynbiolabError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise SynbiolabError(f"{out}: run folder already exists; choose another --out or pass --overwrite")
        if not (out / "config.json").is_file():
            raise SynbiolabError(f"{out}: --overwrite only replaces run folders, and this one holds no config.json")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


# --- model weights: safetensors + model.json (never a pickle)


def save_model(run_dir: str | Path, model: torch.nn.Module, model_name: str, params: dict, dataset_info: dict):
    """Write model.safetensors and model.json; model.json holds every constructor argument, the defaults
    included, so the saved model still loads after a later version changes a default."""
    from safetensors.torch import save as st_save

    from .config import model_parameters

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(Path(run_dir) / "model.safetensors", st_save(state))
    full_params = {**model_parameters(model_name), **params}
    atomic_write_json(Path(run_dir) / "model.json", {"name": model_name, "params": full_params, **dataset_info})


def load_model_from(run_dir: str | Path, device: str = "cpu") -> torch.nn.Module:
    from safetensors.torch import load_file

    from .models import build_model

    run_dir = Path(run_dir)
    spec_path = run_dir / "model.json"
    weights = run_dir / "model.safetensors"
    if not spec_path.is_file() or not weights.is_file():
        raise SynbiolabError(f"{run_dir}: no saved model (model.json and model.safetensors); did training finish?")
    spec = json.loads(spec_path.read_text())
    model = build_model(spec["name"], input_shape=spec["input_shape"], n_outputs=spec["n_outputs"], **spec["params"])
    model.load_state_dict(load_file(str(weights), device="cpu"))
    return model.to(device).eval()


# --- reading a run


class Run:
    """A run folder on disk: its config, history, metrics and model.

    Args:
        path: the run folder.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise SynbiolabError(f"{self.path}: no such run folder")
        if not (self.path / "config.json").is_file():
            raise SynbiolabError(f"{self.path}: not a run folder (no config.json)")
        try:
            self.raw_config = json.loads((self.path / "config.json").read_text())
        except json.JSONDecodeError as exc:
            raise SynbiolabError(f"{self.path / 'config.json'}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc

    @property
    def config(self) -> Config:
        return Config.from_dict({k: self.raw_config[k] for k in ("data", "model", "train") if k in self.raw_config},
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
        return pd.read_csv(p)

    @property
    def metrics(self) -> dict:
        p = self.path / "metrics.json"
        if not p.is_file():
            raise SynbiolabError(f"{self.path}: run has no metrics.json (training did not finish)")
        return json.loads(p.read_text())

    @property
    def model_spec(self) -> dict:
        p = self.path / "model.json"
        if not p.is_file():
            raise SynbiolabError(f"{self.path}: run has no model.json (training did not finish)")
        return json.loads(p.read_text())

    def load_model(self, device: str = "cpu") -> torch.nn.Module:
        return load_model_from(self.path, device)

    def load_dataset(self, **overrides):
        from .data import load_dataset

        return load_dataset(self.config.data, **overrides)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def load_run(path: str | Path) -> Run:
    """Open a run folder written by ``train``."""
    return Run(path)
