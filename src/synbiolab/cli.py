"""The command line: one Typer app; each verb parses its options, calls the Python API and prints.

Errors a user can fix come out as one line on stderr (``error: ...``) with exit status 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from .config import build_config
from .data.recipes import recipe_model
from .errors import SynbiolabError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="synbiolab: deep learning for synthetic biology, from MNIST to promoters. The course (theory "
                       "pages and executed tutorials) is in the project's docs/: `make docs` builds it into "
                       "docs/_build/html/index.html.")
data_app = typer.Typer(no_args_is_help=True, help="Data sets: list them, describe one.")
app.add_typer(data_app, name="data")


def _echo(text: str = "") -> None:
    typer.echo(text)


# --- train


def _options(**named) -> dict:
    """Named command-line options as config keys (``train_epochs=3`` -> ``{"train.epochs": 3}``)."""
    return {key.replace("_", ".", 1): value for key, value in named.items()}


# Options for sequence data (files and named sets), shared by train and cv.
SEQ_OPTIONS = {
    "seq_col": typer.Option(None, "--seq-col", help="CSV/TSV column holding the sequences"),
    "target": typer.Option(None, "--target", help="target column (repeat for several regression targets)"),
    "id_col": typer.Option(None, "--id-col", help="CSV/TSV column with sequence names"),
    "group_col": typer.Option(None, "--group-col", help="CSV/TSV column of groups held out whole"),
    "split": typer.Option(None, "--split", help="random, stratified or grouped (by --group-col)"),
    "length": typer.Option(None, "--length", help="pad or trim sequences to this length"),
    "pad": typer.Option(None, "--pad", help="where padding (or trimming) goes: left, right or centre"),
    "strict": typer.Option(False, "--strict", help="reject IUPAC ambiguity letters (N, R, Y, ...)"),
    "log_target": typer.Option(False, "--log-target", help="regress log10 of the target"),
    "augment": typer.Option(None, "--augment", help="none, shift_rotate (images) or revcomp (DNA)"),
    "split_col": typer.Option(None, "--split-col", help="column naming each row's split: train, val or test"),
    "sheet": typer.Option(None, "--sheet", help="sheet of an Excel (.xlsx) table (default: the first)"),
    "organism": typer.Option(None, "--organism", help="organism of the sequences, e.g. ecoli, human, "
                             "'P. putida:bacteria' (default unknown)"),
}


def _sequence_settings(seq_col, target, id_col, group_col, split, length, pad, strict, log_target, augment,
                       split_col=None, sheet=None, organism=None):
    """The sequence options given on the command line, as config keys (unset options are left out)."""
    settings = {"data.seq_col": seq_col, "data.target": list(target) if target else None,
                "data.id_col": id_col, "data.group_col": group_col, "data.split": split,
                "data.length": length,
                "data.pad": pad,
                "data.strict": True if strict else None, "data.log_target": True if log_target else None,
                "train.augment": augment, "data.split_col": split_col, "data.sheet": sheet,
                "data.organism": organism}
    return {k: v for k, v in settings.items() if v is not None}


@app.command()
def train(
    data: str = typer.Option(None, "--data", "-d", help="data set name or file (default mnist)"),
    model: str = typer.Option(None, "--model", "-m", help="model name (default mlp)"),
    epochs: int = typer.Option(None, help="passes over the training split"),
    batch_size: int = typer.Option(None, "--batch-size"),
    lr: float = typer.Option(None, "--lr", help="peak learning rate"),
    optimizer: str = typer.Option(None, help="sgd, adam or adamw"),
    schedule: str = typer.Option(None, help="none, cosine or onecycle"),
    seed: int = typer.Option(None, help="training seed"),
    out: Path = typer.Option(None, "--out", "-o", help="run folder (default runs/<data>-<model>-<time>)"),
    sets: list[str] = typer.Option(None, "--set", help="override any config field, e.g. train.lr=0.01"),
    config_file: Path = typer.Option(None, "--config", help="JSON or YAML config file"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder holding mnist/ and synbio/"),
    train_size: int = typer.Option(None, "--train-size", help="subsample the training split (stratified)"),
    classes: str = typer.Option(None, "--classes", help="keep these classes, e.g. 3,7 (two make a binary task)"),
    device: str = typer.Option(None, help="auto, cpu, cuda or mps"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing run folder"),
    resume: Path = typer.Option(None, "--resume", help="continue the run in this folder from its checkpoint"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    seq_col: str = SEQ_OPTIONS["seq_col"], target: list[str] = SEQ_OPTIONS["target"],
    id_col: str = SEQ_OPTIONS["id_col"], group_col: str = SEQ_OPTIONS["group_col"],
    split: str = SEQ_OPTIONS["split"], length: int = SEQ_OPTIONS["length"], pad: str = SEQ_OPTIONS["pad"],
    strict: bool = SEQ_OPTIONS["strict"], log_target: bool = SEQ_OPTIONS["log_target"],
    augment: str = SEQ_OPTIONS["augment"], split_col: str = SEQ_OPTIONS["split_col"],
    sheet: str = SEQ_OPTIONS["sheet"], organism: str = SEQ_OPTIONS["organism"],
):
    """Train a model and write its run folder (config, history, metrics, weights, report)."""
    from .train import train as run_training

    if resume is not None:
        # the options given with --resume: what a checkpoint can continue with is applied, the rest refused
        if config_file is not None:
            raise SynbiolabError("train --resume continues the run as its config.json says; --config does not go "
                                 "with it")
        given = _options(data_name=data, model_name=model, train_epochs=epochs, train_batch_size=batch_size,
                         train_lr=lr, train_optimizer=optimizer, train_schedule=schedule, train_seed=seed,
                         data_data_dir=data_dir, data_train_size=train_size, data_classes=classes,
                         train_device=device)
        given.update(_sequence_settings(seq_col, target, id_col, group_col, split, length, pad, strict, log_target,
                                        augment, split_col, sheet, organism))
        run = run_training(None, resume=resume, out=out, overwrite=overwrite, verbose=not quiet, options=given,
                           sets=sets)
    else:
        extra = _sequence_settings(seq_col, target, id_col, group_col, split, length, pad, strict, log_target,
                                   augment, split_col, sheet, organism)
        # --classes 3,7 is read by the config like --set data.classes=3,7 (a bad entry is named there)
        options = _options(train_epochs=epochs, train_batch_size=batch_size, train_lr=lr, train_optimizer=optimizer,
                           train_schedule=schedule, train_seed=seed, data_data_dir=data_dir,
                           data_train_size=train_size, data_classes=classes or None, train_device=device)
        # A named data set with a recipe trains the recipe's model when --model is not given.
        cfg = build_config(data, model, config_file, {**options, **extra}, sets,
                           default_model=recipe_model(data, "mlp"))
        run = run_training(cfg, out=out, overwrite=overwrite, verbose=not quiet)
    if quiet:
        _echo(str(run.path))


# --- cross-validation


@app.command()
def cv(
    data: str = typer.Option(None, "--data", "-d", help="data set name or file"),
    model: str = typer.Option(None, "--model", "-m", help="model name (default cnn1d)"),
    folds: int = typer.Option(5, "--folds", "-k", help="number of folds"),
    epochs: int = typer.Option(None, help="passes over the training folds"),
    batch_size: int = typer.Option(None, "--batch-size"),
    lr: float = typer.Option(None, "--lr", help="peak learning rate"),
    seed: int = typer.Option(None, help="training seed"),
    out: Path = typer.Option(None, "--out", "-o", help="folder for cv.json and folds.csv"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing folder at --out"),
    sets: list[str] = typer.Option(None, "--set", help="override any config field, e.g. train.lr=0.01"),
    config_file: Path = typer.Option(None, "--config", help="JSON or YAML config file"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder holding mnist/ and synbio/"),
    no_baseline: bool = typer.Option(False, "--no-baseline", help="skip the linear k-mer baseline"),
    rc_average: bool = typer.Option(False, "--rc-average", help="also score reverse-complement averaging"),
    seq_col: str = SEQ_OPTIONS["seq_col"], target: list[str] = SEQ_OPTIONS["target"],
    id_col: str = SEQ_OPTIONS["id_col"], group_col: str = SEQ_OPTIONS["group_col"],
    split: str = SEQ_OPTIONS["split"], length: int = SEQ_OPTIONS["length"], pad: str = SEQ_OPTIONS["pad"],
    strict: bool = SEQ_OPTIONS["strict"], log_target: bool = SEQ_OPTIONS["log_target"],
    augment: str = SEQ_OPTIONS["augment"], split_col: str = SEQ_OPTIONS["split_col"],
    sheet: str = SEQ_OPTIONS["sheet"], organism: str = SEQ_OPTIONS["organism"],
):
    """k-fold cross-validation: test metrics per fold, their mean and spread, next to the k-mer baseline."""
    from .experiments.crossval import cross_validate

    extra = _sequence_settings(seq_col, target, id_col, group_col, split, length, pad, strict, log_target,
                               augment, split_col, sheet, organism)
    options = _options(train_epochs=epochs, train_batch_size=batch_size, train_lr=lr, train_seed=seed,
                       data_data_dir=data_dir)
    cfg = build_config(data, model, config_file, {**options, **extra}, sets,
                       default_model=recipe_model(data, "cnn1d"))
    cross_validate(cfg, folds, out=out, overwrite=overwrite, baseline=not no_baseline, rc_average=rc_average)
    from .report.sections.config import recipe_note

    note = recipe_note(cfg.to_dict())
    if note is not None:  # how the settings were chosen, so the number above can be read for what it is
        changed = f"; changed here: {'; '.join(note['changed'])}" if note["changed"] else ""
        print(f"recipe of {note['data']} ({note['model']}): {note['chosen']}{changed}")


# --- evaluate, predict


@app.command()
def evaluate(run: Path = typer.Argument(..., help="a run folder"),
             split: str = typer.Option("test", help="test, val or train")):
    """Re-evaluate a saved model on one split of its data set."""
    from .api import evaluate_run

    metrics = evaluate_run(run, split)
    _echo(json.dumps({"run": str(run), "split": split, **metrics}, indent=2))


@app.command()
def predict(run: Path = typer.Argument(..., help="a run folder of an image model"),
            images: list[Path] = typer.Argument(..., help="picture files of digits (PNG, JPEG, ...)"),
            top: int = typer.Option(3, help="classes to show per picture")):
    """Class probabilities for pictures of digits of any size (converted to MNIST style)."""
    from .api import predict_images

    if top < 1:
        raise SynbiolabError(f"--top {top}: show at least 1 class per picture")
    for path, probs in predict_images(run, images):
        best = sorted(probs.items(), key=lambda kv: -kv[1])[:top]
        _echo(f"{path}: " + "  ".join(f"{name} {p:.3f}" for name, p in best))


# --- data


@data_app.command("list")
def data_list():
    """List the named data sets (and the kinds of files and folders --data also takes)."""
    from .data import DATASETS

    for name, entry in DATASETS.items():
        if name != "file":
            _echo(f"{name:<26} {entry.summary}")
    _echo(f"{'(a path)':<26} a .csv/.tsv/.xlsx table or .fa/.fasta file (.gz too), FASTA files joined by commas "
          "(one per class), a folder of IDX files or of class sub-folders of pictures")


@data_app.command("info")
def data_info(name: str = typer.Argument(..., help="a data set name, file or folder"),
              data_dir: str = typer.Option(None, "--data-dir"),
              seq_col: str = SEQ_OPTIONS["seq_col"], target: list[str] = SEQ_OPTIONS["target"],
              id_col: str = SEQ_OPTIONS["id_col"], group_col: str = SEQ_OPTIONS["group_col"],
              split_col: str = SEQ_OPTIONS["split_col"], sheet: str = SEQ_OPTIONS["sheet"],
              organism: str = SEQ_OPTIONS["organism"], length: int = SEQ_OPTIONS["length"],
              log_target: bool = SEQ_OPTIONS["log_target"]):
    """Size, task, input shape, label balance, organism and provenance of a data set."""
    from .data import load_dataset

    settings = _sequence_settings(seq_col, target, id_col, group_col, None, length, None, False, log_target, None,
                                  split_col, sheet, organism)
    kw = {key.split(".", 1)[1]: value for key, value in settings.items()}
    if data_dir:
        kw["data_dir"] = data_dir
    ds = load_dataset(name, **kw)
    s = ds.summary()
    _echo(f"{ds.name}: {ds.task} task, {ds.kind} data, input shape {tuple(ds.input_shape)}")
    _echo(f"examples: train {s['n_train']:,}, validation {s['n_val']:,}, test {s['n_test']:,}")
    if ds.class_names is not None:
        counts = s["train_class_counts"]
        total = sum(counts)
        _echo("training label balance: " + ", ".join(
            f"{c} {n} ({n / total:.1%})" for c, n in zip(ds.class_names, counts, strict=True)))
    for key, value in ds.info.items():
        if key in ("normalisation", "no_targets", "organism_group", "warnings"):  # warnings: printed as loaded
            continue
        if key == "organism":
            group = ds.info.get("organism_group", "unknown")
            value = value if group in (value, "none") else f"{value} ({group})"
        _echo(f"{key}: {value}")


# --- quickstart


@app.command()
def quickstart(data_dir: str = typer.Option(None, "--data-dir"),
               out: Path = typer.Option(Path("runs"), "--out", help="parent folder of the two runs")):
    """Train an MLP and a CNN on MNIST (or the bundled 8x8 digits offline) and compare them."""
    from .api import quickstart as run_quickstart

    run_quickstart(data_dir=data_dir, out=out)


# --- GANs: gan, sample, design


@app.command()
def gan(
    data: str = typer.Option(None, "--data", "-d", help="data set name (default mnist)"),
    model: str = typer.Option(None, "--model", "-m", help="dcgan (images) or wgan_seq (DNA); default dcgan"),
    conditional: bool = typer.Option(False, "--conditional", help="class-conditional generator and critic"),
    epochs: int = typer.Option(None, help="passes of the discriminator over the training data"),
    batch_size: int = typer.Option(None, "--batch-size"),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate"),
    seed: int = typer.Option(None, help="training seed"),
    loss: str = typer.Option(None, help="standard (non-saturating) or wgan-gp"),
    n_critic: int = typer.Option(None, "--n-critic", help="discriminator updates per generator update"),
    judge: str = typer.Option(None, "--judge", help="classifier run judging the images (default: train one)"),
    out: Path = typer.Option(None, "--out", "-o", help="run folder (default runs/<data>-<model>-<time>)"),
    sets: list[str] = typer.Option(None, "--set", help="override a field, e.g. gan.n_critic=5"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder holding mnist/ and synbio/"),
    device: str = typer.Option(None, help="auto, cpu, cuda or mps"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing run folder"),
    resume: Path = typer.Option(None, "--resume", help="continue the GAN run in this folder"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train a GAN (DCGAN on digits, WGAN-GP on promoters) and measure what it generates."""
    from .train.job import train_gan

    if resume is not None:
        given = _options(data_name=data, model_name=model, train_epochs=epochs, train_batch_size=batch_size,
                         train_lr=lr, train_seed=seed, data_data_dir=data_dir, train_device=device, gan_loss=loss,
                         gan_n_critic=n_critic, gan_judge=judge, model_conditional=True if conditional else None)
        run = train_gan(None, resume=resume, out=out, overwrite=overwrite, verbose=not quiet, options=given,
                        sets=sets)
    else:
        options = _options(train_epochs=epochs, train_batch_size=batch_size, train_lr=lr, train_seed=seed,
                           data_data_dir=data_dir, train_device=device, gan_loss=loss, gan_n_critic=n_critic,
                           gan_judge=judge, model_conditional=True if conditional else None)
        cfg = build_config(data, model, None, options, sets, default_model="dcgan")
        run = train_gan(cfg, out=out, overwrite=overwrite, verbose=not quiet)
    if quiet:
        _echo(str(run.path))


@app.command()
def sample(
    run: Path = typer.Argument(..., help="a GAN run folder"),
    n: int = typer.Option(64, "--n", help="number of samples"),
    digit: int = typer.Option(None, "--digit", help="class to draw (class-conditional GANs)"),
    out: Path = typer.Option(None, "--out", "-o", help="output file (default RUN/samples.png or .fasta)"),
    seed: int = typer.Option(0, help="seed of the latent vectors"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace the --out file when it exists"),
):
    """Draw samples from a trained GAN: a PNG grid of images or a FASTA file of sequences."""
    from .generate import sample as draw

    _echo(str(draw(run, n=n, digit=digit, out=out, seed=seed, overwrite=overwrite)))


@app.command()
def design(
    generator: Path = typer.Option(..., "--generator", help="a sequence GAN run (wgan_seq)"),
    predictor: Path = typer.Option(..., "--predictor", help="a predictor run on DNA of that length"),
    n: int = typer.Option(10000, "--n", help="sequences sampled from the generator"),
    top: int = typer.Option(100, "--top", help="designs kept"),
    target: str = typer.Option("high", "--target", help="high, low or a value of the predicted expression"),
    refine_steps: int = typer.Option(0, "--refine-steps", help="gradient-ascent steps in latent space"),
    out: Path = typer.Option(None, "--out", "-o", help="output folder (default GENERATOR/design)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing output folder"),
    seed: int = typer.Option(0, help="seed of the latent vectors"),
):
    """Design promoters: sample a sequence GAN, score with a predictor, write designs.fasta and a report."""
    from .design import design as run_design

    run_design(generator, predictor, n=n, top=top, target=target, refine_steps=refine_steps, out=out,
               overwrite=overwrite, seed=seed)


# --- generalisation: diagnose, fix, sweep


@app.command()
def diagnose(run: Path = typer.Argument(..., help="a run folder"),
             no_noise: bool = typer.Option(False, "--no-noise", help="skip the label-noise estimate")):
    """Verdict (underfitting, good fit, overfitting, still improving, unstable), evidence and ranked fixes."""
    from .diagnose import diagnose as run_diagnosis

    run_diagnosis(run, estimate_noise=not no_noise)


@app.command()
def fix(run: Path = typer.Argument(..., help="a diagnosed run folder"),
        apply: int = typer.Option(1, "--apply", help="which recommended fix (1 = the first)"),
        out: Path = typer.Option(None, "--out", "-o", help="new run folder (default <run>-fix<N>)"),
        overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing folder at --out"),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the before/after table")):
    """Rerun a run with one recommended fix; print before/after errors and draw both learning curves."""
    from .diagnose import fix as run_fix

    result = run_fix(run, apply=apply, out=out, overwrite=overwrite, verbose=not quiet)
    if quiet:
        _echo(result.table())


@app.command()
def sweep(
    data: str = typer.Option(None, "--data", "-d", help="data set name or file (default mnist)"),
    model: str = typer.Option(None, "--model", "-m", help="model name (default mlp)"),
    param: list[str] = typer.Option(None, "--param", help="key=v1,v2,... e.g. model.hidden_units=[8],[32]"),
    train_size: str = typer.Option(None, "--train-size", help="training-set sizes, e.g. 250,500,1000"),
    seeds: int = typer.Option(1, "--seeds", help="runs per point with different seeds"),
    jobs: int = typer.Option(1, "--jobs", help="runs trained at once, in separate processes"),
    epochs: int = typer.Option(None, help="passes over the training split"),
    lr: float = typer.Option(None, "--lr", help="peak learning rate"),
    sets: list[str] = typer.Option(None, "--set", help="override any config field, e.g. train.lr=0.01"),
    config_file: Path = typer.Option(None, "--config", help="JSON or YAML config file"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder holding mnist/ and synbio/"),
    out: Path = typer.Option(None, "--out", "-o", help="sweep folder (default sweeps/<data>-<model>-<time>)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing sweep folder"),
):
    """Train one run per value of any config field; draw capacity, learning and epochs curves."""
    from .experiments.sweep import sweep as run_sweep

    cfg = build_config(data, model, config_file, _options(train_epochs=epochs, train_lr=lr, data_data_dir=data_dir),
                       sets)
    run_sweep(cfg, params=param, train_sizes=train_size, seeds=seeds, jobs=jobs, out=out, overwrite=overwrite)


# --- classical vs learned features


@app.command()
def compare(
    data: str = typer.Option("mnist", "--data", "-d", help="image data set: mnist or digits"),
    train_size: str = typer.Option(None, "--train-size", help="training images or a list: 100,1000,55000"),
    pipelines: str = typer.Option(None, "--pipelines", help="comma-separated, e.g. hog+pca120+rbf_svm,cnn"),
    cnn: Path = typer.Option(None, "--cnn", help="run folder of a CNN trained on the same data set"),
    quick: bool = typer.Option(False, "--quick", help="5,000 MNIST training images"),
    rbf: str = typer.Option("auto", "--rbf", help="RBF SVM: auto, exact or nystroem (approximate kernel)"),
    cnn_epochs: int = typer.Option(None, "--cnn-epochs", help="epochs of the CNN trained on the spot"),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute features instead of using the cache"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder holding mnist/"),
    out: Path = typer.Option(None, "--out", "-o", help="comparison folder (default runs/compare-...)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing comparison folder"),
    seed: int = typer.Option(0, help="seed of the classifiers and of the CNN trained on the spot"),
):
    """Hand-crafted (raw, HoG, DAISY), learned (CNN) and combined features with classical classifiers."""
    from .experiments.compare import compare_pipelines

    compare_pipelines(data, pipelines=pipelines, train_size=train_size, cnn_run=cnn, quick=quick, out=out,
                      overwrite=overwrite, data_dir=data_dir, cnn_epochs=cnn_epochs, rbf_approximation=rbf,
                      cache=not no_cache, seed=seed)


# --- tuning


@app.command()
def tune(
    data: str = typer.Option(None, "--data", "-d", help="data set name or file (default mnist)"),
    model: str = typer.Option(None, "--model", "-m", help="model name (default mlp)"),
    trials: int = typer.Option(20, "--trials", help="trials to run (added to an existing study)"),
    jobs: int = typer.Option(1, "--jobs", help="processes running trials at once"),
    storage: str = typer.Option(None, "--storage", help="Optuna storage shared by processes or machines, "
                                "e.g. sqlite:///study.db or postgresql://..."),
    study: str = typer.Option(None, "--study", help="study name in the storage (default <data>-<model>)"),
    epochs: int = typer.Option(None, help="epochs per trial (pruned trials stop earlier)"),
    sets: list[str] = typer.Option(None, "--set", help="fixed settings, e.g. train.patience=3"),
    config_file: Path = typer.Option(None, "--config", help="JSON or YAML config file to start from"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder holding mnist/ and synbio/"),
    out: Path = typer.Option(None, "--out", "-o", help="tune folder (default runs/tune-<data>-<model>-<time>)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing tune folder"),
    seed: int = typer.Option(0, help="seed of the sampler"),
):
    """Search model and training settings with Optuna on validation data; write best.yaml and a report."""
    from .experiments.tune import tune as run_tune

    cfg = build_config(data, model, config_file, _options(train_epochs=epochs, data_data_dir=data_dir), sets)
    run_tune(cfg, trials=trials, jobs=jobs, storage=storage, study_name=study, out=out, overwrite=overwrite,
             seed=seed)


# --- the web page


@app.command()
def serve(runs: Path = typer.Option(Path("runs"), "--runs", help="the runs folder to show"),
          host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: this machine only)"),
          port: int = typer.Option(8000, "--port", help="TCP port")):
    """A local web page on the runs folder: tables, live curves, draw a digit, paste DNA, sample GANs."""
    from .web import serve as run_server

    run_server(runs, host=host, port=port)


# --- entry point


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    try:
        rv = app(args=argv, prog_name="synbiolab", standalone_mode=False)
    except SynbiolabError as exc:
        if debug:
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        # a read-only folder, a full disk or a refused permission met outside the writers that name it themselves
        from .io import write_error_reason

        reason = write_error_reason(exc)
        if debug or reason is None:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{reason}; nothing was replaced", file=sys.stderr)
        sys.exit(2)
    except MemoryError:
        if debug:
            raise
        print("error: out of memory; use a smaller model, batch or data set (--train-size)", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        # Usage errors of the command-line parser (unknown option, missing argument) print themselves.
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(rv, int) and rv:
        sys.exit(rv)


if __name__ == "__main__":  # pragma: no cover
    main()
