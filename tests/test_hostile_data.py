"""Issue 11, silent corruption and tracebacks from data files: every bad file ends in one clear line.

Each kind of damage is checked in process (the code the scripts call); one case per script runs the
real entry point (pack_galaxy10, split_dataset, pack_dataset) under a memory limit and a timeout.
"""

import re
import shutil
import struct
import zlib

import h5py
import numpy as np
import pytest
from PIL import Image

from astrotune.data.manifest import write_manifest
from astrotune.data.store import PackedDataset, read_dataset, write_dataset
from astrotune.errors import InputError
from astrotune.io import sha256_file
from astrotune.sky.galaxy10 import VARIANTS, pack_galaxy10

from hostile import assert_clean_failure, run_script

DECALS = list(VARIANTS["decals"].class_names)
CLASSES = ["GALAXY", "STAR", "QSO"]


def galaxy10_file(path, change=None, n=20, side=16):
    """A small Galaxy10 DECaLS-layout file; ``change(h5, labels)`` damages it (returns True if it wrote 'ans')."""
    labels = np.arange(n, dtype=np.uint8) % 10
    with h5py.File(path, "w") as h5:
        if side > 16:  # only claimed: chunks that are never written take no space
            h5.create_dataset("images", shape=(n, side, side, 3), dtype=np.uint8, chunks=(1, side, side, 3))
        else:
            h5.create_dataset("images", data=np.full((n, side, side, 3), 7, np.uint8), chunks=(1, side, side, 3),
                              compression="gzip")
        if change is None or not change(h5, labels):
            h5.create_dataset("ans", data=labels)
    return path


def corrupt_first_chunk(path):
    """Overwrite the compressed bytes of the first image chunk."""
    with h5py.File(path, "r") as h5:
        info = h5["images"].id.get_chunk_info(0)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset)
        handle.write(b"\x00garbage" * (info.size // 8))


GALAXY10_CASES = {
    "float labels": (lambda h5, y: h5.create_dataset("ans", data=y.astype(float)), "dataset 'ans' must hold integer"),
    "nan labels": (lambda h5, y: h5.create_dataset("ans", data=np.where(y == 3, np.nan, y)),
                   "dataset 'ans' must hold integer"),
    "string labels": (lambda h5, y: h5.create_dataset("ans", data=np.array([b"spiral"] * len(y))),
                      "dataset 'ans' must hold integer"),
    "ragged labels": (lambda h5, y: h5.create_dataset("ans", data=np.array([np.arange(i % 3) for i in range(len(y))],
                                                                          dtype=object),
                                                      dtype=h5py.vlen_dtype(np.int64)),
                      "dataset 'ans' must hold integer"),
    "column labels": (lambda h5, y: h5.create_dataset("ans", data=y[:, None]), "dataset 'ans' has shape (20, 1)"),
    "labels group": (lambda h5, y: h5.create_group("ans"), "'ans' is a group, expected a dataset"),
    "huge images": (None, "dataset 'images' holds 2000x2000 images, more than dataset.max_pixels=1000000"),
    "corrupt chunk": (None, "damaged HDF5 file, cannot read its data"),
}


@pytest.mark.parametrize("case", GALAXY10_CASES)
def test_damaged_galaxy10_files_fail_cleanly(tmp_path, case):
    change, expected = GALAXY10_CASES[case]
    source = galaxy10_file(tmp_path / "Galaxy10_DECals.h5", change, side=2000 if case == "huge images" else 16)
    output = tmp_path / "results" / "dataset.h5"
    if case != "corrupt chunk":  # in process: the same code the script calls
        with pytest.raises(InputError, match=re.escape(f"{source}: {expected}")):
            pack_galaxy10(source, output, variant="decals", classes=DECALS, image_size=32, max_pixels=1_000_000)
        assert not output.exists() and not list(tmp_path.glob("results/*"))
        return
    corrupt_first_chunk(source)
    log = tmp_path / "logs" / "pack_galaxy10.log"
    log.parent.mkdir()
    result = run_script("pack_galaxy10", input=[str(source)], output=[str(output)], log=log,
                        params={"variant": "decals", "classes": DECALS, "image_size": 32, "n_per_class": None,
                                "seed": 0, "sha256": "", "config_hash": "", "max_pixels": 1_000_000})
    assert_clean_failure(result, f"{source}: {expected}", outputs=[output], log=log)
    assert not list((tmp_path / "results").glob("*"))


def packed_file(path, **changes):
    """A valid packed data set written by the project, then rewritten with ``changes`` (name -> data)."""
    n = 12
    write_dataset(path, PackedDataset(images=np.zeros((n, 8, 8, 3), np.uint8), labels=np.arange(n) % 3,
                                      ids=np.array([f"o{i:02d}" for i in range(n)], dtype=object),
                                      ra=np.zeros(n), dec=np.zeros(n), class_names=CLASSES))
    with h5py.File(path, "a") as h5:
        for name, data in changes.items():
            del h5[name]
            if isinstance(data, str):
                h5.create_group(name)
            else:
                h5.create_dataset(name, data=data)
    return path


PACKED_CASES = {
    "nan labels": ({"labels": np.where(np.arange(12) == 4, np.nan, np.arange(12) % 3)}, "must hold integer"),
    "float labels": ({"labels": (np.arange(12) % 3) + 0.5}, "must hold integer"),
    "column labels": ({"labels": (np.arange(12) % 3)[:, None]}, "dataset 'labels' has shape (12, 1)"),
    "duplicate ids": ({"ids": np.array([b"o00"] * 2 + [f"o{i:02d}".encode() for i in range(2, 12)])},
                      "dataset 'ids' repeats 1 id(s), e.g. 'o00'"),
    "images group": ({"images": "group"}, "'images' is a group, expected a dataset"),
}


@pytest.mark.parametrize("case", PACKED_CASES)
def test_damaged_packed_files_fail_cleanly(tmp_path, case):
    changes, expected = PACKED_CASES[case]
    dataset = packed_file(tmp_path / "dataset.h5", **changes)
    with pytest.raises(InputError, match=re.escape(f"{dataset}: ") + ".*" + re.escape(expected)):
        read_dataset(dataset, with_images=False)


def test_split_script_fails_cleanly_on_a_damaged_packed_file(tmp_path):
    dataset = packed_file(tmp_path / "dataset.h5", **PACKED_CASES["duplicate ids"][0])
    output, log = tmp_path / "split.csv", tmp_path / "split_dataset.log"
    result = run_script("split_dataset", input={"dataset": str(dataset)}, output={"split": str(output)}, log=log,
                        params={"val_fraction": 0.25, "test_fraction": 0.0, "seed": 0})
    assert_clean_failure(result, f"{dataset}: {PACKED_CASES['duplicate ids'][1]}", outputs=[output], log=log)


def test_corrupt_image_chunk_of_a_packed_file_is_one_clear_error(tmp_path):
    dataset = packed_file(tmp_path / "dataset.h5")
    corrupt_first_chunk(dataset)
    with pytest.raises(InputError, match="damaged HDF5 file, cannot read its data"):
        read_dataset(dataset)


def png16(path, values):
    """A 16-bit greyscale PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint16)).save(path)
    return path


def png_claiming(path, side):
    """A tiny PNG whose header claims ``side`` x ``side`` pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def pack_images(tmp_path, files, image_size=8):
    rows = [{"id": f"o{i}", "ra": 0.0, "dec": 0.0, "class": CLASSES[i % 3], "status": "ok",
             "path": str(path.relative_to(tmp_path)), "sha256": sha256_file(path)} for i, path in enumerate(files)]
    write_manifest(rows, tmp_path / "manifest.csv")
    outputs = {"dataset": str(tmp_path / "results" / "dataset.h5"), "skipped": str(tmp_path / "results" / "skipped.csv")}
    log = tmp_path / "pack_dataset.log"
    result = run_script("pack_dataset", input={"manifests": [str(tmp_path / "manifest.csv")]}, output=outputs,
                        log=log, threads=2,
                        params={"classes": CLASSES, "image_size": image_size, "max_failed_fraction": 0.0,
                                "provenance": {"source": "local_images"}, "max_pixels": 1_000_000})
    return result, list(outputs.values()), log


def test_sixteen_bit_images_are_scaled_not_clipped_and_huge_ones_rejected_by_name(tmp_path):
    ramp = np.linspace(0, 65535, 64).reshape(8, 8)
    files = [png16(tmp_path / "images" / f"deep{i}.png", ramp) for i in range(3)]
    result, outputs, log = pack_images(tmp_path, files)
    assert result.returncode == 0, result.stderr
    packed = read_dataset(outputs[0])
    assert packed.images[0, :, :, 0].tolist() == np.round(ramp / 257).astype(np.uint8).tolist()
    assert packed.images.max() == 255 and len(np.unique(packed.images)) == 64  # clipping left 2 values

    shutil.rmtree(tmp_path / "results")
    huge = png_claiming(tmp_path / "images" / "huge.png", 12000)
    result, outputs, log = pack_images(tmp_path, files[:2] + [huge])
    assert_clean_failure(result, "huge.png: image is 12000x12000 = 144000000 pixels, more than "
                                 "dataset.max_pixels=1000000", outputs=outputs, log=log)
