"""SDSS catalog query: SQL from validated values only, astroquery against the stand-in, seeded sample."""

import json

import pandas as pd
import pytest

from astrotune.errors import InputError
from astrotune.sky.catalog import read_catalog
from astrotune.sky.sdss_query import allocate, count_query, pool_query, query_catalog, query_settings, save_catalog

CLASSES = ["GALAXY", "STAR", "QSO"]


def sdss_config(**changes):
    config = {"data_release": 16, "n_objects": 200, "n_per_class": None, "pool_size": 3000,
              "zwarning_zero": True, "clean_photometry": True, "r_mag_min": 14.0, "r_mag_max": 19.0,
              "skyserver_url": None, "timeout_s": 30}
    return {**config, **changes}


def test_sql_is_built_from_checked_values():
    settings = query_settings(sdss_config(r_mag_min=15, r_mag_max=18.5, pool_size=500), CLASSES)
    counts = count_query(settings)
    assert "s.class IN ('GALAXY', 'STAR', 'QSO')" in counts and "GROUP BY s.class" in counts
    assert "p.r BETWEEN 15.0000 AND 18.5000" in counts
    assert "s.zWarning = 0" in counts and "p.clean = 1" in counts
    pool = pool_query(settings, "QSO")
    assert pool.startswith("SELECT TOP 500 ") and "s.class = 'QSO'" in pool and pool.endswith("ORDER BY s.specObjID")
    relaxed = count_query(query_settings(sdss_config(zwarning_zero=False, clean_photometry=False), CLASSES))
    assert "zWarning" not in relaxed and "clean" not in relaxed


@pytest.mark.parametrize("changes, classes, key", [
    ({"r_mag_min": "14; DROP TABLE SpecObj"}, CLASSES, "sdss.r_mag_min"),
    ({"r_mag_max": float("nan")}, CLASSES, "sdss.r_mag_max"),
    ({"r_mag_min": True}, CLASSES, "sdss.r_mag_min"),
    ({"pool_size": "10 UNION SELECT 1"}, CLASSES, "sdss.pool_size"),
    ({"n_per_class": 2.5}, CLASSES, "sdss.n_per_class"),
    ({}, ["GALAXY", "STAR') OR 1=1 --"], "dataset.classes"),
    ({"r_mag_min": 19, "r_mag_max": 14}, CLASSES, "sdss.r_mag_min"),
    ({"n_objects": None, "n_per_class": None}, CLASSES, "sdss.n_objects"),
    ({"n_per_class": 5000}, CLASSES, "sdss.pool_size"),
])
def test_unsafe_or_inconsistent_config_is_refused(changes, classes, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        query_settings(sdss_config(**changes), classes)


def test_allocate_keeps_natural_proportions():
    assert allocate({"GALAXY": 4998, "STAR": 4152, "QSO": 850}, 1000) == {"GALAXY": 500, "STAR": 415, "QSO": 85}
    sizes = allocate({"GALAXY": 1, "STAR": 1, "QSO": 1}, 100)
    assert sum(sizes.values()) == 100 and max(sizes.values()) - min(sizes.values()) == 1
    assert allocate({"GALAXY": 0, "STAR": 0}, 10) == {"GALAXY": 0, "STAR": 0}


@pytest.fixture(scope="module")
def server(shared_data):
    from skyserver_standin import SkyServerStandIn

    with SkyServerStandIn(shared_data) as standin:
        yield standin


def expected_counts(shared_data, low=14.0, high=19.0):
    rows = pd.read_csv(shared_data / "sdss-dr14-skyserver-10k.csv")
    return rows[rows["r"].between(low, high)]["class"].value_counts().to_dict()


def test_query_through_astroquery_is_seeded_and_proportional(server, shared_data, tmp_path):
    config = sdss_config(skyserver_url=server.url, data_release=14)
    catalog, provenance = query_catalog(config, CLASSES, seed=7)
    assert server.paths[-1] == "/dr14/en/tools/search/x_results.aspx"
    assert len(server.sql) >= 4 and server.sql[-1].strip().startswith("SELECT TOP 3000")
    counts = expected_counts(shared_data)
    assert provenance["class_counts"] == {c: counts[c] for c in CLASSES}
    assert catalog["class"].value_counts().to_dict() == allocate(provenance["class_counts"], 200)
    again, _ = query_catalog(config, CLASSES, seed=7)
    pd.testing.assert_frame_equal(catalog, again)
    other, _ = query_catalog(config, CLASSES, seed=8)
    assert set(other["id"]) != set(catalog["id"])
    assert catalog["r"].between(14, 19).all()

    paths = [tmp_path / name for name in ("catalog.csv", "catalog.sql", "catalog.json")]
    save_catalog(catalog, provenance, *paths)
    saved = read_catalog(paths[0], CLASSES)
    assert saved["id"].tolist() == catalog["id"].tolist()
    assert saved["objid"].astype(str).tolist() == catalog["objid"].tolist()
    assert "-- SDSS DR14 via http://127.0.0.1" in paths[1].read_text()
    assert provenance["queries"]["QSO"] in paths[1].read_text()
    recorded = json.loads(paths[2].read_text())
    assert recorded["data_release"] == 14 and recorded["seed"] == 7 and set(recorded["queries"]) == {"counts", *CLASSES}


def test_balanced_sample_and_too_small_pool(server):
    catalog, provenance = query_catalog(sdss_config(skyserver_url=server.url, n_per_class=25), CLASSES, seed=1)
    assert catalog["class"].value_counts().to_dict() == {"GALAXY": 25, "STAR": 25, "QSO": 25}
    assert catalog["id"].is_unique
    with pytest.raises(InputError, match="only 5 pass the cuts"):
        query_catalog(sdss_config(skyserver_url=server.url, pool_size=5), CLASSES, seed=1)
