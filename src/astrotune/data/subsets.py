"""Select the train/val/test images of a packed data set by the split file."""

import numpy as np
import pandas as pd

from astrotune.errors import InputError


def read_split(path):
    """Read a split CSV (id, subset) into a dict id -> subset."""
    frame = pd.read_csv(path, dtype={"id": str, "subset": str})
    if list(frame.columns) != ["id", "subset"]:
        raise InputError(path, f"columns must be ['id', 'subset'], got {list(frame.columns)}")
    return dict(zip(frame["id"], frame["subset"]))


def subset_indices(dataset, split, subset, source="split"):
    """Indices of ``dataset`` rows assigned to ``subset``; every split id must exist in the data set."""
    known = set(dataset.ids)
    missing = [i for i in split if i not in known]
    if missing:
        raise InputError(source, f"column 'id': {len(missing)} ids not in the packed data set, e.g. {missing[:5]}")
    return np.array([i for i, object_id in enumerate(dataset.ids) if split.get(object_id) == subset], dtype=int)
