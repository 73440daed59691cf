"""Figures for theory/cnn.md: convolution of a digit with two edge filters; a PWM scanned along a promoter."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from synbiolab import build_model, load_dataset, one_hot  # noqa: E402


def receptive_fields(model) -> list[tuple[str, int]]:
    """The receptive field after each convolution and pooling of a model, read from its layers."""
    size, jump, out = 1, 1, []
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d | torch.nn.MaxPool2d):
            k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            size, jump = size + (k - 1) * jump, jump * s
            out.append((f"{len(out) + 1}. {type(layer).__name__.replace('2d', '').lower()} {k}x{k}", size))
    return out


def make(out: Path) -> list[Path]:
    ds = load_dataset("mnist", train_size=100, val_size=100)
    digit = ds.test.x[:1]  # (1, 1, 28, 28)
    vertical = torch.tensor([[[[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]]])
    horizontal = vertical.transpose(2, 3)
    fig, axes = plt.subplots(1, 5, figsize=(13, 2.9))
    axes[0].imshow(digit[0, 0], cmap="gray_r")
    axes[0].set_title("input 28x28")
    for ax, (name, w) in zip(axes[1:3], (("vertical edges", vertical), ("horizontal edges", horizontal)), strict=True):
        ax.imshow(F.conv2d(digit, w, padding=1)[0, 0], cmap="RdBu_r")
        ax.set_title(f"3x3 filter: {name}\n(padding 1: 28x28)")
    pooled = F.max_pool2d(F.relu(F.conv2d(digit, vertical, padding=1)), 2)
    axes[3].imshow(pooled[0, 0], cmap="viridis")
    axes[3].set_title("ReLU + 2x2 max-pool: 14x14")
    fields = receptive_fields(build_model("cnn", ds))
    axes[4].barh([name for name, _ in fields][::-1], [size for _, size in fields][::-1], color="C0")
    axes[4].set_title("receptive field (pixels)\nof the project's CNN")
    for ax in axes[:4]:
        ax.axis("off")
    fig.tight_layout()
    first = out / "cnn_convolution.png"
    fig.savefig(first, dpi=110)
    plt.close(fig)

    # A first-layer filter as a position weight matrix: log-odds of the -10 box consensus, scanned along
    # a promoter by 1-D convolution over its one-hot letters.
    promoter = "TTGACAATTAATCATCGGCTCGTATAATGTGTGGAATTGTGAGCGGATAACAATT"  # a tac-like promoter
    x, _ = one_hot([promoter])
    ppm = np.full((4, 6), 0.1)
    for j, base in enumerate("TATAAT"):
        ppm["ACGT".index(base), j] = 0.7
    pwm = torch.tensor(np.log2(ppm / 0.25), dtype=torch.float32)[None]  # (1, 4, 6) log-odds against 1/4
    scores = F.conv1d(torch.from_numpy(x), pwm)[0, 0].numpy()  # (L - 5,)
    fig, axes = plt.subplots(1, 2, figsize=(12, 2.8), gridspec_kw={"width_ratios": [1, 3]})
    axes[0].imshow(pwm[0], cmap="RdBu_r", vmin=-2, vmax=2)
    axes[0].set_yticks(range(4))
    axes[0].set_yticklabels(list("ACGT"))
    axes[0].set_xticks(range(6))
    axes[0].set_xticklabels(list("TATAAT"))
    axes[0].set_title("a 4x6 filter = PWM of TATAAT\n(log2 odds against 1/4)")
    axes[1].bar(np.arange(len(scores)), scores, color=["C3" if s == scores.max() else "C0" for s in scores])
    best = int(scores.argmax())
    axes[1].set_title(f"the filter slid along a promoter: best window {promoter[best:best + 6]} at {best + 1}")
    axes[1].set_xlabel("start position of the 6-nt window")
    axes[1].set_ylabel("score (bits)")
    fig.tight_layout()
    second = out / "cnn_pwm_scan.png"
    fig.savefig(second, dpi=110)
    plt.close(fig)
    return [first, second]
