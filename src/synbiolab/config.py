"""Dataclass configuration: defaults with one comment per field, JSON/YAML load and save, --set overrides.

A config has three parts: ``data``, ``model`` and ``train``. Model parameters are the keyword arguments
of the chosen model's constructor, so ``--set model.hidden_units=[64]`` is checked against that
signature rather than against a second list that could drift from the code.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import reprlib
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import SynbiolabError
from .models.registry import MODELS, is_gan, model_parameters


@dataclass
class DataConfig:
    name: str = "mnist"  # a registered data set (`synbiolab data list`) or a path to a CSV/TSV/FASTA file
    data_dir: str | None = None  # folder holding mnist/ and synbio/; default: $SYNBIOLAB_DATA, then the cache
    val_size: float | None = None  # validation examples from training (count or fraction < 1); None: set's default
    test_size: float | None = None  # for data sets without an official test split: held-out count or fraction
    train_size: int | None = None  # subsample the training split to this many examples (stratified)
    classes: list[int] | None = None  # keep only these classes; two classes make a binary (sigmoid) task
    seed: int = 0  # seed of the splits and subsamples, independent of the training seed
    # --- sequence data (files and named sequence sets)
    seq_col: str | None = None  # CSV/TSV column holding the sequences
    target: list[str] | None = None  # CSV/TSV target column(s)
    id_col: str | None = None  # CSV/TSV column with sequence identifiers
    group_col: str | None = None  # CSV/TSV column with groups kept whole in one split (e.g. source study)
    length: int | None = None  # pad or trim sequences to this length (default: the longest)
    pad: str = "right"  # where padding goes: left, right or centre
    strict: bool = False  # reject IUPAC ambiguity letters instead of encoding them as probabilities
    log_target: bool = False  # regress log10 of the target
    split: str = "random"  # random, stratified or grouped
    alphabet: str = "dna"  # dna, rna or protein (sequence files)
    task: str = "auto"  # auto, regression, binary or multiclass (sequence files; auto: numbers -> regression)
    merge_duplicates: bool = False  # merge repeated sequences into one example (otherwise kept in one split)
    label_noise: float = 0.0  # shuffle the labels of this fraction of training examples (val/test stay clean)
    split_col: str | None = None  # table column naming each row's split: train/training, val/valid/validation, test
    sheet: str | None = None  # the sheet of an Excel (.xlsx) table; None: the first
    organism: str = "unknown"  # organism of a user's sequences (e.g. ecoli, human, 'P. putida:bacteria')


@dataclass
class ModelConfig:
    name: str = "mlp"  # a registered model (`synbiolab train --model ...`)
    params: dict[str, Any] = field(default_factory=dict)  # constructor keyword arguments of that model


@dataclass
class TrainConfig:
    epochs: int = 10  # passes over the training split
    batch_size: int = 128  # examples per step (summed over processes under DDP)
    lr: float = 1e-3  # peak learning rate
    optimizer: str = "adamw"  # sgd, adam or adamw
    momentum: float = 0.9  # SGD momentum (Nesterov); ignored by Adam(W)
    weight_decay: float = 0.0  # L2 penalty (decoupled for AdamW)
    schedule: str = "none"  # none, cosine or onecycle
    grad_clip: float = 0.0  # clip the global gradient norm to this value; 0 turns clipping off
    patience: int = 0  # stop after this many epochs without a lower validation loss; 0 never stops early
    keep: str = "best_loss"  # weights kept and saved: best_loss, best_metric (validation accuracy or r) or last
    augment: str = "none"  # none, shift_rotate (images) or revcomp (DNA)
    label_smoothing: float = 0.0  # cross-entropy label smoothing for multi-class tasks
    ema_decay: float = 0.0  # evaluate and keep a moving average of the weights (e.g. 0.99); 0: the weights as trained
    calibrate: bool = False  # regression: rescale the outputs by a * y + b fitted on the validation split at the end
    train_eval_size: int = 10000  # training examples re-evaluated each epoch (a fixed subsample)
    seed: int = 0  # seed of the weights, the batch order, dropout and augmentation
    device: str = "auto"  # auto, cpu, cuda or mps
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the model (worth it only for long runs)
    progress: bool = True  # show a progress bar


@dataclass
class GanConfig:
    """Settings of GAN training that a classifier's TrainConfig does not have (``--set gan.KEY=VALUE``)."""

    loss: str = "standard"  # standard (non-saturating) or wgan-gp
    n_critic: int = 1  # discriminator updates per generator update
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    beta1: float = 0.5  # Adam beta1 for both networks (0.5: the DCGAN recipe)
    beta2: float = 0.999  # Adam beta2 (0.9 for WGAN-GP)
    lr_discriminator: float | None = None  # discriminator learning rate; None: the same as train.lr
    holdout: float = 0.1  # fraction held out for evaluation (sequence data not made for generative models)
    eval_samples: int = 2000  # generated samples scored after every epoch
    final_samples: int = 10000  # generated samples scored at the end
    judge: str | None = None  # classifier run that judges generated images; None trains a CNN on the spot
    judge_epochs: int = 3  # epochs of the judge trained on the spot
    tog_samples: int = 60000  # generated digits for "train on generated, test on real" (conditional, 0: skip)
    tog_epochs: int = 3  # epochs of that classifier
    ema_decay: float = 0.999  # samples come from a moving average of the generator's weights (0: the raw ones)
    time_limit: float = 0.0  # seconds of training not to pass: no epoch starts that would end past it (0: none)


# --- valid values: one table, checked by set_value (every --set, option and config file) and by check_section


@dataclass(frozen=True)
class Range:
    """The valid values of a number, or of each entry of a list of numbers.

    Args:
        low: the smallest valid value (None: no bound).
        high: the largest valid value (None: no bound).
        low_open: `low` itself is not valid (``lr > 0``).
        high_open: `high` itself is not valid (``dropout < 1``).
        min_entries: for a list, the fewest entries it may have.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    min_entries: int = 0
    note: str = ""  # words added to the range, e.g. "or 0 for none"

    def contains(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def _bounds(self) -> str:
        """The range in words, e.g. ``> 0``, ``>= 1``, ``0 <= value < 1``, ``1 to 100000``."""
        low = None if self.low is None else f"{self.low:g}"
        high = None if self.high is None else f"{self.high:,}" if isinstance(self.high, int) else f"{self.high:g}"
        if low is not None and high is not None:
            if not self.low_open and not self.high_open:
                return f"{low} to {high}"
            return f"{low} {'<' if self.low_open else '<='} value {'<' if self.high_open else '<='} {high}"
        if low is not None:
            return f"{'>' if self.low_open else '>='} {low}"
        if high is not None:
            return f"{'<' if self.high_open else '<='} {high}"
        return "any finite number"

    def describe(self) -> str:
        """The range in words, with its note."""
        return f"{self._bounds()} {self.note}" if self.note else self._bounds()


@dataclass(frozen=True)
class Choice:
    """The valid words of a string setting."""

    words: tuple[str, ...]

    def describe(self) -> str:
        return ", ".join(self.words)


SEED = Range(0, 2**32 - 1)  # what every seeded generator takes (numpy legacy ones included)
FRACTION_BELOW_1 = Range(0.0, 1.0, high_open=True)

# The valid values of the data, train and gan keys ("section.key"); a key missing here takes any value of its type.
RANGES: dict[str, Range | Choice] = {
    "data.val_size": Range(0, low_open=True),
    "data.test_size": Range(0, low_open=True),
    "data.train_size": Range(1),
    "data.classes": Range(0),
    "data.seed": Range(0, 2**32 - 1),
    "data.length": Range(1, 1_000_000),
    "data.label_noise": Range(0.0, 1.0),
    "train.epochs": Range(1, 100_000),
    "train.batch_size": Range(1, 1_000_000),
    "train.lr": Range(0.0, 100.0, low_open=True),
    "train.optimizer": Choice(("sgd", "adam", "adamw")),
    "train.momentum": FRACTION_BELOW_1,
    "train.weight_decay": Range(0.0, 10.0),
    "train.schedule": Choice(("none", "cosine", "onecycle")),
    "train.grad_clip": Range(0.0),
    "train.patience": Range(0, 100_000),
    "train.keep": Choice(("best_loss", "best_metric", "last")),
    "train.augment": Choice(("none", "shift_rotate", "revcomp")),
    "train.label_smoothing": FRACTION_BELOW_1,
    "train.ema_decay": FRACTION_BELOW_1,
    "train.train_eval_size": Range(1),
    "train.seed": SEED,
    "train.device": Choice(("auto", "cpu", "cuda", "mps")),
    "gan.loss": Choice(("standard", "wgan-gp")),
    "gan.n_critic": Range(1, 100),
    "gan.gp_weight": Range(0.0),
    "gan.beta1": FRACTION_BELOW_1,
    "gan.beta2": FRACTION_BELOW_1,
    "gan.lr_discriminator": Range(0.0, 100.0, low_open=True),
    "gan.holdout": Range(0.0, 1.0, low_open=True, high_open=True),
    "gan.eval_samples": Range(10, 1_000_000),
    "gan.final_samples": Range(10, 1_000_000),
    "gan.judge_epochs": Range(1, 1000),
    "gan.tog_samples": Range(0, 1_000_000),
    "gan.tog_epochs": Range(1, 1000),
    "gan.ema_decay": FRACTION_BELOW_1,
    "gan.time_limit": Range(0.0),
}

# The valid values of model parameters, by parameter name, for every model that has one of that name (a list
# parameter such as hidden_units=[512, 256] is checked entry by entry). The upper bounds keep one typo from
# asking for more memory than a workstation has.
MODEL_RANGES: dict[str, Range] = {
    "hidden_units": Range(1, 16_384),
    "head_units": Range(1, 16_384, note="([] or 0 for none)"),
    "hidden_size": Range(1, 16_384),
    "channels": Range(1, 4096, min_entries=1),
    "base_channels": Range(1, 1024),
    "convs_per_block": Range(1, 16),
    "kernel_sizes": Range(1, 1001, min_entries=1),
    "kernel_size": Range(1, 1001),
    "dilations": Range(1, 1000, min_entries=1),
    "pool_sizes": Range(1, 1000, min_entries=1),
    "pool_size": Range(1, 1000),
    "num_layers": Range(1, 16),
    "n_blocks": Range(1, 64),
    "latent_size": Range(1, 4096),
    "dropout": FRACTION_BELOW_1,
    "input_dropout": FRACTION_BELOW_1,
    "discriminator_dropout": FRACTION_BELOW_1,
    "members": Range(1, 64, note="(1: one model; K: a deep ensemble of K)"),
}


# List-of-layers parameters that may be empty: 0 (or [0]) is read as [] (no such layer), as an int n is read as
# [n] by every list parameter.
ZERO_MEANS_NONE = {"head_units"}

# Model parameters renamed since runs were first saved: (model, old name) -> today's name. set_value reads an old
# name as the new one wherever it comes from (--set, --param, a config file, a run folder's config.json, through
# Config.from_dict), and check_model_spec does the same for a run's model.json, so nothing saved then breaks.
# What the values mean is unchanged: the CNNs' int hidden_units (0: none) is the list head_units ([] for none).
RENAMED_MODEL_KEYS: dict[tuple[str, str], str] = {
    ("cnn", "hidden_units"): "head_units",
    ("cnn1d", "hidden_units"): "head_units",
    ("rnn", "hidden_units"): "hidden_size",
    ("cnn_rnn", "hidden_units"): "hidden_size",
}

# Where an old name is told about (one line on stderr): what a user typed; config files and run folders stay silent.
NOTED_SOURCES = ("--set", "--param")


def current_model_key(model: str, name: str, source: str = "") -> str:
    """Today's name of model parameter `name` of `model` (itself unless RENAMED_MODEL_KEYS renames it).

    Args:
        model: the model's registered name.
        name: a parameter name, old or new.
        source: where it came from; for ``--set`` and ``--param`` a rename is told in one line on stderr.
    """
    new = RENAMED_MODEL_KEYS.get((model, name))
    if new is None:
        return name
    if source in NOTED_SOURCES:
        print(f"note: model.{name} of {model} is now model.{new}; read as that", file=sys.stderr)
    return new


def current_model_setting(model: str, name: str, value: Any) -> tuple[str, Any]:
    """A saved model parameter as today's name and shape, unchecked (for showing and grouping saved runs): an int
    of a list-of-layers parameter is one layer, 0 none (``hidden_units=16`` of an old cnn is ``head_units=[16]``)."""
    name = current_model_key(model, name)
    default = model_parameters(model).get(name) if model in MODELS else None
    if isinstance(default, list | tuple) and isinstance(value, int) and not isinstance(value, bool):
        value = [] if value == 0 and name in ZERO_MEANS_NONE else [value]
    return name, value


def shown(value: Any, width: int = 80) -> str:
    """A value as an error message quotes it: its repr, cut to `width` characters (a YAML alias can expand a
    few lines into a list of millions of entries)."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxtuple, short.maxdict, short.maxstring, short.maxother = 3, 8, 8, 4, 60, 60
    text = short.repr(value)  # bounded however large the value: never the whole of it
    return text if len(text) <= width else text[: width - 3] + "..."


def check_value(key: str, value: Any, source: str = "--set", model: str | None = None) -> None:
    """Check `value` (already of the field's type) against the key's range or words in RANGES / MODEL_RANGES.

    Args:
        key: ``section.name``.
        value: the value, of the field's type.
        source: where it came from, for the message (``--set``, an option, a file).
        model: for a model parameter, the model.

    Raises:
        SynbiolabError: one line naming the key, the value and the valid range.
    """
    section, _, name = key.partition(".")
    rule = MODEL_RANGES.get(name) if section == "model" else RANGES.get(key)
    if rule is None or value is None:
        return
    where = f"{source}: " if source and source != key else ""
    if isinstance(rule, Choice):
        if value not in rule.words:
            raise SynbiolabError(f"{where}{key}={shown(value)} is unknown; valid: {rule.describe()}")
        return
    if isinstance(value, list | tuple):
        if len(value) < rule.min_entries:
            raise SynbiolabError(f"{where}{key}={shown(list(value))} needs at least {rule.min_entries} "
                                 f"entr{'y' if rule.min_entries == 1 else 'ies'}, each {rule.describe()}")
        for entry in value:
            if isinstance(entry, int | float) and not isinstance(entry, bool) and not rule.contains(entry):
                raise SynbiolabError(f"{where}{key}={shown(list(value))}: the entry {shown(entry)} is out of range; "
                                     f"valid: each entry {rule.describe()}")
        return
    if isinstance(value, int | float) and not isinstance(value, bool) and not rule.contains(value):
        raise SynbiolabError(f"{where}{key}={shown(value)} is out of range; valid: {rule.describe()}")


def _rule(key: str) -> Range | Choice | None:
    section, _, name = key.partition(".")
    return MODEL_RANGES.get(name) if section == "model" else RANGES.get(key)


def checked_value(value: Any, default: Any, annotation: Any, key: str, source: str = "--set",
                  model: str | None = None) -> Any:
    """`value` converted to the field's type and checked against its range; one line naming both otherwise."""
    try:
        coerced = _coerce(value, default, annotation, key)
    except SynbiolabError as exc:
        rule = _rule(key)
        where = f"{source}: " if source and source != key else ""
        listed = isinstance(default, list | tuple) or "list" in str(annotation)
        valid = "" if rule is None else f"; valid: {'each entry ' if listed else ''}{rule.describe()}"
        raise SynbiolabError(f"{where}{exc}{valid}") from None
    section, _, name = key.partition(".")
    if section == "model" and name in ZERO_MEANS_NONE and isinstance(coerced, list) and coerced == [0]:
        coerced = []  # 0 (or [0]): no such layer
    check_value(key, coerced, source, model)
    return coerced


def check_section(obj: Any, section: str) -> None:
    """Check every field of a TrainConfig, GanConfig or DataConfig built in Python (``TrainConfig(epochs=-3)``):
    its type and its range, with the messages of ``--set``."""
    for f in fields(obj):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        key = f"{section}.{f.name}"
        value = getattr(obj, f.name)
        coerced = checked_value(value, default, f.type, key, source=key)
        if coerced is not value:
            setattr(obj, f.name, coerced)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    gan: GanConfig | None = None  # GAN settings; only GAN runs have them

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.gan is None:
            del d["gan"]
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> Config:
        cfg = cls()
        if not isinstance(d, dict):
            raise SynbiolabError(f"{source}: expected a mapping with data/model/train sections")
        unknown = set(d) - {"data", "model", "train", "gan", "meta"}
        if unknown:
            raise SynbiolabError(f"{source}: unknown section '{sorted(unknown)[0]}'; valid: data, model, train, gan")
        for section in ("model", "data", "train", "gan"):
            values = d.get(section) or {}
            if not isinstance(values, dict):
                raise SynbiolabError(f"{source}: '{section}' must be a mapping of keys to values")
            if section == "model" and "name" in values:  # the model first: its parameters depend on it
                set_value(cfg, "model.name", values["name"], source=source)
            if section == "gan" and section in d:
                cfg.gan = GanConfig()
            for key, value in values.items():
                if not (section == "model" and key == "name"):
                    set_value(cfg, f"{section}.{key}", value, source=source)
        return cfg


SECTIONS = {"data": DataConfig, "train": TrainConfig, "gan": GanConfig}


def valid_keys(cfg: Config) -> list[str]:
    """All keys `--set` accepts for this config (model keys depend on the chosen model)."""
    keys = [f"{s}.{f.name}" for s, c in SECTIONS.items() for f in fields(c) if s != "gan" or cfg.gan is not None]
    keys.append("model.name")
    keys += [f"model.{k}" for k in model_parameters(cfg.model.name)]
    return keys


def parse_value(text: str) -> Any:
    """Parse an override value: Python/JSON literals (numbers, lists, true/false/none) or a bare string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if len(text) > 10_000:
        raise SynbiolabError(f"--set value of {len(text):,} characters: too long for a setting")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        # not a literal ({[1]: 2} is unhashable, deep nesting overflows the parser): a bare string
        return text


def _entry_type(annotation: Any, default: Any) -> type | None:
    """The type of a list field's entries: from ``list[int]`` in the annotation, or the default's entries."""
    ann = str(annotation)
    for name, kind in (("list[int]", int), ("list[float]", float), ("list[str]", str)):
        if name in ann:
            return kind
    if isinstance(default, list | tuple) and default:
        first = default[0]
        return bool if isinstance(first, bool) else type(first) if isinstance(first, int | float | str) else None
    return None


def _coerce_entry(entry: Any, kind: type | None, key: str, value: Any) -> Any:
    if kind is None:
        return entry
    if kind is int:
        if isinstance(entry, int) and not isinstance(entry, bool):
            return entry
        if isinstance(entry, float) and entry.is_integer():
            return int(entry)
        raise SynbiolabError(f"{key}: expected a list of integers such as [64, 32], got {shown(value)}")
    if kind is float:
        if isinstance(entry, int | float) and not isinstance(entry, bool):
            return float(entry)
        raise SynbiolabError(f"{key}: expected a list of numbers, got {shown(value)}")
    if kind is str:
        if isinstance(entry, str | int | float) and not isinstance(entry, bool):
            return str(entry)
        raise SynbiolabError(f"{key}: expected a list of names, got {shown(value)}")
    return entry


def _coerce(value: Any, default: Any, annotation: Any, key: str) -> Any:
    """Check `value` against the type of the field (its annotation, or its default's type)."""
    ann = str(annotation)
    if value is None:
        if "None" in ann or default is None:
            return None
        if isinstance(default, str):  # `none` is a valid word for string options (schedule, augment)
            return "none"
        raise SynbiolabError(f"{key}: None is not allowed (expected {type(default).__name__})")
    expected_list = "list" in ann or isinstance(default, list | tuple)
    if expected_list:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            value = [value] if not isinstance(value, str) else [parse_value(v) for v in value.split(",")]
        if not isinstance(value, list | tuple):
            raise SynbiolabError(f"{key}: expected a list such as [64, 32], got {shown(value)}")
        kind = _entry_type(annotation, default)
        return [_coerce_entry(entry, kind, key, value) for entry in value]
    if isinstance(default, bool) or ann in ("bool", "<class 'bool'>"):
        if isinstance(value, bool):
            return value
        raise SynbiolabError(f"{key}: expected true or false, got {shown(value)}")
    is_int = (isinstance(default, int) and not isinstance(default, bool) and "float" not in ann) or (
        default is None and ann.split("|")[0].strip() == "int")
    if is_int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise SynbiolabError(f"{key}: expected an integer, got {shown(value)}")
    if isinstance(default, float) or "float" in ann:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value) if not (isinstance(default, int) and isinstance(value, int)) else value
        raise SynbiolabError(f"{key}: expected a number, got {shown(value)}")
    if isinstance(default, str) or "str" in ann:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # a name that reads as a number (a column called 2020)
        raise SynbiolabError(f"{key}: expected a name, got {shown(value)}")
    if isinstance(default, dict) and not isinstance(value, dict):
        raise SynbiolabError(f"{key}: expected a mapping, got {shown(value)}")
    return value


def set_value(cfg: Config, key: str, value: Any, source: str = "--set") -> None:
    """Set one dotted key, checking the key exists and the value has the field's type."""
    section, _, name = key.partition(".")
    if section == "model" and name != "name" and name != "params":
        params = model_parameters(cfg.model.name)
        if name not in params:
            name = current_model_key(cfg.model.name, name, source)
            key = f"model.{name}"
        if name not in params:
            raise SynbiolabError(
                f"{source}: unknown key {shown(key)} for model '{cfg.model.name}'; valid: "
                + ", ".join(f"model.{k}" for k in params)
            )
        cfg.model.params[name] = checked_value(value, params[name], type(params[name]).__name__, key, source,
                                               model=cfg.model.name)
        return
    if section == "model" and name == "params":
        if not isinstance(value, dict):
            raise SynbiolabError(f"{source}: model.params must be a mapping")
        for k, v in value.items():
            set_value(cfg, f"model.{k}", v, source)
        return
    if section == "model" and name == "name":
        if not isinstance(value, str) or value not in MODELS:
            where = f"{source}: " if source else ""
            raise SynbiolabError(f"{where}unknown model {shown(value)}; valid: " + ", ".join(MODELS))
        if cfg.model.name != value:
            cfg.model.params = {}
        cfg.model.name = str(value)
        return
    if section == "gan" and cfg.gan is None:
        if not is_gan(cfg.model.name):
            raise SynbiolabError(f"{source}: {shown(key)} is a GAN setting, and model '{cfg.model.name}' is not "
                                 "a GAN")
        cfg.gan = GanConfig()
    cls = SECTIONS.get(section)
    valid = {f.name: f for f in fields(cls)} if cls else {}
    if name not in valid:
        raise SynbiolabError(f"{source}: unknown key {shown(key)}; valid keys: " + ", ".join(valid_keys(cfg)))
    f = valid[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    setattr(getattr(cfg, section), name, checked_value(value, default, f.type, key, source))


def apply_overrides(cfg: Config, overrides: list[str] | None) -> Config:
    """Apply `key=value` strings, e.g. ``["train.lr=0.01", "model.hidden_units=[64]"]``."""
    for item in overrides or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SynbiolabError(f"--set {item!r}: expected key=value, e.g. train.lr=0.01")
        set_value(cfg, key.strip(), parse_value(text), source="--set")
    return cfg


def load_config(path: str | Path) -> Config:
    """Read a JSON or YAML config file (the same shape as a run's config.json)."""
    path = Path(path)
    if not path.is_file():
        raise SynbiolabError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SynbiolabError(f"{path}: not a text file (byte {exc.start} is not UTF-8); a config file is JSON or "
                             "YAML text") from exc
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error becomes one line
        raise SynbiolabError(f"{path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise SynbiolabError(f"{path}: expected a mapping with data/model/train sections")
    return Config.from_dict(data, source=str(path))


# --- one precedence for every verb: recipe < config file < named options < --set


def default_config(data: str = "mnist", model: str | None = None) -> Config:
    """A Config for `data` and `model`: the model's recipe (for a GAN, its GanConfig too), then the data
    set's recipe (``data/recipes.py``) when `data` has one and `model` is its model or not given.

    Args:
        data: a data set name or file.
        model: a model name; None: the data set's recipe model, else mlp.
    """
    from .data.recipes import recipe_for  # plain data; imported here so config.py loads without the data layer

    recipe = recipe_for(data)
    model = model or (recipe.model if recipe is not None else "mlp")
    cfg = Config()
    cfg.data.name = data
    set_value(cfg, "model.name", model, source="")
    entry = MODELS[model]
    for key, value in entry.recipe.items():
        set_value(cfg, f"train.{key}", value, source=f"recipe of {model}")
    if is_gan(model):
        cfg.gan = GanConfig()
        for key, value in entry.gan_recipe.items():
            set_value(cfg, f"gan.{key}", value, source=f"recipe of {model}")
    if recipe is not None and recipe.model == model:
        for key, value in recipe.settings.items():
            set_value(cfg, key, value, source=f"recipe of {data}")
    return cfg


def build_config(data: str | None = None, model: str | None = None, config_file: str | Path | None = None,
                 options: dict[str, Any] | None = None, sets: list[str] | None = None,
                 default_model: str = "mlp") -> Config:
    """The Config of a command line, from (lowest to highest precedence): the model's recipe, a config file,
    the named options, then ``--set`` overrides.

    Args:
        data: the data set (``--data``); default: the config file's, else mnist.
        model: the model (``--model``); default: the config file's, else `default_model`.
        config_file: a JSON or YAML file of the shape of config.json (``--config``).
        options: named options as config keys, e.g. ``{"train.epochs": 3}``; None values are unset options.
        sets: ``key=value`` strings (``--set``).
        default_model: the model when neither ``--model`` nor the file names one.
    """
    if config_file:
        file_cfg = load_config(config_file)
        cfg = default_config(data or file_cfg.data.name, model or file_cfg.model.name)
        raw = json.loads(json.dumps(file_cfg.to_dict()))
        base = Config()
        # A key the file leaves at its default does not undo the recipe; a key it sets wins over it.
        for section in ("data", "train"):
            for key, value in raw[section].items():
                if value != getattr(getattr(base, section), key):
                    set_value(cfg, f"{section}.{key}", value, source=str(config_file))
        for key, value in raw["model"]["params"].items():
            set_value(cfg, f"model.{key}", value, source=str(config_file))
        if file_cfg.gan is not None and cfg.gan is not None:
            for key, value in raw["gan"].items():
                if value != getattr(GanConfig(), key):
                    set_value(cfg, f"gan.{key}", value, source=str(config_file))
    else:
        cfg = default_config(data or "mnist", model or default_model)
    for key, value in (options or {}).items():
        if value is not None:
            set_value(cfg, key, value, source=f"--{key.split('.')[1].replace('_', '-')}")
    return apply_overrides(cfg, sets)
