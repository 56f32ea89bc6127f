"""MQTT figures against Mosquitto's own clients, measured in the same run on this machine.

(f) REST publish of 1 KB at QoS 1 (201 only after the PUBACK), 64 connections, driven by wrk, vs
    ``mosquitto_pub -l -q 1`` publishing the same messages as fast as the broker acknowledges;
(g) MQTT -> SSE: one curl client reading what ``mosquitto_pub`` sends, vs ``mosquitto_sub``
    reading the same feed (goal: at least 0.3x).
Both run against a Mosquitto started for the benchmark. ``python -m bench.mqtt --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import HERE, payload, post_script, process, wrk
from mesh.broker import EmbeddedMosquitto, free_port

__all__ = ["main"]

LINE = b"x" * 1024 + b"\n"


def feed(port: int, count: int, topic: str = "bench/feed") -> subprocess.Popen[bytes]:
    """``mosquitto_pub`` sending ``count`` 1 KB lines at QoS 1 to ``topic``, as fast as the
    broker acknowledges them."""
    feeder = subprocess.Popen(
        ["mosquitto_pub", "-p", str(port), "-t", topic, "-q", "1", "-l"],
        stdin=subprocess.PIPE,
    )
    assert feeder.stdin is not None
    feeder.stdin.write(LINE * count)
    feeder.stdin.close()
    return feeder


def native_publish(port: int, count: int) -> float:
    """The reference publisher, on a topic no stream reads (the gateway's feed of ``bench/feed``
    stays subscribed between runs, and would be busy receiving during the next wrk run)."""
    started = time.perf_counter()
    feed(port, count, "bench/native").wait()
    return count / (time.perf_counter() - started)


def drain(command: list[str], ready: bytes, marker: bytes, port: int, count: int) -> float:
    """Messages/s a reader process receives, from its first message to its ``count``-th."""
    reader = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert reader.stdout is not None
    fd = reader.stdout.fileno()
    buffered = b""
    while ready and ready not in buffered:
        buffered += os.read(fd, 65_536)
    time.sleep(0.3)  # subscribed
    feeder = feed(port, count)
    seen, started, tail = 0, 0.0, b"\n"
    try:
        while seen < count:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise RuntimeError(f"the stream ended after {seen} messages")
            started = started or time.perf_counter()
            seen += (tail + chunk).count(marker)
            tail = chunk[-len(marker) + 1 :]
        return (count - 1) / (time.perf_counter() - started)
    finally:
        reader.kill()
        reader.wait()
        feeder.wait()


def gateway_config(directory: Path, port: int, broker: int) -> Path:
    config = directory / "mesh.yaml"
    config.write_text(
        json.dumps(
            {
                "listen": {"port": port},
                "grpc": {"enabled": False},
                "specs": [{"path": str(HERE / "mqtt.yaml")}],
                "servers": {"broker": {"host": f"127.0.0.1:{broker}"}},
                "mqtt": {"replay_messages": 200_000},
            }
        )
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--count", type=int, default=50_000)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rest, native_pub, sse, native_sub, latencies = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedMosquitto() as broker:
        directory = Path(tmp)
        script = post_script(directory, json.dumps(payload()).encode())
        config = gateway_config(directory, port, broker.port)
        command = [sys.executable, "-m", "mesh", "run", "--config", str(config)]
        with process(command, f"{url}/readyz"):
            for _ in range(args.runs):
                native_pub.append(native_publish(broker.port, args.count))
                result = wrk(f"{url}/bench/readings", args.seconds, args.connections, script)
                rest.append(result.rate)
                latencies.append(result)
                curl = ["curl", "-sN", "-H", "Accept: text/event-stream", f"{url}/bench/feed"]
                sse.append(drain(curl, b"stream open", b"\nid: ", broker.port, args.count))
                sub = ["mosquitto_sub", "-p", str(broker.port), "-t", "bench/feed", "-q", "1"]
                native_sub.append(drain(sub, b"", b"\n", broker.port, args.count))
                print(
                    f"run: REST QoS1 {rest[-1]:.0f} req/s (p99 {result.p99_ms:.1f} ms, "
                    f"non-2xx {result.errors}), mosquitto_pub {native_pub[-1]:.0f} msg/s, "
                    f"SSE {sse[-1]:.0f} msg/s, mosquitto_sub {native_sub[-1]:.0f} msg/s",
                    flush=True,
                )
    rows = (
        ("(f) REST -> MQTT QoS 1 publish (ref: mosquitto_pub)", rest, native_pub, 0.0),
        ("(g) MQTT -> SSE delivery (ref: mosquitto_sub)", sse, native_sub, 0.3),
    )
    print(f"\n{'figure (median of runs)':<52} {'gateway':>9} {'reference':>10} {'ratio':>7}  goal")
    for name, mine_runs, reference_runs, goal in rows:
        mine, reference = statistics.median(mine_runs), statistics.median(reference_runs)
        verdict = (
            (f">= {goal}x " + ("met" if mine / reference >= goal else "MISSED")) if goal else ""
        )
        print(f"{name:<52} {mine:>9.0f} {reference:>10.0f} {mine / reference:>6.2f}x  {verdict}")
    p50 = statistics.median(w.p50_ms for w in latencies)
    p99 = statistics.median(w.p99_ms for w in latencies)
    print(f"(f) latency at {args.connections} connections: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
