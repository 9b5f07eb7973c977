"""The cutout manifest: one row per object, the hand-over from every image source to packing.

Columns: id, ra, dec, class, path, status, attempts, bytes, sha256, error, url.
``path`` is relative to the manifest file's folder; ``status`` is ok, blank or failed.
"""

from pathlib import Path

import pandas as pd

from astrotune.errors import InputError
from astrotune.io import atomic_path

COLUMNS = ["id", "ra", "dec", "class", "path", "status", "attempts", "bytes", "sha256", "error", "url"]
STATUSES = {"ok", "blank", "failed"}


def write_manifest(rows, path):
    """Write manifest rows (dicts or a DataFrame) atomically with the standard column order."""
    frame = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in frame:
            frame[column] = ""
    frame = frame[COLUMNS]
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_manifest(path):
    """Read and check a manifest; ``path`` values come back absolute."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"id": str, "class": str, "path": str, "sha256": str,
                                          "error": str, "url": str, "status": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, f"cannot read manifest ({err})") from err
    missing = [column for column in COLUMNS if column not in frame]
    if missing:
        raise InputError(path, f"missing columns {missing}")
    bad_status = sorted(set(frame["status"]) - STATUSES)
    if bad_status:
        raise InputError(path, f"column 'status' has unknown values {bad_status}")
    duplicated = frame["id"][frame["id"].duplicated()].tolist()
    if duplicated:
        raise InputError(path, f"column 'id' has duplicates {duplicated[:10]}")
    frame["path"] = [str(path.parent / p) if isinstance(p, str) and p else "" for p in frame["path"]]
    return frame
