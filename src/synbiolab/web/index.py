"""The run index: every folder synbiolab wrote under the runs folder, by an id that names no path.

The server scans the runs folder (again at most once a second) and gives each folder an id made of its
name and a hash of its place under the runs folder, so that ids survive a restart and can be bookmarked.
A request names an id, never a path. Links that lead out of the runs folder are not followed, and a
folder whose files are damaged or half written is listed as broken with the reason, never raised.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .models import SynbiolabError, current_model_setting, folder_kind, folder_writer

# Folders below a run that are never runs of their own (judge/ of a GAN is its classifier's helper).
_SKIP_DIRS = {"checkpoint", "figures", "judge", "__pycache__"}
# Kinds whose folders hold other folders worth listing (a sweep's runs/, a comparison's cnn/).
_CONTAINERS = {"sweep", "compare", "cv", "tune", "design", None}
_MAX_DEPTH = 4
# A folder holding one of these was written by synbiolab.
_MARKERS = {"kind.json", "config.json", "sweep.csv", "cv.json", "design.json"}
_MAX_FOLDERS = 20000

# The files of a run folder that may be served, by name; figures/ holds pictures and text.
SERVED_FILES = {
    "report.html", "sweep.html", "table.html", "design.html", "config.json", "metrics.json", "history.csv",
    "predictions.csv", "diagnosis.json", "kind.json", "model.json", "sweep.csv", "table.csv", "results.json",
    "cv.json", "folds.csv", "design.json", "designs.fasta", "samples.png", "samples.fasta", "heldout.txt",
}
FIGURE_SUFFIXES = {".png", ".svg", ".txt"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:48]
    return slug or "run"


def run_id(relative: str) -> str:
    """The id of the folder at `relative` (POSIX path under the runs folder): name and 8 hex digits."""
    digest = hashlib.sha1(relative.encode("utf-8")).hexdigest()[:8]
    return f"{_slug(relative.rsplit('/', 1)[-1])}-{digest}"


def finite(value):
    """JSON-safe: NaN and infinities become None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _number(text):
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() and "." not in str(text) and "e" not in str(text).lower() else value


def read_history(path: Path) -> dict:
    """history.csv as columns of numbers; a half-written last line is dropped.

    Returns:
        {"columns": [names], "rows": [[numbers or None]]}; empty when the file is missing.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"columns": [], "rows": []}
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return {"columns": [], "rows": []}
    rows = []
    for line in reader:
        if len(line) != len(header):
            break  # a torn line: a writer without atomic writes is mid-way
        rows.append([_number(v) for v in line])
    return {"columns": header, "rows": rows}


def read_json(path: Path):
    """A JSON file, or SynbiolabError naming it when it is damaged; None when it is missing."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SynbiolabError(f"{path.name} is damaged (not valid JSON)") from None
    except OSError as exc:
        raise SynbiolabError(f"{path.name} cannot be read ({exc.strerror})") from None


def read_table(path: Path, limit: int = 5000) -> dict:
    """A small CSV as {"columns", "rows"} (strings and numbers), at most `limit` rows."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"columns": [], "rows": []}
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    rows = []
    for line in reader:
        if len(rows) >= limit:
            break
        rows.append([(_number(v) if _number(v) is not None else v) for v in line])
    return {"columns": header, "rows": rows}


def flatten(config: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1}; the model's parameters read model.KEY like --set, under
    today's names (``config.RENAMED_MODEL_KEYS``)."""
    flat = {}
    for key, value in config.items():
        if prefix == "" and key == "meta":
            continue
        name = f"{prefix}{key}"
        if name == "model.params" and isinstance(value, dict):
            model = config.get("name") if isinstance(config.get("name"), str) else ""
            for k, v in value.items():
                k, v = current_model_setting(model, k, v)  # an older version's name is shown as today's
                flat[f"model.{k}"] = v
        elif isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


# Keys that do not change what a run learns, and the seeds: runs equal but for these form one group.
_NOT_A_SETTING = {"data.data_dir", "train.device", "train.seed", "data.seed"}


def group_key(config: dict) -> str:
    settings = {k: v for k, v in flatten(config).items() if k not in _NOT_A_SETTING}
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclass
class Entry:
    """One folder of the index."""

    id: str
    path: Path
    relative: str
    parent: str | None
    stamp: tuple = ()
    row: dict = field(default_factory=dict)


class RunIndex:
    """The folders under a runs folder, scanned at most every `ttl` seconds.

    Args:
        root: the runs folder.
        ttl: seconds a scan stays fresh; requests within it share one scan.
    """

    def __init__(self, root: str | Path, ttl: float = 1.0):
        self.root = Path(root).resolve()
        self.display_root = str(root)
        self.ttl = ttl
        self._entries: dict[str, Entry] = {}
        self._order: list[str] = []
        self._scanned = 0.0
        self._lock = threading.Lock()
        self.generation = 0  # changes whenever a row or the list of folders does

    # --- scanning

    def refresh(self, force: bool = False) -> None:
        with self._lock:
            if not force and time.monotonic() - self._scanned < self.ttl:
                return
            self._scan()
            self._scanned = time.monotonic()

    def _inside(self, path: Path) -> Path | None:
        """The real path of `path` when it lies inside the runs folder, else None (a link out of it)."""
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        return real if real == self.root or self.root in real.parents else None

    def _scan(self) -> None:
        entries: dict[str, Entry] = {}
        order: list[str] = []
        seen: set[Path] = set()
        changed = False
        stack = [(self.root, "", None, 0)]
        while stack and len(order) < _MAX_FOLDERS:
            folder, relative, parent, depth = stack.pop()
            try:
                children = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
            except OSError:
                continue
            for child in children:
                if child.name.startswith(".") or child.name in _SKIP_DIRS:
                    continue
                try:
                    if child.is_symlink():
                        # a link is followed only when it stays inside the runs folder
                        real = self._inside(Path(child.path))
                        if real is None or not real.is_dir():
                            continue
                    elif child.is_dir(follow_symlinks=False):
                        real = folder / child.name
                    else:
                        continue
                    names = set(os.listdir(real))
                except OSError:
                    continue
                if real in seen:
                    continue  # a folder already listed through a link
                seen.add(real)
                rel = f"{relative}/{child.name}" if relative else child.name
                is_run = bool(names & _MARKERS)
                child_parent = parent
                kind = None
                if is_run:
                    ident = run_id(rel)
                    old = self._entries.get(ident)
                    entry = Entry(ident, real, rel, parent)
                    if old is not None and old.path == real:
                        entry.stamp, entry.row = old.stamp, old.row
                    entries[ident] = entry
                    order.append(ident)
                    changed |= self._update(entry, names)
                    kind = entry.row.get("kind")
                    child_parent = ident
                if depth + 1 < _MAX_DEPTH and (not is_run or kind in _CONTAINERS):
                    stack.append((real, rel, child_parent, depth + 1))
        if changed or order != self._order:
            self.generation += 1
        self._entries, self._order = entries, order

    @staticmethod
    def _stamp(path: Path, names: set[str]) -> tuple:
        """What changes when a writer touches the folder: the folder's own time (every atomic write renames a
        file into it), the history's size and time (a writer that appends), the lock."""
        stamp = []
        for name in ("", "history.csv", ".lock"):
            if name and name not in names:
                stamp.append(None)
                continue
            try:
                st = os.stat(path / name) if name else os.stat(path)
                stamp.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamp.append(None)
        return tuple(stamp)

    def _update(self, entry: Entry, names: set[str] | None = None) -> bool:
        """Summarise the folder again when it changed (or is being written); True when it was."""
        if names is None:
            try:
                names = set(os.listdir(entry.path))
            except OSError:
                names = set()
        stamp = self._stamp(entry.path, names)
        running = entry.row.get("status") in ("running", "starting")
        if stamp == entry.stamp and entry.row and not running:
            return False
        entry.stamp = stamp
        try:
            row = summarise(entry)
        except SynbiolabError as exc:
            row = _broken_row(entry, str(exc))
        except Exception as exc:  # noqa: BLE001 - a folder we cannot read is shown broken, never a server error
            row = _broken_row(entry, f"cannot be read ({type(exc).__name__}: {exc})")
        fresh = row != entry.row
        entry.row = row
        return fresh

    # --- lookups

    def rows(self) -> list[dict]:
        self.refresh()
        return [self._entries[i].row for i in self._order]

    def encoded_rows(self, encode) -> bytes:
        """encode(rows) for the current rows, computed once per change (20 clients share one encoding)."""
        self.refresh()
        with self._lock:
            cached = getattr(self, "_encoded", None)
            if cached is None or cached[0] != self.generation:
                rows = [self._entries[i].row for i in self._order]
                self._encoded = (self.generation, encode(rows))
            return self._encoded[1]

    def get(self, ident: str) -> Entry | None:
        self.refresh()
        entry = self._entries.get(ident)
        if entry is not None:
            with self._lock:
                if self._update(entry):
                    self.generation += 1
        return entry

    def ids(self, kinds: tuple[str, ...] | None = None, where=None) -> list[str]:
        self.refresh()
        out = []
        for ident in self._order:
            row = self._entries[ident].row
            if (kinds is None or row.get("kind") in kinds) and (where is None or where(row)):
                out.append(ident)
        return out

    def children(self, ident: str) -> list[dict]:
        self.refresh()
        return [self._entries[i].row for i in self._order if self._entries[i].parent == ident]


def _broken_row(entry: Entry, problem: str) -> dict:
    return {"id": entry.id, "name": entry.path.name, "path": entry.relative, "parent": entry.parent,
            "kind": None, "status": "broken", "problem": problem}


def _when(entry: Entry, config: dict, marker: dict | None) -> str | None:
    meta = config.get("meta", {}) if isinstance(config, dict) else {}
    when = (meta or {}).get("started") or (marker or {}).get("created")
    if when:
        return str(when)
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(entry.path.stat().st_mtime))
    except OSError:
        return None


def run_status(path: Path, metrics: dict | None, has_history: bool) -> str:
    """finished, diverged, running (a process holds the folder's lock), interrupted or starting."""
    if isinstance(metrics, dict) and metrics.get("status"):
        return str(metrics["status"])
    if folder_writer(path):
        return "running"
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        age = 0
    # A folder written moments ago by a writer without a lock is taken as still starting.
    if age < 30:
        return "running" if has_history else "starting"
    return "interrupted"


def summarise(entry: Entry) -> dict:
    """The table row of one folder: kind, status, data, model, verdict, errors, test metric, size, time."""
    path = entry.path
    kind = folder_kind(path)
    marker = read_json(path / "kind.json") if (path / "kind.json").is_file() else None
    config = read_json(path / "config.json") or {}
    if not isinstance(config, dict):
        raise SynbiolabError("config.json is damaged (not a mapping)")
    row = {"id": entry.id, "name": path.name, "path": entry.relative, "parent": entry.parent, "kind": kind,
           "when": _when(entry, config, marker)}
    if kind in ("train", "gan"):
        row.update(_summarise_training(path, kind, config))
    elif kind == "sweep":
        table = read_table(path / "sweep.csv", limit=100000)
        row.update({"status": "finished" if table["rows"] else "running", "points": len(table["rows"])})
        cfg = config if config else {}
        row.update({"data": (cfg.get("data") or {}).get("name"), "model": (cfg.get("model") or {}).get("name")})
    elif kind == "cv":
        cv = read_json(path / "cv.json") or {}
        row.update({"status": "finished" if cv else "running", "data": cv.get("data"), "model": cv.get("model"),
                    "task": cv.get("task"), "folds": cv.get("folds")})
    elif kind == "compare":
        # compare.json since the folder marker; config.json {"compare": ...} in older folders
        settings = read_json(path / "compare.json") or (config.get("compare") if isinstance(config.get("compare"),
                                                                                           dict) else {})
        settings = settings if isinstance(settings, dict) else {}
        done = (path / "results.json").is_file()
        row.update({"status": "finished" if done else "running", "data": settings.get("data"), "model": "pipelines"})
    else:
        row.update({"status": "finished" if (path / "report.html").is_file() else "unknown"})
    return finite(row)


def _summarise_training(path: Path, kind: str, config: dict) -> dict:
    metrics = read_json(path / "metrics.json")
    if metrics is not None and not isinstance(metrics, dict):
        raise SynbiolabError("metrics.json is damaged (not a mapping)")
    history = read_history(path / "history.csv")
    status = run_status(path, metrics, bool(history["rows"]))
    data = (config.get("data") or {}).get("name")
    if isinstance(data, str) and ("/" in data or "\\" in data):
        data = data.replace("\\", "/").rsplit("/", 1)[-1]
    model = (config.get("model") or {}).get("name")
    row = {"status": status, "data": data, "model": model, "epochs": len(history["rows"]),
           "seed": (config.get("train") or {}).get("seed"), "group": group_key(config) if kind == "train" else None}
    columns = history["columns"]
    if "val_error" in columns and history["rows"]:
        j = columns.index("val_error")
        values = [r[j] for r in history["rows"] if r[j] is not None]
        if values:
            row["best_val_error"], row["last_val_error"] = min(values), values[-1]
    m = metrics or {}
    row["task"] = m.get("task")
    if status == "diverged":
        row["problem"] = m.get("message")
    if kind == "train":
        test = m.get("test") or {}
        name = m.get("metric_name") or ("pearson_r" if m.get("task") == "regression" else "accuracy")
        row.update({"test_metric_name": name, "test_metric": test.get(name), "test_error": test.get("error"),
                    "n_parameters": m.get("n_parameters"), "seconds": m.get("train_seconds"),
                    "best_epoch": m.get("best_epoch")})
        if isinstance(m.get("val"), dict) and m["val"].get("error") is not None:
            row["best_val_error"] = m["val"]["error"]  # the kept (best-epoch) weights on the validation split
    else:
        final = m.get("final") or {}
        image = m.get("data_kind") == "image"
        name = "frechet" if image else "kmer_r"
        params = m.get("n_parameters") or {}
        row.update({"task": "generative", "test_metric_name": name, "test_metric": final.get(name),
                    "n_parameters": sum(v for v in params.values() if isinstance(v, int)) if isinstance(params, dict)
                    else params,
                    "seconds": m.get("train_seconds"), "data_kind": m.get("data_kind")})
    spec_path = path / "model.json"
    if spec_path.is_file():
        spec = read_json(spec_path) or {}
        row["data_kind"] = spec.get("data_kind") if kind == "gan" else spec.get("kind")
        row["conditional"] = bool(spec.get("conditional")) if kind == "gan" else None
        row["task"] = row.get("task") or spec.get("task")
        row["has_model"] = (path / "model.safetensors").is_file()
    else:
        row["has_model"] = False
    diagnosis_path = path / "diagnosis.json"
    if diagnosis_path.is_file():
        try:
            diagnosis = read_json(diagnosis_path) or {}
            row["verdict"] = diagnosis.get("verdict")
        except SynbiolabError:
            row["verdict"] = None
    return row


def is_safe_name(name: str) -> bool:
    """Whether a requested file name is one a run folder is known to hold (no path of the caller's)."""
    if "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    parts = name.split("/")
    if len(parts) == 1:
        return parts[0] in SERVED_FILES
    if len(parts) == 2 and parts[0] == "figures":
        return bool(_SAFE_NAME.match(parts[1])) and ".." not in parts[1] and Path(parts[1]).suffix in FIGURE_SUFFIXES
    return False
