"""A loopback SkyServer stand-in for tests and benchmarks.

Answers the two endpoints astrotune uses, on 127.0.0.1 at an ephemeral port:
- ``/dr{N}/en/tools/search/x_results.aspx?cmd=<SQL>&format=csv`` (what astroquery's SDSS.query_sql
  calls): runs the SQL on an in-memory SQLite copy of the real catalog CSV (``TOP n`` becomes
  ``LIMIT n``; tables SpecObj and PhotoObj; unique synthetic ids because the published ones were
  rounded) and answers ``#Table1`` + CSV like SkyServer;
- ``/dr{N}/SkyServerWS/ImgCutout/getjpeg?ra=&dec=&...``: real SDSS JPEG bytes, the file chosen
  deterministically from (ra, dec).

Faults are injected per (ra, dec) with ``add_fault``; ``latency`` seconds are added to every answer.
Hostile answers among them: ``huge`` (a body of ``huge_bytes`` zeros, with or without Content-Length),
``bomb`` (a small JPEG whose header claims 30000x30000 pixels), ``trickle`` (one byte every
``trickle_s``), ``stall`` (half the body, then silence for ``hang_s``), ``redirect_off`` (302 to
``redirect_to``, another host) and ``redirect_same`` (302 to the same URL on this host, answered
normally). ``sql_answer`` = (status, body) replaces every SQL answer.
``requests`` counts getjpeg requests per (ra, dec) key, ``request_times`` records when they came;
``sql``, ``paths`` and ``user_agents`` record what was asked and by whom.
"""

import csv
import hashlib
import io
import re
import socket
import sqlite3
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from PIL import Image

FAULTS = {"500", "503", "429", "timeout", "reset", "truncated", "html", "wrong_size", "black", "huge", "huge_unsized",
          "bomb", "trickle", "stall", "redirect_off", "redirect_same"}
HTML_ERROR = (b"<!DOCTYPE html><html><head><title>SkyServer error</title></head>"
              b"<body><h1>Server Error in '/' Application.</h1></body></html>")


def key(ra, dec):
    """The stand-in's object key: (ra, dec) with 7 decimals, as the client sends them."""
    return f"{float(ra):.7f},{float(dec):.7f}"


def bomb_jpeg(data, side=30000):
    """``data`` (a JPEG) with the size in its first SOF header patched to ``side`` x ``side``."""
    data = bytearray(data)
    index = 2
    while index < len(data):
        marker, length = data[index + 1], struct.unpack(">H", data[index + 2:index + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            data[index + 5:index + 9] = struct.pack(">HH", side, side)
            return bytes(data)
        index += 2 + length
    raise ValueError("no SOF marker")


def load_catalog_db(csv_path):
    """An SQLite database with SpecObj and PhotoObj tables filled from the real catalog CSV."""
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE PhotoObj (objID INTEGER PRIMARY KEY, ra REAL, dec REAL, u REAL, g REAL, "
               "r REAL, i REAL, z REAL, clean INTEGER)")
    db.execute("CREATE TABLE SpecObj (specObjID INTEGER PRIMARY KEY, bestObjID INTEGER, class TEXT, "
               "z REAL, zWarning INTEGER)")
    with open(csv_path, newline="") as handle:
        for n, row in enumerate(csv.DictReader(handle)):
            objid, specobjid = 1237640000000000000 + n, 3000000000000000000 + n
            db.execute("INSERT INTO PhotoObj VALUES (?,?,?,?,?,?,?,?,1)",
                       (objid, row["ra"], row["dec"], row["u"], row["g"], row["r"], row["i"], row["z"]))
            db.execute("INSERT INTO SpecObj VALUES (?,?,?,?,0)", (specobjid, objid, row["class"], row["redshift"]))
    return db


class SkyServerStandIn:
    """Threaded HTTP server; use as a context manager. ``url`` is its base URL."""

    def __init__(self, data_dir, latency=0.0, hang_s=2.0):
        data_dir = Path(data_dir)
        cutouts = data_dir / "sdss-dr16-cutouts-3k"
        with open(cutouts / "manifest.csv", newline="") as handle:
            self.files = [cutouts / row["path"] for row in csv.DictReader(handle)]
        self.db = load_catalog_db(data_dir / "sdss-dr14-skyserver-10k.csv")
        self.db_lock = threading.Lock()
        self.latency = latency
        self.hang_s = hang_s
        self.huge_bytes = 300_000_000
        self.trickle_s = 0.2
        self.redirect_to = ""
        self.sql_answer = None
        self.faults = {}
        self.requests = Counter()
        self.request_times = {}
        self.sql = []
        self.user_agents = set()
        self.paths = []
        self._lock = threading.Lock()
        self.server = None
        self._bytes = {}

    def add_fault(self, ra, dec, kind, times=None, retry_after=1):
        """Answer (ra, dec) with fault ``kind`` the first ``times`` requests (None: always)."""
        assert kind in FAULTS, kind
        self.faults[key(ra, dec)] = {"kind": kind, "times": times, "retry_after": retry_after}

    def image_bytes(self, ra, dec):
        """The JPEG bytes served for (ra, dec)."""
        index = int(hashlib.sha256(key(ra, dec).encode()).hexdigest()[:12], 16) % len(self.files)
        if index not in self._bytes:
            self._bytes[index] = self.files[index].read_bytes()
        return self._bytes[index]

    def _fault_for(self, k):
        with self._lock:
            self.requests[k] += 1
            self.request_times.setdefault(k, []).append(time.monotonic())
            fault = self.faults.get(k)
            if fault is None or (fault["times"] is not None and self.requests[k] > fault["times"]):
                return None
            return fault

    def query(self, sql):
        """Run SkyServer-flavoured SQL; returns SkyServer's CSV answer text."""
        self.sql.append(sql)
        top = re.match(r"(?is)\s*SELECT\s+TOP\s+(\d+)\s+(.*)$", sql)
        if top:
            sql = f"SELECT {top.group(2)} LIMIT {top.group(1)}"
        with self.db_lock:
            cursor = self.db.execute(sql)
            rows = cursor.fetchall()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([d[0] for d in cursor.description])
        writer.writerows(rows)
        return "#Table1\n" + out.getvalue()

    def __enter__(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

            def log_message(self, *args):
                pass

            def send(self, status, body, content_type, headers=()):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                standin.user_agents.add(self.headers.get("User-Agent", ""))
                standin.paths.append(url.path)
                if standin.latency:
                    time.sleep(standin.latency)
                if re.fullmatch(r"/dr\d+/en/tools/search/x_results\.aspx", url.path):
                    self.answer_sql(params)
                elif re.fullmatch(r"/dr\d+/SkyServerWS/ImgCutout/getjpeg", url.path):
                    self.answer_jpeg(params)
                else:
                    self.send(404, b"not found", "text/plain")

            def answer_sql(self, params):
                if standin.sql_answer is not None:
                    status, body = standin.sql_answer
                    self.send(status, body.encode() if isinstance(body, str) else body, "text/plain")
                    return
                try:
                    text = standin.query(params["cmd"])
                except (KeyError, sqlite3.Error) as err:
                    self.send(200, f"error_message: {err}".encode(), "text/plain")
                    return
                self.send(200, text.encode(), "text/plain")

            def answer_jpeg(self, params):
                k = key(params["ra"], params["dec"])
                body = standin.image_bytes(params["ra"], params["dec"])
                fault = standin._fault_for(k)
                kind = fault["kind"] if fault else None
                if kind in ("500", "503", "429"):
                    headers = [("Retry-After", str(fault["retry_after"]))] if kind != "500" else []
                    self.send(int(kind), b"<html><body>busy</body></html>", "text/html", headers)
                elif kind == "timeout":
                    time.sleep(standin.hang_s)
                    self.close_connection = True
                    self.send(200, body, "image/jpeg")
                elif kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                elif kind == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                elif kind in ("huge", "huge_unsized"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    if kind == "huge":
                        self.send_header("Content-Length", str(standin.huge_bytes))
                    self.end_headers()
                    self.close_connection = True
                    block = b"\xff\xd8\xff" + bytes(1 << 20)
                    try:
                        for _ in range(standin.huge_bytes >> 20):
                            self.wfile.write(block)
                    except OSError:
                        pass
                elif kind == "bomb":
                    self.send(200, bomb_jpeg(body), "image/jpeg")
                elif kind in ("trickle", "stall"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.close_connection = True
                    try:
                        if kind == "stall":
                            self.wfile.write(body[: len(body) // 2])
                            self.wfile.flush()
                            time.sleep(standin.hang_s)
                        else:
                            for byte in body:
                                self.wfile.write(bytes([byte]))
                                self.wfile.flush()
                                time.sleep(standin.trickle_s)
                    except OSError:
                        pass
                elif kind in ("redirect_off", "redirect_same"):
                    target = standin.redirect_to + self.path if kind == "redirect_off" else self.path
                    if kind == "redirect_same":
                        standin.faults.pop(k, None)  # the redirected request is answered normally
                    self.send(302, b"", "text/plain", [("Location", target)])
                elif kind == "html":
                    self.send(200, HTML_ERROR, "text/html")
                elif kind in ("wrong_size", "black"):
                    image = Image.open(io.BytesIO(body)).convert("RGB")
                    image = image.resize((64, 64)) if kind == "wrong_size" else Image.new("RGB", image.size)
                    out = io.BytesIO()
                    image.save(out, "JPEG")
                    self.send(200, out.getvalue(), "image/jpeg")
                else:
                    self.send(200, body, "image/jpeg")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

            def handle_error(self, request, client_address):
                pass  # resets and hung-up clients are part of the test

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self):
        """Base URL, e.g. http://127.0.0.1:54321."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
