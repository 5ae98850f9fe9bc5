"""Collection cycle benchmark: 200 sources, each on its own loopback address, each answering after 300 ms.

    .venv/bin/python bench/bench_cycle.py [--sources 200] [--latency 0.3] [--runs 5] [--database-url URL]

The feed server runs in a separate process (so it does not share the collector's GIL) and binds one
listening socket per address 127.0.1.1, 127.0.1.2, ... (every 127/8 address is loopback and counts as its
own host for the per-host limit). Issue #2's target: the whole cycle under 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpus import NOW, rss_document, titles

from tracker.config import Config, SourceConfig, load_config
from tracker.pipeline import run_once
from tracker.settings import Settings
from tracker.store.engine import dispose_engines, open_engine

SERVER = r"""
import asyncio, sys
n, latency, port, path = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = open(path, "rb").read()
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)

async def handle(reader, writer):
    try:
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        await asyncio.sleep(latency)
        writer.write(head + body)
        await writer.drain()
    finally:
        writer.close()

async def main():
    servers = [await asyncio.start_server(handle, f"127.0.1.{i + 1}", port, backlog=64) for i in range(n)]
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=200)
    ap.add_argument("--latency", type=float, default=0.3)
    ap.add_argument("--items", type=int, default=20, help="items per feed")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    if args.sources > 254:
        sys.exit("at most 254 sources (one per 127.0.1.x address)")

    tmp = Path(tempfile.mkdtemp(prefix="bench-cycle-"))
    feed = tmp / "feed.xml"
    feed.write_bytes(rss_document(titles(args.items), start=NOW, seed=1))
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(args.sources), str(args.latency), str(args.port), str(feed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        url = args.database_url or f"sqlite:///{tmp / 'cycle.db'}"
        config = Config(
            path="<bench>",
            settings=Settings(database_url=url, allow_private_networks=True),
            sources=[
                SourceConfig(name=f"s{i}", kind="rss", url=f"http://127.0.1.{i + 1}:{args.port}/feed")
                for i in range(args.sources)
            ],
            topics=load_config(None).topics,
        )
        engine = open_engine(url)
        walls, cpus = [], []
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            report = run_once(engine, config, force=True, alerts=False)
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            errors = [r for r in report.sources if r.error]
            assert len(report.sources) == args.sources and not errors, errors[:3]
        dispose_engines()
    finally:
        server.terminate()
        server.wait()
    print(
        f"cycle over {args.sources} sources, {args.latency * 1000:.0f} ms latency, {args.items} items each, {args.runs} runs"
    )
    print("| run | wall s | collector CPU s |")
    print("|---|---|---|")
    for i, (w, c) in enumerate(zip(walls, cpus, strict=True)):
        print(f"| {i + 1} | {w:.2f} | {c:.2f} |")
    print(f"| median | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} |")


if __name__ == "__main__":
    main()
