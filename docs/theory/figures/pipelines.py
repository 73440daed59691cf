"""Figure for theory/pipelines.md: a digit, its gradients, and its HoG cells (hand-crafted features)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from skimage.feature import hog  # noqa: E402

from synbiolab import load_dataset  # noqa: E402


def make(out: Path) -> list[Path]:
    ds = load_dataset("mnist", train_size=100, val_size=100)
    norm = ds.info["normalisation"]
    image = (ds.test.x[0, 0] * norm["std"] + norm["mean"]).numpy()
    gy, gx = np.gradient(image)
    features, picture = hog(image, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), visualize=True)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    axes[0].imshow(image, cmap="gray_r")
    axes[0].set_title(f"a test digit ({int(ds.test.y[0])}), 784 pixels")
    axes[1].imshow(np.hypot(gx, gy), cmap="viridis")
    axes[1].quiver(np.arange(28)[::2], np.arange(28)[::2], gx[::2, ::2], -gy[::2, ::2], color="w", scale=6)
    axes[1].set_title("gradient strength and direction")
    axes[2].imshow(picture, cmap="magma")
    axes[2].set_title(f"HoG, 4x4-pixel cells: {len(features)} numbers")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    path = out / "pipelines_hog.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
