"""HDF5 store: round trip, schema checks, clear errors."""

import h5py
import numpy as np
import pytest

from astrotune.data.store import PackedDataset, read_dataset, write_dataset
from astrotune.errors import InputError


def small_dataset(n=6, size=8):
    rng = np.random.default_rng(0)
    return PackedDataset(
        images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        labels=np.arange(n) % 3,
        ids=np.array([f"obj{i}" for i in range(n)], dtype=object),
        ra=np.linspace(10, 20, n),
        dec=np.full(n, np.nan),
        class_names=["GALAXY", "STAR", "QSO"],
        provenance={"source": "synthetic", "pixel_scale": 0.396, "data_release": "DR16", "config_hash": "abc"},
    )


def test_round_trip(tmp_path):
    original = small_dataset()
    write_dataset(tmp_path / "d.h5", original)
    loaded = read_dataset(tmp_path / "d.h5")
    np.testing.assert_array_equal(loaded.images, original.images)
    np.testing.assert_array_equal(loaded.labels, original.labels)
    assert list(loaded.ids) == list(original.ids)
    np.testing.assert_array_equal(loaded.ra, original.ra)
    assert np.isnan(loaded.dec).all()
    assert loaded.class_names == original.class_names
    assert loaded.provenance["source"] == "synthetic"
    assert loaded.provenance["pixel_scale"] == 0.396
    assert loaded.provenance["schema_version"] == 1
    with h5py.File(tmp_path / "d.h5") as h5:
        assert h5["images"].dtype == np.uint8


def test_same_content_gives_identical_bytes(tmp_path):
    write_dataset(tmp_path / "a.h5", small_dataset())
    write_dataset(tmp_path / "b.h5", small_dataset())
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


def test_rejects_wrong_image_dtype_without_writing(tmp_path):
    dataset = small_dataset()
    dataset.images = dataset.images.astype(np.float32)
    with pytest.raises(ValueError, match="uint8"):
        write_dataset(tmp_path / "d.h5", dataset)
    assert list(tmp_path.iterdir()) == []


def test_not_hdf5_names_file(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_text("not hdf5")
    with pytest.raises(InputError, match="broken.h5"):
        read_dataset(path)


@pytest.mark.parametrize("field", ["labels", "ids", "images"])
def test_missing_field_named(tmp_path, field):
    path = tmp_path / "d.h5"
    write_dataset(path, small_dataset())
    with h5py.File(path, "a") as h5:
        del h5[field]
    with pytest.raises(InputError, match=f"d.h5: missing dataset '{field}'"):
        read_dataset(path)


def test_label_out_of_range_named(tmp_path):
    path = tmp_path / "d.h5"
    write_dataset(path, small_dataset())
    with h5py.File(path, "a") as h5:
        h5["labels"][0] = 7
    with pytest.raises(InputError, match="'labels' has values outside 0..2"):
        read_dataset(path)
