"""The test split's outputs as training saved them (predictions.csv), read back for the report sections.

predictions.csv, written once at the end of training, has one row per test example:

- ``id``: the split's identifier of the example, or its row number;
- ``sequence``: the letters of a sequence example (IUPAC codes for ambiguous positions, ``-`` for padding);
- classification: ``target`` and ``prediction`` (class names) and ``p_<class>`` for every class (the
  predicted probabilities);
- regression: ``target`` and ``prediction`` for one target, ``target_<name>`` and ``prediction_<name>`` for
  several; a sequence model's k-mer baseline adds ``baseline`` (``baseline_<name>``).

Runs written before predictions.csv existed are read the old way: the data set is loaded again and the saved
model re-predicts the test split (``load_test_outputs`` does that only when the file is missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data.sequences import ALPHABETS, IUPAC_DNA
from ..errors import SynbiolabError

PREDICTIONS = "predictions.csv"

# The IUPAC letter of each set of bases, to write an ambiguous one-hot column as one letter and read it back.
_CODE_OF_BASES = {frozenset(bases): code for code, bases in IUPAC_DNA.items()}


def sequence_letters(x: np.ndarray) -> str:
    """(4, L) one-hot DNA -> letters that ``sequence_one_hot`` turns back into the same columns."""
    letters = []
    for column in np.asarray(x).T:
        present = frozenset(ALPHABETS["dna"][i] for i in np.flatnonzero(column > 0))
        if not present:
            letters.append("-")
        elif len(present) == 1:
            letters.append(next(iter(present)))
        else:
            letters.append(_CODE_OF_BASES.get(present, "N"))
    return "".join(letters)


def sequence_one_hot(letters: str) -> np.ndarray:
    """Letters written by ``sequence_letters`` -> (4, L) float32 one-hot (ambiguity codes spread evenly)."""
    out = np.zeros((4, len(letters)), np.float32)
    for j, letter in enumerate(letters.upper()):
        if letter == "-":  # padding: an all-zero column
            continue
        bases = IUPAC_DNA.get(letter, letter)
        for base in bases:
            out[ALPHABETS["dna"].index(base), j] = 1.0 / len(bases)
    return out


@dataclass
class TestOutputs:
    """A model's outputs on the test split.

    Attributes:
        task: multiclass, binary or regression.
        class_names: the classes (classification), in the order of the probability columns.
        target_names: the targets' names (regression).
        ids: one identifier per example.
        targets: class indices (N,) or target values (N, T).
        predictions: predicted class indices (N,) or values (N, T).
        probabilities: (N, C) class probabilities (binary: C = 2), None for regression.
        sequences: the examples' letters (sequence data), else None.
        baseline: the k-mer baseline's predictions (N, T) (sequence regression), else None.
        source: where the numbers come from, for the report to say.
    """

    task: str
    class_names: list[str] | None
    target_names: list[str] | None
    ids: list
    targets: np.ndarray
    predictions: np.ndarray
    probabilities: np.ndarray | None
    sequences: list[str] | None = None
    baseline: np.ndarray | None = None
    source: str = PREDICTIONS

    def __len__(self) -> int:
        return len(self.targets)

    def logits(self) -> torch.Tensor:
        """Outputs in the form a model gives them (what ``evaluate.ranking_metrics`` takes): log-probabilities
        for several classes, the log-odds of the positive class for two, the values for regression."""
        if self.task == "regression":
            return torch.as_tensor(self.predictions, dtype=torch.float32)
        p = np.clip(self.probabilities.astype(np.float64), 1e-12, 1.0)
        if self.task == "binary":
            return torch.as_tensor(np.log(p[:, 1]) - np.log(p[:, 0]), dtype=torch.float32).reshape(-1, 1)
        return torch.as_tensor(np.log(p), dtype=torch.float32)

    def confusion(self) -> np.ndarray:
        """Counts of true (rows) against predicted (columns) classes."""
        n = len(self.class_names)
        cm = np.zeros((n, n), dtype=np.int64)
        np.add.at(cm, (self.targets.astype(int), self.predictions.astype(int)), 1)
        return cm

    def one_hot(self, index: int) -> np.ndarray:
        """The (4, L) one-hot input of test example `index` (sequence data)."""
        if self.sequences is None:
            raise SynbiolabError("these test outputs hold no sequences")
        return sequence_one_hot(self.sequences[index])


def prediction_frame(task: str, ids, targets, outputs: torch.Tensor, class_names=None, target_names=None,
                     sequences=None, baseline=None) -> pd.DataFrame:
    """The table of predictions.csv (see the module's docstring for its columns).

    Args:
        task: multiclass, binary or regression.
        ids: one identifier per example (None: the row numbers).
        targets: the test split's labels (N,) or values (N, T).
        outputs: the model's outputs (logits for classification).
        class_names: the classes (classification).
        target_names: the targets' names (regression, optional).
        sequences: the examples' letters (sequence data).
        baseline: the k-mer baseline's predictions (sequence regression).
    """
    from ..evaluate import predictions, probabilities

    n = len(targets)
    table = {"id": list(ids) if ids is not None else list(range(n))}
    if sequences is not None:
        table["sequence"] = list(sequences)
    if task == "regression":
        y = np.asarray(targets, np.float64).reshape(n, -1)
        pred = outputs.double().numpy().reshape(n, -1)
        names = _target_columns(y.shape[1], target_names)
        for j, name in enumerate(names):
            table[f"target{name}"] = y[:, j]
        for j, name in enumerate(names):
            table[f"prediction{name}"] = pred[:, j]
        if baseline is not None:
            base = np.asarray(baseline, np.float64).reshape(n, -1)
            for j, name in enumerate(names):
                table[f"baseline{name}"] = base[:, j]
        return pd.DataFrame(table)
    labels = np.asarray(targets).astype(int).reshape(-1)
    predicted = predictions(task, outputs).long().numpy().reshape(-1)
    table["target"] = [class_names[i] for i in labels]
    table["prediction"] = [class_names[i] for i in predicted]
    probs = probabilities(task, outputs).numpy()
    for k, name in enumerate(class_names):
        table[f"p_{name}"] = probs[:, k]
    return pd.DataFrame(table)


def _target_columns(n_targets: int, target_names) -> list[str]:
    """Column suffixes: none for one target, ``_<name>`` for several."""
    if n_targets == 1:
        return [""]
    names = list(target_names) if target_names and len(target_names) == n_targets else [str(j) for j in
                                                                                          range(n_targets)]
    return [f"_{name}" for name in names]


def read_predictions(run, spec: dict) -> TestOutputs:
    """predictions.csv of a run, with the task and class names of its model.json."""
    path = run.path / PREDICTIONS
    task = spec["task"]
    class_names = spec.get("class_names")
    text_columns = {"id": str, "sequence": str, "target": str, "prediction": str}
    try:
        table = pd.read_csv(path, dtype=text_columns if task != "regression" else {"id": str, "sequence": str},
                            keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SynbiolabError(f"{path}: damaged predictions file (not a readable CSV)") from exc
    sequences = table["sequence"].tolist() if "sequence" in table else None
    if task == "regression":
        def columns(prefix):  # writable copies: torch refuses to wrap pandas' read-only arrays
            names = [c for c in table.columns if c == prefix or c.startswith(prefix + "_")]
            return np.array(table[names].to_numpy(float)) if names else None

        return TestOutputs(task, None, spec.get("target_names"), table["id"].tolist(), columns("target"),
                           columns("prediction"), None, sequences, columns("baseline"))
    index = {name: i for i, name in enumerate(class_names)}
    try:
        targets = np.array([index[v] for v in table["target"]], dtype=np.int64)
        predicted = np.array([index[v] for v in table["prediction"]], dtype=np.int64)
        probs = np.array(table[[f"p_{name}" for name in class_names]].to_numpy(float))
    except KeyError as exc:
        raise SynbiolabError(f"{path}: class {exc} is not one of the model's classes "
                             f"({', '.join(class_names)}); the file does not belong to this run") from None
    return TestOutputs(task, list(class_names), None, table["id"].tolist(), targets, predicted, probs, sequences)


def recompute_test_outputs(run, spec: dict) -> TestOutputs:
    """The old way, for runs without predictions.csv: reload the data set and re-predict with the saved model."""
    from ..evaluate import predict, predictions, probabilities

    ds = run.load_dataset()
    model = run.load_model()
    out = predict(model, ds.test.x)
    ids = ds.test.ids if ds.test.ids is not None else list(range(len(ds.test)))
    sequences = ([sequence_letters(x) for x in ds.test.x.numpy()]
                 if ds.kind == "sequence" and ds.input_shape[0] == 4 else None)
    source = "recomputed: this run has no predictions.csv, so its saved model re-predicted the reloaded test split"
    if ds.task == "regression":
        return TestOutputs(ds.task, None, ds.target_names, ids, ds.test.y.numpy().reshape(len(ds.test), -1),
                           out.numpy().reshape(len(ds.test), -1), None, sequences, source=source)
    return TestOutputs(ds.task, list(ds.class_names), None, ids, ds.test.y.long().numpy(),
                       predictions(ds.task, out).long().numpy(), probabilities(ds.task, out).numpy(), sequences,
                       source=source)


def load_test_outputs(run) -> TestOutputs | None:
    """The test outputs of a finished run: predictions.csv, or for an older run the saved model re-run.

    Returns:
        None for a run without a saved model (it did not finish).
    """
    if not (run.path / "model.json").is_file():
        return None
    spec = run.model_spec
    if (run.path / PREDICTIONS).is_file():
        return read_predictions(run, spec)
    if not (run.path / "model.safetensors").is_file():
        return None
    return recompute_test_outputs(run, spec)
