"""Pack cutout manifests into one HDF5 data set: resize, label, record what was skipped.

Images are decoded and resized by ``threads`` workers (Pillow releases the GIL while it decodes
and resizes) and streamed into the HDF5 file in manifest order, at most a few per worker in flight,
so a data set never has to fit in memory.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from astrotune.data.images import DEFAULT_MAX_PIXELS, load_resized, open_image
from astrotune.data.manifest import read_manifest
from astrotune.data.store import dataset_writer
from astrotune.errors import InputError
from astrotune.io import atomic_path, sha256_file

log = logging.getLogger(__name__)
SKIPPED_COLUMNS = ["id", "class", "status", "error", "manifest"]
IN_FLIGHT_PER_THREAD = 4


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


def load_image(path, size, expected_sha256=None, source=None, max_pixels=DEFAULT_MAX_PIXELS, draft=True):
    """Read an image as RGB uint8 resized to ``size`` x ``size``, checking its sha256 when given."""
    source = source or path
    if not Path(path).is_file():
        raise InputError(source, f"column 'path': image {path} does not exist or is not a regular file")
    if isinstance(expected_sha256, str) and expected_sha256 and sha256_file(path) != expected_sha256:
        raise InputError(source, f"column 'sha256': image {path} does not match its recorded checksum")
    return load_resized(path, size, f"{source}: image {path}", max_pixels, draft)


def _ordered_map(function, items, threads):
    """``map(function, items)`` on ``threads`` workers, in order, with a bounded number in flight."""
    if threads <= 1:
        yield from map(function, items)
        return
    window = threads * IN_FLIGHT_PER_THREAD
    with ThreadPoolExecutor(threads) as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= window:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def select_rows(manifest_paths, classes, max_failed_fraction):
    """The manifest rows to pack (status ok, sorted by id) and the skipped ones.

    Raises:
        InputError: for unknown classes, no usable row, or more than ``max_failed_fraction`` skipped.
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
        listing = ", ".join(f"{r.id} ({r.status}: {r.error})" for r in skipped.head(20).itertuples())
        more = f" and {len(skipped) - 20} more (see the manifests)" if len(skipped) > 20 else ""
        raise InputError(", ".join(map(str, manifest_paths)),
                         f"{len(skipped)} of {len(rows)} objects failed or were blank, more than "
                         f"dataset.max_failed_fraction={max_failed_fraction}: {listing}{more}")
    if kept.empty:
        raise InputError(", ".join(map(str, manifest_paths)), "no object with status 'ok' to pack")
    return kept, skipped


def pack(manifest_paths, dataset_path, skipped_path, classes, image_size, max_failed_fraction, provenance=None,
         *, max_pixels=DEFAULT_MAX_PIXELS, threads=1, draft=True):
    """Pack manifests into ``dataset_path`` and list what was left out in ``skipped_path``.

    Objects whose status is not ``ok`` are excluded by name and listed in ``skipped_path`` (columns
    id, class, status, error, manifest); more than ``max_failed_fraction`` of them is an error. Rows
    are sorted by id, so the result does not depend on shard order. Both files are written
    atomically: on any error neither appears. When the provenance has no ``original_size`` (local
    images) and every image has the same square size, that size is recorded, so that prediction
    accepts images of it and resizes them as packing did.

    Args:
        max_pixels: Images with more pixels are rejected by name before decoding.
        threads: Decoding workers.
        draft: Decode JPEGs at reduced size in the DCT domain where the ratio allows.

    Returns:
        Number of packed objects.
    """
    kept, skipped = select_rows(manifest_paths, classes, max_failed_fraction)
    attrs = {**(provenance or {}), "n_skipped": len(skipped)}
    sizes = set()

    def load(row):
        image = load_image(row.path, image_size, row.sha256, row.manifest, max_pixels, draft)
        with open_image(row.path, row.manifest, max_pixels) as header:
            return image, header.size

    with atomic_path(skipped_path) as skipped_tmp:
        skipped.to_csv(skipped_tmp, index=False)
        with dataset_writer(dataset_path, len(kept), classes, attrs) as writer:
            for index, (image, size) in enumerate(_ordered_map(load, kept.itertuples(), threads)):
                writer.write_image(index, image)
                sizes.add(size)
            if attrs.get("original_size") in ("", None) and len(sizes) == 1:
                width, height = sizes.pop()
                attrs["original_size"] = width if width == height else ""
            writer.finish(
                labels=np.array([classes.index(c) for c in kept["class"]]),
                ids=kept["id"].to_numpy(dtype=object),
                ra=pd.to_numeric(kept["ra"], errors="coerce").to_numpy(dtype=float),
                dec=pd.to_numeric(kept["dec"], errors="coerce").to_numpy(dtype=float),
            )
    log.info("packed %d objects with %d thread(s), skipped %d", len(kept), threads, len(skipped))
    return len(kept)
