"""SkyServer ImgCutout client: concurrent, retried, validated and resumable JPEG cutout downloads.

Every answer is checked before it counts: it must decode as a JPEG of the requested size (an HTML or
text page, or a truncated body, is a failure); a near-constant image (SkyServer answers outside its
footprint with a black JPEG) is recorded as ``blank``. Timeouts, connection errors, truncated or
non-JPEG bodies, 429 and 5xx are retried with exponential backoff and jitter (a Retry-After header
wins and holds back every worker); other HTTP errors and wrong-size images are not retried.

Files are written atomically (temp file + rename). Each verified cutout is then appended to an
append-only, fsync'ed journal (``.journal_<shard>.jsonl`` in the images folder), which survives SIGKILL and
Snakemake's deletion of incomplete outputs: a rerun skips every object whose file is present and
whose sha256 and URL match a journal record, and downloads the rest. Images are not fsync'ed (that
costs 4 ms per file here): a file that a power loss left incomplete
fails the sha256 check on the rerun and is downloaded again.
"""

import email.utils
import hashlib
import io
import json
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from importlib import metadata
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import requests
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from astrotune import __version__
from astrotune.errors import InputError
from astrotune.io import atomic_path, sha256_file
from astrotune.sky.manifest import write_manifest

log = logging.getLogger(__name__)

BLANK_STD = 1.0  # grey-level standard deviation below which a cutout counts as blank (real ones: > 2.5)
MAX_BACKOFF_S = 120.0
MAX_RETRY_AFTER_S = 600.0


def user_agent():
    """``astrotune/<version>`` plus the project URL from the package metadata when it has one."""
    try:
        urls = metadata.metadata("astrotune").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    url = urls[0].split(",", 1)[-1].strip() if urls else ""
    return f"astrotune/{__version__}" + (f" (+{url})" if url else "")


@dataclass(frozen=True)
class CutoutSettings:
    """What to request and how politely (the config's ``cutouts`` section)."""

    base_url: str = "https://skyserver.sdss.org"
    data_release: int = 16
    scale: float = 0.1
    size: int = 2048
    opt: str = ""
    concurrency: int = 4
    timeout_s: float = 60.0
    retries: int = 5
    backoff_s: float = 1.0

    @classmethod
    def from_config(cls, section):
        """Settings from a config section (keys the settings do not use are ignored)."""
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section})


def cutout_url(settings, ra, dec):
    """The getjpeg URL of a cutout centred on (ra, dec) in degrees."""
    query = urlencode({"ra": f"{ra:.7f}", "dec": f"{dec:.7f}", "scale": f"{settings.scale:g}",
                       "width": settings.size, "height": settings.size, "opt": settings.opt})
    return f"{settings.base_url.rstrip('/')}/dr{settings.data_release}/SkyServerWS/ImgCutout/getjpeg?{query}"


class BadAnswer(Exception):
    """A 200 answer that is not a usable cutout; ``retry`` tells whether asking again may help."""

    def __init__(self, message, retry):
        super().__init__(message)
        self.retry = retry


def inspect_cutout(data, size):
    """Return ``ok`` or ``blank`` for a valid ``size`` x ``size`` JPEG; raise BadAnswer otherwise."""
    if not data.startswith(b"\xff\xd8\xff"):
        snippet = " ".join(data[:120].decode("utf-8", "replace").split())
        kind = "HTML page" if b"<html" in data[:1000].lower() else "non-JPEG answer"
        raise BadAnswer(f"{kind} instead of a JPEG ({len(data)} bytes): {snippet!r}", retry=True)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            grey = np.asarray(image.convert("L"), dtype=np.float32)
            width, height = image.size
    except (UnidentifiedImageError, OSError) as err:
        raise BadAnswer(f"undecodable JPEG ({len(data)} bytes: {err})", retry=True) from err
    if (width, height) != (size, size):
        raise BadAnswer(f"image is {width}x{height}, expected {size}x{size}", retry=False)
    return "blank" if grey.std() < BLANK_STD else "ok"


def retry_after_seconds(value):
    """Seconds from a Retry-After header (delta seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def backoff_seconds(base, attempt):
    """Exponential backoff with jitter: uniform in [d/2, d], d = base * 2**(attempt-1), capped."""
    delay = min(base * 2 ** (attempt - 1), MAX_BACKOFF_S)
    return random.uniform(delay / 2, delay)


class _Hold:
    """A not-before time shared by the workers: one Retry-After holds back every request."""

    def __init__(self):
        self._lock = threading.Lock()
        self._until = 0.0

    def extend(self, seconds):
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self):
        delay = self._until - time.monotonic()
        if delay > 0:
            time.sleep(delay)


@dataclass
class Fetched:
    """Outcome of one object's requests."""

    status: str
    attempts: int
    data: bytes = b""
    error: str = ""


def fetch_cutout(session, url, settings, hold):
    """GET one cutout with retries; returns a Fetched (status ok, blank or failed)."""
    attempt = 0
    while True:
        attempt += 1
        hold.wait()
        wait = None
        try:
            response = session.get(url, timeout=settings.timeout_s)
            if response.status_code == 200:
                return Fetched(inspect_cutout(response.content, settings.size), attempt, response.content)
            error = f"HTTP {response.status_code} {response.reason}"
            retry = response.status_code == 429 or response.status_code >= 500
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        except requests.Timeout:
            error, retry = f"timeout after {settings.timeout_s:g} s", True
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
            error, retry = f"connection error ({type(err).__name__}: {err})", True
        except BadAnswer as err:
            error, retry = str(err), err.retry
        if not retry or attempt > settings.retries:
            return Fetched("failed", attempt, error=error)
        log.debug("attempt %d of %s: %s", attempt, url, error)
        if wait is not None:
            hold.extend(wait)
        else:
            time.sleep(backoff_seconds(settings.backoff_s, attempt))


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


def shard_rows(catalog, shard, shards):
    """The catalog rows of one shard: every ``shards``-th row starting at row ``shard``."""
    if not 0 <= shard < shards:
        raise InputError("cutouts.shards", f"shard {shard} does not exist (cutouts.shards = {shards})")
    return catalog.iloc[shard::shards].reset_index(drop=True)


def _remove_stale_temp_files(folder, names):
    """Delete temp files left by a killed run for this shard's images (other shards' are untouched)."""
    for path in Path(folder).glob(".*.part"):
        if path.name[1:-len(".part")].rsplit(".", 1)[0] in names:
            path.unlink(missing_ok=True)


def _reusable(rows, folder, settings):
    """Journal records of the rows whose file is present and verified; unverified files are deleted."""
    verified = Journal.verified(folder)
    reused = {}
    for row in rows.itertuples():
        target = Path(folder) / f"{row.id}.jpg"
        if not target.exists():
            continue
        record = verified.get((row.id, cutout_url(settings, row.ra, row.dec), sha256_file(target)))
        if record:
            reused[row.id] = record
        else:
            target.unlink()
    return reused


def download(rows, folder, settings, shard=0):
    """Download the cutouts of ``rows`` (id, ra, dec, ...) into ``folder``, resuming earlier runs.

    Returns:
        One record per row, in row order: id, url, status, attempts, bytes, sha256, error, file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(folder, {f"{ident}.jpg" for ident in rows["id"]})
    results = _reusable(rows, folder, settings)
    pending = [row for row in rows.itertuples() if row.id not in results]
    log.info("shard %d: %d objects, %d verified by an earlier run, %d to download",
             shard, len(rows), len(results), len(pending))
    local = threading.local()
    hold = _Hold()
    journal = Journal(folder, shard)

    def work(row):
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["User-Agent"] = user_agent()
        url = cutout_url(settings, row.ra, row.dec)
        fetched = fetch_cutout(local.session, url, settings, hold)
        record = {"id": row.id, "url": url, "status": fetched.status, "attempts": fetched.attempts,
                  "bytes": len(fetched.data), "sha256": "", "error": fetched.error}
        if fetched.status != "failed":
            with atomic_path(folder / f"{row.id}.jpg") as tmp:
                tmp.write_bytes(fetched.data)
            record["sha256"] = hashlib.sha256(fetched.data).hexdigest()
            journal.append(record)
        return record

    try:
        with ThreadPoolExecutor(settings.concurrency) as pool, \
                tqdm(total=len(rows), initial=len(results), desc=f"cutouts shard {shard}", unit="img",
                     mininterval=2.0) as progress:
            for future in as_completed([pool.submit(work, row) for row in pending]):
                record = future.result()
                results[record["id"]] = record
                progress.update()
    finally:
        journal.close()
    for record in results.values():
        record["file"] = str(folder / f"{record['id']}.jpg") if record["status"] != "failed" else ""
    return [results[ident] for ident in rows["id"]]


def download_shard(catalog, manifest_path, images_dir, settings, shard, shards, max_failed_fraction):
    """Download one shard of a validated catalog and write its manifest.

    Failed objects are recorded in the manifest (status ``failed`` with the reason); the packing step
    applies ``dataset.max_failed_fraction`` over all shards. This function raises instead of writing
    the manifest only when more than ``max_failed_fraction`` of its own objects failed (blank ones do
    not count: asking again cannot change them), so that a plain rerun retries just those.

    Returns:
        The manifest as a DataFrame.
    """
    rows = shard_rows(catalog, shard, shards)
    records = download(rows, images_dir, settings, shard)
    manifest = pd.DataFrame(records)
    manifest.insert(1, "ra", rows["ra"].to_numpy())
    manifest.insert(2, "dec", rows["dec"].to_numpy())
    manifest.insert(3, "class", rows["class"].to_numpy())
    manifest["path"] = [os.path.relpath(f, Path(manifest_path).parent) if f else "" for f in manifest["file"]]
    counts = manifest["status"].value_counts().to_dict()
    log.info("shard %d: %s", shard, ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    failed = manifest[manifest["status"] == "failed"]
    if len(manifest) and len(failed) / len(manifest) > max_failed_fraction:
        listing = "; ".join(f"{r.id}: {r.error}" for r in failed.itertuples())
        raise InputError(settings.base_url, f"{len(failed)} of {len(manifest)} cutouts of shard {shard} failed, "
                                            f"more than dataset.max_failed_fraction={max_failed_fraction} "
                                            f"(rerun to retry only these): {listing}")
    write_manifest(manifest.drop(columns="file"), manifest_path)
    return manifest
