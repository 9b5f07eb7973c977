"""Download one large file over HTTP: resume a partial ``.part`` file with Range, verify its SHA256."""

import logging
import os
import re
import time
from pathlib import Path

from tqdm import tqdm

from astrotune.errors import InputError
from astrotune.io import sha256_file
from astrotune.sky.http import (
    GaveUp,
    HttpFailure,
    RetryPolicy,
    iter_body,
    new_session,
    open_stream,
    status_failure,
    with_retries,
)

log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def download_file(url, dest, sha256, *, max_bytes, policy=RetryPolicy(), session=None):
    """Download ``url`` to ``dest`` and verify its SHA256.

    Bytes go to ``dest`` + ``.part`` first; an existing ``.part`` (from an interrupted run) is resumed
    with an HTTP Range request. Only a file whose SHA256 matches is renamed onto ``dest``; a mismatching
    file is moved to ``dest`` + ``.rejected`` and an InputError is raised.

    Args:
        url: HTTP(S) address of the file.
        dest: Final path.
        sha256: Expected hex SHA256 (case-insensitive); required.
        max_bytes: Byte cap of the whole file; a larger answer fails at once.
        policy: Retries, backoff, the deadline of each request and the stall limit (sky.http).
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
    session = session or new_session()
    try:
        with_retries(lambda: _fetch(session, url, part, max_bytes, policy), policy, what=url)
    except GaveUp as err:
        kept = f"; {part} is kept and the next run resumes it" if part.exists() else ""
        raise InputError(url, f"download failed after {err.attempts} attempt(s): {err}{kept}") from err
    _verify(url, part, dest, sha256.lower())
    return dest


def _fetch(session, url, part, max_bytes, policy):
    """One GET of the missing bytes of ``part`` (all of them when it does not exist)."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    deadline = time.monotonic() + policy.deadline_s
    with open_stream(session, url, policy, deadline, headers=headers) as response:
        status = response.status_code
        if status == 416 and offset:
            log.info("%s: server has no bytes after %d; verifying the partial file as complete", url, offset)
            return
        if status not in (200, 206):
            raise status_failure(response)
        if status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink(missing_ok=True)
                raise HttpFailure(f"server resumed at byte {start} instead of {offset}; restarting", retry=True)
            mode = "ab"
        else:
            if offset:
                log.info("%s: server ignored the Range request; downloading from the start", url)
            offset, mode = 0, "wb"
            total = int(response.headers.get("Content-Length", 0)) or None
        if total is not None and total > max_bytes:
            raise HttpFailure(f"file of {total} bytes exceeds the cap of {max_bytes}", retry=False)
        if offset:
            log.info("resuming %s at byte %d", url, offset)
        with open(part, mode) as handle, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                              desc=part.name, mininterval=5) as bar:
            try:
                for chunk in iter_body(response, max_bytes, deadline, policy, offset=offset):
                    handle.write(chunk)
                    bar.update(len(chunk))
            except HttpFailure as err:
                if not err.retry:
                    part.unlink()  # over the cap: nothing worth resuming
                raise
            finally:
                if not handle.closed:
                    handle.flush()
                    os.fsync(handle.fileno())
    size = part.stat().st_size
    if total is not None and size != total:
        raise HttpFailure(f"body ended at byte {size} of {total}", retry=True)


def _content_range(header):
    """(first byte, total size or None) of a ``Content-Range: bytes a-b/n`` header."""
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if not match:
        raise HttpFailure(f"206 answer with unusable Content-Range {header!r}", retry=True)
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
