"""SDSS spectroscopic catalog query (astroquery SDSS.query_sql) and the seeded sample drawn from it.

The SQL is assembled only from validated values: class names from a fixed set of SDSS spectroscopic
classes, numbers formatted by Python, booleans that add or drop a fixed clause. No config text is
pasted into it. One query counts the objects of each class that pass the cuts (the natural
proportions), then one query per class fetches a pool of ``pool_size`` rows (lowest specObjID
first, so the pool is the same on every call); the sample is drawn from the pools with the seed.
"""

import io
import json
import logging
import math
from datetime import datetime, timezone

import astroquery
import numpy as np
import pandas as pd
import requests
from astroquery.sdss import SDSS, conf

from astrotune.errors import InputError
from astrotune.io import atomic_path

log = logging.getLogger(__name__)

SDSS_CLASSES = ("GALAXY", "STAR", "QSO")
MAGNITUDES = ("u", "g", "r", "i", "z")
CATALOG_COLUMNS = ["id", "ra", "dec", "class", "objid", "specobjid", "redshift", *MAGNITUDES]
FROM = "FROM SpecObj AS s JOIN PhotoObj AS p ON s.bestObjID = p.objID"


def _number(section, name, value):
    """A finite float from a config value, or InputError naming the key."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise InputError("config", f"{section}.{name} must be a finite number, got {value!r}")
    return number


def _count(section, name, value):
    """A positive int from a config value (None passes through), or InputError naming the key."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError("config", f"{section}.{name} must be a positive integer, got {value!r}")
    return value


def query_settings(sdss, classes):
    """Validate the ``sdss`` config section and the class list for use in SQL.

    Returns:
        dict with the section's values as checked Python numbers/booleans and ``classes`` as a
        tuple of members of SDSS_CLASSES.
    """
    unknown = [c for c in classes if c not in SDSS_CLASSES]
    if unknown:
        raise InputError("config", f"dataset.classes {unknown} are not SDSS spectroscopic classes {list(SDSS_CLASSES)}")
    settings = {
        "classes": tuple(SDSS_CLASSES[SDSS_CLASSES.index(c)] for c in classes),
        "data_release": int(_count("sdss", "data_release", sdss["data_release"])),
        "n_objects": _count("sdss", "n_objects", sdss.get("n_objects")),
        "n_per_class": _count("sdss", "n_per_class", sdss.get("n_per_class")),
        "pool_size": _count("sdss", "pool_size", sdss["pool_size"]),
        "zwarning_zero": bool(sdss["zwarning_zero"]),
        "clean_photometry": bool(sdss["clean_photometry"]),
        "r_mag_min": _number("sdss", "r_mag_min", sdss["r_mag_min"]),
        "r_mag_max": _number("sdss", "r_mag_max", sdss["r_mag_max"]),
    }
    if settings["r_mag_min"] >= settings["r_mag_max"]:
        raise InputError("config", f"sdss.r_mag_min ({settings['r_mag_min']}) must be below sdss.r_mag_max "
                                   f"({settings['r_mag_max']})")
    if settings["n_objects"] is None and settings["n_per_class"] is None:
        raise InputError("config", "set sdss.n_objects or sdss.n_per_class")
    wanted = settings["n_per_class"] or 0
    if wanted > settings["pool_size"]:
        raise InputError("config", f"sdss.n_per_class ({wanted}) exceeds sdss.pool_size ({settings['pool_size']})")
    return settings


def _cuts(settings):
    """The quality cuts shared by every query."""
    cuts = [f"p.r BETWEEN {settings['r_mag_min']:.4f} AND {settings['r_mag_max']:.4f}"]
    if settings["zwarning_zero"]:
        cuts.append("s.zWarning = 0")
    if settings["clean_photometry"]:
        cuts.append("p.clean = 1")
    return cuts


def count_query(settings):
    """SQL counting the objects of each configured class that pass the cuts."""
    classes = ", ".join(f"'{c}'" for c in settings["classes"])
    where = " AND ".join([f"s.class IN ({classes})", *_cuts(settings)])
    return f"SELECT s.class, COUNT(*) AS n\n{FROM}\nWHERE {where}\nGROUP BY s.class"


def pool_query(settings, sdss_class):
    """SQL fetching the pool of one class: ``pool_size`` rows, lowest specObjID first."""
    if sdss_class not in SDSS_CLASSES:
        raise InputError("config", f"class {sdss_class!r} is not one of {list(SDSS_CLASSES)}")
    columns = ", ".join(["p.objID AS objid", "s.specObjID AS specobjid", "p.ra", "p.dec", "s.class",
                         "s.z AS redshift", *(f"p.{band}" for band in MAGNITUDES)])
    where = " AND ".join([f"s.class = '{sdss_class}'", *_cuts(settings)])
    return (f"SELECT TOP {settings['pool_size']:d} {columns}\n{FROM}\nWHERE {where}\n"
            "ORDER BY s.specObjID")


TEXT_COLUMNS = {"class", "objid", "specobjid"}


def run_query(sql, data_release, skyserver_url=None, timeout=None):
    """Run SQL through astroquery's request (uncached) and parse the answer as CSV text in memory.

    The answer is never handed to a reader that could take it for a file name. HTTP errors, error
    pages and non-numeric values become one InputError naming ``sdss.skyserver_url``.

    Returns:
        DataFrame with lower-case column names (empty when nothing matched); ids and classes as text.
    """
    source = f"sdss.skyserver_url ({skyserver_url or conf.skyserver_baseurl})"
    try:
        with conf.set_temp("skyserver_baseurl", skyserver_url or conf.skyserver_baseurl):
            response = SDSS.query_sql_async(sql, data_release=data_release, timeout=timeout or conf.timeout,
                                            cache=False)
    except requests.RequestException as err:
        raise InputError(source, f"SQL request failed ({type(err).__name__}: {err})") from err
    if response.status_code != 200:
        raise InputError(source, f"SQL service answered HTTP {response.status_code} {response.reason}")
    return parse_sql_answer(response.text, source)


def parse_sql_answer(text, source):
    """A SkyServer CSV answer (``#Table1`` line, header, rows) as a DataFrame; see ``run_query``."""
    if "error_message" in text[:10000]:
        raise InputError(source, f"SQL service reported an error: {' '.join(text[:300].split())!r}")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    if not lines or not lines[0].strip():
        return pd.DataFrame()
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(source, f"SQL answer is not CSV ({err})") from err
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    for column in frame.columns:
        if column not in TEXT_COLUMNS:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            wrong = numbers.isna() & frame[column].str.strip().ne("")
            if wrong.any():
                bad = frame[column][wrong].iloc[0]
                raise InputError(source, f"SQL answer column '{column}' has a non-numeric value {bad!r}")
            frame[column] = numbers
    return frame


def allocate(counts, total):
    """Split ``total`` over classes in proportion to ``counts`` (largest remainder, ties by order)."""
    available = sum(counts.values())
    if available == 0:
        return {c: 0 for c in counts}
    exact = {c: total * n / available for c, n in counts.items()}
    sizes = {c: math.floor(x) for c, x in exact.items()}
    order = sorted(counts, key=lambda c: -(exact[c] - sizes[c]))
    for c in order[: total - sum(sizes.values())]:
        sizes[c] += 1
    return sizes


def object_id(ra, dec):
    """A position-based, file-name-safe object id (the SDSS objid is kept in its own column)."""
    return f"sdss{ra:010.6f}{dec:+010.6f}"


def sample_pools(pools, sizes, seed):
    """Draw ``sizes[c]`` rows from each class pool with the seed; pools are sorted by id first."""
    rng = np.random.default_rng(seed)
    parts = []
    for sdss_class, size in sizes.items():
        pool = pools[sdss_class]
        if size > len(pool):
            raise InputError("config", f"{size} {sdss_class} objects wanted but only {len(pool)} pass the "
                                       "cuts in the pool (raise sdss.pool_size or relax the cuts)")
        chosen = np.sort(rng.choice(len(pool), size=size, replace=False))
        parts.append(pool.iloc[chosen])
    return pd.concat(parts, ignore_index=True)[CATALOG_COLUMNS]


def _pool(frame, sdss_class):
    """A class pool as catalog columns, sorted by id, duplicate positions removed."""
    if frame.empty:
        return pd.DataFrame(columns=CATALOG_COLUMNS)
    frame = frame.rename(columns=str.lower)
    frame["class"] = frame["class"].astype(str).str.strip()
    frame = frame[frame["class"] == sdss_class].copy()
    frame["id"] = [object_id(ra, dec) for ra, dec in zip(frame["ra"], frame["dec"])]
    frame["objid"] = frame["objid"].astype(str)
    frame["specobjid"] = frame["specobjid"].astype(str)
    frame = frame.sort_values("id", kind="stable")
    duplicated = frame["id"].duplicated()
    if duplicated.any():
        log.warning("%s pool: %d rows repeat a position already in the pool, kept the first: %s",
                    sdss_class, duplicated.sum(), frame["id"][duplicated].tolist()[:20])
    return frame[~duplicated].reset_index(drop=True)[CATALOG_COLUMNS]


def _with_columns(frame, columns, url):
    """``frame`` if it is empty or has ``columns``; else an InputError naming the service."""
    missing = [c for c in columns if c not in frame.columns]
    if len(frame.columns) and missing:
        raise InputError(f"sdss.skyserver_url ({url or conf.skyserver_baseurl})",
                         f"SQL answer lacks columns {missing} (it has {list(frame.columns)[:10]})")
    return frame


def query_catalog(sdss, classes, seed):
    """Query SkyServer and draw the seeded sample.

    Returns:
        (catalog DataFrame with CATALOG_COLUMNS, provenance dict with the SQL and the counts)
    """
    settings = query_settings(sdss, classes)
    release, url, timeout = settings["data_release"], sdss.get("skyserver_url"), sdss.get("timeout_s")
    queries = {"counts": count_query(settings)}
    counted = _with_columns(run_query(queries["counts"], release, url, timeout), ["class", "n"], url)
    counts = {c: 0 for c in settings["classes"]}
    for sdss_class, n in zip(counted.get("class", []), counted.get("n", [])):
        counts[str(sdss_class).strip()] = int(n)
    if settings["n_per_class"]:
        sizes = {c: settings["n_per_class"] for c in settings["classes"]}
    else:
        sizes = allocate(counts, settings["n_objects"])
    pools = {}
    for sdss_class in settings["classes"]:
        queries[sdss_class] = pool_query(settings, sdss_class)
        answer = _with_columns(run_query(queries[sdss_class], release, url, timeout),
                               [c for c in CATALOG_COLUMNS if c != "id"], url)
        pools[sdss_class] = _pool(answer, sdss_class)
    if not sum(sizes.values()):
        raise InputError("config", f"no object passes the sdss cuts (class counts {counts})")
    log.info("class counts %s, pool rows %s, sample %s", counts, {c: len(p) for c, p in pools.items()}, sizes)
    catalog = sample_pools(pools, sizes, seed)
    provenance = {
        "data_release": release,
        "skyserver_url": url or conf.skyserver_baseurl,
        "queries": queries,
        "class_counts": counts,
        "pool_rows": {c: len(p) for c, p in pools.items()},
        "sample_sizes": sizes,
        "seed": seed,
        "astroquery_version": astroquery.__version__,
        "retrieved_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return catalog, provenance


def save_catalog(catalog, provenance, catalog_path, sql_path, provenance_path):
    """Write the catalog CSV, the SQL it came from, and the provenance JSON, each atomically."""
    with atomic_path(sql_path) as tmp:
        header = f"-- SDSS DR{provenance['data_release']} via {provenance['skyserver_url']}\n"
        tmp.write_text(header + "".join(f"-- {name}\n{sql};\n\n" for name, sql in provenance["queries"].items()))
    with atomic_path(provenance_path) as tmp:
        tmp.write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    with atomic_path(catalog_path) as tmp:
        catalog.to_csv(tmp, index=False)
