"""Foundation benchmark: MNIST accuracy of the default recipes, speed against the classic PyTorch recipe,
the CNN epoch against its arithmetic, loop overhead against a bare loop, and peak memory. Prints numbers and
ratios measured in this one run; nothing here is asserted (these machines are noisy).

Ratios against the classic recipe (../shared/bench/classic_mnist.py, four epochs, run in this same process
tree) are the comparable numbers; seconds alone depend on what else the machine runs. Cost is also given as
epochs x training FLOPs per example (counted by torch's FlopCounterMode over a forward and backward pass:
matrix products and convolutions only), which does not depend on the machine at all.

Usage: python bench/foundation.py [--device cpu|cuda] [--quick] [--threads N] [--reference PATH/classic_mnist.py]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from synbiolab import build_model, default_config, load_dataset, train
from synbiolab.data.batches import InMemoryBatches


def line(text: str) -> None:
    print(text, flush=True)


def recipe_run(data, model: str, device: str, out: Path, epochs: int | None = None):
    """The model's default recipe; with `epochs`, the short recipe: that many epochs, no augmentation."""
    cfg = default_config("mnist", model)
    cfg.train.device = device
    cfg.train.progress = False
    if epochs is not None:
        cfg.train.epochs = epochs
        cfg.train.augment = "none"
    run = train(cfg, out=out, verbose=False, dataset=data)
    m = run.metrics
    return m["test"]["accuracy"], m["train_seconds"], cfg.train.epochs, run


def time_to_99(data, device: str, tmp: Path):
    """The default CNN with the shortest one-cycle recipe (1, 2, 3 epochs, no augmentation) that reaches 99.0 %."""
    for epochs in (1, 2, 3):
        acc, seconds, _, _ = recipe_run(data, "cnn", device, tmp / f"cnn-{epochs}ep", epochs)
        line(f"  cnn, {epochs} epoch(s): test accuracy {acc:.2%} in {seconds:.1f} s of training")
        if acc >= 0.99:
            return seconds, epochs
    return None, None


def classic_reference(script: Path, mnist_dir: Path, device: str) -> list[tuple[float, float]] | None:
    """Run the classic recipe for 4 epochs: (test accuracy %, elapsed seconds) after each epoch."""
    # the same number of threads as this process, so that the ratio compares recipes rather than thread counts
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.run([sys.executable, str(script), str(mnist_dir), "4", device], capture_output=True, text=True,
                          env=env)
    if proc.returncode != 0:
        line(f"  reference failed: {proc.stderr.strip().splitlines()[-1]}")
        return None
    epochs = [(float(a), float(s)) for a, s in re.findall(r"test_acc ([\d.]+)% elapsed ([\d.]+)s", proc.stdout)]
    for i, (acc, seconds) in enumerate(epochs, 1):
        line(f"  classic recipe epoch {i}: test accuracy {acc:.2f}% at {seconds:.1f} s")
    return epochs or None


def training_flops(model_name: str, data, batch: int = 64, **params) -> tuple[float, float]:
    """(training, forward) FLOPs per example of a model: one forward and backward pass, one forward pass.

    FlopCounterMode counts matrix products and convolutions (2 FLOPs per multiply-add), which carry nearly all
    the arithmetic; batch norm, activations, pooling and the optimizer are left out.
    """
    torch.manual_seed(0)
    model = build_model(model_name, data, **params).train()
    x, y = data.train.x[:batch], data.train.y[:batch]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    train_flops = counter.get_total_flops() / batch
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return train_flops, counter.get_total_flops() / batch


def matmul_gflops(device: str, size: int = 1024, repeats: int = 20) -> float:
    """The machine's float32 matrix-product speed right now: the best of 5 rounds of size x size products."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    (a @ b).sum().item()  # warm-up (thread pool, kernels)
    best = float("inf")
    for _ in range(5):
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            c = a @ b
        sync()
        best = min(best, (time.perf_counter() - start) / repeats)
    del c
    return 2 * size**3 / best / 1e9


def bare_loop_seconds(data, device: str, epochs: int = 1) -> float:
    """The same CNN, data, batch size and optimiser in a loop with nothing around the four steps."""
    cfg = default_config("mnist", "cnn")
    torch.manual_seed(0)
    model = build_model("cnn", data).to(device).to(memory_format=torch.channels_last)
    x = data.train.x.to(device).contiguous(memory_format=torch.channels_last)
    batches = InMemoryBatches(x, data.train.y.to(device), cfg.train.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, cfg.train.lr, total_steps=batches.steps_per_epoch * epochs, pct_start=0.25, cycle_momentum=False
    )
    model.train()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(batches.steps_per_epoch * epochs):
        xb, yb = batches.next()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    sync()
    return (time.perf_counter() - t0) / epochs


def interleaved_efficiency(data, device: str, flops_per_example: float, rounds: int = 7, steps: int = 10) -> tuple:
    """Training steps of the default CNN and matrix products, timed in alternation; the median of their ratios.

    On a machine whose load changes from second to second, a matrix-product speed measured before an epoch need
    not hold during it; alternating short windows compares the two under the same load.

    Returns:
        (median achieved GFLOP/s of the CNN steps, median matrix-product GFLOP/s, median ratio).
    """
    cfg = default_config("mnist", "cnn")
    torch.manual_seed(0)
    model = build_model("cnn", data).to(device).to(memory_format=torch.channels_last).train()
    batch = cfg.train.batch_size
    x = data.train.x[:batch].to(device).contiguous(memory_format=torch.channels_last)
    y = data.train.y[:batch].to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def train_steps() -> float:
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync()
        return steps * batch * flops_per_example / (time.perf_counter() - start) / 1e9

    train_steps()  # warm-up: kernels chosen, buffers allocated
    cnn, matmul = [], []
    for _ in range(rounds):
        cnn.append(train_steps())
        matmul.append(matmul_gflops(device, repeats=5))
    ratios = sorted(c / m for c, m in zip(cnn, matmul, strict=True))
    return sorted(cnn)[rounds // 2], sorted(matmul)[rounds // 2], ratios[rounds // 2]


def peak_rss_of_cli(out: Path, device: str) -> float:
    """Peak resident memory (GB) of `synbiolab train --data mnist --model cnn` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run([sys.executable, "-m", "synbiolab", "train", "--data", "mnist", "--model", "cnn", "--epochs", "1",
                    "--device", device, "--out", str(out), "-q"], check=True, capture_output=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak_kb, before) / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="skip the full-recipe accuracy runs")
    parser.add_argument("--accuracy-only", action="store_true", help="only the full-recipe accuracy runs")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--reference", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" /
                        "bench" / "classic_mnist.py")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset("mnist")
    mnist_dir = Path(os.environ.get("SYNBIOLAB_DATA", "")) / "mnist"
    if args.device == "cuda":
        line(f"device: {torch.cuda.get_device_name(0)}")
    else:
        line(f"device: cpu, {torch.get_num_threads()} threads, torch {torch.__version__}")
    with TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        have_reference = args.reference.is_file() and mnist_dir.is_dir()
        reference = classic_reference(args.reference, mnist_dir, args.device) if have_reference else None
        if reference is None:
            line(f"reference {args.reference} or MNIST folder not found: ratios not measured")
        four_epochs = reference[-1][1] if reference else None
        mlp_flops, _ = training_flops("mlp", data, **default_config("mnist", "mlp").model.params)
        cnn_flops, cnn_forward = training_flops("cnn", data)
        if not args.quick:
            line("== accuracy of the default recipes (MNIST test split, 10,000 images)")
            for model, goal, flops in (("mlp", 0.984, mlp_flops), ("cnn", 0.993, cnn_flops)):
                acc, seconds, epochs, _ = recipe_run(data, model, args.device, tmp / model)
                line(f"{model}: test accuracy {acc:.2%} after {epochs} epochs, {seconds:.1f} s of training, "
                     f"{epochs} epochs x {flops / 1e6:.2f} MFLOP per training example "
                     f"(goal >= {goal:.1%}: {'met' if acc >= goal else 'NOT met'})")
                if model == "mlp" and four_epochs is not None:
                    line(f"speed ratio: classic recipe's 4 epochs {four_epochs:.1f} s / mlp {seconds:.1f} s = "
                         f"{four_epochs / seconds:.2f} (goal >= 2)")

        if args.accuracy_only:
            return
        line("== time to 99.0 % test accuracy, default CNN")
        ours, epochs = time_to_99(data, args.device, tmp)
        if ours is not None and reference is not None:
            hit = [seconds for acc, seconds in reference if acc >= 99.0]
            line(f"speed ratio: classic recipe's 4 epochs {four_epochs:.1f} s / synbiolab cnn {ours:.1f} s "
                 f"({epochs} epochs) = {four_epochs / ours:.1f}x (goal >= 15x)")
            if hit:
                line(f"  (to the classic recipe's own 99.0 % at {hit[0]:.1f} s: {hit[0] / ours:.1f}x)")

        line("== the CNN epoch against its arithmetic (one epoch of the short recipe)")
        before = matmul_gflops(args.device)
        _, trainer, _, run = recipe_run(data, "cnn", args.device, tmp / "overhead", 1)
        after = matmul_gflops(args.device)
        peak = max(before, after)  # the less disturbed of the two measurements
        n_train = run.metrics["n_train"]
        epoch_gflop = n_train * cnn_flops / 1e9
        line(f"cnn: {cnn_flops / 1e6:.1f} MFLOP per training example (forward {cnn_forward / 1e6:.1f}, so training "
             f"is {cnn_flops / cnn_forward:.2f}x the forward pass), {n_train:,} examples: {epoch_gflop:.0f} GFLOP "
             f"per epoch")
        line(f"matrix product {torch.get_num_threads()} thread(s): {before:.1f} GFLOP/s before the epoch, "
             f"{after:.1f} after")
        line(f"epoch {trainer:.2f} s = {epoch_gflop / trainer:.1f} GFLOP/s = {epoch_gflop / trainer / peak:.0%} of the "
             f"matrix-product speed; the arithmetic alone at that speed would take {epoch_gflop / peak:.2f} s")
        steps_speed, matmul_speed, ratio = interleaved_efficiency(data, args.device, cnn_flops)
        line(f"cnn training steps and matrix products in alternation (median of 7 rounds): {steps_speed:.1f} against "
             f"{matmul_speed:.1f} GFLOP/s = {ratio:.0%}")

        line("== loop overhead: trainer vs a bare loop, 1 epoch each, same model/data/batch/optimiser")
        bare = bare_loop_seconds(data, args.device)
        overhead = 100 * (trainer / bare - 1)
        line(f"bare loop {bare:.2f} s/epoch, trainer {trainer:.2f} s/epoch: "
             f"overhead {overhead:+.1f} % (goal within 3 %)")

        line("== peak memory")
        line(f"synbiolab train --data mnist --model cnn: peak RSS {peak_rss_of_cli(tmp / 'rss', args.device):.2f} GB "
             "(goal <= 1.5 GB)")


if __name__ == "__main__":
    main()
