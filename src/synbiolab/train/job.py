"""The whole job: config -> data -> model -> fit -> run folder (metrics, weights, predictions, report).

``train`` is what ``synbiolab train`` runs and ``train_gan`` what ``synbiolab gan`` runs: both start a locked
run folder with its kind, fit, evaluate once at the end, and finish the folder.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..classical.kmer import split_comparison
from ..config import Config, GanConfig, TrainConfig, apply_overrides, default_config, set_value, shown
from ..data import Dataset, Split, load_dataset
from ..data.generative import prepare_gan_data, to_data_space
from ..diagnose.noise import estimate_label_noise, is_cheap
from ..diagnose.rules import baseline_loss
from ..errors import SynbiolabError, TrainingDiverged
from ..evaluate import evaluate, predict, predictions, ranking_metrics, task_metrics
from ..evaluate.gan_quality import ImageQuality, SequenceQuality, load_judge
from ..generate import balanced_labels, generate, to_strings
from ..io import WriteFailed, atomic_write_json, atomic_write_text
from ..models import MODELS, build_model, count_parameters, is_gan
from ..report import write_gan_report, write_report
from ..report.figures import misclassified_figure
from ..report.html import save_figure
from ..report.outputs import PREDICTIONS, prediction_frame, sequence_letters
from ..report.sections.gan import summary_line
from ..report.sections.interpret import BASELINE_METHOD, PREPARATION_KEYS
from ..runs import Run, check_new_folder, default_run_name, open_run, reopen_folder, save_model, start_folder, versions
from .fit_gan import fit_gan
from .loop import FitResult, check_fits, fit, train_eval_subset
from .support import Distributed, console, select_device


def train(config: Config, out: str | Path | None = None, overwrite: bool = False, resume: str | Path | None = None,
          verbose: bool = True, dataset=None, options: dict | None = None, sets: list[str] | None = None) -> Run:
    """Run a whole training job and write the run folder.

    Args:
        config: what to train (data, model, train sections).
        out: the run folder (default ``runs/<data>-<model>-<time>``).
        overwrite: replace an existing run folder at `out`.
        resume: a run folder whose checkpoint to continue (its config.json is used; `config` is ignored).
        verbose: print progress and the final table.
        dataset: an already loaded Dataset for ``config.data`` (skips loading).
        options: with `resume`, named options as config keys (``{"train.epochs": 5}``; None values are unset).
        sets: with `resume`, ``key=value`` overrides. Only what a checkpoint can continue with may change
            (more epochs, patience, progress, device, data folder); anything else is refused in one line.

    Returns:
        The Run.
    """
    dist = Distributed.from_env()
    dist.init(config.train.device if config else "auto")
    lock = None
    if resume is not None:
        if out is not None or overwrite:
            raise SynbiolabError("train --resume writes into the run folder it continues; --out and --overwrite "
                                 "do not go with it")
        run = open_run(resume, expect="train", verb="train --resume")
        _require_config(run)
        config, run_dir = run.config, run.path
        if dist.is_main:
            run_dir, lock = reopen_folder(run_dir, "train")
        try:
            config = resume_changes(run, config, options, sets, verbose and dist.is_main, lock is not None)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
    else:
        run_dir = None
        out = out or Path("runs") / default_run_name(config.data.name, config.model.name)
        # bad --out, data or model settings are refused before the run folder is made, so none is left half-made
        if dist.is_main:
            check_new_folder(out, overwrite)
        dataset = dataset if dataset is not None else load_dataset(config.data)
        check_model(config.model.name, config.model.params, dataset)
        check_fits(config.train, dataset)
        if dist.is_main:
            run_dir, lock = start_folder(out, "train", overwrite)
        run_dir = Path(dist.broadcast(str(run_dir) if run_dir else None))
        meta = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "versions": versions(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "world_size": dist.world_size}
        if dist.is_main:
            atomic_write_json(run_dir / "config.json", {**config.to_dict(), "meta": meta})
    try:
        _train_into(config, run_dir, dist, resume is not None, verbose, dataset)
    except WriteFailed as exc:
        raise WriteFailed(f"{exc}; {_kept(run_dir, 'train')}") from exc
    finally:
        if lock is not None:
            lock.release()
    if dist.enabled:
        import torch.distributed as torch_dist

        torch_dist.barrier()
    return Run(run_dir)


MAX_PARAMETERS = 100_000_000  # about 1.6 GB with Adam's state; a typo in a model setting must not ask for 50 GB


def check_model(name: str, params: dict, dataset=None, input_shape=None, n_outputs=None) -> None:
    """Build the model on PyTorch's meta device (shapes only, no memory) so that settings its constructor refuses,
    or a model too large to train, are one line before any folder is made.

    Raises:
        SynbiolabError: the constructor's complaint, or the number of parameters over MAX_PARAMETERS.
    """
    try:
        with torch.device("meta"):
            model = build_model(name, dataset, input_shape=input_shape, n_outputs=n_outputs, **params)
    except SynbiolabError:
        raise
    except (TypeError, ValueError, RuntimeError, IndexError) as exc:
        settings = ", ".join(f"model.{k}={shown(v)}" for k, v in params.items()) or "its defaults"
        raise SynbiolabError(f"model '{name}' cannot be built with {settings}: "
                             f"{str(exc).splitlines()[0][:160]}") from exc
    n = count_parameters(model)
    if n > MAX_PARAMETERS:
        raise SynbiolabError(f"model '{name}' would have {n:,} parameters, more than the {MAX_PARAMETERS:,} "
                             f"synbiolab trains (about {16 * n / 1e9:.0f} GB with the optimizer's state); choose "
                             "smaller model settings")


def _train_into(config: Config, run_dir: Path, dist, resume: bool, verbose: bool, dataset) -> None:
    ds = dataset if dataset is not None else load_dataset(config.data)
    torch.manual_seed(config.train.seed)  # the same initial weights for the same seed, on every rank
    model = build_model(config.model.name, ds, **config.model.params)
    if verbose and dist.is_main:
        console.print(f"run folder: {run_dir}")
        console.print(f"data: {ds.name} ({ds.task}), train {len(ds.train):,} / val {len(ds.val):,} / "
                      f"test {len(ds.test):,}; model: {config.model.name}, {count_parameters(model):,} parameters")
    try:
        result = fit(model, ds, config.train, run_dir=run_dir, resume=resume, verbose=verbose)
    except TrainingDiverged as exc:
        if dist.is_main:
            atomic_write_json(run_dir / "metrics.json", {"status": "diverged", "message": str(exc),
                                                          "task": ds.task})
            _try_report(run_dir)
        raise
    except KeyboardInterrupt:
        if dist.is_main:
            _try_report(run_dir)
            console.print(f"interrupted: checkpoint saved; continue with: synbiolab train --resume {run_dir}")
        raise
    if dist.is_main:
        finish_run(run_dir, result, ds, config, verbose)


def finish_run(run_dir: Path, result: FitResult, ds, config: Config, verbose: bool = True) -> None:
    """Measure the kept weights on every split (the test split once) and save what every later verb reads.

    Writes metrics.json (the numbers per split, the test split's ranking metrics, the facts ``diagnose`` needs
    and the parameters per layer), model.safetensors with model.json, predictions.csv (the test outputs),
    figures/misclassified.png (image classification), then the report. Reports and diagnoses read these
    files instead of loading the data set or rebuilding the model again.
    """
    model = result.model
    train_eval = train_eval_subset(ds.train, config.train.train_eval_size, config.train.seed)
    test, test_outputs = _measure(model, ds.test, ds.task)  # the only time the test split is touched
    metrics = {
        "status": "finished",
        "task": ds.task,
        "metric_name": "accuracy" if ds.task != "regression" else "pearson_r",
        "train": _measure(model, train_eval, ds.task)[0],
        "val": _measure(model, ds.val, ds.task)[0],
        "test": test,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "train_seconds": round(result.train_seconds, 3),
        "n_parameters": count_parameters(model),
        "n_train": len(ds.train),
        "majority_error": ds.majority_error(),
        "dataset": ds.summary(),
        **({"calibration": result.calibration} if result.calibration is not None else {}),
        **_diagnosis_facts(ds, config),
        "layers": _layers(model),
        "model_text": str(model),
    }
    beside = _sequence_baselines(ds, test_outputs, config.model.name) if ds.kind == "sequence" else None
    baseline = None
    if beside is not None:
        baseline = beside["outputs"]["kmer_linear"]  # the k-mer baseline of the report's figures
        metrics["baseline"] = {"method": BASELINE_METHOD, **ranking_metrics(ds.task, baseline, ds.test.y)}
        metrics["baselines"] = {name: ranking_metrics(ds.task, outputs, ds.test.y)
                                for name, outputs in beside["outputs"].items()}
        metrics["baseline_comparison"] = beside["comparison"]
        metrics["data_info"] = {k: str(v) for k, v in ds.info.items() if k in PREPARATION_KEYS}
    atomic_write_json(run_dir / "metrics.json", metrics)
    save_model(run_dir, model, config.model.name, config.model.params,
               {"input_shape": list(ds.input_shape), "n_outputs": ds.n_outputs, "task": ds.task,
                "class_names": ds.class_names, "target_names": ds.target_names, "data": ds.name, "kind": ds.kind,
                "normalisation": ds.info.get("normalisation")})
    _save_test_outputs(run_dir, ds, test_outputs, baseline)
    _try_report(run_dir)
    if verbose:
        t = metrics["test"]
        what = f"accuracy {t['accuracy']:.4f} (error {t['error']:.4f})" if ds.task != "regression" \
            else f"pearson r {t['pearson_r']:.4f}, R^2 {t['r2']:.4f}"
        console.print(f"test {what}; best epoch {result.best_epoch}/{len(result.history)}; "
                      f"{result.train_seconds:.1f}s of training")
        if beside is not None:
            console.print("linear baselines on the same split: " + ", ".join(
                f"{name} {score:.4f}" for name, score in beside["scores"].items() if name != config.model.name))
            console.print(beside["comparison"]["sentence"])
        console.print(f"report: {run_dir / 'report.html'}")


def _measure(model, split, task: str) -> tuple[dict, torch.Tensor]:
    """What ``evaluate`` measures (loss, metric, error, n) plus the ranking metrics of the task (AUROC and AUPRC;
    Spearman rho), and the outputs they came from."""
    outputs = predict(model, split.x)
    return {**task_metrics(task, outputs, split.y), "n": len(split), **ranking_metrics(task, outputs, split.y)}, outputs


def _diagnosis_facts(ds, config: Config) -> dict:
    """What ``diagnose`` needs to know besides the history, saved so that it never reloads the data set."""
    labels = ds.train.y.numpy()
    available = len(ds.train)
    if config.data.train_size is not None:
        # The training pool before --train-size subsampled it: "more data" is offered only when there is more.
        try:
            available = len(load_dataset(config.data, train_size=None).train)
        except SynbiolabError:
            available = None  # a data set passed in that its config cannot reload: diagnose says it is unknown
    noise = None
    if ds.task != "regression" and is_cheap(len(ds.train), int(np.prod(ds.input_shape))):
        noise = estimate_label_noise(ds.train.x.numpy(), labels.astype(int),
                                     n_classes=len(ds.class_names) if ds.task == "multiclass" else 2)
    return {"n_train_available": available, "baseline_loss": baseline_loss(ds.task, labels),
            "n_classes": len(ds.class_names) if ds.class_names else None,
            # None: not measured at the end of training (inputs too large to be cheap, or regression)
            "label_noise": noise}


def _layers(model: torch.nn.Module) -> list[dict]:
    """Trainable parameters per layer, for the report's model section."""
    rows = []
    for name, module in model.named_modules():
        count = sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad)
        if count:
            rows.append({"layer": name or "(model)", "type": type(module).__name__, "parameters": count})
    return rows


def _sequence_baselines(ds, test_outputs: torch.Tensor, model: str) -> dict | None:
    """The three linear baselines fitted on the training and validation splits, their test outputs and scores,
    and the model's margin over the best of them (``classical.kmer.split_comparison``); None: not DNA."""
    if ds.input_shape[0] != 4:
        return None
    train_x = torch.cat([ds.train.x, ds.val.x]).numpy()
    train_y = torch.cat([ds.train.y, ds.val.y]).numpy()
    return split_comparison(train_x, train_y, ds.test.x.numpy(), ds.test.y.numpy(), ds.task, test_outputs.numpy(),
                            model)


def _save_test_outputs(run_dir: Path, ds, outputs: torch.Tensor, baseline) -> None:
    """predictions.csv of the test split, and the first 32 misclassified test images drawn as a PNG."""
    dna = ds.kind == "sequence" and ds.input_shape[0] == 4
    sequences = [sequence_letters(x) for x in ds.test.x.numpy()] if dna else None
    frame = prediction_frame(ds.task, ds.test.ids, ds.test.y.numpy(), outputs, ds.class_names, ds.target_names,
                             sequences, baseline if ds.task == "regression" else None)
    atomic_write_text(run_dir / PREDICTIONS, frame.to_csv(index=False, float_format="%.6g"))
    if ds.kind != "image" or ds.task == "regression":
        return
    predicted = predictions(ds.task, outputs).reshape(-1)
    wrong_mask = predicted != ds.test.y.long().reshape(-1)
    wrong = torch.nonzero(wrong_mask).flatten()[:32]
    if not len(wrong):
        return
    norm = ds.info.get("normalisation") or {"mean": 0.0, "std": 1.0}
    images = (ds.test.x[wrong, 0] * norm["std"] + norm["mean"]).numpy()
    names = ds.class_names
    figure = misclassified_figure(images, [names[int(ds.test.y[i])] for i in wrong],
                                  [names[int(predicted[i])] for i in wrong], int(wrong_mask.sum()), len(predicted))
    save_figure(figure, run_dir, "misclassified")


# --- resuming: what a checkpoint can continue with

# Settings a resumed run may change: they decide how long it goes on or where it runs, not what the checkpoint
# already learned. Anything else (the learning rate, the model, the data) would make a run that no single
# setting describes, so it is refused.
RESUMABLE = {
    "train": ("train.epochs", "train.patience", "train.progress", "train.device", "data.data_dir"),
    "gan": ("train.epochs", "train.progress", "train.device", "data.data_dir", "gan.time_limit"),
}


def _flat(config: Config) -> dict:
    d = config.to_dict()
    flat = {f"{section}.{key}": value for section in ("data", "train", "gan")
            for key, value in d.get(section, {}).items()}
    flat["model.name"] = d["model"]["name"]
    flat.update({f"model.{key}": value for key, value in d["model"]["params"].items()})
    return flat


def _require_config(run: Run) -> None:
    if not (run.path / "config.json").is_file():
        raise SynbiolabError(f"{run.path}: has no config.json (it was stopped before training began); start it "
                             "again with --out and --overwrite")


def resume_changes(run: Run, config: Config, options: dict | None, sets: list[str] | None, verbose: bool = True,
                   write: bool = True) -> Config:
    """Apply the options given with ``--resume``: what is safe is applied and said in one line, the rest refused.

    More epochs continue the run where its checkpoint stopped (not with a schedule planned over the old number
    of epochs: that schedule has already decayed); fewer than the epochs already trained are refused.

    Args:
        run: the run folder being resumed.
        config: its config (from config.json).
        options: named options as config keys (``{"train.epochs": 5}``; None values are options not given).
        sets: ``key=value`` overrides.
        verbose: print the line that says what changed.
        write: record the changes in config.json (only the process that writes the folder does).

    Returns:
        The config to continue with.

    Raises:
        SynbiolabError: a setting a checkpoint cannot continue with, named with the settings that may change.
    """
    kind = run.kind
    changed_config = copy.deepcopy(config)
    sources = {}
    for key, value in (options or {}).items():
        if value is not None:
            source = {"data.name": "--data", "model.name": "--model"}.get(
                key, "--" + key.split(".", 1)[1].replace("_", "-"))
            set_value(changed_config, key, value, source=source)
            sources[key] = source
    apply_overrides(changed_config, sets)
    before, after = _flat(config), _flat(changed_config)
    changed = [k for k in after if after[k] != before.get(k)] + [k for k in before if k not in after]
    if not changed:
        return config
    verb = "gan" if kind == "gan" else "train"
    for key in changed:
        if key not in RESUMABLE[kind]:
            raise SynbiolabError(
                f"{verb} --resume: {sources.get(key, '--set')} {key}={shown(after.get(key))} cannot change a run that "
                f"is resumed (it was trained with {key}={shown(before.get(key))}); on resume only "
                f"{', '.join(RESUMABLE[kind])} may change; start a new run with --out for other settings")
    notes = []
    if "train.epochs" in changed:
        old, new = config.train.epochs, changed_config.train.epochs
        done = _epochs_done(run)
        if new < done:
            raise SynbiolabError(f"{verb} --resume: train.epochs={new} is fewer than the {done} epochs this run has "
                                 "already trained; give at least that many")
        if config.train.schedule != "none":
            raise SynbiolabError(
                f"{verb} --resume: train.epochs cannot change for a run with train.schedule={config.train.schedule}: "
                f"its learning rate was planned over {old} epochs; start a new run with --epochs {new}")
        notes.append(f"train.epochs {old} -> {new}" + (f" ({new - old} more)" if new > old else ""))
    notes += [f"{k} {shown(before.get(k))} -> {shown(after.get(k))}" for k in changed if k != "train.epochs"]
    if verbose:
        console.print(f"resuming {run.path} with " + "; ".join(notes))
    if write:
        raw = json.loads((run.path / "config.json").read_text())
        meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
        resumed = [*meta.get("resumed", []), {"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "changes": notes}]
        atomic_write_json(run.path / "config.json", {**changed_config.to_dict(), "meta": {**meta, "resumed": resumed}})
    return changed_config


def _epochs_done(run: Run) -> int:
    """Epochs the run folder's history holds (0 before the first one ended)."""
    path = run.path / "history.csv"
    if not path.is_file():
        return 0
    lines = [line for line in path.read_text(errors="replace").splitlines()[1:] if line.strip()]
    return len(lines)


def _kept(run_dir: Path, verb: str) -> str:
    """What a run folder keeps after a write failed, and how to go on once the folder can be written."""
    if (run_dir / "checkpoint" / "state.pt").is_file():
        return f"the run keeps its last checkpoint: continue with synbiolab {verb} --resume {run_dir} once the " \
            "folder can be written"
    return "no checkpoint was written yet"


def _try_report(run_dir: Path) -> None:
    write_report(Run(run_dir))


# --- the recipe CNN (the GAN's judge, compare's learned features)


def train_recipe_cnn(dataset, data_config, out, epochs: int = 3, seed: int = 0, device: str = "auto",
                     verbose: bool = False, train_eval_size: int | None = None) -> Run:
    """Train the recipe CNN on `dataset` with the usual job; its run folder goes to `out` (replaced if it is one
    this function wrote before). `train_eval_size` sets the training examples re-evaluated each epoch.

    Returns:
        The CNN's Run.
    """
    config = default_config(data_config.name, "cnn")
    config.data = data_config
    set_value(config, "train.epochs", epochs)
    set_value(config, "train.seed", seed)
    set_value(config, "train.device", device)
    set_value(config, "train.progress", False)
    if train_eval_size is not None:
        set_value(config, "train.train_eval_size", train_eval_size)
    return train(config, out=out, overwrite=True, verbose=verbose, dataset=dataset)


# --- GANs: the same job around fit_gan


def default_gan_config(data: str, model: str) -> tuple[Config, GanConfig]:
    """(Config, GanConfig) for a data set and a GAN model, with the model's published recipe applied."""
    if not is_gan(model):
        gans = ", ".join(name for name in MODELS if is_gan(name))
        raise SynbiolabError(f"unknown GAN model '{model}'; valid: {gans}")
    config = default_config(data, model)
    return config, config.gan


def train_gan(config: Config | None, gan_config: GanConfig | None = None, out=None, overwrite: bool = False,
              resume=None, verbose: bool = True, dataset=None, options: dict | None = None,
              sets: list[str] | None = None) -> Run:
    """Train a GAN and write its run folder: config, history (losses and quality per epoch), metrics,
    weights, samples over epochs, checkpoint and report.

    Args:
        config: a Config whose ``model.name`` is ``dcgan`` or ``wgan_seq``.
        gan_config: GAN settings (default: ``config.gan``, else the model's recipe).
        out: the run folder (default ``runs/<data>-<model>-<time>``).
        overwrite: replace an existing run folder.
        resume: a GAN run folder to continue from its checkpoint (its config is used).
        verbose: print one line per epoch.
        dataset: an already loaded Dataset for ``config.data``.
        options: with `resume`, named options as config keys (``{"train.epochs": 5}``; None values are unset).
        sets: with `resume`, ``key=value`` overrides; only what a checkpoint can continue with may change.

    Returns:
        The Run.
    """
    if resume is not None:
        if out is not None or overwrite:
            raise SynbiolabError("gan --resume writes into the run folder it continues; --out and --overwrite "
                                 "do not go with it")
        run = open_run(resume, expect="gan", verb="gan --resume")
        _require_config(run)
        config = run.config
        if config.gan is None:
            raise SynbiolabError(f"{run.path / 'config.json'}: damaged run configuration (no 'gan' section)")
        run_dir, lock = reopen_folder(resume, "gan")
        try:
            config = resume_changes(run, config, options, sets, verbose)
        except BaseException:
            lock.release()
            raise
    else:
        name = config.model.name
        if not is_gan(name):
            raise SynbiolabError(f"model '{name}' is not a GAN; train it with `synbiolab train --model {name}`")
        config.gan = gan_config or config.gan or default_config(config.data.name, name).gan
        out = out or Path("runs") / default_run_name(config.data.name, name)
        # a bad --out or data set is refused before the run folder is made, so none is left half-made
        check_new_folder(out, overwrite)
        dataset = dataset if dataset is not None else load_dataset(config.data)
        _check_generates(name, dataset)
        run_dir, lock = start_folder(out, "gan", overwrite)
        meta = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "versions": versions(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "kind": "gan"}
        atomic_write_json(run_dir / "config.json", {**config.to_dict(), "meta": meta})
    try:
        return _train_gan_into(config, config.gan, run_dir, resume, verbose, dataset)
    except WriteFailed as exc:
        raise WriteFailed(f"{exc}; {_kept(run_dir, 'gan')}") from exc
    finally:
        lock.release()


def _check_generates(model: str, ds) -> None:
    wanted = MODELS[model].generates
    if ds.kind != wanted:
        raise SynbiolabError(f"model '{model}' generates {wanted} data but '{ds.name}' holds {ds.kind} data; "
                             f"use {'dcgan' if ds.kind == 'image' else 'wgan_seq'}")


def _train_gan_into(config, gcfg: GanConfig, run_dir, resume, verbose: bool, dataset):
    ds = dataset if dataset is not None else load_dataset(config.data)
    _check_generates(config.model.name, ds)
    data = prepare_gan_data(ds, gcfg.holdout, config.data.seed)
    torch.manual_seed(config.train.seed)
    # the data's classes: a conditional DCGAN draws them; the sequence WGAN is unconditional and takes none
    model = build_model(config.model.name, input_shape=data.input_shape, n_classes=data.n_classes,
                        **config.model.params)
    device = str(select_device(config.train.device))
    if data.kind == "image":
        if gcfg.judge:
            judge = load_judge(gcfg.judge, ds, device)
        elif resume is not None and (run_dir / "judge" / "model.safetensors").is_file():
            judge = load_judge(run_dir / "judge", ds, device)
        else:
            if verbose:
                print(
                    f"training the judge: a CNN classifier of {ds.name} ({gcfg.judge_epochs} epochs)",
                    flush=True,
                )
            judge = train_recipe_cnn(ds, config.data, run_dir / "judge", gcfg.judge_epochs, config.train.seed,
                                     config.train.device, verbose=False).load_model(device)
        quality = ImageQuality(judge, data, conditional=bool(model.n_classes), seed=config.train.seed)
    else:
        quality = SequenceQuality(data, seed=config.train.seed)
    if verbose:
        print(
            f"run folder: {run_dir}\ndata: {ds.name}, {len(data.train_x):,} training and "
            f"{len(data.heldout_x):,} held-out examples; model: {config.model.name}, generator "
            f"{count_parameters(model.generator):,} and discriminator "
            f"{count_parameters(model.discriminator):,} "
            f"parameters; loss {gcfg.loss}, {gcfg.n_critic} critic step(s) per generator step",
            flush=True,
        )

    result = fit_gan(model, data, config.train, gcfg, run_dir, quality, resume=resume is not None, verbose=verbose)
    final = quality(model, gcfg.final_samples, details=True)
    if data.kind == "image" and model.n_classes and gcfg.tog_samples > 0:
        final["train_on_generated"] = train_on_generated(
            model, ds, gcfg.tog_samples, gcfg.tog_epochs, config.train.seed
        )
    metrics = {
        "status": "finished",
        "kind": "gan",
        "data_kind": data.kind,
        "loss": gcfg.loss,
        "final": final,
        "epochs_run": len(result.history),
        "epochs_planned": config.train.epochs,
        "steps": result.steps,
        "train_seconds": round(result.train_seconds, 3),
        "seconds_per_epoch": round(result.train_seconds / max(len(result.history), 1), 3),
        "device": device,
        "n_parameters": {
            "generator": count_parameters(model.generator),
            "discriminator": count_parameters(model.discriminator),
        },
        "n_train": len(data.train_x),
        "n_heldout": len(data.heldout_x),
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    if data.kind == "sequence":
        # the held-out natural sequences are kept with the run, so later verbs compare with the same set
        atomic_write_text(run_dir / "heldout.txt", "\n".join(to_strings(data.heldout_x)) + "\n")
    save_model(
        run_dir,
        model.cpu(),
        config.model.name,
        config.model.params,
        {
            "input_shape": list(data.input_shape),
            "n_classes": data.n_classes,
            "n_outputs": max(data.n_classes, 1),  # the older spelling of n_classes, for older versions' readers
            "kind": "gan",
            "data_kind": data.kind,
            "data": ds.name,
            "class_names": data.class_names,
            "normalisation": data.normalisation,
            "latent_size": model.latent_size,
            "conditional": bool(model.n_classes),
        },
    )
    run = Run(run_dir)
    write_gan_report(run)
    if verbose:
        print(summary_line(metrics), flush=True)
        print(f"report: {run_dir / 'report.html'}", flush=True)
    return run


def train_on_generated(model, dataset, n_samples: int = 60000, epochs: int = 3, seed: int = 0) -> dict:
    """Train a CNN only on digits drawn from a conditional generator, then test it on the real test split.

    The validation split used to pick the best epoch is generated too, so no real image guides training.

    Args:
        model: a conditional DCGAN pair.
        dataset: the real Dataset (its test split is the judge).
        n_samples: generated training images (balanced over the classes); a sixth more for validation.
        epochs: epochs of the classifier.
        seed: seed of the latent vectors and of training.

    Returns:
        dict with ``test_accuracy`` on real images and the sizes used.
    """
    n_val = max(n_samples // 6, model.n_classes)
    total = n_samples + n_val
    labels = balanced_labels(total, model.n_classes)[
        torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    ]
    images = to_data_space(generate(model, total, labels, seed=seed + 7), dataset.info["normalisation"])
    generated = Dataset(
        name=f"{dataset.name} (generated)",
        task="multiclass",
        kind="image",
        train=Split(images[:n_samples], labels[:n_samples]),
        val=Split(images[n_samples:], labels[n_samples:]),
        test=dataset.test,
        class_names=dataset.class_names,
        input_shape=dataset.input_shape,
        info=dataset.info,
    )
    config = TrainConfig(**{**MODELS["cnn"].recipe, "epochs": epochs, "seed": seed, "progress": False})
    torch.manual_seed(seed)
    classifier = build_model("cnn", generated)
    result = fit(classifier, generated, config, verbose=False)
    real = evaluate(result.model, dataset.test, "multiclass")
    return {
        "test_accuracy": real["accuracy"],
        "n_generated": n_samples,
        "n_generated_val": n_val,
        "epochs": epochs,
    }
