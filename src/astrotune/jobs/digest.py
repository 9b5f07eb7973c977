"""The packed data set's SHA-256, hashed once per file and reused by every job that reads it.

The digest identifies the data in feature-cache keys and checkpoint fingerprints. Galaxy10's
packed file is GBs, and a study runs tens of cache and training jobs on it, so the digest is kept
in a sidecar ``<dataset>.sha256.json`` beside the file with the file's size and modification time;
a job whose file still has that size and time reads the digest instead of hashing again. A file
rewritten by packing gets a new time, and its digest is computed afresh.
"""

import json
import logging
import os
from pathlib import Path

from astrotune.io import atomic_path, sha256_file

log = logging.getLogger(__name__)


def sidecar_path(dataset_path):
    """Where the digest of ``dataset_path`` is kept."""
    dataset_path = Path(dataset_path)
    return dataset_path.with_name(f"{dataset_path.name}.sha256.json")


def _stamp(dataset_path):
    stat = os.stat(dataset_path)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def dataset_digest(dataset_path):
    """The hex SHA-256 of the packed data set, from its sidecar when that still describes the file,
    else computed and written to the sidecar (atomically)."""
    sidecar = sidecar_path(dataset_path)
    stamp = _stamp(dataset_path)
    try:
        stored = json.loads(sidecar.read_text())
        if {key: stored.get(key) for key in stamp} == stamp and len(stored.get("sha256", "")) == 64:
            return stored["sha256"]
    except (OSError, ValueError):
        pass
    digest = sha256_file(dataset_path)
    if _stamp(dataset_path) == stamp:  # unchanged while it was read
        try:
            with atomic_path(sidecar) as tmp:
                tmp.write_text(json.dumps(stamp | {"sha256": digest}))
        except OSError as err:  # a read-only folder: hash again next time
            log.info("could not keep the data set's digest in %s (%s)", sidecar, err)
    log.info("hashed %s (sha256 %s)", dataset_path, digest[:12])
    return digest
