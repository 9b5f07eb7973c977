"""Model zoo and trainable-layer counting against the paper's Tables 2, 3 and 5 (weights=None)."""

import subprocess
import sys

import numpy as np
import pytest

from astrotune.models import paper
from astrotune.models.schedules import ARCHITECTURES, validate_schedule
from astrotune.reporting.paper_tables import matches_printed

keras = pytest.importorskip("keras")

from astrotune.models.layers import ImagenetPreprocessing  # noqa: E402
from astrotune.models.trainable import count_params, set_trainable_last_layers  # noqa: E402
from astrotune.models.zoo import build_classifier, load_model  # noqa: E402

SMALL = (32, 32, 3)  # counts do not depend on the input size; Xception/InceptionResNetV2 upsample inside
N_CLASSES = 3
# The one Table 3 cell no trainable-layer count reproduces (ours: 681,603 at L=35).
INCONSISTENT_TABLE3 = {("DenseNet121", 35)}
# Table 2 totals that match a 2-class head instead of the paper's 3-class one.
TWO_CLASS_TABLE2 = {"MobileNetV2", "NASNetMobile"}


@pytest.fixture(scope="module")
def classifiers():
    """Build each architecture once per session: arch -> (model, base)."""
    built = {}

    def get(arch):
        if arch not in built:
            built[arch] = build_classifier(arch, N_CLASSES, SMALL, "none")
        return built[arch]

    yield get
    keras.backend.clear_session()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_static_layer_count_matches_a_real_build(classifiers, arch):
    _, base = classifiers(arch)
    assert len(base.layers) == ARCHITECTURES[arch].n_layers


# A layer of the top block and one of the bottom block, as a Keras user knows them.
TOP_AND_BOTTOM_BLOCK = {
    "ResNet50": ("conv5_block3_1_conv", "conv1_conv"), "VGG16": ("block5_conv1", "block1_conv1"),
    "DenseNet121": ("conv5_block16_0_bn", "conv1_conv"), "Xception": ("block14_sepconv1", "block1_conv1"),
    "EfficientNetB2": ("block7b_expand_conv", "stem_conv"), "MobileNetV2": ("block_16_expand", "Conv1"),
    "NASNetMobile": ("normal_concat_12", "reduction_concat_stem_1"),
    "EfficientNetV2S": ("block6o_expand_conv", "stem_conv"), "InceptionResNetV2": ("block8_10_mixed", "mixed_5b"),
    "CompactCNN": ("block4_conv1", "block1_conv1"), "VGG11": ("block5_conv1", "block1_conv1"),
    "AvgPoolCNN": ("block4_conv1", "block1_conv1"),
}


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_static_block_table_is_what_the_layer_names_of_a_build_give(classifiers, arch):
    from astrotune.models.blocks import block_first_layers, derive_block_starts
    from astrotune.models.schedules import BLOCK_STARTS

    _, base = classifiers(arch)
    assert derive_block_starts(arch, base) == BLOCK_STARTS[arch] and BLOCK_STARTS[arch][-1] == len(base.layers)
    top, bottom = TOP_AND_BOTTOM_BLOCK[arch]
    firsts = block_first_layers(arch, base)
    assert top in [layer.name for layer in base.layers[firsts[-1]:]]
    assert bottom in [layer.name for layer in base.layers[:firsts[1]]]


@pytest.mark.parametrize("arch", paper.ARCHITECTURES)
def test_table3_trainable_parameters_every_cell(classifiers, arch):
    model, base = classifiers(arch)
    for layers, printed in paper.TABLE3[arch]:
        set_trainable_last_layers(model, base, layers)
        trainable, _, _ = count_params(model)
        expected = (arch, layers) not in INCONSISTENT_TABLE3
        assert matches_printed(trainable, printed) is expected, (arch, layers, trainable, printed)


def test_inconsistent_table3_cell_matches_no_layer_count(classifiers):
    model, base = classifiers("DenseNet121")
    for layers in range(len(base.layers) + 1):
        set_trainable_last_layers(model, base, layers)
        assert not matches_printed(count_params(model)[0], "686K"), layers


@pytest.mark.parametrize("arch", paper.ARCHITECTURES)
def test_table2_layers_and_parameters(classifiers, arch):
    model, base = classifiers(arch)
    paper_layers, paper_total = paper.TABLE2[arch]
    _, _, total = count_params(model)
    features = base.output.shape[-1]
    head_classes = 2 if arch in TWO_CLASS_TABLE2 else N_CLASSES
    assert len(base.layers) == paper_layers
    assert total - N_CLASSES * (features + 1) + head_classes * (features + 1) == paper_total
    assert (total == paper_total) is (arch not in TWO_CLASS_TABLE2)


@pytest.mark.parametrize("arch", paper.ARCHITECTURES)
def test_table5_parameters_tuned_exactly(classifiers, arch):
    model, base = classifiers(arch)
    layers, params, *_ = paper.TABLE5[arch]
    set_trainable_last_layers(model, base, layers)
    assert count_params(model)[0] == params


def test_trainable_flags_head_and_batchnorm(classifiers):
    model, base = classifiers("ResNet50")
    set_trainable_last_layers(model, base, 0)
    assert count_params(model)[0] == 2048 * 3 + 3
    assert model.get_layer("predictions").trainable
    set_trainable_last_layers(model, base, 4)  # ... conv5_block3_3_bn, add, out relu, avg_pool
    batchnorm = base.layers[-4]
    assert isinstance(batchnorm, keras.layers.BatchNormalization)
    assert {w.name for w in batchnorm.trainable_weights} == {"gamma", "beta"}
    assert not base.layers[-5].trainable
    trainable, non_trainable, total = count_params(model)
    assert (trainable, trainable + non_trainable) == (10243, model.count_params()) and total == model.count_params()


def test_set_trainable_rejects_out_of_range(classifiers):
    model, base = classifiers("VGG16")
    with pytest.raises(ValueError, match="21 trainable layers"):
        set_trainable_last_layers(model, base, 21)


def test_validate_schedule_errors():
    validate_schedule("ResNet50", [0, 5, 176])
    with pytest.raises(ValueError, match=r"architectures\.ResNet50: 200 trainable layers requested but "
                                         r"ResNet50 has 176 layers"):
        validate_schedule("ResNet50", [0, 200])
    with pytest.raises(ValueError, match="VGG16 has 20 layers"):
        validate_schedule("VGG16", [-1])
    with pytest.raises(ValueError, match="VGG16 has 20 layers"):
        validate_schedule("VGG16", [2.5])
    with pytest.raises(ValueError, match=r"architectures\.ResNet18: unknown architecture"):
        validate_schedule("ResNet18", [0])


def test_zoo_import_does_not_import_keras():
    code = "import sys, astrotune.models.schedules, astrotune.reporting.paper_tables; assert 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("mode", ["caffe", "torch", "tf"])
def test_preprocessing_layer_equals_keras_preprocess_input(mode):
    from keras.applications import imagenet_utils

    images = np.random.default_rng(0).uniform(0, 255, size=(2, 4, 4, 3)).astype("float32")
    ours = keras.ops.convert_to_numpy(ImagenetPreprocessing(mode)(images))
    np.testing.assert_allclose(ours, imagenet_utils.preprocess_input(images.copy(), mode=mode), rtol=1e-5, atol=1e-4)


def test_classifier_round_trips_through_keras_file_in_safe_mode(classifiers, tmp_path):
    model, _ = classifiers("MobileNetV2")
    assert [layer.name for layer in model.layers][:2] == ["image", "preprocess"]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path)
    assert loaded.get_layer("preprocess").get_config()["mode"] == "tf"
    images = np.random.default_rng(1).uniform(0, 255, size=(2, *SMALL)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_small_inputs_are_upsampled_to_the_minimum(classifiers):
    model, base = classifiers("Xception")
    assert model.input.shape[1:] == SMALL
    assert base.input.shape[1:] == (71, 71, 3)
    assert model.get_layer("resize_to_min")


def test_weights_file_is_loaded_into_the_base(classifiers, tmp_path):
    _, base = classifiers("VGG16")
    path = tmp_path / "vgg16.weights.h5"
    base.save_weights(path)
    _, loaded = build_classifier("VGG16", N_CLASSES, SMALL, str(path))
    for ours, theirs in zip(base.weights, loaded.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))


def test_architecture_summary_counts_every_layer():
    from astrotune.reporting.paper_tables import architecture_summary

    summary = architecture_summary("VGG16", paper.SCHEDULES["VGG16"], N_CLASSES, SMALL)
    assert list(summary["layers_trainable"]) == list(range(21))
    assert summary["scheduled"].sum() == 14
    assert set(summary["total_params"]) == {paper.TABLE2["VGG16"][1]}
    for layers, printed in paper.TABLE3["VGG16"]:
        assert matches_printed(summary["trainable_params"].iloc[layers], printed)
