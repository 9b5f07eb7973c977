"""Issue 23, items 3 and 4: every expected failure of ``astrotune predict`` is one named line and exit 1.

Malformed metadata, a model that disagrees with its metadata, garbage weights, a Lambda layer refused
by safe mode, bad flags; with the server down every object fails, the CSV lists them and the exit
status is 1 unless ``--max-failed-fraction`` allows it.
"""

import json
import socket
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from astrotune.cli import main  # noqa: E402
from astrotune.data.store import PackedDataset, write_dataset  # noqa: E402
from astrotune.errors import InputError  # noqa: E402
from astrotune.evaluation.predict import predict  # noqa: E402
from astrotune.models.heads import HeadSettings  # noqa: E402
from astrotune.models.metadata import attach_metadata  # noqa: E402
from astrotune.models.zoo import build_classifier, save_model  # noqa: E402

from predict_helpers import (  # noqa: E402
    CLASSES,
    PROVENANCE,
    SIDE,
    corrupt_chunk,
    one_line_error,
    save_workflow_model,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    save_workflow_model(root / "model.keras")
    images = np.random.default_rng(0).integers(0, 256, (3, SIDE, SIDE, 3), dtype=np.uint8)
    write_dataset(root / "data.h5", PackedDataset(
        images=images, labels=np.arange(3), ids=np.array(["a", "b", "c"], dtype=object), ra=np.zeros(3),
        dec=np.zeros(3), class_names=CLASSES, provenance=PROVENANCE))
    pd.DataFrame({"id": ["a", "b"], "ra": [150.1, 150.2], "dec": [2.1, 2.2]}).to_csv(root / "coords.csv", index=False)
    write_dataset(root / "corrupt.h5", PackedDataset(
        images=np.repeat(images, 3, axis=0), labels=np.arange(9) % 3, ids=np.array(list("abcdefghi"), dtype=object),
        ra=np.zeros(9), dec=np.zeros(9), class_names=CLASSES, provenance=PROVENANCE))
    corrupt_chunk(root / "corrupt.h5", "images", 7)
    (root / "images").mkdir()
    Image.fromarray(images[0]).save(root / "images" / "a.png")
    return root


def rewritten(source, target, change):
    """A copy of a .keras archive with ``change(name, bytes) -> bytes`` applied to every entry."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for entry in old.infolist():
            new.writestr(entry.filename, change(entry.filename, old.read(entry)))
    return target


def with_metadata(source, target, **fields):
    def change(name, data):
        if name != "config.json":
            return data
        config = json.loads(data)
        config["config"]["astrotune"] |= fields
        return json.dumps(config).encode()
    return rewritten(source, target, change)


def lambda_model(path):
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Lambda(lambda t: t / 255.0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    attach_metadata(model, PROVENANCE, CLASSES)
    save_model(model, path)
    return path


def test_bad_models_and_flags_give_one_named_line(files, tmp_path, capsys):
    model, h5, csv = files / "model.keras", files / "data.h5", files / "coords.csv"
    garbage = rewritten(model, tmp_path / "garbage.keras",
                        lambda name, data: b"\x89HDF garbage" * 100 if name == "model.weights.h5" else data)
    other = tmp_path / "other.keras"
    keras.utils.set_random_seed(1)
    save_model(build_classifier("CompactCNN", 3, (SIDE, SIDE, 3), "none", head=HeadSettings(dense=(8,)))[0], other)
    with zipfile.ZipFile(other) as archive:
        other_weights = archive.read("model.weights.h5")
    swapped = rewritten(model, tmp_path / "swapped.keras",
                        lambda name, data: other_weights if name == "model.weights.h5" else data)
    cases = [
        (with_metadata(model, tmp_path / "a.keras", input_size="32"), h5, [],
         "astrotune.input_size: must be an integer in 1..4096 (got '32')"),
        (with_metadata(model, tmp_path / "b.keras", class_names=["GALAXY", 3]), h5, [],
         "astrotune.class_names: must be a list of 2..1000 distinct non-empty names"),
        (with_metadata(model, tmp_path / "c.keras", pixel_scale=-1), h5, [],
         "astrotune.pixel_scale: must be empty or a number"),
        (with_metadata(model, tmp_path / "d.keras", class_names=["GALAXY", "STAR"]), files / "images", [],
         "astrotune.class_names: 2 names, but the model has 3 outputs"),
        (with_metadata(model, tmp_path / "e.keras", input_size=64), files / "images", [],
         "astrotune.input_size: 64, but the model takes inputs of shape (32, 32, 3)"),
        (garbage, h5, [], "model cannot be loaded by Keras in safe mode"),
        (swapped, h5, [], "model cannot be loaded by Keras in safe mode (ValueError: A total of"),
        (lambda_model(tmp_path / "lambda.keras"), h5, [], "model cannot be loaded by Keras in safe mode"),
        (model, h5, ["--batch-size", "0"], "--batch-size: 0 must be a whole number of at least 1"),
        (model, h5, ["--batch-size", "-5"], "--batch-size: -5 must be a whole number of at least 1"),
        (model, h5, ["--max-objects", "0"], "--max-objects: 0 must be a whole number of at least 1"),
        (model, h5, ["--max-failed-fraction", "2"], "--max-failed-fraction: 2.0 must be a number in 0..1"),
        (model, csv, ["--skyserver-url", "file:///etc"], "--skyserver-url: 'file:///etc' is not an http"),
        (model, csv, ["--skyserver-url", "not a url"], "--skyserver-url: 'not a url' is not an http"),
        (model, csv, ["--skyserver-url", "http://[::1"], "--skyserver-url: 'http://[::1' is not an http"),
        (rewritten(model, tmp_path / "list.keras", lambda name, data: b"[1, 2]" if name == "config.json" else data),
         h5, [], "model has no 'astrotune' metadata"),
        (model, tmp_path / "x.txt", [], "input does not exist"),
        (model, files / "corrupt.h5", ["--batch-size", "4"],
         f"{files / 'corrupt.h5'}: damaged HDF5 file, cannot read its data in dataset 'images'"),
    ]
    for model_path, input_path, flags, message in cases:
        out = tmp_path / "out.csv"
        assert main(["predict", str(model_path), str(input_path), "-o", str(out), *flags]) == 1, message
        line = one_line_error(capsys.readouterr().err, message)
        assert len(line) < 600 and not out.exists()


def test_server_down_lists_every_object_and_fails(files, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there once closed
    out = tmp_path / "out.csv"
    with pytest.raises(InputError, match=r"2 of 2 objects not classified, more than --max-failed-fraction=0"):
        predict(files / "model.keras", files / "coords.csv", out, skyserver_url=url,
                cutout_options={"retries": 0, "timeout_s": 5})
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["status"]) == ["failed", "failed"] and list(table["predicted"]) == ["", ""]
    table = predict(files / "model.keras", files / "coords.csv", out, skyserver_url=url, max_failed_fraction=1,
                    cutout_options={"retries": 0, "timeout_s": 5})
    assert list(table["status"]) == ["failed", "failed"]
