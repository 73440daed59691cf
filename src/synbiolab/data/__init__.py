"""Data: image and sequence files, named data sets, splits and in-memory batches.

``registry`` defines ``Dataset`` and ``load_dataset``; the loader modules register their named sets when
they are imported here, explicitly, so that importing ``synbiolab.data`` makes every named set available.
"""

from . import folders, images, synbio  # noqa: F401 - each registers its named data sets (folders: user paths)
from .batches import InMemoryBatches
from .registry import DATASETS, Dataset, Split, load_dataset, register_dataset

__all__ = ["DATASETS", "Dataset", "InMemoryBatches", "Split", "load_dataset", "register_dataset"]
