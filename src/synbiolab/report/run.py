"""The report of a run folder (report.html, with its PNGs in figures/), built from files alone.

A report is a list of sections, one explicit list per kind of folder (``REPORTS``): a train run shows its
summary, learning curves, test split, sequence results and interpretation, diagnosis, model and config; a
GAN run the sections of ``sections/gan.py``. Every section reads what training wrote (metrics.json,
history.csv, predictions.csv, figures/, diagnosis.json); only a run written before predictions.csv existed
has its data set loaded again (``outputs.load_test_outputs``). Users add their own sections to train-run
reports with :func:`register_section`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from markupsafe import Markup

from ..course import model_pages
from ..errors import SynbiolabError
from ..runs import Run, subfolder
from .figures import confusion_figure, learning_curves_figure, misclassified_figure
from .html import img_tag, render, save_figure, table, write_page
from .outputs import load_test_outputs
from .sections.config import section_config
from .sections.diagnosis import section_diagnosis
from .sections.gan import GAN_SECTIONS
from .sections.interpret import section_interpretation, section_sequence_results

Section = Callable[[Run], "str | None"]

#: Sections added by users with register_section, shown in train-run reports before the model and config.
USER_SECTIONS: list[tuple[str, Section]] = []


def register_section(fn: Section, name: str | None = None) -> None:
    """Add a section to every train-run report: ``fn(run)`` returns an HTML fragment, or None when it has
    nothing to show. The fragment is inserted as HTML, so escape what it quotes (``markupsafe.escape``).

    Args:
        fn: the section.
        name: its name (the section's id in the page); a second section of the same name replaces the first.
    """
    key = name or fn.__name__
    USER_SECTIONS[:] = [(n, f) for n, f in USER_SECTIONS if n != key]
    USER_SECTIONS.append((key, fn))


def _metrics(run: Run) -> dict:
    return run.metrics if (run.path / "metrics.json").is_file() else {}


def _train_split(metrics: dict, config: dict) -> str:
    """The training examples whose error is measured: the whole split or its fixed subset."""
    n_train = metrics.get("n_train")
    n_eval = (metrics.get("train") or {}).get("n")
    if n_train and n_eval and n_eval < n_train:
        return f"a fixed subset of {n_eval:,} of the {n_train:,} training examples"
    if n_train:
        return f"the {n_train:,} training examples"
    size = (config.get("train") or {}).get("train_eval_size")
    return f"at most {size:,} training examples" if size else "the training split"


# --- the sections of a train run


def section_summary(run: Run) -> Markup:
    cfg, m = run.raw_config, _metrics(run)
    status = m.get("status")
    context = {"data": cfg.get("data", {}).get("name", "?"), "model": cfg.get("model", {}).get("name", "?"),
               "task": m.get("task"), "status": status, "message": m.get("message", ""), "path": str(run.path),
               "epochs_done": None, "epochs_planned": cfg.get("train", {}).get("epochs")}
    if status == "finished":
        test = m["test"]
        if m["task"] == "regression":
            names = [("Pearson r", "pearson_r"), ("Spearman rho", "spearman_rho"), ("R²", "r2"), ("MSE", "mse")]
        else:
            names = [("accuracy", "accuracy"), ("error", "error"), ("AUROC", "auroc"), ("AUPRC", "auprc")]
        headline = [(label, test[key]) for label, key in names if key in test]
        columns = ["split", "n", "loss", *[key for _, key in names if key in test], "error"]
        columns = list(dict.fromkeys(columns))  # error appears once, wherever the task puts it
        rows = [{"split": split, **m[split]} for split in ("train", "val", "test") if split in m]
        context.update(headline=headline, best_epoch=m["best_epoch"], epochs_run=m["epochs_run"],
                       stopped_early=m["stopped_early"], train_seconds=m["train_seconds"],
                       n_parameters=m["n_parameters"], splits=table(rows, columns),
                       train_split=_train_split(m, cfg),
                       majority_error=m.get("majority_error"),
                       kept_by=cfg.get("train", {}).get("keep", "best_loss"),
                       calibration=m.get("calibration"))
    elif status != "diverged" and (run.path / "history.csv").is_file():
        context["epochs_done"] = len(run.history)
    return render("sections/summary.html", **context)


def section_curves(run: Run) -> Markup | None:
    if not (run.path / "history.csv").is_file():
        return None
    history = run.history
    if history.empty:
        return None
    m = _metrics(run)
    best = m.get("best_epoch") if m.get("status") == "finished" else None
    last = history.iloc[-1]
    return render("sections/curves.html", figure=save_figure(learning_curves_figure(history, best), run,
                                                             "learning_curves"),
                  last_epoch=int(last["epoch"]), train_error=float(last["train_error"]),
                  val_error=float(last["val_error"]), gap=float(last["val_error"] - last["train_error"]),
                  train_split=_train_split(m, run.raw_config), best_epoch=best)


def section_test(run: Run) -> Markup | None:
    """The confusion matrix from the saved test predictions, and the misclassified images training drew."""
    outputs = load_test_outputs(run)
    if outputs is None or outputs.task == "regression":
        return None
    n_wrong = int((outputs.targets != outputs.predictions).sum())
    source = (f"From predictions.csv: the {len(outputs):,} test examples as the kept weights predicted them at "
              "the end of training." if outputs.source == "predictions.csv" else outputs.source + ".")
    figure = confusion_figure(outputs.confusion(), outputs.class_names,
                              f"confusion matrix (test split, {len(outputs):,} examples)")
    context = {"source": source, "confusion": save_figure(figure, run, "confusion_matrix"), "misclassified": None}
    picture = run.path / "figures" / "misclassified.png"
    if n_wrong and outputs.source == "predictions.csv" and picture.is_file():
        context["misclassified"] = img_tag(picture.read_bytes(), "misclassified test images")
    elif n_wrong and outputs.source != "predictions.csv":
        context["misclassified"] = _recomputed_misclassified(run, outputs)
    return render("sections/test.html", **context)


def _recomputed_misclassified(run: Run, outputs) -> Markup | None:
    """For a run written before training drew figures/misclassified.png: reload the test images."""
    spec = run.model_spec
    if spec.get("kind") != "image":
        return None
    import numpy as np

    ds = run.load_dataset()
    wrong = np.flatnonzero(outputs.targets != outputs.predictions)[:32]
    norm = ds.info.get("normalisation", {"mean": 0.0, "std": 1.0})
    images = (ds.test.x[wrong, 0] * norm["std"] + norm["mean"]).numpy()
    names = outputs.class_names
    figure = misclassified_figure(images, [names[outputs.targets[i]] for i in wrong],
                                  [names[outputs.predictions[i]] for i in wrong],
                                  int((outputs.targets != outputs.predictions).sum()), len(outputs))
    return save_figure(figure, run, "misclassified")


def section_model(run: Run) -> Markup | None:
    """Parameters per layer, as training counted them (metrics.json), and the module as PyTorch prints it."""
    if not (run.path / "model.json").is_file():
        return None
    m = _metrics(run)
    layers, text = m.get("layers"), m.get("model_text")
    if layers is None:  # a run written before training saved its layers: rebuild the model from its files
        model = run.load_model()
        layers = [{"layer": name or "(model)", "type": type(module).__name__,
                   "parameters": sum(p.numel() for p in module.parameters(recurse=False))}
                  for name, module in model.named_modules() if any(True for _ in module.parameters(recurse=False))]
        text = str(model)
    n_parameters = m.get("n_parameters", sum(row["parameters"] for row in layers))
    members = int(run.model_spec["params"].get("members", 1))
    if members > 1:  # the members are alike: list the first one's layers
        layers = [row for row in layers if row["layer"].startswith("members.0.")]
    return render("sections/model.html", name=run.model_spec["name"], n_parameters=n_parameters, members=members,
                  layers=table(layers, ["layer", "type", "parameters"]), text=text,
                  theory=model_pages(run.model_spec["name"]))


#: The sections of a train run's report, in order. User sections (register_section) come before the last two.
RUN_SECTIONS: list[tuple[str, Section]] = [
    ("summary", section_summary),
    ("curves", section_curves),
    ("test", section_test),
    ("sequence_results", section_sequence_results),
    ("interpretation", section_interpretation),
    ("diagnosis", section_diagnosis),
]
RUN_TAIL_SECTIONS: list[tuple[str, Section]] = [("model", section_model), ("config", section_config)]


def run_sections(run: Run) -> list[tuple[str, Section]]:
    """The sections of a run's report, by the kind of its folder."""
    if run.kind == "gan":
        return list(GAN_SECTIONS)
    if run.kind == "train":
        return RUN_SECTIONS + USER_SECTIONS + RUN_TAIL_SECTIONS
    raise SynbiolabError(f"{run.path}: a {run.kind} folder has no run report (its own verb writes its page)")


def write_report(run: Run | str | Path) -> Path:
    """Write report.html for a run (finished, interrupted or diverged) and return its path."""
    run = run if isinstance(run, Run) else Run(run)
    subfolder(run.path, "figures")  # a link there is refused before any figure is drawn
    fragments = []
    for name, fn in run_sections(run):
        try:
            fragment = fn(run)
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the rest of the report
            fragment = render("sections/error.html", name=name, message=str(exc) or type(exc).__name__)
        fragments.append((name, fragment))
    what = "GAN run" if run.kind == "gan" else "Run"
    return write_page(run.path / "report.html", f"synbiolab {what.lower()} {run.name}", fragments,
                      heading=f"{what} {run.name}", contents=True)


def write_gan_report(run: Run | str | Path) -> Path:
    """report.html of a GAN run: ``write_report`` with the GAN sections (the name the GAN job calls)."""
    run = run if isinstance(run, Run) else Run(run)
    if run.kind != "gan":
        raise SynbiolabError(f"{run.path}: is a {run.kind} folder, not a GAN run")
    return write_report(run)
