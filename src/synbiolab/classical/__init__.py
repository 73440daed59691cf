"""The classical pipeline: hand-crafted features, then a scikit-learn classifier.

Experts choose the features (raw pixels, histograms of oriented gradients, DAISY descriptors; k-mer counts
for DNA), then a classifier learns from them. The parts, upstream first:

``features.py``     extractors of grey images `(N, H, W)` in 0..1: RawPixels, HogFeatures, DaisyFeatures
``cache.py``        extract_features: batches over worker processes, kept on disk (FeatureCache)
``classifiers.py``  CLASSIFIERS and build_classifier (scikit-learn pipelines), ApproximateRbfSvm,
                    BlockStandardScaler
``kmer.py``         sequence_features and kmer_baseline, the linear baseline of every sequence model

Typical use:

    extractor = build_extractor("hog", (28, 28))    # 7x7 and 4x4 cells, 2x2 blocks
    train_features = extract_features(extractor, train_images, cache=True, cache_name="mnist")
    classifier = build_classifier("rbf_svm").fit(train_features, train_labels)
"""

from .cache import FeatureCache, default_cache_dir, extract_features
from .classifiers import CLASSIFIERS, ApproximateRbfSvm, BlockStandardScaler, ClassifierSpec, build_classifier
from .features import (
    EXTRACTORS,
    FEATURE_VERSION,
    DaisyFeatures,
    HogFeatures,
    RawPixels,
    as_image_batch,
    build_extractor,
)
from .kmer import kmer_baseline, sequence_features

__all__ = [
    "CLASSIFIERS", "EXTRACTORS", "FEATURE_VERSION", "ApproximateRbfSvm", "BlockStandardScaler", "ClassifierSpec",
    "DaisyFeatures", "FeatureCache", "HogFeatures", "RawPixels", "as_image_batch", "build_classifier",
    "build_extractor", "default_cache_dir", "extract_features", "kmer_baseline", "sequence_features",
]
