"""Hand-crafted features and classical classifiers: shapes, determinism, scikit-image as the reference,
the feature cache, accuracies on the 8x8 digits, and scikit-learn's estimator contract."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import daisy, hog
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from synbiolab import SynbiolabError
from synbiolab.classical import (
    CLASSIFIERS,
    ApproximateRbfSvm,
    BlockStandardScaler,
    DaisyFeatures,
    FeatureCache,
    HogFeatures,
    RawPixels,
    build_classifier,
    build_extractor,
    extract_features,
)


@pytest.fixture(scope="module")
def digit_images():
    """scikit-learn's 8x8 digits scaled to 0..1 (values 0..16 in the original)."""
    bunch = load_digits()
    return bunch.images / 16.0, bunch.target


def bar_image(size: int = 28) -> np.ndarray:
    """A known picture: a bright diagonal bar on a dark background."""
    image = np.zeros((size, size))
    for i in range(4, size - 4):
        image[i, i - 2 : i + 2] = 1.0
    return image


def test_feature_shapes_on_28x28_and_8x8():
    images28 = np.random.default_rng(0).random((7, 28, 28))
    images8 = np.random.default_rng(0).random((7, 8, 8))
    assert extract_features(RawPixels(), images28, n_jobs=1).shape == (7, 784)
    # 4x4 cells of 7x7 pixels: 3x3 blocks of 2x2 cells x 9 orientations = 324; plus 7x7 cells of 4x4
    # pixels: 6x6 blocks x 36 = 1,296.
    assert extract_features(HogFeatures(), images28, n_jobs=1).shape == (7, 324 + 1296)
    assert build_extractor("hog", (28, 28)) == HogFeatures()
    # Pooled DAISY: 2x2 regions x (2 rings x 6 histograms + 1) x 8 orientations = 416.
    assert extract_features(DaisyFeatures(), images28, n_jobs=1).shape == (7, 416)
    hog8 = build_extractor("hog", (8, 8))
    assert hog8.cell_sizes == ((2, 2),)
    assert extract_features(hog8, images8, n_jobs=1).shape == (7, 324)
    daisy8 = build_extractor("daisy", (8, 8))
    assert extract_features(daisy8, images8, n_jobs=1).shape == (7, daisy8.output_dim((8, 8)))
    # (N, 1, H, W) tensors as the data sets hold them are accepted too.
    assert extract_features(HogFeatures(), images28[:, None], n_jobs=1).shape == (7, 1620)


def test_hog_of_a_known_image_equals_scikit_image():
    image = bar_image()
    single = HogFeatures(extra_pixels_per_cell=())
    ours = extract_features(single, image[None], n_jobs=1)[0]
    reference = hog(image, orientations=9, pixels_per_cell=(7, 7), cells_per_block=(2, 2),
                    block_norm="L2-Hys")
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-7)
    # The bar runs along the diagonal: its gradient points across it, at 135 degrees, bin 6 of 9 (120-140).
    cells = ours.reshape(3, 3, 2, 2, 9).sum(axis=(0, 1, 2, 3))
    assert int(np.argmax(cells)) == 6
    # The default is two scales: scikit-image's vectors for 7x7 and 4x4 cells, concatenated.
    finer = hog(image, orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2-Hys")
    ours = extract_features(HogFeatures(), image[None], n_jobs=1)[0]
    np.testing.assert_allclose(ours, np.concatenate([reference, finer]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("settings", [
    {"orientations": 6, "pixels_per_cell": (4, 4), "cells_per_block": (3, 3), "block_norm": "L1"},
    {"orientations": 12, "pixels_per_cell": (5, 3), "cells_per_block": (2, 1), "block_norm": "L1-sqrt"},
    {"orientations": 8, "pixels_per_cell": (6, 6), "cells_per_block": (1, 1), "block_norm": "L2",
     "transform_sqrt": True},
])
def test_hog_equals_scikit_image_on_real_digits_for_other_settings(settings, digit_images):
    # Upscaled real digits: many gradient angles, including ones near the bin edges.
    images = np.kron(digit_images[0][:20], np.ones((3, 3)))  # (20, 24, 24)
    ours = extract_features(HogFeatures(**settings, extra_pixels_per_cell=()), images, n_jobs=1)
    reference = np.stack([hog(image, **settings) for image in images])
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-6)


def test_daisy_pooling_equals_the_mean_of_scikit_image_descriptors():
    image = bar_image()
    grid = daisy(image, step=4, radius=7, rings=2, histograms=6, orientations=8)  # (4, 4, 104)
    expected = np.concatenate([grid[r:r + 2, c:c + 2].mean(axis=(0, 1)) for r in (0, 2) for c in (0, 2)])
    ours = extract_features(DaisyFeatures(), image[None], n_jobs=1)[0]
    np.testing.assert_allclose(ours, expected, rtol=1e-5)


def test_parallel_batched_extraction_is_deterministic_and_equals_serial(digit_images):
    images, _ = digit_images
    images = images[:300]
    extractor = build_extractor("hog", (8, 8))
    serial = extract_features(extractor, images, n_jobs=1)
    parallel = extract_features(extractor, images, n_jobs=2, batch_size=70)
    again = extract_features(extractor, images, n_jobs=2, batch_size=70)
    assert parallel.dtype == np.float32
    np.testing.assert_array_equal(serial, parallel)
    np.testing.assert_array_equal(parallel, again)


def test_cache_hit_returns_identical_arrays_and_settings_change_the_key(tmp_path, digit_images):
    images, _ = digit_images
    images = images[:200]
    cache = FeatureCache(tmp_path)
    hog8 = HogFeatures.for_image_shape((8, 8))
    first = extract_features(hog8, images, n_jobs=1, cache=cache, cache_name="digits")
    assert (cache.hits, cache.misses) == (0, 1)
    files = list((tmp_path / "digits").glob("hog-*.npy"))
    assert len(files) == 1
    second = extract_features(HogFeatures.for_image_shape((8, 8)), images, n_jobs=1, cache=cache,
                              cache_name="digits")
    assert (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(first, second)
    assert second.dtype == first.dtype and second.shape == first.shape
    # Other settings or other images never reuse the file.
    extract_features(HogFeatures.for_image_shape((8, 8), orientations=6), images, n_jobs=1, cache=cache,
                     cache_name="digits")
    extract_features(hog8, images[:100], n_jobs=1, cache=cache, cache_name="digits")
    assert cache.misses == 3 and len(list((tmp_path / "digits").glob("hog-*.npy"))) == 3


def test_default_cache_lives_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    extract_features(RawPixels(), np.zeros((3, 8, 8)), n_jobs=1, cache=True, cache_name="digits")
    assert len(list((tmp_path / "synbiolab" / "features" / "digits").glob("raw-*.npy"))) == 1


def test_bad_settings_name_the_setting():
    with pytest.raises(SynbiolabError, match="too small for pixels_per_cell"):
        extract_features(HogFeatures(), np.zeros((2, 8, 8)), n_jobs=1)
    with pytest.raises(SynbiolabError, match="block_norm.*'L2-Hys'"):
        HogFeatures(block_norm="L3")
    with pytest.raises(SynbiolabError, match="unknown; valid: \\['daisy', 'hog', 'raw'\\]"):
        build_extractor("sift")
    with pytest.raises(SynbiolabError, match="valid: \\['decision_tree', 'knn'"):
        build_classifier("boosting")
    with pytest.raises(SynbiolabError, match="unknown setting 'gamma'"):
        build_classifier("linear_svm", gamma=1.0)
    with pytest.raises(SynbiolabError, match=r"expected shape \(N, H, W\)"):
        extract_features(RawPixels(), np.zeros((2, 3, 8, 8)), n_jobs=1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # SGD stops at its pass limit
def test_every_classifier_learns_the_digits_from_hog(digit_images):
    images, labels = digit_images
    features = extract_features(build_extractor("hog", (8, 8)), images, n_jobs=1)
    train, test = slice(0, 1200), slice(1200, None)
    accuracies = {}
    for name in CLASSIFIERS:
        model = build_classifier(name).fit(features[train], labels[train])
        accuracies[name] = float((model.predict(features[test]) == labels[test]).mean())
    # Chance is 10 %; measured: RBF SVM 0.951, linear models 0.93, forest 0.93, k-NN 0.90, tree 0.73.
    assert accuracies["rbf_svm"] > 0.94
    assert accuracies["knn"] > 0.85
    assert accuracies["linear_svm"] > 0.9 and accuracies["logistic_regression"] > 0.9
    assert accuracies["random_forest"] > 0.9
    assert accuracies["decision_tree"] > 0.6


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_approximate_rbf_svm_is_close_to_the_exact_one(digit_images):
    images, labels = digit_images
    features = extract_features(build_extractor("hog", (8, 8)), images, n_jobs=1)
    exact = build_classifier("rbf_svm").fit(features[:1200], labels[:1200])
    approximate = build_classifier("rbf_svm", approximation="nystroem", n_components=600)
    approximate.fit(features[:1200], labels[:1200])
    exact_accuracy = (exact.predict(features[1200:]) == labels[1200:]).mean()
    approximate_accuracy = (approximate.predict(features[1200:]) == labels[1200:]).mean()
    assert approximate_accuracy > exact_accuracy - 0.03


def test_pca_and_standardisation_steps():
    model = build_classifier("logistic_regression", pca_components=20, standardize=True)
    assert [name for name, _ in model.steps] == ["standardscaler", "pca", "classifier"]
    images, labels = load_digits(return_X_y=True)
    model.fit(images[:1200], labels[:1200])
    assert model.named_steps["pca"].components_.shape == (20, 64)
    assert (model.predict(images[1200:]) == labels[1200:]).mean() > 0.88


def test_block_standard_scaler_gives_each_block_the_same_total_variance():
    rng = np.random.default_rng(0)
    wide = rng.normal(5.0, 3.0, size=(500, 300))  # like 1,620 HoG values next to ...
    narrow = rng.normal(-2.0, 0.1, size=(500, 20))  # ... 128 CNN units
    model = build_classifier("logistic_regression", standardize=True, feature_blocks=(300, 20))
    scaler = model.steps[0][1]
    scaled = scaler.fit(np.hstack([wide, narrow])).transform(np.hstack([wide, narrow]))
    assert scaled[:, :300].var(axis=0).sum() == pytest.approx(1.0, rel=1e-4)
    assert scaled[:, 300:].var(axis=0).sum() == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(scaled.mean(axis=0), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="add up to 320"):
        scaler.fit(wide)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # SGD stops at its pass limit
@parametrize_with_checks([ApproximateRbfSvm(n_components=50), BlockStandardScaler()])
def test_our_estimators_follow_scikit_learns_contract(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_our_estimators_refuse_to_predict_before_fit_and_other_widths_after(digit_images):
    images, labels = digit_images
    features = images.reshape(len(images), -1)
    with pytest.raises(NotFittedError):
        ApproximateRbfSvm().predict(features)
    with pytest.raises(NotFittedError):
        BlockStandardScaler().transform(features)
    svm = ApproximateRbfSvm(n_components=100).fit(features[:600], labels[:600])
    assert svm.n_features_in_ == 64 and svm.gamma_ == pytest.approx(1 / (64 * features[:600].astype("f4").var()))
    with pytest.raises(ValueError, match="X has 32 features, but ApproximateRbfSvm is expecting 64"):
        svm.predict(features[:, :32])
    assert (svm.predict(features[600:]) == labels[600:]).mean() > 0.9

