"""Shared pieces of the predict tests: a small saved workflow model, a cutout server, the CLI in a
bounded subprocess, and file fingerprints to show that nothing was changed."""

import hashlib
import io
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

CLASSES = ["GALAXY", "STAR", "QSO"]
SIDE = 32
PROVENANCE = {"source": "sdss_query", "data_release": "DR16", "pixel_scale": 0.4, "original_size": 64,
              "image_size": SIDE, "config_hash": "abc"}
MEMORY_LIMIT = 1_500_000_000  # address space of a CLI run that fails before Keras is imported
CLI = "import sys; from astrotune.cli import main; sys.exit(main(sys.argv[1:]))"


def save_workflow_model(path, provenance=PROVENANCE, classes=CLASSES):
    """A CompactCNN classifier as train_model builds it (random weights), saved with metadata."""
    import keras

    from astrotune.models.metadata import attach_metadata
    from astrotune.models.zoo import build_classifier, save_model

    keras.utils.set_random_seed(0)
    model, _ = build_classifier("CompactCNN", len(classes), (SIDE, SIDE, 3), "none")
    attach_metadata(model, provenance, classes)
    save_model(model, path)
    return model


def run_cli(args, timeout=60, memory=MEMORY_LIMIT):
    """``astrotune`` in a fresh interpreter under an address-space limit and a timeout."""
    command = ["prlimit", f"--as={memory}", sys.executable, "-c", CLI, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def one_line_error(stderr, expected):
    """The CLI's error: exactly one line, starting with ``astrotune: error:``, holding ``expected``."""
    lines = [line for line in stderr.splitlines() if not line.startswith(("INFO:", "WARNING:"))]
    errors = [line for line in lines if line.startswith("astrotune: error:")]
    assert len(errors) == 1 and expected in errors[0], stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return errors[0]


def fingerprint(*paths):
    """sha256 of every file under ``paths`` (recursively), keyed by path."""
    found = {}
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        found |= {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    return found


def jpeg_bytes(side, seed=0):
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


class CutoutServer:
    """A loopback getjpeg endpoint answering every request with one JPEG of ``side`` pixels."""

    def __init__(self, side):
        body = jpeg_bytes(side)
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.body = body

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def corrupt_chunk(path, name, index=1):
    """Overwrite the middle of chunk ``index`` of a compressed dataset with garbage."""
    with h5py.File(path, "r") as h5:
        info = h5[name].id.get_chunk_info(index)
    with open(path, "r+b") as handle:
        handle.seek(info.byte_offset + info.size // 4)
        handle.write(b"\xff\x00garbage" * max(1, info.size // 20))
