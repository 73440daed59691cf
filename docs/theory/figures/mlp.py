"""Figure for theory/mlp.md: logits, softmax and sigmoid."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def make(out: Path) -> list[Path]:
    logits = torch.tensor([1.0, -0.5, 3.2, 0.3, -2.0, 0.0, 1.5, -1.0, 0.8, 2.1])
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    axes[0].bar(range(10), logits, color="C0")
    axes[0].set_title("10 logits (any real numbers)")
    axes[0].set_xticks(range(10))
    axes[1].bar(range(10), torch.softmax(logits, 0), color="C2")
    axes[1].set_title(f"softmax: positive, sum = {float(torch.softmax(logits, 0).sum()):.3f}")
    axes[1].set_xticks(range(10))
    s = torch.linspace(-6, 6, 200)
    axes[2].plot(s, torch.sigmoid(s), label="sigmoid(s) = P(class 1)")
    axes[2].plot(s, torch.nn.functional.softplus(-s), label="BCE loss if the label is 1")
    axes[2].plot(s, torch.nn.functional.softplus(s), label="BCE loss if the label is 0")
    axes[2].set_ylim(-0.1, 4)
    axes[2].set_xlabel("the one logit s of a binary model")
    axes[2].legend(fontsize=8)
    axes[2].set_title("two classes: one logit and a sigmoid")
    fig.tight_layout()
    path = out / "mlp_softmax_sigmoid.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
