"""Metrics per task, and evaluation of a model on a split (the same code for train, validation and test)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import SynbiolabError


def loss_for_task(task: str, label_smoothing: float = 0.0):
    """The loss that matches the output layer: softmax+cross-entropy, sigmoid+BCE, or linear+MSE.

    Models return logits, so the softmax and the sigmoid live inside the loss (numerically stable).
    """
    if task == "multiclass":
        return lambda logits, y: F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    if task == "binary":
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits.reshape(-1), y.float().reshape(-1))
    if task == "regression":
        return lambda out, y: F.mse_loss(out.reshape(y.shape), y)
    raise SynbiolabError(f"unknown task '{task}'; valid: multiclass, binary, regression")


def probabilities(task: str, logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities from logits: softmax for multi-class, sigmoid for binary (B, 2)."""
    if task == "multiclass":
        return logits.float().softmax(-1)
    if task == "binary":
        p = torch.sigmoid(logits.float().reshape(-1))
        return torch.stack([1 - p, p], 1)
    raise SynbiolabError("probabilities are defined for classification tasks only")


def predictions(task: str, logits: torch.Tensor) -> torch.Tensor:
    if task == "multiclass":
        return logits.argmax(-1)
    if task == "binary":
        return (logits.reshape(-1) > 0).long()
    return logits


def task_metrics(task: str, outputs: torch.Tensor, y: torch.Tensor) -> dict:
    """Loss, the headline metric and the error of model outputs against targets.

    For classification: ``accuracy`` and ``error`` = 1 - accuracy. For regression: ``pearson_r``, ``r2``,
    ``mse`` and ``error`` = 1 - R^2 (the fraction of variance left unexplained).
    """
    outputs = outputs.float()
    loss = float(loss_for_task(task)(outputs, y))
    if task in ("multiclass", "binary"):
        acc = float((predictions(task, outputs) == y.long()).float().mean())
        return {"loss": loss, "metric": acc, "accuracy": acc, "error": 1.0 - acc}
    pred = outputs.reshape(y.shape).double()
    target = y.double()
    mse = float(((pred - target) ** 2).mean())
    var = float(target.var(unbiased=False)) if target.numel() > 1 else 0.0
    r2 = 1.0 - mse / var if var > 0 else float("nan")
    p, t = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    rs = []
    for j in range(p.shape[1]):
        pc, tc = p[:, j] - p[:, j].mean(), t[:, j] - t[:, j].mean()
        denom = float(pc.norm() * tc.norm())
        rs.append(float((pc * tc).sum()) / denom if denom > 0 else float("nan"))
    r = float(np.mean(rs))
    return {"loss": loss, "metric": r, "pearson_r": r, "r2": r2, "mse": mse, "error": 1.0 - r2}


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int = 2048, device=None) -> torch.Tensor:
    """Model outputs (logits) for `x`, in batches, in eval mode, returned on the CPU."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    outs = [model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def evaluate(model, split, task: str, batch_size: int = 2048) -> dict:
    """Evaluate `model` on a ``Split`` (or a (x, y) pair): loss, metric, error and task metrics.

    Args:
        model: an nn.Module returning logits.
        split: a ``Split`` or a tuple ``(x, y)``.
        task: multiclass, binary or regression.
    """
    x, y = (split.x, split.y) if hasattr(split, "x") else split
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    out = predict(model, x, batch_size)
    metrics = task_metrics(task, out, y)
    metrics["n"] = len(y)
    return metrics


def confusion_matrix(task: str, outputs: torch.Tensor, y: torch.Tensor, n_classes: int) -> np.ndarray:
    pred = predictions(task, outputs).long().numpy()
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y.long().numpy(), pred), 1)
    return cm


# --- ranking and correlation metrics (classification curves, regression beyond Pearson r)


def ranking_metrics(task: str, outputs, y) -> dict:
    """Threshold-free metrics: AUROC and AUPRC (classification), Spearman rho (regression), plus the basics.

    Classification: ``accuracy``, ``auroc`` and ``auprc`` (for several classes: the mean over classes of
    one class against the rest). Regression: ``pearson_r``, ``spearman_rho``, ``r2`` and ``mse`` (the mean
    over targets for several targets).

    Args:
        task: multiclass, binary or regression.
        outputs: model outputs (logits for classification), tensor or array.
        y: targets.

    Returns:
        A dict of floats (NaN where a metric is undefined, e.g. one class only).
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import average_precision_score, roc_auc_score

    outputs = torch.as_tensor(np.asarray(outputs, np.float32))
    y = torch.as_tensor(np.asarray(y))
    if task in ("multiclass", "binary"):
        probs = probabilities(task, outputs).numpy()
        labels = y.long().numpy()
        accuracy = float((predictions(task, outputs).numpy() == labels).mean())
        aurocs, auprcs = [], []
        for k in range(probs.shape[1]) if task == "multiclass" else [1]:
            positive = labels == k
            if positive.all() or not positive.any():
                continue
            aurocs.append(roc_auc_score(positive, probs[:, k]))
            auprcs.append(average_precision_score(positive, probs[:, k]))
        nan = float("nan")
        return {"accuracy": accuracy, "auroc": float(np.mean(aurocs)) if aurocs else nan,
                "auprc": float(np.mean(auprcs)) if auprcs else nan}
    pred = outputs.reshape(y.shape).double().numpy().reshape(len(y), -1)
    target = y.double().numpy().reshape(len(y), -1)
    base = task_metrics(task, outputs, y.float())
    rhos = [spearmanr(pred[:, j], target[:, j]).statistic for j in range(target.shape[1])]
    return {"pearson_r": base["pearson_r"], "spearman_rho": float(np.mean(rhos)), "r2": base["r2"],
            "mse": base["mse"]}
