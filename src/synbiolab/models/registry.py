"""The model registry: every model by name, GANs too, with its recipe, its parameters and its capacity keys.

Each model is one ``nn.Module`` per file. Classifiers and regressors are built as
``Model(input_shape, n_outputs, **params)`` (``n_outputs``: the width of the output layer), GANs as
``Model(input_shape, n_classes=..., **params)`` where the constructor takes a number of classes (the DCGAN,
when conditional; the sequence WGAN is unconditional and takes none). The registry adds the training recipe
that suits each model (the ``TrainConfig`` defaults a user starts from), for a GAN also its ``GanConfig``
defaults, and the names of the parameters that set its capacity (which ``diagnose`` scales when a model
underfits or overfits). ``model_parameters`` reads a model's keyword arguments from its constructor, so a
``--set model.KEY`` is checked against the code rather than a second list.

One name means one thing in every model:

- ``hidden_units``: the widths of the MLP's hidden layers, a list (``[]``: logistic or linear regression).
- ``head_units``: the widths of the fully connected hidden layers of the head that follows convolutions or a
  recurrent layer (cnn, cnn1d, cnn_rnn), a list; ``[]`` for none.
- ``hidden_size``: the recurrent state size of each direction, as ``torch.nn.LSTM`` calls it (rnn, cnn_rnn).
- ``channels``: always a list, the filters of each convolution layer (cnn, cnn1d, cnn_rnn); for the
  sequence WGAN, which has no list of layers, the one width of its residual blocks.
- ``n_outputs``: the output width of a classifier or regressor; ``n_classes``: a GAN's number of classes.
- ``members``: every classifier and regressor takes it (not a constructor argument of its own): K > 1 builds
  a deep ensemble of K copies (``models/ensemble.py``) whose prediction is the mean of their outputs.

Names of older versions (``hidden_units`` of cnn, cnn1d, rnn and cnn_rnn) are read as today's by
``config.RENAMED_MODEL_KEYS``, so old configs and run folders still load.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import SynbiolabError
from .cnn import CNN
from .cnn1d import CNN1d
from .cnn_rnn import CNNRNN
from .ensemble import Ensemble
from .gan import DCGAN
from .mlp import MLP
from .rnn import RNN
from .wgan_seq import SequenceWGAN


@dataclass
class ModelEntry:
    cls: type[nn.Module]
    recipe: dict[str, Any] = field(default_factory=dict)  # TrainConfig defaults for this model
    kinds: tuple[str, ...] = ("image",)  # data kinds the model accepts ("gan": trained by `synbiolab gan`)
    summary: str = ""
    capacity_keys: tuple[str, ...] = ()  # constructor arguments that set the model's size
    gan_recipe: dict[str, Any] = field(default_factory=dict)  # GanConfig defaults (GANs only)
    generates: str | None = None  # the data kind a GAN generates: "image" or "sequence"


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, cls, recipe=None, kinds=("image",), summary: str = "", capacity_keys=(),
                   gan_recipe=None, generates: str | None = None) -> None:
    """Make a model buildable by name, with its default training recipe."""
    MODELS[name] = ModelEntry(cls, dict(recipe or {}), tuple(kinds), summary, tuple(capacity_keys),
                              dict(gan_recipe or {}), generates)


def get_model_class(name: str):
    if name not in MODELS:
        raise SynbiolabError(f"unknown model '{name}'; valid: {', '.join(MODELS)}")
    return MODELS[name].cls


def is_gan(name: str) -> bool:
    return name in MODELS and "gan" in MODELS[name].kinds


def model_parameters(name: str) -> dict[str, Any]:
    """The keyword arguments (with defaults) of a registered model's constructor; for a classifier or regressor
    also ``members`` (1: the model alone; K > 1: a deep ensemble of K copies)."""
    sig = inspect.signature(get_model_class(name).__init__)
    params = {
        k: p.default
        for k, p in sig.parameters.items()
        if k not in ("self", "input_shape", "n_outputs", "n_classes") and p.default is not inspect.Parameter.empty
    }
    return params if is_gan(name) else {**params, "members": 1}


def build_model(name: str, dataset=None, input_shape=None, n_outputs=None, n_classes=None, **params) -> nn.Module:
    """Build a registered model sized for `dataset` (or for explicit input_shape and n_outputs / n_classes).

    Args:
        name: a registered model name (``mlp``, ``cnn``, ..., ``dcgan``, ``wgan_seq``).
        dataset: a Dataset; gives input_shape and n_outputs (classifiers and regressors only).
        input_shape: the shape of one example, when no dataset is given.
        n_outputs: the output width of a classifier or regressor, when no dataset is given. For a GAN it is the
            older spelling of `n_classes` (read as that by the DCGAN, ignored by the unconditional WGAN).
        n_classes: a GAN's number of classes (used by a conditional DCGAN; the sequence WGAN takes none).
        **params: the model's constructor keyword arguments, and for a classifier or regressor ``members``
            (K > 1: an ``Ensemble`` of K copies, each with its own random initial weights).
    """
    cls = get_model_class(name)
    entry = MODELS[name]
    if dataset is not None:
        if "gan" in entry.kinds:
            raise SynbiolabError(f"model '{name}' is a GAN: train it with `synbiolab gan --model {name}`")
        if dataset.kind not in entry.kinds:
            raise SynbiolabError(
                f"model '{name}' does not take {dataset.kind} data ('{dataset.name}'); models for {dataset.kind} "
                f"data: {', '.join(n for n, e in MODELS.items() if dataset.kind in e.kinds)}"
            )
        input_shape, n_outputs = dataset.input_shape, dataset.n_outputs
    valid = model_parameters(name)
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise SynbiolabError(f"model '{name}' has no parameter '{unknown[0]}'; valid: {', '.join(valid)}")
    if "gan" in entry.kinds:
        return cls(input_shape=tuple(input_shape), **_gan_classes(name, cls, n_outputs, n_classes), **params)
    if n_classes is not None:
        raise SynbiolabError(f"model '{name}' is not a GAN: give its output width as n_outputs, not n_classes")
    members = params.pop("members", 1)
    if isinstance(members, bool) or not isinstance(members, int) or members < 1:
        raise SynbiolabError(f"model.members must be a whole number >= 1 (1: one model), got {members!r}")
    built = [cls(input_shape=tuple(input_shape), n_outputs=int(n_outputs), **params) for _ in range(members)]
    return built[0] if members == 1 else Ensemble(built)


def _gan_classes(name: str, cls, n_outputs, n_classes) -> dict[str, int]:
    """The class argument of a GAN's constructor: ``{"n_classes": n}`` where it takes one, else nothing."""
    takes_classes = "n_classes" in inspect.signature(cls.__init__).parameters
    if n_classes is None:
        # n_outputs is the older spelling: the DCGAN's number of classes, and unused by the sequence WGAN
        n_classes = n_outputs if takes_classes else None
    elif n_outputs is not None and int(n_outputs) != int(n_classes) and takes_classes:
        raise SynbiolabError(f"model '{name}': n_classes={n_classes} and n_outputs={n_outputs} (its older "
                             "spelling) disagree; give n_classes only")
    if not takes_classes:
        if n_classes:
            raise SynbiolabError(f"model '{name}' is unconditional: n_classes must be 0, got {n_classes}")
        return {}
    return {} if n_classes is None else {"n_classes": int(n_classes)}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- the models and their recipes

# The MNIST recipe, seed 0, chosen on validation accuracy (test accuracy in brackets): the old 20 epochs gave
# (98.39 %); 6 epochs 98.34 % (98.59 %); with label smoothing 0.1, 3 / 4 / 5 epochs 98.30 % (98.39 %) /
# 98.32 % (98.53 %) / 98.54 % (98.72 %); [512, 512] for 10 epochs 98.28 % (98.43 %). Five epochs of the same
# network cost a quarter of the old recipe's training time (epochs x FLOPs, and wall time alike).
register_model(
    "mlp",
    MLP,
    recipe={"epochs": 5, "batch_size": 128, "lr": 1e-3, "optimizer": "adamw", "schedule": "onecycle",
            "weight_decay": 1e-4, "label_smoothing": 0.1},
    kinds=("image", "sequence"),
    summary="multilayer perceptron on the flattened input",
    capacity_keys=("hidden_units",),
)
register_model(
    "cnn",
    CNN,
    recipe={"epochs": 8, "batch_size": 128, "lr": 3e-3, "optimizer": "adamw", "schedule": "onecycle",
            "weight_decay": 5e-4, "augment": "shift_rotate"},
    kinds=("image",),
    summary="conv-BN-ReLU-pool blocks, dropout, linear head",
    capacity_keys=("channels", "head_units"),
)

# Sequence models (one-hot DNA (B, 4, L)); the rnn also reads images row by row (sequential MNIST).
SEQUENCE_RECIPE = {"epochs": 15, "batch_size": 64, "lr": 3e-3, "optimizer": "adamw", "schedule": "onecycle"}
register_model("cnn1d", CNN1d, recipe={**SEQUENCE_RECIPE, "weight_decay": 1e-2}, kinds=("sequence",),
               summary="1D convolutions over one-hot sequences (DeepBind/Basset family)",
               capacity_keys=("channels", "head_units"))
register_model("rnn", RNN, recipe={**SEQUENCE_RECIPE, "grad_clip": 1.0}, kinds=("sequence", "image"),
               summary="LSTM or GRU, optionally bidirectional; images are read as rows of pixels",
               capacity_keys=("hidden_size",))
register_model("cnn_rnn", CNNRNN, recipe={**SEQUENCE_RECIPE, "weight_decay": 1e-2, "grad_clip": 1.0},
               kinds=("sequence",), summary="convolution then a bidirectional LSTM (DanQ style)",
               capacity_keys=("channels", "hidden_size"))

# GAN pairs (generator + discriminator), trained by `synbiolab gan`, not by the classifier loop: the kind
# "gan" keeps them out of `synbiolab train`, and registering them lets configs check their parameters.
register_model(
    "dcgan", DCGAN, kinds=("gan",), generates="image",
    summary="DCGAN generator and discriminator for small images (synbiolab gan)",
    recipe={"epochs": 5, "batch_size": 64, "lr": 2e-4, "weight_decay": 0.0},
    gan_recipe={"loss": "standard", "n_critic": 1, "beta1": 0.5, "beta2": 0.999},
    capacity_keys=("base_channels",),
)
# Gupta & Zou 2019 / Wang et al. 2020: gradient penalty 10, 5 critic steps, Adam (0.5, 0.9), batch 64. Width and
# learning rate were chosen by 6-mer r (10,000 samples, natural ceiling 0.891) at equal arithmetic, one seed,
# 1 CPU thread: after 3.4e12 forward FLOPs, 32 channels at 5e-4 reached 0.686 (12 epochs), 32 at 1e-4 0.619,
# 64 at 1e-4 0.554 (3 epochs; 64 at 5e-4: 0.574 after 4 epochs); an epoch of 32 channels is 0.29e12 forward
# FLOPs, a quarter of 64 and a sixteenth of 128. Measured on 2 quiet CPU cores, an epoch of 32 channels took
# 12.9 s, then 10.5 to 10.8 s once the critic's fake batches were drawn without a graph (per-epoch quality on
# 2,000 samples included). Quality against the length of the cosine decay (bench/gans.py, quiet machine,
# 6-mer r on 10,000 samples, natural ceiling 0.8911, goal >= 0.8411): 75 epochs 0.8298 (12.9 minutes),
# 120 epochs 0.8398, 130 epochs 0.8407 (22.7 minutes), 160 epochs 0.8481 (28.9 minutes of training, -10 / -35
# box rates 0.687 / 0.207 against 0.755 / 0.222, no sample identical to a training promoter). 160 epochs is
# the longest decay that fits the 30-minute budget, so it is the recipe.
register_model(
    "wgan_seq", SequenceWGAN, kinds=("gan",), generates="sequence",
    summary="WGAN-GP generator and critic for one-hot DNA (synbiolab gan)",
    recipe={"epochs": 160, "batch_size": 64, "lr": 5e-4, "weight_decay": 0.0, "schedule": "cosine"},
    gan_recipe={"loss": "wgan-gp", "n_critic": 5, "gp_weight": 10.0, "beta1": 0.5, "beta2": 0.9},
    capacity_keys=("channels",),
)
