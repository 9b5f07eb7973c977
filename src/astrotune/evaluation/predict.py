"""Classify new objects with a trained model: a folder of images, a packed data set, or RA/Dec.

The model's saved metadata (:mod:`astrotune.models.metadata`) fixes how inputs are prepared: images
are resized to its input size exactly as packing does, packed data sets must carry the same
provenance, and cutouts for coordinates are fetched with its data release, pixel scale and size.
"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from astrotune.data.pack import load_image
from astrotune.errors import InputError
from astrotune.io import atomic_path
from astrotune.models.metadata import read_metadata
from astrotune.sky.catalog import SAFE_ID, parse_angle

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
HDF5_SUFFIXES = {".h5", ".hdf5"}
SKYSERVER_URL = "https://skyserver.sdss.org"


def predict(model_path, input_path, output_path, batch_size=64, skyserver_url=SKYSERVER_URL, cutouts_dir=None):
    """Write a CSV of class probabilities and the predicted class for every object of ``input_path``.

    Args:
        model_path: a ``.keras`` model saved by the workflow (with astrotune metadata).
        input_path: a folder of JPEG/PNG images, a packed ``.h5`` data set, or a ``.csv`` with columns
            ra, dec (degrees or sexagesimal) and optionally id and class.
        output_path: CSV to write (atomically).
        batch_size: images per prediction batch.
        skyserver_url: SkyServer base URL for coordinate inputs.
        cutouts_dir: where cutouts of coordinate inputs are kept (default: ``<output>_cutouts``).

    Returns:
        The written table: the input's identifying columns, ``status``, ``p_<class>`` per class and
        ``predicted`` (empty for objects whose cutout failed or was blank).
    """
    metadata = read_metadata(model_path)
    input_path = Path(input_path)
    if not input_path.exists():
        raise InputError(input_path, "input does not exist")
    if input_path.is_dir():
        table, images = folder_objects(input_path, metadata)
    elif input_path.suffix.lower() in HDF5_SUFFIXES:
        table, images = packed_objects(input_path, metadata)
    elif input_path.suffix.lower() == ".csv":
        folder = Path(cutouts_dir) if cutouts_dir else Path(output_path).with_name(Path(output_path).stem + "_cutouts")
        table, images = coordinate_objects(input_path, metadata, folder, skyserver_url)
    else:
        raise InputError(input_path, "input must be a folder of images, a packed .h5 data set or a .csv of ra, dec")
    from astrotune.models.zoo import load_model

    model = load_model(model_path)
    probabilities = predict_probabilities(model, images, batch_size)
    result = prediction_table(table, probabilities, metadata["class_names"])
    with atomic_path(output_path) as tmp:
        result.to_csv(tmp, index=False)
    log.info("wrote %d predictions to %s", len(result), output_path)
    return result


def predict_probabilities(model, images, batch_size=64):
    """Class probabilities of ``images`` (N, H, W, 3) uint8, batch by batch with a progress bar."""
    n_classes = model.output_shape[-1]
    batches = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
    outputs = []
    with tqdm(total=len(images), desc="predict", unit="img") as progress:
        for batch in batches:
            outputs.append(np.asarray(model.predict_on_batch(batch)))
            progress.update(len(batch))
    return np.concatenate(outputs) if outputs else np.zeros((0, n_classes), dtype=np.float32)


def prediction_table(table, probabilities, class_names):
    """``table`` plus ``p_<class>`` columns and ``predicted``, filled for the rows whose status is ok."""
    table = table.reset_index(drop=True).copy()
    ok = (table["status"] == "ok").to_numpy()
    if ok.sum() != len(probabilities):
        raise ValueError(f"{len(probabilities)} predictions for {ok.sum()} usable objects")
    for index, name in enumerate(class_names):
        column = np.full(len(table), np.nan)
        column[ok] = probabilities[:, index]
        table[f"p_{name}"] = column
    predicted = np.full(len(table), "", dtype=object)
    predicted[ok] = [class_names[i] for i in np.argmax(probabilities, axis=1)]
    table["predicted"] = predicted
    return table


def folder_objects(folder, metadata):
    """Ids and images of the JPEG/PNG files in ``folder`` (sorted by name); other files are listed."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    ignored = sorted(p.name for p in folder.iterdir() if p.suffix.lower() not in IMAGE_SUFFIXES)
    if ignored:
        log.warning("ignoring %d non-image entries in %s: %s", len(ignored), folder, ", ".join(ignored))
    if not files:
        raise InputError(folder, f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
    images = np.stack([folder_image(path, metadata) for path in files])
    table = pd.DataFrame({"id": [p.stem for p in files], "file": [p.name for p in files], "status": "ok"})
    return table, images


def folder_image(path, metadata):
    """One RGB image of the size the model was trained on (its input size or its original cutout size)."""
    try:
        with Image.open(path) as image:
            mode, size = image.mode, image.size
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(path, f"not a readable image ({err})") from err
    if mode != "RGB":
        raise InputError(path, f"image mode is {mode}; the model was trained on RGB images")
    side = metadata["input_size"]
    allowed = {side} | ({int(metadata["original_size"])} if metadata["original_size"] != "" else set())
    if size[0] != size[1] or size[0] not in allowed:
        expected = " or ".join(f"{n}x{n}" for n in sorted(allowed))
        raise InputError(path, f"image is {size[0]}x{size[1]}; the model was trained on {expected} images")
    return load_image(path, side)


def packed_objects(path, metadata):
    """Ids and images of a packed data set whose provenance matches the model's training data."""
    from astrotune.data.store import read_dataset

    dataset = read_dataset(path)
    side = dataset.images.shape[1]
    if dataset.images.shape[1:3] != (metadata["input_size"], metadata["input_size"]):
        raise InputError(path, f"dataset 'images' are {side}x{dataset.images.shape[2]}, the model takes "
                               f"{metadata['input_size']}x{metadata['input_size']}")
    for name in ("data_release", "pixel_scale", "original_size"):
        packed, trained = dataset.provenance.get(name, ""), metadata[name]
        if packed not in ("", None) and trained != "" and str(packed) != str(trained) \
                and not _same_number(packed, trained):
            raise InputError(path, f"attribute '{name}' is {packed!r}, the model was trained on {trained!r}")
    table = pd.DataFrame({"id": dataset.ids, "ra": dataset.ra, "dec": dataset.dec,
                          "class": [dataset.class_names[i] for i in dataset.labels], "status": "ok"})
    return table, dataset.images


def coordinate_objects(path, metadata, folder, skyserver_url):
    """Rows and images of a CSV of coordinates; cutouts fetched with the model's recorded settings."""
    from astrotune.sky.skyserver import CutoutSettings

    rows = read_coordinates(path)
    release = str(metadata["data_release"]).upper()
    sdss = release.startswith("DR") and release[2:].isdigit()
    if not sdss or "" in (metadata["original_size"], metadata["pixel_scale"]):
        raise InputError(path, f"the model was trained on {metadata['source'] or 'unknown'} images without an "
                               f"SDSS data release, pixel scale and cutout size (data_release="
                               f"{metadata['data_release']!r}); it cannot classify coordinates")
    settings = CutoutSettings(base_url=skyserver_url, data_release=int(release[2:]),
                              scale=float(metadata["pixel_scale"]), size=int(metadata["original_size"]))
    records = pd.DataFrame(fetch_cutouts(rows, folder, settings))
    table = rows.copy()
    table["status"] = records["status"].to_numpy()
    table["error"] = records["error"].fillna("").to_numpy()
    not_ok = table[table["status"] != "ok"]
    if len(not_ok):
        log.warning("no prediction for %d objects: %s", len(not_ok),
                    "; ".join(f"{r.id} ({r.status} {r.error})".strip() for r in not_ok.itertuples()))
    usable = records[records["status"] == "ok"]
    images = [load_image(file, metadata["input_size"]) for file in usable["file"]]
    side = metadata["input_size"]
    return table, np.stack(images) if images else np.zeros((0, side, side, 3), dtype=np.uint8)


def fetch_cutouts(rows, folder, settings):
    """Download the cutouts of ``rows`` (id, ra, dec) with the project's SkyServer client.

    Returns:
        One record per row in row order with at least ``status`` (ok, blank, failed), ``error`` and
        ``file``.
    """
    from astrotune.sky.skyserver import download

    return download(rows[["id", "ra", "dec"]], folder, settings)


def read_coordinates(path):
    """Read a CSV with ra, dec (degrees or sexagesimal) and optional id and class; ids default to row numbers."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV of ra, dec ({err})") from err
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    missing = [column for column in ("ra", "dec") if column not in frame]
    if missing:
        raise InputError(path, f"missing columns {missing} in header {','.join(frame.columns)!r}")
    if frame.empty:
        raise InputError(path, "no rows")
    if "id" not in frame:
        frame.insert(0, "id", [f"row{n}" for n in range(1, len(frame) + 1)])
    frame["id"] = frame["id"].str.strip()
    bad, coords = [], []
    for line, row in enumerate(frame.to_dict("records"), start=2):
        ra, ra_problem = parse_angle(row["ra"].strip(), "hourangle", 15, 0, 360, "ra", high_inclusive=False)
        dec, dec_problem = parse_angle(row["dec"].strip(), "deg", 1, -90, 90, "dec", high_inclusive=True)
        problems = [p for p in (ra_problem, dec_problem) if p]
        if not SAFE_ID.match(row["id"]):
            problems.append(f"id {row['id']!r} is not safe as a file name")
        if problems:
            bad.append(f"line {line}: " + "; ".join(problems))
        coords.append((ra, dec))
    duplicated = sorted(set(frame["id"][frame["id"].duplicated()]))
    if duplicated:
        bad.append(f"column 'id' has duplicates {duplicated[:10]}")
    if bad:
        raise InputError(path, f"{len(bad)} bad row(s): " + " | ".join(bad))
    frame["ra"] = [ra for ra, _ in coords]
    frame["dec"] = [dec for _, dec in coords]
    return frame


def _same_number(a, b):
    try:
        return np.isclose(float(a), float(b))
    except (TypeError, ValueError):
        return False
