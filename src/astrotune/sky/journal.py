"""The cutout download journal: which files on disk are verified downloads of which request.

Each verified cutout is appended to an append-only, fsync'ed journal (``.journal_<shard>.jsonl`` in
the images folder), which survives SIGKILL and Snakemake's deletion of incomplete outputs: a rerun
reuses every object whose file is present and whose sha256 and URL match a journal record. Images
are not fsync'ed (that costs 4 ms per file here): a file that a power loss left incomplete fails the
sha256 check on the rerun and is downloaded again.
"""

import json
import os
import threading
from pathlib import Path

from astrotune.io import sha256_file


class Journal:
    """Append-only JSON-lines record of verified cutouts, one file per shard.

    A record reaches the file (and so survives SIGKILL) before ``append`` returns; a background
    thread fsyncs the file as records come in, so that no download waits for the disk.
    """

    def __init__(self, folder, shard):
        self.path = Path(folder) / f".journal_{shard}.jsonl"
        self._lock = threading.Lock()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if os.path.getsize(self.path) and not self.path.read_bytes().endswith(b"\n"):
            os.write(self._fd, b"\n")  # end a line torn by a kill, so the next record stays readable
        self._dirty = threading.Event()
        self._closing = False
        self._syncer = threading.Thread(target=self._sync, daemon=True)
        self._syncer.start()

    def _sync(self):
        while not self._closing:
            self._dirty.wait()
            self._dirty.clear()
            os.fsync(self._fd)

    def append(self, record):
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)
        self._dirty.set()

    def close(self):
        self._closing = True
        self._dirty.set()
        self._syncer.join()
        os.fsync(self._fd)
        os.close(self._fd)

    @staticmethod
    def verified(folder):
        """Records of every shard's journal keyed by (id, url, sha256); torn lines are ignored."""
        records = {}
        for path in sorted(Path(folder).glob(".journal_*.jsonl")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                    records[(record["id"], record["url"], record["sha256"])] = record
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue
        return records


def remove_stale_temp_files(folder, names):
    """Delete temp files left by a killed run for these image file names (others are untouched)."""
    for path in Path(folder).glob(".*.part"):
        if path.name[1:-len(".part")].rsplit(".", 1)[0] in names:
            path.unlink(missing_ok=True)


def reusable(rows, folder, url_of):
    """Journal records of the rows whose file is present and verified; unverified files are deleted.

    Args:
        rows: DataFrame with id, ra, dec.
        folder: The images folder.
        url_of: ``url_of(row)``, the URL the row's file must have come from.
    """
    verified = Journal.verified(folder)
    reused = {}
    for row in rows.itertuples():
        target = Path(folder) / f"{row.id}.jpg"
        if not target.exists():
            continue
        record = verified.get((row.id, url_of(row), sha256_file(target)))
        if record:
            reused[row.id] = record
        else:
            target.unlink()
    return reused
