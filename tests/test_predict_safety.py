"""Issue 23, item 1: ``astrotune predict`` never replaces or deletes a file it did not create.

``-o`` onto any input, into an input folder or onto a device, FIFO, link or unwritable folder is one
line and exit 1 with every file unchanged; ``--cutouts`` writes only into a folder it owns, and never
deletes or replaces a user's file there.
"""

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("keras")

from astrotune.cli import main  # noqa: E402
from astrotune.data.store import PackedDataset, write_dataset  # noqa: E402

from predict_helpers import (  # noqa: E402
    CLASSES,
    PROVENANCE,
    SIDE,
    CutoutServer,
    fingerprint,
    one_line_error,
    save_workflow_model,
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A saved model, a packed set, a coordinate CSV and an image folder."""
    root = tmp_path_factory.mktemp("safety")
    save_workflow_model(root / "model.keras")
    images = np.random.default_rng(0).integers(0, 256, (4, SIDE, SIDE, 3), dtype=np.uint8)
    write_dataset(root / "data.h5", PackedDataset(
        images=images, labels=np.arange(4) % 3, ids=np.array([f"o{i}" for i in range(4)], dtype=object),
        ra=np.zeros(4), dec=np.zeros(4), class_names=CLASSES, provenance=PROVENANCE))
    pd.DataFrame({"id": ["obj1", "obj2"], "ra": [150.1, 150.2], "dec": [2.1, 2.2]}).to_csv(root / "coords.csv",
                                                                                          index=False)
    (root / "images").mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(root / "images" / f"o{i}.png")
    return root


def run(capsys, *args):
    status = main(["predict", *map(str, args)])
    return status, capsys.readouterr().err


def test_output_onto_an_input_or_a_non_file_is_refused_and_nothing_changes(inputs, tmp_path, capsys):
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "link.csv").symlink_to(inputs / "coords.csv")
    model, h5, csv, folder = (inputs / name for name in ("model.keras", "data.h5", "coords.csv", "images"))
    (tmp_path / "new").symlink_to(inputs)  # a cutouts folder name that leads back to the inputs
    before = fingerprint(inputs)
    cases = [
        ((model, h5, "-o", model), f"{model}: -o: is the input {model}"),
        ((model, h5, "-o", h5), f"{h5}: -o: is the input {h5}"),
        ((model, csv, "-o", inputs / "." / "coords.csv"), "-o: is the input"),
        ((model, folder, "-o", folder), "-o: exists and is not a regular file"),
        ((model, folder, "-o", folder / "o1.png"), "-o: is inside the input folder"),
        ((model, folder, "-o", folder / "new.csv"), "-o: is inside the input folder"),
        ((model, h5, "-o", "/dev/null"), "/dev/null: -o: exists and is not a regular file"),
        ((model, h5, "-o", tmp_path / "fifo.csv"), "-o: exists and is not a regular file"),
        ((model, h5, "-o", tmp_path / "link.csv"), "-o: is a symbolic link"),
        ((model, h5, "-o", "/proc/x.csv"), "/proc/x.csv: -o: cannot write in /proc"),
        ((model, h5, "-o", tmp_path / "missing" / "x.csv"), "-o: folder"),
        ((model, csv, "-o", tmp_path / "out.csv", "--cutouts", inputs), "folder holds files astrotune did not write"),
        ((model, csv, "-o", tmp_path / "out.csv", "--cutouts", model), "--cutouts: is the input"),
        ((model, csv, "-o", tmp_path / "out.csv", "--cutouts", tmp_path / "fifo.csv"), "cutouts folder: not a folder"),
        ((model, csv, "-o", tmp_path / "out.csv", "--cutouts", folder), "folder holds files astrotune did not write"),
        ((model, csv, "-o", tmp_path / "out.csv", "--cutouts", tmp_path / "new"), "cutouts folder: not a folder"),
    ]
    for args, message in cases:
        status, err = run(capsys, *args)
        assert status == 1, args
        one_line_error(err, message)
    assert fingerprint(inputs) == before
    assert os.path.islink(tmp_path / "link.csv") and not (tmp_path / "out.csv").exists()


def test_cutouts_go_only_into_a_folder_astrotune_owns(inputs, tmp_path, capsys):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "obj1.jpg").write_bytes(b"my own picture")
    before = fingerprint(user)
    model, csv = inputs / "model.keras", inputs / "coords.csv"
    with CutoutServer(64) as server:
        status, err = run(capsys, model, csv, "-o", tmp_path / "out.csv", "--cutouts", user,
                          "--skyserver-url", server.url)
        assert status == 1 and server.requests == []
        one_line_error(err, f"{user}: cutouts folder: folder holds files astrotune did not write")
        assert fingerprint(user) == before and not (tmp_path / "out.csv").exists()

        owned = tmp_path / "owned"
        status, err = run(capsys, model, csv, "-o", tmp_path / "out.csv", "--cutouts", owned,
                          "--skyserver-url", server.url)
        assert status == 0, err
        assert (owned / "obj1.jpg").read_bytes() == server.body and len(server.requests) == 2
        # A user's own files in the owned folder, named like the cutout of a new object and like its temp file.
        (owned / "obj3.jpg").write_bytes(b"a user's file")
        (owned / ".obj3.jpg.abcd.part").write_bytes(b"a user's file too")
        (owned / "notes.txt").write_text("mine")
        user_files = fingerprint(owned / "obj3.jpg", owned / ".obj3.jpg.abcd.part", owned / "notes.txt")
        more = tmp_path / "more.csv"
        pd.DataFrame({"id": ["obj1", "obj2", "obj3"], "ra": [150.1, 150.2, 150.3], "dec": [2.1, 2.2, 2.3]}).to_csv(
            more, index=False)
        status, err = run(capsys, model, more, "-o", tmp_path / "out.csv", "--cutouts", owned,
                          "--skyserver-url", server.url)
    assert status == 1
    assert "obj3: failed: obj3.jpg exists and was not written by astrotune" in err
    assert fingerprint(owned / "obj3.jpg", owned / ".obj3.jpg.abcd.part", owned / "notes.txt") == user_files
    table = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(table["status"]) == ["ok", "ok", "failed"] and table.loc[0, "predicted"] in CLASSES
    assert len(server.requests) == 2  # obj1 and obj2 verified by the journal; obj3 is not the tool's to fetch


def test_folder_images_are_confined_like_packing(inputs, tmp_path, capsys):
    """A link out of the folder and a FIFO named like an image are listed failures, never read."""
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(tmp_path / "outside.png")
    (folder / "b.png").symlink_to(tmp_path / "outside.png")
    os.mkfifo(folder / "c.png")
    status, err = run(capsys, inputs / "model.keras", folder, "-o", tmp_path / "out.csv")
    assert status == 1 and "2 of 3 objects not classified" in err
    assert "b.png: failed: resolves to" in err and "outside the input folder" in err
    assert "c.png: failed: not a regular file" in err
    table = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(table["status"]) == ["ok", "failed", "failed"]


def test_the_workflow_downloader_keeps_the_same_rule(tmp_path):
    """download_cutouts' shards refuse a folder of a user's files and never replace one in their own."""
    from astrotune.errors import InputError
    from astrotune.sky.skyserver import CutoutSettings, download_shard

    catalog = pd.DataFrame({"id": ["a", "b"], "ra": [1.0, 2.0], "dec": [0.0, 0.0], "class": ["STAR", "QSO"]})
    images = tmp_path / "images"
    images.mkdir()
    (images / "b.jpg").write_bytes(b"mine")
    with CutoutServer(64) as server:
        settings = CutoutSettings(base_url=server.url, size=64, retries=0)
        with pytest.raises(InputError, match="folder holds files astrotune did not write"):
            download_shard(catalog, tmp_path / "manifest_0.csv", images, settings, 0, 1, max_failed_fraction=1)
        (images / "b.jpg").unlink()
        download_shard(catalog.iloc[:1], tmp_path / "manifest_0.csv", images, settings, 0, 1, max_failed_fraction=0)
        (images / "b.jpg").write_bytes(b"mine")
        manifest = download_shard(catalog, tmp_path / "manifest_0.csv", images, settings, 0, 1,
                                  max_failed_fraction=1)
    assert list(manifest["status"]) == ["ok", "failed"] and (images / "b.jpg").read_bytes() == b"mine"
    assert "exists and was not written by astrotune" in manifest.loc[1, "error"]
