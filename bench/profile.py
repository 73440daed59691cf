"""Where an epoch's time goes: the promoter WGAN epoch and the MNIST MLP epoch, as fractions of the epoch.

Runs the same API call the CLI verbs make (``synbiolab gan --data ecoli_promoters_natural --model wgan_seq
--epochs 1`` and ``synbiolab train --data mnist --model mlp --epochs 1``) with timers wrapped around the
functions that make up an epoch, then prints each part as a share of the epoch. The package is not changed:
the timers replace module attributes for the duration of the run and are removed afterwards.

GAN parts: critic updates (the n critic steps: generator forward, critic forward on real and fake, the
gradient penalty, backward, Adam), of which the gradient penalty's forward and input gradient are timed
directly and its share of the backward pass is measured by timing critic steps with and without it; the
generator update; the moving average of the generator; batch drawing; per-epoch quality metrics (sampling,
k-mers, boxes, novelty, diversity); I/O (sample figures, history.csv, checkpoint). The set-up (data,
natural references), the final quality on ``gan.final_samples`` sequences and the report are printed apart.

MLP parts: forward, backward, optimizer step, schedule, batch drawing, the per-epoch evaluation (training
subsample and validation split), I/O (history.csv, checkpoint); data loading and the final evaluation apart.

Fractions are the meaningful output on a machine whose cores are shared with other work; absolute seconds
depend on what else runs and are printed only to show the sizes. With ``--ops`` a torch.profiler table of the
heaviest operators of a few GAN steps follows.

    SYNBIOLAB_DATA=../shared/data OMP_NUM_THREADS=1 python bench/profile.py --parts gan,mlp --threads 1
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file's name is also the standard library's `profile`, which torch imports (through cProfile). Any script run
# from bench/ has this folder first on its import path and would get this file instead; so, imported, this file
# loads the standard module in its own place, and run as a script it drops this folder from the path.
if __name__ != "__main__":
    import importlib.machinery
    import importlib.util
    import sysconfig

    _spec = importlib.machinery.PathFinder.find_spec("profile", [sysconfig.get_path("stdlib")])
    _standard = importlib.util.module_from_spec(_spec)
    sys.modules["profile"] = _standard  # what `import profile` returns once this file has run
    _spec.loader.exec_module(_standard)
else:
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from tempfile import TemporaryDirectory  # noqa: E402

import torch  # noqa: E402

# The package re-exports functions named like some of its modules (synbiolab.train, synbiolab.evaluate), so the
# modules are taken with importlib rather than `import synbiolab.train.job as job`.


class Timers:
    """Seconds and calls per label, collected by wrappers put around module attributes (and removed after)."""

    def __init__(self, device: str = "cpu"):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[tuple[object, str, object]] = []
        # CUDA kernels run asynchronously: without a sync a timer would measure only the launch
        self._sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def wrap(self, owner, name: str, label: str, condition=None) -> None:
        """Time every call of ``owner.name`` under `label` (only calls where ``condition()`` is true)."""
        original = getattr(owner, name, None)
        if original is None:  # the package moved it: say so rather than print a silent zero
            print(f"note: {getattr(owner, '__name__', owner)}.{name} not found; '{label}' is not timed")
            return

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if condition is not None and not condition():
                return original(*args, **kwargs)
            self._sync()
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._sync()
                self.seconds[label] += time.perf_counter() - start
                self.calls[label] += 1

        self._undo.append((owner, name, original))
        setattr(owner, name, timed)

    def mark(self, label: str, seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1

    def remove(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


def table(title: str, rows: list[tuple[str, float, int]], whole: float, whole_label: str) -> None:
    """Rows of (label, seconds, depth) printed as shares of `whole`."""
    print(f"\n{title}")
    print(f"  {'part':<62} {'share':>7} {'seconds':>9}")
    for label, seconds, depth in rows:
        print(f"  {'  ' * depth + label:<62} {seconds / whole:>7.1%} {seconds:>9.2f}")
    print(f"  {whole_label:<62} {1:>7.0%} {whole:>9.2f}")


# ---------------------------------------------------------------------------------------------------------
# GAN epoch
# ---------------------------------------------------------------------------------------------------------


def critic_step_seconds(model, data, gcfg, device: str, with_penalty: bool, repeats: int) -> float:
    """Seconds per critic update on real batches, with or without the gradient penalty (same work otherwise)."""
    from synbiolab.train.gan_step import discriminator_loss, gradient_penalty, sample_latent

    generator, critic = model.generator, model.discriminator
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(gcfg.beta1, gcfg.beta2))
    rng = torch.Generator(device=device).manual_seed(0)
    real = data.train_x[:64].to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    best = float("inf")
    for _ in range(3):  # the fastest of three rounds: the least disturbed by other work on the machine
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fake = generator(sample_latent(len(real), model.latent_size, real.device, rng))
            loss = discriminator_loss(critic(real), critic(fake.detach()), "wgan-gp")
            if with_penalty:
                loss = loss + gcfg.gp_weight * gradient_penalty(critic, real, fake.detach(), None, rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def profile_gan(args) -> None:
    gan_quality = importlib.import_module("synbiolab.evaluate.gan_quality")
    fit_gan_module = importlib.import_module("synbiolab.train.fit_gan")
    gan_step_module = importlib.import_module("synbiolab.train.gan_step")
    job = importlib.import_module("synbiolab.train.job")
    from synbiolab.config import build_config
    from synbiolab.data.batches import InMemoryBatches
    from synbiolab.models import model_parameters
    from synbiolab.models.wgan_seq import SequenceCritic
    from synbiolab.train.support import Checkpoint

    sets = [f"model.channels={args.channels}"] if args.channels else []
    options = {"train.epochs": args.gan_epochs, "train.device": args.device, "data.data_dir": args.data_dir}
    cfg = build_config("ecoli_promoters_natural", "wgan_seq", None, options, sets, default_model="dcgan")
    timers = Timers(args.device)
    inside = {"quality": False}

    # the gan step, split where it freezes the critic for the generator update
    boundary = {"t": None}
    original_freeze = SequenceCritic.requires_grad_

    def freeze(self, requires_grad: bool = True):
        if not requires_grad and boundary["t"] is None:
            boundary["t"] = time.perf_counter()
        return original_freeze(self, requires_grad)

    original_step = fit_gan_module.gan_step

    def timed_step(*a, **k):
        boundary["t"] = None
        start = time.perf_counter()
        result = original_step(*a, **k)
        end = time.perf_counter()
        split = boundary["t"] if boundary["t"] is not None else end
        timers.mark("critic updates", split - start)
        timers.mark("generator update", end - split)
        return result

    timers._undo += [(SequenceCritic, "requires_grad_", original_freeze), (fit_gan_module, "gan_step", original_step)]
    SequenceCritic.requires_grad_ = freeze
    fit_gan_module.gan_step = timed_step
    timers.wrap(gan_step_module, "gradient_penalty", "gradient penalty: forward and input gradient")
    timers.wrap(fit_gan_module, "update_average", "moving average of the generator")
    timers.wrap(InMemoryBatches, "next", "batch drawing")
    timers.wrap(fit_gan_module, "check_finite", "divergence check")

    # quality: the per-epoch calls (inside fit_gan) and the final one (in the job), kept apart
    def in_fit():
        return inside["quality"]

    original_fit = job.fit_gan

    def timed_fit(*a, **k):
        inside["quality"] = True
        start = time.perf_counter()
        try:
            return original_fit(*a, **k)
        finally:
            timers.mark("fit_gan", time.perf_counter() - start)
            inside["quality"] = False

    timers._undo.append((job, "fit_gan", original_fit))
    job.fit_gan = timed_fit
    timers.wrap(gan_quality.SequenceQuality, "__call__", "per-epoch quality", in_fit)
    timers.wrap(gan_quality.SequenceQuality, "__call__", "final quality", lambda: not inside["quality"])
    for name, label in (("generate", "sampling the generator"), ("kmer_pearson", "6-mer agreement"),
                        ("box_summary", "-10/-35 boxes"), ("novelty", "novelty (nearest training sequence)"),
                        ("mean_pairwise_distance", "diversity")):
        timers.wrap(gan_quality, name, f"quality: {label}", in_fit)
    timers.wrap(gan_quality.SequenceQuality, "references", "quality: natural ceiling and floor", in_fit)
    timers.wrap(gan_quality.SequenceQuality, "__init__", "set-up: natural references")
    timers.wrap(fit_gan_module, "draw_epoch_samples", "I/O: epoch sample figure")
    timers.wrap(fit_gan_module, "atomic_write_csv", "I/O: history.csv")
    timers.wrap(Checkpoint, "save", "I/O: checkpoint")
    timers.wrap(job, "load_dataset", "set-up: loading the data set")
    timers.wrap(job, "write_gan_report", "report")
    timers.wrap(job, "save_model", "I/O: weights")

    with TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            run = job.train_gan(cfg, out=Path(tmp) / "gan", verbose=args.verbose)
        finally:
            timers.remove()
        command = time.perf_counter() - start
        metrics = run.metrics
        model = run.load_model(args.device)

    s, epochs = timers.seconds, metrics["epochs_run"]
    steps = timers.calls["critic updates"]
    epoch = s["fit_gan"] / epochs
    per_epoch = {k: v / epochs for k, v in s.items()}
    n_critic = cfg.gan.n_critic
    critic = per_epoch["critic updates"]
    settings = {**model_parameters("wgan_seq"), **cfg.model.params}

    def size(module) -> int:  # every weight, trainable or not (the saved generator is the frozen average)
        return sum(p.numel() for p in module.parameters())

    print(f"\npromoter WGAN-GP, channels {settings['channels']}, {n_critic} critic steps, "
          f"{size(model.generator):,} + {size(model.discriminator):,} parameters, "
          f"{steps // epochs} generator steps per epoch, {epochs} epoch(s), {torch.get_num_threads()} thread(s)")

    penalty_share = None
    if args.ablation_steps:
        data = job.prepare_gan_data(job.load_dataset(cfg.data), cfg.gan.holdout, cfg.data.seed)
        with_gp = critic_step_seconds(model, data, cfg.gan, args.device, True, args.ablation_steps)
        without = critic_step_seconds(model, data, cfg.gan, args.device, False, args.ablation_steps)
        penalty_share = max(with_gp - without, 0.0) / with_gp
        print(f"critic update with the gradient penalty {1000 * with_gp:.1f} ms, without {1000 * without:.1f} ms "
              f"(fastest of 3 rounds of {args.ablation_steps}): the penalty is {penalty_share:.0%} of a critic update")

    rows = [("critic updates (generator forward, critic forward/backward, Adam)", critic, 0)]
    if penalty_share is not None:
        rows.append(("of which the gradient penalty (forward, input gradient, its backward)",
                     penalty_share * critic, 1))
    rows.append(("of which the penalty's forward and input gradient (timed directly)",
                 per_epoch["gradient penalty: forward and input gradient"], 1))
    rows += [
        ("generator update (critic forward, backward through both, Adam)", per_epoch["generator update"], 0),
        ("moving average of the generator", per_epoch["moving average of the generator"], 0),
        ("batch drawing", per_epoch["batch drawing"], 0),
        ("divergence check", per_epoch["divergence check"], 0),
        (f"per-epoch quality ({cfg.gan.eval_samples:,} samples)", per_epoch["per-epoch quality"], 0),
    ]
    rows += [(k.removeprefix("quality: "), v, 1) for k, v in per_epoch.items() if k.startswith("quality: ")]
    rows += [(k, v, 0) for k, v in per_epoch.items() if k.startswith("I/O: epoch") or k in
             ("I/O: history.csv", "I/O: checkpoint")]
    accounted = sum(v for label, v, depth in rows if depth == 0)
    rows.append(("rest (fit_gan set-up, schedules, progress, Python between steps)", epoch - accounted, 0))
    table("share of one GAN epoch (fit_gan wall time per epoch)", rows, epoch, "epoch")
    print(f"per-epoch quality: {per_epoch['per-epoch quality'] / epoch:.1%} of the epoch (goal <= 10 %)")
    outside = [
        ("set-up: loading the data set", s["set-up: loading the data set"], 0),
        ("set-up: natural references (boxes, novelty, diversity of held-out)", s["set-up: natural references"], 0),
        ("training epochs (fit_gan)", s["fit_gan"], 0),
        (f"final quality ({cfg.gan.final_samples:,} samples)", s["final quality"], 0),
        ("I/O: weights", s["I/O: weights"], 0),
        ("report", s["report"], 0),
    ]
    outside.append(("rest (run folder, model build, held-out file)", command - sum(v for _, v, _ in outside), 0))
    table("share of the whole command (train_gan, as the CLI calls it)", outside, command, "command")
    if args.ops:
        op_table(model, job, cfg, args)


def op_table(model, job, cfg, args) -> None:
    """torch.profiler's heaviest operators over a few GAN steps (self CPU time)."""
    from torch.profiler import ProfilerActivity, profile

    from synbiolab.train.gan_step import gan_step

    data = job.prepare_gan_data(job.load_dataset(cfg.data), cfg.gan.holdout, cfg.data.seed)
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    d_opt = torch.optim.Adam(model.discriminator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    batches = [(data.train_x[i * 64 : (i + 1) * 64].to(args.device), data.train_y[:64].to(args.device))
               for i in range(cfg.gan.n_critic)]
    model.train()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
    with profile(activities=activities) as prof:
        for _ in range(args.ops):
            gan_step(model.generator, model.discriminator, g_opt, d_opt, batches, loss="wgan-gp",
                     gp_weight=cfg.gan.gp_weight, latent_size=model.latent_size)
    print(f"\nheaviest operators over {args.ops} GAN steps (torch.profiler, self CPU time)")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


# ---------------------------------------------------------------------------------------------------------
# MLP epoch
# ---------------------------------------------------------------------------------------------------------


def profile_mlp(args) -> None:
    job = importlib.import_module("synbiolab.train.job")
    loop = importlib.import_module("synbiolab.train.loop")
    from synbiolab.config import build_config
    from synbiolab.data.batches import InMemoryBatches
    from synbiolab.models import model_parameters
    from synbiolab.models.mlp import MLP
    from synbiolab.train.support import Checkpoint

    options = {"train.epochs": args.mlp_epochs, "train.device": args.device, "train.progress": False,
               "data.data_dir": args.data_dir}
    cfg = build_config("mnist", "mlp", None, options, None)
    timers = Timers(args.device)
    inside = {"fit": False}

    def training():  # forward passes of the loop run with gradients; evaluation runs without
        return inside["fit"] and torch.is_grad_enabled()

    original_fit = job.fit

    def timed_fit(*a, **k):
        inside["fit"] = True
        start = time.perf_counter()
        try:
            return original_fit(*a, **k)
        finally:
            timers.mark("fit", time.perf_counter() - start)
            inside["fit"] = False

    timers._undo.append((job, "fit", original_fit))
    job.fit = timed_fit
    timers.wrap(MLP, "forward", "forward", training)
    timers.wrap(torch.Tensor, "backward", "backward", lambda: inside["fit"])
    optimizer_class = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}[
        cfg.train.optimizer]
    timers.wrap(optimizer_class, "step", "optimizer step", lambda: inside["fit"])
    timers.wrap(optimizer_class, "zero_grad", "zero_grad", lambda: inside["fit"])
    timers.wrap(torch.optim.lr_scheduler.LRScheduler, "step", "schedule", lambda: inside["fit"])
    timers.wrap(InMemoryBatches, "next", "batch drawing")
    timers.wrap(loop, "epoch_row", "per-epoch evaluation (training subsample + validation)")
    timers.wrap(loop, "atomic_write_csv", "I/O: history.csv")
    timers.wrap(Checkpoint, "save", "I/O: checkpoint")
    timers.wrap(loop, "check_finite", "divergence check")
    timers.wrap(job, "load_dataset", "loading MNIST")
    timers.wrap(job, "finish_run", "final evaluation, weights and report")

    with TemporaryDirectory() as tmp:
        start = time.perf_counter()
        try:
            run = job.train(cfg, out=Path(tmp) / "mlp", verbose=args.verbose)
        finally:
            timers.remove()
        command = time.perf_counter() - start
        accuracy, epochs = run.metrics["test"]["accuracy"], run.metrics["epochs_run"]
    s = timers.seconds
    epoch = s["fit"] / epochs
    per_epoch = {k: v / epochs for k, v in s.items()}
    hidden = {**model_parameters("mlp"), **cfg.model.params}["hidden_units"]
    print(f"\nMNIST MLP {hidden}, {cfg.train.optimizer}, batch {cfg.train.batch_size}, {epochs} epoch(s), "
          f"{torch.get_num_threads()} thread(s): test accuracy {accuracy:.4f}")
    rows = [(label, per_epoch[label], 0) for label in
            ("forward", "backward", "optimizer step", "zero_grad", "schedule", "batch drawing", "divergence check",
             "per-epoch evaluation (training subsample + validation)", "I/O: history.csv", "I/O: checkpoint")]
    rows.append(("rest of the loop (loss, progress bar, Python)", epoch - sum(v for _, v, _ in rows), 0))
    table("share of one MLP epoch (fit wall time per epoch)", rows, epoch, "epoch")
    outside = [("loading MNIST", s["loading MNIST"], 0), ("training epochs (fit)", s["fit"], 0),
               ("final evaluation, weights and report", s["final evaluation, weights and report"], 0)]
    table("share of the whole command (train, as the CLI calls it)", outside, command, "command")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="gan,mlp", help="comma-separated: gan, mlp")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=None, help="data folder (default: $SYNBIOLAB_DATA)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--gan-epochs", type=int, default=1)
    parser.add_argument("--channels", type=int, default=0, help="WGAN channels (0: the recipe's)")
    parser.add_argument("--mlp-epochs", type=int, default=1)
    parser.add_argument("--ablation-steps", type=int, default=20, help="critic updates per round (0: skip)")
    parser.add_argument("--ops", type=int, default=0, help="GAN steps under torch.profiler (0: no operator table)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}; shares of an "
          "epoch are comparable across machines, seconds are not (other work shares these cores)")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if "gan" in parts:
        profile_gan(args)
    if "mlp" in parts:
        profile_mlp(args)


if __name__ == "__main__":
    main()
