"""The objects ``astrotune predict`` classifies from a folder of images or a packed data set.

Each input gives ``Objects``: a table with one row per object (``status`` ok until its image fails)
and ``batches(size)``, which yields (row indices, uint8 images) of at most ``size`` images, so no
input is read whole. Images are read as packing reads them: confined to the folder (no symlinks out,
regular files only), header checked against ``max_pixels`` before decoding, grey, palette, RGBA and
16-bit images converted (``data.images``), resized from their original size with the same resampling.
"""

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from astrotune.data.hdf5_checks import MAX_TOTAL_PIXELS, check_images, read_rows
from astrotune.data.images import DEFAULT_MAX_PIXELS, load_resized, open_image
from astrotune.data.store import packed_images
from astrotune.errors import InputError
from astrotune.sky.local_images import confined_bytes

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Limits:
    """Bounds of one prediction run (command-line flags)."""

    batch_size: int = 64
    max_objects: int = 10_000
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_total_pixels: int = MAX_TOTAL_PIXELS
    max_file_bytes: int = 64_000_000


@dataclass
class Objects:
    """The table of objects to classify and a batch reader of their images."""

    table: pd.DataFrame
    batches: Callable


def fail(table, index, reason):
    """Mark row ``index`` of ``table`` as failed with ``reason``."""
    table.loc[index, ["status", "error"]] = ["failed", reason]


def read_batches(table, rows, size, read):
    """Batches ``(row indices, images)`` of ``table``'s ``rows``, ``size`` rows at a time: ``read(index)``
    gives one image; a row whose image cannot be read is marked failed and left out."""
    for start in range(0, len(rows), size):
        indices, images = [], []
        for index in rows[start:start + size]:
            try:
                images.append(read(index))
                indices.append(index)
            except InputError as err:
                fail(table, index, err.message)
        if images:
            yield np.array(indices), np.stack(images)


def folder_objects(folder, metadata, limits):
    """The JPEG/PNG files directly in ``folder`` (sorted by name); at most ``limits.max_objects``."""
    files, ignored, n_ignored = [], [], 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                files.append(entry.name)
            else:
                n_ignored += 1
                ignored += [entry.name][:20 - len(ignored)]
            if len(files) > limits.max_objects:
                raise InputError(folder, f"more than {limits.max_objects} images in the folder, more than "
                                         "--max-objects; raise --max-objects to classify them all")
    if n_ignored:
        log.warning("ignoring %d non-image entries in %s: %s", n_ignored, folder, ", ".join(sorted(ignored)))
    if not files:
        raise InputError(folder, f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
    files.sort()
    table = pd.DataFrame({"id": [Path(name).stem for name in files], "file": files, "status": "ok", "error": ""})
    root = Path(folder).resolve()

    def batches(size):
        return read_batches(table, np.arange(len(files)), size,
                            lambda index: folder_image(Path(folder) / files[index], root, metadata, limits))

    return Objects(table, batches)


def folder_image(path, root, metadata, limits):
    """One image of the folder as packing reads it, resized to the model's input size.

    Its side must be the model's input size or the original size of the training images.
    """
    _, data, reason = confined_bytes(path, [root], limits.max_file_bytes, limit="the file size cap",
                                     roots_name="the input folder")
    if reason:
        raise InputError(path, reason)
    side = metadata["input_size"]
    with open_image(io.BytesIO(data), path, limits.max_pixels) as image:
        width, height = image.size
    allowed = {side} | ({metadata["original_size"]} if metadata["original_size"] != "" else set())
    if width != height or width not in allowed:
        expected = " or ".join(f"{n}x{n}" for n in sorted(allowed))
        raise InputError(path, f"image is {width}x{height}; the model was trained on {expected} images")
    return load_resized(io.BytesIO(data), side, path, limits.max_pixels)


def packed_objects(path, metadata, limits, stack):
    """The objects of a packed data set whose size, class names and provenance match the model's.

    Args:
        stack: a contextlib.ExitStack that keeps the file open while batches are read.
    """
    packed, images = stack.enter_context(packed_images(path, limits.max_pixels, limits.max_objects,
                                                       "--max-objects"))
    check_images(path, images, limits.max_pixels, limits.max_total_pixels)
    side = metadata["input_size"]
    if images.shape[1:3] != (side, side):
        raise InputError(path, f"dataset 'images' are {images.shape[1]}x{images.shape[2]}, the model takes "
                               f"{side}x{side}")
    if packed.class_names != metadata["class_names"]:
        raise InputError(path, f"attribute 'class_names' is {packed.class_names}, the model was trained on "
                               f"{metadata['class_names']}")
    for name in ("data_release", "pixel_scale", "original_size"):
        value, trained = packed.provenance.get(name, ""), metadata[name]
        if value not in ("", None) and trained != "" and str(value) != str(trained) and not _same_number(value, trained):
            raise InputError(path, f"attribute '{name}' is {value!r}, the model was trained on {trained!r}")
    table = pd.DataFrame({"id": packed.ids, "ra": packed.ra, "dec": packed.dec,
                          "class": [packed.class_names[i] for i in packed.labels], "status": "ok", "error": ""})

    def batches(size):
        for start in range(0, len(table), size):
            block = read_rows(path, images, start, start + size)
            yield np.arange(start, start + len(block)), block

    return Objects(table, batches)


def _same_number(a, b):
    try:
        return bool(np.isclose(float(a), float(b)))
    except (TypeError, ValueError):
        return False
