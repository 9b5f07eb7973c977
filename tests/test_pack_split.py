"""Packing manifests into HDF5 and the stratified split."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from astrotune.data.manifest import write_manifest
from astrotune.data.pack import pack
from astrotune.data.split import stratified_split
from astrotune.data.store import read_dataset
from astrotune.errors import InputError
from astrotune.io import sha256_file

CLASSES = ["GALAXY", "STAR", "QSO"]


def make_manifest(folder, statuses, size=20):
    rows = []
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i, status in enumerate(statuses):
        object_id = f"o{i:03d}"
        row = {"id": object_id, "ra": 10.0 + i, "dec": -1.0, "class": CLASSES[i % 3], "status": status}
        if status == "ok":
            path = folder / "images" / f"{object_id}.png"
            Image.fromarray(np.full((size, size, 3), 10 * i, dtype=np.uint8)).save(path)
            row |= {"path": f"images/{object_id}.png", "sha256": sha256_file(path)}
        else:
            row |= {"error": "HTTP 500"}
        rows.append(row)
    write_manifest(rows, folder / "manifest.csv")
    return folder / "manifest.csv"


def pack_to(folder, manifests, classes, image_size, max_failed_fraction, **options):
    """Pack into ``folder``; returns (the packed data set as read back, the skipped list)."""
    pack(manifests, folder / "dataset.h5", folder / "skipped.csv", classes, image_size, max_failed_fraction,
         **options)
    return read_dataset(folder / "dataset.h5"), pd.read_csv(folder / "skipped.csv")


def test_pack_resizes_sorts_and_lists_skipped(tmp_path):
    first = make_manifest(tmp_path / "a", ["ok", "ok", "failed", "ok"])
    dataset, skipped = pack_to(tmp_path, [first], CLASSES, image_size=32, max_failed_fraction=0.5, threads=2)
    assert dataset.images.shape == (3, 32, 32, 3)
    assert list(dataset.ids) == ["o000", "o001", "o003"]
    assert list(dataset.labels) == [0, 1, 0]
    assert skipped["id"].tolist() == ["o002"] and skipped["status"].tolist() == ["failed"]
    assert dataset.provenance["n_skipped"] == 1


def test_too_many_failures_lists_them(tmp_path):
    manifest = make_manifest(tmp_path, ["ok", "failed", "blank", "ok"])
    with pytest.raises(InputError, match=r"2 of 4 objects.*o001 \(failed: HTTP 500\).*o002 \(blank"):
        pack_to(tmp_path, [manifest], CLASSES, image_size=16, max_failed_fraction=0.02)


def test_checksum_mismatch_names_manifest_and_field(tmp_path):
    manifest = make_manifest(tmp_path, ["ok", "ok"])
    Image.fromarray(np.zeros((20, 20, 3), dtype=np.uint8)).save(tmp_path / "images" / "o001.png")
    with pytest.raises(InputError, match=r"manifest.csv: column 'sha256'"):
        pack_to(tmp_path, [manifest], CLASSES, image_size=16, max_failed_fraction=0.0)
    assert not (tmp_path / "dataset.h5").exists() and not (tmp_path / "skipped.csv").exists()


def test_unknown_class_named(tmp_path):
    manifest = make_manifest(tmp_path, ["ok", "ok"])
    with pytest.raises(InputError, match=r"column 'class': 'STAR'"):
        pack_to(tmp_path, [manifest], ["GALAXY", "QSO"], image_size=16, max_failed_fraction=0.0)


def test_duplicate_ids_across_shards(tmp_path):
    first = make_manifest(tmp_path / "a", ["ok"])
    second = make_manifest(tmp_path / "b", ["ok"])
    with pytest.raises(InputError, match="more than one manifest"):
        pack_to(tmp_path, [first, second], CLASSES, image_size=16, max_failed_fraction=0.0)


def test_shard_order_does_not_matter(tmp_path):
    first = make_manifest(tmp_path / "a", ["ok", "ok"])
    rows = pd.read_csv(first)
    rows["id"] = ["p0", "p1"]
    rows.to_csv(tmp_path / "a" / "other.csv", index=False)
    one, _ = pack_to(tmp_path / "one", [first, tmp_path / "a" / "other.csv"], CLASSES, 16, 0.0)
    two, _ = pack_to(tmp_path / "two", [tmp_path / "a" / "other.csv", first], CLASSES, 16, 0.0, threads=3)
    assert list(one.ids) == list(two.ids)
    np.testing.assert_array_equal(one.images, two.images)


def test_split_is_stratified_and_seeded():
    labels = np.array([0] * 440 + [1] * 498 + [2] * 62)
    ids = [f"id{i:04d}" for i in range(len(labels))]
    split = stratified_split(ids, labels, val_fraction=0.3, seed=1)
    assert split["subset"].value_counts().to_dict() == {"train": 700, "val": 300}
    by_id = dict(zip(ids, labels))
    val_labels = [by_id[i] for i in split.loc[split["subset"] == "val", "id"]]
    assert np.bincount(val_labels).tolist() == [132, 149, 19]
    assert split.equals(stratified_split(ids, labels, val_fraction=0.3, seed=1))
    assert not split.equals(stratified_split(ids, labels, val_fraction=0.3, seed=2))


def test_split_with_test_subset():
    labels = np.repeat([0, 1, 2], 100)
    split = stratified_split([str(i) for i in range(300)], labels, val_fraction=0.2, test_fraction=0.1, seed=0)
    assert split["subset"].value_counts().to_dict() == {"train": 210, "val": 60, "test": 30}


def test_split_rejects_singleton_class():
    with pytest.raises(InputError, match="fewer than 2 objects"):
        stratified_split(["a", "b", "c"], [0, 0, 1], val_fraction=0.3)


def noisy_jpeg(path, size, seed):
    """A JPEG of a bright source on sky noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    source = 200 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 3) ** 2) / (2 * (size / 20) ** 2))
    pixels = np.clip(30 + source[..., None] + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)
    return path


def test_dct_draft_matches_full_decode_within_tolerance_and_skips_the_full_size(tmp_path, monkeypatch):
    from astrotune.data.images import DRAFT_TOLERANCE

    rows = []
    for i in range(3):
        path = noisy_jpeg(tmp_path / "images" / f"j{i}.jpg", 1024, i)
        rows.append({"id": f"j{i}", "ra": 0.0, "dec": 0.0, "class": CLASSES[i], "status": "ok",
                     "path": f"images/j{i}.jpg", "sha256": sha256_file(path)})
    write_manifest(rows, tmp_path / "manifest.csv")
    resized_from = []
    original_resize = Image.Image.resize
    monkeypatch.setattr(Image.Image, "resize",
                        lambda self, *a, **k: resized_from.append(self.size) or original_resize(self, *a, **k))

    full, _ = pack_to(tmp_path / "full", [tmp_path / "manifest.csv"], CLASSES, 256, 0.0, draft=False)
    assert resized_from == [(1024, 1024)] * 3
    resized_from.clear()
    drafted, _ = pack_to(tmp_path / "draft", [tmp_path / "manifest.csv"], CLASSES, 256, 0.0, draft=True, threads=2)
    assert resized_from == []  # decoded at 1/4 scale: 256 px straight from the DCT domain
    drafted_200, _ = pack_to(tmp_path / "draft200", [tmp_path / "manifest.csv"], CLASSES, 200, 0.0, draft=True)
    assert resized_from == [(256, 256)] * 3  # 1/4 scale, then an exact resize to 200 px

    difference = np.abs(full.images.astype(int) - drafted.images.astype(int))
    assert 0 < difference.mean() <= DRAFT_TOLERANCE
    assert drafted_200.images.shape == (3, 200, 200, 3)


def test_packing_keeps_a_bounded_number_of_images_in_flight():
    from astrotune.data.pack import IN_FLIGHT_PER_THREAD, _ordered_map

    loaded = []
    results = _ordered_map(lambda i: loaded.append(i) or i * i, range(1000), threads=2)
    assert next(results) == 0
    assert len(loaded) <= 2 * IN_FLIGHT_PER_THREAD + 2
    assert list(results) == [i * i for i in range(1, 1000)]
