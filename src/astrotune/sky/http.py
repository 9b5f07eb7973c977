"""The one HTTP policy of every download: User-Agent, retry rules, backoff, bounded streamed reads.

Every request is bounded three ways: a stall limit (no byte for ``stall_s`` seconds), an overall
deadline per request (``deadline_s``, covering redirects, headers and body), and a byte cap on the
body (checked against Content-Length first, then while streaming). Redirects are followed only on
the configured host. Timeouts, connection errors, 429 and 5xx are retried with exponential backoff
and jitter, a Retry-After header wins; other HTTP errors are not retried.
"""

import email.utils
import http.client
import logging
import random
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from astrotune import __version__

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 120.0
MAX_RETRY_AFTER_S = 600.0
MAX_REDIRECTS = 5
READ_SIZE = 1 << 16


def user_agent():
    """``astrotune/<version>`` plus the project URL from the package metadata when it has one."""
    try:
        urls = metadata.metadata("astrotune").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    url = urls[0].split(",", 1)[-1].strip() if urls else ""
    return f"astrotune/{__version__}" + (f" (+{url})" if url else "")


def new_session():
    """A ``requests.Session`` that sends the project's User-Agent."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent()
    return session


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to ask.

    Attributes:
        retries: Extra attempts after a transient failure.
        backoff_s: Base of the exponential backoff (with jitter) between attempts.
        deadline_s: Overall time limit of one request (redirects, headers and body).
        stall_s: Longest wait for the connection or for the next byte.
    """

    retries: int = 5
    backoff_s: float = 1.0
    deadline_s: float = 60.0
    stall_s: float = 10.0


class HttpFailure(Exception):
    """A failed attempt; ``retry`` tells whether asking again may help, ``wait`` is a Retry-After."""

    def __init__(self, message, retry, wait=None):
        super().__init__(message)
        self.retry = retry
        self.wait = wait


class GaveUp(Exception):
    """The last failure after every allowed attempt; ``attempts`` counts them."""

    def __init__(self, message, attempts):
        super().__init__(message)
        self.attempts = attempts


def retryable_status(status):
    """Whether an HTTP status may change on a second request (429 and 5xx)."""
    return status == 429 or status >= 500


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


class Hold:
    """A not-before time shared by workers: one Retry-After holds back every request."""

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


_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              urllib3.exceptions.HTTPError, http.client.HTTPException, ConnectionError)


def with_retries(attempt, policy, hold=None, what=""):
    """Call ``attempt()`` until it returns, retrying transient failures within ``policy``.

    Returns:
        (the attempt's result, number of attempts)

    Raises:
        GaveUp: with the last failure's message, when it cannot be retried or the retries are spent.
    """
    hold = hold or Hold()
    number = 0
    while True:
        number += 1
        hold.wait()
        try:
            return attempt(), number
        except HttpFailure as err:
            failure = err
        except (requests.Timeout, urllib3.exceptions.ReadTimeoutError):
            failure = HttpFailure(f"stalled: no byte for {policy.stall_s:g} s", retry=True)
        except _TRANSIENT as err:
            failure = HttpFailure(f"connection error ({type(err).__name__}: {err})", retry=True)
        if not failure.retry or number > policy.retries:
            raise GaveUp(str(failure), number) from failure
        log.debug("attempt %d of %s: %s", number, what, failure)
        if failure.wait is not None:
            hold.extend(failure.wait)
        else:
            time.sleep(backoff_seconds(policy.backoff_s, number))


def open_stream(session, url, policy, deadline, headers=None):
    """GET ``url`` streamed, following redirects only on the host of ``url``.

    Args:
        deadline: ``time.monotonic()`` value by which the whole request must be done.

    Returns:
        The open ``requests.Response`` (use it as a context manager).
    """
    host = urlsplit(url).hostname
    for _ in range(MAX_REDIRECTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HttpFailure(f"no complete answer within {policy.deadline_s:g} s", retry=True)
        stall = min(policy.stall_s, remaining)
        response = session.get(url, headers=headers, stream=True, allow_redirects=False, timeout=(stall, stall))
        if not response.is_redirect:
            return response
        target = urljoin(url, response.headers.get("Location", ""))
        response.close()
        if urlsplit(target).hostname != host or urlsplit(target).scheme not in ("http", "https"):
            raise HttpFailure(f"redirect to {target!r} refused: only {host} is allowed", retry=False)
        url = target
    raise HttpFailure(f"more than {MAX_REDIRECTS} redirects", retry=False)


def iter_body(response, max_bytes, deadline, policy, offset=0):
    """Yield the body's chunks; stop at the deadline or past ``max_bytes`` (counting ``offset``).

    Each read returns what one receive brings, so a slow trickle meets the deadline within one
    stall limit.
    """
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and offset + int(length) > max_bytes:
        raise HttpFailure(f"answer of {offset + int(length)} bytes exceeds the cap of {max_bytes}", retry=False)
    received = offset
    while True:
        chunk = response.raw.read1(READ_SIZE, decode_content=True)
        if not chunk:
            return
        received += len(chunk)
        if received > max_bytes:
            raise HttpFailure(f"answer exceeds the cap of {max_bytes} bytes", retry=False)
        yield chunk
        if time.monotonic() > deadline:
            raise HttpFailure(f"answer not complete within {policy.deadline_s:g} s "
                              f"({received} bytes so far)", retry=True)


def read_body(response, max_bytes, deadline, policy):
    """The whole body as bytes, bounded as in ``iter_body``; a short body is a retryable failure."""
    data = b"".join(iter_body(response, max_bytes, deadline, policy))
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and len(data) != int(length) and "Content-Encoding" not in response.headers:
        raise HttpFailure(f"body ended at byte {len(data)} of {length}", retry=True)
    return data


def status_failure(response):
    """An HttpFailure describing a non-success answer (retryable for 429 and 5xx)."""
    status = response.status_code
    return HttpFailure(f"HTTP {status} {response.reason}", retry=retryable_status(status),
                       wait=retry_after_seconds(response.headers.get("Retry-After")))
