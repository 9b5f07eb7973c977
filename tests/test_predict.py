"""astrotune predict: folders, packed data sets and coordinates give the model's own probabilities."""

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from astrotune.cli import main  # noqa: E402
from astrotune.data.pack import load_image  # noqa: E402
from astrotune.data.store import PackedDataset, write_dataset  # noqa: E402
from astrotune.errors import InputError  # noqa: E402
from astrotune.evaluation.predict import predict  # noqa: E402
from astrotune.models.layers import ImagenetPreprocessing  # noqa: E402
from astrotune.models.metadata import attach_metadata, read_metadata  # noqa: E402
from astrotune.models.zoo import save_model  # noqa: E402

CLASSES = ["GALAXY", "STAR", "QSO"]
SIDE = 32
PROVENANCE = {"source": "sdss_query", "data_release": "DR16", "pixel_scale": 0.4, "original_size": 128,
              "image_size": SIDE, "config_hash": "abc"}


def small_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIDE, SIDE, 3), name="image")
    x = ImagenetPreprocessing("tf", name="preprocess")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A model saved with metadata, one saved without, and a packed data set of 10 objects."""
    folder = tmp_path_factory.mktemp("predict")
    model = small_model()
    save_model(model, folder / "bare.keras")
    attach_metadata(model, PROVENANCE, CLASSES)
    save_model(model, folder / "model.keras")
    synthetic = small_model()
    attach_metadata(synthetic, PROVENANCE | {"source": "synthetic", "data_release": "synthetic"}, CLASSES)
    save_model(synthetic, folder / "synthetic.keras")
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(10, SIDE, SIDE, 3), dtype=np.uint8)
    write_dataset(folder / "data.h5", PackedDataset(
        images=images, labels=np.arange(10) % 3, ids=np.array([f"obj{i}" for i in range(10)], dtype=object),
        ra=np.linspace(10, 11, 10), dec=np.zeros(10), class_names=CLASSES, provenance=PROVENANCE))
    return folder, model, images


def probabilities(table):
    return table[[f"p_{name}" for name in CLASSES]].to_numpy()


def test_metadata_is_saved_and_the_model_loads_with_plain_keras(saved):
    folder, _, _ = saved
    metadata = read_metadata(folder / "model.keras")
    assert metadata["class_names"] == CLASSES and metadata["input_size"] == SIDE
    assert (metadata["data_release"], metadata["pixel_scale"], metadata["original_size"]) == ("DR16", 0.4, 128)
    code = (f"import importlib.util, sys, astrotune; assert 'keras' not in sys.modules; "
            f"importlib.util.find_spec('keras'); import keras; "
            f"m = keras.saving.load_model({str(folder / 'model.keras')!r}); print(m.layers[1].__class__.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ImagenetPreprocessing"


def test_folder_and_packed_inputs_match_model_predict(saved, tmp_path):
    folder, model, images = saved
    expected = model.predict(images, verbose=0)
    packed = predict(folder / "model.keras", folder / "data.h5", tmp_path / "packed.csv", batch_size=4)
    assert list(packed["id"]) == [f"obj{i}" for i in range(10)]
    np.testing.assert_allclose(probabilities(packed), expected, rtol=1e-5, atol=1e-6)
    assert list(packed["predicted"]) == [CLASSES[i] for i in expected.argmax(axis=1)]
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(images_dir / f"obj{i}.png")
    (images_dir / "notes.txt").write_text("not an image")
    assert main(["predict", str(folder / "model.keras"), str(images_dir), "--output", str(tmp_path / "out.csv")]) == 0
    from_folder = pd.read_csv(tmp_path / "out.csv")
    assert list(from_folder["id"]) == [f"obj{i}" for i in range(10)]
    np.testing.assert_allclose(probabilities(from_folder), expected, rtol=1e-5, atol=1e-6)


def test_coordinates_are_fetched_with_the_models_settings(saved, tmp_path, shared_data):
    from skyserver_standin import SkyServerStandIn

    folder, model, _ = saved
    coords = pd.DataFrame({"id": ["a", "b", "c"], "ra": [150.1, 150.2, 150.3], "dec": [2.1, 2.2, 2.3]})
    coords.to_csv(tmp_path / "coords.csv", index=False)
    with SkyServerStandIn(shared_data) as standin:
        standin.add_fault(150.3, 2.3, "wrong_size")
        table = predict(folder / "model.keras", tmp_path / "coords.csv", tmp_path / "out.csv",
                        skyserver_url=standin.url)
        served = [standin.image_bytes(ra, dec) for ra, dec in [(150.1, 2.1), (150.2, 2.2)]]
    assert all(path.startswith("/dr16/") for path in standin.paths)
    assert list(table["status"]) == ["ok", "ok", "failed"]
    assert table.loc[2, "predicted"] == "" and np.isnan(probabilities(table)[2]).all()
    pixels = []
    for i, data in enumerate(served):
        (tmp_path / f"served{i}.jpg").write_bytes(data)
        pixels.append(load_image(tmp_path / f"served{i}.jpg", SIDE))
    expected = model.predict(np.stack(pixels), verbose=0)
    np.testing.assert_allclose(probabilities(table)[:2], expected, rtol=1e-5, atol=1e-6)
    written = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(written["status"]) == ["ok", "ok", "failed"] and "64x64" in written.loc[2, "error"]


def test_bad_inputs_give_one_line_and_a_nonzero_status(saved, tmp_path, capsys):
    folder, _, _ = saved
    grey = tmp_path / "grey"
    grey.mkdir()
    Image.new("L", (SIDE, SIDE)).save(grey / "g.png")
    (tmp_path / "coords.csv").write_text("ra,dec\n150.1,2.1\n")
    cases = [
        (["predict", str(tmp_path / "missing.keras"), str(folder / "data.h5")], "model file does not exist"),
        (["predict", str(folder / "bare.keras"), str(folder / "data.h5")], "has no 'astrotune' metadata"),
        (["predict", str(folder / "model.keras"), str(grey)], "g.png: image mode is L"),
        (["predict", str(folder / "model.keras"), str(tmp_path / "nothing.csv")], "nothing.csv: input does not exist"),
        (["predict", str(folder / "synthetic.keras"), str(tmp_path / "coords.csv")], "it cannot classify coordinates"),
    ]
    for args, message in cases:
        assert main(args + ["-o", str(tmp_path / "out.csv")]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.csv").exists()


def test_packed_data_from_other_cutouts_is_refused(saved, tmp_path):
    folder, _, images = saved
    write_dataset(tmp_path / "other.h5", PackedDataset(
        images=images, labels=np.zeros(10, dtype=int), ids=np.array([str(i) for i in range(10)], dtype=object),
        ra=np.zeros(10), dec=np.zeros(10), class_names=CLASSES, provenance=PROVENANCE | {"pixel_scale": 0.2}))
    with pytest.raises(InputError, match="attribute 'pixel_scale' is 0.2"):
        predict(folder / "model.keras", tmp_path / "other.h5", tmp_path / "out.csv")


def test_no_arguments_lists_the_commands(capsys):
    assert main([]) == 0
    assert "predict" in capsys.readouterr().out


def test_images_of_the_wrong_size_are_named(saved, tmp_path):
    folder, _, _ = saved
    (tmp_path / "imgs").mkdir()
    buffer = io.BytesIO()
    Image.new("RGB", (50, 50), (9, 9, 9)).save(buffer, "PNG")
    (tmp_path / "imgs" / "x.png").write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match="x.png: image is 50x50; the model was trained on 32x32 or 128x128"):
        predict(folder / "model.keras", tmp_path / "imgs", tmp_path / "out.csv")
