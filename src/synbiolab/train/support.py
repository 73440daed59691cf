"""What the training loops share, so that ``fit`` and ``fit_gan`` show only their steps.

Devices and DDP processes, optimisers and schedules, Ctrl-C as a flag checked between steps, the checkpoint
(written atomically, read without unpickling anything), the progress bar and the divergence check.
"""

from __future__ import annotations

import math
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ..config import TrainConfig
from ..errors import SynbiolabError, TrainingDiverged
from ..io import atomic_torch_save, remove_stale_temporaries

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


# --- optimiser, schedule and weight average


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
        total = max(total_steps, 2)
        # The warm-up ends at step pct_start * total - 1: a quarter of the run, but at least one whole step, or
        # its slope divides by zero (exactly 4 steps in all) and the learning rate never leaves the floor.
        pct_start = max(0.25, 2 / total) if total >= 3 else 0.25
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=total, pct_start=pct_start,
            cycle_momentum=cfg.optimizer == "sgd",
        )
    raise SynbiolabError(f"train.schedule={cfg.schedule!r} is unknown; valid: none, cosine, onecycle")


# --- Ctrl-C, random state, checkpoint, progress, divergence


class StopRequest:
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


def rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class Checkpoint:
    """``checkpoint/state.pt`` of a run folder: everything ``--resume`` needs to continue bit for bit.

    Written atomically after every finite epoch; read with ``weights_only=True`` so that a planted pickle
    never runs; a damaged or foreign file is one line naming it.

    Args:
        run_dir: the run folder (None: nothing is read or written).
        writable: this process writes the checkpoint (under DDP only rank 0 does; every rank reads it).
    """

    def __init__(self, run_dir: str | Path | None, writable: bool = True):
        from ..runs import subfolder

        self.writable = writable and run_dir is not None
        if run_dir is None:
            self.path = None
        else:
            folder = subfolder(run_dir, "checkpoint") if self.writable else Path(run_dir) / "checkpoint"
            self.path = folder / "state.pt"

    @property
    def exists(self) -> bool:
        return self.path is not None and self.path.is_file()

    def save(self, state: dict) -> None:
        if self.path is not None and self.writable:
            atomic_torch_save(self.path, state)

    def damaged(self, reason: str) -> SynbiolabError:
        """The one line for a checkpoint that cannot be resumed."""
        return SynbiolabError(f"{self.path}: damaged checkpoint ({reason}); it cannot be resumed: start the run "
                              "again (--overwrite) or restore the file")

    def resumable(self, run_dir: str | Path | None, resume: bool, verbose: bool) -> bool:
        """Whether a run asked to resume has something to continue; clears a killed writer's temporaries.

        A run killed before its first checkpoint has nothing to continue and starts again at its first step.
        """
        if not resume:
            return False
        if run_dir is not None:
            remove_stale_temporaries(run_dir)  # a killed writer's half-written files (its process is gone)
        if not self.exists:
            if verbose:
                where = self.path.parent if self.path is not None else "this run"
                console.print(f"{where}: no checkpoint yet; training starts at step 1")
            return False
        return True

    def check_schedule(self, state: dict, schedule: str, n_steps: int) -> None:
        """A learning-rate schedule spans the steps planned when it started; another plan cannot continue it."""
        if state.get("n_steps", n_steps) != n_steps:
            raise SynbiolabError(f"{self.path}: the train.schedule={schedule} of this checkpoint spans "
                                 f"{state['n_steps']} steps, this run plans {n_steps}; it cannot be resumed")

    def check_position(self, state: dict, steps_per_epoch: int, n_steps: int) -> None:
        """The checkpoint's step and history must fit this run's plan (a config.json edited since is refused)."""
        step, history = state.get("step"), state.get("history")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0 or not isinstance(history, list) or \
                not all(isinstance(row, dict) for row in history):
            raise self.damaged("its step or history is not what synbiolab writes")
        if not isinstance(state.get("seconds", 0.0), int | float):
            raise self.damaged("its training time is not a number")
        saved = state.get("steps_per_epoch")
        if saved is not None and saved != steps_per_epoch:
            raise SynbiolabError(f"{self.path}: the checkpoint was written with {saved} steps an epoch but this "
                                 f"run's settings make {steps_per_epoch} (train.batch_size or the data changed "
                                 "since); it cannot be resumed")
        if step > n_steps:
            raise SynbiolabError(f"{self.path}: the checkpoint is at step {step}, past the {n_steps} steps this "
                                 "run plans (train.epochs was lowered since); it cannot be resumed")

    def load(self, keys: tuple[str, ...] = ()) -> dict:
        if not self.exists:
            where = self.path.parent.parent if self.path is not None else "this run"
            raise SynbiolabError(f"{where}: no checkpoint to resume from (checkpoint/state.pt)")
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated, random or pickled bytes: all one message
            raise SynbiolabError(f"{self.path}: damaged checkpoint (not a state saved by synbiolab); it cannot "
                                 "be resumed") from exc
        missing = [k for k in keys if not isinstance(state, dict) or k not in state]
        if missing:
            raise SynbiolabError(f"{self.path}: damaged checkpoint (no '{missing[0]}'); it cannot be resumed")
        return state

    def restore(self, module: torch.nn.Module, state_dict, what: str) -> None:
        """Load `state_dict` into `module`; weights of another model are one line."""
        try:
            module.load_state_dict(state_dict)
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise SynbiolabError(f"{self.path}: the checkpoint's {what} do not fit this run's model "
                                 "(another architecture or size)") from exc

    def kept(self) -> str:
        """The words that say where the last good checkpoint is, only when there is one."""
        return f"; the last good checkpoint is kept in {self.path.parent}" if self.exists else \
            "; no checkpoint was written (it diverged in the first epoch)"


def progress_bar(columns: str, verbose: bool, cfg: TrainConfig) -> Progress:
    """A rich progress bar (transient: it leaves one line per epoch behind), shown only on a terminal."""
    return Progress(
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(), TextColumn(columns),
        TimeRemainingColumn(), console=console, transient=True,
        disable=not (verbose and cfg.progress and console.is_terminal),
    )


def check_finite(values: dict[str, float], step: int, steps_per_epoch: int, checkpoint: Checkpoint,
                 advice: str) -> None:
    """Stop with the step number when a loss is NaN or infinite, naming the last good checkpoint."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        epoch = step // steps_per_epoch + 1
        if len(values) == 1:
            head, where = f"loss became {next(iter(bad.values()))}", f"(epoch {epoch})"
        else:
            what = ", ".join(f"{k} {v}" for k, v in bad.items())
            head, where = "loss became non-finite", f"(epoch {epoch}: {what})"
        raise TrainingDiverged(f"{head} at step {step + 1} {where}{checkpoint.kept()}; {advice}")


def update_average(average: torch.nn.Module, current: torch.nn.Module, decay: float,
                   average_buffers: bool = False) -> None:
    """average <- decay * average + (1 - decay) * current, for the weights.

    Buffers (batch-norm statistics) are copied from `current`, or averaged like the weights when
    `average_buffers` (a classifier evaluated with its averaged weights); integer buffers are always copied.
    """
    with torch.no_grad():
        for averaged, live in zip(average.parameters(), current.parameters(), strict=True):
            averaged.lerp_(live, 1 - decay)
        for averaged, live in zip(average.buffers(), current.buffers(), strict=True):
            if average_buffers and averaged.is_floating_point():
                averaged.lerp_(live, 1 - decay)
            else:
                averaged.copy_(live)


def average_decay(decay: float, updates: int) -> float:
    """The decay of the `updates`-th update: small at first, so that early weights do not linger (as TensorFlow's
    ExponentialMovingAverage with num_updates), then `decay`."""
    return min(decay, (1 + updates) / (10 + updates))


def calibrate_outputs(model: torch.nn.Module, split) -> dict:
    """Fit outputs to targets on `split` by one line per target, y = a * output + b, and fold it into the model.

    A regressor kept for its correlation (``train.keep=last`` or ``best_metric``) can rank well while its outputs
    are off in scale or offset; rescaling keeps Pearson and Spearman correlation unchanged (a > 0) and brings
    R^2 and MSE back. The line is folded into the last layer (``head``, a Linear; every member's for an
    ensemble, whose mean is then rescaled the same way), so everything that uses the saved model uses the
    rescaled outputs. A target whose fitted slope is not positive is left as it is (rescaling would reverse
    its ranking).

    Returns:
        {"scale": [a per target], "shift": [b per target], "kept": [target indices left as they were]}.
    """
    from ..evaluate import predict
    from ..models.ensemble import Ensemble

    heads = [m.head for m in model.members] if isinstance(model, Ensemble) else [getattr(model, "head", None)]
    if not all(isinstance(h, torch.nn.Linear) for h in heads):
        raise SynbiolabError(f"train.calibrate needs a model whose last layer is a Linear named head; "
                             f"{type(model).__name__} has none")
    outputs = predict(model, split.x).double().reshape(len(split), -1)
    targets = split.y.double().reshape(len(split), -1)
    scale, shift, kept = [], [], []
    for t in range(outputs.shape[1]):
        o, y = outputs[:, t], targets[:, t]
        variance = ((o - o.mean()) ** 2).mean()
        a = float(((o - o.mean()) * (y - y.mean())).mean() / variance) if variance > 0 else 0.0
        if a <= 0:  # leave it as it is
            kept.append(t)
            scale.append(1.0)
            shift.append(0.0)
        else:
            scale.append(a)
            shift.append(float(y.mean() - a * o.mean()))
    a = torch.tensor(scale)
    b = torch.tensor(shift)
    with torch.no_grad():
        for head in heads:
            head.weight.mul_(a.to(head.weight)[:, None])
            head.bias.mul_(a.to(head.bias)).add_(b.to(head.bias))
    return {"scale": scale, "shift": shift, "kept": kept}
