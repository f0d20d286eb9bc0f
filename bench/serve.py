"""Load test of `eth-assets serve` on 127.0.0.1: a fixed send rate (open loop, so a slow answer
does not slow the sender and tail latency is not hidden), bounded in count and time; p50 / p99
latency and throughput for known addresses (the JSON answer and the whole page, with exposure,
counterparties, activity and score history), for batches and for on-the-fly scoring, with the
snapshot switched once in the middle of each phase; then the time to screen a CSV of
`--screen` known addresses (median of 3), and what a chunked body of `--oversized-mib` MiB
costs the app. Not a test.

    python bench/serve.py --data-dir data [--rate 100] [--seconds 20] [--batch 100]

The data dir must hold a published address_scores snapshot (run the README's first command). The
app serves a copy of it without `--held-out` of its active addresses: their histories are in the
lake, so the app scores them on the fly, each requested once (no answer comes from the cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import polars as pl

from eth_assets.scores.snapshot import POINTER, publish_snapshot, read_current


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def open_loop(
    client: httpx.AsyncClient,
    make_request,
    rate: float,
    seconds: float,
    switch_at: float,
    switch,
) -> tuple[list[float], int, float]:
    """Send `rate` requests a second for `seconds`, each at its scheduled time whatever the
    answers; switch the snapshot once at `switch_at` seconds. Latencies (ms), failures, wall."""
    latencies: list[float] = []
    failures = 0
    start = time.perf_counter()
    total = int(rate * seconds)
    switched = False

    async def one() -> None:
        nonlocal failures
        method, url, body = make_request()
        sent = time.perf_counter()
        try:
            response = await client.request(method, url, json=body)
            if response.status_code != 200:
                failures += 1
        except httpx.HTTPError:
            failures += 1
        latencies.append((time.perf_counter() - sent) * 1000)

    tasks = []
    for index in range(total):
        due = start + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not switched and time.perf_counter() - start >= switch_at:
            switch()
            switched = True
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, failures, time.perf_counter() - start


def _manifest(pointer: dict[str, object]) -> dict[str, object]:
    """A pointer's manifest without what publish_snapshot writes itself."""
    return {k: v for k, v in pointer.items() if k not in ("file", "rows", "attachments")}


def _copies(folder: Path, pointer: dict[str, object]) -> dict[str, object]:
    """Attachment writers that copy the pointer's attachments from `folder`."""
    attached = dict(pointer.get("attachments") or {})
    return {
        suffix: (lambda path, source=folder / str(name): shutil.copyfile(source, path))
        for suffix, name in attached.items()
    }


def resident_mib(pid: int) -> float:
    """The resident memory of process `pid` in MiB (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def oversized_body(base: str, pid: int, mib: int) -> None:
    """A batch of `mib` MiB sent in chunks (no Content-Length): the answer's status, size and
    time, and the app's memory before and after."""

    def chunks():
        yield b'{"addresses": ["'
        for _ in range(mib * 16):
            yield b"a" * 65536
        yield b'"]}'

    before = resident_mib(pid)
    started = time.perf_counter()
    response = httpx.post(
        f"{base}/api/v1/addresses:batch",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=120,
    )
    print(
        f"a chunked batch body of {mib} MiB: {response.status_code}, {len(response.content)} "
        f"bytes back in {time.perf_counter() - started:.2f} s; the app's memory "
        f"{before:.0f} → {resident_mib(pid):.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=100, help="addresses per batch request")
    parser.add_argument("--batch-rate", type=float, default=5.0, help="batches per second")
    parser.add_argument("--fly-rate", type=float, default=2.0, help="on-the-fly lookups/s")
    parser.add_argument("--held-out", type=int, default=400, help="addresses left unscored")
    parser.add_argument("--screen", type=int, default=1000, help="addresses in the CSV screened")
    parser.add_argument(
        "--oversized-mib", type=int, default=50, help="size of the chunked body sent at the end"
    )
    args = parser.parse_args()
    source = Path(args.data_dir).resolve() / "published" / "address_scores"
    frame, manifest = read_current(source)
    if not (manifest.get("on_the_fly") or {}).get("allowed"):
        raise SystemExit(f"this snapshot does not allow on-the-fly scoring: {manifest}")
    # The app serves a copy of the current snapshot without the held-out addresses: neither the
    # switches nor the removal touch the data dir.
    data = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    published = data / "published" / "address_scores"
    held_out = (
        frame.filter(pl.col("has_activity")).sample(n=args.held_out, seed=0)["address"].to_list()
    )
    served = frame.filter(~pl.col("address").is_in(held_out))
    publish_snapshot(
        served, published, "bench-0", _manifest(manifest), attachments=_copies(source, manifest)
    )
    addresses = served["address"].to_list()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "eth_assets.serve.cli", "serve", "--data-dir", str(data),
         "--port", str(port), "--batch-limit", str(args.batch)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    switches = 0

    def switch() -> None:
        """Publish the current snapshot again under a new name: the app must move to it."""
        nonlocal switches
        switches += 1
        current = json.loads((published / POINTER).read_text())
        publish_snapshot(
            pl.read_parquet(published / current["file"]),
            published,
            f"bench-{int(time.time())}-{switches}",
            _manifest(current),
            attachments=_copies(published, current),
        )

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the app did not start")
            time.sleep(0.2)
        rng = random.Random(0)
        fresh = list(held_out)
        if len(fresh) < args.fly_rate * args.seconds:
            raise SystemExit("--held-out is smaller than --fly-rate × --seconds")
        phases = [
            (
                "known address",
                lambda: ("GET", f"/api/v1/addresses/{rng.choice(addresses)}", None),
                args.rate,
            ),
            (
                "known address, page",
                lambda: ("GET", f"/?address={rng.choice(addresses)}", None),
                args.rate,
            ),
            (
                "on the fly (distinct addresses)",
                lambda: ("GET", f"/api/v1/addresses/{fresh.pop()}", None),
                args.fly_rate,
            ),
            (
                f"batch of {args.batch}",
                lambda: (
                    "POST",
                    "/api/v1/addresses:batch",
                    {"addresses": rng.sample(addresses, min(args.batch, len(addresses)))},
                ),
                args.batch_rate,
            ),
        ]
        print(
            f"{len(addresses):,} addresses in the snapshot ({manifest.get('model')}), "
            f"{len(held_out)} active ones left out to be scored on the fly; "
            f"{args.seconds:.0f} s per phase, the snapshot switched once mid-phase\n"
        )
        print("| requests | sent/s | answered/s | p50 ms | p99 ms | failed |")
        print("|---|---:|---:|---:|---:|---:|")
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        for name, make_request, rate in phases:

            async def run(make_request=make_request, rate=rate):
                async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
                    return await open_loop(
                        client, make_request, rate, args.seconds, args.seconds / 2, switch
                    )

            latencies, failures, wall = asyncio.run(run())
            print(
                f"| {name} | {rate:.0f} | {len(latencies) / wall:.0f} | "
                f"{np.percentile(latencies, 50):.1f} | {np.percentile(latencies, 99):.1f} | "
                f"{failures} |"
            )
        screened = "\n".join(rng.choices(addresses, k=args.screen)).encode()
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            response = httpx.post(f"{base}/api/v1/screen?format=csv", content=screened, timeout=120)
            seconds.append(time.perf_counter() - started)
            if response.status_code != 200 or response.text.count("\n") != args.screen + 1:
                raise SystemExit(f"screening failed: {response.status_code} {response.text[:300]}")
        print(
            f"\nscreening a CSV of {args.screen:,} known addresses: median "
            f"{np.median(seconds):.2f} s of 3 ({', '.join(f'{x:.2f}' for x in seconds)} s)"
        )
        oversized_body(base, server.pid, args.oversized_mib)
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
