"""Gateway figures against references measured in the same run, on this machine.

(a) single-message REST publish (1 KB JSON, schema-validated, acked) at 64 connections vs an
    aiohttp hello-world, both driven by wrk; (b) batch publish vs direct pipelined aiokafka
    produce; (c) one SSE client (curl) draining 100,000 messages vs a direct aiokafka consumer.
Each figure is the median of ``--runs`` runs. ``python -m bench.run --help`` lists the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from mesh.broker import EmbeddedKafka, free_port

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
BATCH = "application/vnd.mesh.batch+json"


def payload(size: int = 1024) -> dict[str, object]:
    """An order of about ``size`` bytes of JSON that the benchmark schema accepts."""
    order: dict[str, object] = {
        "orderId": "o-000001",
        "customerId": "c-42",
        "total": 99.5,
        "items": [{"sku": f"sku-{i}", "quantity": i + 1} for i in range(8)],
    }
    order["note"] = "x" * (size - len(json.dumps(order)) - len(', "note": ""'))
    return order


@dataclass
class Wrk:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(url: str, seconds: int, connections: int, body: Path | None = None) -> Wrk:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if body is not None:
        command += ["-s", str(body)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(_found(r"Requests/sec:\s+([\d.]+)", out) or 0)
    errors = sum(
        int(_found(pattern, out) or 0)
        for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: .*?timeout (\d+)")
    )
    return Wrk(rate, _latency(out, "50%"), _latency(out, "99%"), errors)


def _found(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return None if found is None else found.group(1)


def _latency(out: str, percentile: str) -> float:
    found = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)", out)
    if found is None:
        return float("nan")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


def post_script(directory: Path, body: bytes) -> Path:
    script = directory / "post.lua"
    escaped = body.decode().replace("\\", "\\\\").replace('"', '\\"')
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{escaped}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


async def direct_produce(bootstrap: str, topic: str, count: int, body: bytes) -> float:
    """Messages/s of a pipelined aiokafka producer (acks=all), awaiting every ack."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        started = time.perf_counter()
        pending = [await producer.send(topic, body) for _ in range(count)]
        await asyncio.gather(*pending)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def batch_publish(
    url: str, count: int, body: dict[str, object], size: int = 500, workers: int = 4
) -> float:
    """Messages/s published through the gateway in batches of ``size`` by ``workers`` clients."""
    batch = json.dumps([{"payload": body}] * size).encode()
    batches = count // size

    async def worker(http: ClientSession, share: int) -> None:
        for _ in range(share):
            async with http.post(url, data=batch, headers={"Content-Type": BATCH}) as response:
                if response.status != 200:
                    raise RuntimeError(f"batch answered {response.status}: {await response.text()}")

    async with ClientSession() as http:
        started = time.perf_counter()
        shares = [batches // workers + (1 if i < batches % workers else 0) for i in range(workers)]
        await asyncio.gather(*(worker(http, share) for share in shares))
        return batches * size / (time.perf_counter() - started)


async def direct_consume(bootstrap: str, topic: str, count: int) -> float:
    """Messages/s of an aiokafka consumer reading ``count`` messages from the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=10)
    await consumer.start()
    try:
        started = time.perf_counter()
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        await consumer.seek_to_beginning()
        seen = 0
        while seen < count:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                seen += len(records)
        return count / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def curl_drain(url: str, count: int) -> float:
    """Messages/s of one curl SSE client reading ``count`` events from the start of a channel."""
    marker = b"\nid: "
    curl = subprocess.Popen(
        ["curl", "-sN", "-H", "Accept: text/event-stream", url], stdout=subprocess.PIPE
    )
    assert curl.stdout is not None
    started = time.perf_counter()
    seen, tail = 0, b"\n"
    try:
        while seen < count:
            chunk = os.read(curl.stdout.fileno(), 1 << 20)
            if not chunk:
                raise RuntimeError(f"the stream ended after {seen} events")
            seen += (tail + chunk).count(marker)
            tail = chunk[-len(marker) + 1 :]
        return count / (time.perf_counter() - started)
    finally:
        curl.kill()
        curl.wait()


@contextmanager
def process(command: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        command, cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_ready(ready_url)
        yield proc
    finally:
        proc.terminate()
        proc.wait(15)


def _wait_ready(url: str) -> None:
    for _ in range(200):
        try:
            subprocess.run(["curl", "-sf", "-o", "/dev/null", url], check=True)
            return
        except subprocess.CalledProcessError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def client_rate(kind: str, target: str, count: int) -> float:
    """Run a load client of ``bench.clients`` in its own process; return its messages/s."""
    command = [sys.executable, "-m", "bench.clients", kind, target, str(count)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=HERE.parent)
    return float(out.stdout.strip())


def gateway_config(
    directory: Path, port: int, bootstrap: str, grpc_port: int = 0, fetch_wait_ms: int = 10
) -> Path:
    config = directory / "mesh.yaml"
    config.write_text(
        json.dumps(
            {
                "listen": {"port": port},
                "grpc": {"port": grpc_port},
                "specs": [{"path": str(HERE / "spec.yaml")}],
                "servers": {"main": {"host": bootstrap}},
                "limits": {"max_body_bytes": 4_194_304},
                "kafka": {"fetch_max_wait_ms": fetch_wait_ms},
            }
        )
    )
    return config


Rows = dict[str, tuple[list[float], list[float]]]


def report(rows: Rows, latencies: list[Wrk], connections: int) -> None:
    print(f"\n{'figure (median of runs)':<50} {'gateway':>9} {'reference':>10} {'ratio':>7}  goal")
    for key, name, goal in (
        ("a", "(a) REST publish 1 KB, req/s (ref: hello-world)", 0.5),
        ("b", "(b) batch publish, msg/s (ref: aiokafka produce)", 0.6),
        ("c", "(c) SSE drain, msg/s (ref: aiokafka consume)", 0.3),
        ("d", "(d) WebSocket publish, acked msg/s (ref: (a))", 0.0),
        ("e", "(e) gRPC PublishStream, msg/s (ref: aiokafka)", 0.25),
    ):
        mine, reference = (statistics.median(values) for values in rows[key])
        ratio = mine / reference
        verdict = ("met" if ratio >= goal else "MISSED") if goal else "(no goal)"
        print(f"{name:<50} {mine:>9.0f} {reference:>10.0f} {ratio:>6.2f}x  >= {goal}x {verdict}")
    p50 = statistics.median(w.p50_ms for w in latencies)
    p99 = statistics.median(w.p99_ms for w in latencies)
    errors = sum(w.errors for w in latencies)
    verdict = "met" if p99 < 30 else "MISSED"
    print(
        f"(a) latency at {connections} connections: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(goal p99 < 30 ms: {verdict}); non-2xx or timeouts: {errors}"
    )


def measure(args: argparse.Namespace, rows: Rows, latencies: list[Wrk]) -> None:
    body = payload()
    raw = json.dumps(body).encode()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedKafka() as broker:
        directory = Path(tmp)
        gw_port, hello_port, grpc_port = free_port(), free_port(), free_port()
        gw, hello = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{hello_port}/"
        config = gateway_config(directory, gw_port, broker.bootstrap, grpc_port)
        mesh = [sys.executable, "-m", "mesh", "run", "--config", str(config)]
        reference = [sys.executable, "-m", "bench.hello", str(hello_port)]
        with process(mesh, f"{gw}/readyz"), process(reference, hello):
            script = post_script(directory, raw)
            wrk(f"{gw}/bench.warmup", 2, args.connections, script)
            for run in range(args.runs):
                base = wrk(hello, args.seconds, args.connections)
                mine = wrk(f"{gw}/bench.single-{run}", args.seconds, args.connections, script)
                latencies.append(mine)
                add(rows, "a", mine.rate, base.rate)
                topic = f"bench.drain-{run}"
                direct = asyncio.run(direct_produce(broker.bootstrap, topic, args.messages, raw))
                batched = asyncio.run(batch_publish(f"{gw}/bench.batch-{run}", args.messages, body))
                add(rows, "b", batched, direct)
                direct = asyncio.run(direct_consume(broker.bootstrap, topic, args.messages))
                add(rows, "c", curl_drain(f"{gw}/{topic}?from=earliest", args.messages), direct)
                ws = client_rate(
                    "ws", f"ws://127.0.0.1:{gw_port}/ingest.ws-{run}", args.messages // 5
                )
                add(rows, "d", ws, mine.rate)
                grpc = client_rate(
                    "grpc", f"127.0.0.1:{grpc_port}/ingest.grpc-{run}", args.messages // 2
                )
                add(rows, "e", grpc, rows["b"][1][-1])
                figures = ", ".join(f"{k}={v[0][-1]:.0f}/{v[1][-1]:.0f}" for k, v in rows.items())
                print(f"run {run + 1} (gateway/reference): {figures}", flush=True)


def add(rows: Rows, key: str, mine: float, reference: float) -> None:
    rows.setdefault(key, ([], []))
    rows[key][0].append(mine)
    rows[key][1].append(reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None or shutil.which("curl") is None:
        sys.exit("wrk and curl are needed: apt-get install wrk curl")
    rows: Rows = {}
    latencies: list[Wrk] = []
    measure(args, rows, latencies)
    report(rows, latencies, args.connections)


if __name__ == "__main__":
    main()
