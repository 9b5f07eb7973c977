"""Config helpers shared by the Snakefile and the scripts."""

import hashlib
import json

# Keys that only say how patiently or politely to talk to a server. They never change the bytes of an
# output, so they stay out of rule params and provenance hashes: changing them reruns nothing. Download
# scripts read them from the job's config instead.
NETWORK_KEYS = {
    "sdss": ("timeout_s",),
    "cutouts": ("concurrency", "timeout_s", "stall_s", "retries", "backoff_s"),
    "galaxy10": ("timeout_s", "deadline_s", "retries", "max_mb"),
}

# The config section that describes each data source's objects and images.
SOURCE_SECTIONS = {"synthetic": "synthetic", "sdss_query": "sdss", "catalog": "catalog",
                   "galaxy10": "galaxy10", "local_images": "local_images"}


def config_hash(*sections):
    """Short, stable hash of config sections (JSON with sorted keys)."""
    text = json.dumps(sections, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def output_settings(config, section):
    """``config[section]`` without its network keys: the settings that can change an output."""
    return {key: value for key, value in config[section].items() if key not in NETWORK_KEYS.get(section, ())}


def network_settings(config, section):
    """Only the network keys of ``config[section]`` (how to download, never what)."""
    return {key: value for key, value in config[section].items() if key in NETWORK_KEYS.get(section, ())}


def packing_sections(config):
    """The config values that define a packed data set's images (source, objects, sizes, seed).

    Cutout shards are left out: packing sorts objects by id, so the shard count cannot change it.
    """
    source = config["dataset"]["source"]
    sections = {"dataset": config["dataset"], source: output_settings(config, SOURCE_SECTIONS[source])}
    if source in ("synthetic", "sdss_query", "galaxy10"):
        sections["seed"] = config["seed"]  # draws the rendered sky or the sample
    if source in ("sdss_query", "catalog"):
        sections["cutouts"] = {k: v for k, v in output_settings(config, "cutouts").items() if k != "shards"}
    return sections


def packing_provenance(config):
    """Provenance attributes stored in the packed HDF5 file (its config_hash covers packing_sections)."""
    source = config["dataset"]["source"]
    if source == "synthetic":
        scale, size, release = config["synthetic"]["pixel_scale"], config["synthetic"]["size"], "synthetic"
    elif source in ("sdss_query", "catalog"):
        cut = config["cutouts"]
        scale, size, release = cut["scale"], cut["size"], f"DR{cut['data_release']}"
    else:
        scale, size, release = config["local_images"]["pixel_scale"] or "", "", ""
    return {
        "source": source,
        "data_release": release,
        "pixel_scale": scale,
        "original_size": size,
        "image_size": config["dataset"]["image_size"],
        "config_hash": config_hash(packing_sections(config)),
    }
