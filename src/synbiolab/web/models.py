"""The web page's one door into the rest of synbiolab: run folders, models, diagnosis, ISM and GAN sampling.

Every import of the package's own modules that the web page needs lives in this file, so that a change of
the package's layout is answered by an edit here alone. What the page needs and the package has no clean
function for (predicting from an in-memory picture instead of a file, drawing GAN samples as tensors instead
of files) is written here on top of the public API.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from .. import SynbiolabError, in_silico_mutagenesis, load_run, one_hot, predict
from ..config import current_model_setting
from ..data.images import to_mnist_style
from ..evaluate import probabilities
from ..interpret import ism_score

__all__ = [
    "SynbiolabError", "current_model_setting", "folder_kind", "folder_writer", "image_prediction",
    "sequence_prediction", "gan_samples", "gan_interpolation", "model_spec", "ECOLI_PROMOTER_SETS",
]

# Data sets of E. coli sigma-70 promoters: their sequence views mark the -35 and -10 boxes.
ECOLI_PROMOTER_SETS = ("uci_promoters", "ecoli_promoters", "ecoli_promoters_natural")


# --- what a folder is


def folder_kind(path: Path) -> str | None:
    """What wrote a folder (train, gan, cv, sweep, compare, tune, design), from kind.json or its files.

    Raises:
        SynbiolabError: the marker is damaged.
    """
    from .. import runs

    if hasattr(runs, "folder_kind"):
        return runs.folder_kind(path)
    # Folders written before the marker existed: what their files say.
    if (path / "sweep.csv").is_file():
        return "sweep"
    if (path / "cv.json").is_file():
        return "cv"
    config = path / "config.json"
    if not config.is_file():
        return None
    try:
        raw = json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SynbiolabError(f"{config}: damaged run configuration (not valid JSON)") from exc
    if not isinstance(raw, dict):
        return None
    for key, kind in (("compare", "compare"), ("gan", "gan")):
        if key in raw:
            return kind
    return "train" if {"data", "model", "train"} & set(raw) else None


def folder_writer(path: Path) -> str | None:
    """Who is writing the folder now (the holder of its lock), or None when nobody is."""
    try:
        from ..io import folder_locked_by_other
    except ImportError:  # a package without folder locks: nobody is known to be writing
        return None
    try:
        return folder_locked_by_other(path)
    except OSError:
        return None


# --- loaded models, kept while their weights do not change


class _ModelCache:
    """The last few models loaded, keyed by folder and the weights' modification time and size.

    Loading a model costs tens of milliseconds; a drawing sends a picture every few hundred, so the model
    stays in memory. A run whose weights are rewritten (a resumed or overwritten run) is loaded again.
    """

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path, loader):
        weights = path / "model.safetensors"
        try:
            stat = weights.stat()
        except OSError:
            raise SynbiolabError(f"{path.name}: the run has no saved weights (model.safetensors); "
                                 "did it finish?") from None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = loader(path)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


_CACHE = _ModelCache()


def _read_spec(path: Path) -> dict:
    spec_path = path / "model.json"
    try:
        spec = json.loads(spec_path.read_text())
    except FileNotFoundError:
        raise SynbiolabError(f"{path.name}: the run has no model.json; did training finish?") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SynbiolabError(f"{path.name}: damaged model description (model.json is not valid JSON)") from None
    if not isinstance(spec, dict):
        raise SynbiolabError(f"{path.name}: damaged model description (model.json is not a mapping)")
    return spec


def model_spec(path: Path) -> dict:
    """model.json of a run (what the model reads and predicts), or one error line."""
    return _read_spec(path)


def _load_classifier(path: Path):
    """(model, spec) of a train run; the weights come from model.safetensors only (never a pickle)."""
    try:
        model = load_run(path).load_model()
    except SynbiolabError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged or half-written weights file is the run's, not ours
        raise SynbiolabError(f"{path.name}: the saved model cannot be loaded ({str(exc).splitlines()[0]})") from exc
    return model.eval(), _read_spec(path)


def _first_activation(model: torch.nn.Module) -> tuple[str, torch.nn.Module, bool] | None:
    """Where the first layer's feature maps come from, at the input's resolution: (label, module, whether a ReLU
    is still to be applied to the module's output).

    The CNN pools before its block's last ReLU (the same numbers, computed on fewer values), so its maps are
    read at the batch norm after the first Conv2d and rectified here; a ReLU right after the convolution (or
    after its batch norm) is read as it is; otherwise the convolution itself.
    """
    conv_name, conv, norm = None, None, None
    for name, module in model.named_modules():
        if conv is None:
            if isinstance(module, torch.nn.Conv2d):
                conv_name, conv = name, module
            continue
        if isinstance(module, torch.nn.BatchNorm2d) and norm is None:
            norm = (name, module)
            continue
        if isinstance(module, torch.nn.ReLU):
            return (f"{conv_name} + {name} (Conv2d, ReLU)", module, False) if norm is None else (
                f"{conv_name} + {norm[0]} (Conv2d, BatchNorm2d, ReLU)", norm[1], True)
        if isinstance(module, torch.nn.MaxPool2d) and norm is not None:
            return f"{conv_name} + {norm[0]} (Conv2d, BatchNorm2d, ReLU)", norm[1], True
        break
    if conv is None:
        return None
    return (f"{conv_name} + {norm[0]} (Conv2d, BatchNorm2d)", norm[1], False) if norm else (
        f"{conv_name} (Conv2d)", conv, False)


# --- image classifiers: a picture in, probabilities out


def image_prediction(path: Path, picture) -> dict:
    """Class probabilities of an image classifier for one picture held in memory.

    The picture goes through the same steps as ``synbiolab predict`` (``to_mnist_style``: inverted when it
    is dark on light, cropped to the digit, scaled to the data set's fill, centred by its centre of mass,
    then normalised with the data set's mean and standard deviation).

    Args:
        path: the run folder.
        picture: a PIL image or a 2-D numpy array.

    Returns:
        dict with ``classes``, ``probabilities``, ``top``, ``input`` (the uint8 image the model reads, as
        rows) and, for a CNN, ``feature_maps`` (the first layer's maps scaled to 0..255 per map).
    """
    model, spec = _CACHE.get(path, _load_classifier)
    if spec.get("kind") != "image" or spec.get("task") not in ("multiclass", "binary"):
        raise SynbiolabError(f"{path.name}: is a {spec.get('kind', '?')} {spec.get('task', '?')} model; "
                             "a picture needs an image classifier")
    _, height, width = spec["input_shape"]
    norm = spec.get("normalisation") or {"mean": 0.0, "std": 1.0, "fill": 20 / 28}
    pixels = to_mnist_style(picture, size=height, fill=norm.get("fill", 20 / 28))
    x = (pixels.astype(np.float32) / 255.0 - norm["mean"]) / norm["std"]
    x = torch.from_numpy(x)[None, None]  # (H, W) -> (1, 1, H, W)
    captured = {}
    layer = _first_activation(model)
    handle = None
    if layer is not None:
        handle = layer[1].register_forward_hook(lambda _m, _i, out: captured.__setitem__("maps", out.detach().clone()))
    try:
        probs = probabilities(spec["task"], predict(model, x))[0].tolist()
    finally:
        if handle is not None:
            handle.remove()
    names = [str(c) for c in spec["class_names"]]
    best = int(np.argmax(probs))
    result = {"classes": names, "probabilities": probs, "top": {"class": names[best], "probability": probs[best]},
              "input": {"height": height, "width": width, "pixels": pixels.tolist()}, "feature_maps": None}
    if "maps" in captured:
        maps = captured["maps"][0].float()
        maps = (torch.relu(maps) if layer[2] else maps).numpy()  # (C, h, w)
        low = maps.min(axis=(1, 2), keepdims=True)
        span = np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, 1e-8)
        scaled = np.round((maps - low) / span * 255).astype(np.uint8)
        result["feature_maps"] = {"layer": layer[0], "channels": int(maps.shape[0]), "height": int(maps.shape[1]),
                                  "width": int(maps.shape[2]), "maps": scaled.tolist()}
    return result


# --- sequence models: sequences in, predictions and mutagenesis out


def _run_config(path: Path) -> dict:
    try:
        raw = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return raw if isinstance(raw, dict) else {}



def _genmetrics():
    """The generated-data metrics module (evaluate/genmetrics.py; genmetrics.py before the package split)."""
    try:
        from ..evaluate import genmetrics
    except ImportError:
        from .. import genmetrics
    return genmetrics


def _promoter_boxes(letters: str) -> list[dict]:
    """The best -10 (TATAAT-like) and -35 (TTGACA-like) sites of one sequence, 0-based starts."""
    box_calls = _genmetrics().box_calls
    clean = "".join(c if c in "ACGT" else "A" for c in letters)  # padding and ambiguity read as A here only
    if len(clean) < 30:
        return []
    calls = box_calls([clean])
    boxes = [{"name": "-10", "start": int(calls["position_10"][0]), "width": 6,
              "score": float(calls["score_10"][0]), "present": bool(calls["has_10"][0]), "consensus": "TATAAT"}]
    if calls["position_35"][0] >= 0:
        boxes.insert(0, {"name": "-35", "start": int(calls["position_35"][0]), "width": 6,
                         "score": float(calls["score_35"][0]), "present": bool(calls["has_35"][0]),
                         "consensus": "TTGACA", "spacing": int(calls["spacing"][0])})
    return boxes


def sequence_prediction(path: Path, records: list[tuple[str, str]], ism_index: int | None = None) -> dict:
    """Predictions of a sequence model for named sequences, and the mutagenesis map of one of them.

    Each sequence is encoded as the run's data were (alphabet, strictness, padding or trimming to the
    model's length on the configured side).

    Args:
        path: the run folder.
        records: (name, letters) pairs.
        ism_index: which sequence gets the in-silico mutagenesis map (None: none).

    Returns:
        dict with ``task``, ``outputs`` (class or target names), ``length``, ``predictions`` (one per
        sequence) and ``ism`` (or None).

    Raises:
        SynbiolabError: a letter outside the alphabet, naming the sequence, the position and the letter.
    """
    model, spec = _CACHE.get(path, _load_classifier)
    if spec.get("kind") != "sequence":
        raise SynbiolabError(f"{path.name}: is a {spec.get('kind', '?')} model; sequences need a sequence model")
    data = _run_config(path).get("data", {})
    alphabet, strict, pad = data.get("alphabet", "dna"), bool(data.get("strict", False)), data.get("pad", "right")
    letters_of = {"dna": "ACGT", "rna": "ACGU", "protein": "ACDEFGHIKLMNPQRSTVWY"}.get(alphabet, "ACGT")
    n_letters, length = spec["input_shape"]
    encoded = []
    for i, (name, letters) in enumerate(records):
        x, _mask = one_hot([letters], alphabet=alphabet, strict=strict, length=length, pad=pad,
                           source=f"sequence {i + 1} ({name})")
        encoded.append(x[0])
    x = torch.from_numpy(np.stack(encoded))
    task = spec["task"]
    outputs = predict(model, x)
    if task == "regression":
        target = data.get("target") or ["value"]
        names = [("log10 " if data.get("log_target") else "") + str(t) for t in target][: outputs.shape[1]]
        names += [f"output {j + 1}" for j in range(len(names), outputs.shape[1])]
        values = outputs.reshape(len(x), -1).tolist()
    else:
        names = [str(c) for c in spec["class_names"]]
        values = probabilities(task, outputs).tolist()
    predictions = []
    for (name, letters), row in zip(records, values, strict=True):
        fitted = "" if len(letters) == length else (
            f"padded to {length} ({pad})" if len(letters) < length else f"trimmed to {length} ({pad} side cut)")
        best = int(np.argmax(row)) if task != "regression" else 0
        predictions.append({"name": name, "sequence": letters, "length": len(letters), "fitted": fitted,
                            "values": row, "top": names[best] if task != "regression" else None})
    result = {"task": task, "outputs": names, "length": length, "alphabet": letters_of, "predictions": predictions,
              "ism": None, "data": spec.get("data")}
    if ism_index is not None:
        result["ism"] = _ism(model, task, x[ism_index], values[ism_index], names, letters_of, spec, ism_index)
    return result


def _ism(model, task: str, x: torch.Tensor, values, names, letters_of: str, spec: dict, index: int) -> dict:
    output = int(np.argmax(values)) if task == "multiclass" else 0
    what = {"multiclass": f"log-probability of class {names[output]}", "binary": f"logit of class {names[-1]}",
            "regression": f"predicted {names[0]}"}[task]
    effects = in_silico_mutagenesis(ism_score(model, task, output), x.numpy())  # (L, A)
    reference = x.numpy()
    mutated = 1.0 - reference.T  # (L, A): 1 where a letter differs from the reference
    with np.errstate(invalid="ignore"):
        importance = -np.nansum(effects * mutated, axis=1) / np.maximum(mutated.sum(1), 1)
    padded = reference.sum(0) == 0
    importance[padded] = np.nan
    fitted = "".join("-" if padded[j] else (letters_of[int(reference[:, j].argmax())]
                                            if reference[:, j].max() > 0.99 else "N") for j in range(x.shape[1]))
    boxes = _promoter_boxes(fitted) if spec.get("data") in ECOLI_PROMOTER_SETS else None
    return {"index": index, "measures": what, "letters": letters_of, "sequence": fitted,
            "effects": effects.T.tolist(), "importance": importance.tolist(), "boxes": boxes}


# --- GANs: samples as tensors, never as files


def _load_gan(path: Path):
    """(model, spec) of a GAN run, rebuilt from model.json and model.safetensors (never a pickle)."""
    from safetensors.torch import load_file

    from ..models import build_model, is_gan
    from ..runs import model_sizes

    spec = _read_spec(path)
    if spec.get("kind") != "gan" or not isinstance(spec.get("name"), str) or not is_gan(spec["name"]):
        raise SynbiolabError(f"{path.name}: is not a GAN run (model '{spec.get('name', '?')}')")
    try:
        sizes = model_sizes(spec)  # n_classes, or n_outputs as GAN runs saved before it spelled it
        model = build_model(spec["name"], input_shape=tuple(spec["input_shape"]), **sizes, **spec["params"])
        model.load_state_dict(load_file(str(path / "model.safetensors"), device="cpu"))
    except Exception as exc:  # noqa: BLE001 - damaged weights or description belong to the run
        raise SynbiolabError(f"{path.name}: the saved GAN cannot be loaded ({str(exc).splitlines()[0]})") from exc
    return model.eval(), spec


@torch.no_grad()
def _generate(model, latent: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """The generator in evaluation mode (batch norm on its running statistics): images in [-1, 1] or
    base probabilities (N, 4, L)."""
    return model.generator(latent, labels if model.n_classes else None).float()


def _labels(model, spec: dict, n: int, digit) -> torch.Tensor | None:
    if not model.n_classes:
        if digit is not None:
            raise SynbiolabError(f"digit {digit}: this GAN is not conditional; it draws no chosen class")
        return None
    names = [str(c) for c in (spec.get("class_names") or range(model.n_classes))]
    if digit is None:
        return torch.arange(n) % model.n_classes  # every class in turn
    if str(digit) not in names:
        raise SynbiolabError(f"digit {digit}: not a class of this GAN; valid: {', '.join(names)}")
    return torch.full((n,), names.index(str(digit)), dtype=torch.long)


def _pixels(images: torch.Tensor) -> list:
    """(N, 1, H, W) in [-1, 1] -> N rows-of-uint8 images, white digits on black as the classifier reads them."""
    return ((images[:, 0].clamp(-1, 1) + 1) * 127.5).round().byte().numpy().tolist()


def gan_samples(path: Path, n: int, seed: int, digit=None) -> dict:
    """n samples of a GAN run for a seed: images (and their classes) or sequences with the batch's quality.

    For sequence GANs the quality numbers compare the batch with the natural held-out sequences kept with
    the run (heldout.txt): 6-mer frequency agreement, -10 and -35 box rates, novelty and diversity.
    """
    model, spec = _CACHE.get(path, _load_gan)
    latent = torch.randn(n, model.latent_size, generator=torch.Generator().manual_seed(seed))
    labels = _labels(model, spec, n, digit)
    samples = _generate(model, latent, labels)
    names = [str(c) for c in (spec.get("class_names") or [])]
    if spec.get("data_kind") == "image":
        classes = [names[int(i)] for i in labels] if labels is not None and names else None
        return {"kind": "image", "conditional": bool(model.n_classes), "images": _pixels(samples),
                "classes": classes, "height": int(samples.shape[2]), "width": int(samples.shape[3])}
    sequences = ["".join("ACGT"[i] for i in row) for row in samples.argmax(1).tolist()]  # (N, 4, L) -> N strings
    return {"kind": "sequence", "sequences": sequences, "quality": _sequence_quality(path, sequences)}


def _sequence_quality(path: Path, sequences: list[str]) -> dict:
    gm = _genmetrics()
    boxes = gm.box_summary(sequences)
    quality = {"n": len(sequences), "rate_10": boxes["rate_10"], "rate_35": boxes["rate_35"],
               "spacing_16_18": boxes["spacing_16_18"],
               "diversity": gm.mean_pairwise_distance(sequences) if len(sequences) > 1 else None}
    heldout_path = path / "heldout.txt"
    if heldout_path.is_file():
        heldout = [s.strip().upper() for s in heldout_path.read_text().splitlines() if s.strip()]
        heldout = [s for s in heldout if len(s) == len(sequences[0]) and set(s) <= set("ACGT")]
        if heldout:
            natural = gm.box_summary(heldout)
            nearest = gm.nearest_hamming(sequences, heldout)
            quality.update({"kmer_r": gm.kmer_pearson(sequences, heldout, 6), "natural_rate_10": natural["rate_10"],
                            "natural_rate_35": natural["rate_35"], "n_heldout": len(heldout),
                            "mean_nearest_heldout": float(np.mean(nearest)),
                            "exact_heldout": float(np.mean(nearest == 0))})
    return quality


def gan_interpolation(path: Path, seed: int, digit=None, steps: int = 10, lines: int = 4) -> dict:
    """Samples along straight lines between pairs of latent vectors (one line per row)."""
    model, spec = _CACHE.get(path, _load_gan)
    rng = torch.Generator().manual_seed(seed)
    start, end = torch.randn(lines, model.latent_size, generator=rng), torch.randn(lines, model.latent_size,
                                                                                    generator=rng)
    weight = torch.linspace(0, 1, steps)[None, :, None]  # (1, steps, 1)
    latent = (start[:, None] * (1 - weight) + end[:, None] * weight).reshape(lines * steps, -1)
    labels = _labels(model, spec, lines, digit)
    labels = labels.repeat_interleave(steps) if labels is not None else None
    samples = _generate(model, latent, labels)
    if spec.get("data_kind") == "image":
        return {"kind": "image", "steps": steps, "lines": lines, "images": _pixels(samples),
                "height": int(samples.shape[2]), "width": int(samples.shape[3])}
    sequences = ["".join("ACGT"[i] for i in row) for row in samples.argmax(1).tolist()]
    return {"kind": "sequence", "steps": steps, "lines": lines, "sequences": sequences}


# --- timing


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    """fn's result and the milliseconds it took."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000.0
