"""Pack cutout manifests into one HDF5 data set: resize, label, record what was skipped."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from astrotune.data.store import PackedDataset
from astrotune.errors import InputError
from astrotune.io import sha256_file
from astrotune.sky.manifest import read_manifest

log = logging.getLogger(__name__)
SKIPPED_COLUMNS = ["id", "class", "status", "error", "manifest"]


def load_manifests(paths):
    """Concatenate manifests, checking that ids are unique across them."""
    frames = []
    for path in paths:
        frame = read_manifest(path)
        frame["manifest"] = str(path)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    duplicated = rows[rows["id"].duplicated(keep=False)]
    if len(duplicated):
        first = duplicated.iloc[0]
        raise InputError(first["manifest"], f"column 'id': {first['id']!r} appears in more than one manifest")
    return rows


def load_image(path, size, expected_sha256=None, source=None):
    """Read an image as RGB uint8 resized to ``size`` x ``size``, checking its sha256 when given."""
    source = source or path
    if not Path(path).is_file():
        raise InputError(source, f"column 'path': image {path} does not exist")
    if isinstance(expected_sha256, str) and expected_sha256 and sha256_file(path) != expected_sha256:
        raise InputError(source, f"column 'sha256': image {path} does not match its recorded checksum")
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise InputError(source, f"column 'path': {path} is not a readable image ({err})") from err


def pack(manifest_paths, classes, image_size, max_failed_fraction, provenance=None):
    """Build the packed data set from manifests.

    Objects whose status is not ``ok`` are excluded by name and returned as ``skipped``; more than
    ``max_failed_fraction`` of them is an error listing them. Rows are sorted by id, so the result
    does not depend on shard order.

    Returns:
        (PackedDataset, skipped DataFrame with columns id, class, status, error, manifest)
    """
    rows = load_manifests(manifest_paths).sort_values("id", kind="stable").reset_index(drop=True)
    unknown = rows[~rows["class"].isin(classes)]
    if len(unknown):
        first = unknown.iloc[0]
        raise InputError(first["manifest"], f"column 'class': {first['class']!r} of object {first['id']!r} "
                                            f"is not one of the configured classes {list(classes)}")
    skipped = rows[rows["status"] != "ok"][SKIPPED_COLUMNS].reset_index(drop=True)
    kept = rows[rows["status"] == "ok"].reset_index(drop=True)
    if len(rows) and len(skipped) / len(rows) > max_failed_fraction:
        listing = ", ".join(f"{r.id} ({r.status}: {r.error})" for r in skipped.itertuples())
        raise InputError(", ".join(map(str, manifest_paths)),
                         f"{len(skipped)} of {len(rows)} objects failed or were blank, more than "
                         f"dataset.max_failed_fraction={max_failed_fraction}: {listing}")
    if kept.empty:
        raise InputError(", ".join(map(str, manifest_paths)), "no object with status 'ok' to pack")
    images = np.stack([load_image(r.path, image_size, r.sha256, r.manifest) for r in kept.itertuples()])
    log.info("packed %d objects, skipped %d", len(kept), len(skipped))
    dataset = PackedDataset(
        images=images,
        labels=np.array([classes.index(c) for c in kept["class"]]),
        ids=kept["id"].to_numpy(dtype=object),
        ra=pd.to_numeric(kept["ra"], errors="coerce").to_numpy(dtype=float),
        dec=pd.to_numeric(kept["dec"], errors="coerce").to_numpy(dtype=float),
        class_names=list(classes),
        provenance={**(provenance or {}), "n_skipped": len(skipped)},
    )
    return dataset, skipped
