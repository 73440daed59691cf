"""Figure for theory/generalisation.md: three learning curves and the verdicts the rule book gives them."""

from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from synbiolab import RunFacts, TrainConfig, build_model, count_parameters, diagnose_history, fit, load_dataset  # noqa: E402


def make(out: Path) -> list[Path]:
    cases = {"a 2-unit MLP, 800 images": ([2], 800, 0.0), "256 units + dropout, 800 images": ([256], 800, 0.3),
             "1024 units, 60 images": ([1024], 60, 0.0)}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    for ax, (name, (hidden, size, dropout)) in zip(axes, cases.items(), strict=True):
        ds = load_dataset("digits", train_size=size)
        torch.manual_seed(0)
        model = build_model("mlp", ds, hidden_units=hidden, dropout=dropout)
        config = TrainConfig(epochs=40, lr=1e-3, batch_size=32, progress=False)
        history = pd.DataFrame(fit(model, ds, config, verbose=False).history)
        freq = np.bincount(ds.train.y.numpy(), minlength=10) / len(ds.train)
        facts = RunFacts(task=ds.task, data_kind=ds.kind, majority_error=ds.majority_error(),
                         baseline_loss=float(-(freq[freq > 0] * np.log(freq[freq > 0])).sum()), n_classes=10,
                         n_parameters=count_parameters(model), n_train=len(ds.train), model_name="mlp",
                         model_params={"hidden_units": hidden, "dropout": dropout}, train=asdict(config),
                         best_weights_restored=True)
        verdict = diagnose_history(history, facts).verdict
        ax.plot(history.epoch, history.train_error, label="training error")
        ax.plot(history.epoch, history.val_error, label="validation error")
        ax.fill_between(history.epoch, history.train_error, history.val_error, color="C3", alpha=0.15, label="gap")
        ax.set_title(f"{name}\ndiagnose: {verdict}", fontsize=9)
        ax.set_xlabel("epoch")
    axes[0].set_ylabel("error")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = out / "generalisation_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
