"""Galaxy10: resumable verified download from a local HTTP server, packing into the project's schema."""

import hashlib
import http.server
import re
import threading

import h5py
import numpy as np
import pytest

from astrotune.data.store import read_dataset
from astrotune.errors import InputError
from astrotune.sky.file_download import download_file
from astrotune.sky.galaxy10 import VARIANTS, check_classes, pack_galaxy10, resolve_download, stratified_indices
from astrotune.sky.http import RetryPolicy

DECALS = list(VARIANTS["decals"].class_names)
SDSS = list(VARIANTS["sdss"].class_names)
COUNTS = [5, 3, 3, 3, 2, 3, 3, 3, 3, 2]

FAST = RetryPolicy(retries=5, backoff_s=0, deadline_s=30, stall_s=5)
CAP = 100_000_000


def make_galaxy10(path, size=256, counts=COUNTS, decals=True):
    """A small file in Galaxy10's layout; image i is constant with value 3 * i, ra = i, dec = -i / 100."""
    labels = np.repeat(np.arange(len(counts)), counts).astype(np.uint8)
    np.random.default_rng(0).shuffle(labels)
    n = len(labels)
    images = np.broadcast_to((3 * np.arange(n, dtype=np.uint8))[:, None, None, None], (n, size, size, 3))
    with h5py.File(path, "w") as h5:
        h5.create_dataset("images", data=images, compression="gzip")
        h5.create_dataset("ans", data=labels)
        if decals:
            h5.create_dataset("ra", data=np.arange(n, dtype=np.float64))
            h5.create_dataset("dec", data=-np.arange(n, dtype=np.float64) / 100)
            h5.create_dataset("redshift", data=np.full(n, 0.05))
            h5.create_dataset("pxscale", data=np.full(n, 0.262))
    return labels


class _Server:
    """State of the test server: payload, Range headers seen, injected faults."""

    def __init__(self, payload):
        self.payload = payload
        self.ranges = []
        self.drop_after = None
        self.ignore_range = False


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 serving ``/Galaxy10_DECals.h5`` with Range support."""
    state = _Server(b"")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path != "/Galaxy10_DECals.h5":
                self.send_error(404)
                return
            header = self.headers.get("Range")
            state.ranges.append(header)
            data, start = state.payload, 0
            if header and not state.ignore_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", header).group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.drop_after is not None:
                body, state.drop_after = body[:state.drop_after], None
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/Galaxy10_DECals.h5"
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def galaxy10_bytes(tmp_path):
    """Bytes and SHA256 of a small Galaxy10 DECaLS-layout file."""
    path = tmp_path / "source.h5"
    make_galaxy10(path)
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def test_resumes_partial_file_with_range_and_packs(server, galaxy10_bytes, tmp_path):
    data, digest = galaxy10_bytes
    server.payload = data
    dest = tmp_path / "resources" / "Galaxy10_DECals.h5"
    dest.parent.mkdir()
    dest.with_name(dest.name + ".part").write_bytes(data[:10_000])

    download_file(server.url, dest, digest.upper(), max_bytes=CAP, policy=FAST)

    assert server.ranges == ["bytes=10000-"]
    assert dest.read_bytes() == data
    assert not dest.with_name(dest.name + ".part").exists()
    n = pack_galaxy10(dest, tmp_path / "dataset.h5", variant="decals", classes=DECALS, image_size=32,
                      sha256=digest)
    assert n == sum(COUNTS)


def test_dropped_connection_is_resumed_in_process(server, galaxy10_bytes, tmp_path):
    data, digest = galaxy10_bytes
    server.payload, server.drop_after = data, 20_000
    dest = tmp_path / "Galaxy10_DECals.h5"

    download_file(server.url, dest, digest, max_bytes=CAP, policy=RetryPolicy(retries=2, backoff_s=0, deadline_s=30, stall_s=5))

    assert server.ranges[0] is None and len(server.ranges) == 2
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", server.ranges[1]).group(1))
    assert 0 < resumed_at <= 20_000
    assert dest.read_bytes() == data


def test_server_ignoring_range_restarts_from_zero(server, galaxy10_bytes, tmp_path):
    data, digest = galaxy10_bytes
    server.payload, server.ignore_range = data, True
    dest = tmp_path / "Galaxy10_DECals.h5"
    dest.with_name(dest.name + ".part").write_bytes(b"stale bytes of another file")

    download_file(server.url, dest, digest, max_bytes=CAP, policy=FAST)

    assert server.ranges == ["bytes=27-"]
    assert dest.read_bytes() == data


def test_complete_partial_file_is_verified_after_416(server, galaxy10_bytes, tmp_path):
    data, digest = galaxy10_bytes
    server.payload = data
    dest = tmp_path / "Galaxy10_DECals.h5"
    dest.with_name(dest.name + ".part").write_bytes(data)

    download_file(server.url, dest, digest, max_bytes=CAP, policy=FAST)

    assert server.ranges == [f"bytes={len(data)}-"]
    assert dest.read_bytes() == data


def test_wrong_checksum_fails_and_moves_the_file_aside(server, galaxy10_bytes, tmp_path):
    data, _ = galaxy10_bytes
    server.payload = data
    dest = tmp_path / "Galaxy10_DECals.h5"

    with pytest.raises(InputError, match="SHA256 mismatch"):
        download_file(server.url, dest, "0" * 64, max_bytes=CAP, policy=FAST)

    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()
    assert dest.with_name(dest.name + ".rejected").read_bytes() == data


def test_missing_checksum_and_http_errors_are_input_errors(server, tmp_path):
    server.payload = b"x"
    with pytest.raises(InputError, match="SHA256"):
        download_file(server.url, tmp_path / "a.h5", None, max_bytes=CAP)
    with pytest.raises(InputError, match="HTTP 404"):
        download_file(server.url.replace("DECals", "nope"), tmp_path / "a.h5", "0" * 64, max_bytes=CAP, policy=FAST)


def test_published_locations_and_overrides():
    assert resolve_download({"variant": "decals", "url": None, "sha256": None}) == (
        "Galaxy10_DECals.h5", "https://zenodo.org/records/10845026/files/Galaxy10_DECals.h5",
        "19aefc477c41bb7f77ff07599a6b82a038dc042f889a111b0d4d98bb755c1571")
    assert resolve_download({"variant": "sdss", "url": "http://mirror/G.h5", "sha256": "ab" * 32}) == (
        "Galaxy10.h5", "http://mirror/G.h5", "ab" * 32)


def test_pack_keeps_every_image_with_coordinates_and_provenance(tmp_path):
    labels = make_galaxy10(tmp_path / "g.h5")
    pack_galaxy10(tmp_path / "g.h5", tmp_path / "out.h5", variant="decals", classes=DECALS, image_size=32,
                  seed=1, sha256="abc", config_hash="cafe", chunk_size=7)

    packed = read_dataset(tmp_path / "out.h5")
    n = len(labels)
    assert packed.images.shape == (n, 32, 32, 3)
    assert packed.class_names == DECALS
    np.testing.assert_array_equal(packed.labels, labels)
    np.testing.assert_array_equal(packed.ra, np.arange(n))
    np.testing.assert_array_equal(packed.dec, -np.arange(n) / 100)
    np.testing.assert_array_equal(packed.images[:, 5, 7, 1], 3 * np.arange(n))
    assert packed.ids[3] == "galaxy10_decals_00003"
    provenance = packed.provenance
    assert (provenance["source"], provenance["pixel_scale"], provenance["original_size"]) == (
        "galaxy10_decals", 0.262, 256)
    assert (provenance["image_size"], provenance["sha256"], provenance["config_hash"]) == (32, "abc", "cafe")


def test_stratified_subsample_is_seeded_and_chunk_independent(tmp_path):
    labels = make_galaxy10(tmp_path / "g.h5")
    runs = {}
    for name, seed, chunk in (("a", 5, 3), ("b", 5, 1000), ("c", 6, 3)):
        pack_galaxy10(tmp_path / "g.h5", tmp_path / f"{name}.h5", variant="decals", classes=DECALS,
                      image_size=48, n_per_class=2, seed=seed, chunk_size=chunk)
        runs[name] = read_dataset(tmp_path / f"{name}.h5")

    a = runs["a"]
    assert np.bincount(a.labels, minlength=10).tolist() == [2] * 10
    index = np.array([int(i.rsplit("_", 1)[1]) for i in a.ids])
    np.testing.assert_array_equal(a.labels, labels[index])
    np.testing.assert_array_equal(a.images[:, 0, 0, 0], 3 * index)
    np.testing.assert_array_equal(a.images, runs["b"].images)
    assert list(a.ids) == list(runs["b"].ids)
    assert list(a.ids) != list(runs["c"].ids)
    assert a.provenance["n_per_class"] == 2 and a.provenance["n_original"] == len(labels)


def test_small_classes_keep_all_their_images():
    labels = np.array([0] * 5 + [1] * 2)
    kept = stratified_indices(labels, 3, seed=0)
    assert np.bincount(labels[kept]).tolist() == [3, 2]
    np.testing.assert_array_equal(stratified_indices(labels, None, seed=0), np.arange(7))


def test_pack_sdss_layout_without_coordinates(tmp_path):
    labels = make_galaxy10(tmp_path / "g.h5", size=69, decals=False)
    pack_galaxy10(tmp_path / "g.h5", tmp_path / "out.h5", variant="sdss", classes=SDSS, image_size=64)

    packed = read_dataset(tmp_path / "out.h5")
    assert packed.images.shape == (len(labels), 64, 64, 3)
    assert np.isnan(packed.ra).all() and np.isnan(packed.dec).all()
    assert packed.provenance["source"] == "galaxy10_sdss"
    assert packed.provenance["pixel_scale"] == 0.396 and packed.provenance["original_size"] == 69


def test_class_names_must_match_the_variant(tmp_path):
    check_classes(DECALS, "decals")
    with pytest.raises(InputError, match="dataset.classes"):
        check_classes(["GALAXY", "STAR", "QSO"], "decals")
    make_galaxy10(tmp_path / "g.h5")
    with pytest.raises(InputError, match="dataset.classes"):
        pack_galaxy10(tmp_path / "g.h5", tmp_path / "out.h5", variant="decals", classes=SDSS, image_size=32)
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.parametrize("defect, message", [
    ("no_ans", "missing dataset 'ans'"),
    ("bad_label", "outside 0..9"),
    ("not_hdf5", "not a readable HDF5 file"),
])
def test_bad_source_file_is_named(tmp_path, defect, message):
    path = tmp_path / "g.h5"
    if defect == "not_hdf5":
        path.write_bytes(b"<html>error</html>")
    else:
        with h5py.File(path, "w") as h5:
            h5.create_dataset("images", data=np.zeros((2, 8, 8, 3), np.uint8))
            if defect == "bad_label":
                h5.create_dataset("ans", data=np.array([0, 10], np.uint8))
    with pytest.raises(InputError, match=message) as info:
        pack_galaxy10(path, tmp_path / "out.h5", variant="decals", classes=DECALS, image_size=32)
    assert str(path) in str(info.value)
    assert not list(tmp_path.glob("out.h5*"))
