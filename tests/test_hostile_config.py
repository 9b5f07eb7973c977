"""Issue 11, config and catalog limits, and the user-facing path through Snakemake.

Config checks run in process (astrotune.config_checks, the code common.smk calls before validate);
two Snakemake runs show the whole path: a study file with a YAML alias bomb, and a local image
list naming files outside its folder.
"""

import time
import zipfile

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from astrotune.config_checks import check_config
from astrotune.errors import InputError
from astrotune.sky.catalog import read_catalog

from hostile import MARKER, assert_clean_failure, assert_no_marker, plant_marker, run_script
from workflow_helpers import PROJECT_ROOT, TINY_CONFIG, copy_project, run_snakemake

ALIAS_BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)])


def check(config, source="study.yaml"):
    check_config(config, PROJECT_ROOT, [source])


def test_alias_bomb_is_rejected_at_once_naming_the_file():
    start = time.monotonic()
    with pytest.raises(InputError, match=r"study.yaml: key '[a-i][.0-9]*' repeats a YAML alias"):
        check(yaml.safe_load(ALIAS_BOMB))
    assert time.monotonic() - start < 2


def test_oversized_config_is_rejected():
    with pytest.raises(InputError, match="more than 100000 values"):
        check({"seed": 1, "junk": list(range(200_000))})


@pytest.mark.parametrize("change, message", [
    ({"seed": 2 ** 32}, "seed: 4294967296 is above the maximum 4294967295"),
    ({"split": {"val_fraction": 0.6, "test_fraction": 0.4}}, "split.val_fraction \\(0.6\\) \\+ split.test_fraction"),
    ({"split": {"val_fraction": 0.99, "test_fraction": 0.5}}, "must be below 1"),
])
def test_seed_and_fraction_limits(change, message):
    with pytest.raises(InputError, match=message):
        check(change)
    check({"seed": 2 ** 32 - 10, "split": {"val_fraction": 0.5, "test_fraction": 0.49}})


def test_weights_file_is_checked_at_validation(tmp_path):
    text = tmp_path / "notes.weights.h5"
    text.write_text("not weights")
    bare = tmp_path / "bare.h5"
    with h5py.File(bare, "w") as h5:
        h5.create_dataset("x", data=np.zeros(3))
    good = tmp_path / "base.weights.h5"
    with h5py.File(good, "w") as h5:
        h5.create_group("layers").create_group("dense")
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("config.json", "{}")
    torch_file = tmp_path / "model.pt"
    torch_file.write_bytes(b"PK")
    cases = [(text, "not an HDF5 file"), (bare, "HDF5 file without Keras weights"),
             (archive, "a .keras archive without model.weights.h5"), (tmp_path / "missing.h5", "file not found"),
             (torch_file, "name must end with .weights.h5")]
    for path, message in cases:
        with pytest.raises(InputError, match=f"training.weights '{path}': {message}"):
            check({"training": {"weights": str(path)}})
    check({"training": {"weights": str(good)}})
    check({"training": {"weights": "imagenet"}})


@pytest.mark.parametrize("ra", ["12:60:00", "12:30:60", "12h60m00s", "24:00:00"])
def test_invalid_sexagesimal_ra_is_named(tmp_path, ra):
    path = tmp_path / "catalog.csv"
    pd.DataFrame({"id": ["a1"], "ra": [ra], "dec": ["10"], "class": ["GALAXY"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=f"line 2: ra '?{ra}'? is"):
        read_catalog(path, ["GALAXY", "STAR"])


def test_fifty_thousand_bad_rows_print_twenty_and_write_all(tmp_path):
    source = tmp_path / "catalog.csv"
    pd.DataFrame({"id": [f"o{i}" for i in range(50_000)], "ra": "12:60:00", "dec": "1",
                  "class": "GALAXY"}).to_csv(source, index=False)
    output, log = tmp_path / "resources" / "catalog.csv", tmp_path / "logs" / "import_catalog.log"
    log.parent.mkdir()
    result = run_script("import_catalog", input={"catalog": str(source)}, output={"catalog": str(output)},
                        log=log, params={"classes": ["GALAXY", "STAR"]}, timeout=60)
    assert_clean_failure(result, "50000 bad row(s)", outputs=[output], log=log)
    assert len(result.stderr) < 5000
    assert result.stderr.count("line ") == 20 and "... and 49980 more" in result.stderr
    listing = tmp_path / "logs" / "import_catalog.bad_rows.txt"
    assert f"full list: {listing}" in result.stderr
    assert listing.read_text().count("\n") == 50_000


def test_snakemake_rejects_an_alias_bomb_study_before_any_job(tmp_path):
    workdir = copy_project(tmp_path / "project", TINY_CONFIG)
    (workdir / "config" / "bomb.yaml").write_text(yaml.safe_dump(TINY_CONFIG) + ALIAS_BOMB + "\n")
    start = time.monotonic()
    result = run_snakemake(workdir, "-n", "--configfile", "config/bomb.yaml", check=False, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and time.monotonic() - start < 60
    assert "config/bomb.yaml: key " in output and "repeats a YAML alias" in output
    assert "Traceback" not in output and "Job stats" not in output
    assert not (workdir / "results").exists() and not (workdir / "resources").exists()


def test_snakemake_confines_a_local_image_list(tmp_path):
    workdir = copy_project(tmp_path / "project")
    marker = plant_marker(tmp_path / "outside")
    images = workdir / "images"
    from PIL import Image
    for i, name in enumerate(["GALAXY", "STAR", "QSO"]):
        images.mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(images / f"{name}.png")
    pd.DataFrame({"path": ["GALAXY.png", "STAR.png", "QSO.png", str(marker), "../../outside/secret.jpg"],
                  "class": ["GALAXY", "STAR", "QSO", "GALAXY", "STAR"]}).to_csv(images / "list.csv", index=False)
    config = {**TINY_CONFIG, "dataset": {"name": "mine", "source": "local_images", "image_size": 32},
              "local_images": {"path": "images", "manifest": "images/list.csv"}}
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(workdir, "resources/mine/local_images/manifest.csv", check=False, timeout=180)
    output = result.stdout + result.stderr
    log = (workdir / "logs" / "mine" / "index_local_images" / "index_local_images.log").read_text()
    assert result.returncode != 0 and "Error in rule index_local_images" in output
    assert "images/list.csv: 3 rejected image entries or problems" in log
    assert "ERROR: images/list.csv: 3 rejected image entries or problems" in output
    assert "line 5 (" in log and "line 6 (../../outside/secret.jpg): rejected: resolves to" in log
    assert "Traceback" not in output + log
    assert not (workdir / "resources" / "mine" / "local_images" / "manifest.csv").exists()
    assert_no_marker([workdir / "resources", workdir / "logs", workdir / ".snakemake" / "log"])
    assert MARKER not in output
