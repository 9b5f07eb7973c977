"""Per-dataset config views: what the data rules read for each data set the workflow builds.

A study builds its own data set (``dataset.name``) and, with ``pretrain.source`` set, a pretraining
source data set beside it. The data rules (render, index, query, download, pack, split) read their
settings from the view of the data set their ``{dataset}`` wildcard names instead of the global
config: the study's view is the config itself (so its rules' parameters are unchanged), the
source's is the config with the source's sections merged over the study's (section by section:
keys the source leaves out keep the study's values) and its own seed. No Keras, no file access.
"""

# Config keys a data set's view replaces: its dataset section, seed, split and the sections of
# every source kind (the one its ``dataset.source`` names is used).
DATA_SECTIONS = ("dataset", "split", "synthetic", "sdss", "catalog", "cutouts", "galaxy10", "local_images")


def source_view(config):
    """The view of the pretraining source data set, or None when ``pretrain.source`` is unset.

    Raises:
        ValueError: the source has no ``dataset.name`` or the study's name.
    """
    source = (config.get("pretrain") or {}).get("source")
    if not source:
        return None
    name = (source.get("dataset") or {}).get("name")
    if not name:
        raise ValueError("pretrain.source.dataset.name: give the source data set a name of its own")
    if name == config["dataset"]["name"]:
        raise ValueError(f"pretrain.source.dataset.name: {name!r} is the study's dataset.name; the source "
                         "needs a name of its own (its files go to results/<name>/)")
    view = {key: value for key, value in config.items() if key != "pretrain"}
    for key in DATA_SECTIONS:
        if key in source:
            view[key] = dict(config.get(key) or {}) | dict(source[key] or {})
    view["seed"] = source.get("seed", config["seed"])
    return view


def dataset_views(config):
    """{data set name: its view}: the study's data set first, then the pretraining source if any."""
    views = {config["dataset"]["name"]: config}
    view = source_view(config)
    if view is not None:
        views[view["dataset"]["name"]] = view
    return views


def id_namespace(view):
    """What an object id means in this data set: ids of two data sets name the same object only in the
    same namespace. A synthetic sky numbers its objects from 1 whatever its seed, so its ids are
    qualified by the seed; survey ids (SDSS objids, Galaxy10 indices, file names) are global."""
    if view["dataset"]["source"] == "synthetic":
        return f"synthetic seed {view['seed']}"
    return ""
