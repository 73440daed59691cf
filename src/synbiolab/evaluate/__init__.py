"""Evaluation: the same metrics on every split, generated-data metrics and GAN quality.

``metrics.py``      loss, accuracy or Pearson r, error, confusion matrix, ranking metrics
``genmetrics.py``   Frechet distance, class coverage, k-mer agreement, boxes, novelty
``gan_quality.py``  the judges that score a GAN's samples after every epoch
"""

from .metrics import (
    confusion_matrix,
    evaluate,
    loss_for_task,
    predict,
    predictions,
    probabilities,
    ranking_metrics,
    task_metrics,
)

__all__ = ["confusion_matrix", "evaluate", "loss_for_task", "predict", "predictions", "probabilities",
           "ranking_metrics", "task_metrics"]
