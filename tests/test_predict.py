"""astrotune predict on classifiers the workflow builds and saves (augmentation layers, center crop, a
CBAM head, nested bases): folders, packed data sets and coordinates give ``model.predict``'s own
probabilities on the pixels packing would make (issue 24, item 2; issue 23, item 4)."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from astrotune.cli import main  # noqa: E402
from astrotune.data.pack import load_image, pack  # noqa: E402
from astrotune.data.store import PackedDataset, read_dataset, write_dataset  # noqa: E402
from astrotune.evaluation.predict import predict  # noqa: E402
from astrotune.models.augment import AugmentationSettings, augmentation_block  # noqa: E402
from astrotune.models.heads import HeadSettings  # noqa: E402
from astrotune.models.metadata import attach_metadata, read_metadata  # noqa: E402
from astrotune.models.zoo import build_classifier, save_model  # noqa: E402
from astrotune.sky.local_images import index_local_images  # noqa: E402

CLASSES = ["GALAXY", "STAR", "QSO"]
SIDE = 32
PROVENANCE = {"source": "sdss_query", "data_release": "DR16", "pixel_scale": 0.4, "original_size": 128,
              "image_size": SIDE, "config_hash": "abc"}
# (file name, architecture, build options): what train_model builds for these configs.
MODELS = [
    ("compact.keras", "CompactCNN", {
        "augmentation": AugmentationSettings(dihedral=True, gain=0.1, translate=0.1), "center_crop": 24,
        "head": HeadSettings(cbam=True, cbam_reduction=4, dense=(16,), dropout=0.2)}),
    ("mobilenet.keras", "MobileNetV2", {"head": HeadSettings(dense=(8,), batchnorm=True)}),
]


def workflow_model(arch, augmentation=None, **options):
    keras.utils.set_random_seed(0)
    block = augmentation_block(augmentation, seed=0) if augmentation else None
    model, _ = build_classifier(arch, len(CLASSES), (SIDE, SIDE, 3), "none", augmentation=block, **options)
    return model


def noise(n, side, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The workflow's models saved with metadata (and one without), and a packed data set of 10 objects."""
    folder = tmp_path_factory.mktemp("predict")
    models = {}
    for name, arch, options in MODELS:
        model = workflow_model(arch, **options)
        attach_metadata(model, PROVENANCE, CLASSES)
        save_model(model, folder / name)
        models[name] = model
    save_model(workflow_model("CompactCNN"), folder / "bare.keras")
    images = noise(10, SIDE, 1)
    write_dataset(folder / "data.h5", PackedDataset(
        images=images, labels=np.arange(10) % 3, ids=np.array([f"obj{i}" for i in range(10)], dtype=object),
        ra=np.linspace(10, 11, 10), dec=np.zeros(10), class_names=CLASSES, provenance=PROVENANCE))
    return folder, models, images


def probabilities(table):
    return table[[f"p_{name}" for name in CLASSES]].to_numpy()


def test_workflow_models_load_with_plain_keras_and_keep_their_layers(saved):
    folder, _, _ = saved
    metadata = read_metadata(folder / "compact.keras")
    assert metadata["class_names"] == CLASSES and metadata["input_size"] == SIDE
    code = ("import sys, astrotune; assert 'keras' not in sys.modules; import keras; "
            f"m = keras.saving.load_model({str(folder / 'compact.keras')!r}); "
            "print(' '.join(sorted(layer.name for layer in m.layers)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    layers = result.stdout.split()
    assert {"augmentation", "center_crop", "cbam", "compact_cnn"} <= set(layers), layers


@pytest.mark.parametrize("name", [name for name, _, _ in MODELS])
def test_folder_and_packed_inputs_match_model_predict(saved, tmp_path, name):
    folder, models, images = saved
    expected = models[name].predict(images, verbose=0)
    packed = predict(folder / name, folder / "data.h5", tmp_path / "packed.csv", batch_size=4)
    assert list(packed["id"]) == [f"obj{i}" for i in range(10)]
    np.testing.assert_allclose(probabilities(packed), expected, rtol=1e-5, atol=1e-6)
    assert list(packed["predicted"]) == [CLASSES[i] for i in expected.argmax(axis=1)]
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(images_dir / f"obj{i}.png")
    (images_dir / "notes.txt").write_text("not an image")
    assert main(["predict", str(folder / name), str(images_dir), "--batch-size", "3",
                 "--output", str(tmp_path / "out.csv")]) == 0
    from_folder = pd.read_csv(tmp_path / "out.csv")
    assert list(from_folder["id"]) == [f"obj{i}" for i in range(10)]
    np.testing.assert_allclose(probabilities(from_folder), expected, rtol=1e-5, atol=1e-6)


def test_original_size_cutouts_are_resized_as_packing_did(saved, tmp_path):
    """Local 128 px images packed at 32 px: the packed set records 128, and predict on the 128 px
    folder equals model.predict on the packed pixels (JPEG draft decoding included)."""
    folder, models, _ = saved
    images_dir, flat = tmp_path / "cutouts", tmp_path / "flat"
    flat.mkdir()
    for i, image in enumerate(noise(6, 128, 2)):
        (images_dir / CLASSES[i % 3]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(images_dir / CLASSES[i % 3] / f"o{i}.jpg", quality=90)
        Image.fromarray(image).save(flat / f"o{i}.jpg", quality=90)
    index_local_images(tmp_path / "manifest.csv", CLASSES, folder=images_dir)
    provenance = {"source": "local_images", "data_release": "", "pixel_scale": "", "original_size": "",
                  "image_size": SIDE, "config_hash": "x"}
    pack([tmp_path / "manifest.csv"], tmp_path / "packed.h5", tmp_path / "skipped.csv", CLASSES, SIDE, 0.0,
         provenance)
    packed = read_dataset(tmp_path / "packed.h5")
    assert packed.provenance["original_size"] == 128
    table = predict(folder / "compact.keras", flat, tmp_path / "out.csv")
    expected = models["compact.keras"].predict(packed.images[np.argsort(packed.ids)], verbose=0)
    np.testing.assert_allclose(probabilities(table), expected, rtol=1e-5, atol=1e-6)


def test_grey_palette_rgba_and_16_bit_images_are_converted_as_packing_does(saved, tmp_path):
    folder, models, _ = saved
    base = noise(1, SIDE, 3)[0]
    images_dir = tmp_path / "modes"
    images_dir.mkdir()
    Image.fromarray(base).convert("L").save(images_dir / "grey.png")
    Image.fromarray(base).convert("P").save(images_dir / "palette.png")
    Image.fromarray(base).convert("RGBA").save(images_dir / "rgba.png")
    Image.fromarray((base[..., 0].astype(np.uint16) * 257)).save(images_dir / "sixteen.png")
    table = predict(folder / "compact.keras", images_dir, tmp_path / "out.csv")
    assert (table["status"] == "ok").all(), table["error"].tolist()
    pixels = np.stack([load_image(images_dir / name, SIDE) for name in table["file"]])
    np.testing.assert_allclose(probabilities(table), models["compact.keras"].predict(pixels, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_images_of_the_wrong_size_are_listed_and_the_exit_status_is_one(saved, tmp_path, capsys):
    folder, _, _ = saved
    (tmp_path / "imgs").mkdir()
    Image.fromarray(noise(1, 50, 4)[0]).save(tmp_path / "imgs" / "x.png")
    Image.fromarray(noise(1, SIDE, 5)[0]).save(tmp_path / "imgs" / "y.png")
    args = ["predict", str(folder / "compact.keras"), str(tmp_path / "imgs"), "-o", str(tmp_path / "out.csv")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "1 of 2 objects not classified, more than --max-failed-fraction=0" in err
    assert "x.png: failed: image is 50x50; the model was trained on 32x32 or 128x128 images" in err
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(written["status"]) == ["failed", "ok"] and written.loc[1, "predicted"] in CLASSES
    assert main(args + ["--max-failed-fraction", "0.5"]) == 0


def test_packed_data_from_other_cutouts_or_classes_is_refused(saved, tmp_path, capsys):
    folder, _, images = saved
    for name, change in [("scale.h5", {"provenance": PROVENANCE | {"pixel_scale": 0.2}}),
                         ("classes.h5", {"class_names": ["STAR", "GALAXY", "QSO"]})]:
        write_dataset(tmp_path / name, PackedDataset(**{
            "images": images, "labels": np.zeros(10, dtype=int), "ids": np.array([str(i) for i in range(10)],
                                                                                dtype=object),
            "ra": np.zeros(10), "dec": np.zeros(10), "class_names": CLASSES, "provenance": PROVENANCE} | change))
    for name, message in [("scale.h5", "attribute 'pixel_scale' is 0.2, the model was trained on 0.4"),
                          ("classes.h5", "attribute 'class_names' is ['STAR', 'GALAXY', 'QSO'], the model was "
                                         "trained on ['GALAXY', 'STAR', 'QSO']")]:
        assert main(["predict", str(folder / "compact.keras"), str(tmp_path / name), "-o",
                     str(tmp_path / "out.csv")]) == 1
        assert f"{tmp_path / name}: {message}" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_no_arguments_lists_the_commands(capsys):
    assert main([]) == 0
    assert "predict" in capsys.readouterr().out


def test_coordinates_are_fetched_with_the_models_settings(saved, tmp_path):
    from predict_helpers import CutoutServer

    folder, models, _ = saved
    pd.DataFrame({"id": ["a", "b"], "ra": ["10:00:24", 150.2], "dec": [2.1, "+02:12:00"]}).to_csv(
        tmp_path / "coords.csv", index=False)
    with CutoutServer(128) as server:
        table = predict(folder / "compact.keras", tmp_path / "coords.csv", tmp_path / "out.csv",
                        skyserver_url=server.url)
    assert all(path.startswith("/dr16/SkyServerWS/ImgCutout/getjpeg?") and "scale=0.4&width=128&height=128" in path
               for path in server.requests), server.requests
    assert list(table["status"]) == ["ok", "ok"] and table["ra"].tolist() == pytest.approx([150.1, 150.2])
    (tmp_path / "served.jpg").write_bytes(server.body)
    pixels = np.stack([load_image(tmp_path / "served.jpg", SIDE)] * 2)
    np.testing.assert_allclose(probabilities(table), models["compact.keras"].predict(pixels, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "out_cutouts").iterdir() if not p.name.startswith(".")) == \
        ["a.jpg", "b.jpg"]
