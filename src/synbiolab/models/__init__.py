"""Model registry: ``build_model(name, dataset, **params)``.

Each model is one ``nn.Module`` per file, built as ``Model(input_shape, n_outputs, **params)``; the
registry adds the training recipe that suits it (the ``TrainConfig`` defaults a user starts from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import SynbiolabError
from .cnn import CNN
from .gan import DCGAN
from .mlp import MLP
from .wgan_seq import SequenceWGAN


@dataclass
class ModelEntry:
    cls: type[nn.Module]
    recipe: dict[str, Any] = field(default_factory=dict)  # TrainConfig defaults for this model
    kinds: tuple[str, ...] = ("image",)  # data kinds the model accepts
    summary: str = ""


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, cls, recipe=None, kinds=("image",), summary: str = "") -> None:
    """Make a model buildable by name, with its default training recipe."""
    MODELS[name] = ModelEntry(cls, dict(recipe or {}), tuple(kinds), summary)


def get_model_class(name: str):
    if name not in MODELS:
        raise SynbiolabError(f"unknown model '{name}'; valid: {', '.join(MODELS)}")
    return MODELS[name].cls


def build_model(name: str, dataset=None, input_shape=None, n_outputs=None, **params) -> nn.Module:
    """Build a registered model sized for `dataset` (or for explicit input_shape and n_outputs).

    Args:
        name: a registered model name (``mlp``, ``cnn``, ...).
        dataset: a Dataset; gives input_shape and n_outputs.
        **params: the model's constructor keyword arguments.
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
    from ..config import model_parameters

    valid = model_parameters(name)
    unknown = [k for k in params if k not in valid]
    if unknown:
        raise SynbiolabError(f"model '{name}' has no parameter '{unknown[0]}'; valid: {', '.join(valid)}")
    return cls(input_shape=tuple(input_shape), n_outputs=int(n_outputs), **params)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


register_model(
    "mlp",
    MLP,
    recipe={"epochs": 20, "batch_size": 128, "lr": 1e-3, "optimizer": "adamw", "schedule": "onecycle",
            "weight_decay": 1e-4},
    kinds=("image", "sequence"),
    summary="multilayer perceptron on the flattened input",
)
register_model(
    "cnn",
    CNN,
    recipe={"epochs": 8, "batch_size": 128, "lr": 3e-3, "optimizer": "adamw", "schedule": "onecycle",
            "weight_decay": 5e-4, "augment": "shift_rotate"},
    kinds=("image",),
    summary="conv-BN-ReLU-pool blocks, dropout, linear head",
)

# GAN pairs (generator + discriminator), trained by `synbiolab gan`, not by the classifier loop: the
# kind "gan" keeps them out of `synbiolab train`, and registering them lets configs check their parameters.
register_model("dcgan", DCGAN, recipe={"epochs": 5, "batch_size": 64, "lr": 2e-4}, kinds=("gan",),
               summary="DCGAN generator and discriminator for small images (synbiolab gan)")
register_model("wgan_seq", SequenceWGAN, recipe={"epochs": 10, "batch_size": 64, "lr": 1e-4}, kinds=("gan",),
               summary="WGAN-GP generator and critic for one-hot DNA (synbiolab gan)")

# Sequence models (one-hot DNA (B, 4, L)); the rnn also reads images row by row (sequential MNIST).
from .cnn1d import CNN1d  # noqa: E402
from .cnn_rnn import CNNRNN  # noqa: E402
from .rnn import RNN  # noqa: E402

SEQUENCE_RECIPE = {"epochs": 15, "batch_size": 64, "lr": 3e-3, "optimizer": "adamw", "schedule": "onecycle"}
register_model("cnn1d", CNN1d, recipe={**SEQUENCE_RECIPE, "weight_decay": 1e-2}, kinds=("sequence",),
               summary="1D convolutions over one-hot sequences (DeepBind/Basset family)")
register_model("rnn", RNN, recipe={**SEQUENCE_RECIPE, "grad_clip": 1.0}, kinds=("sequence", "image"),
               summary="LSTM or GRU, optionally bidirectional; images are read as rows of pixels")
register_model("cnn_rnn", CNNRNN, recipe={**SEQUENCE_RECIPE, "weight_decay": 1e-2, "grad_clip": 1.0},
               kinds=("sequence",), summary="convolution then a bidirectional LSTM (DanQ style)")

__all__ = ["CNN", "CNN1d", "CNNRNN", "MLP", "MODELS", "RNN", "build_model", "count_parameters",
           "get_model_class", "register_model"]
