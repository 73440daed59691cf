"""Training: the one visible loop, and the whole job around it (data -> model -> fit -> run folder).

Read ``fit`` from top to bottom: the four steps every deep-learning course teaches (sample a batch,
forward propagate, backpropagate, update) sit in one ``for`` loop; evaluation, early stopping,
checkpoints, schedules, mixed precision, gradient clipping and DDP are placed around those lines.
"""

from __future__ import annotations

import copy
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .augment import make_augmenter
from .config import Config, TrainConfig
from .data import InMemoryBatches, load_dataset
from .errors import SynbiolabError, TrainingDiverged
from .evaluate import evaluate, loss_for_task
from .models import MODELS, build_model, count_parameters
from .runs import (
    HISTORY_COLUMNS,
    Run,
    atomic_torch_save,
    atomic_write_csv,
    atomic_write_json,
    default_run_name,
    open_run,
    reopen_folder,
    save_model,
    start_folder,
    subfolder,
    versions,
)

console = Console(highlight=False, soft_wrap=True)

# --- devices and distributed processes


def select_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SynbiolabError("train.device=cuda but no CUDA device is available; use auto or cpu")
    if name not in ("cpu", "cuda", "mps"):
        raise SynbiolabError(f"train.device={name!r} is unknown; valid: auto, cpu, cuda, mps")
    return torch.device(name, local_rank) if name == "cuda" else torch.device(name)


@dataclass
class Distributed:
    """This process's place under ``torchrun`` (rank 0 of 1 when run directly)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Distributed:
        return cls(
            int(os.environ.get("RANK", 0)),
            int(os.environ.get("WORLD_SIZE", 1)),
            int(os.environ.get("LOCAL_RANK", 0)),
        )

    def init(self, device_name: str) -> None:
        import torch.distributed as dist

        if self.enabled and not dist.is_initialized():
            use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
            if use_cuda:
                torch.cuda.set_device(self.local_rank)
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")

    def broadcast(self, obj):
        """Rank 0's value of `obj` on every rank."""
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


# --- optimiser and schedule


def make_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise SynbiolabError(f"train.optimizer={cfg.optimizer!r} is unknown; valid: sgd, adam, adamw")


def make_schedule(cfg: TrainConfig, optimizer, total_steps: int):
    """A per-step learning-rate schedule, or None for a constant rate."""
    if cfg.schedule == "none":
        return None
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=max(total_steps, 2), pct_start=0.25,
            cycle_momentum=cfg.optimizer == "sgd",
        )
    raise SynbiolabError(f"train.schedule={cfg.schedule!r} is unknown; valid: none, cosine, onecycle")


# --- the loop


@dataclass
class FitResult:
    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    steps: int = 0


class _StopRequest:
    """Turns Ctrl-C into a flag checked between steps, so the checkpoint is taken at a clean boundary."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave Ctrl-C as it is
            self._previous = None
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def fit(
    model: torch.nn.Module,
    dataset,
    config: TrainConfig | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    verbose: bool = True,
) -> FitResult:
    """Train `model` on `dataset.train`, evaluating train and validation error after every epoch.

    Args:
        model: an nn.Module returning logits (its output layer follows ``dataset.task``).
        dataset: a Dataset; its test split is not touched here.
        config: the TrainConfig (defaults when None).
        run_dir: where history.csv and checkpoint/ go (None: nothing is written).
        resume: continue from ``run_dir/checkpoint``.
        verbose: print the progress bar and one line per epoch.

    Returns:
        A FitResult whose model holds the weights of the epoch with the lowest validation loss.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (the last good checkpoint is kept).
        KeyboardInterrupt: after Ctrl-C, once a checkpoint of the current step is saved.
    """
    cfg = config or TrainConfig()
    if len(dataset.val) == 0:
        raise SynbiolabError("the validation split is empty; set data.val_size")
    dist = Distributed.from_env()
    dist.init(cfg.device)
    device = select_device(cfg.device, dist.local_rank)
    run_dir = Path(run_dir) if run_dir is not None and dist.is_main else None
    verbose = verbose and dist.is_main
    model.to(device)
    train_x = dataset.train.x.to(device)
    if train_x.ndim == 4:
        # Images in channels-last layout let the convolution kernels skip a reorder on every call
        # (about 1.5x faster on CPUs); the model's weights follow the same layout.
        model.to(memory_format=torch.channels_last)
        train_x = train_x.contiguous(memory_format=torch.channels_last)

    per_rank_batch = max(cfg.batch_size // dist.world_size, 1)
    batches = InMemoryBatches(
        train_x, dataset.train.y.to(device), per_rank_batch,
        seed=cfg.seed, rank=dist.rank, world_size=dist.world_size,
    )
    steps_per_epoch = batches.steps_per_epoch
    n_steps = cfg.epochs * steps_per_epoch
    loss_fn = loss_for_task(dataset.task, cfg.label_smoothing if dataset.task == "multiclass" else 0.0)
    optimizer = make_optimizer(cfg, model)
    schedule = make_schedule(cfg, optimizer, n_steps)
    augment = make_augmenter(cfg.augment, dataset.kind, cfg.seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.amp)
    # Training error is measured on a fixed subsample, without augmentation, like the validation error.
    n_eval = min(cfg.train_eval_size, len(dataset.train))
    train_eval = dataset.train.subset(np.sort(np.random.default_rng(cfg.seed).permutation(len(dataset.train))[:n_eval]))

    history: list[dict] = []
    best = {"val_loss": math.inf, "epoch": 0, "state": None}
    bad_epochs, start_step, seconds = 0, 0, 0.0
    checkpoint_path = subfolder(run_dir, "checkpoint") / "state.pt" if run_dir else None
    if resume:
        if checkpoint_path is None or not checkpoint_path.is_file():
            raise SynbiolabError(f"{run_dir}: no checkpoint to resume from (checkpoint/state.pt)")
        ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if schedule is not None:
            schedule.load_state_dict(ckpt["schedule"])
        batches.load_state_dict(ckpt["batches"])
        if augment is not None:
            augment.generator.set_state(ckpt["augment"])
        _set_rng_state(ckpt["rng"], device)
        history, bad_epochs, start_step, seconds = ckpt["history"], ckpt["bad_epochs"], ckpt["step"], ckpt["seconds"]
        best = {"val_loss": ckpt["best_val_loss"], "epoch": ckpt["best_epoch"], "state": ckpt["best_model"]}

    def save_checkpoint(step: int) -> None:
        if checkpoint_path is None:
            return
        atomic_torch_save(checkpoint_path, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict() if schedule is not None else None,
            "batches": batches.state_dict(), "rng": _rng_state(device),
            "augment": augment.generator.get_state() if augment is not None else None,
            "history": history, "bad_epochs": bad_epochs, "step": step, "seconds": seconds,
            "best_val_loss": best["val_loss"], "best_epoch": best["epoch"], "best_model": best["state"],
        })

    net = model
    if dist.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if cfg.compile:
        net = torch.compile(net)

    progress = Progress(
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
        TextColumn("step {task.completed:>6.0f}/{task.total:.0f}  loss {task.fields[loss]:.4f}  "
                   "{task.fields[rate]:,.0f} ex/s"),
        TimeRemainingColumn(), console=console, transient=True,
        disable=not (verbose and cfg.progress and console.is_terminal),
    )
    bar = progress.add_task("train", total=n_steps, completed=start_step, epoch=start_step // steps_per_epoch + 1,
                            epochs=cfg.epochs, loss=float("nan"), rate=0.0)
    check_every = 1 if device.type == "cpu" else 25  # .item() syncs the GPU: check its loss less often
    stopped_early = False
    step = start_step
    net.train()
    t_epoch = time.perf_counter()
    with _StopRequest() as stop, progress:
        for step in range(start_step, n_steps):
            x, y = batches.next()                            # 1. sample a batch
            if augment is not None:
                x = augment(x)
            with autocast:
                loss = loss_fn(net(x), y)                    # 2. forward propagate
            optimizer.zero_grad(set_to_none=True)
            loss.backward()                                  # 3. backpropagate
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()                                 # 4. update the parameters
            if schedule is not None:
                schedule.step()

            # --- around the four steps: divergence check, progress, end of epoch, Ctrl-C
            if step % check_every == 0 or (step + 1) % steps_per_epoch == 0:
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    where = f" in {checkpoint_path.parent}" if checkpoint_path and checkpoint_path.is_file() else ""
                    raise TrainingDiverged(
                        f"loss became {loss_value} at step {step + 1} (epoch {step // steps_per_epoch + 1}); "
                        f"the last good checkpoint is kept{where}; lower train.lr or set train.grad_clip"
                    )
                if step % 10 == 0:
                    elapsed = time.perf_counter() - t_epoch
                    done = step + 1 - (step // steps_per_epoch) * steps_per_epoch
                    progress.update(bar, completed=step + 1, loss=loss_value,
                                    rate=done * per_rank_batch * dist.world_size / max(elapsed, 1e-9))
            if (step + 1) % steps_per_epoch == 0:
                epoch = (step + 1) // steps_per_epoch
                seconds += time.perf_counter() - t_epoch
                row = _epoch_row(model, train_eval, dataset, epoch, step + 1, optimizer, seconds)
                history.append(row)
                if row["val_loss"] < best["val_loss"]:
                    best = {"val_loss": row["val_loss"], "epoch": epoch, "state": copy.deepcopy(
                        {k: v.detach().cpu() for k, v in model.state_dict().items()})}
                    bad_epochs = 0
                else:
                    bad_epochs += 1
                if verbose:
                    _print_epoch(row, cfg.epochs, best["epoch"] == epoch, dataset.task)
                stopped_early = cfg.patience > 0 and bad_epochs >= cfg.patience and epoch < cfg.epochs
                if run_dir is not None:
                    atomic_write_csv(run_dir / "history.csv", history, HISTORY_COLUMNS)
                save_checkpoint(step + 1)
                progress.update(bar, epoch=min(epoch + 1, cfg.epochs))
                net.train()
                t_epoch = time.perf_counter()
                if stopped_early:
                    if verbose:
                        console.print(f"early stop: validation loss has not improved for {cfg.patience} epochs "
                                      f"(best epoch {best['epoch']})")
                    break
            if stop.requested:
                seconds += time.perf_counter() - t_epoch
                save_checkpoint(step + 1)
                raise KeyboardInterrupt(f"stopped at step {step + 1}")

    # The weights of the epoch with the lowest validation loss are what is saved and tested.
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    return FitResult(model, history, best["epoch"], stopped_early, seconds, step + 1)


def _epoch_row(model, train_eval, dataset, epoch, step, optimizer, seconds) -> dict:
    tr = evaluate(model, train_eval, dataset.task)
    va = evaluate(model, dataset.val, dataset.task)
    return {
        "epoch": epoch, "step": step,
        "train_loss": tr["loss"], "train_metric": tr["metric"], "train_error": tr["error"],
        "val_loss": va["loss"], "val_metric": va["metric"], "val_error": va["error"],
        "lr": optimizer.param_groups[0]["lr"], "seconds": round(seconds, 3),
    }


def _print_epoch(row: dict, epochs: int, is_best: bool, task: str) -> None:
    name = "acc" if task != "regression" else "r"
    console.print(
        f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f} {name} {row['train_metric']:.4f}  "
        f"val loss {row['val_loss']:.4f} {name} {row['val_metric']:.4f}  lr {row['lr']:.2e}  "
        f"{row['seconds']:.1f}s{'  *best' if is_best else ''}"
    )


# --- the whole job: config -> run folder


def default_config(data: str = "mnist", model: str = "mlp") -> Config:
    """A Config for `data` and `model`, with the model's training recipe applied."""
    cfg = Config()
    cfg.data.name = data
    from .config import set_value

    set_value(cfg, "model.name", model)
    for key, value in MODELS[model].recipe.items():
        set_value(cfg, f"train.{key}", value, source=f"recipe of {model}")
    return cfg


def train(config: Config, out: str | Path | None = None, overwrite: bool = False, resume: str | Path | None = None,
          verbose: bool = True, dataset=None) -> Run:
    """Run a whole training job and write the run folder.

    Args:
        config: what to train (data, model, train sections).
        out: the run folder (default ``runs/<data>-<model>-<time>``).
        overwrite: replace an existing run folder at `out`.
        resume: a run folder whose checkpoint to continue (its config.json is used; `config` is ignored).
        verbose: print progress and the final table.
        dataset: an already loaded Dataset for ``config.data`` (skips loading).

    Returns:
        The Run.
    """
    dist = Distributed.from_env()
    dist.init(config.train.device if config else "auto")
    lock = None
    if resume is not None:
        run = open_run(resume, expect="train", verb="train --resume")
        config, run_dir = run.config, run.path
        if dist.is_main:
            run_dir, lock = reopen_folder(run_dir, "train")
    else:
        run_dir = None
        if dist.is_main:
            run_dir, lock = start_folder(out or Path("runs") / default_run_name(config.data.name, config.model.name),
                                         "train", overwrite)
        run_dir = Path(dist.broadcast(str(run_dir) if run_dir else None))
        meta = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "versions": versions(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "world_size": dist.world_size}
        if dist.is_main:
            atomic_write_json(run_dir / "config.json", {**config.to_dict(), "meta": meta})
    try:
        _train_into(config, run_dir, dist, resume is not None, verbose, dataset)
    finally:
        if lock is not None:
            lock.release()
    if dist.enabled:
        import torch.distributed as torch_dist

        torch_dist.barrier()
    return Run(run_dir)


def _train_into(config: Config, run_dir: Path, dist, resume: bool, verbose: bool, dataset) -> None:
    ds = dataset if dataset is not None else load_dataset(config.data)
    torch.manual_seed(config.train.seed)  # the same initial weights for the same seed, on every rank
    model = build_model(config.model.name, ds, **config.model.params)
    if verbose and dist.is_main:
        console.print(f"run folder: {run_dir}")
        console.print(f"data: {ds.name} ({ds.task}), train {len(ds.train):,} / val {len(ds.val):,} / "
                      f"test {len(ds.test):,}; model: {config.model.name}, {count_parameters(model):,} parameters")
    try:
        result = fit(model, ds, config.train, run_dir=run_dir, resume=resume, verbose=verbose)
    except TrainingDiverged as exc:
        if dist.is_main:
            atomic_write_json(run_dir / "metrics.json", {"status": "diverged", "message": str(exc),
                                                          "task": ds.task})
            _try_report(run_dir)
        raise
    except KeyboardInterrupt:
        if dist.is_main:
            _try_report(run_dir)
            console.print(f"interrupted: checkpoint saved; continue with: synbiolab train --resume {run_dir}")
        raise
    if dist.is_main:
        finish_run(run_dir, result, ds, config, verbose)


def finish_run(run_dir: Path, result: FitResult, ds, config: Config, verbose: bool = True) -> None:
    """Evaluate the best weights on train, validation and (once) test; write metrics, model and report."""
    model = result.model
    n_eval = min(config.train.train_eval_size, len(ds.train))
    train_eval = ds.train.subset(np.sort(np.random.default_rng(config.train.seed).permutation(len(ds.train))[:n_eval]))
    metrics = {
        "status": "finished",
        "task": ds.task,
        "metric_name": "accuracy" if ds.task != "regression" else "pearson_r",
        "train": evaluate(model, train_eval, ds.task),
        "val": evaluate(model, ds.val, ds.task),
        "test": evaluate(model, ds.test, ds.task),  # the only time the test split is touched
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "train_seconds": round(result.train_seconds, 3),
        "n_parameters": count_parameters(model),
        "n_train": len(ds.train),
        "majority_error": ds.majority_error(),
        "dataset": ds.summary(),
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    save_model(run_dir, model, config.model.name, config.model.params,
               {"input_shape": list(ds.input_shape), "n_outputs": ds.n_outputs, "task": ds.task,
                "class_names": ds.class_names, "data": ds.name, "kind": ds.kind,
                "normalisation": ds.info.get("normalisation")})
    _try_report(run_dir)
    if verbose:
        t = metrics["test"]
        what = f"accuracy {t['accuracy']:.4f} (error {t['error']:.4f})" if ds.task != "regression" \
            else f"pearson r {t['pearson_r']:.4f}, R^2 {t['r2']:.4f}"
        console.print(f"test {what}; best epoch {result.best_epoch}/{len(result.history)}; "
                      f"{result.train_seconds:.1f}s of training")
        console.print(f"report: {run_dir / 'report.html'}")


def _try_report(run_dir: Path) -> None:
    from .report import write_report

    write_report(Run(run_dir))
