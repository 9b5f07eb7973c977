"""Issue 11, bounded downloads: hostile SkyServer answers cost at most a byte cap, a deadline and a stall limit.

The cutout cases run the real download_cutouts script entry point against a loopback stand-in,
under a memory limit and a timeout; the large-file client is called in process.
"""

import time

import pandas as pd
import pytest

from astrotune.data.manifest import read_manifest
from astrotune.errors import InputError
from astrotune.sky.file_download import download_file
from astrotune.sky.http import RetryPolicy
from astrotune.sky.skyserver import CutoutSettings, cutout_url

from hostile import MARKER, assert_clean_failure, run_script

CLASSES = ["GALAXY", "STAR", "QSO"]
HOSTILE = ["huge", "huge_unsized", "bomb", "trickle", "stall", "redirect_off"]


@pytest.fixture
def server(shared_data):
    from skyserver_standin import SkyServerStandIn

    with SkyServerStandIn(shared_data, hang_s=4.0) as standin:
        yield standin


@pytest.fixture
def elsewhere(shared_data):
    """A second loopback server under another host name: nothing may ever be requested from it."""
    from skyserver_standin import SkyServerStandIn

    with SkyServerStandIn(shared_data) as other:
        yield other


def catalog_for(shared_data, n, folder):
    rows = pd.read_csv(shared_data / "sdss-dr14-skyserver-10k.csv").iloc[:n]
    catalog = pd.DataFrame({"id": [f"obj{i:03d}" for i in range(n)], "ra": rows["ra"].to_numpy(),
                            "dec": rows["dec"].to_numpy(), "class": rows["class"].to_numpy()})
    catalog.to_csv(folder / "catalog.csv", index=False)
    return catalog


def cutouts_config(url, **changes):
    return {"base_url": url, "data_release": 16, "scale": 0.4, "size": 128, "opt": "", "concurrency": 4,
            "timeout_s": 2.0, "stall_s": 0.5, "retries": 1, "backoff_s": 0.01, "shards": 1, **changes}


def download(tmp_path, cutouts, max_failed_fraction):
    log = tmp_path / "logs" / "download_cutouts.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    manifest = tmp_path / "cutouts" / "manifest_0.csv"
    start = time.monotonic()
    result = run_script("download_cutouts", input={"catalog": str(tmp_path / "catalog.csv")},
                        output={"manifest": str(manifest)}, log=log, wildcards={"shard": "0"}, timeout=60,
                        params={"images": str(tmp_path / "cutouts" / "images"), "cutouts": cutouts,
                                "classes": CLASSES, "max_failed_fraction": max_failed_fraction},
                        config={"cutouts": cutouts})
    return result, manifest, log, time.monotonic() - start


def test_hostile_answers_are_capped_timed_out_and_listed(server, elsewhere, shared_data, tmp_path):
    catalog = catalog_for(shared_data, 12, tmp_path)
    elsewhere.redirect_to = ""
    server.redirect_to = elsewhere.url.replace("127.0.0.1", "localhost")
    for row, kind in zip(catalog.itertuples(), HOSTILE):
        server.add_fault(row.ra, row.dec, kind)
    recovered = catalog.iloc[len(HOSTILE):len(HOSTILE) + 2]
    server.add_fault(recovered.ra.iloc[0], recovered.dec.iloc[0], "wrong_size", times=1)
    server.add_fault(recovered.ra.iloc[1], recovered.dec.iloc[1], "redirect_same")

    result, manifest_path, log, elapsed = download(tmp_path, cutouts_config(server.url), 1.0)

    assert result.returncode == 0, result.stderr
    assert elapsed < 30  # the 4 s stalls and the 1 byte / 0.2 s trickle are cut at 0.5 s and 2 s
    manifest = read_manifest(manifest_path).set_index("id")
    errors = dict(zip(HOSTILE, manifest["error"].iloc[:len(HOSTILE)]))
    assert (manifest["status"].iloc[:len(HOSTILE)] == "failed").all()
    assert "exceeds the cap" in errors["huge"] and "exceeds the cap" in errors["huge_unsized"]
    assert "JPEG header claims a decompression bomb, not decoded" in errors["bomb"]
    assert "not complete within 2 s" in errors["trickle"]
    assert "stalled: no byte for 0.5 s" in errors["stall"]
    assert "redirect to 'http://localhost" in errors["redirect_off"] and "refused" in errors["redirect_off"]
    assert not elsewhere.paths
    assert manifest.loc["obj006", ["status", "attempts"]].tolist() == ["ok", 2]  # wrong size, then right
    assert manifest.loc["obj007", "status"] == "ok"  # redirected on the same host
    assert (manifest["status"].iloc[len(HOSTILE):] == "ok").all()
    assert "Traceback" not in result.stderr + log.read_text()


def test_shard_over_the_failure_limit_fails_cleanly(server, shared_data, tmp_path):
    catalog = catalog_for(shared_data, 3, tmp_path)
    server.add_fault(catalog.ra[0], catalog.dec[0], "bomb")
    result, manifest, log, _ = download(tmp_path, cutouts_config(server.url, retries=0), 0.0)
    assert_clean_failure(result, "1 of 3 cutouts of shard 0 failed", outputs=[manifest], log=log,
                         searched=[tmp_path / "cutouts"])
    assert "obj000: JPEG header claims a decompression bomb" in result.stderr


def test_large_file_download_is_capped_and_confined(server, elsewhere, shared_data, tmp_path):
    settings = CutoutSettings(base_url=server.url, size=128, scale=0.4)
    row = pd.read_csv(shared_data / "sdss-dr14-skyserver-10k.csv").iloc[0]
    url = cutout_url(settings, row.ra, row.dec)
    fast = RetryPolicy(retries=3, backoff_s=0.01, deadline_s=5, stall_s=1)
    for kind, message in [("huge", "exceeds the cap of 1000000"), ("huge_unsized", "exceeds the cap of 1000000"),
                          ("redirect_off", "refused: only 127.0.0.1 is allowed")]:
        server.redirect_to = elsewhere.url.replace("127.0.0.1", "localhost")
        server.add_fault(row.ra, row.dec, kind)
        before = sum(server.requests.values())
        dest = tmp_path / kind / "file.h5"
        with pytest.raises(InputError, match=message) as err:
            download_file(url, dest, "0" * 64, max_bytes=1_000_000, policy=fast)
        assert "after 1 attempt(s)" in str(err.value)  # not retried: the answer cannot get smaller
        assert sum(server.requests.values()) == before + 1
        assert not dest.exists() and not dest.with_name("file.h5.part").exists()
    assert not elsewhere.paths
    assert MARKER not in str(tmp_path)
