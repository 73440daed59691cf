"""Figure for theory/rnn.md: an image read row by row, and sequences of different lengths with their mask."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from synbiolab import load_dataset, one_hot  # noqa: E402


def make(out: Path) -> list[Path]:
    ds = load_dataset("mnist", train_size=100, val_size=100)
    digit = ds.test.x[0, 0].numpy()
    sequences = ["ACGTTGCA", "TTGACA", "TATAATGCGC", "GGA"]
    x, mask = one_hot(sequences)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3), gridspec_kw={"width_ratios": [1, 2.2, 1.4]})
    axes[0].imshow(digit, cmap="gray_r")
    axes[0].set_title("a digit")
    axes[0].axis("off")
    axes[1].imshow(digit.T, cmap="gray_r", aspect="auto")
    axes[1].set_xlabel("time step t = row of the image")
    axes[1].set_ylabel("x_t: 28 pixels")
    axes[1].set_title("read as 28 steps of 28 inputs")
    axes[2].imshow(mask, cmap="Greens", vmin=0, vmax=1.4, aspect="auto")
    for i, s in enumerate(sequences):
        for t in range(x.shape[2]):
            axes[2].text(t, i, s[t] if t < len(s) else "pad", ha="center", va="center", fontsize=7)
    axes[2].set_yticks(range(len(sequences)))
    axes[2].set_yticklabels([f"length {len(s)}" for s in sequences])
    axes[2].set_xlabel("position")
    axes[2].set_title(f"padded to {x.shape[2]}; green: the mask of real steps")
    fig.tight_layout()
    path = out / "rnn_sequences.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    assert np.array_equal(mask.sum(1), [len(s) for s in sequences])
    return [path]
