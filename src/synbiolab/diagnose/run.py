"""Diagnose a run folder and apply a fix: read the run's files, write diagnosis.json, retrain with a fix.

The facts the rules need are read from the files training wrote (metrics.json: the task, the sizes, the
trivial predictor's error and loss, the label-noise estimate; config.json: the settings). Only a run that
lacks them (written before they were saved, or stopped before metrics.json) has its data set loaded again,
and a run whose data set cannot be loaded is still judged on what its files hold.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from ..config import apply_overrides, model_parameters
from ..errors import SynbiolabError, TrainingDiverged
from ..io import atomic_write_json
from ..models.registry import MODELS
from ..report import write_report
from ..report.figures import fix_comparison_figure
from ..report.html import save_figure
from ..runs import HISTORY_COLUMNS, Run, open_run
from ..train.job import train
from .fixes import Fix, recommend_fixes
from .noise import estimate_label_noise
from .rules import (
    FIX_TABLE_ROWS,
    Diagnosis,
    RunFacts,
    baseline_loss,
    check_history,
    diagnose_history,
    fix_table_blocks,
    format_diagnosis,
    reference_error,
)


def _as_run(run) -> Run:
    return run if isinstance(run, Run) else open_run(run, expect="train", verb="diagnose")


def _metrics_or_empty(run: Run) -> dict:
    return run.metrics if (run.path / "metrics.json").is_file() else {}


def _diverged_step(metrics: dict) -> int | None:
    if metrics.get("status") != "diverged":
        return None
    found = re.search(r"at step (\d+)", metrics.get("message", ""))
    return int(found.group(1)) if found else 0


# --- facts


def _collect_facts(run: Run, estimate_noise: bool) -> tuple[RunFacts, list[str]]:
    """The run's facts from its files, the data set loaded only for what they lack; and notes on what is unknown."""
    config = run.config
    metrics = _metrics_or_empty(run)
    spec = run.model_spec if (run.path / "model.json").is_file() else {}
    status = metrics.get("status", "stopped")
    finished = status == "finished"
    known = {
        "task": metrics.get("task") or spec.get("task"),
        "data_kind": spec.get("kind") or (metrics.get("dataset") or {}).get("kind"),
        "majority_error": metrics.get("majority_error"),
        "baseline_loss": metrics.get("baseline_loss"),
        "n_classes": metrics.get("n_classes"),
        "n_parameters": metrics.get("n_parameters"),
        "n_train": metrics.get("n_train"),
        "n_train_available": metrics.get("n_train_available"),
        "label_noise": metrics.get("label_noise"),
    }
    notes: list[str] = []
    if _missing(known, estimate_noise):
        notes += _facts_from_data(run, known, estimate_noise)
    entry = MODELS.get(config.model.name)
    n_train = known["n_train"]
    facts = RunFacts(
        task=known["task"] or "multiclass", data_kind=known["data_kind"] or "image",
        majority_error=known["majority_error"], baseline_loss=known["baseline_loss"], n_classes=known["n_classes"],
        n_parameters=known["n_parameters"], n_train=n_train, n_train_available=known["n_train_available"],
        model_name=config.model.name, model_params={**model_parameters(config.model.name), **config.model.params},
        train=asdict(config.train),
        # The loop always keeps the weights of the epoch with the lowest validation loss.
        best_weights_restored=True,
        diverged_at_step=_diverged_step(metrics), label_noise=known["label_noise"] if estimate_noise else None,
        capacity_keys=entry.capacity_keys if entry is not None else (),
        status=status, epochs_planned=config.train.epochs,
        n_train_eval=min(config.train.train_eval_size, n_train) if n_train else None,
        kept_epoch=metrics.get("best_epoch") if finished else None,
        kept_errors={split: metrics[split]["error"] for split in ("train", "val", "test") if split in metrics}
        if finished else None)
    return facts, notes


def _missing(known: dict, estimate_noise: bool) -> list[str]:
    """The facts a diagnosis uses that the files did not hold (what a classification or regression run needs)."""
    needed = ["task", "data_kind", "baseline_loss", "n_parameters", "n_train", "n_train_available"]
    if known["task"] != "regression":
        needed += ["majority_error", "n_classes"] + (["label_noise"] if estimate_noise else [])
    return [key for key in needed if known[key] is None]


def _facts_from_data(run: Run, known: dict, estimate_noise: bool) -> list[str]:
    """Fill the facts an older or stopped run did not save, by loading its data set (the old way)."""
    from ..data import load_dataset
    from ..models import build_model, count_parameters

    missing = _missing(known, estimate_noise)
    try:
        dataset = run.load_dataset()
    except SynbiolabError as exc:
        return [f"the data set could not be loaded ({exc}), so {', '.join(missing)} are unknown: errors are "
                "measured against the chance error instead of the trivial predictor's"]
    labels = dataset.train.y.numpy()
    n_classes = len(dataset.class_names) if dataset.class_names else None
    found = {"task": dataset.task, "data_kind": dataset.kind, "majority_error": dataset.majority_error(),
             "baseline_loss": baseline_loss(dataset.task, labels), "n_classes": n_classes,
             "n_train": len(dataset.train)}
    for key, value in found.items():
        if known[key] is None:
            known[key] = value
    if known["n_train_available"] is None:
        config = run.config
        known["n_train_available"] = (len(load_dataset(config.data, train_size=None).train)
                                      if config.data.train_size is not None else len(dataset.train))
    if known["n_parameters"] is None:
        model = (run.load_model() if (run.path / "model.safetensors").is_file()
                 else build_model(run.config.model.name, dataset, **run.config.model.params))
        known["n_parameters"] = count_parameters(model)
    if estimate_noise and known["label_noise"] is None and dataset.task != "regression":
        known["label_noise"] = estimate_label_noise(dataset.train.x.numpy(), labels.astype(int),
                                                    n_classes=n_classes if dataset.task == "multiclass" else 2)
    return []


def run_facts(run, estimate_noise: bool = True) -> RunFacts:
    """Collects the facts about a run folder that the rules need, from the files training wrote.

    Args:
        run: a run folder or Run.
        estimate_noise: include the label-noise estimate (read from metrics.json; measured on the training
            split only when the run did not save it).

    Returns:
        The RunFacts of the run.
    """
    return _collect_facts(_as_run(run), estimate_noise)[0]


# --- diagnose


def _history_or_empty(run: Run) -> pd.DataFrame:
    if (run.path / "history.csv").is_file():
        return run.history
    return pd.DataFrame(columns=list(HISTORY_COLUMNS))


def diagnose(run, write: bool = True, verbose: bool = True, estimate_noise: bool = True,
             report: bool = True) -> Diagnosis:
    """Diagnoses a run folder: verdict, evidence, ranked fixes.

    Writes diagnosis.json (atomically) and re-writes report.html with a diagnosis section. A run that
    stopped before it finished (killed, interrupted) is judged on the epochs it recorded, and says so.

    Args:
        run: a run folder or Run.
        write: write diagnosis.json and the report.
        verbose: print the diagnosis.
        estimate_noise: report the label-noise estimate (saved by training when cheap; otherwise measured on
            the training split, a few seconds on MNIST).
        report: re-write report.html with the diagnosis section (when `write`).

    Returns:
        The Diagnosis.

    Raises:
        SynbiolabError: the folder is not a run, or the run has no history to judge.
    """
    run = _as_run(run)
    metrics = _metrics_or_empty(run)
    history_path = run.path / "history.csv"
    if not history_path.is_file() and metrics.get("status") != "diverged":
        raise SynbiolabError(f"{run.path}: run has no history.csv (training never finished an epoch); "
                             "nothing to diagnose")
    facts, notes = _collect_facts(run, estimate_noise)
    history = _history_or_empty(run)
    if len(history) == 0 and facts.diverged_at_step is not None:
        diagnosis = _diverged_without_history(facts, metrics)
    else:
        diagnosis = diagnose_history(check_history(history, source=str(history_path)), facts)
    diagnosis.notes += notes
    if write:
        atomic_write_json(run.path / "diagnosis.json", diagnosis.to_dict())
        if report:
            write_report(run)
    if verbose:
        print(format_diagnosis(diagnosis))
    return diagnosis


def _diverged_without_history(facts: RunFacts, metrics: dict) -> Diagnosis:
    """An unstable verdict for a run that diverged before its first epoch ended."""
    evidence = {"epochs": 0, "reference_error": reference_error(facts),
                "diverged_at_step": facts.diverged_at_step, "message": metrics.get("message", "")}
    fake = {"reference_error": evidence["reference_error"], "epochs": 0}
    fixes = recommend_fixes("unstable", fake, facts)
    reason = f"the loss became NaN or infinite at step {facts.diverged_at_step}, before the first epoch ended"
    return Diagnosis("unstable", f"unstable: {reason}", evidence, fixes, [])


# --- fix: rerun with one recommended change, compare before and after


def errors_of(run: Run) -> dict:
    """A run's errors under names that say their weights: the last epoch's (history.csv) and the kept ones'.

    Returns:
        ``train_error``, ``val_error``, ``gap``, ``test_error``: the kept (best-epoch) weights, measured once at
        the end (metrics.json); ``last_train_error``, ``last_val_error``, ``last_gap``: the last epoch's
        weights (history.csv); ``best_epoch``, ``last_epoch``, ``status``. NaN where a run has no such number.
    """
    metrics = _metrics_or_empty(run)
    status = metrics.get("status", "stopped")
    row = {"status": status, "best_epoch": metrics.get("best_epoch"), "last_epoch": None}
    for split in ("train", "val", "test"):
        row[f"{split}_error"] = float(metrics[split]["error"]) if status == "finished" else math.nan
    row["gap"] = row["val_error"] - row["train_error"]
    history = _history_or_empty(run)
    if len(history):
        last = history.iloc[-1]
        row.update(last_epoch=int(last["epoch"]), last_train_error=float(last["train_error"]),
                   last_val_error=float(last["val_error"]))
        row["last_gap"] = row["last_val_error"] - row["last_train_error"]
    else:
        row.update(last_train_error=math.nan, last_val_error=math.nan, last_gap=math.nan)
    return row


@dataclass
class FixResult:
    """The outcome of `fix`: the new run and the numbers before and after (see `errors_of`)."""

    fix: Fix
    run_path: str
    before: dict
    after: dict
    figure: str | None = None

    def table(self) -> str:
        """The before/after table as plain text, in two blocks: the last epoch's weights and the kept ones."""
        blocks = fix_table_blocks(self.before, self.after)
        lines = [f"{'':<20}{'before':>10}{'after':>10}{'change':>10}"]
        current = None
        for block, key, name in FIX_TABLE_ROWS:
            if block != current:
                lines.append(blocks[block])
                current = block
            before, after = self.before.get(key, math.nan), self.after.get(key, math.nan)
            lines.append(f"  {name:<18}{before:>10.4f}{after:>10.4f}{after - before:>+10.4f}")
        lines.append("train error on each run's training examples (at most train.train_eval_size of them, a fixed "
                     "subset); validation and test error on their whole splits")
        return "\n".join(lines)


def fix(run, apply: int = 1, out=None, overwrite: bool = False, verbose: bool = True,
        diagnose_after: bool = True) -> FixResult:
    """Reruns a run with one of its recommended fixes and compares the two.

    Args:
        run: a run folder or Run (diagnosed first if it has no diagnosis.json).
        apply: which fix, counted from 1 as printed by `diagnose`.
        out: the new run folder (default: `<run>-fix<apply>` beside the run).
        overwrite: replace an existing folder at `out`.
        verbose: print the training progress and the before/after table.
        diagnose_after: diagnose the new run too (its verdict is printed and saved).

    Returns:
        A FixResult with the new run's path, the errors before and after and the comparison figure.

    Raises:
        SynbiolabError: the run is not a run, has no such fix, or the fix does not apply.
    """
    run = _as_run(run)
    path = run.path / "diagnosis.json"
    if path.is_file():
        diagnosis = Diagnosis.from_dict(json.loads(path.read_text()))
    else:
        diagnosis = diagnose(run, verbose=verbose)
    if not diagnosis.fixes:
        raise SynbiolabError(f"{run.path}: the verdict is '{diagnosis.verdict}' and no fix is recommended")
    if not 1 <= apply <= len(diagnosis.fixes):
        raise SynbiolabError(f"--apply {apply}: {run.path} has {len(diagnosis.fixes)} recommended fix(es); "
                             f"choose 1..{len(diagnosis.fixes)}")
    chosen = diagnosis.fixes[apply - 1]
    config = apply_overrides(run.config, chosen.overrides)
    out = Path(out) if out is not None else run.path.parent / f"{run.name}-fix{apply}"
    if verbose:
        print(f"fix {apply}: {chosen.title} (--set {' --set '.join(chosen.overrides)}) -> {out}")
    try:
        new_run = train(config, out=out, overwrite=overwrite, verbose=verbose)
    except TrainingDiverged:
        new_run = Run(out)
    before, after = errors_of(run), errors_of(new_run)
    figure = _fix_figure(run, new_run, chosen, before, after)
    result = FixResult(chosen, str(new_run.path), before, after, figure)
    atomic_write_json(new_run.path / "fix.json", {"source_run": str(run.path), "apply": apply,
                                                  "fix": asdict(chosen), "before": before, "after": after,
                                                  "verdict_before": diagnosis.verdict})
    if diagnose_after and after.get("status") != "diverged":
        diagnose(new_run, verbose=False)
    else:
        write_report(new_run)
    if verbose:
        print(result.table())
        if diagnose_after and (new_run.path / "diagnosis.json").is_file():
            verdict = json.loads((new_run.path / "diagnosis.json").read_text())["verdict"]
            print(f"verdict before: {diagnosis.verdict}; after: {verdict}")
        print(f"figure: {figure}")
    return result


def _fix_figure(before_run: Run, after_run: Run, chosen: Fix, before: dict, after: dict) -> str | None:
    """Side-by-side learning curves before and after a fix, saved as the new run's figures/fix_comparison.png."""
    histories = [_history_or_empty(r) for r in (before_run, after_run)]
    if any(len(h) == 0 for h in histories):
        return None
    titles = [f"{name}: validation error {errors['val_error']:.4f} (kept weights, epoch {errors['best_epoch']})"
              for name, errors in (("before", before), ("after " + chosen.title, after))]
    save_figure(fix_comparison_figure(histories, titles, " ".join(chosen.overrides)), after_run, "fix_comparison")
    return str(after_run.path / "figures" / "fix_comparison.png")
