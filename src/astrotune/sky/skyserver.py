"""SkyServer ImgCutout client: concurrent, retried, validated and resumable JPEG cutout downloads.

Every answer is checked before it counts: its body is capped (``max_body_bytes``), its JPEG header
must give the requested size before any pixel is decoded, and it must decode as a JPEG (an HTML or
text page, or a truncated body, is a failure); a near-constant image (SkyServer answers outside its
footprint with a black JPEG) is recorded as ``blank``. Requests follow the one HTTP policy of
``astrotune.sky.http``: a stall limit, an overall deadline, same-host redirects only, and retries with
backoff for transient failures, including bad answers such as a JPEG of the wrong size.

Files are written atomically (temp file + rename) and recorded in the shard's journal
(``astrotune.sky.journal``), so a rerun downloads only what is not yet verified.
"""

import hashlib
import io
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from astrotune.data.manifest import write_manifest
from astrotune.errors import InputError
from astrotune.io import atomic_path
from astrotune.sky.http import (
    GaveUp,
    Hold,
    HttpFailure,
    RetryPolicy,
    new_session,
    open_stream,
    read_body,
    status_failure,
    with_retries,
)
from astrotune.sky.journal import Journal, claim_folder, remove_stale_temp_files, reusable

log = logging.getLogger(__name__)

BLANK_STD = 1.0  # grey-level standard deviation below which a cutout counts as blank (real ones: > 2.5)


@dataclass(frozen=True)
class CutoutSettings:
    """What to request and how politely (the config's ``cutouts`` section).

    ``timeout_s`` is the overall deadline of one request, ``stall_s`` the longest wait for the next
    byte (a cutout normally arrives within a second or two).
    """

    base_url: str = "https://skyserver.sdss.org"
    data_release: int = 16
    scale: float = 0.1
    size: int = 2048
    opt: str = ""
    concurrency: int = 4
    timeout_s: float = 60.0
    stall_s: float = 10.0
    retries: int = 5
    backoff_s: float = 1.0

    @classmethod
    def from_config(cls, section):
        """Settings from a config section (keys the settings do not use are ignored)."""
        return cls(**{f.name: section[f.name] for f in fields(cls) if f.name in section})

    @property
    def policy(self):
        """The HTTP retry policy of these settings."""
        return RetryPolicy(retries=self.retries, backoff_s=self.backoff_s, deadline_s=self.timeout_s,
                           stall_s=min(self.stall_s, self.timeout_s))

    @property
    def max_body_bytes(self):
        """Byte cap of one answer: twice an uncompressed RGB image of the requested size, plus 1 MiB."""
        return 2 * 3 * self.size * self.size + (1 << 20)


def cutout_url(settings, ra, dec):
    """The getjpeg URL of a cutout centred on (ra, dec) in degrees."""
    query = urlencode({"ra": f"{ra:.7f}", "dec": f"{dec:.7f}", "scale": f"{settings.scale:g}",
                       "width": settings.size, "height": settings.size, "opt": settings.opt})
    return f"{settings.base_url.rstrip('/')}/dr{settings.data_release}/SkyServerWS/ImgCutout/getjpeg?{query}"


class BadAnswer(HttpFailure):
    """A 200 answer that is not a usable cutout; ``retry`` tells whether asking again may help."""


def inspect_cutout(data, size):
    """Return ``ok`` or ``blank`` for a valid ``size`` x ``size`` JPEG; raise BadAnswer otherwise.

    The size is read from the JPEG header before any pixel is decoded.
    """
    if not data.startswith(b"\xff\xd8\xff"):
        snippet = " ".join(data[:120].decode("utf-8", "replace").split())
        kind = "HTML page" if b"<html" in data[:1000].lower() else "non-JPEG answer"
        raise BadAnswer(f"{kind} instead of a JPEG ({len(data)} bytes): {snippet!r}", retry=True)
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            if image.size != (size, size):
                width, height = image.size
                raise BadAnswer(f"image is {width}x{height}, expected {size}x{size}", retry=True)
            image.load()
            grey = np.asarray(image.convert("L"), dtype=np.float32)
    except Image.DecompressionBombError as err:
        raise BadAnswer(f"JPEG header claims a decompression bomb, not decoded ({err})", retry=True) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise BadAnswer(f"undecodable JPEG ({len(data)} bytes: {err})", retry=True) from err
    return "blank" if grey.std() < BLANK_STD else "ok"


@dataclass
class Fetched:
    """Outcome of one object's requests."""

    status: str
    attempts: int
    data: bytes = b""
    error: str = ""


def fetch_cutout(session, url, settings, hold):
    """GET one cutout with retries; returns a Fetched (status ok, blank or failed)."""
    policy = settings.policy

    def attempt():
        deadline = time.monotonic() + policy.deadline_s
        with open_stream(session, url, policy, deadline) as response:
            if response.status_code != 200:
                raise status_failure(response)
            data = read_body(response, settings.max_body_bytes, deadline, policy)
        return inspect_cutout(data, settings.size), data

    try:
        (status, data), attempts = with_retries(attempt, policy, hold, url)
    except GaveUp as err:
        return Fetched("failed", err.attempts, error=str(err))
    return Fetched(status, attempts, data)


def shard_rows(catalog, shard, shards):
    """The catalog rows of one shard: every ``shards``-th row starting at row ``shard``."""
    if not 0 <= shard < shards:
        raise InputError("cutouts.shards", f"shard {shard} does not exist (cutouts.shards = {shards})")
    return catalog.iloc[shard::shards].reset_index(drop=True)


def download(rows, folder, settings, shard=0):
    """Download the cutouts of ``rows`` (id, ra, dec, ...) into ``folder``, resuming earlier runs.

    The public entry point for any list of positions (a catalog shard, or rows to predict on): files
    are ``<folder>/<id>.jpg``; ids must be safe file names (see ``astrotune.sky.catalog``).

    Args:
        rows: DataFrame with columns id, ra, dec (degrees).
        folder: Images folder (created; holds the resume journal of ``shard``); it must be new, empty or
            hold a journal, and files astrotune did not write are never replaced (their rows fail).
        settings: CutoutSettings.
        shard: Journal number, so that several downloads can share one folder.

    Returns:
        One record per row, in row order: id, url, status, attempts, bytes, sha256, error, file.
    """
    folder = claim_folder(folder)
    remove_stale_temp_files(folder, {f"{ident}.jpg" for ident in rows["id"]})
    results, foreign = reusable(rows, folder, lambda row: cutout_url(settings, row.ra, row.dec))
    pending = [row for row in rows.itertuples() if row.id not in results and row.id not in foreign]
    results |= foreign
    log.info("shard %d: %d objects, %d verified by an earlier run, %d to download",
             shard, len(rows), len(results), len(pending))
    local = threading.local()
    hold = Hold()
    journal = Journal(folder, shard)

    def work(row):
        if not hasattr(local, "session"):
            local.session = new_session()
        url = cutout_url(settings, row.ra, row.dec)
        fetched = fetch_cutout(local.session, url, settings, hold)
        record = {"id": row.id, "url": url, "status": fetched.status, "attempts": fetched.attempts,
                  "bytes": len(fetched.data), "sha256": "", "error": fetched.error}
        if fetched.status != "failed":
            journal.intend(row.id)
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
