"""Classify new objects with a trained model: a folder of images, a packed data set, or RA/Dec.

The model's saved metadata (:mod:`astrotune.models.metadata`) fixes how inputs are prepared: images
are read and resized exactly as packing does, packed data sets must carry the same class names and
provenance, and cutouts for coordinates are fetched with its data release, pixel scale and size.
Nothing the run did not create is replaced (``predict_paths``), every input is read in batches
within ``Limits`` (``predict_inputs``), and every expected failure is an InputError naming the file
and the field.
"""

import contextlib
import dataclasses
import logging
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from astrotune.errors import InputError, raise_problems
from astrotune.evaluation.predict_coordinates import coordinate_objects, cutout_settings, read_coordinates
from astrotune.evaluation.predict_inputs import Limits, folder_objects, packed_objects
from astrotune.evaluation.predict_paths import check_input, check_output, check_url, cutouts_folder
from astrotune.io import atomic_path
from astrotune.models.metadata import check_against_model, read_metadata

log = logging.getLogger(__name__)

HDF5_SUFFIXES = {".h5", ".hdf5"}
SKYSERVER_URL = "https://skyserver.sdss.org"
MAX_BATCH_BYTES = 1 << 30  # one batch of resized images, at most


def predict(model_path, input_path, output_path, batch_size=64, skyserver_url=SKYSERVER_URL, cutouts_dir=None,
            *, max_objects=10_000, max_failed_fraction=0.0, limits=None, cutout_options=None):
    """Write a CSV of class probabilities and the predicted class for every object of ``input_path``.

    Args:
        model_path: a ``.keras`` model saved by the workflow (with astrotune metadata).
        input_path: a folder of JPEG/PNG images, a packed ``.h5`` data set, or a ``.csv`` with columns
            ra, dec (degrees or sexagesimal) and optionally id and class.
        output_path: CSV to write (atomically); new, or a regular file that is none of the inputs.
        batch_size: images per prediction batch (and per read).
        skyserver_url: SkyServer base URL for coordinate inputs.
        cutouts_dir: where cutouts of coordinate inputs are kept (default: ``<output>_cutouts``).
        max_objects: most objects: rows of a coordinate CSV, images of a folder or of a packed data set.
        max_failed_fraction: largest fraction of objects that may stay unclassified.
        limits: further bounds (``predict_inputs.Limits``); batch_size and max_objects override its own.
        cutout_options: further ``CutoutSettings`` fields for coordinate inputs (retries, timeout_s, ...).

    Returns:
        The written table: the input's identifying columns, ``status``, ``error``, ``p_<class>`` per
        class and ``predicted`` (empty for objects that could not be classified).

    Raises:
        InputError: a bad option, model or input, or more than ``max_failed_fraction`` of the objects
            unclassified (after the CSV listing them is written).
    """
    limits = check_options(limits or Limits(), batch_size, max_objects, max_failed_fraction)
    metadata = read_metadata(model_path)
    input_path = check_input(input_path, "input")
    kind = input_kind(input_path)
    folders = [cutouts_folder(output_path, cutouts_dir, [model_path, input_path])] if kind == "csv" else []
    output_path = check_output(output_path, [model_path, input_path], folders)
    side = metadata["input_size"]
    if limits.batch_size * side * side * 3 > MAX_BATCH_BYTES:
        raise InputError("--batch-size", f"{limits.batch_size} images of {side}x{side} exceed {MAX_BATCH_BYTES} "
                                         "bytes; lower --batch-size")
    with contextlib.ExitStack() as stack:
        if kind == "folder":
            objects = folder_objects(input_path, metadata, limits)
        elif kind == "h5":
            objects = packed_objects(input_path, metadata, limits, stack)
        else:
            settings = cutout_settings(input_path, metadata, check_url(skyserver_url), cutout_options)
            rows = read_coordinates(input_path, limits.max_objects)
        model = load_checked_model(model_path, metadata)  # after the cheap checks, before any download
        if kind == "csv":
            objects = coordinate_objects(rows, settings, folders[0], side, limits)
        probabilities = run_model(model, objects, limits.batch_size, len(metadata["class_names"]))
    result = prediction_table(objects.table, probabilities, metadata["class_names"])
    write_table(result, output_path)
    check_failures(result, input_path, output_path, max_failed_fraction)
    return result


def check_options(limits, batch_size, max_objects, max_failed_fraction):
    """``limits`` with the given batch size and object cap, after checking the options' ranges."""
    for flag, value in (("--batch-size", batch_size), ("--max-objects", max_objects)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(flag, f"{value!r} must be a whole number of at least 1")
    if not isinstance(max_failed_fraction, (int, float)) or not 0 <= max_failed_fraction <= 1:
        raise InputError("--max-failed-fraction", f"{max_failed_fraction!r} must be a number in 0..1")
    return dataclasses.replace(limits, batch_size=batch_size, max_objects=max_objects)


def input_kind(path):
    """``folder``, ``h5`` or ``csv``; InputError for anything else."""
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in HDF5_SUFFIXES:
        return "h5"
    if path.suffix.lower() == ".csv":
        return "csv"
    raise InputError(path, "input must be a folder of images, a packed .h5 data set or a .csv of ra, dec")


def load_checked_model(path, metadata):
    """Load the model in Keras safe mode and check it against its metadata; failures name the file."""
    from astrotune.models.zoo import load_model

    with warnings.catch_warnings(record=True) as caught:  # Keras warns object by object before it fails
        warnings.simplefilter("always")
        try:
            model = load_model(path)
        except Exception as err:  # noqa: BLE001 (Keras raises many types for a bad archive, layer or weights)
            reason = " ".join(str(err).split())[:300]
            raise InputError(path, f"model cannot be loaded by Keras in safe mode ({type(err).__name__}: "
                                   f"{reason})") from err
    for warning in caught[:5]:
        log.warning("%s: %s", path, str(warning.message)[:300])
    check_against_model(path, metadata, model)
    return model


def run_model(model, objects, batch_size, n_classes):
    """Class probabilities (N, n_classes) of the objects' batches; rows never predicted stay NaN."""
    probabilities = np.full((len(objects.table), n_classes), np.nan)
    with tqdm(total=len(objects.table), desc="predict", unit="img") as progress:
        for indices, images in objects.batches(batch_size):
            probabilities[indices] = np.asarray(model.predict_on_batch(images))
            progress.update(len(indices))
    return probabilities


def prediction_table(table, probabilities, class_names):
    """``table`` plus ``p_<class>`` columns and ``predicted``, filled for the rows whose status is ok."""
    table = table.reset_index(drop=True).copy()
    ok = (table["status"] == "ok").to_numpy()
    if np.isnan(probabilities[ok]).any():
        raise ValueError("an object with status ok has no prediction")
    for index, name in enumerate(class_names):
        table[f"p_{name}"] = np.where(ok, probabilities[:, index], np.nan)
    predicted = np.full(len(table), "", dtype=object)
    predicted[ok] = [class_names[i] for i in np.argmax(probabilities[ok], axis=1)]
    table["predicted"] = predicted
    return table


def write_table(table, output_path):
    """Write the CSV atomically; a write failure names the file."""
    try:
        with atomic_path(output_path) as tmp:
            table.to_csv(tmp, index=False)
    except OSError as err:
        raise InputError(output_path, f"-o: cannot write ({err.strerror or err})") from err
    log.info("wrote %d predictions to %s", len(table), output_path)


def check_failures(table, input_path, output_path, max_failed_fraction):
    """Raise InputError listing the unclassified objects when they exceed ``max_failed_fraction``."""
    failed = table[table["status"] != "ok"]
    if len(failed) and len(failed) / len(table) > max_failed_fraction:
        name = "file" if "file" in table else "id"
        raise_problems(input_path, [f"{getattr(row, name)}: {row.status}: {row.error}" for row in failed.itertuples()],
                       what=f"of {len(table)} objects not classified, more than --max-failed-fraction="
                            f"{max_failed_fraction:g} (all listed in {Path(output_path)})")
