"""Tuning on the engine: Optuna searches model and training settings on validation data, never the test split.

Each trial trains the model with ``fit`` on the training split and reports its validation error after every
epoch; the TPE sampler proposes the next settings and the median pruner stops trials whose validation error
lags the others' at the same epoch. The best settings are written as a YAML config that ``synbiolab train
--config`` takes, and the best trial is retrained as an ordinary run (the only time the test split is
touched), diagnosed and reported.

Trials run in one process, in several (``jobs``), or on several machines that share one study through
Optuna's relational storage (a SQLite file here, PostgreSQL on a cluster): ``storage`` and ``study_name``.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, apply_overrides, current_model_key, model_parameters
from ..data import load_dataset
from ..errors import SynbiolabError
from ..io import atomic_write_csv, atomic_write_json, atomic_write_text
from ..models import MODELS, build_model
from ..runs import start_folder

# The default search space: (key, kind, low, high) for numbers, (key, "choice", values) for choices.
# Capacity keys of the model are searched as a multiplier of their default width.
DEFAULT_SPACE = (
    ("train.lr", "log", 1e-4, 3e-2),
    ("train.weight_decay", "log", 1e-6, 1e-1),
    ("train.batch_size", "choice", (32, 64, 128)),
    ("model.dropout", "float", 0.0, 0.5),
)
CAPACITY_MULTIPLIERS = (0.5, 1.0, 2.0)


@dataclass
class TuneResult:
    """What ``tune`` returns: the best settings, their validation error, and where everything was written."""

    best_overrides: list[str]
    best_value: float
    n_trials: int
    n_pruned: int
    folder: Path | None = None
    best_run: Path | None = None
    trials: list[dict] = field(default_factory=list)


def _scaled(default, factor: float):
    if isinstance(default, (list, tuple)):
        return [max(1, int(round(v * factor))) for v in default]
    return max(1, int(round(default * factor)))


def suggest(trial, config: Config, space=DEFAULT_SPACE) -> list[str]:
    """The ``--set`` overrides of one trial, drawn from `space` and the model's capacity keys."""
    params = {**model_parameters(config.model.name), **config.model.params}
    overrides = []
    for entry in space:
        key, kind = entry[0], entry[1]
        if key.startswith("model."):  # a name of an older version is searched under today's
            key = f"model.{current_model_key(config.model.name, key.split('.', 1)[1])}"
        if key.startswith("model.") and key.split(".", 1)[1] not in params:
            continue  # this model has no such parameter (e.g. no dropout)
        if kind == "choice":
            value = trial.suggest_categorical(key, list(entry[2]))
        elif kind == "log":
            value = trial.suggest_float(key, entry[2], entry[3], log=True)
        elif kind == "float":
            value = trial.suggest_float(key, entry[2], entry[3])
        elif kind == "int":
            value = trial.suggest_int(key, entry[2], entry[3])
        else:
            raise SynbiolabError(f"search space: '{key}' has kind {kind!r}; valid: log, float, int, choice")
        overrides.append(f"{key}={value!r}")
    for key in MODELS[config.model.name].capacity_keys:
        if key in params and params[key] is not None:
            factor = trial.suggest_categorical(f"capacity.{key}", list(CAPACITY_MULTIPLIERS))
            overrides.append(f"model.{key}={_scaled(params[key], factor)!r}")
    return overrides


def _objective(config: Config, dataset, space):
    import optuna

    from ..train import fit

    def objective(trial) -> float:
        overrides = suggest(trial, config, space)
        trial_config = apply_overrides(copy.deepcopy(config), overrides)
        trial_config.train.progress = False
        trial.set_user_attr("overrides", overrides)
        import torch

        torch.manual_seed(trial_config.train.seed)
        model = build_model(trial_config.model.name, dataset, **trial_config.model.params)
        best = {"value": math.inf}

        def report(row: dict) -> bool:
            # the validation error of the epoch: the test split is never looked at while searching
            value = float(row["val_error"])
            best["value"] = min(best["value"], value)
            trial.report(value, row["epoch"])
            return trial.should_prune()

        result = fit(model, dataset, trial_config.train, verbose=False, on_epoch=report)
        if result.stopped_by_callback:
            raise optuna.TrialPruned(f"validation error {best['value']:.4f} after epoch {len(result.history)}")
        return best["value"]

    return objective


def _worker(config_dict: dict, storage: str, study_name: str, n_trials: int, space, threads: int) -> None:
    """One process of a parallel study: load the shared study and run its share of trials."""
    import optuna
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = Config.from_dict(config_dict, source="tune")
    dataset = load_dataset(config.data)
    study = optuna.load_study(study_name=study_name, storage=storage)
    study.optimize(_objective(config, dataset, space), n_trials=n_trials)


def tune(config: Config, trials: int = 20, jobs: int = 1, storage: str | None = None, study_name: str | None = None,
         out: str | Path | None = None, overwrite: bool = False, space=DEFAULT_SPACE, seed: int = 0,
         retrain: bool = True, verbose: bool = True) -> TuneResult:
    """Search model and training settings with Optuna (TPE, median pruning on the per-epoch validation error).

    Args:
        config: the starting Config (data, model, epochs per trial and every fixed setting).
        trials: trials to run in this call (added to the study when it already has some).
        jobs: processes running trials at once on this machine.
        storage: an Optuna storage URL shared by processes or machines (``sqlite:///study.db``,
            ``postgresql://...``); default: a SQLite file in the tune folder when ``jobs > 1``, else memory.
        study_name: the study's name in the storage (default: ``<data>-<model>``).
        out: the tune folder (default ``runs/tune-<data>-<model>-<time>``); None with ``retrain=False`` in
            Python writes nothing.
        overwrite: replace an existing tune folder.
        space: the search space (see DEFAULT_SPACE).
        seed: the sampler's seed.
        retrain: train the best settings as a run (``<out>/best``), its test result and diagnosis included.
        verbose: print one line per trial and the summary.

    Returns:
        The TuneResult.
    """
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - optuna is a dependency
        raise SynbiolabError("tuning needs optuna: pip install optuna") from exc
    if trials < 1 or jobs < 1:
        raise SynbiolabError(f"--trials {trials} --jobs {jobs}: both must be at least 1")
    if MODELS[config.model.name].kinds == ("gan",):
        raise SynbiolabError(f"model '{config.model.name}' is a GAN; tune takes classifier and regression models")
    from datetime import datetime

    lock = None
    folder = None
    if out is not None or retrain:
        out = Path(out) if out is not None else Path("runs") / (
            f"tune-{Path(config.data.name).stem}-{config.model.name}-{datetime.now():%Y%m%d-%H%M%S}")
        folder, lock = start_folder(out, "tune", overwrite)
    try:
        if storage is None and jobs > 1:
            if folder is None:
                raise SynbiolabError("--jobs > 1 needs --storage or an output folder for the shared study")
            storage = f"sqlite:///{(folder / 'study.db').resolve()}"
        study_name = study_name or f"{Path(config.data.name).stem}-{config.model.name}"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
        study = _open_study(optuna, study_name, storage, sampler, pruner)
        dataset = load_dataset(config.data)
        if folder is not None:
            atomic_write_json(folder / "config.json", {**config.to_dict(), "meta": {"kind": "tune"}})
        if jobs == 1:
            callbacks = [_print_trial] if verbose else []
            study.optimize(_objective(config, dataset, space), n_trials=trials, callbacks=callbacks)
        else:
            _run_processes(config, storage, study_name, trials, jobs, space)
        return _finish(study, config, folder, retrain, verbose)
    finally:
        if lock is not None:
            lock.release()


def _open_study(optuna, study_name, storage, sampler, pruner, attempts: int = 10):
    """Create or join the study; processes that start together on a new database race to create its tables,
    and the loser simply tries again."""
    import time

    for attempt in range(attempts):
        try:
            return optuna.create_study(study_name=study_name, storage=storage, direction="minimize",
                                       sampler=sampler, pruner=pruner, load_if_exists=True)
        except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable database is the user's to fix
            racing = "UNIQUE constraint" in str(exc) or "already exists" in str(exc) or "locked" in str(exc)
            if not racing or attempt == attempts - 1:
                raise SynbiolabError(f"--storage {storage}: {str(exc).splitlines()[0]}") from exc
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _run_processes(config: Config, storage: str, study_name: str, trials: int, jobs: int, space) -> None:
    import multiprocessing

    shares = [trials // jobs + (1 if i < trials % jobs else 0) for i in range(jobs)]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker, args=(config.to_dict(), storage, study_name, share, space, threads))
                 for share in shares if share]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise SynbiolabError(f"{len(failed)} of {len(processes)} tuning processes failed (exit codes {failed})")


def _print_trial(study, trial) -> None:
    value = "pruned" if trial.value is None else f"validation error {trial.value:.4f}"
    print(f"trial {trial.number:>3}: {value}  {' '.join(trial.user_attrs.get('overrides', []))}", flush=True)


def _finish(study, config: Config, folder: Path | None, retrain: bool, verbose: bool) -> TuneResult:
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    if not done:
        raise SynbiolabError(f"no trial of study '{study.study_name}' finished ({len(pruned)} pruned); "
                             "run more trials or more epochs per trial")
    best = study.best_trial
    rows = [{"trial": t.number, "state": t.state.name.lower(), "val_error": t.value,
             "epochs": len(t.intermediate_values), "settings": " ".join(t.user_attrs.get("overrides", []))}
            for t in study.trials]
    result = TuneResult(list(best.user_attrs.get("overrides", [])), float(best.value), len(study.trials),
                        len(pruned), folder, trials=rows)
    if folder is None:
        return result
    best_config = apply_overrides(copy.deepcopy(config), result.best_overrides)
    import yaml

    atomic_write_text(folder / "best.yaml", "# the best settings of the study " + study.study_name
                      + f" (validation error {best.value:.4f}); synbiolab train --config best.yaml\n"
                      + yaml.safe_dump(best_config.to_dict(), sort_keys=False))
    atomic_write_csv(folder / "trials.csv", rows, ["trial", "state", "val_error", "epochs", "settings"])
    importances = {}
    if len(done) >= 2:
        try:
            importances = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (RuntimeError, ValueError):  # every trial had the same settings: nothing to attribute
            importances = {}
    summary = {"study": study.study_name, "best_value": best.value, "best_trial": best.number,
               "best_overrides": result.best_overrides, "n_trials": len(study.trials), "n_pruned": len(pruned),
               "importances": importances, "chosen_on": "validation error of the best epoch (the test split is "
               "not looked at while searching)"}
    atomic_write_json(folder / "tune.json", summary)
    if retrain:
        from ..diagnose import diagnose
        from ..train import train

        best_run = train(best_config, out=folder / "best", verbose=False)
        diagnose(best_run, write=True, verbose=False, estimate_noise=False)
        result.best_run = best_run.path
        best_metrics = best_run.metrics  # DNA: the linear baselines on the same split, beside its test number
        if "baseline_comparison" in best_metrics:
            summary["baseline_comparison"] = best_metrics["baseline_comparison"]
            atomic_write_json(folder / "tune.json", summary)
    from ..report.sections.tune import write_tune_report

    write_tune_report(folder, study, summary, rows)
    if verbose:
        print(f"best of {len(study.trials)} trials ({len(pruned)} pruned): validation error {best.value:.4f} "
              f"with {' '.join(result.best_overrides)}")
        if "baseline_comparison" in summary:
            print(f"the best settings trained again ({folder / 'best'}), test split: "
                  f"{summary['baseline_comparison']['sentence']}")
        print(f"config: {folder / 'best.yaml'}  (synbiolab train --config {folder / 'best.yaml'})")
        print(f"report: {folder / 'report.html'}")
    return result
