"""Issue 11, path confinement: a local image list or folder cannot make the workflow read outside its roots.

Every case runs the real index_local_images script entry point under a memory limit and a timeout,
with a marker file planted outside the image folder.
"""

import os
import struct
import zlib

import numpy as np
import pandas as pd
from PIL import Image

from astrotune.data.manifest import read_manifest

from hostile import MARKER, assert_clean_failure, assert_no_marker, plant_marker, run_script

CLASSES = ["GALAXY", "STAR", "QSO"]


def write_png(path, value=100, size=16):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def png_claiming(path, side):
    """A tiny PNG whose header claims ``side`` x ``side`` pixels (its data is far too short)."""
    write_png(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", side, side)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[ihdr - 4:ihdr + 13])))
    path.write_bytes(bytes(data))
    return path


def index(tmp_path, params, source):
    output = tmp_path / "resources" / "manifest.csv"
    log = tmp_path / "logs" / "index_local_images.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    base = {"folder": None, "from_manifest": False, "classes": CLASSES, "id_column": "id", "allowed_roots": [],
            "max_file_mb": 1, "max_pixels": 4_000_000}
    result = run_script("index_local_images", input={"source": str(source)}, output=[str(output)],
                        params={**base, **params}, log=log, timeout=30)
    return result, output, log


def test_manifest_entries_leaving_the_folder_are_rejected_with_reasons(tmp_path):
    images = tmp_path / "images"
    marker = plant_marker(tmp_path / "outside")
    for i, name in enumerate(CLASSES):
        write_png(images / f"ok_{name}.png", 10 * i)
    os.mkfifo(images / "pipe.jpg")
    (images / "escape.jpg").symlink_to(marker)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(
        images / "big.png")
    png_claiming(images / "claims_huge.png", 12000)
    rows = [("ok_GALAXY.png", "GALAXY"), ("ok_STAR.png", "STAR"), ("ok_QSO.png", "QSO"),
            (str(marker), "GALAXY"),                       # absolute path outside
            ("../outside/secret.jpg", "STAR"),             # ../ path
            ("escape.jpg", "QSO"),                         # symlink leaving the folder
            ("/dev/zero", "GALAXY"),                       # a device: would exhaust memory
            ("pipe.jpg", "STAR"),                          # a FIFO: would hang
            ("big.png", "QSO"),                            # over local_images.max_file_mb
            ("claims_huge.png", "GALAXY")]                 # over dataset.max_pixels, by its header
    pd.DataFrame(rows, columns=["path", "class"]).assign(id=[f"o{i}" for i in range(len(rows))]).to_csv(
        images / "list.csv", index=False)

    result, output, log = index(tmp_path, {"folder": str(images), "from_manifest": True}, images / "list.csv")

    assert_clean_failure(result, "7 rejected image entries or problems", outputs=[output], log=log,
                         searched=[tmp_path / "resources", tmp_path / "logs"])
    console = result.stderr
    for line, reason in [(5, "outside the image folder and local_images.allowed_roots"),
                         (6, "outside the image folder"), (7, "outside the image folder"),
                         (8, "outside the image folder"),
                         (9, "not a regular file"), (10, "more than local_images.max_file_mb"),
                         (11, "12000x12000 = 144000000 pixels, more than dataset.max_pixels=4000000")]:
        assert f"line {line} " in console and reason in console, (line, reason)
    assert (tmp_path / "logs" / "index_local_images.rejected.txt").read_text().count("\n") == 7


def test_allowed_roots_admit_outside_folders_and_nothing_else(tmp_path):
    images, shared = tmp_path / "images", tmp_path / "shared"
    for i, name in enumerate(CLASSES):
        write_png(shared / name / f"s{i}.png", 20 * i)
        (images / name).mkdir(parents=True, exist_ok=True)
        (images / name / f"s{i}.png").symlink_to(shared / name / f"s{i}.png")
    plant_marker(tmp_path / "elsewhere")
    (images / "GALAXY" / "leak.png").symlink_to(tmp_path / "elsewhere" / "secret.jpg")

    result, output, log = index(tmp_path, {"folder": str(images), "allowed_roots": [str(shared)]}, images)
    assert_clean_failure(result, "GALAXY/leak.png: rejected: resolves to", outputs=[output], log=log,
                         searched=[tmp_path / "resources", tmp_path / "logs"])

    (images / "GALAXY" / "leak.png").unlink()
    (images / "GALAXY").rename(tmp_path / "GALAXY")
    (images / "GALAXY").symlink_to(tmp_path / "GALAXY")  # a class subfolder leaving the folder: not listed
    result, output, log = index(tmp_path, {"folder": str(images), "allowed_roots": [str(shared)]}, images)
    assert_clean_failure(result, "subfolder 'GALAXY' rejected: resolves to", outputs=[output], log=log)
    (images / "GALAXY").unlink()
    (tmp_path / "GALAXY").rename(images / "GALAXY")
    result, output, log = index(tmp_path, {"folder": str(images), "allowed_roots": [str(shared)]}, images)
    assert result.returncode == 0, result.stderr
    assert sorted(read_manifest(output)["id"]) == ["s0", "s1", "s2"]
    assert_no_marker([tmp_path / "resources"])
    assert MARKER not in result.stderr
