"""Old home of the cutout manifest, kept so that earlier imports work: see ``astrotune.data.manifest``."""

from astrotune.data.manifest import COLUMNS, STATUSES, read_manifest, write_manifest

__all__ = ["COLUMNS", "STATUSES", "read_manifest", "write_manifest"]
