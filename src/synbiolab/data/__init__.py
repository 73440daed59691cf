"""Data: image and sequence files, named data sets, splits and in-memory batches."""

from .batches import InMemoryBatches
from .datasets import DATASETS, Dataset, Split, load_dataset, register_dataset

__all__ = ["DATASETS", "Dataset", "InMemoryBatches", "Split", "load_dataset", "register_dataset"]
