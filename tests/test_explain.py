"""Grad-CAM and saliency: a small model trained to find a point source looks at the source."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from astrotune.errors import InputError  # noqa: E402
from astrotune.evaluation.explain import GradCam, find_feature_layer, select_examples  # noqa: E402

SIDE = 24


def point_source_images(n, rng, positions=None):
    """Noise images; odd-numbered ones hold a Gaussian point source (label 1) at a random position."""
    yy, xx = np.mgrid[:SIDE, :SIDE]
    images = rng.normal(40, 8, size=(n, SIDE, SIDE, 3))
    labels = np.arange(n) % 2
    for i in np.flatnonzero(labels):
        y, x = positions if positions is not None else rng.integers(3, SIDE - 3, size=2)
        images[i] += 180 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5 ** 2))[..., None]
    return np.clip(images, 0, 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def source_finder():
    keras.utils.set_random_seed(3)
    images, labels = point_source_images(400, np.random.default_rng(0))
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(images, labels, epochs=6, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("position", [(SIDE // 2, SIDE // 2), (6, 17)])
def test_gradcam_peaks_at_the_point_source(source_finder, position):
    images, labels = point_source_images(2, np.random.default_rng(1), positions=position)
    explainer = GradCam(source_finder)
    assert explainer.layer_name == "conv_b"
    heatmaps, classes = explainer.heatmaps(images[1:], classes=[1])
    peak = np.unravel_index(np.argmax(heatmaps[0]), heatmaps[0].shape)
    assert np.hypot(peak[0] - position[0], peak[1] - position[1]) <= 2.5, (peak, position)
    saliency, _ = explainer.saliency(images[1:], classes=[1])
    peak = np.unravel_index(np.argmax(saliency[0]), saliency[0].shape)
    assert np.hypot(peak[0] - position[0], peak[1] - position[1]) <= 3.5, (peak, position)
    assert heatmaps.shape == saliency.shape == (1, SIDE, SIDE)
    assert 0 <= heatmaps.min() and heatmaps.max() == pytest.approx(1.0)


def test_feature_layer_found_inside_a_nested_zoo_base():
    from astrotune.models.zoo import build_classifier

    model, base = build_classifier("ResNet50", 3, (32, 32, 3), "none")
    owner, layer = find_feature_layer(model)
    assert owner is base and len(layer.output.shape) == 4 and layer.output.shape[1] > 1
    images = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3)).astype(np.uint8)
    explainer = GradCam(model)
    probabilities = explainer.head(explainer.features(images.astype(np.float32)))
    np.testing.assert_allclose(np.asarray(probabilities), model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    heatmaps, classes = explainer.heatmaps(images)
    assert heatmaps.shape == (2, 32, 32) and classes.shape == (2,)
    named = GradCam(model, "conv4_block6_out")
    assert named.layer_name == "conv4_block6_out"
    with pytest.raises(InputError, match="no layer named 'nope'"):
        GradCam(model, "nope")


def test_examples_are_seeded_and_cover_every_class():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    first = select_examples(labels, 3, 2, seed=5)
    assert np.array_equal(first, select_examples(labels, 3, 2, seed=5))
    assert [labels[i] for i in first] == [0, 0, 1, 1, 2, 2]


@pytest.mark.slow
def test_default_workflow_writes_explanations_confusion_figures_and_baseline(tiny_run):
    import json

    import pandas as pd

    from astrotune.models.metadata import read_metadata

    from workflow_helpers import TINY_CONFIG, run_snakemake

    results = tiny_run / "results" / "tiny"
    jobs = [(arch, n) for arch, schedule in TINY_CONFIG["architectures"].items() for n in schedule]
    for arch, n in jobs:
        assert (results / "figures" / "confusion" / arch / f"L{n}.png").stat().st_size > 0
        metrics = json.loads((results / "metrics" / arch / f"L{n}.json").read_text())
        interval = metrics["val"]["accuracy_ci"]
        assert interval["ci_low"] <= metrics["val"]["accuracy"] <= interval["ci_high"]
        assert read_metadata(results / "models" / arch / f"L{n}" / "model.keras")["input_size"] == 32
    record = json.loads((results / "metrics" / "explain_layers.json").read_text())
    assert len(record["ids"]) == 3 and set(record["models"]) == {f"{arch} L{n}" for arch, n in jobs}
    for name in ("gradcam", "saliency"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 0
    baseline = pd.read_csv(results / "tables" / "unsupervised.csv")
    assert 0 <= baseline.loc[0, "accuracy"] <= 1 and 1 <= baseline.loc[0, "pca_components"] <= 60
    run_snakemake(tiny_run, "--report", "explain_report.html")
    html = (tiny_run / "explain_report.html").read_text()
    for name in ("gradcam.png", "saliency.png", "L0.png", "unsupervised.html", "Confusion matrices"):
        assert name in html


def test_automatic_feature_layer_is_one_the_classifier_can_be_cut_at():
    """NASNet's cells read the two cells before them, so at 32 px its last map larger than 1x1
    (``cropping2d_3``) is bypassed; Grad-CAM walks back to the stem's map, which everything after reads."""
    from astrotune.models.zoo import build_classifier

    model, _ = build_classifier("NASNetMobile", 3, (32, 32, 3), "none")
    explainer = GradCam(model)
    assert explainer.layer_name == "stem_bn1"
    images = np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(explainer.head(explainer.features(images))),
                               model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="depends on more than cropping2d_3's output"):
        GradCam(model, "cropping2d_3")
