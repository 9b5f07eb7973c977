"""Issue 23, item 6: HDF5 read and type failures name the file and the dataset, in predict and in the
workflow's readers (packed sets, Galaxy10 files); packing reads back what it wrote."""

import h5py
import numpy as np
import pytest

from astrotune.data import store
from astrotune.data.store import PackedDataset, read_dataset, write_dataset
from astrotune.errors import InputError
from astrotune.sky.galaxy10 import VARIANTS, pack_galaxy10

from predict_helpers import corrupt_chunk

CLASSES = ["GALAXY", "STAR", "QSO"]
DECALS = list(VARIANTS["decals"].class_names)


def packed(path, n=6, side=16):
    images = np.random.default_rng(0).integers(0, 256, (n, side, side, 3), dtype=np.uint8)
    write_dataset(path, PackedDataset(images=images, labels=np.arange(n) % 3,
                                      ids=np.array([f"o{i}" for i in range(n)], dtype=object), ra=np.zeros(n),
                                      dec=np.zeros(n), class_names=CLASSES, provenance={"image_size": side}))
    return images


def test_a_corrupt_chunk_of_a_packed_set_is_named(tmp_path):
    path = tmp_path / "data.h5"
    packed(path)
    corrupt_chunk(path, "images")
    assert len(read_dataset(path, with_images=False)) == 6  # the layout is fine
    with pytest.raises(InputError, match=f"{path}: damaged HDF5 file, cannot read its data in dataset 'images'"):
        read_dataset(path, with_images=False, verify=True)
    with pytest.raises(InputError, match=f"{path}: damaged HDF5 file, cannot read its data in dataset 'images'"):
        read_dataset(path)


def test_packing_reads_back_what_it_wrote(tmp_path, monkeypatch):
    write_image = store.DatasetWriter.write_image

    def flipped(self, index, image):  # the stored bytes differ from what was handed over
        write_image(self, index, image)
        self.images[index] = 255 - np.asarray(image)

    monkeypatch.setattr(store.DatasetWriter, "write_image", flipped)
    with pytest.raises(InputError, match=r"data.h5: reading back what was written failed \(.*rows 0..5 differ"):
        packed(tmp_path / "data.h5")
    assert not list(tmp_path.iterdir())


def galaxy10(path, ra=None, n=20, size=24):
    labels = np.arange(n) % 10
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=np.full((n, size, size, 3), 7, np.uint8), chunks=(1, size, size, 3),
                          compression="gzip")
        h5.create_dataset("ans", data=labels.astype(np.uint8))
        h5.create_dataset("ra", data=np.arange(n, dtype=np.float64) if ra is None else ra)
        h5.create_dataset("dec", data=np.zeros(n))


@pytest.mark.parametrize("defect, message", [
    ("text_ra", "dataset 'ra' must hold (20,) numbers, got object"),
    ("short_ra", "dataset 'ra' must hold (20,) numbers, got float64 (3,)"),
    ("corrupt", "damaged HDF5 file, cannot read its data in dataset 'images'"),
])
def test_galaxy10_read_and_type_failures_are_named(tmp_path, defect, message):
    path = tmp_path / "Galaxy10_DECals.h5"
    ra = {"text_ra": np.array([f"{i}h" for i in range(20)], dtype=object), "short_ra": np.zeros(3)}.get(defect)
    galaxy10(path, ra)
    if defect == "corrupt":
        corrupt_chunk(path, "images", 5)
    with pytest.raises(InputError) as info:
        pack_galaxy10(path, tmp_path / "out.h5", variant="decals", classes=DECALS, image_size=16)
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)
    assert not list(tmp_path.glob("out.h5*"))


@pytest.mark.parametrize("attribute, value, message", [
    ("class_names", 3, "attribute 'class_names' must be a list of names"),
    ("pixel_scale", np.array([0.4, 0.5]), "attribute 'pixel_scale' must be a single value, not an array"),
])
def test_malformed_attributes_are_named(tmp_path, attribute, value, message):
    path = tmp_path / "data.h5"
    packed(path)
    with h5py.File(path, "r+") as h5:
        h5.attrs[attribute] = value
    with pytest.raises(InputError, match=f"{path}: {message}"):
        read_dataset(path, with_images=False)


def test_text_in_a_packed_coordinate_is_named(tmp_path):
    path = tmp_path / "data.h5"
    packed(path)
    with h5py.File(path, "r+") as h5:
        del h5["ra"]
        h5.create_dataset("ra", data=np.array(["12h"] * 6, dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(InputError, match=r"dataset 'ra' must hold \(6,\) numbers, got object"):
        read_dataset(path, with_images=False)
