"""Download one large file over HTTP: resume a partial ``.part`` file with Range, verify its SHA256."""

import logging
import os
import re
import time
from pathlib import Path

import requests
from tqdm import tqdm

from astrotune.errors import InputError
from astrotune.io import sha256_file

log = logging.getLogger(__name__)

USER_AGENT = "astrotune (layer-wise fine-tuning workflow; python-requests)"
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class _Retry(Exception):
    """A transient failure: try again, resuming from the bytes already on disk."""


def download_file(url, dest, sha256, *, timeout=60.0, retries=5, backoff=2.0, chunk_size=1 << 20,
                  session=None):
    """Download ``url`` to ``dest`` and verify its SHA256.

    Bytes go to ``dest`` + ``.part`` first; an existing ``.part`` (from an interrupted run) is resumed
    with an HTTP Range request. Only a file whose SHA256 matches is renamed onto ``dest``; a mismatching
    file is moved to ``dest`` + ``.rejected`` and an InputError is raised.

    Args:
        url: HTTP(S) address of the file.
        dest: Final path.
        sha256: Expected hex SHA256 (case-insensitive); required.
        timeout: Seconds to wait for the connection and between received bytes.
        retries: Extra attempts after a timeout, connection error, 429, 5xx or short body.
        backoff: Seconds before the first retry, doubled for each further one.
        chunk_size: Bytes per read.
        session: Optional ``requests.Session``.

    Returns:
        ``dest`` as a Path.
    """
    if not sha256 or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise InputError(url, f"no valid expected SHA256 configured (got {sha256!r}); "
                              "set the published checksum of the file")
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    for attempt in range(retries + 1):
        try:
            _fetch(session, url, part, timeout, chunk_size)
            break
        except (_Retry, requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as err:
            if attempt == retries:
                raise InputError(url, f"download failed after {retries + 1} attempts ({err}); "
                                      f"{part} is kept and the next run resumes it") from err
            delay = backoff * 2 ** attempt
            log.warning("attempt %d of %s failed (%s); retrying in %.1f s", attempt + 1, url, err, delay)
            time.sleep(delay)
    _verify(url, part, dest, sha256.lower())
    return dest


def _fetch(session, url, part, timeout, chunk_size):
    """One GET of the missing bytes of ``part`` (all of them when it does not exist)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.get(url, headers=headers, stream=True, timeout=timeout) as response:
        status = response.status_code
        if status == 416 and offset:
            log.info("%s: server has no bytes after %d; verifying the partial file as complete", url, offset)
            return
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}")
        if status not in (200, 206):
            raise InputError(url, f"HTTP {status} {response.reason}")
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Retry(f"server resumed at byte {start} instead of {offset}; restarting")
            mode = "ab"
        else:
            if offset:
                log.info("%s: server ignored the Range request; downloading from the start", url)
            offset, mode = 0, "wb"
            total = int(response.headers.get("Content-Length", 0)) or None
        if offset:
            log.info("resuming %s at byte %d", url, offset)
        with open(part, mode) as handle, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                              desc=part.name, mininterval=5) as bar:
            for chunk in response.iter_content(chunk_size):
                handle.write(chunk)
                bar.update(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Retry(f"body ended at byte {size} of {total}")


def _content_range(header):
    """(first byte, total size or None) of a ``Content-Range: bytes a-b/n`` header."""
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if not match:
        raise _Retry(f"206 answer with unusable Content-Range {header!r}")
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _verify(url, part, dest, sha256):
    """Rename ``part`` onto ``dest`` if its SHA256 matches, else move it aside and raise."""
    digest = sha256_file(part)
    if digest != sha256:
        rejected = dest.with_name(dest.name + ".rejected")
        os.replace(part, rejected)
        raise InputError(url, f"SHA256 mismatch: expected {sha256}, got {digest}; the file was moved to "
                              f"{rejected} (delete it, then fix the URL or the expected checksum)")
    os.replace(part, dest)
    log.info("%s verified (sha256 %s)", dest, digest)
