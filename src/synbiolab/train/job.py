"""The whole job: config -> data -> model -> fit -> run folder (metrics, weights, predictions, report).

``train`` is what ``synbiolab train`` runs and ``train_gan`` what ``synbiolab gan`` runs: both start a locked
run folder with its kind, fit, evaluate once at the end, and finish the folder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from ..config import Config, GanConfig, TrainConfig, default_config, set_value
from ..data import Dataset, Split, load_dataset
from ..data.generative import prepare_gan_data, to_data_space
from ..errors import SynbiolabError, TrainingDiverged
from ..evaluate import evaluate
from ..evaluate.gan_quality import ImageQuality, SequenceQuality, load_judge
from ..generate import balanced_labels, generate, to_strings
from ..io import atomic_write_json, atomic_write_text
from ..models import MODELS, build_model, count_parameters, is_gan
from ..report import write_report
from ..report.sections.gan import summary_line, write_gan_report
from ..runs import Run, default_run_name, open_run, reopen_folder, save_model, start_folder, versions
from .fit_gan import fit_gan
from .loop import FitResult, fit, train_eval_subset
from .support import Distributed, console, select_device


def train(config: Config, out: str | Path | None = None, overwrite: bool = False, resume: str | Path | None = None,
          verbose: bool = True, dataset=None) -> Run:
    """Run a whole training job and write the run folder.

    Args:
        config: what to train (data, model, train sections).
        out: the run folder (default ``runs/<data>-<model>-<time>``).
        overwrite: replace an existing run folder at `out`.
        resume: a run folder whose checkpoint to continue (its config.json is used; `config` is ignored).
        verbose: print progress and the final table.
        dataset: an already loaded Dataset for ``config.data`` (skips loading).

    Returns:
        The Run.
    """
    dist = Distributed.from_env()
    dist.init(config.train.device if config else "auto")
    lock = None
    if resume is not None:
        run = open_run(resume, expect="train", verb="train --resume")
        config, run_dir = run.config, run.path
        if dist.is_main:
            run_dir, lock = reopen_folder(run_dir, "train")
    else:
        run_dir = None
        if dist.is_main:
            run_dir, lock = start_folder(out or Path("runs") / default_run_name(config.data.name, config.model.name),
                                         "train", overwrite)
        run_dir = Path(dist.broadcast(str(run_dir) if run_dir else None))
        meta = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "versions": versions(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "world_size": dist.world_size}
        if dist.is_main:
            atomic_write_json(run_dir / "config.json", {**config.to_dict(), "meta": meta})
    try:
        _train_into(config, run_dir, dist, resume is not None, verbose, dataset)
    finally:
        if lock is not None:
            lock.release()
    if dist.enabled:
        import torch.distributed as torch_dist

        torch_dist.barrier()
    return Run(run_dir)


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
    """Evaluate the best weights on train, validation and (once) test; write metrics, model and report."""
    model = result.model
    train_eval = train_eval_subset(ds.train, config.train.train_eval_size, config.train.seed)
    metrics = {
        "status": "finished",
        "task": ds.task,
        "metric_name": "accuracy" if ds.task != "regression" else "pearson_r",
        "train": evaluate(model, train_eval, ds.task),
        "val": evaluate(model, ds.val, ds.task),
        "test": evaluate(model, ds.test, ds.task),  # the only time the test split is touched
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "train_seconds": round(result.train_seconds, 3),
        "n_parameters": count_parameters(model),
        "n_train": len(ds.train),
        "majority_error": ds.majority_error(),
        "dataset": ds.summary(),
    }
    atomic_write_json(run_dir / "metrics.json", metrics)
    save_model(run_dir, model, config.model.name, config.model.params,
               {"input_shape": list(ds.input_shape), "n_outputs": ds.n_outputs, "task": ds.task,
                "class_names": ds.class_names, "data": ds.name, "kind": ds.kind,
                "normalisation": ds.info.get("normalisation")})
    _try_report(run_dir)
    if verbose:
        t = metrics["test"]
        what = f"accuracy {t['accuracy']:.4f} (error {t['error']:.4f})" if ds.task != "regression" \
            else f"pearson r {t['pearson_r']:.4f}, R^2 {t['r2']:.4f}"
        console.print(f"test {what}; best epoch {result.best_epoch}/{len(result.history)}; "
                      f"{result.train_seconds:.1f}s of training")
        console.print(f"report: {run_dir / 'report.html'}")


def _try_report(run_dir: Path) -> None:
    write_report(Run(run_dir))


# --- the recipe CNN (the GAN's judge, compare's learned features)


def train_recipe_cnn(dataset, data_config, out, epochs: int = 3, seed: int = 0, device: str = "auto",
                     verbose: bool = False) -> Run:
    """Train the recipe CNN on `dataset` with the usual job; its run folder goes to `out` (replaced if it is one
    this function wrote before).

    Returns:
        The CNN's Run.
    """
    config = default_config(data_config.name, "cnn")
    config.data = data_config
    set_value(config, "train.epochs", epochs)
    set_value(config, "train.seed", seed)
    set_value(config, "train.device", device)
    set_value(config, "train.progress", False)
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
              resume=None, verbose: bool = True, dataset=None) -> Run:
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

    Returns:
        The Run.
    """
    if resume is not None:
        config = open_run(resume, expect="gan", verb="gan --resume").config
        run_dir, lock = reopen_folder(resume, "gan")
    else:
        name = config.model.name
        if not is_gan(name):
            raise SynbiolabError(f"model '{name}' is not a GAN; train it with `synbiolab train --model {name}`")
        config.gan = gan_config or config.gan or default_config(config.data.name, name).gan
        run_dir, lock = start_folder(out or Path("runs") / default_run_name(config.data.name, name), "gan", overwrite)
        meta = {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "versions": versions(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "kind": "gan"}
        atomic_write_json(run_dir / "config.json", {**config.to_dict(), "meta": meta})
    try:
        return _train_gan_into(config, config.gan, run_dir, resume, verbose, dataset)
    finally:
        lock.release()


def _train_gan_into(config, gcfg: GanConfig, run_dir, resume, verbose: bool, dataset):
    ds = dataset if dataset is not None else load_dataset(config.data)
    wanted = MODELS[config.model.name].generates
    if ds.kind != wanted:
        raise SynbiolabError(
            f"model '{config.model.name}' generates {wanted} data but '{ds.name}' holds {ds.kind} data; "
            f"use {'dcgan' if ds.kind == 'image' else 'wgan_seq'}"
        )
    data = prepare_gan_data(ds, gcfg.holdout, config.data.seed)
    torch.manual_seed(config.train.seed)
    # a conditional GAN's output width is its number of classes
    model = build_model(config.model.name, input_shape=data.input_shape, n_outputs=max(data.n_classes, 1),
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
            "n_outputs": max(data.n_classes, 1),
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
