"""Coordinates for ``astrotune predict``: a bounded CSV of ra, dec, and cutouts fetched with the
model's recorded data release, pixel scale and cutout size (``sky.skyserver``)."""

import logging

import numpy as np
import pandas as pd

from astrotune.data.pack import load_image
from astrotune.errors import InputError, raise_problems
from astrotune.evaluation.predict_inputs import Objects, read_batches
from astrotune.sky.catalog import SAFE_ID, parse_angle

log = logging.getLogger(__name__)
BYTES_PER_ROW = 1024  # a coordinate CSV may hold this many bytes per allowed row (plus 1 MiB)
MAX_ANGLE_CHARS = 64


def cutout_settings(path, metadata, skyserver_url, cutout_options=None):
    """The ``CutoutSettings`` the model's training images were fetched with (InputError without them).

    Args:
        cutout_options: further ``CutoutSettings`` fields (retries, timeout_s, concurrency, ...).
    """
    from astrotune.sky.skyserver import CutoutSettings

    release = str(metadata["data_release"]).upper()
    if not (release.startswith("DR") and release[2:].isdigit()) or "" in (metadata["original_size"],
                                                                         metadata["pixel_scale"]):
        raise InputError(path, f"the model was trained on {metadata['source'] or 'unknown'} images without an "
                               f"SDSS data release, pixel scale and cutout size (data_release="
                               f"{metadata['data_release']!r}); it cannot classify coordinates")
    return CutoutSettings(**{"base_url": skyserver_url, "data_release": int(release[2:]),
                             "scale": float(metadata["pixel_scale"]), "size": int(metadata["original_size"]),
                             **(cutout_options or {})})


def coordinate_objects(rows, settings, folder, side, limits):
    """The objects of coordinate rows (from ``read_coordinates``): their cutouts are downloaded into
    ``folder`` and read as packing reads them, resized to ``side``."""
    from astrotune.sky.skyserver import download

    records = pd.DataFrame(download(rows[["id", "ra", "dec"]], folder, settings))
    table = rows.copy()
    table["status"] = records["status"].to_numpy()
    table["error"] = records["error"].fillna("").to_numpy()
    files = records["file"].fillna("").to_numpy()

    def batches(size):
        return read_batches(table, np.flatnonzero(table["status"].to_numpy() == "ok"), size,
                            lambda index: load_image(files[index], side, max_pixels=limits.max_pixels))

    return Objects(table, batches)


def count_rows(path):
    """Lines after the header of a text file, counted in 1 MiB blocks."""
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return max(0, lines + (last != b"\n") - 1)


def read_coordinates(path, max_objects=10_000):
    """Read a CSV with ra, dec (degrees or sexagesimal) and optional id and class; ids default to row numbers.

    Raises:
        InputError: more than ``max_objects`` rows (counted before parsing), a file too large for
            that many rows, a missing column, or bad rows (the first 20 listed, with their count).
    """
    n_rows = count_rows(path)
    if n_rows > max_objects:
        raise InputError(path, f"{n_rows} rows, more than --max-objects={max_objects}; raise --max-objects "
                               "to classify them all")
    size, cap = path.stat().st_size, max_objects * BYTES_PER_ROW + (1 << 20)
    if size > cap:
        raise InputError(path, f"{size} bytes, more than {cap} for --max-objects={max_objects} rows")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, nrows=max_objects)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV of ra, dec ({' '.join(str(err).split())[:200]})") from err
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    missing = [column for column in ("ra", "dec") if column not in frame]
    if missing:
        raise InputError(path, f"missing columns {missing} in header {','.join(frame.columns)[:200]!r}")
    if frame.empty:
        raise InputError(path, "no rows")
    if "id" not in frame:
        frame.insert(0, "id", [f"row{n}" for n in range(1, len(frame) + 1)])
    frame["id"] = frame["id"].str.strip()
    bad, coords = [], []
    for line, row in enumerate(frame.to_dict("records"), start=2):
        problems = [f"{name} is {len(row[name])} characters long, more than {MAX_ANGLE_CHARS}"
                    for name in ("ra", "dec") if len(row[name]) > MAX_ANGLE_CHARS]
        if problems:
            bad.append(f"line {line}: " + "; ".join(problems))
            coords.append((None, None))
            continue
        ra, ra_problem = parse_angle(row["ra"].strip(), "hourangle", 15, 0, 360, "ra", high_inclusive=False)
        dec, dec_problem = parse_angle(row["dec"].strip(), "deg", 1, -90, 90, "dec", high_inclusive=True)
        problems = [p for p in (ra_problem, dec_problem) if p]
        if not SAFE_ID.match(row["id"]):
            problems.append(f"id {row['id'][:80]!r} is not safe as a file name")
        if problems:
            bad.append((f"line {line}: " + "; ".join(problems))[:300])
        coords.append((ra, dec))
    duplicated = sorted(set(frame["id"][frame["id"].duplicated()]))
    if duplicated:
        bad.append(f"column 'id' has {len(duplicated)} duplicated value(s), e.g. {duplicated[:5]}")
    if bad:
        raise_problems(path, bad, what="bad row(s)")
    frame["ra"] = [ra for ra, _ in coords]
    frame["dec"] = [dec for _, dec in coords]
    return frame
