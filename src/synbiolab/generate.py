"""Drawing from a trained GAN: load it from its run folder, generate, picture and sample.

``sample`` is what ``synbiolab sample`` runs: a PNG grid of images or a FASTA file of sequences.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data.generative import GanData
from .errors import SynbiolabError
from .evaluate.genmetrics import as_index_array, index_to_strings
from .io import atomic_write_bytes, atomic_write_text
from .runs import PROJECT_ENTRIES, check_model_spec, load_model_from, open_run, subfolder

# The most samples one `synbiolab sample` draws: a grid of 10,000 digits is already a 40-megapixel picture.
MAX_SAMPLES = {"image": 10_000, "sequence": 1_000_000}


def balanced_labels(n: int, n_classes: int) -> torch.Tensor:
    """0, 1, ..., C-1, 0, 1, ... : n labels with every class equally often (up to one)."""
    return torch.arange(n) % max(n_classes, 1)


@torch.no_grad()
def generate(
    model: nn.Module,
    n: int,
    labels: torch.Tensor | None = None,
    seed: int | None = 0,
    batch_size: int = 1000,
    latent: torch.Tensor | None = None,
) -> torch.Tensor:
    """Draw n samples from a GAN's generator in evaluation mode (batch norm uses its running statistics).

    Args:
        model: a DCGAN or SequenceWGAN pair.
        n: number of samples.
        labels: (n,) classes for a conditional generator (default: balanced over the classes).
        seed: seed of the latent vectors (None: the global generator).
        batch_size: samples generated at once.
        latent: (n, latent_size) latent vectors to use instead of random ones.

    Returns:
        (n, ...) samples on the CPU: images in [-1, 1], or base probabilities (n, 4, L).
    """
    device = next(model.parameters()).device
    if latent is None:
        rng = torch.Generator().manual_seed(seed) if seed is not None else None
        latent = torch.randn(n, model.latent_size, generator=rng)
    if model.n_classes and labels is None:
        labels = balanced_labels(n, model.n_classes)
    was_training = model.training
    model.eval()
    chunks = []
    for start in range(0, n, batch_size):
        z = latent[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device) if model.n_classes else None
        chunks.append(model.generator(z, y).float().cpu())
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.zeros(0)


def hard_one_hot(soft: torch.Tensor) -> torch.Tensor:
    """(N, 4, L) base probabilities -> one-hot of the most probable base."""
    return F.one_hot(soft.argmax(1), soft.shape[1]).permute(0, 2, 1).float()  # (N, L, 4) -> (N, 4, L)


def image_grid(images: torch.Tensor, columns: int = 8, pixel_size: int | None = None, gap: int = 2):
    """A PIL image of a grid of generated images.

    Args:
        images: (N, 1, H, W) images in [-1, 1].
        columns: images per row.
        pixel_size: screen pixels per image pixel (default: enough for about 56 pixels per image).
        gap: pixels between images.

    Returns:
        A grey-scale PIL.Image.
    """
    from PIL import Image

    n, _, height, width = images.shape
    pixel_size = pixel_size or max(1, 56 // height)
    rows = math.ceil(n / columns)
    cell_h, cell_w = height * pixel_size + gap, width * pixel_size + gap
    canvas = np.full((rows * cell_h + gap, columns * cell_w + gap), 255, dtype=np.uint8)
    pixels = ((images[:, 0].clamp(-1, 1) + 1) / 2 * 255).round().byte().numpy()
    pixels = 255 - pixels  # dark strokes on white paper
    for index in range(n):
        row, column = divmod(index, columns)
        big = np.kron(pixels[index], np.ones((pixel_size, pixel_size), dtype=np.uint8))
        top, left = gap + row * cell_h, gap + column * cell_w
        canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    return Image.fromarray(canvas, mode="L")


def save_png(image, path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def draw_epoch_samples(model, data: GanData, latent, labels, run_dir, epoch: int) -> None:
    """Draw the fixed latent vectors after an epoch: figures/samples_epoch_NNN.png, or sequences as text."""
    samples = generate(model, len(latent), labels, latent=latent)

    figures = subfolder(run_dir, "figures")
    if data.kind == "image":
        columns = model.n_classes or 8
        save_png(image_grid(samples, columns), figures / f"samples_epoch_{epoch:03d}.png")
        return

    path = figures / "samples_over_epochs.txt"
    previous = path.read_text() if path.is_file() and epoch > 1 else ""
    lines = index_to_strings(as_index_array(samples[:8]))
    atomic_write_text(path, previous + f"# epoch {epoch}\n" + "\n".join(lines) + "\n")


def interpolate_latent(model, steps: int = 10, pairs: int = 6, seed: int = 0, labels=None) -> torch.Tensor:
    """Samples along straight lines between pairs of latent vectors: (pairs * steps, ...) in row order.

    Args:
        model: a GAN pair.
        steps: points on each line, both ends included.
        pairs: number of lines.
        seed: seed of the end points.
        labels: for a conditional generator, the class of each line (default 0, 1, 2, ...).

    Returns:
        The generated samples, one line after the other.
    """
    rng = torch.Generator().manual_seed(seed)
    start, end = (
        torch.randn(pairs, model.latent_size, generator=rng),
        torch.randn(pairs, model.latent_size, generator=rng),
    )
    weight = torch.linspace(0, 1, steps)[None, :, None]  # (1, steps, 1)
    latent = (start[:, None] * (1 - weight) + end[:, None] * weight).reshape(pairs * steps, -1)
    line_labels = None
    if model.n_classes:
        labels = balanced_labels(pairs, model.n_classes) if labels is None else torch.as_tensor(labels)
        line_labels = labels.repeat_interleave(steps)
    return generate(model, len(latent), line_labels, latent=latent)


def is_gan_run(run) -> bool:
    """Whether a run folder was written by ``train_gan``."""
    return "gan" in run.raw_config


def open_gan_run(path):
    """The Run of a GAN, or one clear error naming what the folder is instead."""
    return open_run(path, expect="gan")


def load_gan(run, device: str = "cpu") -> nn.Module:
    """Rebuild a GAN pair from its run folder (model.json + model.safetensors); ``model.spec`` holds model.json."""
    if not (run.path / "model.safetensors").is_file():
        raise SynbiolabError(f"{run.path}: the GAN has no saved weights yet (did `synbiolab gan` finish?)")
    spec_path = run.path / "model.json"
    spec = check_model_spec(run.model_spec, spec_path, keys=("data_kind",))
    if spec["data_kind"] not in ("image", "sequence"):
        raise SynbiolabError(f"{spec_path}: damaged model description (data_kind {spec['data_kind']!r} is neither "
                             "image nor sequence); retrain the run")
    model = load_model_from(run.path, device)
    model.spec = spec
    return model


def to_strings(one_hot: torch.Tensor) -> list[str]:
    """One-hot (or soft) sequences (N, 4, L) as strings of the most likely letters."""
    return index_to_strings(as_index_array(one_hot))


def sample(run_path, n: int = 64, digit: int | None = None, out=None, seed: int = 0, columns: int = 8,
           overwrite: bool = False):
    """Draw samples from a GAN run: a PNG grid of images, or a FASTA file of sequences.

    Args:
        run_path: a GAN run folder.
        n: number of samples.
        digit: for a class-conditional image GAN, the class to draw (default: all classes in turn).
        out: the output file (default ``samples.png`` / ``samples.fasta`` in the run folder).
        seed: seed of the latent vectors.
        columns: images per row of the grid.
        overwrite: replace `out` when it exists (never needed for the default file in the run folder).

    Returns:
        The path written.
    """
    run = open_gan_run(run_path)
    model = load_gan(run)
    limit = MAX_SAMPLES[model.spec["data_kind"]]
    if not 1 <= n <= limit:
        raise SynbiolabError(f"--n {n}: draw 1 to {limit:,} {model.spec['data_kind']} samples at a time")
    if not 0 <= seed < 2**32:
        raise SynbiolabError(f"--seed {seed}: out of range; valid: 0 to {2**32 - 1:,}")
    if columns < 1:
        raise SynbiolabError(f"columns={columns}: a grid needs at least 1 column")
    labels = None
    if digit is not None:
        if not model.n_classes:
            raise SynbiolabError(
                f"--digit {digit}: {run.path} is an unconditional GAN; train with --conditional to pick one"
            )
        names = [str(c) for c in model.spec.get("class_names") or range(model.n_classes)]
        if str(digit) not in names:
            raise SynbiolabError(f"--digit {digit}: not a class of this GAN; valid: {', '.join(names)}")
        labels = torch.full((n,), names.index(str(digit)), dtype=torch.long)
    if out is not None:
        out = Path(out)
        if out.is_dir():
            raise SynbiolabError(f"--out {out}: is a folder; give a file name such as {out / 'samples.png'}")
        if out.exists() and not overwrite:
            raise SynbiolabError(f"--out {out}: file exists; choose another name or pass --overwrite")
        if out.is_symlink():
            raise SynbiolabError(f"--out {out}: is a symbolic link; give a real file name")
        own = PROJECT_ENTRIES - {"samples.png", "samples.fasta"}
        if out.resolve().parent == run.path.resolve() and out.name in own:
            raise SynbiolabError(f"--out {out}: is one of the run's own files; choose another name")
    samples = generate(model, n, labels, seed=seed)
    if model.spec["data_kind"] == "image":
        path = Path(out) if out else run.path / "samples.png"
        save_png(image_grid(samples, columns), path)
        return path
    path = Path(out) if out else run.path / "samples.fasta"
    records = [f">sample_{i + 1}\n{s}" for i, s in enumerate(to_strings(samples))]
    atomic_write_text(path, "\n".join(records) + "\n")
    return path
