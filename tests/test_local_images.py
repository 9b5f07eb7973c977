"""Local image sets: class subfolders and CSV lists of JPEG/PNG files -> the cutout manifest."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from astrotune.data.manifest import read_manifest
from astrotune.errors import InputError
from astrotune.sky.local_images import index_local_images, listed_input

from standin_data import is_standin

CLASSES = ["GALAXY", "STAR", "QSO"]


@pytest.fixture
def real_cutouts(shared_data):
    """The real SDSS DR16 cutouts folder and its manifest (objid, class, path, sha256)."""
    folder = shared_data / "sdss-dr16-cutouts-3k"
    return folder, pd.read_csv(folder / "manifest.csv", dtype=str)


def write_png(path, value=100, size=16):
    """A small valid RGB PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def test_class_subfolders_of_real_jpegs(real_cutouts, tmp_path):
    folder, listing = real_cutouts
    chosen = listing.groupby("class").head(4)
    for row in chosen.itertuples():
        link = tmp_path / "images" / row.path.split("/")[0] / f"{row.objid}.jpg"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(folder / row.path)
    (tmp_path / "images" / "README.txt").write_text("top-level files are not images of a class")

    out = tmp_path / "resources" / "local_images" / "manifest.csv"
    index_local_images(out, CLASSES, folder=tmp_path / "images", allowed_roots=[folder])

    manifest = read_manifest(out)
    expected = chosen.set_index("objid")
    assert sorted(manifest["id"]) == sorted(expected.index)
    assert (manifest["class"].to_numpy() == expected.loc[manifest["id"], "class"].to_numpy()).all()
    assert (manifest["sha256"].to_numpy() == expected.loc[manifest["id"], "sha256"].to_numpy()).all()
    assert set(manifest["status"]) == {"ok"}
    assert all(os.path.samefile(path, folder / expected.loc[ident, "path"])
               for ident, path in zip(manifest["id"], manifest["path"]))
    assert not os.path.isabs(pd.read_csv(out)["path"][0])


def test_csv_list_of_real_jpegs_with_objid_and_sha256(real_cutouts, tmp_path):
    folder, listing = real_cutouts
    subset = listing.groupby("class").head(3)
    subset.to_csv(tmp_path / "list.csv", index=False)

    out = tmp_path / "manifest.csv"
    rows = index_local_images(out, CLASSES, folder=folder, manifest=tmp_path / "list.csv", id_column="objid")

    assert list(rows["id"]) == list(subset["objid"])
    manifest = read_manifest(out)
    assert list(manifest["sha256"]) == list(subset["sha256"])
    assert all(hashlib.sha256(open(p, "rb").read()).hexdigest() == h
               for p, h in zip(manifest["path"], manifest["sha256"]))
    assert manifest["ra"].isna().all()


def test_the_study_manifest_indexes_completely(shared_data, tmp_path, project_root):
    """The real-cutouts study's listing indexes every file: in ../shared/data the real 3,000, else the stand-in's."""
    study = yaml.safe_load((project_root / "config" / "studies" / "sdss_real_cutouts.yaml").read_text())
    listed = Path(study["local_images"]["manifest"])
    assert listed.parts[:3] == ("..", "shared", "data"), "the study reads ../shared/data relative to the project root"
    listing = shared_data / listed.relative_to("../shared/data")
    classes = study["dataset"]["classes"]
    rows = index_local_images(tmp_path / "m.csv", classes, manifest=listing, id_column=study["local_images"]["id_column"])
    counts = rows["class"].value_counts().to_dict()
    assert counts == pd.read_csv(listing)["class"].value_counts().to_dict() and set(counts) == set(classes)
    assert (read_manifest(tmp_path / "m.csv")["status"] == "ok").all()
    if not is_standin(shared_data):
        assert counts == {"GALAXY": 1200, "STAR": 1200, "QSO": 600}


def test_csv_list_with_coordinates_and_derived_ids(tmp_path):
    write_png(tmp_path / "img" / "a.png")
    write_png(tmp_path / "img" / "b.png")
    write_png(tmp_path / "img" / "c.png")
    pd.DataFrame({"path": ["img/a.png", "img/b.png", "img/c.png"], "class": CLASSES,
                  "ra": ["10.5", "", "359.9"], "dec": ["-5", "", "89"]}).to_csv(tmp_path / "l.csv", index=False)

    index_local_images(tmp_path / "out" / "m.csv", CLASSES, manifest=tmp_path / "l.csv")

    manifest = read_manifest(tmp_path / "out" / "m.csv")
    assert list(manifest["id"]) == ["a", "b", "c"]
    assert manifest["ra"].iloc[0] == 10.5 and np.isnan(manifest["dec"].iloc[1])


def test_bad_csv_rows_are_all_named(tmp_path):
    write_png(tmp_path / "good.png")
    write_png(tmp_path / "other.png", value=7)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    truncated = (tmp_path / "good.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(truncated[: len(truncated) // 2])
    pd.DataFrame({
        "id": ["1", "2", "3", "4", "1", "6", "7", "8"],
        "path": ["good.png", "other.png", "broken.png", "missing.png", "other.png", "cut.png", "good.png",
                 "good.png"],
        "class": ["GALAXY", "GALAXY", "STAR", "STAR", "QSO", "QSO", "ELF", "QSO"],
        "ra": ["", "", "", "", "", "", "", "400"],
        "dec": ["", "", "", "", "", "", "", "0"],
        "sha256": ["", "f" * 64, "", "", "", "", "", ""],
    }).to_csv(tmp_path / "list.csv", index=False)
    out = tmp_path / "manifest.csv"

    with pytest.raises(InputError) as info:
        index_local_images(out, CLASSES, manifest=tmp_path / "list.csv")

    message = str(info.value)
    assert str(tmp_path / "list.csv") in message
    assert "line 3 (other.png): column 'sha256'" in message
    assert "line 4 (broken.png): not a readable image" in message
    assert "line 5 (missing.png): rejected: file does not exist" in message
    assert "line 6 (other.png): duplicate id '1'" in message
    assert "line 7 (cut.png): not a readable image" in message
    assert "line 8: column 'class' value 'ELF'" in message
    assert "line 9: ra 400.0" in message
    assert not out.exists()


def test_bad_folder_layout_is_named(tmp_path):
    write_png(tmp_path / "galaxy" / "x.png")
    write_png(tmp_path / "star" / "x.png")
    write_png(tmp_path / "qso" / "q.png")
    (tmp_path / "qso" / "notes.txt").write_text("not an image")
    write_png(tmp_path / "elf" / "e.png")
    (tmp_path / "star" / "y.jpg").write_bytes(b"")

    with pytest.raises(InputError) as info:
        index_local_images(tmp_path / "m.csv", CLASSES, folder=tmp_path)

    message = str(info.value)
    assert "subfolder 'elf' is not one of dataset.classes" in message
    assert "qso/notes.txt: not a .jpg/.jpeg/.png file" in message
    assert "star/x.png: duplicate id 'x' (also galaxy/x.png)" in message
    assert "star/y.jpg: not a readable image" in message
    assert not (tmp_path / "m.csv").exists()


def test_missing_class_and_missing_columns_and_settings(tmp_path):
    write_png(tmp_path / "GALAXY" / "a.png")
    write_png(tmp_path / "STAR" / "b.png")
    with pytest.raises(InputError, match=r"no images for classes \['QSO'\]"):
        index_local_images(tmp_path / "m.csv", CLASSES, folder=tmp_path)
    pd.DataFrame({"path": ["GALAXY/a.png"], "class": ["GALAXY"]}).to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(InputError, match=r"missing columns \['objid'\]"):
        index_local_images(tmp_path / "m.csv", CLASSES, manifest=tmp_path / "l.csv", id_column="objid")
    with pytest.raises(InputError, match="local_images.path"):
        listed_input({"path": None, "manifest": None})
    assert listed_input({"path": "imgs", "manifest": "l.csv"}) == "l.csv"
