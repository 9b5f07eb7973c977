"""Augmentation layers: active only in training, exact symmetries, saved and reloaded safely; TTA."""

import keras
import numpy as np
import pytest

from astrotune.models.augment import AugmentationSettings, augmentation_block, dihedral_views, predict_tta
from astrotune.models.zoo import build_classifier, load_model

EVERYTHING = AugmentationSettings(dihedral=True, rotate=True, translate=0.1, zoom=0.1, gain=0.1, brightness=0.1)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3)).astype("uint8")


@pytest.fixture(scope="module")
def augmented_model():
    keras.utils.set_random_seed(1)
    model, _ = build_classifier("CompactCNN", 3, (16, 16, 3), "none", augmentation_block(EVERYTHING, seed=1))
    return model


def test_augmentation_is_off_at_inference(augmented_model, images):
    block = augmented_model.get_layer("augmentation")
    assert np.array_equal(np.asarray(block(images.astype("float32"), training=False)), images)
    assert not np.allclose(np.asarray(block(images.astype("float32"), training=True)), images)
    first = augmented_model.predict(images, verbose=0)
    assert np.array_equal(first, augmented_model.predict(images, verbose=0))


def test_every_switch_adds_its_layer():
    assert augmentation_block(AugmentationSettings(), seed=0) is None
    names = [layer.name for layer in augmentation_block(EVERYTHING, seed=0).layers]
    assert names == ["dihedral", "rotate", "translate", "zoom", "gain", "brightness"]
    assert AugmentationSettings(dihedral=True).dihedral_only and not EVERYTHING.dihedral_only


def test_random_dihedral_draws_the_eight_symmetries(images):
    block = augmentation_block(AugmentationSettings(dihedral=True), seed=3)
    views = [view.astype("float32") for view in dihedral_views(images)]
    assert len({view.tobytes() for view in views}) == 8
    seen = set()
    for _ in range(20):
        out = np.asarray(block(images.astype("float32"), training=True))
        for i in range(len(images)):
            matches = [k for k, view in enumerate(views) if np.array_equal(out[i], view[i])]
            assert len(matches) == 1
            seen.add(matches[0])
    assert seen == set(range(8))


def test_tta_is_the_mean_of_the_eight_views(augmented_model, images):
    transforms = [lambda x: x, lambda x: x[:, ::-1], lambda x: x[:, :, ::-1], lambda x: x[:, ::-1, ::-1]]
    views = [t(x) for t in transforms for x in (images, images.transpose(0, 2, 1, 3))]
    expected = np.mean([augmented_model.predict(np.ascontiguousarray(v), verbose=0) for v in views], axis=0)
    np.testing.assert_allclose(predict_tta(augmented_model, images), expected, rtol=1e-5, atol=1e-6)


def test_saved_model_with_augmentation_reloads_in_safe_mode(augmented_model, images, tmp_path):
    augmented_model.save(tmp_path / "model.keras")
    reloaded = load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(reloaded.predict(images, verbose=0), augmented_model.predict(images, verbose=0))


def test_center_crop_is_inside_the_model(images):
    model, _ = build_classifier("CompactCNN", 3, (16, 16, 3), "none", center_crop=8)
    assert model.input_shape == (None, 16, 16, 3) and model.get_layer("center_crop").output.shape[1:3] == (8, 8)
    with pytest.raises(ValueError, match="training.center_crop"):
        build_classifier("CompactCNN", 3, (16, 16, 3), "none", center_crop=17)
