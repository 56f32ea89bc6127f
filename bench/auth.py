"""What authentication and quotas cost: REST publish (1 KB, validated, acked) with a JWT (RS256)
or an API key, without and with a plan of three limits (requests, messages, bytes) counted in
memory or in Redis, against the same publish with no credential, in the same run.

Each row also reports the gateway process's CPU per request (from /proc over the wrk run), a
steadier measure than throughput on a shared machine; Redis's own CPU is not in it.
Goal: the full policy set costs under 15% of throughput. ``python -m bench.auth --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.run import Wrk, payload, process, wrk
from connectors.auth.keys import KeyStore
from mesh.broker import EmbeddedKafka, free_port

__all__ = ["main"]

SPEC = """asyncapi: 3.0.0
info: {title: Auth benchmark, version: 1.0.0}
servers:
  main: {host: 'localhost:9092', protocol: kafka}
channels:
  open: {address: bench.open, messages: {m: {payload: {type: object}}}}
  jwt: {address: bench.jwt, messages: {m: {payload: {type: object}}}}
  key: {address: bench.key, messages: {m: {payload: {type: object}}}}
operations:
  open: {action: receive, channel: {$ref: '#/channels/open'}}
  jwt:
    action: receive
    channel: {$ref: '#/channels/jwt'}
    security: [{$ref: '#/components/securitySchemes/jwt'}]
  key:
    action: receive
    channel: {$ref: '#/channels/key'}
    security: [{$ref: '#/components/securitySchemes/key'}]
components:
  securitySchemes:
    jwt: {type: http, scheme: bearer, bearerFormat: JWT}
    key: {type: httpApiKey, name: X-API-Key, in: header}
"""
PLAN = {
    "limits": [
        {"requests": 1_000_000_000, "per": "second"},
        {"messages": 1_000_000_000_000, "per": "day", "algorithm": "fixed_window"},
        {"bytes": 1_000_000_000_000_000, "per": "hour", "algorithm": "sliding_window"},
    ]
}


def script(directory: Path, name: str, headers: dict[str, str]) -> Path:
    body = json.dumps(payload()).replace("\\", "\\\\").replace('"', '\\"')
    lines = ['wrk.method = "POST"', f'wrk.body = "{body}"']
    lines += [
        f'wrk.headers["{k}"] = "{v}"'
        for k, v in {"Content-Type": "application/json", **headers}.items()
    ]
    path = directory / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def config(directory: Path, port: int, bootstrap: str, store: str, redis_port: int) -> Path:
    path = directory / f"mesh-{store}.json"
    path.write_text(
        json.dumps(
            {
                "listen": {"port": port},
                "grpc": {"enabled": False},
                "specs": [{"path": str(directory / "spec.yaml")}],
                "servers": {"main": {"host": bootstrap}},
                "auth": {
                    "jwt": {
                        "jwt": {
                            "algorithms": ["RS256"],
                            "issuer": "bench",
                            "public_key_file": str(directory / "jwt.pem"),
                        }
                    },
                    "keys": {
                        "file": str(directory / "keys.json"),
                        "secret": {"file": str(directory / "secret")},
                    },
                },
                "plans": {"metered": PLAN},
                "quotas": {"store": store, "redis_url": f"redis://127.0.0.1:{redis_port}/0"},
            }
        )
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--redis-port", type=int, default=6379)
    args = parser.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedKafka() as broker:
        directory = Path(tmp)
        (directory / "spec.yaml").write_text(SPEC)
        (directory / "secret").write_text("bench-secret")
        (directory / "jwt.pem").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        store = KeyStore(directory / "keys.json", "bench-secret")
        plain_key, metered_key = store.issue("plain").key, store.issue("m", plan="metered").key

        def token(**claims: object) -> str:
            return jwt.encode(
                {"iss": "bench", "exp": int(time.time()) + 3600, **claims}, key, "RS256"
            )

        bearer, metered_bearer = f"Bearer {token()}", f"Bearer {token(plan='metered')}"
        memory, redis = free_port(), free_port()
        cases = {
            "no credential": (memory, "bench.open", {}),
            "JWT": (memory, "bench.jwt", {"Authorization": bearer}),
            "API key": (memory, "bench.key", {"X-API-Key": plain_key}),
            "JWT + quota (memory)": (memory, "bench.jwt", {"Authorization": metered_bearer}),
            "API key + quota (memory)": (memory, "bench.key", {"X-API-Key": metered_key}),
            "JWT + quota (Redis)": (redis, "bench.jwt", {"Authorization": metered_bearer}),
            "API key + quota (Redis)": (redis, "bench.key", {"X-API-Key": metered_key}),
        }
        scripts = {
            name: script(directory, str(i), headers)
            for i, (name, (_, _, headers)) in enumerate(cases.items())
        }
        results: dict[str, list[Wrk]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        gateways = [
            [
                sys.executable,
                "-m",
                "mesh",
                "run",
                "--config",
                str(config(directory, port, broker.bootstrap, kind, args.redis_port)),
            ]
            for port, kind in ((memory, "memory"), (redis, "redis"))
        ]
        with (
            process(gateways[0], f"http://127.0.0.1:{memory}/readyz") as memory_gateway,
            process(gateways[1], f"http://127.0.0.1:{redis}/readyz") as redis_gateway,
        ):
            pids = {memory: memory_gateway.pid, redis: redis_gateway.pid}
            for port in (memory, redis):
                wrk(
                    f"http://127.0.0.1:{port}/bench.open",
                    2,
                    args.connections,
                    scripts["no credential"],
                )
            for run in range(args.runs):
                for name, (port, topic, _) in cases.items():
                    before = cpu_seconds(pids[port])
                    result = wrk(
                        f"http://127.0.0.1:{port}/{topic}",
                        args.seconds,
                        args.connections,
                        scripts[name],
                    )
                    used = cpu_seconds(pids[port]) - before
                    results[name].append(result)
                    cpu[name].append(used / max(1.0, result.rate * args.seconds) * 1e6)
                print(
                    f"run {run + 1}: "
                    + ", ".join(f"{n} {r[-1].rate:.0f}" for n, r in results.items()),
                    flush=True,
                )
    base = statistics.median(r.rate for r in results["no credential"])
    base_cpu = statistics.median(cpu["no credential"])
    header = f"{'(median of runs)':<28} {'req/s':>8} {'vs none':>8} {'cpu us':>8} {'vs none':>8}"
    print(f"\n{header} {'p99 ms':>8} {'non-2xx':>8}")
    for name, runs in results.items():
        rate = statistics.median(r.rate for r in runs)
        used = statistics.median(cpu[name])
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        print(
            f"{name:<28} {rate:>8.0f} {rate / base:>7.2f}x {used:>8.0f} {base_cpu / used:>7.2f}x"
            f" {p99:>8.1f} {errors:>8}"
        )
    worst = min(statistics.median(r.rate for r in runs) for runs in results.values()) / base
    worst_cpu = base_cpu / max(statistics.median(c) for c in cpu.values())
    for what, ratio in (("throughput", worst), ("gateway CPU per request", worst_cpu)):
        verdict = "met" if ratio >= 0.85 else "MISSED"
        print(f"full policy set, {what}: costs {1 - ratio:.0%} at worst (goal < 15%: {verdict})")


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
