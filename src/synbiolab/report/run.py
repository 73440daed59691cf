"""Figures and the self-contained HTML report of a run (report.html, with the PNGs also in figures/).

The report is built from sections. The core sections show the learning curves, the test result, the
confusion matrix, misclassified examples, the model and the config; other modules add their own with
:func:`register_section` (the diagnosis, sequence interpretation, ...).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..runs import Run, atomic_write_bytes, atomic_write_text, subfolder  # noqa: E402

SECTIONS: list[tuple[str, Callable[[Run], str | None]]] = []


def register_section(fn: Callable[[Run], str | None], name: str | None = None) -> None:
    """Add a report section: ``fn(run)`` returns an HTML fragment, or None when it has nothing to show."""
    key = name or fn.__name__
    SECTIONS[:] = [(n, f) for n, f in SECTIONS if n != key]
    SECTIONS.append((key, fn))


# --- figure helpers


def save_figure(fig, run: Run | Path, name: str) -> str:
    """Save `fig` as figures/<name>.png in the run folder and return an <img> tag with it inlined."""
    folder = subfolder(run.path if isinstance(run, Run) else run, "figures")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    atomic_write_bytes(folder / f"{name}.png", data)
    return img_tag(data, name)


def img_tag(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p>(none)</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def fmt(value) -> str:
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


# --- figures of a run


def learning_curves_figure(history, best_epoch: int | None = None, title: str = ""):
    """Loss and error against epoch, train vs validation, with the gap shaded and the best epoch marked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = history["epoch"].to_numpy()
    for ax, what in zip(axes, ("loss", "error"), strict=True):
        tr, va = history[f"train_{what}"].to_numpy(float), history[f"val_{what}"].to_numpy(float)
        ax.plot(epochs, tr, "o-", ms=3, label=f"train {what}")
        ax.plot(epochs, va, "s-", ms=3, label=f"validation {what}")
        ax.fill_between(epochs, tr, va, color="tab:red", alpha=0.12, label="gap")
        if best_epoch:
            ax.axvline(best_epoch, color="k", ls="--", lw=0.8, label=f"best epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(what)
        if np.all(np.concatenate([tr, va]) > 0) and what == "error":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_figure(cm: np.ndarray, class_names: list[str]):
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(0.5 * n + 2.5, 0.5 * n + 2))
    ax.imshow(np.log1p(cm), cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(n), class_names)
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (test)")
    fig.tight_layout()
    return fig


def image_grid_figure(images: np.ndarray, titles: list[str], n_cols: int = 8, title: str = ""):
    n = len(images)
    n_rows = max(1, int(np.ceil(n / n_cols)))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(n_cols * 1.1, n_rows * 1.3))
    for i, ax in enumerate(np.atleast_1d(axes).ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray")
            ax.set_title(titles[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


# --- core sections


def _section_summary(run: Run) -> str:
    cfg = run.raw_config
    parts = [f"<p>data <b>{html.escape(cfg['data']['name'])}</b>, model <b>{html.escape(cfg['model']['name'])}</b>"]
    if (run.path / "metrics.json").is_file():
        m = run.metrics
        status = m.get("status")
        if status == "diverged":
            return parts[0] + f"</p><p class='bad'>Training diverged: {html.escape(m.get('message', ''))}</p>"
        if status == "finished":
            t = m["test"]
            headline = (f"test accuracy <b>{t['accuracy']:.4f}</b> (error {t['error']:.4f})"
                        if m["task"] != "regression" else f"test Pearson r <b>{t['pearson_r']:.4f}</b>, "
                        f"R<sup>2</sup> {t['r2']:.4f}")
            parts.append(f"; {headline}; weights of the best epoch ({m['best_epoch']} of {m['epochs_run']}, lowest "
                         f"validation loss){' after early stopping' if m['stopped_early'] else ''}; "
                         f"{m['train_seconds']:.1f} s of training; {m['n_parameters']:,} parameters.</p>")
            rows = [{"split": s, **{k: v for k, v in m[s].items() if k != "metric"}} for s in ("train", "val", "test")]
            parts.append(table(rows))
            if m.get("majority_error") is not None:
                parts.append(f"<p>Error of always predicting the most frequent class: {m['majority_error']:.4f}.</p>")
    else:
        parts.append("</p><p>Training has not finished: the curves below show the epochs done so far; resume with "
                     f"<code>synbiolab train --resume {html.escape(str(run.path))}</code>.</p>")
    return "".join(parts)


def _section_curves(run: Run) -> str | None:
    if not (run.path / "history.csv").is_file():
        return None
    history = run.history
    if history.empty:
        return None
    best = run.metrics.get("best_epoch") if (run.path / "metrics.json").is_file() else None
    if best is None and len(history):
        best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    fig = learning_curves_figure(history, best)
    last = history.iloc[-1]
    gap = last["val_error"] - last["train_error"]
    return ("<h2>Learning curves</h2>" + save_figure(fig, run, "learning_curves")
            + f"<p>Last epoch: train error {last['train_error']:.4f}, validation error {last['val_error']:.4f}, "
            f"gap {gap:+.4f}. The shaded band is the generalisation gap; the dashed line marks the epoch whose "
            "weights were kept.</p>")


def _section_test_examples(run: Run) -> str | None:
    if not (run.path / "model.safetensors").is_file():
        return None
    import torch

    from ..evaluate import confusion_matrix, predict, predictions

    spec = run.model_spec
    if spec["task"] == "regression":
        return None
    ds = run.load_dataset()
    model = run.load_model()
    out = predict(model, ds.test.x)
    cm = confusion_matrix(spec["task"], out, ds.test.y, len(ds.class_names))
    html_parts = ["<h2>Test split</h2>", save_figure(confusion_figure(cm, ds.class_names), run, "confusion_matrix")]
    if ds.kind == "image":
        pred = predictions(spec["task"], out)
        wrong = torch.nonzero(pred != ds.test.y).flatten()[:32]
        if len(wrong):
            norm = ds.info.get("normalisation", {"mean": 0.0, "std": 1.0})
            imgs = (ds.test.x[wrong, 0] * norm["std"] + norm["mean"]).numpy()
            titles = [f"true {ds.class_names[int(ds.test.y[i])]} / pred {ds.class_names[int(pred[i])]}" for i in wrong]
            fig = image_grid_figure(imgs, titles, title=f"misclassified test images ({int((pred != ds.test.y).sum())} "
                                    f"of {len(pred)})")
            html_parts.append(save_figure(fig, run, "misclassified"))
    return "".join(html_parts)


def _section_model(run: Run) -> str | None:
    if not (run.path / "model.json").is_file():
        return None
    from ..models import count_parameters

    model = run.load_model()
    rows = [{"layer": name or "(model)", "type": type(m).__name__,
             "parameters": sum(p.numel() for p in m.parameters(recurse=False))}
            for name, m in model.named_modules() if sum(1 for _ in m.parameters(recurse=False))]
    return (f"<h2>Model</h2><p>{html.escape(run.model_spec['name'])}: {count_parameters(model):,} parameters</p>"
            + table(rows) + f"<pre>{html.escape(str(model))}</pre>")


def _section_config(run: Run) -> str:
    return f"<h2>Config</h2><pre>{html.escape(json.dumps(run.raw_config, indent=2))}</pre>"


CORE_SECTIONS = [("summary", _section_summary), ("curves", _section_curves), ("test", _section_test_examples)]
TAIL_SECTIONS = [("model", _section_model), ("config", _section_config)]

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:12px}
.bad{color:#a00}.good{color:#070}h2{border-bottom:1px solid #ddd;padding-bottom:.2em}
"""


def write_report(run: Run | str | Path) -> Path:
    """Write report.html for a run (finished, interrupted or diverged) and return its path."""
    run = run if isinstance(run, Run) else Run(run)
    subfolder(run.path, "figures")  # a link there is refused before any figure is drawn
    body = []
    for name, fn in CORE_SECTIONS + SECTIONS + TAIL_SECTIONS:
        try:
            fragment = fn(run)
        except Exception as exc:  # noqa: BLE001 - one broken section must not lose the rest of the report
            fragment = f"<p class='bad'>section {html.escape(name)} could not be drawn: {html.escape(str(exc))}</p>"
        if fragment:
            body.append(f'<section id="{html.escape(name)}">{fragment}</section>')
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>synbiolab run {html.escape(run.name)}</title>"
            f"<style>{STYLE}</style></head><body><h1>Run {html.escape(run.name)}</h1>{''.join(body)}</body></html>")
    path = run.path / "report.html"
    atomic_write_text(path, page)
    return path
