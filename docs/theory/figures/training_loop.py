"""Figures for theory/training_loop.md: SGD, momentum and Adam on the same model; schedules of the rate."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from synbiolab import TrainConfig, build_model, fit, load_dataset  # noqa: E402


def make(out: Path) -> list[Path]:
    ds = load_dataset("digits")  # scikit-learn's 8x8 digits: bundled, and a second per run
    runs = {"SGD, lr 0.05": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.0},
            "SGD + momentum 0.9, lr 0.05": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9},
            "Adam, lr 1e-3": {"optimizer": "adam", "lr": 1e-3}}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, settings in runs.items():
        torch.manual_seed(0)
        model = build_model("mlp", ds, hidden_units=[64], dropout=0.0)
        result = fit(model, ds, TrainConfig(epochs=30, batch_size=32, progress=False, **settings), verbose=False)
        axes[0].plot([r["epoch"] for r in result.history], [r["train_loss"] for r in result.history], label=name)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("training loss (cross-entropy)")
    axes[0].set_title("One MLP on the 8x8 digits, three optimisers")
    axes[0].legend(fontsize=8)
    for schedule in ("none", "cosine", "onecycle"):
        torch.manual_seed(0)
        model = build_model("mlp", ds, hidden_units=[16], dropout=0.0)
        result = fit(model, ds, TrainConfig(epochs=20, lr=1e-3, schedule=schedule, progress=False), verbose=False)
        axes[1].plot([r["epoch"] for r in result.history], [r["lr"] for r in result.history], "o-", ms=3,
                     label=schedule)
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("learning rate at the end of the epoch")
    axes[1].set_title("train.schedule: none, cosine, onecycle")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = out / "training_loop_optimisers.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
