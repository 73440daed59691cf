"""synbiolab: a deep-learning lab for synthetic biology.

The public API::

    from synbiolab import load_dataset, build_model, fit, train, evaluate, load_run
    ds = load_dataset("mnist", train_size=2000)
    model = build_model("cnn", ds)
    result = fit(model, ds, TrainConfig(epochs=2))
    evaluate(result.model, ds.test, ds.task)
"""

from .api import evaluate_run, predict_images, quickstart
from .config import (
    Config,
    DataConfig,
    GanConfig,
    ModelConfig,
    TrainConfig,
    apply_overrides,
    build_config,
    default_config,
    load_config,
)
from .data import DATASETS, Dataset, Split, load_dataset, register_dataset
from .data.sequences import kmer_counts, one_hot, read_sequences, reverse_complement
from .design import design
from .diagnose import Diagnosis, RunFacts, diagnose, diagnose_history, fix
from .errors import SynbiolabError, TrainingDiverged
from .evaluate import evaluate, predict
from .experiments.crossval import cross_validate
from .experiments.sweep import sweep
from .interpret import filter_pwms, in_silico_mutagenesis, match_filters, motifs_for
from .models import MODELS, build_model, count_parameters, register_model
from .report import register_section, write_report
from .runs import Run, load_run, open_run
from .train import fit, train
from .train.fit_gan import fit_gan
from .train.job import train_gan

__all__ = [
    "DATASETS", "MODELS", "Config", "DataConfig", "Dataset", "ModelConfig", "Run", "Split", "SynbiolabError",
    "TrainConfig", "TrainingDiverged", "apply_overrides", "build_model", "count_parameters", "default_config",
    "evaluate", "evaluate_run", "fit", "load_config", "load_dataset", "load_run", "predict", "predict_images",
    "quickstart", "register_dataset", "register_model", "register_section", "train", "write_report",
    "Diagnosis", "RunFacts", "diagnose", "diagnose_history", "fix", "sweep",
    "cross_validate", "filter_pwms", "in_silico_mutagenesis", "kmer_counts", "match_filters", "motifs_for", "one_hot",
    "read_sequences", "reverse_complement",
    "GanConfig", "build_config", "design", "fit_gan", "open_run", "train_gan",
]
