"""Shared set-up of the web tests: one runs folder of tiny real runs and hand-made folders, a live server.

The folder is built once per test process (both web test modules import it from here), so the suite
trains each tiny model once.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the web extra is not installed (pip install -e '.[web]')")

import synbiolab  # noqa: E402
from synbiolab.web.index import run_id  # noqa: E402

DATA = os.environ.get("SYNBIOLAB_DATA")
HAS_PROMOTERS = bool(DATA) and (Path(DATA) / "synbio" / "uci_promoters" / "promoters.data").is_file()
_BUILT: dict = {}


def _history(rows: list[dict]) -> str:
    columns = ["epoch", "step", "train_loss", "train_metric", "train_error", "val_loss", "val_metric", "val_error",
               "lr", "seconds"]
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def curve(epochs: int, start: float = 0.5, gap: float = 0.02) -> list[dict]:
    """A plausible learning curve: errors falling, validation a little above training."""
    rows = []
    for e in range(1, epochs + 1):
        train = start / e
        rows.append({"epoch": e, "step": 10 * e, "train_loss": 2 * train, "train_metric": 1 - train,
                     "train_error": train, "val_loss": 2 * train + gap, "val_metric": 1 - train - gap,
                     "val_error": train + gap, "lr": 0.001, "seconds": 0.1 * e})
    return rows


def fake_run(folder: Path, *, lr: float = 0.001, seed: int = 0, epochs: int = 3, test_accuracy: float = 0.9,
             finished: bool = True, extra: dict | None = None) -> Path:
    """A train run folder as `synbiolab train` writes it, without a model (for the table's tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kind.json").write_text(json.dumps({"kind": "train", "created": "2026-01-01T00:00:00"}))
    config = {"data": {"name": "digits", "seed": 0}, "model": {"name": "mlp", "params": {"hidden_units": [32]}},
              "train": {"lr": lr, "seed": seed, "epochs": epochs}, "meta": {"started": "2026-01-01T00:00:00"}}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "history.csv").write_text(_history(curve(epochs)))
    if finished:
        metrics = {"status": "finished", "task": "multiclass", "metric_name": "accuracy", "best_epoch": epochs,
                   "test": {"accuracy": test_accuracy, "error": 1 - test_accuracy}, "val": {"error": 0.1},
                   "train_seconds": 1.5, "n_parameters": 1234, **(extra or {})}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def _promoter_config():
    if HAS_PROMOTERS:
        cfg = synbiolab.default_config("uci_promoters", "cnn1d")
    else:  # no data folder: a CSV of the same shape that the test writes (TATAAT makes a promoter)
        import random

        rng = random.Random(0)
        path = Path(tempfile.mkdtemp(prefix="synbiolab-web-csv-")) / "promoters.csv"
        lines = ["seq,label"]
        for i in range(160):
            letters = [rng.choice("ACGT") for _ in range(57)]
            if i % 2:
                letters[36:42] = "TATAAT"
            lines.append(f"{''.join(letters)},{i % 2}")
        path.write_text("\n".join(lines) + "\n")
        cfg = synbiolab.default_config(str(path), "cnn1d")
        cfg.data.seq_col, cfg.data.target = "seq", ["label"]
    cfg.train.epochs = 5
    return cfg


def _gan_config(data: str, model: str, params: dict, lr: float, train_size: int | None = None):
    """One epoch of a GAN's published recipe (Adam, batch 64), through the public Config."""
    cfg = synbiolab.Config()
    cfg.data.name, cfg.data.train_size = data, train_size
    cfg.model.name, cfg.model.params = model, params
    cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, cfg.train.weight_decay = 1, 64, lr, 0.0
    return cfg


def build_runs() -> dict:
    """Train the tiny runs and write the hand-made folders; once per process.

    Returns:
        {"root": Path, "ids": {name: id}, "outside": Path}
    """
    if _BUILT:
        return _BUILT
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    base = Path(tempfile.mkdtemp(prefix="synbiolab-web-"))
    atexit.register(shutil.rmtree, base, ignore_errors=True)
    root = base / "runs"
    root.mkdir()
    # --- real runs, each as small as still says something
    cfg = synbiolab.default_config("digits", "cnn")
    cfg.train.epochs = 6
    synbiolab.train(cfg, out=root / "digits-cnn", verbose=False)
    synbiolab.train(_promoter_config(), out=root / "promoters-cnn1d", verbose=False)
    synbiolab.train_gan(_gan_config("digits", "dcgan", {"conditional": True}, lr=2e-4, train_size=300),
                        synbiolab.GanConfig(judge_epochs=1, eval_samples=100, final_samples=200, tog_samples=0),
                        out=root / "digits-gan", verbose=False)
    if HAS_PROMOTERS:
        synbiolab.train_gan(_gan_config("uci_promoters", "wgan_seq", {}, lr=1e-4),
                            synbiolab.GanConfig(loss="wgan-gp", n_critic=2, beta2=0.9, eval_samples=50,
                                                final_samples=100),
                            out=root / "promoter-gan", verbose=False)
    # --- hand-made folders: seed groups, a broken one, a half-written one, a diverged one, a sweep
    fake_run(root / "seeds" / "mlp-seed0", seed=0, test_accuracy=0.90)
    fake_run(root / "seeds" / "mlp-seed1", seed=1, test_accuracy=0.94)
    fake_run(root / "seeds" / "mlp-lr01", lr=0.1, test_accuracy=0.70)
    broken = root / "broken"
    broken.mkdir()
    (broken / "kind.json").write_text('{"kind": "train"}')
    (broken / "config.json").write_text('{"data": {"name": "digits"')  # cut off mid-write
    half = fake_run(root / "half", epochs=4, finished=False)
    with open(half / "history.csv", "a") as fh:
        fh.write("5,50,0.1,0.9")  # a torn last line
    old = time.time() - 3600
    os.utime(half, (old, old))
    diverged = fake_run(root / "diverged", epochs=2, finished=False)
    (diverged / "metrics.json").write_text('{"status": "diverged", "message": "loss became NaN at step 17", '
                                           '"task": "multiclass", "train_loss": NaN}')
    with open(diverged / "history.csv", "a") as fh:
        fh.write("3,30,nan,nan,nan,nan,nan,nan,0.001,0.3\n")
    sweep = root / "sweep-lr"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "kind.json").write_text('{"kind": "sweep"}')
    (sweep / "sweep.csv").write_text("run,train.lr,seed,val_error,test_error\nruns/lr-0.01,0.01,0,0.1,0.12\n")
    fake_run(sweep / "runs" / "lr-0.01", lr=0.01)
    # predictions.csv as train runs write it: the page draws the confusion matrix and the scatter from it
    classified = fake_run(root / "with-predictions")
    (classified / "model.json").write_text(json.dumps({"name": "mlp", "params": {}, "input_shape": [1, 8, 8],
                                                        "n_outputs": 3, "task": "multiclass", "kind": "image",
                                                        "class_names": ["0", "1", "2"]}))
    (classified / "predictions.csv").write_text("id,target,prediction\n0,0,0\n1,1,1\n2,2,1\n3,1,1\n4,0,2\n")
    (classified / "diagnosis.json").write_text(json.dumps({
        "verdict": "overfitting", "summary": "overfitting: validation error rises after epoch 2",
        "evidence": {"gap": 0.08, "best_epoch": 2}, "notes": [],
        "fixes": [{"title": "weight decay", "overrides": ["train.weight_decay=5e-4"], "reason": "gap 0.08"}]}))
    regression = fake_run(root / "regression")
    (regression / "model.json").write_text(json.dumps({"name": "cnn1d", "params": {}, "input_shape": [4, 20],
                                                        "n_outputs": 1, "task": "regression", "kind": "sequence"}))
    (regression / "predictions.csv").write_text("id,target,prediction\na,1.0,1.1\nb,2.0,1.8\nc,3.0,3.2\nd,4.0,3.9\n")
    # a link that leads out of the runs folder, to a folder that looks like a run
    outside = base / "outside"
    fake_run(outside / "secret-run")
    (outside / "secret.txt").write_text("not for the page")
    os.symlink(outside, root / "escape")
    os.symlink(outside / "secret.txt", root / "digits-cnn" / "figures" / "leak.png")
    names = ["digits-cnn", "promoters-cnn1d", "digits-gan", "promoter-gan", "seeds/mlp-seed0", "seeds/mlp-seed1",
             "seeds/mlp-lr01", "broken", "half", "diverged", "sweep-lr", "sweep-lr/runs/lr-0.01",
             "with-predictions", "regression"]
    _BUILT.update({"root": root, "base": base, "outside": outside,
                   "ids": {name: run_id(name) for name in names}})
    return _BUILT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(root: Path, **kwargs):
    """uvicorn on 127.0.0.1 and a free port, in a thread; yields the base URL."""
    import uvicorn

    from synbiolab.web import create_app

    port = free_port()
    config = uvicorn.Config(create_app(root, **kwargs), host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
