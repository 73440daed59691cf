"""The GAN loop: ``gan_step`` over the epochs, with quality scored after each, around the same support as
``fit`` (checkpoint, progress, Ctrl-C, divergence check).

An epoch is one pass of the discriminator over the training data, so a WGAN with 5 critic steps makes a fifth
as many generator updates per epoch as a standard GAN. Samples come from a moving average of the generator's
weights: GAN weights orbit a good solution rather than settle in it, and their average sits closer to it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import GanConfig, TrainConfig, check_section
from ..data import InMemoryBatches
from ..data.generative import GanData
from ..errors import SynbiolabError
from ..generate import balanced_labels, draw_epoch_samples
from ..io import atomic_write_csv
from .gan_step import LOSSES, gan_step
from .support import (
    Checkpoint,
    StopRequest,
    average_decay,
    check_finite,
    console,
    progress_bar,
    select_device,
    update_average,
)

GAN_HISTORY_START = [
    "epoch",
    "step",
    "discriminator_loss",
    "generator_loss",
    "real_score",
    "fake_score",
    "gradient_penalty",
]


@dataclass
class GanFitResult:
    """What ``fit_gan`` returns: the trained pair, one history row per epoch, the time spent."""
    model: nn.Module
    history: list
    train_seconds: float
    steps: int


def _fixed_latent(model: nn.Module, n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latent vectors (and classes) drawn after every epoch: the report shows the same samples improve."""
    columns = n_classes if n_classes else 8
    n = columns * 8
    latent = torch.randn(n, model.latent_size, generator=torch.Generator().manual_seed(seed + 12345))
    labels = balanced_labels(n, n_classes) if n_classes else None
    return latent, labels


def fit_gan(
    model: nn.Module,
    data: GanData,
    train_config=None,
    gan_config: GanConfig | None = None,
    run_dir=None,
    quality=None,
    resume: bool = False,
    verbose: bool = True,
) -> GanFitResult:
    """Train a GAN pair, scoring its samples after every epoch.

    An epoch is one pass of the discriminator over the training data, so a WGAN with 5 critic steps makes a
    fifth as many generator updates per epoch as a standard GAN.

    Args:
        model: a DCGAN or SequenceWGAN pair (``model.generator``, ``model.discriminator``).
        data: the GanData.
        train_config: the TrainConfig (epochs, batch_size, lr, seed, device, progress).
        gan_config: the GanConfig (loss, n critic steps, gradient penalty, Adam betas, evaluation sizes).
        run_dir: where history.csv, checkpoint/ and figures/ go (None: nothing is written).
        quality: a callable ``quality(model, n) -> dict`` (ImageQuality or SequenceQuality), or None.
        resume: continue from ``run_dir/checkpoint/state.pt``.
        verbose: print one line per epoch.

    Returns:
        GanFitResult.
    """
    cfg = train_config or TrainConfig()
    gcfg = gan_config or GanConfig()
    check_section(cfg, "train")  # settings built in Python get the checks of --set
    check_section(gcfg, "gan")
    if resume and run_dir is None:
        raise SynbiolabError("fit_gan(resume=True) needs the run_dir whose checkpoint to continue")
    if gcfg.n_critic < 1:
        raise SynbiolabError(f"gan.n_critic={gcfg.n_critic}: the discriminator needs at least 1 update per step")
    if gcfg.loss not in LOSSES:
        raise SynbiolabError(f"gan.loss={gcfg.loss!r} is unknown; valid: {', '.join(LOSSES)}")
    if cfg.schedule not in ("none", "cosine"):
        raise SynbiolabError(
            f"train.schedule={cfg.schedule!r} does not apply to a GAN; valid: none (constant learning rates) or "
            "cosine (both decay to 0 over train.epochs)"
        )
    device = select_device(cfg.device)
    run_dir = Path(run_dir) if run_dir is not None else None
    model.to(device)
    torch.manual_seed(cfg.seed)
    conditional = bool(model.n_classes)
    generator, discriminator = model.generator, model.discriminator
    betas = (gcfg.beta1, gcfg.beta2)
    g_opt = torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=betas)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=gcfg.lr_discriminator or cfg.lr, betas=betas)

    batch_size = min(cfg.batch_size, len(data.train_x))
    train_x = data.train_x.to(device)
    if train_x.ndim == 4:  # images: channels-last layout, as in fit (the convolutions skip a reorder each call)
        model.to(memory_format=torch.channels_last)
        train_x = train_x.contiguous(memory_format=torch.channels_last)
    batches = InMemoryBatches(train_x, data.train_y.to(device), batch_size, seed=cfg.seed, drop_last=True)
    steps_per_epoch = max(batches.steps_per_epoch // gcfg.n_critic, 1)
    n_steps = cfg.epochs * steps_per_epoch
    # A decaying learning rate lets the generator settle at the end instead of orbiting (the WGAN-GP authors
    # decayed theirs to 0); the schedule spans train.epochs, so a run cut short by time_limit stops mid-way.
    schedules = ([torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_steps) for opt in (g_opt, d_opt)]
                 if cfg.schedule == "cosine" else [])
    rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    fixed_latent, fixed_labels = _fixed_latent(model, model.n_classes, cfg.seed)
    # A slow moving average of the generator's weights draws the samples that are scored and kept.
    ema = copy.deepcopy(generator).requires_grad_(False) if gcfg.ema_decay > 0 else None

    history: list[dict] = []
    start_step, seconds = 0, 0.0
    checkpoint = Checkpoint(run_dir)
    if checkpoint.resumable(run_dir, resume, verbose):
        state = checkpoint.load(("model", "generator_optimizer", "discriminator_optimizer", "batches", "rng",
                                 "torch_rng", "history", "step", "seconds"))
        checkpoint.check_position(state, steps_per_epoch, n_steps)
        if schedules:
            checkpoint.check_schedule(state, cfg.schedule, n_steps)
        try:
            checkpoint.restore(model, state["model"], "weights")
            if ema is not None and state.get("generator_ema") is not None:
                checkpoint.restore(ema, state["generator_ema"], "averaged generator weights")
            checkpoint.restore(g_opt, state["generator_optimizer"], "generator optimizer state")
            checkpoint.restore(d_opt, state["discriminator_optimizer"], "discriminator optimizer state")
            for schedule, saved in zip(schedules, state.get("schedules") or [], strict=False):
                schedule.load_state_dict(saved)
            batches.load_state_dict(state["batches"])
            rng.set_state(state["rng"])
            torch.set_rng_state(state["torch_rng"])
        except SynbiolabError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as exc:
            raise checkpoint.damaged(f"its training state does not load: {str(exc).splitlines()[0][:120]}") from exc
        history, start_step, seconds = state["history"], state["step"], state["seconds"]
        write_history(run_dir, history)  # killed between the two writes: history.csv lags the checkpoint

    def save_checkpoint(step: int) -> None:
        checkpoint.save({
            "model": model.state_dict(), "generator_ema": ema.state_dict() if ema is not None else None,
            "generator_optimizer": g_opt.state_dict(), "discriminator_optimizer": d_opt.state_dict(),
            "schedules": [schedule.state_dict() for schedule in schedules], "batches": batches.state_dict(),
            "rng": rng.get_state(), "torch_rng": torch.get_rng_state(), "history": history, "step": step,
            "seconds": seconds, "steps_per_epoch": steps_per_epoch, "n_steps": n_steps,
        })

    progress = progress_bar("step {task.completed:>6.0f}/{task.total:.0f}  D {task.fields[d]:.3f}  "
                            "G {task.fields[g]:.3f}", verbose, cfg)
    bar = progress.add_task("gan", total=n_steps, completed=start_step, epoch=start_step // steps_per_epoch + 1,
                            epochs=cfg.epochs, d=float("nan"), g=float("nan"))
    model.train()
    t_epoch = time.perf_counter()
    sums: dict[str, float] = {}
    step = start_step
    with StopRequest() as stop, progress:
        for step in range(start_step, n_steps):
            real_batches = [batches.next() for _ in range(gcfg.n_critic)]
            result = gan_step(generator, discriminator, g_opt, d_opt, real_batches, loss=gcfg.loss,
                              gp_weight=gcfg.gp_weight, latent_size=model.latent_size, conditional=conditional,
                              rng=rng)

            # --- around the step: divergence check, end of epoch, Ctrl-C
            check_finite({"discriminator": result.discriminator_loss, "generator": result.generator_loss}, step,
                         steps_per_epoch, checkpoint, "lower train.lr")
            for schedule in schedules:
                schedule.step()
            if ema is not None:
                # the average forgets its start quickly at first, so short runs are not judged on early weights
                update_average(ema, generator, average_decay(gcfg.ema_decay, step))
            for key, value in vars(result).items():
                sums[key] = sums.get(key, 0.0) + value
            if step % 10 == 0:
                progress.update(bar, completed=step + 1, d=result.discriminator_loss, g=result.generator_loss)
            if (step + 1) % steps_per_epoch == 0:
                epoch = (step + 1) // steps_per_epoch
                seconds += time.perf_counter() - t_epoch
                row = {"epoch": epoch, "step": step + 1, **{k: v / steps_per_epoch for k, v in sums.items()}}
                sums = {}
                with averaged_generator(model, ema):
                    if quality is not None:
                        row.update(quality(model, gcfg.eval_samples))
                    if run_dir is not None:
                        draw_epoch_samples(model, data, fixed_latent, fixed_labels, run_dir, epoch)
                row["seconds"] = round(seconds, 3)
                history.append(row)
                # the checkpoint first: a full disk there leaves history.csv as it was, matching the last checkpoint
                save_checkpoint(step + 1)
                write_history(run_dir, history)
                if verbose:
                    console.print(_epoch_line(row, cfg.epochs), highlight=False)
                progress.update(bar, completed=step + 1, epoch=min(epoch + 1, cfg.epochs))
                model.train()
                t_epoch = time.perf_counter()
                # the budget is a ceiling: stop before an epoch that would end past it at the pace so far
                if gcfg.time_limit and seconds * (epoch + 1) / epoch > gcfg.time_limit and step + 1 < n_steps:
                    if verbose:
                        console.print(f"time limit: stopped after epoch {epoch} ({seconds:.0f} s of training)")
                    break
            if stop.requested:
                seconds += time.perf_counter() - t_epoch
                save_checkpoint(step + 1)
                raise KeyboardInterrupt(f"stopped at step {step + 1}")
    if ema is not None:
        model.generator = ema  # the averaged weights are evaluated and saved (the raw ones stay in checkpoint/)
    model.eval()
    return GanFitResult(model, history, seconds, history[-1]["step"] if history else step + 1)


def write_history(run_dir: Path | None, history: list[dict]) -> None:
    """history.csv of a GAN run: the fixed columns first, then the quality numbers of its data kind."""
    if run_dir is not None and history:
        columns = GAN_HISTORY_START + [k for k in history[-1] if k not in GAN_HISTORY_START]
        atomic_write_csv(run_dir / "history.csv", history, columns)


class averaged_generator:  # noqa: N801 - a context manager, read like a function
    """Within ``with averaged_generator(model, ema):`` the model draws with the averaged generator."""

    def __init__(self, model: nn.Module, ema: nn.Module | None):
        self.model, self.ema = model, ema

    def __enter__(self):
        if self.ema is not None:
            self.live, self.model.generator = self.model.generator, self.ema
        return self.model

    def __exit__(self, *exc):
        if self.ema is not None:
            self.model.generator = self.live
        return False


def _epoch_line(row: dict, epochs: int) -> str:
    text = (
        f"epoch {row['epoch']:>3}/{epochs}  D loss {row['discriminator_loss']:.4f}  G loss {row['generator_loss']:.4f}"
    )
    if "frechet" in row:
        text += f"  Frechet {row['frechet']:.2f} (floor {row['frechet_floor']:.2f})"
        text += f"  min class {row['min_class_fraction']:.3f}"
        if "judge_accuracy" in row:
            text += f"  judge acc {row['judge_accuracy']:.3f}"
    if "kmer_r" in row:
        text += (
            f"  6-mer r {row['kmer_r']:.3f} (ceiling {row['kmer_r_ceiling']:.3f})"
            f"  -10 {row['rate_10']:.2f}/{row['natural_rate_10']:.2f}"
            f"  -35 {row['rate_35']:.2f}/{row['natural_rate_35']:.2f}  copies {row['exact_fraction']:.3f}"
        )
    return text + f"  {row['seconds']:.1f}s"
