"""The cutout download journal: which files on disk are verified downloads of which request.

Each verified cutout is appended to an append-only, fsync'ed journal (``.journal_<shard>.jsonl`` in
the images folder), which survives SIGKILL and Snakemake's deletion of incomplete outputs: a rerun
reuses every object whose file is present and whose sha256 and URL match a journal record. Images
are not fsync'ed (that costs 4 ms per file here): a file that a power loss left incomplete fails the
sha256 check on the rerun and is downloaded again.

Nothing here deletes or replaces a file astrotune did not write: a folder is used only when it is
new, empty, or already holds a journal (``claim_folder``); before a cutout is written, an intent
record naming its id is appended to ``.intents_<shard>.jsonl``, and only the files (and
``.<id>.jpg.*.part`` temp files) of ids with a record may be removed or replaced on a rerun. A user's
own ``<id>.jpg`` stays, and its object is reported as failed.
"""

import json
import os
import threading
from pathlib import Path

from astrotune.errors import InputError
from astrotune.io import sha256_file

JOURNALS = ".journal_*.jsonl"
INTENTS = ".intents_*.jsonl"


class Journal:
    """Append-only JSON-lines record of verified cutouts, one file per shard.

    A record reaches the file (and so survives SIGKILL) before ``append`` returns; a background
    thread fsyncs the file as records come in, so that no download waits for the disk.
    """

    def __init__(self, folder, shard):
        self.path = Path(folder) / f".journal_{shard}.jsonl"
        self._lock = threading.Lock()
        self._fd = _open_append(self.path)
        self._intents = _open_append(Path(folder) / f".intents_{shard}.jsonl")
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
        os.close(self._intents)

    def intend(self, ident):
        """Record that this run is about to write ``<ident>.jpg`` (before its temp file exists)."""
        with self._lock:
            os.write(self._intents, (json.dumps({"id": ident}) + "\n").encode())

    @staticmethod
    def records(folder, pattern=JOURNALS):
        """Every readable record of every shard's journal (or intents); torn lines are ignored."""
        found = []
        for path in sorted(Path(folder).glob(pattern)):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    found.append(record)
        return found

    @staticmethod
    def verified(folder):
        """Records of verified cutouts keyed by (id, url, sha256)."""
        return {(r["id"], r["url"], r["sha256"]): r for r in Journal.records(folder)
                if isinstance(r.get("url"), str) and isinstance(r.get("sha256"), str)}

    @staticmethod
    def written_ids(folder):
        """Ids whose files a run of astrotune wrote (or was about to write) into ``folder``."""
        return {record["id"] for pattern in (JOURNALS, INTENTS) for record in Journal.records(folder, pattern)}


def _open_append(path):
    """Open a JSON-lines file for appending; end a line torn by a kill, so the next record stays readable."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if os.path.getsize(path) and not Path(path).read_bytes().endswith(b"\n"):
        os.write(fd, b"\n")
    return fd


def claim_folder(folder, what="cutouts folder", create=True):
    """Create ``folder`` or accept it when empty or already holding a cutout journal.

    Args:
        create: create the folder when it does not exist (False: only check).

    Raises:
        InputError: ``folder`` is a file, or a folder of other files that astrotune did not write.
    """
    folder = Path(folder)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(folder, f"{what}: not a folder (a file, link or device); choose a new folder")
    if not folder.exists() and not create:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    records = [*folder.glob(JOURNALS), *folder.glob(INTENTS)]
    odd = [path.name for path in records if path.is_symlink() or not path.is_file()]
    if odd:
        raise InputError(folder, f"{what}: {odd[0]} is not a regular file (a link, FIFO or folder); "
                                 "choose a new folder")
    if records:
        return folder
    if next(folder.iterdir(), None) is not None:
        raise InputError(folder, f"{what}: folder holds files astrotune did not write (no cutout journal); "
                                 "choose a new or empty folder")
    return folder


def remove_stale_temp_files(folder, names):
    """Delete temp files a killed run left for these image file names, when a journal shows that
    astrotune wrote them (anything else is untouched)."""
    ours = {f"{ident}.jpg" for ident in Journal.written_ids(folder)} & set(names)
    for path in Path(folder).glob(".*.part"):
        if path.name[1:-len(".part")].rsplit(".", 1)[0] in ours and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


def reusable(rows, folder, url_of):
    """Journal records of the rows whose file is present and verified, and the rows whose file
    astrotune did not write (left untouched, reported as failed).

    Unverified files that a journal shows astrotune wrote are deleted, to be downloaded again.

    Args:
        rows: DataFrame with id, ra, dec.
        folder: The images folder.
        url_of: ``url_of(row)``, the URL the row's file must have come from.

    Returns:
        (reused records by id, failed records by id)
    """
    verified, ours = Journal.verified(folder), Journal.written_ids(folder)
    reused, foreign = {}, {}
    for row in rows.itertuples():
        target = Path(folder) / f"{row.id}.jpg"
        if not (target.exists() or target.is_symlink()):
            continue
        if row.id not in ours or target.is_symlink() or not target.is_file():
            foreign[row.id] = {"id": row.id, "url": url_of(row), "status": "failed", "attempts": 0, "bytes": 0,
                               "sha256": "", "error": f"{target.name} exists and was not written by astrotune; "
                                                      "it is left as it is"}
            continue
        record = verified.get((row.id, url_of(row), sha256_file(target)))
        if record:
            reused[row.id] = record
        else:
            target.unlink()
    return reused, foreign
