"""The one visible training loop: sample a batch, forward propagate, backpropagate, update.

Read ``fit`` from top to bottom: the four steps every deep-learning course teaches sit in one ``for`` loop;
evaluation, early stopping, checkpoints, schedules, mixed precision, clipping and DDP are placed around those
lines, with their machinery in ``support.py`` (shared with the GAN loop).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig, check_section
from ..data import InMemoryBatches
from ..errors import SynbiolabError
from ..evaluate import evaluate, loss_for_task
from ..io import atomic_write_csv
from ..models.ensemble import Ensemble
from ..runs import HISTORY_COLUMNS
from .augment import make_augmenter
from .support import (
    Checkpoint,
    Distributed,
    StopRequest,
    average_decay,
    calibrate_outputs,
    check_finite,
    console,
    make_optimizer,
    make_schedule,
    progress_bar,
    rng_state,
    select_device,
    set_rng_state,
    update_average,
)


@dataclass
class FitResult:
    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    steps: int = 0
    stopped_by_callback: bool = False  # on_epoch asked to stop (a pruned tuning trial)
    calibration: dict | None = None  # train.calibrate: the line fitted on the validation split (regression)


def check_fits(cfg: TrainConfig, dataset) -> None:
    """Training settings that do not fit the data set, as one line (``train`` checks them before making a folder)."""
    if cfg.calibrate and dataset.task != "regression":
        raise SynbiolabError(f"train.calibrate rescales a regressor's outputs, but {dataset.name} is a {dataset.task} "
                             "task; leave train.calibrate false")


def train_eval_subset(split, size: int, seed: int):
    """The fixed subsample of the training split whose error is measured each epoch (no augmentation)."""
    n = min(size, len(split))
    return split.subset(np.sort(np.random.default_rng(seed).permutation(len(split))[:n]))


def fit(
    model: torch.nn.Module,
    dataset,
    config: TrainConfig | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    verbose: bool = True,
    on_epoch=None,
) -> FitResult:
    """Train `model` on `dataset.train`, evaluating train and validation error after every epoch.

    Args:
        model: an nn.Module returning logits (its output layer follows ``dataset.task``).
        dataset: a Dataset; its test split is not touched here.
        config: the TrainConfig (defaults when None).
        run_dir: where history.csv and checkpoint/ go (None: nothing is written).
        resume: continue from ``run_dir/checkpoint``.
        verbose: print the progress bar and one line per epoch.
        on_epoch: called with each history row; returning True stops training (``synbiolab tune`` prunes
            trials this way). Nothing else in the project uses it.

    Returns:
        A FitResult whose model holds the weights of the epoch that ``train.keep`` names: by default the one
        with the lowest validation loss; ``best_metric``: the highest validation accuracy or r; ``last``: the
        last epoch (with ``train.ema_decay`` > 0: the moving average of the weights, which every epoch evaluates).

    Raises:
        TrainingDiverged: the loss became NaN or infinite (the last good checkpoint is kept).
        KeyboardInterrupt: after Ctrl-C, once a checkpoint of the current step is saved.
    """
    cfg = config or TrainConfig()
    check_section(cfg, "train")  # a TrainConfig built in Python gets the checks of --set
    if resume and run_dir is None:
        raise SynbiolabError("fit(resume=True) needs the run_dir whose checkpoint to continue")
    if len(dataset.val) == 0:
        raise SynbiolabError("the validation split is empty; set data.val_size")
    check_fits(cfg, dataset)
    dist = Distributed.from_env()
    dist.init(cfg.device)
    device = select_device(cfg.device, dist.local_rank)
    folder = Path(run_dir) if run_dir is not None else None
    run_dir = folder if dist.is_main else None  # only rank 0 writes; every rank reads the checkpoint
    verbose = verbose and dist.is_main
    model.to(device)
    train_x = dataset.train.x.to(device)
    if train_x.ndim == 4:
        # Images in channels-last layout let the convolution kernels skip a reorder on every call
        # (about 1.5x faster on CPUs); the model's weights follow the same layout.
        model.to(memory_format=torch.channels_last)
        train_x = train_x.contiguous(memory_format=torch.channels_last)

    per_rank_batch = max(cfg.batch_size // dist.world_size, 1)
    batches = InMemoryBatches(train_x, dataset.train.y.to(device), per_rank_batch, seed=cfg.seed, rank=dist.rank,
                              world_size=dist.world_size)
    steps_per_epoch = batches.steps_per_epoch
    n_steps = cfg.epochs * steps_per_epoch
    loss_fn = loss_for_task(dataset.task, cfg.label_smoothing if dataset.task == "multiclass" else 0.0)
    if isinstance(model, Ensemble):  # K members side by side: the mean of their own losses, not the mean's loss
        loss_fn = Ensemble.training_loss(loss_fn)
    optimizer = make_optimizer(cfg, model)
    schedule = make_schedule(cfg, optimizer, n_steps)
    augment = make_augmenter(cfg.augment, dataset.kind, cfg.seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.amp)
    train_eval = train_eval_subset(dataset.train, cfg.train_eval_size, cfg.seed)
    # A moving average of the weights (Polyak averaging) is evaluated, kept and saved in their place.
    average = copy.deepcopy(model).requires_grad_(False) if cfg.ema_decay > 0 else None
    evaluated = average if average is not None else model

    history: list[dict] = []
    best = {"score": math.inf, "epoch": 0, "state": None}  # score: keep_score of the kept epoch
    bad_epochs, start_step, seconds = 0, 0, 0.0
    lowest_loss = math.inf  # early stopping follows the validation loss, whatever train.keep keeps
    checkpoint = Checkpoint(folder, writable=dist.is_main)
    if checkpoint.resumable(run_dir, resume, verbose):
        ckpt = checkpoint.load(("model", "optimizer", "batches", "rng", "history", "step", "seconds", "bad_epochs",
                                "best_val_loss", "best_epoch", "best_model"))
        if (average is None) != (ckpt.get("average") is None):
            started = "with" if ckpt.get("average") is not None else "without"
            raise SynbiolabError(f"{checkpoint.path}: the run was started {started} a moving average of the "
                                 f"weights; resume it with the train.ema_decay it was started with")
        if average is not None:
            checkpoint.restore(average, ckpt["average"], "averaged weights")
        checkpoint.check_position(ckpt, steps_per_epoch, n_steps)
        if schedule is not None:
            checkpoint.check_schedule(ckpt, cfg.schedule, n_steps)
        restore_training(checkpoint, ckpt, model, optimizer, schedule, batches, augment, device)
        history, bad_epochs, start_step, seconds = ckpt["history"], ckpt["bad_epochs"], ckpt["step"], ckpt["seconds"]
        lowest_loss = min((row["val_loss"] for row in history), default=math.inf)
        best = {"score": ckpt["best_val_loss"], "epoch": ckpt["best_epoch"], "state": ckpt["best_model"]}
        if run_dir is not None and history:  # killed between the two writes: history.csv lags the checkpoint
            atomic_write_csv(run_dir / "history.csv", history, HISTORY_COLUMNS)

    def save_checkpoint(step: int) -> None:
        checkpoint.save({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "average": average.state_dict() if average is not None else None,
            "schedule": schedule.state_dict() if schedule is not None else None,
            "batches": batches.state_dict(), "rng": rng_state(device),
            "augment": augment.generator.get_state() if augment is not None else None,
            "history": history, "bad_epochs": bad_epochs, "step": step, "seconds": seconds,
            "best_val_loss": best["score"], "best_epoch": best["epoch"], "best_model": best["state"],
            "steps_per_epoch": steps_per_epoch, "n_steps": n_steps,
        })

    net = model
    if dist.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if cfg.compile:
        net = torch.compile(net)

    progress = progress_bar("step {task.completed:>6.0f}/{task.total:.0f}  loss {task.fields[loss]:.4f}  "
                            "{task.fields[rate]:,.0f} ex/s", verbose, cfg)
    bar = progress.add_task("train", total=n_steps, completed=start_step, epoch=start_step // steps_per_epoch + 1,
                            epochs=cfg.epochs, loss=float("nan"), rate=0.0)
    advice = "lower train.lr or set train.grad_clip"
    check_every = 1 if device.type == "cpu" else 25  # .item() syncs the GPU: check its loss less often
    # a resumed run that had already stopped early has nothing left to do (unless train.patience was raised)
    stopped_early = resume and 0 < cfg.patience <= bad_epochs
    stopped_by_callback = False
    last_step = start_step if stopped_early else n_steps
    step = start_step
    net.train()
    t_epoch = time.perf_counter()
    with StopRequest() as stop, progress:
        for step in range(start_step, last_step):
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
            if average is not None:
                update_average(average, model, average_decay(cfg.ema_decay, step), average_buffers=True)

            # --- around the four steps: divergence check, progress, end of epoch, Ctrl-C
            if step % check_every == 0 or (step + 1) % steps_per_epoch == 0:
                loss_value = loss.item()
                check_finite({"loss": loss_value}, step, steps_per_epoch, checkpoint, advice)
                if step % 10 == 0:
                    done = step + 1 - (step // steps_per_epoch) * steps_per_epoch
                    rate = done * per_rank_batch * dist.world_size / max(time.perf_counter() - t_epoch, 1e-9)
                    progress.update(bar, completed=step + 1, loss=loss_value, rate=rate)
            if (step + 1) % steps_per_epoch == 0:
                epoch = (step + 1) // steps_per_epoch
                seconds += time.perf_counter() - t_epoch
                row = epoch_row(evaluated, train_eval, dataset, epoch, step + 1, optimizer, seconds)
                # an epoch whose losses are not finite is never written or checkpointed
                check_finite({"train loss": row["train_loss"], "validation loss": row["val_loss"]}, step,
                             steps_per_epoch, checkpoint, advice)
                history.append(row)
                score = keep_score(row, cfg.keep)
                if score < best["score"]:
                    best = {"score": score, "epoch": epoch, "state": copy.deepcopy(
                        {k: v.detach().cpu() for k, v in evaluated.state_dict().items()})}
                if row["val_loss"] < lowest_loss:
                    lowest_loss, bad_epochs = row["val_loss"], 0
                else:
                    bad_epochs += 1
                if verbose:
                    print_epoch(row, cfg.epochs, best["epoch"] == epoch, dataset.task)
                stopped_early = cfg.patience > 0 and bad_epochs >= cfg.patience and epoch < cfg.epochs
                stopped_by_callback = on_epoch is not None and bool(on_epoch(row)) and epoch < cfg.epochs
                # the checkpoint first: a full disk there leaves history.csv as it was, matching the last checkpoint
                save_checkpoint(step + 1)
                if run_dir is not None:
                    atomic_write_csv(run_dir / "history.csv", history, HISTORY_COLUMNS)
                progress.update(bar, epoch=min(epoch + 1, cfg.epochs))
                net.train()
                t_epoch = time.perf_counter()
                if stopped_early:
                    if verbose:
                        console.print(f"early stop: validation loss has not improved for {cfg.patience} epochs "
                                      f"(best epoch {best['epoch']})")
                    break
                if stopped_by_callback:
                    break
            if stop.requested:
                seconds += time.perf_counter() - t_epoch
                check_finite({"loss": loss.item()}, step, steps_per_epoch, checkpoint, advice)  # never save NaN
                save_checkpoint(step + 1)
                raise KeyboardInterrupt(f"stopped at step {step + 1}")

    # The weights of the kept epoch (by default the lowest validation loss) are what is saved and tested.
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    calibration = None
    if cfg.calibrate:  # a regressor: rescale its outputs by a line fitted on the validation split
        calibration = calibrate_outputs(model, dataset.val)
    return FitResult(model, history, best["epoch"], stopped_early, seconds, step + 1, stopped_by_callback,
                     calibration)


def restore_training(checkpoint: Checkpoint, ckpt: dict, model, optimizer, schedule, batches, augment, device):
    """Load a checkpoint's weights, optimizer, schedule, batch order and random state; damage is one line."""
    try:
        checkpoint.restore(model, ckpt["model"], "weights")
        checkpoint.restore(optimizer, ckpt["optimizer"], "optimizer state")
        if schedule is not None:
            schedule.load_state_dict(ckpt["schedule"])
        batches.load_state_dict(ckpt["batches"])
        if augment is not None:
            augment.generator.set_state(ckpt["augment"])
        set_rng_state(ckpt["rng"], device)
        if ckpt["best_model"] is not None:
            expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
            if {k: tuple(v.shape) for k, v in ckpt["best_model"].items()} != expected:
                raise checkpoint.damaged("its best-epoch weights are of another model")
    except SynbiolabError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
        raise checkpoint.damaged(f"its training state does not load: {str(exc).splitlines()[0][:120]}") from exc


def keep_score(row: dict, keep: str) -> float:
    """Lower is better: the number by which train.keep compares epochs (the checkpoint's best_val_loss)."""
    if keep == "best_metric":
        metric = row["val_metric"]
        return -metric if math.isfinite(metric) else math.inf
    if keep == "last":
        return -float(row["epoch"])
    return row["val_loss"]


def epoch_row(model, train_eval, dataset, epoch, step, optimizer, seconds) -> dict:
    """One row of history.csv: train (fixed subsample) and validation loss, metric and error."""
    tr = evaluate(model, train_eval, dataset.task)
    va = evaluate(model, dataset.val, dataset.task)
    return {
        "epoch": epoch, "step": step,
        "train_loss": tr["loss"], "train_metric": tr["metric"], "train_error": tr["error"],
        "val_loss": va["loss"], "val_metric": va["metric"], "val_error": va["error"],
        "lr": optimizer.param_groups[0]["lr"], "seconds": round(seconds, 3),
    }


def print_epoch(row: dict, epochs: int, is_best: bool, task: str) -> None:
    name = "acc" if task != "regression" else "r"
    console.print(
        f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f} {name} {row['train_metric']:.4f}  "
        f"val loss {row['val_loss']:.4f} {name} {row['val_metric']:.4f}  lr {row['lr']:.2e}  "
        f"{row['seconds']:.1f}s{'  *best' if is_best else ''}"
    )
