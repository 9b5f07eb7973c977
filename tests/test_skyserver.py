"""SkyServer cutout downloader against the loopback stand-in: faults, validation, resume after SIGKILL."""

import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from email.utils import formatdate
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from astrotune.data.manifest import read_manifest
from astrotune.data.pack import pack
from astrotune.errors import InputError
from astrotune.io import sha256_file
from astrotune.sky.catalog import read_catalog
from astrotune.sky.http import retry_after_seconds
from astrotune.sky.journal import Journal
from astrotune.sky.skyserver import BadAnswer, CutoutSettings, cutout_url, download_shard, inspect_cutout, shard_rows


def jpeg(size, colour=None):
    image = Image.effect_noise((size, size), 60) if colour is None else Image.new("RGB", (size, size), colour)
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def test_cutout_url():
    settings = CutoutSettings(base_url="https://skyserver.sdss.org/", data_release=16, scale=0.4, size=128, opt="G")
    assert cutout_url(settings, 183.5313256941, -0.1) == (
        "https://skyserver.sdss.org/dr16/SkyServerWS/ImgCutout/getjpeg"
        "?ra=183.5313257&dec=-0.1000000&scale=0.4&width=128&height=128&opt=G")


def test_inspect_cutout():
    assert inspect_cutout(jpeg(32), 32) == "ok"
    assert inspect_cutout(jpeg(32, (0, 0, 0)), 32) == "blank"
    assert inspect_cutout(jpeg(32, (90, 90, 90)), 32) == "blank"
    cases = [(b"<html><body>error</body></html>", "HTML page", True),
             (b"Error: too busy", "non-JPEG answer", True),
             (jpeg(32)[:300], "undecodable JPEG", True),
             (jpeg(16), "image is 16x16, expected 32x32", True)]
    for data, message, retry in cases:
        with pytest.raises(BadAnswer, match=message) as err:
            inspect_cutout(data, 32)
        assert err.value.retry is retry


def test_retry_after_seconds():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert 8 <= retry_after_seconds(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert retry_after_seconds("100000") == 600.0


def test_shards_split_the_catalog_deterministically():
    catalog = pd.DataFrame({"id": [f"o{i}" for i in range(10)]})
    parts = [shard_rows(catalog, k, 3)["id"].tolist() for k in range(3)]
    assert parts[0] == ["o0", "o3", "o6", "o9"]
    assert sorted(sum(parts, [])) == sorted(catalog["id"])
    with pytest.raises(InputError, match="cutouts.shards"):
        shard_rows(catalog, 3, 3)


def make_catalog(shared_data, n, start=0):
    rows = pd.read_csv(shared_data / "sdss-dr14-skyserver-10k.csv").iloc[start:start + n]
    return pd.DataFrame({"id": [f"obj{i:04d}" for i in range(n)], "ra": rows["ra"].to_numpy(),
                         "dec": rows["dec"].to_numpy(), "class": rows["class"].to_numpy()})


def settings_for(server, **changes):
    return CutoutSettings(**{"base_url": server.url, "data_release": 16, "scale": 0.4, "size": 128,
                             "concurrency": 4, "timeout_s": 0.5, "retries": 2, "backoff_s": 0.01, **changes})


@pytest.fixture
def server(shared_data):
    from skyserver_standin import SkyServerStandIn

    with SkyServerStandIn(shared_data, hang_s=1.0) as standin:
        yield standin


def check_outcome(manifest_path, server, catalog):
    """Every object is a verified file with the manifest's sha256 or a failure with its reason."""
    manifest = read_manifest(manifest_path)
    assert manifest["id"].tolist() == catalog["id"].tolist()
    folder = manifest_path.parent / "images"
    for row in manifest.itertuples():
        if row.status == "failed":
            assert row.error and row.path == "" and not (folder / f"{row.id}.jpg").exists()
        else:
            assert sha256_file(row.path) == row.sha256 and os.path.getsize(row.path) == row.bytes
            if row.status == "ok":
                assert row.sha256 == hashlib.sha256(server.image_bytes(row.ra, row.dec)).hexdigest()
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".part")]
    return manifest.set_index("id")


def test_every_fault_is_retried_or_recorded(server, shared_data, tmp_path):
    catalog = make_catalog(shared_data, 16)
    transient = ["500", "503", "429", "timeout", "reset", "truncated"]
    persistent = ["html", "wrong_size", "black", "500"]
    for row, kind in zip(catalog.itertuples(), transient):
        server.add_fault(row.ra, row.dec, kind, times=1, retry_after=1)
    for row, kind in zip(catalog.iloc[len(transient):].itertuples(), persistent):
        server.add_fault(row.ra, row.dec, kind)
    start = time.monotonic()
    download_shard(catalog, tmp_path / "manifest_0.csv", tmp_path / "images", settings_for(server),
                   shard=0, shards=1, max_failed_fraction=1.0)
    assert time.monotonic() - start < 10
    manifest = check_outcome(tmp_path / "manifest_0.csv", server, catalog)
    for ident in catalog["id"][:6]:
        assert (manifest.loc[ident, "status"], manifest.loc[ident, "attempts"]) == ("ok", 2)
    assert manifest.loc["obj0006", ["status", "attempts"]].tolist() == ["failed", 3]
    assert "HTML page instead of a JPEG" in manifest.loc["obj0006", "error"]
    assert manifest.loc["obj0007", ["status", "attempts"]].tolist() == ["failed", 3]
    assert "image is 64x64, expected 128x128" in manifest.loc["obj0007", "error"]
    assert manifest.loc["obj0008", "status"] == "blank"
    assert manifest.loc["obj0009", ["status", "attempts", "error"]].tolist() == ["failed", 3,
                                                                                "HTTP 500 Internal Server Error"]
    assert (manifest["status"][10:] == "ok").all() and (manifest["attempts"][10:] == 1).all()
    retried_503 = server.request_times[f"{catalog.ra[1]:.7f},{catalog.dec[1]:.7f}"]
    assert retried_503[1] - retried_503[0] >= 0.95, "Retry-After: 1 was not honoured"
    assert all(agent.startswith("astrotune/0.1.0") for agent in server.user_agents)
    assert manifest.loc["obj0000", "url"].startswith(f"{server.url}/dr16/SkyServerWS/ImgCutout/getjpeg?ra=")


def test_rerun_skips_verified_files_and_retries_the_rest(server, shared_data, tmp_path):
    catalog = make_catalog(shared_data, 8)
    server.add_fault(catalog.ra[0], catalog.dec[0], "503", times=1, retry_after=0)
    settings = settings_for(server, retries=0)
    manifest_path, images = tmp_path / "manifest_0.csv", tmp_path / "images"
    first = download_shard(catalog, manifest_path, images, settings, 0, 1, max_failed_fraction=0.5)
    assert first["status"].tolist() == ["failed"] + ["ok"] * 7
    (images / "obj0001.jpg").write_bytes(b"corrupted")
    (images / ".obj0002.jpg.abc123xy.part").write_bytes(b"left by a killed run")
    (images / ".other.jpg.abc123xy.part").write_bytes(b"another shard's temp file")
    before = server.requests.copy()
    second = download_shard(catalog, manifest_path, images, settings, 0, 1, max_failed_fraction=0.0)
    asked_again = {ident for ident, row in zip(catalog["id"], catalog.itertuples())
                   if server.requests[f"{row.ra:.7f},{row.dec:.7f}"] > before[f"{row.ra:.7f},{row.dec:.7f}"]}
    assert asked_again == {"obj0000", "obj0001"}
    assert (second["status"] == "ok").all()
    (images / ".other.jpg.abc123xy.part").unlink()
    check_outcome(manifest_path, server, catalog)


def test_shard_above_failed_fraction_fails_with_the_list(server, shared_data, tmp_path):
    catalog = make_catalog(shared_data, 6)
    server.add_fault(catalog.ra[2], catalog.dec[2], "html")
    server.add_fault(catalog.ra[3], catalog.dec[3], "black")
    with pytest.raises(InputError, match=r"1 of 3 cutouts of shard 0 failed.*obj0002: HTML page"):
        download_shard(catalog, tmp_path / "manifest_0.csv", tmp_path / "images", settings_for(server, retries=0),
                       shard=0, shards=2, max_failed_fraction=0.2)
    assert not (tmp_path / "manifest_0.csv").exists()
    manifest = download_shard(catalog, tmp_path / "manifest_1.csv", tmp_path / "images",
                              settings_for(server, retries=0), shard=1, shards=2, max_failed_fraction=0.0)
    assert manifest["status"].tolist() == ["ok", "blank", "ok"]


RUNNER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from test_skyserver import run_in_process
    run_in_process(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
""")


def run_in_process(catalog_path, folder, url):
    """Download a catalog's single shard into ``folder`` (RUNNER does it in a new interpreter)."""
    settings = CutoutSettings(base_url=url, size=128, scale=0.4, concurrency=2, timeout_s=5, retries=1,
                              backoff_s=0.01)
    download_shard(read_catalog(catalog_path, ["GALAXY", "STAR", "QSO"]), folder / "manifest_0.csv",
                   folder / "images", settings, 0, 1, 0.0)


def test_sigkill_then_rerun_resumes_without_redownloading(server, shared_data, tmp_path):
    catalog = make_catalog(shared_data, 40, start=100)
    catalog.to_csv(tmp_path / "catalog.csv", index=False)
    run = tmp_path / "run"
    args = [sys.executable, "-c", RUNNER, str(Path(__file__).parent), str(tmp_path / "catalog.csv"), str(run),
            server.url]
    server.latency = 0.1
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if (run / "images").is_dir() and len(Journal.verified(run / "images")) >= 12:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (run / "manifest_0.csv").exists()
    verified = {record["id"] for record in Journal.verified(run / "images").values()}
    assert 12 <= len(verified) < len(catalog)

    server.latency = 0.0
    before = server.requests.copy()
    run_in_process(tmp_path / "catalog.csv", run, server.url)
    keys = {row.id: f"{row.ra:.7f},{row.dec:.7f}" for row in catalog.itertuples()}
    assert all(server.requests[keys[ident]] == before[keys[ident]] == 1 for ident in verified)
    assert all(server.requests[keys[ident]] >= 1 for ident in keys)
    resumed = check_outcome(run / "manifest_0.csv", server, catalog)

    reference = tmp_path / "reference"
    run_in_process(tmp_path / "catalog.csv", reference, server.url)
    uninterrupted = check_outcome(reference / "manifest_0.csv", server, catalog)
    columns = ["ra", "dec", "class", "path", "status", "bytes", "sha256", "url"]
    pd.testing.assert_frame_equal(resumed[columns].assign(path=resumed["path"].map(os.path.basename)),
                                  uninterrupted[columns].assign(path=uninterrupted["path"].map(os.path.basename)))
    packed = []
    for folder in (run, reference):
        pack([folder / "manifest_0.csv"], folder / "dataset.h5", folder / "skipped.csv", ["GALAXY", "STAR", "QSO"],
             64, max_failed_fraction=1.0)
        packed.append((folder / "dataset.h5").read_bytes())
    assert packed[0] == packed[1]
