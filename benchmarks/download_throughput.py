"""Cutout download throughput against the loopback SkyServer stand-in with added latency.

At concurrency c and latency L per request, the ideal throughput is c / L requests per second; the
downloader should reach at least 80% of it. The stand-in runs in its own process so that it does not
share the downloader's interpreter lock.

With ``--stalls F``, a fraction F of the objects stalls mid-body on its first answer for ``--hang``
seconds (a real SkyServer does this); the same objects are then downloaded twice, with the stall
limit ``cutouts.stall_s`` at ``--stall-s`` and with no stall limit but the overall deadline, and both
times are printed.

Usage: .venv/bin/python benchmarks/download_throughput.py [--latency 0.1] [--concurrency 1 4 16]
       .venv/bin/python benchmarks/download_throughput.py --stalls 0.08 --hang 20 --concurrency 4
Exit status 1 when a ratio is below --min-ratio.
"""

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from astrotune.sky.skyserver import CutoutSettings, download_shard  # noqa: E402


def serve(data_dir, latency, connection, hang_s=2.0):
    """Run the stand-in until told to stop; send its URL first. Messages (ra, dec) add a one-time stall."""
    from skyserver_standin import SkyServerStandIn

    with SkyServerStandIn(data_dir, latency=latency, hang_s=hang_s) as standin:
        connection.send(standin.url)
        while (message := connection.recv()) != "stop":
            standin.add_fault(*message, "stall", times=1)
            connection.send("ok")


def measure(url, rows, concurrency, folder, stall_s=30.0, retries=0):
    """Seconds to download ``rows`` at ``concurrency``."""
    settings = CutoutSettings(base_url=url, size=128, scale=0.4, concurrency=concurrency, timeout_s=30,
                              stall_s=stall_s, retries=retries, backoff_s=0.0)
    start = time.perf_counter()
    manifest = download_shard(rows, folder / "manifest_0.csv", folder / "images", settings, shard=0, shards=1,
                              max_failed_fraction=0.0)
    elapsed = time.perf_counter() - start
    assert (manifest["status"] == "ok").all(), manifest["status"].value_counts()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder with sdss-dr16-cutouts-3k/ and sdss-dr14-skyserver-10k.csv")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every answer")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=float, default=3.0, help="ideal duration of each measurement")
    parser.add_argument("--min-ratio", type=float, default=0.8)
    parser.add_argument("--stalls", type=float, default=0.0, help="fraction of objects whose first body stalls")
    parser.add_argument("--hang", type=float, default=20.0, help="seconds a stalled body stays silent")
    parser.add_argument("--stall-s", type=float, default=2.0, help="cutouts.stall_s of the stall run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    catalog = pd.read_csv(args.data / "sdss-dr14-skyserver-10k.csv")
    catalog["id"] = [f"bench{i:05d}" for i in range(len(catalog))]
    here, there = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve,
                                                          args=(args.data, args.latency, there, args.hang))
    server.start()
    url = here.recv()
    results, offset = [], 0
    try:
        if args.stalls:
            return stall_comparison(args, catalog, url, here)
        for concurrency in args.concurrency:
            n = max(int(args.seconds * concurrency / args.latency), concurrency)
            rows = catalog.iloc[offset:offset + n][["id", "ra", "dec", "class"]].reset_index(drop=True)
            offset += n
            with tempfile.TemporaryDirectory() as folder:
                elapsed = measure(url, rows, concurrency, Path(folder))
            ideal = concurrency / args.latency
            results.append((concurrency, n, elapsed, n / elapsed, ideal, n / elapsed / ideal))
    finally:
        here.send("stop")
        server.join()

    print(f"\nlatency {args.latency * 1000:.0f} ms per request, 128x128 JPEG cutouts from the loopback stand-in")
    print(f"{'concurrency':>11} {'objects':>8} {'seconds':>8} {'req/s':>8} {'ideal':>8} {'ratio':>6}")
    for concurrency, n, elapsed, rate, ideal, ratio in results:
        print(f"{concurrency:>11} {n:>8} {elapsed:>8.2f} {rate:>8.1f} {ideal:>8.1f} {ratio:>6.2f}")
    ratios = "  ".join(f"c={c}: {ratio:.2f}" for c, *_, ratio in results)
    print(f"ratios (>= {args.min_ratio} wanted): {ratios}")
    return 0 if all(r[-1] >= args.min_ratio for r in results) else 1


def stall_comparison(args, catalog, url, connection):
    """Time the same objects, a fraction stalling once, with and without the stall limit."""
    concurrency = args.concurrency[0]
    n = max(int(args.seconds * concurrency / args.latency), concurrency)
    timings = []
    for offset, stall_s, label in ((0, 30.0, "deadline only (30 s)"),
                                   (n, args.stall_s, f"stall limit {args.stall_s:g} s")):
        rows = catalog.iloc[offset:offset + n][["id", "ra", "dec", "class"]].reset_index(drop=True)
        stalled = rows.sample(frac=args.stalls, random_state=0)
        for row in stalled.itertuples():
            connection.send((row.ra, row.dec))
            connection.recv()
        with tempfile.TemporaryDirectory() as folder:
            timings.append((label, len(stalled), measure(url, rows, concurrency, Path(folder), stall_s, retries=2)))
    print(f"\n{n} objects at concurrency {concurrency}, {args.stalls:.0%} stall once for {args.hang:g} s, "
          f"latency {args.latency * 1000:.0f} ms")
    for label, stalls, seconds in timings:
        print(f"{label:>24}: {seconds:6.1f} s ({n / seconds:.1f} images/s, {stalls} stalls)")
    print(f"speed-up from stall detection: {timings[0][2] / timings[1][2]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
