"""tf.data input: in-memory and streamed sources give the same batches, in the (seed, epoch) order,
with repeated (oversampled) rows and dihedral views, copying only each batch."""

import logging

import h5py
import numpy as np
import pytest

from astrotune.data.pipeline import Rows, epoch_dataset, epoch_order, epoch_views, open_rows
from astrotune.errors import InputError
from astrotune.training.runtime import configure_accelerators
from astrotune.training.settings import NumericSwitches


@pytest.fixture()
def packed(tmp_path):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (20, 4, 4, 3)).astype("uint8")
    features = rng.normal(size=(8, 20, 2, 5)).astype("float32")
    path = tmp_path / "arrays.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=images, chunks=(1, 4, 4, 3), compression="gzip")
        h5.create_dataset("tensor_0", data=features, chunks=(1, 1, 2, 5))
        h5.create_dataset("tensor_1", data=features[..., :3] * 2, chunks=(1, 1, 2, 3))
    return path, images, features


def _batches(dataset):
    return [(tuple(np.asarray(t) for t in (x if isinstance(x, tuple) else (x,))), np.asarray(y))
            for x, y in dataset]


def test_streamed_and_in_memory_batches_are_identical(packed):
    path, images, _ = packed
    onehot = np.eye(3)[np.arange(20) % 3]
    indices = np.array([0, 1, 2, 3, 4, 5, 5, 5, 9, 9, 12, 19])  # oversampled: repeats, no copies
    order = epoch_order(indices, seed=5, epoch=2)
    np.testing.assert_array_equal(order, np.random.default_rng([5, 2]).permutation(indices))
    with h5py.File(path, "r") as h5:
        in_memory = open_rows(h5, ["images"], budget_mb=1)
        streamed = open_rows(h5, ["images"], budget_mb=1e-4)
        assert not in_memory.streamed and streamed.streamed
        first = _batches(epoch_dataset(in_memory, order, onehot, batch_size=5))
        second = _batches(epoch_dataset(streamed, order, onehot, batch_size=5))
    assert [len(y) for _, y in first] == [5, 5, 2]
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(x1[0], x2[0])
        np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(np.concatenate([x[0] for x, _ in first]), images[order].astype("float32"))
    np.testing.assert_array_equal(np.concatenate([y for _, y in first]), onehot[order])


def test_views_and_several_tensors(packed):
    path, _, features = packed
    onehot = np.eye(2)[np.arange(20) % 2]
    order = epoch_order(np.arange(20), seed=1, epoch=0)
    views = epoch_views(len(order), seed=1, epoch=0)
    assert set(views) <= set(range(8)) and len(set(views)) > 1
    np.testing.assert_array_equal(views, epoch_views(len(order), seed=1, epoch=0))
    assert not np.array_equal(views, epoch_views(len(order), seed=1, epoch=1))
    with h5py.File(path, "r") as h5:
        for budget in (1, 1e-5):
            rows = open_rows(h5, ["tensor_0", "tensor_1"], budget, views=True)
            assert rows.row_shapes() == [(2, 5), (2, 3)] and len(rows) == 20
            batches = _batches(epoch_dataset(rows, order, onehot, batch_size=8, views=views))
            x0 = np.concatenate([x[0] for x, _ in batches])
            x1 = np.concatenate([x[1] for x, _ in batches])
            np.testing.assert_array_equal(x0, features[views, order])
            np.testing.assert_array_equal(x1, features[views, order][..., :3] * 2)


def test_missing_dataset_names_the_file_and_field(packed):
    path, _, _ = packed
    with h5py.File(path, "r") as h5, pytest.raises(InputError, match="missing dataset 'labels'"):
        open_rows(h5, ["labels"], 1, source=str(path))
    with pytest.raises(ValueError, match="different lengths"):
        Rows([np.zeros((3, 2)), np.zeros((4, 2))])


def test_gpu_switches_stay_off_on_cpu(caplog):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is present")
    with caplog.at_level(logging.INFO):
        assert configure_accelerators(NumericSwitches(mixed_precision=True, xla=True)) is False
    assert "no GPU" in caplog.text
    import keras

    assert keras.mixed_precision.global_policy().name == "float32"


def test_dihedral_transform_numbers_views_as_the_cache_does():
    from astrotune.data.pipeline import dihedral_transform
    from astrotune.models.augment import dihedral_views

    images = np.random.default_rng(0).integers(0, 256, (16, 5, 5, 3)).astype("uint8")
    views = np.arange(16) % 8
    expected = dihedral_views(images)
    out = dihedral_transform(images, views)
    for i, view in enumerate(views):
        np.testing.assert_array_equal(out[i], expected[view][i])
    # A source of images computes the view it is asked for.
    np.testing.assert_array_equal(Rows([images]).take([3, 1], np.array([5, 2]))[0],
                                  np.stack([expected[5][3], expected[2][1]]))
