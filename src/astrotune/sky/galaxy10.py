"""Galaxy10 DECaLS and Galaxy10 SDSS: published locations and checksums, class names, packing.

Galaxy10 DECaLS (Leung & Bovy; Zenodo record 10845026): ``Galaxy10_DECals.h5`` with datasets
``images`` (17736, 256, 256, 3) uint8, ``ans`` (17736,) uint8, ``ra``, ``dec``, ``redshift``, ``pxscale``.
Galaxy10 SDSS (astroNN; Zenodo record 10844811): ``Galaxy10.h5`` with ``images`` (21785, 69, 69, 3)
uint8 and ``ans``. Class names are those of the data sets' READMEs, in label order, commas included.
"""

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from astrotune.data.hdf5_checks import dataset, hdf5_errors, numbers, open_hdf5, read_rows
from astrotune.data.images import DEFAULT_MAX_PIXELS
from astrotune.data.store import PackedDataset, check_labels, write_dataset
from astrotune.errors import InputError

log = logging.getLogger(__name__)
BLOCK_BYTES = 256 * 1024 * 1024  # images read from the source file per step, at most


@dataclass(frozen=True)
class Galaxy10Variant:
    """One published Galaxy10 file."""

    source: str
    title: str
    filename: str
    url: str
    sha256: str
    size: int
    pixel_scale: float
    max_bytes: int
    class_names: tuple


VARIANTS = {
    "decals": Galaxy10Variant(
        source="galaxy10_decals",
        title="Galaxy10 DECaLS",
        filename="Galaxy10_DECals.h5",
        url="https://zenodo.org/records/10845026/files/Galaxy10_DECals.h5",
        sha256="19aefc477c41bb7f77ff07599a6b82a038dc042f889a111b0d4d98bb755c1571",
        size=256,
        pixel_scale=0.262,
        max_bytes=4_000_000_000,  # the published file is 2.7 GB
        class_names=(
            "Disturbed Galaxies", "Merging Galaxies", "Round Smooth Galaxies",
            "In-between Round Smooth Galaxies", "Cigar Shaped Smooth Galaxies", "Barred Spiral Galaxies",
            "Unbarred Tight Spiral Galaxies", "Unbarred Loose Spiral Galaxies",
            "Edge-on Galaxies without Bulge", "Edge-on Galaxies with Bulge",
        ),
    ),
    "sdss": Galaxy10Variant(
        source="galaxy10_sdss",
        title="Galaxy10 SDSS",
        filename="Galaxy10.h5",
        url="https://zenodo.org/records/10844811/files/Galaxy10.h5",
        sha256="969a6b1cefcc36e09fffa86febd2f699a4aa19b837ba0427f01b0bc6ded458af",
        size=69,
        pixel_scale=0.396,
        max_bytes=1_000_000_000,  # the published file is 0.2 GB
        class_names=(
            "Disk, Face-on, No Spiral", "Smooth, Completely round", "Smooth, in-between round",
            "Smooth, Cigar shaped", "Disk, Edge-on, Rounded Bulge", "Disk, Edge-on, Boxy Bulge",
            "Disk, Edge-on, No Bulge", "Disk, Face-on, Tight Spiral", "Disk, Face-on, Medium Spiral",
            "Disk, Face-on, Loose Spiral",
        ),
    ),
}


def resolve_download(settings):
    """(file name, URL, expected SHA256) from the ``galaxy10`` config section; overrides win."""
    variant = VARIANTS[settings["variant"]]
    return variant.filename, settings.get("url") or variant.url, settings.get("sha256") or variant.sha256


def download_cap(settings):
    """Byte cap of the download: ``galaxy10.max_mb`` when set, else the variant's own cap."""
    if settings.get("max_mb"):
        return int(settings["max_mb"] * 1_000_000)
    return VARIANTS[settings["variant"]].max_bytes


def check_classes(classes, variant):
    """Raise InputError unless ``classes`` (config dataset.classes) are the variant's names in label order."""
    expected = list(VARIANTS[variant].class_names)
    if list(classes) != expected:
        raise InputError("dataset.classes", f"{VARIANTS[variant].title} needs exactly these ten class "
                                            f"names in label order: {expected}; got {list(classes)}")


def stratified_indices(labels, n_per_class, seed):
    """Sorted indices keeping at most ``n_per_class`` per label, drawn with ``seed``; None keeps all."""
    labels = np.asarray(labels)
    if n_per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) > n_per_class:
            members = rng.choice(members, n_per_class, replace=False)
        elif len(members) < n_per_class:
            log.warning("label %d has %d images, fewer than n_per_class=%d: keeping all",
                        label, len(members), n_per_class)
        chosen.append(members)
    return np.sort(np.concatenate(chosen))


def resize_images(images, size):
    """Resize a (N, H, W, 3) uint8 batch to (N, size, size, 3) with Lanczos resampling."""
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))
                     for image in images])


def pack_galaxy10(source_path, dest_path, *, variant, classes, image_size, n_per_class=None, seed=0,
                  sha256="", config_hash="", chunk_size=256, max_pixels=DEFAULT_MAX_PIXELS):
    """Pack a Galaxy10 HDF5 file into the project's HDF5 schema.

    Images are read ``chunk_size`` at a time (fewer when they are large, at most ``BLOCK_BYTES``) and collected in a temporary memory-mapped file beside
    ``dest_path``, so neither the source file nor the packed images need to fit in memory.

    Args:
        source_path: The downloaded ``Galaxy10_DECals.h5`` or ``Galaxy10.h5``.
        dest_path: The packed data set to write (atomically).
        variant: ``decals`` or ``sdss``.
        classes: Config ``dataset.classes``; must be the variant's class names.
        image_size: Side in pixels of the packed images.
        n_per_class: Stratified subsample size per class (None keeps every image).
        seed: Seed of the subsample.
        sha256: Checksum of the source file, recorded as provenance.
        config_hash: Hash of the config sections that shaped the output, recorded as provenance.
        chunk_size: Images read per step.
        max_pixels: Largest image side squared accepted (``dataset.max_pixels``).

    Returns:
        Number of packed images.
    """
    spec = VARIANTS[variant]
    check_classes(classes, variant)
    source_path, dest_path = Path(source_path), Path(dest_path)
    with open_hdf5(source_path) as h5:
        with hdf5_errors(source_path):
            labels = _check_layout(source_path, h5, len(spec.class_names))
        keep = stratified_indices(labels, n_per_class, seed)
        original_size = h5["images"].shape[1]
        if original_size ** 2 > max_pixels:
            raise InputError(source_path, f"dataset 'images' holds {original_size}x{original_size} images, more "
                                          f"than dataset.max_pixels={max_pixels} pixels")
        chunk_size = max(1, min(chunk_size, BLOCK_BYTES // (3 * original_size ** 2)))
        dest_path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=dest_path.parent, prefix=".pack_galaxy10.") as scratch:
            images = np.memmap(scratch, dtype=np.uint8, mode="w+", shape=(len(keep), image_size, image_size, 3))
            for start in range(0, len(keep), chunk_size):
                block = _read_rows(source_path, h5["images"], keep[start:start + chunk_size])
                images[start:start + len(block)] = resize_images(block, image_size)
            coords = {name: numbers(source_path, h5, name, len(labels))[keep] if name in h5
                      else np.full(len(keep), np.nan) for name in ("ra", "dec")}
            packed = PackedDataset(
                images=images,
                labels=labels[keep].astype(np.int16),
                ids=np.array([f"{spec.source}_{index:05d}" for index in keep], dtype=object),
                ra=coords["ra"],
                dec=coords["dec"],
                class_names=list(spec.class_names),
                provenance={
                    "source": spec.source,
                    "data_release": spec.title,
                    "source_file": source_path.name,
                    "sha256": sha256,
                    "pixel_scale": spec.pixel_scale,
                    "original_size": original_size,
                    "image_size": image_size,
                    "n_original": len(labels),
                    "n_per_class": n_per_class,
                    "config_hash": config_hash,
                },
            )
            write_dataset(dest_path, packed)
            del images
    log.info("packed %d of %d %s images at %dx%d into %s", len(keep), len(labels), spec.title,
             image_size, image_size, dest_path)
    return len(keep)


def _check_layout(path, h5, n_classes):
    """Check Galaxy10's datasets; return the labels."""
    for name in ("images", "ans"):
        if name not in h5:
            raise InputError(path, f"missing dataset '{name}' (not a Galaxy10 file?)")
        dataset(path, h5, name)
    images = h5["images"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2] or images.dtype != np.uint8:
        raise InputError(path, f"dataset 'images' must be uint8 (N, S, S, 3), got {images.dtype} {images.shape}")
    with hdf5_errors(path, "ans"):
        return check_labels(path, "ans", h5["ans"], images.shape[0], n_classes)


def _read_rows(path, images, rows):
    """Rows (sorted, unique) of the images: one slice when they are contiguous."""
    if rows[-1] - rows[0] + 1 == len(rows):
        return read_rows(path, images, rows[0], rows[-1] + 1)
    with hdf5_errors(path, "images"):
        return images[rows]
