"""Issue 23, item 2: ``astrotune predict`` is bounded by design.

Every case runs the real CLI in a fresh interpreter under an address-space limit and a timeout: huge
coordinate lists, packed files declaring a million images, external and virtual HDF5 datasets, huge
chunks, FIFOs given as inputs, a ``.keras`` archive whose config unpacks to more than its cap, and
an image folder with a decompression bomb.
"""

import os
import struct
import time
import zipfile
import zlib

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytest.importorskip("keras")

from predict_helpers import CLASSES, PROVENANCE, SIDE, one_line_error, run_cli, save_workflow_model  # noqa: E402

TIMEOUT = 60


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("bounds") / "model.keras"
    save_workflow_model(path)
    return path


def refused(args, expected, timeout=TIMEOUT, memory=None):
    start = time.monotonic()
    result = run_cli(["predict", *args], timeout=timeout, **({"memory": memory} if memory else {}))
    assert result.returncode == 1, result.stderr[-3000:]
    one_line_error(result.stderr, expected)
    return result, time.monotonic() - start


def packed_file(path, n, side=SIDE, chunks=None, **images):
    """A packed data set declaring ``n`` images; its data is never written (the fill value is read)."""
    with h5py.File(path, "w") as h5:
        if "external" not in images and "virtual" not in images:
            h5.create_dataset("images", shape=(n, side, side, 3), dtype=np.uint8,
                              chunks=chunks or (1, side, side, 3), compression="gzip")
        elif "external" in images:
            h5.create_dataset("images", shape=(n, side, side, 3), dtype=np.uint8, external=images["external"])
        else:
            layout = h5py.VirtualLayout(shape=(n, side, side, 3), dtype=np.uint8)
            layout[:] = h5py.VirtualSource(images["virtual"], "images", shape=(n, side, side, 3))
            h5.create_virtual_dataset("images", layout)
        h5.create_dataset("labels", shape=(n,), dtype=np.int16, chunks=True, compression="gzip")
        h5.create_dataset("ids", data=np.array([f"o{i}" for i in range(min(n, 4))], dtype=object),
                          dtype=h5py.string_dtype(), maxshape=(None,))
        h5["ids"].resize((n,))
        for name in ("ra", "dec"):
            h5.create_dataset(name, shape=(n,), dtype=np.float64, chunks=True, compression="gzip")
        h5.attrs["class_names"] = np.array(CLASSES, dtype=object)
        for key, value in PROVENANCE.items():
            h5.attrs[key] = value
    return path


def test_a_million_coordinates_are_refused_with_the_count_and_the_flag(model, tmp_path):
    csv = tmp_path / "million.csv"
    csv.write_text("ra,dec\n" + "150.1,2.1\n" * 1_000_000)
    _, seconds = refused([model, csv, "-o", tmp_path / "out.csv"],
                         "1000000 rows, more than --max-objects=10000; raise --max-objects")
    assert seconds < 30 and not (tmp_path / "out.csv").exists()


def test_every_row_bad_gives_a_capped_list(model, tmp_path):
    csv = tmp_path / "bad.csv"
    pd.DataFrame({"ra": ["x" * 60] * 10_000, "dec": "91"}).to_csv(csv, index=False)
    result, _ = refused([model, csv, "-o", tmp_path / "out.csv"], "10000 bad row(s)")
    assert len(result.stderr) < 10_000 and "... and 9980 more" in result.stderr


@pytest.mark.parametrize("case, expected", [
    ("million", "dataset 'labels' holds 1000000 objects, more than --max-objects=10000"),
    ("external", "dataset 'images' reads other files (virtual or external storage)"),
    ("virtual", "dataset 'images' reads other files (virtual or external storage)"),
    ("chunks", "dataset 'images' has chunks (2000, 120, 120, 3) of more than"),
    ("pixels", "dataset 'images' holds 8000x8000 images, more than 40000000 pixels each"),
])
def test_packed_files_are_checked_before_reading(model, tmp_path, case, expected):
    h5 = tmp_path / f"{case}.h5"
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * (4 * SIDE * SIDE * 3))
    if case == "million":
        packed_file(h5, 1_000_000)
    elif case == "external":
        packed_file(h5, 4, external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    elif case == "virtual":
        packed_file(tmp_path / "source.h5", 4)
        packed_file(h5, 4, virtual=str(tmp_path / "source.h5"))
    elif case == "chunks":
        packed_file(h5, 2000, side=120, chunks=(2000, 120, 120, 3))
    else:
        packed_file(h5, 2, side=8000, chunks=(1, 100, 100, 3))
    refused([model, h5, "-o", tmp_path / "out.csv"], f"{h5}: {expected}")


@pytest.mark.parametrize("name", ["pipe.h5", "pipe.csv", "pipe.keras"])
def test_fifos_are_refused_without_being_opened(model, tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    args = [fifo, tmp_path / "in.csv"] if name.endswith(".keras") else [model, fifo]
    refused([*args, "-o", tmp_path / "out.csv"], "not a regular file", timeout=30)


@pytest.mark.parametrize("entry, expected", [
    ("config.json", "config.json: 17"),                       # over the entry's cap
    ("model.weights.h5", "more than 100 times (a zip bomb?)"),  # under the cap, but a bomb
])
def test_a_keras_bomb_is_refused_before_extracting(model, tmp_path, entry, expected):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(model) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == entry == "config.json":
                data = data[:-1] + b" " * (17 << 20) + data[-1:]
            elif info.filename == entry:
                data = bytes(64 << 20)
            target.writestr(info.filename, data)
    assert bomb.stat().st_size < model.stat().st_size + (1 << 20)
    refused([bomb, tmp_path, "-o", tmp_path / "out.csv"], expected, memory=600_000_000)


def png_claiming(path, side):
    """A tiny PNG whose header claims ``side`` x ``side`` pixels."""
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def test_a_decompression_bomb_in_a_folder_is_a_listed_failure(model, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    png_claiming(folder / "bomb.png", 20000)
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(folder / "fine.png")
    result = run_cli(["predict", model, folder, "-o", tmp_path / "out.csv"], timeout=120, memory=4_000_000_000)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "1 of 2 objects not classified" in result.stderr and "bomb.png: failed: image header claims" in result.stderr
    table = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(table["status"]) == ["failed", "ok"]


def test_a_fifo_planted_as_the_cutout_journal_is_refused(model, tmp_path):
    cutouts = tmp_path / "cutouts"
    cutouts.mkdir()
    os.mkfifo(cutouts / ".journal_0.jsonl")
    (tmp_path / "coords.csv").write_text("ra,dec\n150.1,2.1\n")
    refused([model, tmp_path / "coords.csv", "-o", tmp_path / "out.csv", "--cutouts", cutouts],
            "cutouts folder: .journal_0.jsonl is not a regular file", timeout=30)


def test_a_folder_over_max_objects_is_refused_before_any_decoding(model, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(12):
        (folder / f"o{i}.png").write_bytes(b"not decoded")
    refused([model, folder, "-o", tmp_path / "out.csv", "--max-objects", "10"],
            f"{folder}: more than 10 images in the folder, more than --max-objects")
