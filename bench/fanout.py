"""Kafka -> N SSE subscribers through the gateway, against nginx + nchan at the same N and rate.

For each target: N SSE clients spread over several processes, then ``rate`` messages/s for
``seconds``; every message carries its send time, every client records publish-to-arrival latency.
Prints delivered/expected, p50 and p99, and the gateway's RSS per idle connection.
``python -m bench.fanout --subscribers 1000 --rate 20`` (needs nginx with libnginx-mod-nchan).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiokafka import AIOKafkaProducer

from bench.run import gateway_config, process
from mesh.broker import EmbeddedKafka, free_port

__all__ = ["main"]

NCHAN = """
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  server {{
    listen 127.0.0.1:{port};
    location = /pub {{ nchan_publisher; nchan_channel_id bench; }}
    location = /sub {{ nchan_subscriber; nchan_channel_id bench; }}
    location = /ready {{ return 200; }}
  }}
}}
"""


@dataclass
class Result:
    name: str
    expected: int
    delivered: int
    p50_ms: float
    p99_ms: float


@contextmanager
def nchan(directory: Path, port: int) -> Iterator[str]:
    config = directory / "nginx.conf"
    config.write_text(NCHAN.format(dir=directory, port=port))
    command = ["nginx", "-c", str(config), "-p", str(directory), "-g", "daemon off;"]
    with process(command, f"http://127.0.0.1:{port}/ready"):
        yield f"http://127.0.0.1:{port}"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_clients(
    url: str, total: int, expected: int, seconds: float, workers: int, directory: Path
) -> list[tuple[subprocess.Popen[bytes], Path]]:
    clients = []
    for index in range(workers):
        share = total // workers + (1 if index < total % workers else 0)
        out = directory / f"clients-{index}.json"
        command = [
            sys.executable,
            "-m",
            "bench.sse_clients",
            url,
            str(share),
            str(expected),
            str(seconds),
            str(out),
        ]
        clients.append((subprocess.Popen(command, stdout=subprocess.PIPE), out))
    for proc, _ in clients:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("a load client could not open its streams")
    return clients


def collect(
    name: str, clients: list[tuple[subprocess.Popen[bytes], Path]], expected: int
) -> Result:
    latencies: list[float] = []
    connected = 0
    for proc, out in clients:
        proc.wait(300)
        data = json.loads(out.read_text())
        connected += data["connected"]
        latencies += data["latencies"]
    latencies.sort()
    return Result(
        name,
        expected * connected,
        len(latencies),
        percentile(latencies, 0.50),
        percentile(latencies, 0.99),
    )


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of ``ordered`` seconds, in milliseconds."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def publish_kafka(bootstrap: str, topic: str, rate: float, seconds: float) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    try:
        await paced(rate, seconds, lambda body: producer.send_and_wait(topic, body, key=b"k"))
    finally:
        await producer.stop()


async def publish_nchan(url: str, rate: float, seconds: float) -> None:
    async with ClientSession() as http:

        async def send(body: bytes) -> None:
            async with http.post(f"{url}/pub", data=body) as response:
                await response.read()

        await paced(rate, seconds, send)


async def paced(rate: float, seconds: float, send: Callable[[bytes], Awaitable[Any]]) -> None:
    count = int(rate * seconds)
    started = time.monotonic()
    for index in range(count):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(json.dumps({"ts": time.time(), "seq": index}).encode())


def run_target(
    name: str,
    sub_url: str,
    publish: Callable[[], Awaitable[None]],
    args: argparse.Namespace,
    directory: Path,
    pid: int | None,
) -> tuple[Result, float | None]:
    expected = int(args.rate * args.seconds)
    before = rss_kib(pid) if pid else 0
    clients = start_clients(
        sub_url, args.subscribers, expected, args.seconds + 20, args.workers, directory
    )
    per_connection = (rss_kib(pid) - before) / args.subscribers if pid else None
    asyncio.run(_run(publish))
    return collect(name, clients, expected), per_connection


async def _run(publish: Callable[[], Awaitable[None]]) -> None:
    await publish()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20, help="messages per second")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=4, help="load client processes")
    parser.add_argument(
        "--fetch-wait-ms", type=int, default=10, help="the gateway's kafka.fetch_max_wait_ms"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedKafka() as broker:
        directory = Path(tmp)
        gw_port, nchan_port = free_port(), free_port()
        config = gateway_config(
            directory, gw_port, broker.bootstrap, fetch_wait_ms=args.fetch_wait_ms
        )
        gateway = f"http://127.0.0.1:{gw_port}"
        mesh = [sys.executable, "-m", "mesh", "run", "--config", str(config)]
        results = []
        with nchan(directory, nchan_port) as nchan_url:
            reference, _ = run_target(
                "nginx+nchan",
                f"{nchan_url}/sub",
                lambda: publish_nchan(nchan_url, args.rate, args.seconds),
                args,
                directory,
                None,
            )
        with process(mesh, f"{gateway}/readyz") as gw:
            topic = "bench.fanout"
            asyncio.run(publish_kafka(broker.bootstrap, topic, 1, 0.001))  # create the topic
            mine, per_connection = run_target(
                "mesh",
                f"{gateway}/{topic}",
                lambda: publish_kafka(broker.bootstrap, topic, args.rate, args.seconds),
                args,
                directory,
                gw.pid,
            )
        results = [reference, mine]
    print(f"\n{args.subscribers} subscribers x {args.rate:g} messages/s for {args.seconds:g} s")
    print(f"{'target':<14} {'delivered':>20} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        share = f"{r.delivered}/{r.expected} ({r.delivered / max(r.expected, 1):.1%})"
        print(f"{r.name:<14} {share:>20} {r.p50_ms:>8.1f} {r.p99_ms:>8.1f}")
    print(f"p99 ratio mesh/nchan: {mine.p99_ms / reference.p99_ms:.2f}x")
    if per_connection is not None:
        print(f"gateway RSS per idle connection: {per_connection:.1f} KiB")


if __name__ == "__main__":
    main()
